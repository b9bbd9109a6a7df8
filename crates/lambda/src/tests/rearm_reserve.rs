//! An invocation near its deadline: scaling stops early enough to leave [`REARM_RESERVE`] for
//! the re-arm, so the alarm is still set back to OK, and nothing runs past the deadline. The
//! clock is tokio's paused one: the time these tests see is the handler's own, whatever the
//! machine's load, and they assert what happened and in which order, never how fast.

use super::fakes::*;
use crate::scaler::alarm::REARM_RESERVE;
use crate::scaler::Scaler;
use queue_scaler_core::{DescribedAlarm, Direction, QueueCounts, Target};
use queue_scaler_io::kube::scale::Scale;
use queue_scaler_io::{AlarmRearm, Error, ErrorClass, Lease, ScaleApi, ScaleEvent};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Longer than any invocation: a call that takes it never answers.
const NEVER: Duration = Duration::from_secs(86_400);

/// A cluster that reads at once but never answers a write.
struct WritesHang(FakeCluster);

impl ScaleApi for WritesHang {
    async fn get(&self, target: &Target) -> Result<Scale, Error> {
        self.0.get(target).await
    }
    async fn put(&self, target: &Target, scale: &Scale) -> Result<Scale, Error> {
        self.0
            .state
            .lock()
            .unwrap()
            .calls
            .push(format!("put {target} {} (no answer)", scale.spec.replicas));
        tokio::time::sleep(NEVER).await;
        unreachable!("the scaler gives up on the write before it answers")
    }
    async fn record(&self, target: &Target, event: &ScaleEvent) -> Result<(), Error> {
        self.0.record(target, event).await
    }
    async fn get_lease(&self, namespace: &str, name: &str) -> Result<Lease, Error> {
        self.0.get_lease(namespace, name).await
    }
    async fn put_lease(&self, lease: &Lease) -> Result<Lease, Error> {
        self.0.put_lease(lease).await
    }
}

/// CloudWatch taking `took` to set an alarm back to OK; the alarm counts as set when it answers.
struct SlowAlarms {
    took: Duration,
    alarms: Arc<FakeAlarms>,
}

impl AlarmRearm for SlowAlarms {
    async fn set_ok(&self, alarm: &str, reason: &str) -> Result<(), Error> {
        tokio::time::sleep(self.took).await;
        self.alarms.set_ok(alarm, reason).await
    }
    async fn describe(&self, names: &[&str]) -> Result<Vec<DescribedAlarm>, Error> {
        self.alarms.describe(names).await
    }
}

/// The scaler is built without a queue reader; this satisfies its default type.
impl queue_scaler_io::QueueDepth for SlowAlarms {
    async fn counts(&self, _queue: &str) -> Result<QueueCounts, Error> {
        unreachable!("this scaler reads no queue")
    }
}

/// Invoke scale-up (no datapoint: one step, 2 -> 3) with `left` before the deadline, against a
/// cluster that never answers the write and a re-arm that takes `rearm_takes`. Answers the
/// failure's message, the cluster's calls, the alarms set back to OK, and the time left at the
/// return (zero when it ran past the deadline).
async fn near_the_deadline(
    left: Duration,
    rearm_takes: Duration,
) -> (String, Vec<String>, Vec<String>, Duration) {
    let alarms = Arc::new(FakeAlarms::default());
    let cluster = FakeCluster::at(2);
    let s = Scaler::new(
        Direction::Up,
        single(target(), &[], &[]),
        false,
        WritesHang(cluster.clone()),
        Some(SlowAlarms {
            took: rearm_takes,
            alarms: Arc::clone(&alarms),
        }),
    );
    let deadline = Instant::now() + left;
    let failure = invoke_at(&s, &event("alarm-set-by-set-alarm-state.json"), deadline)
        .await
        .unwrap_err();
    let spare = deadline.saturating_duration_since(Instant::now());
    let overran = Instant::now() > deadline;
    assert!(!overran, "the invocation ran past its deadline");
    assert_eq!(
        failure.class(),
        ErrorClass::Retryable,
        "{}",
        failure.message()
    );
    let rearmed = alarms
        .rearmed
        .lock()
        .unwrap()
        .iter()
        .map(|(alarm, _)| alarm.clone())
        .collect();
    (failure.message(), cluster.calls(), rearmed, spare)
}

#[tokio::test(start_paused = true)]
async fn a_short_deadline_still_leaves_the_rearm_its_reserve() {
    // Half a second for scaling, then the reserve; the re-arm needs a second of it.
    let left = REARM_RESERVE + Duration::from_millis(500);
    let (message, calls, rearmed, spare) = near_the_deadline(left, Duration::from_secs(1)).await;
    assert_eq!(
        calls,
        ["get ml/model-worker", "put ml/model-worker 3 (no answer)"],
        "one write, abandoned when scaling's share of the time ran out"
    );
    assert_eq!(
        rearmed,
        ["model-worker-backlog-high"],
        "the re-arm ran after the abandoned write, and finished: {message}"
    );
    assert!(message.contains("set back to OK"), "{message}");
    assert!(
        spare > Duration::ZERO,
        "the re-arm finished with time to spare"
    );
}

#[tokio::test(start_paused = true)]
async fn a_deadline_shorter_than_the_reserve_still_rearms() {
    // Less time than the reserve: scaling gets none of it, the re-arm all of it.
    let left = Duration::from_secs(1);
    assert!(left < REARM_RESERVE);
    let (message, calls, rearmed, _) = near_the_deadline(left, Duration::from_millis(500)).await;
    assert_eq!(calls[0], "get ml/model-worker", "{calls:?}");
    assert_eq!(rearmed, ["model-worker-backlog-high"], "{message}");
}

#[tokio::test(start_paused = true)]
async fn a_rearm_that_never_answers_is_cut_at_the_deadline() {
    let left = REARM_RESERVE + Duration::from_millis(500);
    let (message, _, rearmed, _) = near_the_deadline(left, NEVER).await;
    assert!(rearmed.is_empty(), "{rearmed:?}");
    assert!(
        message.contains("no answer before the deadline") && message.contains("heartbeat"),
        "the failure says the re-arm ran out of time: {message}"
    );
}
