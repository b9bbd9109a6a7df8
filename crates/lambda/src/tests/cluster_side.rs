//! What the Deployment itself says, read with its scale, against the fakes: the pause
//! annotations an operator sets (both functions and the heartbeat honour them), and
//! capacity-limited, a target whose replicas stay unready long after a write, which is not
//! raised again and is reported (result, log line, metric, Warning Event).

use super::fakes::*;
use crate::log_lines::outcome_line;
use crate::report::Response;
use queue_scaler_core::capacity::{PAUSED_ANNOTATION, PAUSED_REPLICAS_ANNOTATION};
use queue_scaler_core::Direction;
use queue_scaler_io::kube::DeploymentFacts;
use std::sync::Arc;

/// A Deployment with these annotations, all its replicas ready.
fn annotated(pairs: &[(&str, &str)]) -> DeploymentFacts {
    DeploymentFacts {
        annotations: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ready_replicas: 100,
        ..DeploymentFacts::default()
    }
}

/// A Deployment with `ready` replicas ready, queue-scaler's last write `ago` seconds back.
fn pending(ready: u32, ago: i64) -> DeploymentFacts {
    DeploymentFacts {
        ready_replicas: ready,
        last_scale_write: Some(chrono::Utc::now() - chrono::Duration::seconds(ago)),
        ..DeploymentFacts::default()
    }
}

fn puts(cluster: &FakeCluster) -> Vec<String> {
    cluster
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("put"))
        .collect()
}

#[tokio::test]
async fn paused_true_writes_nothing_in_either_direction_and_says_why() {
    for (direction, file) in [
        (Direction::Up, "alarm-high-backlog.json"),
        (Direction::Down, "alarm-low-backlog.json"),
    ] {
        let cluster = FakeCluster::at(4).with_facts(annotated(&[(PAUSED_ANNOTATION, "true")]));
        let s = rearming_scaler(direction, &cluster);
        let out = invoke_file(&s, file).await.unwrap();
        assert_eq!((out.from, out.to, out.applied), (Some(4), Some(4), false));
        let paused = out.paused.clone().unwrap_or_default();
        assert!(paused.contains(PAUSED_ANNOTATION), "{paused}");
        assert!(out.reason.starts_with("paused"), "{}", out.reason);
        assert!(puts(&cluster).is_empty(), "{:?}", cluster.calls());
        assert!(cluster.events().is_empty());
        let line = outcome_line(&out, "r");
        assert_eq!(line["paused"], paused.as_str(), "{line}");
    }
}

#[tokio::test]
async fn paused_replicas_writes_its_count_once_whatever_the_backlog_then_holds() {
    // A high backlog would raise 3 to 8; the operator holds the Deployment at 1, below min.
    let cluster = FakeCluster::at(3).with_facts(annotated(&[(PAUSED_REPLICAS_ANNOTATION, "1")]));
    let s = rearming_scaler(Direction::Up, &cluster);
    let first = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert_eq!(
        (first.from, first.to, first.applied),
        (Some(3), Some(1), true)
    );
    assert!(first.paused.is_some());
    let second = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert_eq!(
        (second.from, second.to, second.applied),
        (Some(1), Some(1), false)
    );
    assert_eq!(puts(&cluster), ["put ml/model-worker 1"]);
}

#[tokio::test]
async fn a_pause_that_cannot_be_read_means_paused() {
    for pairs in [
        [(PAUSED_ANNOTATION, "yes please")],
        [(PAUSED_REPLICAS_ANNOTATION, "two")],
    ] {
        let cluster = FakeCluster::at(3).with_facts(annotated(&pairs));
        let s = scaler(Direction::Up, cluster.clone(), None, false);
        let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
        assert!(!out.applied, "{pairs:?}: {out:?}");
        assert!(puts(&cluster).is_empty());
        assert!(out.paused.unwrap_or_default().contains("paused"));
    }
}

#[tokio::test]
async fn paused_false_scales_as_usual() {
    let cluster = FakeCluster::at(3).with_facts(annotated(&[(PAUSED_ANNOTATION, "false")]));
    let s = scaler(Direction::Up, cluster.clone(), None, false);
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert!(out.applied, "{out:?}");
    assert_eq!(out.paused, None);
}

#[tokio::test]
async fn the_heartbeat_honours_the_pause_too() {
    let cluster = FakeCluster::at(2).with_facts(annotated(&[(PAUSED_ANNOTATION, "true")]));
    let queues = FakeQueues::with(&[("model-jobs", 900, 0, 0)]);
    let s = rearming_scaler(Direction::Up, &cluster).with_queues(Some(Arc::new(queues)));
    let Response::Heartbeat(report) = invoke_heartbeat(&s).await.unwrap() else {
        panic!("not a heartbeat report");
    };
    let check = &report.targets[0];
    assert!(!check.applied, "{check:?}");
    assert!(check.paused.is_some(), "{check:?}");
    assert!(puts(&cluster).is_empty(), "{:?}", cluster.calls());
}

/// Scale-up of a capacity-limited target: 4 asked for, 2 ready, an hour after the write (the
/// pool cannot place more).
fn limited_up() -> (FakeCluster, crate::scaler::Scaler<FakeCluster, FakeAlarms>) {
    let cluster = FakeCluster::at(4).with_facts(pending(2, 3600));
    let s = rearming_scaler(Direction::Up, &cluster);
    (cluster, s)
}

#[tokio::test]
async fn a_capacity_limited_target_is_not_raised_and_is_reported_everywhere() {
    let (cluster, s) = limited_up();
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(4), Some(4), false));
    assert!(out.reason.contains("capacity-limited"), "{}", out.reason);
    let result = serde_json::to_value(&out).unwrap();
    let limited = &result["capacity"]["limited"];
    assert_eq!(
        (
            &limited["ready"],
            &limited["replicas"],
            &limited["pending_seconds"]
        ),
        (&2.into(), &4.into(), &900.into()),
        "{result}"
    );
    assert!(puts(&cluster).is_empty(), "{:?}", cluster.calls());
    assert_eq!(cluster.events(), ["CapacityLimited 4 -> 4"]);
    let line = outcome_line(&out, "r");
    assert_eq!(line["CapacityLimited"], 1, "{line}");
    assert!(line["capacity"]["limited"].is_object(), "{line}");
}

#[tokio::test(start_paused = true)]
async fn a_capacity_limited_target_is_warned_of_once_per_ten_minutes() {
    // Its alarm and the heartbeat refuse it every minute: one Warning, then none for 10 minutes.
    let (cluster, s) = limited_up();
    let mut records = Vec::new();
    for _ in 0..11 {
        let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
        assert!(!out.applied && out.capacity.is_some(), "{out:?}");
        records.push(out.event.map(|e| e.to_string()).unwrap_or_default());
        tokio::time::advance(std::time::Duration::from_secs(60)).await;
    }
    assert_eq!(records[0], "recorded");
    assert!(
        records[1..10].iter().all(|r| r.starts_with("repeated")),
        "{records:?}"
    );
    assert_eq!(records[10], "recorded", "after 10 minutes: {records:?}");
    assert_eq!(
        cluster.events(),
        ["CapacityLimited 4 -> 4", "CapacityLimited 4 -> 4"]
    );
}

#[tokio::test]
async fn replicas_pending_within_the_wait_are_not_limited_yet() {
    let cluster = FakeCluster::at(4).with_facts(pending(2, 60));
    let s = scaler(Direction::Up, cluster.clone(), None, false);
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert!(out.applied, "{out:?}");
    assert!(out.capacity.is_none(), "{out:?}");
    assert_eq!(outcome_line(&out, "r").get("CapacityLimited"), None);
}

#[tokio::test]
async fn a_capacity_limited_target_is_still_lowered() {
    let cluster = FakeCluster::at(5).with_facts(pending(2, 3600));
    let s = scaler(Direction::Down, cluster.clone(), None, false);
    let out = invoke_file(&s, "alarm-low-backlog.json").await.unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(5), Some(4), true));
}

#[tokio::test]
async fn without_the_deployments_facts_nothing_is_paused_or_limited() {
    // Where `get` on the Deployment is refused, the scale is read: no annotations, no readiness.
    let cluster = FakeCluster::at(4);
    let s = scaler(Direction::Up, cluster.clone(), None, false);
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert!(
        out.applied && out.paused.is_none() && out.capacity.is_none(),
        "{out:?}"
    );
}

#[tokio::test]
async fn without_a_time_in_managed_fields_this_containers_own_write_dates_the_wait() {
    // The API server leaves the time out of a `scale` write's managedFields entry: the
    // container's own last write stands in. A wait of 0 s makes the second alarm late enough.
    let facts = DeploymentFacts {
        ready_replicas: 2,
        ..DeploymentFacts::default()
    };
    let cluster = FakeCluster::at(2).with_facts(facts);
    let s = scaler(Direction::Up, cluster.clone(), None, false)
        .with_pools(queue_scaler_core::capacity::Pools::default().with_pending_seconds(0));
    let first = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert_eq!(
        (first.from, first.to, first.applied),
        (Some(2), Some(7), true)
    );
    let second = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert!(!second.applied, "{second:?}");
    assert!(second.capacity.and_then(|c| c.limited).is_some());
    // Another container never wrote it: no time known, so not limited.
    let fresh = scaler(Direction::Up, cluster.clone(), None, false)
        .with_pools(queue_scaler_core::capacity::Pools::default().with_pending_seconds(0));
    cluster.state.lock().unwrap().replicas = 2;
    let out = invoke_file(&fresh, "alarm-high-backlog.json")
        .await
        .unwrap();
    assert!(out.applied, "{out:?}");
}
