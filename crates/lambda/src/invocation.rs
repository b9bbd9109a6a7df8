//! One invocation, from the event to the write: [`run`], the runtime loop, and
//! [`Function::handle`], the one way in, for the binaries and every tool; then an alarm: event ->
//! signal -> route -> live backlog (the target's queues, read now) -> read scale -> decide ->
//! write (read and decide again on 409; read again after a write whose answer was lost) -> an
//! Event on the Deployment (best effort) -> re-arm -> result, and its log line. All I/O goes
//! through [`ScaleApi`], [`AlarmRearm`] and [`QueueDepth`], so this runs against fakes in tests
//! (the crate's `tests` module). How a function starts is in [`crate::function`]; the heartbeat, the
//! other event a function takes, in [`crate::heartbeat`]; the doctor in [`crate::doctor`].
//!
//! The loop must never depend on an event that will not come again (docs/design.md, "Across
//! invocations: never stuck"), so:
//! - the alarm is re-armed after a failure too: its next evaluation is the retry;
//! - the heartbeat acts on each alarm still in ALARM, catching a failed re-arm or a dropped
//!   event, and scale-up's wakes or raises a target below what its live backlog needs;
//! - a write whose answer was lost is sent again only under the same resourceVersion (a copy
//!   of an applied write meets 409), then checked by reading again: never applied twice.

use crate::error_text::chain;
use crate::failure::Failure;
use crate::function::{Function, Scaler, State};
use crate::log_lines::log;
use crate::report::{EventRecord, Limited, Outcome, Rearm, Response, Seen};
use futures_util::stream::{self, StreamExt as _};
use lambda_runtime::{service_fn, LambdaEvent};
use queue_scaler_core::alarm::{parse_invocation, IntakeError, Invocation};
use queue_scaler_core::capacity::{capacity_limited, Pause};
use queue_scaler_core::{
    decide, decide_wake, AlarmSignal, AlarmState, Backlog, Decision, Direction, QueueCounts, Target,
};
use queue_scaler_io::backoff::{with_backoff, write_with_backoff, WriteFailed};
use queue_scaler_io::{AlarmRearm, QueueDepth};
use queue_scaler_io::{Error as IoError, ScaleApi, ScaleEvent};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Time kept back from the Lambda deadline to report a result or an error.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(750);

/// How many times a write that meets 409 Conflict (or gets no answer) is re-read and decided
/// again.
pub const MAX_CONFLICTS: u32 = 5;

/// Time kept back from scaling for the re-arm that follows it, also after a failure.
pub const REARM_RESERVE: Duration = Duration::from_millis(1500);

/// The most time the Event that records a write may take: it is best effort, and the re-arm and
/// the result must not wait on it.
pub const EVENT_BUDGET: Duration = Duration::from_secs(2);

/// The most time the live read of a target's queues may take, retries included: past it the
/// alarm's datapoint stands in, and scaling keeps the rest of the invocation's time.
pub const LIVE_READ_BUDGET: Duration = Duration::from_secs(4);

/// Queues of one target read at once.
pub const QUEUES_IN_FLIGHT: usize = 4;

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
pub(crate) struct Call<'a> {
    /// When the function must have returned, less a margin.
    pub deadline: Instant,
    /// The Lambda request id, for log lines.
    pub request_id: &'a str,
    /// The invoked function's ARN as the runtime passes it (qualified or not; a placeholder
    /// under the emulator, where `QUEUE_SCALER_FUNCTION_ARN` names it).
    pub function_arn: &'a str,
}

/// What scaling the target did (read, decide, write): a value, so the outcome is built in one
/// place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scaled {
    pub(crate) from: i32,
    pub(crate) to: i32,
    pub(crate) applied: bool,
    pub(crate) reason: String,
    pub(crate) conflicts: u32,
    /// What became of the Event, after a write.
    pub(crate) event: Option<EventRecord>,
    /// The GPU pool a raise was capped by, when the target shares one; whether the target is
    /// capacity-limited.
    pub(crate) capacity: Option<crate::report::Capacity>,
    /// The pause annotation that held the target, when one did.
    pub(crate) paused: Option<String>,
}

impl Scaled {
    /// A raise refused because the target's replicas stay unready.
    pub(crate) fn is_limited(&self) -> bool {
        self.capacity.as_ref().is_some_and(|c| c.limited.is_some())
    }
}

/// What a read scale decided: the decision, what it saw of capacity, and the pause that held
/// it.
struct Decided {
    decision: Decision,
    capacity: Option<crate::report::Capacity>,
    paused: Option<String>,
}

/// Run a function: start up, then serve invocations until the runtime stops.
///
/// A configuration problem does not crash the process: every invocation returns it as a `Config`
/// error, so it shows in the invoke result and the logs, with every problem listed.
pub async fn run(direction: Direction) -> Result<(), lambda_runtime::Error> {
    crate::function::init_logging();
    let function = Arc::new(Function::from_env(direction).await);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let function = Arc::clone(&function);
        async move { function.handle(event).await }
    }))
    .await
}

impl Function {
    /// Handle one invocation as the runtime passes it: an alarm in any of its shapes, the
    /// heartbeat, or `{"action": "doctor"}`. Writes the invocation's log lines.
    pub async fn handle(&self, event: LambdaEvent<serde_json::Value>) -> Result<Response, Failure> {
        let LambdaEvent { payload, context } = event;
        let remaining = time_left(context.deadline());
        let call = Call {
            deadline: Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN),
            request_id: &context.request_id,
            function_arn: &context.invoked_function_arn,
        };
        match (&self.state, parse_invocation(&payload)) {
            (State::Ready(scaler), Ok(Invocation::Doctor)) => {
                Ok(Response::Doctor(scaler.doctor(call).await))
            }
            (State::Ready(scaler), invocation) => scaler.invoke(invocation, call).await,
            (State::Broken(broken), Ok(Invocation::Doctor)) => Ok(Response::Doctor(
                crate::report::doctor::Report::broken(self.direction, &broken.failure.message()),
            )),
            (State::Broken(broken), _) => {
                let result = Err(broken.respond(self.direction, &payload).await);
                log(self.direction, &result, call.request_id);
                result
            }
        }
    }
}

impl<K: ScaleApi, R: AlarmRearm, Q: QueueDepth> Scaler<K, R, Q> {
    /// Handle any event the function takes (an alarm in any of its shapes, or the heartbeat),
    /// and write its log lines: what [`Function::handle`] does once it is running, for a scaler
    /// on the fakes of the crate's tests.
    #[cfg(test)]
    pub(crate) async fn handle(
        &self,
        event: &serde_json::Value,
        call: Call<'_>,
    ) -> Result<Response, Failure> {
        self.invoke(parse_invocation(event), call).await
    }

    /// [`Scaler::handle`], the event read.
    pub(crate) async fn invoke(
        &self,
        invocation: Result<Invocation, IntakeError>,
        call: Call<'_>,
    ) -> Result<Response, Failure> {
        let result = match invocation {
            Ok(Invocation::Alarm(signal)) => match self.foreign(&signal, call) {
                Some(refused) => Err(refused),
                None => self
                    .alarm(&signal, call.deadline)
                    .await
                    .map(|outcome| Response::Alarm(Box::new(outcome))),
            },
            Ok(Invocation::Heartbeat { .. }) => self.heartbeat(call).await.map(Response::Heartbeat),
            // `Function::handle` answers it before this: it needs the real clients.
            Ok(Invocation::Doctor) => Err(Failure::DoctorElsewhere),
            Err(e) => Err(Failure::from(e)),
        };
        log(self.direction, &result, call.request_id);
        result
    }

    /// The refusal of an alarm from another account or region than the function's own (its
    /// ARN says which): nothing is written and nothing re-armed.
    fn foreign(&self, signal: &AlarmSignal, call: Call<'_>) -> Option<Failure> {
        let own = self.own_arn(call.function_arn);
        let (account, region) = crate::identity::arn_account_region(&own);
        let (found, own) = signal.foreign(account, region)?;
        Some(Failure::Route {
            alarm: signal.alarm.clone(),
            source: queue_scaler_core::RouteError::Foreign {
                alarm: signal.alarm.clone(),
                found,
                own,
            },
        })
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
        // The live read and the Deployment's read overlap: neither waits for the other.
        let queues = route.live_queues(Some(signal));
        let (seen, first_read) = tokio::join!(
            self.read_backlog(&queues, signal.message_datapoint(), scale_deadline),
            self.read_scale(target, scale_deadline)
        );
        let threshold = signal.message_threshold();
        let direction = self.direction;
        let trigger = Trigger::Alarm(&signal.alarm);
        let result = self
            .scale_from(
                target,
                scale_deadline,
                (trigger, &seen),
                Some(first_read),
                |current| {
                    let d = if wake {
                        decide_wake(current, seen.backlog, &target.policy)
                    } else {
                        decide(direction, current, seen.backlog, threshold, &target.policy)
                    };
                    with_fallback(d, &seen)
                },
            )
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

    /// The live backlog of `queues`, read in parallel under `deadline` (and at most
    /// [`LIVE_READ_BUDGET`]); when there is none to read, no reader, or a read fails, the
    /// alarm's `datapoint` stands in and [`Seen::fallback`] says why.
    pub(crate) async fn read_backlog(
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
                    let error = chain(&e);
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

    /// The result of one alarm, built in one place.
    fn outcome(
        &self,
        signal: &AlarmSignal,
        target: Option<&Target>,
        step: Option<(&Scaled, &Seen)>,
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
            capacity: step.and_then(|s| s.capacity.clone()).map(Box::new),
            paused: step.and_then(|s| s.paused.clone()),
            rearm,
        }
    }

    /// Set the alarm back to OK, whether scaling succeeded or failed: while the backlog persists,
    /// the next evaluation fires it again, which is the retry. Bounded by `deadline`.
    async fn rearm_after(
        &self,
        signal: &AlarmSignal,
        target: &Target,
        result: &Result<Scaled, IoError>,
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
    ) -> Result<Scaled, IoError> {
        self.scale_from(target, deadline, cause, None, decide).await
    }

    /// Read the target's Deployment (its scale), with backoff, within `deadline`.
    async fn read_scale(
        &self,
        target: &Target,
        deadline: Instant,
    ) -> Result<queue_scaler_io::kube::scale::Scale, IoError> {
        with_backoff("reading the scale", self.backoff, deadline, || {
            self.api.get(target)
        })
        .await
    }

    /// [`Scaler::scale`], whose first read was already made (`first`, made while the queues
    /// were read); a read again after a conflict or a lost answer is made here.
    pub(crate) async fn scale_from(
        &self,
        target: &Target,
        deadline: Instant,
        cause: (Trigger<'_>, &Seen),
        first: Option<Result<queue_scaler_io::kube::scale::Scale, IoError>>,
        decide: impl Fn(i32) -> Decision,
    ) -> Result<Scaled, IoError> {
        let mut first = first;
        let mut conflicts = 0;
        let mut rereads = 0;
        // (replicas read before, replicas written) of a write whose answer was lost.
        let mut unanswered: Option<(i32, i32)> = None;
        loop {
            // Read (the first read may have been made already).
            let scale = match first.take() {
                Some(read) => read?,
                None => self.read_scale(target, deadline).await?,
            };
            let current = scale.spec.replicas;
            let uid = scale.metadata.uid.as_deref();
            // Verify a write whose answer was lost.
            if let Some((from, written)) = unanswered {
                if current == written {
                    tracing::info!(target = %target, replicas = current, "the lost write was applied");
                    let step = Scaled {
                        from,
                        to: written,
                        applied: true,
                        reason: format!(
                            "set {from} -> {written}; its answer was lost, and reading again shows it applied"
                        ),
                        conflicts,
                        event: None,
                        capacity: None,
                        paused: None,
                    };
                    return Ok(self.record(target, uid, cause, step, deadline).await);
                }
            }
            // Decide: the operator's pause first, then the backlog; a raise of a target whose
            // replicas stay unready is refused, and one on a shared GPU pool is capped by it,
            // and booked.
            let Decided {
                decision,
                capacity,
                paused,
            } = self
                .decide_on(target, &scale, &decide, cause.1, deadline)
                .await?;
            let step = Scaled {
                from: current,
                to: decision.desired,
                applied: false,
                reason: decision.reason.clone(),
                conflicts,
                event: None,
                capacity,
                paused,
            };
            if step.is_limited() && !self.dry_run {
                return Ok(self.record(target, uid, cause, step, deadline).await);
            }
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
                    if let Ok(mut written) = self.written.lock() {
                        written.insert(target.to_string(), chrono::Utc::now());
                    }
                    let step = Scaled {
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

    /// Decide from a read scale. The Deployment's pause annotations come first: `paused` writes
    /// nothing, `paused-replicas` writes its count whatever the backlog says (a raise of it on a
    /// shared GPU pool capped at what is free, and booked). Then `decide`; a
    /// raise of a capacity-limited target is refused (its replicas asked for stay unready), and
    /// one on a shared GPU pool goes through [`Scaler::pool_gate`].
    async fn decide_on(
        &self,
        target: &Target,
        scale: &queue_scaler_io::kube::scale::Scale,
        decide: &impl Fn(i32) -> Decision,
        seen: &Seen,
        deadline: Instant,
    ) -> Result<Decided, IoError> {
        let current = scale.spec.replicas;
        let pause = scale.deployment.as_ref().map_or(Pause::Off, |facts| {
            Pause::from_annotations(|key| facts.annotation(key))
        });
        match pause {
            Pause::Off => {}
            Pause::Paused { .. } => {
                return Ok(Decided {
                    decision: Decision {
                        desired: current,
                        reason: format!("paused: {pause}"),
                    },
                    capacity: None,
                    paused: Some(pause.to_string()),
                })
            }
            Pause::Replicas(n) => {
                let n = i32::try_from(n).unwrap_or(i32::MAX);
                let reason = if n == current {
                    format!("paused: {pause}, and it has them")
                } else {
                    format!("paused: {pause}: set {current} -> {n}, then held")
                };
                let decision = Decision { desired: n, reason };
                // A raise on a shared GPU pool takes only what is free, and is booked: the
                // operator's count never leaves a pod Pending for a GPU another target holds.
                // What is held back is asked for again at the next event, as room frees.
                let (decision, capacity) = if n > current {
                    self.pool_gate(target, scale, decision, seen, deadline, !self.dry_run)
                        .await?
                } else {
                    (decision, None)
                };
                return Ok(Decided {
                    decision,
                    capacity,
                    paused: Some(pause.to_string()),
                });
            }
        }
        let decision = decide(current);
        if decision.desired <= current {
            return Ok(Decided {
                decision,
                capacity: None,
                paused: None,
            });
        }
        if let Some(limited) = self.limited(target, scale, deadline).await {
            let pools = self.placed_pools(Some((target, scale)), deadline).await;
            let pool = pools.entry(target).map(|e| e.pool.as_str());
            let reason = format!(
                "{}; not raised: capacity-limited, {} of {} replicas ready more than {} s after the last write ({}); the cluster cannot place more",
                decision.reason, limited.ready, limited.replicas, limited.pending_seconds, limited.since
            );
            return Ok(Decided {
                decision: Decision {
                    desired: current,
                    reason,
                },
                capacity: Some(crate::report::Capacity::limited(pool, limited)),
                paused: None,
            });
        }
        let (decision, capacity) = self
            .pool_gate(target, scale, decision, seen, deadline, !self.dry_run)
            .await?;
        Ok(Decided {
            decision,
            capacity,
            paused: None,
        })
    }

    /// Whether `scale`'s target is capacity-limited: fewer replicas ready than asked for, for
    /// longer than `CAPACITY_PENDING_SECONDS` after queue-scaler's last write to its scale.
    /// Unknown (never limited) where the Deployment could not be read.
    ///
    /// The write's time: the latest of its `managedFields` time (which the API server does not
    /// set for a write to the `scale` subresource, as of Kubernetes 1.34), the pool's record of
    /// the target's last raise (read only when replicas are unready), and this container's own
    /// last write of the target. With none known, it is not limited.
    async fn limited(
        &self,
        target: &Target,
        scale: &queue_scaler_io::kube::scale::Scale,
        deadline: Instant,
    ) -> Option<Limited> {
        let facts = scale.deployment.as_ref()?;
        let spec = scale.spec.replicas.max(0).unsigned_abs();
        if facts.ready_replicas >= spec {
            return None;
        }
        let remembered = self.written_at(target);
        let raised = self.raised_at(target, scale, deadline).await;
        let written = [facts.last_scale_write, raised, remembered]
            .into_iter()
            .flatten()
            .max()?;
        let pending = self.pools.pending_seconds;
        capacity_limited(
            facts.ready_replicas,
            spec,
            Some(written),
            chrono::Utc::now(),
            pending,
        )
        .then(|| Limited {
            ready: facts.ready_replicas,
            replicas: scale.spec.replicas,
            since: written.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            pending_seconds: pending,
        })
    }

    /// This container's last write of `target`'s scale, when it made one.
    fn written_at(&self, target: &Target) -> Option<chrono::DateTime<chrono::Utc>> {
        let written = self.written.lock().ok()?;
        written.get(&target.to_string()).copied()
    }

    /// Record a write as an Event on the Deployment (`uid` as read), unless `KUBE_EVENTS=false`;
    /// a raise refused as capacity-limited as a Warning Event, at most once per
    /// [`crate::report::WARNING_EVERY`] per target from this container.
    /// Best effort: one attempt, within [`EVENT_BUDGET`] and `deadline`; a failure is logged and
    /// reported in the step, never returned, and the write is never repeated for it.
    async fn record(
        &self,
        target: &Target,
        uid: Option<&str>,
        (trigger, seen): (Trigger<'_>, &Seen),
        step: Scaled,
        deadline: Instant,
    ) -> Scaled {
        let Some(instance) = &self.events else {
            return Scaled {
                event: Some(EventRecord::Off),
                ..step
            };
        };
        let limited = step.is_limited() && !step.applied;
        let key = target.to_string();
        let recently = |map: &std::collections::HashMap<String, Instant>| {
            map.get(&key)
                .is_some_and(|at| at.elapsed() < crate::report::WARNING_EVERY)
        };
        if limited && self.warned.lock().is_ok_and(|warned| recently(&warned)) {
            return Scaled {
                event: Some(EventRecord::Repeated),
                ..step
            };
        }
        let note = if limited {
            format!(
                "{trigger}: {}; not raised from {}: {}",
                seen.backlog, step.from, step.reason
            )
        } else {
            format!(
                "{trigger}: {}; {} -> {} ({})",
                seen.backlog, step.from, step.to, step.reason
            )
        };
        let event = ScaleEvent {
            from: step.from,
            to: step.to,
            note,
            instance: instance.clone(),
            uid: uid.map(str::to_owned),
            time: chrono::Utc::now(),
            limited,
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
        if limited && record == EventRecord::Recorded {
            if let Ok(mut warned) = self.warned.lock() {
                warned.insert(key, Instant::now());
            }
        }
        Scaled {
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

/// Time left until the invocation's deadline.
///
/// Lambda sends the deadline as milliseconds since the epoch. The runtime emulator
/// (`cargo lambda watch`) sends the timeout itself (e.g. 600000): a "deadline" less than a day
/// after the epoch is read as time from now.
pub fn time_left(deadline: SystemTime) -> Duration {
    time_left_at(deadline, SystemTime::now())
}

/// [`time_left`] as seen at `now`.
fn time_left_at(deadline: SystemTime, now: SystemTime) -> Duration {
    match deadline.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(relative) if relative < Duration::from_secs(86_400) => relative,
        _ => deadline.duration_since(now).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function::context;

    #[test]
    fn an_absolute_deadline_counts_from_now() {
        // A real deadline: milliseconds since the epoch, years after it.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        assert_eq!(
            time_left_at(now + Duration::from_secs(30), now),
            Duration::from_secs(30)
        );
        assert_eq!(
            time_left_at(now - Duration::from_secs(5), now),
            Duration::ZERO
        );
    }

    #[test]
    fn the_emulators_relative_deadline_is_the_time_left() {
        let left = time_left(SystemTime::UNIX_EPOCH + Duration::from_millis(600_000));
        assert_eq!(left, Duration::from_secs(600));
    }

    #[test]
    fn a_tools_context_has_its_deadline_ahead() {
        let context = context(
            "r",
            "arn:aws:lambda:r:1:function:f",
            Duration::from_secs(30),
        );
        let left = time_left(context.deadline());
        assert!(
            left > Duration::from_secs(25) && left <= Duration::from_secs(30),
            "{left:?}"
        );
    }
}
