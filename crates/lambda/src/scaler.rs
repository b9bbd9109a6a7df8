//! One invocation, start to finish: event -> signal -> route -> read scale -> decide -> write
//! (re-read and decide again on 409) -> re-arm -> result. All I/O goes through [`ScaleApi`] and
//! [`AlarmRearm`], so this runs against fakes in tests.

use crate::rearm::AlarmRearm;
use crate::report::{self, Failure, Outcome, Rearm};
use queue_scaler_core::alarm::parse_event;
use queue_scaler_core::{decide, AlarmSignal, AlarmState, Direction, Routes, Target};
use queue_scaler_gke::retry::{with_backoff, Backoff};
use queue_scaler_gke::{Error as IoError, ErrorClass, ScaleApi};
use tokio::time::Instant;

/// How many times a write that meets 409 Conflict is re-read and decided again.
pub const MAX_CONFLICTS: u32 = 5;

/// A function's state across invocations: what it scales and the clients it uses.
#[derive(Debug)]
pub struct Scaler<K, R> {
    direction: Direction,
    routes: Routes,
    dry_run: bool,
    api: K,
    rearm: Option<R>,
    backoff: Backoff,
}

impl<K: ScaleApi, R: AlarmRearm> Scaler<K, R> {
    /// A scaler; `rearm` is `None` when `REARM_ALARM=false`.
    pub fn new(
        direction: Direction,
        routes: Routes,
        dry_run: bool,
        api: K,
        rearm: Option<R>,
    ) -> Self {
        Scaler {
            direction,
            routes,
            dry_run,
            api,
            rearm,
            backoff: Backoff::default(),
        }
    }

    /// Use another backoff (tests make it short).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The client, for tests that inspect a fake.
    pub fn api(&self) -> &K {
        &self.api
    }

    /// Handle one event and write its log line. `deadline` is when the function must have
    /// returned, less a margin.
    pub async fn invoke(
        &self,
        event: &serde_json::Value,
        deadline: Instant,
        request_id: &str,
    ) -> Result<Outcome, Failure> {
        let signal = match parse_event(event) {
            Ok(s) => s,
            Err(e) => {
                let failure = Failure::from(e);
                report::log_failure(self.direction, None, &failure, request_id);
                return Err(failure);
            }
        };
        let target = self.routes.resolve(&signal).ok().map(|t| t.to_string());
        match self.handle(&signal, deadline).await {
            Ok(outcome) => {
                report::log_outcome(&outcome, request_id);
                Ok(outcome)
            }
            Err(failure) => {
                let failure = failure.context(&signal.alarm, target.as_deref());
                report::log_failure(
                    self.direction,
                    Some((&signal, target.as_deref())),
                    &failure,
                    request_id,
                );
                Err(failure)
            }
        }
    }

    /// Everything after intake.
    pub async fn handle(
        &self,
        signal: &AlarmSignal,
        deadline: Instant,
    ) -> Result<Outcome, Failure> {
        let mut outcome = Outcome {
            alarm: signal.alarm.clone(),
            state: signal.state.to_string(),
            target: None,
            direction: self.direction,
            from: None,
            to: None,
            applied: false,
            dry_run: self.dry_run,
            reason: String::new(),
            backlog: signal.backlog,
            queue: signal.queue.clone(),
            conflicts: 0,
            rearm: Rearm::NotNeeded,
        };
        if signal.state != AlarmState::Alarm {
            outcome.target = self.routes.resolve(signal).ok().map(|t| t.to_string());
            outcome.reason = format!("alarm is {}; only ALARM acts, nothing to do", signal.state);
            return Ok(outcome);
        }
        let target = self.routes.resolve(signal)?;
        outcome.target = Some(target.to_string());
        self.scale(signal, target, deadline, &mut outcome)
            .await
            .map_err(Failure::from_io)?;
        if self.dry_run {
            outcome.reason.push_str("; DRY_RUN: nothing written");
            return Ok(outcome);
        }
        outcome.rearm = match &self.rearm {
            None => Rearm::Disabled,
            Some(rearm) => {
                let why = format!(
                    "queue-scaler {}: {} {} -> {} ({}). Set back to OK so a backlog that persists fires again.",
                    self.direction,
                    target,
                    outcome.from.unwrap_or_default(),
                    outcome.to.unwrap_or_default(),
                    if outcome.applied { "scaled" } else { "no change" },
                );
                match rearm.set_ok(&signal.alarm, &why).await {
                    Ok(()) => Rearm::Done,
                    Err(e) => {
                        tracing::warn!(alarm = %signal.alarm, error = %e, "re-arm failed; the scaling stands");
                        Rearm::Failed(e.to_string())
                    }
                }
            }
        };
        Ok(outcome)
    }

    /// Read, decide, write; on 409 read and decide again, up to [`MAX_CONFLICTS`] times.
    async fn scale(
        &self,
        signal: &AlarmSignal,
        target: &Target,
        deadline: Instant,
        outcome: &mut Outcome,
    ) -> Result<(), IoError> {
        loop {
            let scale = with_backoff("reading the scale", self.backoff, deadline, || {
                self.api.get(target)
            })
            .await?;
            let current = scale.spec.replicas;
            let decision = decide(self.direction, current, signal.backlog, &target.policy);
            outcome.from = Some(current);
            outcome.to = Some(decision.desired);
            outcome.reason = decision.reason.clone();
            if !decision.changes(current) || self.dry_run {
                return Ok(());
            }
            let body = scale.with_replicas(decision.desired);
            match with_backoff("writing the scale", self.backoff, deadline, || {
                self.api.put(target, &body)
            })
            .await
            {
                Ok(_) => {
                    outcome.applied = true;
                    return Ok(());
                }
                Err(e) if e.kube_code() == Some(409) && outcome.conflicts < MAX_CONFLICTS => {
                    outcome.conflicts += 1;
                    tracing::info!(target = %target, conflicts = outcome.conflicts, "409 Conflict: reading again");
                }
                Err(e) => {
                    if e.kube_code() == Some(409) {
                        debug_assert_eq!(e.class(), ErrorClass::Retryable);
                    }
                    return Err(e);
                }
            }
        }
    }
}
