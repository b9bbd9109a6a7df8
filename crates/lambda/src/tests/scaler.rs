//! The handler against fakes of its two I/O traits, one invocation at a time: what it reads,
//! decides, writes and re-arms, and that it writes nothing after a failure.

use super::fakes::*;
use crate::report::Rearm;
use queue_scaler_core::Direction;
use queue_scaler_io::backoff::Backoff;
use queue_scaler_io::ErrorClass;
use std::time::Duration;

#[tokio::test]
async fn high_backlog_scales_up_to_what_the_backlog_needs_and_rearms() {
    let cluster = FakeCluster::at(2);
    let s = rearming_scaler(Direction::Up, &cluster);
    let out = invoke_at(&s, &event("alarm-high-backlog.json"), soon())
        .await
        .unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(2), Some(7), true));
    assert_eq!(cluster.replicas(), 7);
    assert_eq!(
        cluster.calls(),
        ["get ml/model-worker", "put ml/model-worker 7"]
    );
    assert_eq!(out.rearm, Rearm::Done);
    assert_eq!(out.target.as_deref(), Some("ml/model-worker"));
}

#[tokio::test]
async fn rearm_reason_says_what_queue_scaler_did() {
    // The scaler owns its re-arm client; share the fake to read its calls afterwards.
    let alarms = std::sync::Arc::new(FakeAlarms::default());
    let routes = single(target(), &[], &[]);
    let s = up_scaler(routes, FakeCluster::at(2), Shared(alarms.clone()));
    invoke_at(&s, &event("alarm-high-backlog.json"), soon())
        .await
        .unwrap();
    let calls = alarms.rearmed.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "model-worker-backlog-high");
    assert!(
        calls[0].1.contains("ml/model-worker 2 -> 7"),
        "{}",
        calls[0].1
    );
}

#[tokio::test]
async fn low_backlog_scales_down_one_step() {
    let s = scaler(Direction::Down, FakeCluster::at(5), None, false);
    let out = invoke_file(&s, "alarm-low-backlog.json").await.unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(5), Some(4), true));
    assert_eq!(out.rearm, Rearm::Disabled);
}

#[tokio::test]
async fn ok_and_insufficient_data_touch_nothing() {
    let cluster = FakeCluster::at(2);
    let s = rearming_scaler(Direction::Up, &cluster);
    let out = invoke_file(&s, "alarm-ok.json").await.unwrap();
    assert!(!out.applied && out.from.is_none());
    assert!(out.reason.contains("only ALARM acts"), "{}", out.reason);
    assert!(cluster.calls().is_empty());
    assert_eq!(out.rearm, Rearm::NotNeeded);
}

#[tokio::test]
async fn dry_run_reads_and_decides_but_writes_nothing() {
    let cluster = FakeCluster::at(2);
    let s = scaler(
        Direction::Up,
        cluster.clone(),
        Some(FakeAlarms::default()),
        true,
    );
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert_eq!(
        (out.from, out.to, out.applied, out.dry_run),
        (Some(2), Some(7), false, true)
    );
    assert_eq!(cluster.calls(), ["get ml/model-worker"]);
    assert_eq!(cluster.replicas(), 2);
    assert_eq!(out.rearm, Rearm::NotNeeded);
}

#[tokio::test]
async fn at_max_nothing_is_written_but_the_alarm_is_rearmed() {
    let cluster = FakeCluster::at(8);
    let s = rearming_scaler(Direction::Up, &cluster);
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(8), Some(8), false));
    assert_eq!(cluster.calls(), ["get ml/model-worker"]);
    assert_eq!(out.rearm, Rearm::Done);
}

#[tokio::test]
async fn a_conflict_is_read_again_and_decided_again() {
    // Someone scales 6 -> 4 between our first read and our write.
    let cluster = FakeCluster::at(6);
    cluster.state.lock().unwrap().concurrent_writes.push_back(4);
    let s = scaler(Direction::Down, cluster.clone(), None, false);
    let out = invoke_file(&s, "alarm-low-backlog.json").await.unwrap();
    assert_eq!(out.conflicts, 1);
    assert_eq!(
        (out.from, out.to, out.applied),
        (Some(4), Some(3), true),
        "decided again from the fresh read"
    );
    assert_eq!(cluster.replicas(), 3);
    assert_eq!(
        cluster.calls(),
        [
            "get ml/model-worker",
            "put ml/model-worker 5",
            "get ml/model-worker",
            "put ml/model-worker 3"
        ]
    );
}

#[tokio::test]
async fn endless_conflicts_give_up_as_retryable() {
    let cluster = FakeCluster::at(6);
    cluster
        .state
        .lock()
        .unwrap()
        .concurrent_writes
        .extend([7, 6, 7, 6, 7, 6, 7]);
    let s = scaler(Direction::Down, cluster, Some(FakeAlarms::default()), false);
    let err = invoke_file(&s, "alarm-low-backlog.json").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable, "{err}");
    assert!(err.message().contains("409"), "{err}");
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let cluster = FakeCluster::at(2);
    cluster
        .state
        .lock()
        .unwrap()
        .get_failures
        .extend([503, 429]);
    cluster.state.lock().unwrap().put_failures.extend([500]);
    let s = scaler(Direction::Up, cluster.clone(), None, false);
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert!(out.applied);
    assert_eq!(cluster.calls().len(), 5);
    assert_eq!(cluster.replicas(), 7);
}

#[tokio::test]
async fn forbidden_is_not_retried_and_writes_nothing() {
    let cluster = FakeCluster::at(2);
    cluster.state.lock().unwrap().get_failures.push_back(403);
    let s = rearming_scaler(Direction::Up, &cluster);
    let err = invoke_file(&s, "alarm-high-backlog.json")
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::NonRetryable);
    assert!(
        err.message()
            .starts_with("alarm \"model-worker-backlog-high\", target ml/model-worker: "),
        "{err}"
    );
    assert_eq!(cluster.calls(), ["get ml/model-worker"]);
    assert_eq!(cluster.replicas(), 2);
}

#[tokio::test]
async fn an_alarm_without_a_route_is_named_and_nothing_is_called() {
    let cluster = FakeCluster::at(2);
    let s = scaler(Direction::Up, cluster.clone(), None, false);
    let mut ev = event("alarm-set-by-set-alarm-state.json");
    // No queue dimension and an unknown alarm name: no route.
    ev["alarmData"]["alarmName"] = "other-queue-high".into();
    ev["alarmData"]["configuration"]["metrics"] = serde_json::json!([]);
    let err = invoke_at(&s, &ev, soon()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::NonRetryable);
    assert!(err.message().contains("\"other-queue-high\""), "{err}");
    assert!(cluster.calls().is_empty());
}

#[tokio::test]
async fn a_malformed_event_is_refused_saying_what_was_expected() {
    let cluster = FakeCluster::at(2);
    let s = scaler(Direction::Up, cluster.clone(), None, false);
    let err = invoke_at(
        &s,
        &serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}),
        soon(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::NonRetryable);
    assert!(
        err.message()
            .contains("expected a CloudWatch alarm action event"),
        "{err}"
    );
    assert!(cluster.calls().is_empty());
}

#[tokio::test]
async fn a_failed_rearm_does_not_undo_the_scaling() {
    let cluster = FakeCluster::at(2);
    let s = scaler(
        Direction::Up,
        cluster.clone(),
        Some(FakeAlarms {
            fail: true,
            ..Default::default()
        }),
        false,
    );
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert!(out.applied);
    assert_eq!(cluster.replicas(), 7);
    assert!(
        matches!(out.rearm, Rearm::Failed(ref m) if m.contains("AccessDenied")),
        "{:?}",
        out.rearm
    );
}

#[tokio::test]
async fn no_datapoint_means_one_step() {
    let s = scaler(Direction::Up, FakeCluster::at(2), None, false);
    let out = invoke_file(&s, "alarm-set-by-set-alarm-state.json")
        .await
        .unwrap();
    assert_eq!((out.from, out.to), (Some(2), Some(3)));
    assert!(
        out.reason.contains("no backlog known") && out.source == Some("alarm"),
        "{}",
        out.reason
    );
}

#[tokio::test]
async fn a_lost_answer_is_read_again_and_never_applied_twice() {
    // The write 2 -> 3 is applied, but its answer is lost. The resent write meets 409 (the
    // version moved); reading again shows 3: that was our write, so no second step.
    let cluster = FakeCluster::at(2);
    cluster.state.lock().unwrap().lost_answers = 1;
    let s = rearming_scaler(Direction::Up, &cluster);
    let out = invoke_file(&s, "alarm-set-by-set-alarm-state.json")
        .await
        .unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(2), Some(3), true));
    assert_eq!(cluster.replicas(), 3, "one step, not two");
    assert!(out.reason.contains("answer was lost"), "{}", out.reason);
    assert_eq!(
        cluster.calls(),
        [
            "get ml/model-worker",
            "put ml/model-worker 3",
            "put ml/model-worker 3",
            "get ml/model-worker"
        ]
    );
    assert_eq!(out.rearm, Rearm::Done);
}

#[tokio::test]
async fn a_failure_still_rearms_the_alarm_so_its_next_evaluation_retries() {
    let alarms = FakeAlarms::default();
    let cluster = FakeCluster::at(2);
    cluster.state.lock().unwrap().get_failures.push_back(403);
    let s = scaler(Direction::Up, cluster.clone(), Some(alarms), false);
    let err = invoke_file(&s, "alarm-high-backlog.json")
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::NonRetryable);
    assert!(err.message().contains("set back to OK"), "{err}");
    assert_eq!(cluster.replicas(), 2, "nothing written after a refusal");
}

#[tokio::test]
async fn a_retryable_failure_rearms_too_and_says_so() {
    let shared = std::sync::Arc::new(FakeAlarms::default());
    let cluster = FakeCluster::at(2);
    cluster.state.lock().unwrap().get_failures.extend([503; 10]);
    let s = up_scaler(single(target(), &[], &[]), cluster, Shared(shared.clone())).with_backoff(
        Backoff {
            attempts: 3,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
        },
    );
    let err = invoke_file(&s, "alarm-high-backlog.json")
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable, "{err}");
    let rearmed = shared.rearmed.lock().unwrap().clone();
    assert_eq!(rearmed.len(), 1);
    assert!(
        rearmed[0].1.contains("failed (Retryable)"),
        "{}",
        rearmed[0].1
    );
}

#[tokio::test]
async fn a_failed_rearm_after_a_failure_points_at_the_heartbeat() {
    let cluster = FakeCluster::at(2);
    cluster.state.lock().unwrap().get_failures.push_back(404);
    let alarms = FakeAlarms {
        fail: true,
        ..Default::default()
    };
    let s = scaler(Direction::Up, cluster, Some(alarms), false);
    let err = invoke_file(&s, "alarm-high-backlog.json")
        .await
        .unwrap_err();
    assert!(err.message().contains("the heartbeat acts on it"), "{err}");
}
