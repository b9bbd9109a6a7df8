//! One invocation, start to finish: event -> signal -> route -> live backlog (the target's
//! queues, read now) -> read scale -> decide -> write (re-read and decide again on 409, or after
//! a write whose answer was lost) -> an Event on the Deployment (best effort) -> re-arm -> result. All I/O goes through [`ScaleApi`],
//! [`AlarmRearm`] and [`QueueDepth`], so this runs against fakes in tests.
//!
//! The loop must never depend on an event that will not come again (docs/design.md, "Across
//! invocations: never stuck"), so:
//! - the alarm is re-armed after a failure too: its next evaluation is the retry;
//! - the heartbeat ([`Scaler::heartbeat`]) reads the function's alarms and acts on each one in
//!   ALARM, catching a failed re-arm or a dropped event; scale-up's also reads every target's
//!   queues and wakes or raises a target below what its live backlog needs;
//! - a write whose answer was lost is checked by reading again, never repeated blindly.

use crate::report::{
    self, AlarmCheck, Checked, EventRecord, Failure, Heartbeat, Outcome, Rearm, Response,
    TargetCheck,
};
use futures_util::stream::{self, StreamExt as _};
use queue_scaler_core::alarm::{
    parse_event, parse_invocation, signal_from_described, IntakeError, Invocation,
};
use queue_scaler_core::{
    decide, decide_reconcile, decide_wake, AlarmSignal, AlarmState, Backlog, Decision, Direction,
    QueueCounts, Route, Routes, Target,
};
use queue_scaler_io::retry::{with_backoff, Backoff};
use queue_scaler_io::{AlarmRearm, QueueDepth};
use queue_scaler_io::{Error as IoError, ScaleApi, ScaleEvent};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// How many times a write that meets 409 Conflict (or gets no answer) is re-read and decided
/// again.
pub const MAX_CONFLICTS: u32 = 5;

/// Time kept back from scaling for the re-arm that follows it, also after a failure.
pub const REARM_RESERVE: Duration = Duration::from_millis(1500);

/// The most time the live read of a target's queues may take, retries included: past it the
/// alarm's datapoint stands in, and scaling keeps the rest of the invocation's time.
pub const LIVE_READ_BUDGET: Duration = Duration::from_secs(4);

/// An alarm whose state changed less than this long ago is left by the heartbeat to its own
/// invocation, so the two never step twice for one crossing.
pub const HEARTBEAT_GRACE: Duration = Duration::from_secs(60);

/// Targets scale-up's heartbeat reconciles at once; with [`QUEUES_IN_FLIGHT`] per target it
/// keeps at most 64 requests in flight.
pub const TARGETS_IN_FLIGHT: usize = 16;

/// Queues of one target read at once.
pub const QUEUES_IN_FLIGHT: usize = 4;

/// The most time the Event that records a write may take: it is best effort, and the re-arm and
/// the result must not wait on it.
pub const EVENT_BUDGET: Duration = Duration::from_secs(2);

/// What made a write, as its Event names it.
#[derive(Debug, Clone, Copy)]
enum Trigger<'a> {
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

/// What a decision saw of the backlog: the number it decides from, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The number, live or the alarm's.
    pub backlog: Backlog,
    /// The live counts summed over the target's queues, when the read succeeded.
    pub counts: Option<QueueCounts>,
    /// Why the live read did not stand, when it did not.
    pub fallback: Option<String>,
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
    from: i32,
    to: i32,
    applied: bool,
    reason: String,
    conflicts: u32,
    /// What became of the Event, after a write.
    event: Option<EventRecord>,
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
    backoff: Backoff,
    grace: Duration,
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

    /// The client, for tests that inspect a fake.
    pub fn api(&self) -> &K {
        &self.api
    }
}

impl<K: ScaleApi, R: AlarmRearm, Q: QueueDepth> Scaler<K, R, Q> {
    /// Handle any event the function takes: an alarm in any of its shapes, or the heartbeat.
    pub async fn respond(
        &self,
        event: &serde_json::Value,
        call: Call<'_>,
    ) -> Result<Response, Failure> {
        self.answer(parse_invocation(event), call).await
    }

    /// Handle an event already parsed (the deployed function parses once, to find the doctor).
    pub async fn answer(
        &self,
        invocation: Result<Invocation, IntakeError>,
        call: Call<'_>,
    ) -> Result<Response, Failure> {
        match invocation {
            Ok(Invocation::Alarm(signal)) => self
                .act(&signal, call.deadline, call.request_id)
                .await
                .map(Response::Alarm),
            Ok(Invocation::Heartbeat { .. }) => self.heartbeat(call).await.map(Response::Heartbeat),
            // The deployed function answers it before this (`crate::run`): it needs the real clients.
            Ok(Invocation::Doctor) => Err(Failure {
                class: queue_scaler_io::ErrorClass::NonRetryable,
                message: "the doctor runs in the deployed function only".into(),
            }),
            Err(e) => {
                let failure = Failure::from(e);
                report::log_failure(self.direction, None, &failure, call.request_id);
                Err(failure)
            }
        }
    }

    /// Handle one alarm event and write its log line. `deadline` is when the function must have
    /// returned, less a margin.
    pub async fn invoke(
        &self,
        event: &serde_json::Value,
        deadline: Instant,
        request_id: &str,
    ) -> Result<Outcome, Failure> {
        match parse_event(event) {
            Ok(signal) => self.act(&signal, deadline, request_id).await,
            Err(e) => {
                let failure = Failure::from(e);
                report::log_failure(self.direction, None, &failure, request_id);
                Err(failure)
            }
        }
    }

    /// Act on one signal and write its log line.
    async fn act(
        &self,
        signal: &AlarmSignal,
        deadline: Instant,
        request_id: &str,
    ) -> Result<Outcome, Failure> {
        match self.handle(signal, deadline).await {
            Ok(outcome) => {
                report::log_outcome(&outcome, request_id);
                Ok(outcome)
            }
            Err(failure) => {
                let target = self.routes.resolve(signal).ok().map(ToString::to_string);
                let failure = failure.context(&signal.alarm, target.as_deref());
                report::log_failure(
                    self.direction,
                    Some((signal, target.as_deref())),
                    &failure,
                    request_id,
                );
                Err(failure)
            }
        }
    }

    /// Everything after intake: route, scale, re-arm (also after a failure), and the outcome.
    pub async fn handle(
        &self,
        signal: &AlarmSignal,
        deadline: Instant,
    ) -> Result<Outcome, Failure> {
        if signal.state != AlarmState::Alarm {
            let target = self.routes.resolve(signal).ok();
            let reason = format!("alarm is {}; only ALARM acts, nothing to do", signal.state);
            return Ok(self.outcome(signal, target, None, reason, Rearm::NotNeeded));
        }
        let route = self.routes.resolve_route(signal)?;
        let target = &route.target;
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
        let wake = self.is_wake(signal);
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
        if self.dry_run {
            let step = result.map_err(Failure::from_io)?;
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
        let idle_wake = self.is_wake(signal) && result.as_ref().is_ok_and(|s| s.from > 0);
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
            Err(e) => Err(Failure::from_io(e).after_rearm(&rearm)),
        }
    }

    /// Whether `signal` is a wake alarm for this function: scale-up acts on it only at zero.
    fn is_wake(&self, signal: &AlarmSignal) -> bool {
        self.direction == Direction::Up && self.routes.is_wake(&signal.alarm)
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

    /// The live backlog of `queues`, read in parallel under `deadline` (and at most
    /// [`LIVE_READ_BUDGET`]); when there is none to read, no reader, or a read fails, the
    /// alarm's `datapoint` stands in and [`Seen::fallback`] says why.
    async fn read_backlog(
        &self,
        queues: &[&str],
        datapoint: Option<f64>,
        deadline: Instant,
    ) -> Seen {
        let fallback = |why: String| Seen {
            backlog: Backlog::Alarm(datapoint),
            counts: None,
            fallback: Some(why),
        };
        if queues.is_empty() {
            return fallback(
                "no queue to read (set TARGET_QUEUES, or \"queues\" in SCALER_TARGETS)".into(),
            );
        }
        let Some(reader) = &self.queues else {
            return fallback(
                "no AWS access to read the queues (AWS_REGION and credentials)".into(),
            );
        };
        let deadline = deadline.min(Instant::now() + LIVE_READ_BUDGET);
        let reads = stream::iter(queues.iter().map(|queue| async move {
            with_backoff("reading the queue", self.backoff, deadline, || {
                reader.counts(queue)
            })
            .await
            .map_err(|e| (queue, e))
        }))
        .buffer_unordered(QUEUES_IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
        let mut total = QueueCounts::default();
        for read in reads {
            match read {
                Ok(counts) => total = total + counts,
                Err((queue, e)) => {
                    let error = report::chain(&e);
                    tracing::warn!(queue = %queue, error = %error, "live read failed; the alarm's datapoint stands in");
                    return fallback(format!("reading queue {queue} failed ({error})"));
                }
            }
        }
        Seen {
            backlog: Backlog::Live(total.backlog()),
            counts: Some(total),
            fallback: None,
        }
    }

    /// Read, decide, write; on 409 read and decide again, up to [`MAX_CONFLICTS`] times. A write
    /// whose answer never came is retried as it was (the same `resourceVersion`: 409 if the
    /// first was applied), then read again: if the replicas already equal what was written, the
    /// write was applied, and nothing is written twice. `decide` turns the replicas read into
    /// the decision. Each write is then recorded as an Event on the Deployment
    /// ([`Scaler::record`]), naming what `cause` says: the trigger and the backlog seen.
    async fn scale(
        &self,
        target: &Target,
        deadline: Instant,
        cause: (Trigger<'_>, &Seen),
        decide: impl Fn(i32) -> Decision,
    ) -> Result<Step, IoError> {
        let mut conflicts = 0;
        let mut rereads = 0;
        // (replicas read before, replicas written) of a write that got no answer.
        let mut unanswered: Option<(i32, i32)> = None;
        loop {
            let scale = with_backoff("reading the scale", self.backoff, deadline, || {
                self.api.get(target)
            })
            .await?;
            let current = scale.spec.replicas;
            let uid = scale.metadata.uid.as_deref();
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
            let body = scale.with_replicas(decision.desired);
            let lost = AtomicBool::new(false);
            let written = with_backoff("writing the scale", self.backoff, deadline, || async {
                let result = self.api.put(target, &body).await;
                if result.as_ref().is_err_and(IoError::may_have_applied) {
                    lost.store(true, Ordering::SeqCst);
                }
                result
            })
            .await;
            let lost = lost.load(Ordering::SeqCst);
            match written {
                Ok(_) => {
                    let step = Step {
                        applied: true,
                        ..step
                    };
                    return Ok(self.record(target, uid, cause, step, deadline).await);
                }
                Err(e) if (lost || e.kube_code() == Some(409)) && rereads < MAX_CONFLICTS => {
                    rereads += 1;
                    if lost {
                        unanswered = Some((current, decision.desired));
                        tracing::warn!(target = %target, error = %e, "a write got no answer: reading again before writing again");
                    } else {
                        conflicts += 1;
                        tracing::info!(target = %target, conflicts, "409 Conflict: reading again");
                    }
                }
                Err(e) => return Err(e),
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

    /// The heartbeat: read the alarms the routes name, keep those whose actions invoke this
    /// function, and act on each one in ALARM as if it had just fired (re-arm included), unless
    /// its state changed less than [`HEARTBEAT_GRACE`] ago (its own invocation acts on it).
    /// Scale-up's heartbeat then reads every target's queues and wakes or raises a target below
    /// what its live backlog needs ([`decide_reconcile`]). Fails when reading the alarms fails
    /// or any action does.
    pub async fn heartbeat(&self, call: Call<'_>) -> Result<Heartbeat, Failure> {
        let mut report = Heartbeat {
            heartbeat: true,
            direction: self.direction,
            function: call.function_arn.to_owned(),
            alarms: Vec::new(),
            targets: Vec::new(),
            note: None,
        };
        let mut failures: Vec<Failure> = Vec::new();
        self.heartbeat_alarms(call, &mut report, &mut failures)
            .await
            .inspect_err(|failure| {
                report::log_failure(self.direction, None, failure, call.request_id);
            })?;
        if self.direction == Direction::Up {
            let acted: Vec<Option<String>> = report
                .alarms
                .iter()
                .filter(|a| matches!(a.checked, Checked::Acted | Checked::Failed))
                .map(|a| a.outcome.as_ref().and_then(|o| o.target.clone()))
                .collect();
            report.targets = self.reconcile(call, &acted).await;
            for check in &report.targets {
                if let Some(error) = &check.error {
                    failures.push(Failure {
                        class: check
                            .class
                            .unwrap_or(queue_scaler_io::ErrorClass::Retryable),
                        message: format!("target {}: {error}", check.target),
                    });
                }
            }
        }
        report::log_heartbeat(&report, call.request_id);
        match failures.first() {
            None => Ok(report),
            Some(first) => Err(Failure {
                class: first.class,
                message: format!(
                    "heartbeat: {} of {} {} failed: {}",
                    failures.len(),
                    report.alarms.len() + report.targets.len(),
                    if report.targets.is_empty() {
                        "alarm(s)"
                    } else {
                        "alarm(s) and target(s)"
                    },
                    failures
                        .iter()
                        .map(|f| f.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            }),
        }
    }

    /// The heartbeat's alarms: each one the routes name, checked and acted on when in ALARM.
    /// Fails only when they cannot be read; each action's failure is in `failures`.
    async fn heartbeat_alarms(
        &self,
        call: Call<'_>,
        report: &mut Heartbeat,
        failures: &mut Vec<Failure>,
    ) -> Result<(), Failure> {
        let names = self.routes.alarm_names();
        let Some(alarms) = &self.rearm else {
            report.note = Some(
                "REARM_ALARM=false: the heartbeat reads no alarms, since acting would leave them in ALARM"
                    .into(),
            );
            return Ok(());
        };
        if names.is_empty() {
            report.note = Some(
                "no alarms named: set TARGET_ALARMS (or \"alarms\" in SCALER_TARGETS) so the heartbeat can check them"
                    .into(),
            );
            return Ok(());
        }
        let described = with_backoff("reading the alarms", self.backoff, call.deadline, || {
            alarms.describe(&names)
        })
        .await
        .map_err(|e| {
            let failure = Failure::from_io(e);
            Failure {
                message: format!("heartbeat: DescribeAlarms failed: {}", failure.message),
                ..failure
            }
        })?;
        let now = chrono::Utc::now();
        for name in &names {
            let Some(alarm) = described.iter().find(|a| a.name == *name) else {
                report
                    .alarms
                    .push(AlarmCheck::new(name, None, Checked::Missing));
                continue;
            };
            let state = Some(alarm.state.as_str());
            if !alarm.actions_enabled {
                report
                    .alarms
                    .push(AlarmCheck::new(name, state, Checked::ActionsDisabled));
                continue;
            }
            if !alarm.invokes(call.function_arn) {
                report
                    .alarms
                    .push(AlarmCheck::new(name, state, Checked::NotThisFunction));
                continue;
            }
            let signal = match signal_from_described(alarm) {
                Ok(s) => s,
                Err(e) => {
                    let failure = Failure::from(e);
                    report
                        .alarms
                        .push(AlarmCheck::failed(name, state, &failure));
                    failures.push(failure);
                    continue;
                }
            };
            if signal.state != AlarmState::Alarm {
                report
                    .alarms
                    .push(AlarmCheck::new(name, state, Checked::NotInAlarm));
                continue;
            }
            let fresh = signal
                .time
                .is_some_and(|changed| (now - changed).to_std().unwrap_or_default() < self.grace);
            if fresh {
                report
                    .alarms
                    .push(AlarmCheck::new(name, state, Checked::Grace));
                continue;
            }
            match self.act(&signal, call.deadline, call.request_id).await {
                Ok(outcome) => report.alarms.push(AlarmCheck::acted(outcome)),
                Err(failure) => {
                    report
                        .alarms
                        .push(AlarmCheck::failed(name, state, &failure));
                    failures.push(failure);
                }
            }
        }
        Ok(())
    }

    /// Scale-up's heartbeat over every target that has queues of its own: read them, and wake
    /// or raise the target when its live backlog needs more ([`decide_reconcile`]). A target an
    /// alarm acted on in this heartbeat (`acted`) is left alone. At most
    /// [`TARGETS_IN_FLIGHT`] targets at once.
    async fn reconcile(&self, call: Call<'_>, acted: &[Option<String>]) -> Vec<TargetCheck> {
        let routes = self.routes.routes().iter().filter(|route| {
            let name = route.target.to_string();
            !route.queues.is_empty() && !acted.iter().any(|t| t.as_deref() == Some(&name))
        });
        let mut checks: Vec<TargetCheck> = stream::iter(routes)
            .map(|route| self.reconcile_target(route, call.deadline))
            .buffer_unordered(TARGETS_IN_FLIGHT)
            .collect()
            .await;
        checks.sort_by(|a, b| a.target.cmp(&b.target));
        for check in checks.iter().filter(|c| c.applied || c.error.is_some()) {
            report::log_target_check(check, self.direction, call.request_id);
        }
        checks
    }

    /// One target of [`Scaler::reconcile`]. Its queues must be read live: the heartbeat never
    /// scales from an alarm's old datapoint.
    async fn reconcile_target(&self, route: &Route, deadline: Instant) -> TargetCheck {
        let target = &route.target;
        let seen = self
            .read_backlog(&route.live_queues(None), None, deadline)
            .await;
        let mut check = TargetCheck::new(target, &seen, self.dry_run);
        let Backlog::Live(live) = seen.backlog else {
            check.reason = format!(
                "{}; the heartbeat scales only from a live read",
                seen.fallback.as_deref().unwrap_or("no live backlog")
            );
            return check;
        };
        match self
            .scale(target, deadline, (Trigger::Heartbeat, &seen), |current| {
                decide_reconcile(current, live, &target.policy)
            })
            .await
        {
            Ok(step) => TargetCheck {
                from: Some(step.from),
                to: Some(step.to),
                applied: step.applied,
                reason: step.reason,
                event: step.event,
                ..check
            },
            Err(e) => {
                let failure = Failure::from_io(e);
                check.class = Some(failure.class);
                check.error = Some(failure.message);
                check
            }
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
