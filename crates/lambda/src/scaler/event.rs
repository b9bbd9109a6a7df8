//! The Event that records a write on the Deployment (`events.k8s.io/v1`, as the Horizontal Pod
//! Autoscaler writes them), and a raise refused as capacity-limited as a Warning, at most once
//! per [`WARNING_EVERY`] per target from a container. Best effort: it never fails
//! the invocation and never repeats the write.

use super::live::Seen;
use super::scale::{Scaled, Trigger};
use super::Scaler;
use crate::report::EventRecord;
use queue_scaler_core::Target;
use queue_scaler_io::{AlarmRearm, QueueDepth, ScaleApi, ScaleEvent};
use std::time::Duration;
use tokio::time::Instant;

/// The most time the Event that records a write may take: it is best effort, and the re-arm and
/// the result must not wait on it.
pub(crate) const EVENT_BUDGET: Duration = Duration::from_secs(2);

/// How often one container records a target's `CapacityLimited` Warning, at most.
pub(crate) const WARNING_EVERY: Duration = Duration::from_secs(600);

impl<K: ScaleApi, R: AlarmRearm, Q: QueueDepth> Scaler<K, R, Q> {
    /// Record a write as an Event on the Deployment (`uid` as read), unless `KUBE_EVENTS=false`;
    /// a raise refused as capacity-limited as a Warning Event, at most once per
    /// [`WARNING_EVERY`] per target from this container.
    /// Best effort: one attempt, within [`EVENT_BUDGET`] and `deadline`; a failure is logged and
    /// reported in the step, never returned, and the write is never repeated for it.
    pub(crate) async fn record(
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
            map.get(&key).is_some_and(|at| at.elapsed() < WARNING_EVERY)
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
