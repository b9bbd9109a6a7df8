//! The live signal, against the fakes: every decision reads the target's queues now, and the
//! alarm's datapoint stands in only when that read fails. Scale-up's heartbeat reconciles every
//! target from its queues, and leaves an alarm that just changed to its own invocation.

use super::fakes::*;
use crate::report::{Checked, Response};
use queue_scaler_core::{DescribedAlarm, Direction, Policy, Route, Routes, Target};
use std::sync::Arc;

/// The shared fixture's scaler (target ml/model-worker, min 2, max 8, 100 per replica, queue
/// `model-jobs`), reading `queues` live.
fn live(
    direction: Direction,
    replicas: i32,
    queues: FakeQueues,
) -> (
    crate::scaler::Scaler<FakeCluster, FakeAlarms, Arc<FakeQueues>>,
    Arc<FakeQueues>,
    FakeCluster,
) {
    let queues = Arc::new(queues);
    let cluster = FakeCluster::at(replicas);
    let s = scaler(direction, cluster.clone(), None, false).with_queues(Some(Arc::clone(&queues)));
    (s, queues, cluster)
}

#[tokio::test]
async fn a_live_backlog_overrides_the_alarms_stale_datapoint() {
    // The alarm says 640 (two minutes ago); the queue holds 150 now: 2 replicas are enough.
    let (s, queues, _) = live(
        Direction::Up,
        2,
        FakeQueues::with(&[("model-jobs", 120, 30, 9)]),
    );
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert_eq!(queues.reads(), ["model-jobs"]);
    assert_eq!((out.from, out.to, out.applied), (Some(2), Some(2), false));
    assert_eq!(out.source, Some("live"));
    assert_eq!(out.backlog, Some(150.0));
    assert_eq!(
        (out.visible, out.in_flight, out.delayed),
        (Some(120), Some(30), Some(9))
    );
    assert_eq!(out.datapoint, Some(640.0));
    assert!(out.reason.contains("live backlog 150"), "{}", out.reason);
}

#[tokio::test]
async fn a_live_backlog_above_the_datapoint_scales_to_what_the_queue_needs() {
    let (s, _, cluster) = live(
        Direction::Up,
        2,
        FakeQueues::with(&[("model-jobs", 550, 40, 0)]),
    );
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(2), Some(6), true));
    assert_eq!(cluster.replicas(), 6);
}

#[tokio::test]
async fn an_age_alarm_scales_by_the_count_read_from_the_queue() {
    // 900 seconds are never read as 900 messages: the queue's 350 need 4 replicas.
    let (s, _, _) = live(
        Direction::Up,
        2,
        FakeQueues::with(&[("model-jobs", 350, 0, 0)]),
    );
    let out = invoke_file(&s, "alarm-age-of-oldest-message.json")
        .await
        .unwrap();
    assert_eq!(
        (out.from, out.to, out.source),
        (Some(2), Some(4), Some("live"))
    );
}

#[tokio::test]
async fn an_age_alarm_whose_queue_cannot_be_read_steps_once() {
    let (s, _, _) = live(
        Direction::Up,
        2,
        FakeQueues::default().failing("model-jobs", 403),
    );
    let out = invoke_file(&s, "alarm-age-of-oldest-message.json")
        .await
        .unwrap();
    // Not 900 / 100 = 9: seconds are no count; the alarm only says "more".
    assert_eq!(
        (out.from, out.to, out.source),
        (Some(2), Some(3), Some("alarm"))
    );
}

#[tokio::test]
async fn the_alarms_datapoint_stands_in_when_sqs_fails_and_the_result_says_so() {
    let (s, queues, _) = live(
        Direction::Up,
        2,
        FakeQueues::default().failing("model-jobs", 503),
    );
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    // 503 is retried within the live read's budget, then the datapoint (640) decides.
    assert!(queues.reads().len() > 1, "{:?}", queues.reads());
    assert_eq!((out.from, out.to, out.applied), (Some(2), Some(7), true));
    assert_eq!(out.source, Some("alarm"));
    assert_eq!(out.visible, None);
    assert!(
        out.reason.contains("reading queue model-jobs failed") && out.reason.contains("503"),
        "{}",
        out.reason
    );
}

#[tokio::test]
async fn no_scale_down_while_a_live_burst_arrives() {
    // The low alarm fired on a minute-old 3; 640 messages arrived since.
    let (s, _, cluster) = live(
        Direction::Down,
        7,
        FakeQueues::with(&[("model-jobs", 640, 0, 0)]),
    );
    let out = invoke_file(&s, "alarm-low-backlog.json").await.unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(7), Some(7), false));
    assert_eq!(cluster.replicas(), 7);
}

#[tokio::test]
async fn in_flight_work_keeps_the_replicas_that_hold_it() {
    // Nothing visible, but 500 long jobs in flight: 5 replicas are busy.
    let (s, _, _) = live(
        Direction::Down,
        5,
        FakeQueues::with(&[("model-jobs", 0, 500, 0)]),
    );
    let out = invoke_file(&s, "alarm-low-backlog.json").await.unwrap();
    assert_eq!((out.from, out.to), (Some(5), Some(5)));
    assert_eq!((out.visible, out.in_flight), (Some(0), Some(500)));
}

#[tokio::test]
async fn delayed_messages_are_reported_and_not_counted() {
    let (s, _, _) = live(
        Direction::Down,
        5,
        FakeQueues::with(&[("model-jobs", 0, 0, 900)]),
    );
    let out = invoke_file(&s, "alarm-low-backlog.json").await.unwrap();
    assert_eq!(
        (out.from, out.to, out.delayed),
        (Some(5), Some(4), Some(900))
    );
    assert_eq!(out.backlog, Some(0.0));
}

fn two_queue_target(min: i32) -> Routes {
    Routes::Single(Route {
        alarms: vec![
            "model-worker-backlog-high".into(),
            "model-worker-backlog-low".into(),
        ],
        queues: vec!["text-jobs".into(), "text-jobs-priority".into()],
        wake_alarms: vec![],
        target: Target {
            policy: Policy {
                min,
                ..target().policy
            },
            ..target()
        },
    })
}

#[tokio::test]
async fn two_queues_add_up_for_one_target() {
    let queues = Arc::new(FakeQueues::with(&[
        ("text-jobs", 250, 50, 0),
        ("text-jobs-priority", 90, 10, 1),
    ]));
    let s = crate::scaler::Scaler::new(
        Direction::Up,
        two_queue_target(2),
        false,
        FakeCluster::at(2),
        None::<FakeAlarms>,
    )
    .with_queues(Some(Arc::clone(&queues)));
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    let mut reads = queues.reads();
    reads.sort();
    assert_eq!(reads, ["text-jobs", "text-jobs-priority"]);
    assert_eq!(out.backlog, Some(400.0));
    assert_eq!(
        (out.visible, out.in_flight, out.delayed),
        (Some(340), Some(60), Some(1))
    );
    assert_eq!(out.to, Some(4));
}

#[tokio::test]
async fn one_failed_queue_of_two_is_no_live_backlog() {
    // Half a sum would understate the backlog: the alarm's datapoint stands in.
    let queues = FakeQueues::with(&[("text-jobs", 10, 0, 0)]).failing("text-jobs-priority", 403);
    let s = crate::scaler::Scaler::new(
        Direction::Down,
        two_queue_target(1),
        false,
        FakeCluster::at(4),
        None::<FakeAlarms>,
    )
    .with_queues(Some(queues));
    let out = invoke_file(&s, "alarm-low-backlog.json").await.unwrap();
    assert_eq!(out.source, Some("alarm"));
    assert!(out.reason.contains("text-jobs-priority"), "{}", out.reason);
}

/// Scale-up's heartbeat over one target with the queue `model-jobs`, min 0, reading `queues`,
/// with `described` as the alarms.
async fn up_heartbeat(
    replicas: i32,
    queues: FakeQueues,
    described: Vec<DescribedAlarm>,
    mpr: Option<i32>,
) -> (FakeCluster, Response) {
    let routes = Routes::Single(Route {
        alarms: described.iter().map(|a| a.name.clone()).collect(),
        queues: vec!["model-jobs".into()],
        wake_alarms: vec![],
        target: Target {
            policy: Policy {
                min: 0,
                max: 8,
                step: 1,
                messages_per_replica: mpr,
            },
            ..target()
        },
    });
    let cluster = FakeCluster::at(replicas);
    let s = crate::scaler::Scaler::new(
        Direction::Up,
        routes,
        false,
        cluster.clone(),
        Some(FakeAlarms {
            described,
            ..Default::default()
        }),
    )
    .with_queues(Some(queues));
    let response = invoke_heartbeat(&s).await.unwrap();
    (cluster, response)
}

#[tokio::test]
async fn the_heartbeat_wakes_a_target_at_zero_from_its_live_backlog() {
    // No alarm in ALARM (CloudWatch has not seen the queue wake yet): the queue has 3 messages.
    let (cluster, response) = up_heartbeat(
        0,
        FakeQueues::with(&[("model-jobs", 3, 0, 0)]),
        vec![],
        None,
    )
    .await;
    assert_eq!(cluster.replicas(), 1);
    let Response::Heartbeat(hb) = response else {
        panic!("not a heartbeat: {response:?}")
    };
    assert_eq!(hb.targets.len(), 1);
    let t = &hb.targets[0];
    assert_eq!(
        (t.from, t.to, t.applied, t.source),
        (Some(0), Some(1), true, "live")
    );
}

#[tokio::test]
async fn the_heartbeat_raises_a_target_below_what_its_backlog_needs_and_never_lowers() {
    let (cluster, _) = up_heartbeat(
        2,
        FakeQueues::with(&[("model-jobs", 500, 100, 0)]),
        vec![],
        Some(100),
    )
    .await;
    assert_eq!(cluster.replicas(), 6);
    let (cluster, _) = up_heartbeat(
        6,
        FakeQueues::with(&[("model-jobs", 0, 0, 0)]),
        vec![],
        Some(100),
    )
    .await;
    assert_eq!(cluster.replicas(), 6);
}

#[tokio::test]
async fn the_heartbeat_scales_nothing_when_the_queue_cannot_be_read() {
    let (cluster, response) = up_heartbeat(
        0,
        FakeQueues::default().failing("model-jobs", 403),
        vec![],
        Some(100),
    )
    .await;
    assert_eq!(cluster.replicas(), 0);
    let Response::Heartbeat(hb) = response else {
        panic!("not a heartbeat: {response:?}")
    };
    assert_eq!(
        (hb.targets[0].source, hb.targets[0].applied),
        ("alarm", false)
    );
    assert!(
        hb.targets[0].reason.contains("only from a live read"),
        "{}",
        hb.targets[0].reason
    );
}

#[tokio::test]
async fn the_heartbeat_leaves_an_alarm_that_just_fired_to_its_own_invocation() {
    let now = chrono::Utc::now();
    let just_now = DescribedAlarm {
        state_updated: Some((now - chrono::Duration::seconds(10)).to_rfc3339()),
        ..heartbeat_alarm("qs-high")
    };
    let (cluster, response) = up_heartbeat(
        2,
        FakeQueues::with(&[("model-jobs", 150, 0, 0)]),
        vec![just_now],
        None,
    )
    .await;
    let Response::Heartbeat(hb) = response else {
        panic!("not a heartbeat: {response:?}")
    };
    assert_eq!(hb.alarms[0].checked, Checked::Grace);
    // Step mode at 2 replicas: only the alarm steps, and it is in its grace period.
    assert_eq!(cluster.replicas(), 2);

    let long_ago = DescribedAlarm {
        state_updated: Some((now - chrono::Duration::seconds(90)).to_rfc3339()),
        ..heartbeat_alarm("qs-high")
    };
    let (cluster, response) = up_heartbeat(
        2,
        FakeQueues::with(&[("model-jobs", 150, 0, 0)]),
        vec![long_ago],
        None,
    )
    .await;
    let Response::Heartbeat(hb) = response else {
        panic!("not a heartbeat: {response:?}")
    };
    assert_eq!(hb.alarms[0].checked, Checked::Acted);
    assert_eq!(cluster.replicas(), 3);
    // The target an alarm acted on is not reconciled a second time in the same heartbeat.
    assert!(hb.targets.is_empty(), "{:?}", hb.targets);
}

/// A high alarm in ALARM whose action is scale-up, threshold 100 on the visible count.
fn heartbeat_alarm(name: &str) -> DescribedAlarm {
    DescribedAlarm {
        name: name.into(),
        state: "ALARM".into(),
        state_reason_data: Some(
            r#"{"version":"1.0","recentDatapoints":[640.0],"threshold":100.0}"#.into(),
        ),
        actions: vec![UP_ARN.into()],
        queues: vec!["model-jobs".into()],
        threshold: Some(100.0),
        metrics: vec!["ApproximateNumberOfMessagesVisible".into()],
        ..DescribedAlarm::default()
    }
}

#[tokio::test(start_paused = true)]
async fn the_deployments_read_does_not_wait_for_the_queues() {
    // SQS answers after 3 s; the cluster is read at once, beside it.
    let cluster = FakeCluster::at(2);
    let queues = FakeQueues::with(&[("model-jobs", 600, 50, 0)]);
    *queues.latency.lock().unwrap() = std::time::Duration::from_secs(3);
    let s = scaler(Direction::Up, cluster.clone(), None, false)
        .with_queues(Some(std::sync::Arc::new(queues)));
    let start = tokio::time::Instant::now();
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert_eq!(
        (out.from, out.to, out.applied),
        (Some(2), Some(7), true),
        "{out:?}"
    );
    let first_read = cluster.state.lock().unwrap().read_at[0];
    assert!(
        first_read - start < std::time::Duration::from_secs(1),
        "the Deployment was read {:?} after the start, after the queues",
        first_read - start
    );
}
