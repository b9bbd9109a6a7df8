//! One alarm, from its signal to the result: refused when it comes from another account or
//! region; else routed to its target; the target's queues read live ([`super::live`]) while its
//! scale is read; decided, written and recorded ([`super::scale`]); the alarm re-armed, also after
//! a failure, so that its next evaluation is the retry; and the result built in one place.
//!
//! The loop must never depend on an event that will not come again (docs/design.md, "Across
//! invocations: never stuck"), so:
//! - the alarm is re-armed after a failure too: its next evaluation is the retry;
//! - the heartbeat acts on each alarm still in ALARM, catching a failed re-arm or a dropped
//!   event, and scale-up's wakes or raises a target below what its live backlog needs;
//! - a write whose answer was lost is sent again only under the same resourceVersion (a copy
//!   of an applied write meets 409), then checked by reading again: never applied twice.

use super::live::Seen;
use super::scale::{Scaled, Trigger};
use super::{Call, Scaler};
use crate::failure::Failure;
use crate::report::{Outcome, Rearm};
use queue_scaler_core::{
    decide, decide_wake, AlarmSignal, AlarmState, Decision, Direction, Target,
};
use queue_scaler_io::{AlarmRearm, Error as IoError, QueueDepth, ScaleApi};
use std::time::Duration;
use tokio::time::Instant;

/// Time kept back from scaling for the re-arm that follows it, also after a failure.
pub(crate) const REARM_RESERVE: Duration = Duration::from_millis(1500);

impl<K: ScaleApi, R: AlarmRearm, Q: QueueDepth> Scaler<K, R, Q> {
    /// The refusal of an alarm from another account or region than the function's own (its
    /// ARN says which): nothing is written and nothing re-armed.
    pub(crate) fn foreign(&self, signal: &AlarmSignal, call: Call<'_>) -> Option<Failure> {
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
