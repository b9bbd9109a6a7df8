//! One alarm, start to finish: event -> signal -> route -> live backlog (the target's queues,
//! read now) -> read scale -> decide -> write (read and decide again on 409; read again after a
//! write whose answer was lost) -> an Event on the Deployment (best effort) -> re-arm -> result,
//! and its log line. All I/O goes through [`ScaleApi`], [`AlarmRearm`] and [`QueueDepth`], so this
//! runs against fakes in tests. The heartbeat, the other event a function takes, is in
//! [`crate::heartbeat`].
//!
//! The loop must never depend on an event that will not come again (docs/design.md, "Across
//! invocations: never stuck"), so:
//! - the alarm is re-armed after a failure too: its next evaluation is the retry;
//! - the heartbeat acts on each alarm still in ALARM, catching a failed re-arm or a dropped
//!   event, and scale-up's wakes or raises a target below what its live backlog needs;
//! - a write whose answer was lost is checked by reading again, never repeated blindly.

use crate::failure::Failure;
use crate::report::lines::{self, FailedAt};
use crate::report::{Checked, EventRecord, Outcome, Rearm, Response, Seen};
use queue_scaler_core::alarm::{parse_invocation, Invocation};
use queue_scaler_core::{
    decide, decide_wake, AlarmSignal, AlarmState, Decision, Direction, Routes, Target,
};
use queue_scaler_io::retry::{with_backoff, write_with_backoff, Backoff, WriteFailed};
use queue_scaler_io::{AlarmRearm, AwsClient, GoogleTokens, KubeScaleApi, QueueDepth};
use queue_scaler_io::{Error as IoError, ScaleApi, ScaleEvent};
use std::time::Duration;
use tokio::time::Instant;

/// The scaler as deployed: Google tokens, the GKE cluster, CloudWatch re-arm and SQS.
pub type DeployedScaler = Scaler<KubeScaleApi<GoogleTokens>, AwsClient>;

/// How many times a write that meets 409 Conflict (or gets no answer) is re-read and decided
/// again.
pub const MAX_CONFLICTS: u32 = 5;

/// Time kept back from scaling for the re-arm that follows it, also after a failure.
pub const REARM_RESERVE: Duration = Duration::from_millis(1500);

/// The most time the Event that records a write may take: it is best effort, and the re-arm and
/// the result must not wait on it.
pub const EVENT_BUDGET: Duration = Duration::from_secs(2);

/// An alarm whose state changed less than this long ago is left by the heartbeat to its own
/// invocation, so the two never step twice for one crossing.
pub const HEARTBEAT_GRACE: Duration = Duration::from_secs(60);

/// What made a write, as its Event names it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trigger<'a> {
    /// An alarm, fired or found in ALARM by the heartbeat.
    Alarm(&'a str),
    /// Scale-up's heartbeat, reconciling a target with its live backlog.
    Heartbeat,
}

impl std::fmt::Display for Trigger<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::Alarm(name) => write!(f, "alarm {name}"),
            Trigger::Heartbeat => f.write_str("the heartbeat"),
        }
    }
}

/// What one invocation is: when it must be done, its request id, and the function's own ARN
/// (the heartbeat keeps the alarms whose actions invoke it).
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// When the function must have returned, less a margin.
    pub deadline: Instant,
    /// The Lambda request id, for log lines.
    pub request_id: &'a str,
    /// The invoked function's ARN (qualified or not).
    pub function_arn: &'a str,
}

/// What the scale step did: a value, so the outcome is built in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) from: i32,
    pub(crate) to: i32,
    pub(crate) applied: bool,
    pub(crate) reason: String,
    pub(crate) conflicts: u32,
    /// What became of the Event, after a write.
    pub(crate) event: Option<EventRecord>,
}

/// A function's state across invocations: what it scales and the clients it uses. `Q` reads
/// the queues live; without one (no AWS access), every decision uses the alarm's datapoint.
#[derive(Debug)]
pub struct Scaler<K, R, Q = R> {
    pub(crate) direction: Direction,
    pub(crate) routes: Routes,
    pub(crate) dry_run: bool,
    pub(crate) api: K,
    pub(crate) rearm: Option<R>,
    pub(crate) queues: Option<Q>,
    /// `reportingInstance` of the Events; `None` when `KUBE_EVENTS=false`.
    pub(crate) events: Option<String>,
    pub(crate) backoff: Backoff,
    pub(crate) grace: Duration,
}

impl<K, R> Scaler<K, R, R> {
    /// A scaler; `rearm` is `None` when `REARM_ALARM=false`. It reads no queue until
    /// [`Scaler::with_queues`] gives it a reader, and records each write as an Event reported by
    /// `scale-up` or `scale-down` (see [`Scaler::with_events`]).
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
            queues: None,
            events: Some(format!("scale-{direction}")),
            backoff: Backoff::default(),
            grace: HEARTBEAT_GRACE,
        }
    }
}

impl<K, R, Q> Scaler<K, R, Q> {
    /// Read the queues live with `queues` (`None`: no AWS access, the alarm's datapoint decides).
    pub fn with_queues<Q2>(self, queues: Option<Q2>) -> Scaler<K, R, Q2> {
        Scaler {
            direction: self.direction,
            routes: self.routes,
            dry_run: self.dry_run,
            api: self.api,
            rearm: self.rearm,
            queues,
            events: self.events,
            backoff: self.backoff,
            grace: self.grace,
        }
    }

    /// Use another heartbeat grace than [`HEARTBEAT_GRACE`] (`HEARTBEAT_GRACE_SECONDS`; the
    /// simulation runs its minutes faster than the wall clock its alarms' timestamps follow).
    pub fn with_heartbeat_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Record each write as an Event reported by `instance` (the function's name), or, with
    /// `None` (`KUBE_EVENTS=false`), record none.
    pub fn with_events(mut self, instance: Option<String>) -> Self {
        self.events = instance;
        self
    }

    /// Use another backoff (tests make it short).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
}

impl<K: ScaleApi, R: AlarmRearm, Q: QueueDepth> Scaler<K, R, Q> {
    /// Handle any event the function takes (an alarm in any of its shapes, or the heartbeat),
    /// and write its log lines.
    pub async fn handle(
        &self,
        event: &serde_json::Value,
        call: Call<'_>,
    ) -> Result<Response, Failure> {
        let result = match parse_invocation(event) {
            Ok(Invocation::Alarm(signal)) => self
                .alarm(&signal, call.deadline)
                .await
                .map(Response::Alarm),
            Ok(Invocation::Heartbeat { .. }) => self.heartbeat(call).await.map(Response::Heartbeat),
            // `crate::function::Function` answers it before this: it needs the real clients.
            Ok(Invocation::Doctor) => Err(Failure::DoctorElsewhere),
            Err(e) => Err(Failure::from(e)),
        };
        log(self.direction, &result, call.request_id);
        result
    }

    /// One signal: route, scale, re-arm (also after a failure), and the outcome.
    pub(crate) async fn alarm(
        &self,
        signal: &AlarmSignal,
        deadline: Instant,
    ) -> Result<Outcome, Failure> {
        let route = self.routes.resolve_route(signal);
        if signal.state != AlarmState::Alarm {
            let target = route.ok().map(|r| &r.target);
            let reason = format!("alarm is {}; only ALARM acts, nothing to do", signal.state);
            return Ok(self.outcome(signal, target, None, reason, Rearm::NotNeeded));
        }
        let route = route.map_err(|source| Failure::Route {
            alarm: signal.alarm.clone(),
            source,
        })?;
        let target = &route.target;
        let wake = self.direction == Direction::Up && self.routes.is_wake(&signal.alarm);
        let rearms = self.rearm.is_some() && !self.dry_run;
        let scale_deadline = if rearms {
            deadline.checked_sub(REARM_RESERVE).unwrap_or(deadline)
        } else {
            deadline
        };
        let seen = self
            .read_backlog(
                &route.live_queues(Some(signal)),
                signal.message_datapoint(),
                scale_deadline,
            )
            .await;
        let threshold = signal.message_threshold();
        let direction = self.direction;
        let trigger = Trigger::Alarm(&signal.alarm);
        let result = self
            .scale(target, scale_deadline, (trigger, &seen), |current| {
                let d = if wake {
                    decide_wake(current, seen.backlog, &target.policy)
                } else {
                    decide(direction, current, seen.backlog, threshold, &target.policy)
                };
                with_fallback(d, &seen)
            })
            .await;
        let failed = |source, rearm| Failure::Scale {
            alarm: signal.alarm.clone(),
            target: target.to_string(),
            source: Box::new(source),
            rearm,
        };
        if self.dry_run {
            let step = result.map_err(|e| failed(e, Rearm::NotNeeded))?;
            let reason = format!("{}; DRY_RUN: nothing written", step.reason);
            return Ok(self.outcome(
                signal,
                Some(target),
                Some((&step, &seen)),
                reason,
                Rearm::NotNeeded,
            ));
        }
        // A wake alarm that found replicas running did nothing and is left in ALARM: re-armed,
        // it would fire every period while any message waits. It returns to OK by itself once
        // the queue is empty, and fires again when messages arrive at zero replicas.
        let idle_wake = wake && result.as_ref().is_ok_and(|s| s.from > 0);
        let rearm = if idle_wake {
            Rearm::NotNeeded
        } else {
            self.rearm_after(signal, target, &result, deadline).await
        };
        match result {
            Ok(step) => {
                let reason = step.reason.clone();
                Ok(self.outcome(signal, Some(target), Some((&step, &seen)), reason, rearm))
            }
            Err(e) => Err(failed(e, rearm)),
        }
    }

    /// The result of one alarm, built in one place.
    fn outcome(
        &self,
        signal: &AlarmSignal,
        target: Option<&Target>,
        step: Option<(&Step, &Seen)>,
        reason: String,
        rearm: Rearm,
    ) -> Outcome {
        let (step, seen) = step.unzip();
        let counts = seen.and_then(|s| s.counts);
        Outcome {
            alarm: signal.alarm.clone(),
            state: signal.state.to_string(),
            target: target.map(ToString::to_string),
            direction: self.direction,
            from: step.map(|s| s.from),
            to: step.map(|s| s.to),
            applied: step.is_some_and(|s| s.applied),
            dry_run: self.dry_run,
            reason,
            backlog: seen.and_then(|s| s.backlog.messages()),
            source: seen.map(|s| s.backlog.source()),
            visible: counts.map(|c| c.visible),
            in_flight: counts.map(|c| c.in_flight),
            delayed: counts.map(|c| c.delayed),
            datapoint: signal.datapoint,
            queue: signal.queue.clone(),
            conflicts: step.map_or(0, |s| s.conflicts),
            event: step.and_then(|s| s.event.clone()),
            rearm,
        }
    }

    /// Set the alarm back to OK, whether scaling succeeded or failed: while the backlog persists,
    /// the next evaluation fires it again, which is the retry. Bounded by `deadline`.
    async fn rearm_after(
        &self,
        signal: &AlarmSignal,
        target: &Target,
        result: &Result<Step, IoError>,
        deadline: Instant,
    ) -> Rearm {
        let Some(rearm) = &self.rearm else {
            return Rearm::Disabled;
        };
        let what = match result {
            Ok(step) => format!(
                "{} -> {} ({})",
                step.from,
                step.to,
                if step.applied { "scaled" } else { "no change" }
            ),
            Err(e) => format!(
                "failed ({}); the next evaluation tries again while the backlog persists",
                e.class()
            ),
        };
        let why = format!(
            "queue-scaler {}: {target} {what}. Set back to OK so a backlog that persists fires again.",
            self.direction,
        );
        match tokio::time::timeout_at(deadline, rearm.set_ok(&signal.alarm, &why)).await {
            Ok(Ok(())) => Rearm::Done,
            Ok(Err(e)) => {
                tracing::warn!(alarm = %signal.alarm, error = %e, "re-arm failed; the heartbeat will find the alarm still in ALARM");
                Rearm::failed(&e)
            }
            Err(_) => {
                tracing::warn!(alarm = %signal.alarm, "re-arm ran out of time; the heartbeat will find the alarm still in ALARM");
                Rearm::Failed("no answer before the deadline".into())
            }
        }
    }

    /// Read, decide, write; on 409 read and decide again, up to [`MAX_CONFLICTS`] times. A write
    /// is resent after a transient failure as it was (the same `resourceVersion`: 409 if the
    /// first was applied); when an attempt's answer was lost, the scale is read again, and if
    /// its replicas already equal what was written, the write was applied, and nothing is
    /// written twice. `decide` turns the replicas read into the decision. Each write is then
    /// recorded as an Event on the Deployment ([`Scaler::record`]), naming what `cause` says: the
    /// trigger and the backlog seen.
    pub(crate) async fn scale(
        &self,
        target: &Target,
        deadline: Instant,
        cause: (Trigger<'_>, &Seen),
        decide: impl Fn(i32) -> Decision,
    ) -> Result<Step, IoError> {
        let mut conflicts = 0;
        let mut rereads = 0;
        // (replicas read before, replicas written) of a write whose answer was lost.
        let mut unanswered: Option<(i32, i32)> = None;
        loop {
            // Read.
            let scale = with_backoff("reading the scale", self.backoff, deadline, || {
                self.api.get(target)
            })
            .await?;
            let current = scale.spec.replicas;
            let uid = scale.metadata.uid.as_deref();
            // Verify a write whose answer was lost.
            if let Some((from, written)) = unanswered {
                if current == written {
                    tracing::info!(target = %target, replicas = current, "the lost write was applied");
                    let step = Step {
                        from,
                        to: written,
                        applied: true,
                        reason: format!(
                            "set {from} -> {written}; its answer was lost, and reading again shows it applied"
                        ),
                        conflicts,
                        event: None,
                    };
                    return Ok(self.record(target, uid, cause, step, deadline).await);
                }
            }
            // Decide.
            let decision = decide(current);
            let step = Step {
                from: current,
                to: decision.desired,
                applied: false,
                reason: decision.reason.clone(),
                conflicts,
                event: None,
            };
            if !decision.changes(current) || self.dry_run {
                return Ok(step);
            }
            // Write.
            let body = scale.with_replicas(decision.desired);
            let written = write_with_backoff("writing the scale", self.backoff, deadline, || {
                self.api.put(target, &body)
            })
            .await;
            match written {
                Ok(_) => {
                    let step = Step {
                        applied: true,
                        ..step
                    };
                    return Ok(self.record(target, uid, cause, step, deadline).await);
                }
                Err(WriteFailed { last, lost })
                    if (lost || last.kube_code() == Some(409)) && rereads < MAX_CONFLICTS =>
                {
                    rereads += 1;
                    if lost {
                        unanswered = Some((current, decision.desired));
                        tracing::warn!(target = %target, error = %last, "a write got no answer: reading again before writing again");
                    } else {
                        conflicts += 1;
                        tracing::info!(target = %target, conflicts, "409 Conflict: reading again");
                    }
                }
                Err(WriteFailed { last, .. }) => return Err(last),
            }
        }
    }

    /// Record a write as an Event on the Deployment (`uid` as read), unless `KUBE_EVENTS=false`.
    /// Best effort: one attempt, within [`EVENT_BUDGET`] and `deadline`; a failure is logged and
    /// reported in the step, never returned, and the write is never repeated for it.
    async fn record(
        &self,
        target: &Target,
        uid: Option<&str>,
        (trigger, seen): (Trigger<'_>, &Seen),
        step: Step,
        deadline: Instant,
    ) -> Step {
        let Some(instance) = &self.events else {
            return Step {
                event: Some(EventRecord::Off),
                ..step
            };
        };
        let event = ScaleEvent {
            from: step.from,
            to: step.to,
            note: format!(
                "{trigger}: {}; {} -> {} ({})",
                seen.backlog, step.from, step.to, step.reason
            ),
            instance: instance.clone(),
            uid: uid.map(str::to_owned),
            time: chrono::Utc::now(),
        };
        let deadline = deadline.min(Instant::now() + EVENT_BUDGET);
        let record = match tokio::time::timeout_at(deadline, self.api.record(target, &event)).await
        {
            Ok(Ok(())) => EventRecord::Recorded,
            Ok(Err(e)) => EventRecord::failed(&e),
            Err(_) => EventRecord::Failed("no answer before the deadline".into()),
        };
        if let EventRecord::Failed(why) = &record {
            tracing::warn!(target = %target, error = %why, "recording the Event failed; the scale stands");
        }
        Step {
            event: Some(record),
            ..step
        }
    }
}

/// A decision's reason, saying so when the alarm's datapoint stood in for the live read.
fn with_fallback(mut decision: Decision, seen: &Seen) -> Decision {
    if let Some(why) = &seen.fallback {
        decision
            .reason
            .push_str(&format!("; from the alarm: {why}"));
    }
    decision
}

/// Write an invocation's log lines, once, from its result: an alarm's line, or the heartbeat's
/// (a line per alarm it acted on and per target it scaled or failed on, then its summary), or
/// the failure's, with `Errors.<class>` as a metric.
pub(crate) fn log(direction: Direction, result: &Result<Response, Failure>, request_id: &str) {
    let heartbeat = match result {
        Ok(Response::Heartbeat(report)) => Some(report),
        Err(Failure::Heartbeat { report, .. }) => Some(&**report),
        _ => None,
    };
    if let Some(report) = heartbeat {
        for alarm in &report.alarms {
            if let Some(outcome) = &alarm.outcome {
                lines::print(&lines::outcome_line(outcome, request_id));
            } else if let (Checked::Failed, Some(class), Some(error)) =
                (alarm.checked, alarm.class, &alarm.error)
            {
                let at = FailedAt {
                    alarm: Some((&alarm.alarm, alarm.state.as_deref().unwrap_or("-"))),
                    target: alarm.target.as_deref(),
                };
                let prefix = format!("{class}: ");
                let message = error.strip_prefix(&prefix).unwrap_or(error);
                lines::print(&lines::failure_line(
                    direction, at, class, message, request_id,
                ));
            }
        }
        for check in report
            .targets
            .iter()
            .filter(|c| c.applied || c.error.is_some())
        {
            lines::print(&lines::target_check_line(check, direction, request_id));
        }
        lines::print(&lines::heartbeat_line(report, request_id));
        return;
    }
    match result {
        Ok(Response::Alarm(outcome)) => lines::print(&lines::outcome_line(outcome, request_id)),
        Ok(Response::Heartbeat(_) | Response::Doctor(_)) => {}
        Err(failure) => {
            let (alarm, state) = failure.alarm().unzip();
            let at = FailedAt {
                alarm: alarm.zip(state.as_deref()),
                target: failure.target(),
            };
            let message = failure.message();
            lines::print(&lines::failure_line(
                direction,
                at,
                failure.class(),
                &message,
                request_id,
            ));
        }
    }
}
