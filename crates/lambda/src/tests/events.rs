//! The Event that records each write on its Deployment, against the fakes: one follows every
//! write (an alarm's, a lost write's, the heartbeat's), none follows no write, `DRY_RUN` or
//! `KUBE_EVENTS=false`, and a refused Event leaves the scale applied and the result successful.

use super::fakes::*;
use crate::report::{EventRecord, Rearm, Response};
use queue_scaler_core::{Direction, Policy, Route, Routes, Target};
use std::sync::Arc;

#[tokio::test]
async fn an_alarms_write_is_followed_by_a_scaled_up_event_naming_the_alarm_and_the_backlog() {
    let cluster = FakeCluster::at(2);
    let queues = FakeQueues::with(&[("model-jobs", 600, 50, 0)]);
    let s = rearming_scaler(Direction::Up, &cluster).with_queues(Some(Arc::new(queues)));
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(2), Some(7), true));
    assert_eq!(cluster.events(), ["ScaledUp 2 -> 7"]);
    let note = &cluster.notes()[0];
    for part in [
        "alarm model-worker-backlog-high",
        "live backlog 650",
        "2 -> 7",
    ] {
        assert!(note.contains(part), "{part:?} not in {note:?}");
    }
    let event = cluster.state.lock().unwrap().events[0].clone();
    assert_eq!(
        event.uid.as_deref(),
        Some(UID),
        "regarding the Deployment read"
    );
    assert_eq!(event.instance, "scale-up");
    assert_eq!(out.event, Some(EventRecord::Recorded));
    assert_eq!(serde_json::to_value(&out).unwrap()["event"], "recorded");
    assert_eq!(out.rearm, Rearm::Done);
}

#[tokio::test]
async fn a_scale_down_is_a_scaled_down_event_and_says_the_backlog_came_from_the_alarm() {
    // No queue reader: the alarm's datapoint stands in, and the note says so.
    let cluster = FakeCluster::at(5);
    let s = scaler(Direction::Down, cluster.clone(), None, false);
    let out = invoke_file(&s, "alarm-low-backlog.json").await.unwrap();
    assert_eq!((out.from, out.to), (Some(5), Some(4)));
    assert_eq!(cluster.events(), ["ScaledDown 5 -> 4"]);
    let note = &cluster.notes()[0];
    assert!(note.contains("alarm datapoint"), "{note}");
}

#[tokio::test]
async fn no_write_no_event() {
    // Already at the maximum: nothing to write.
    let cluster = FakeCluster::at(8);
    let s = scaler(Direction::Up, cluster.clone(), None, false);
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert!(!out.applied);
    assert!(cluster.events().is_empty());
    assert_eq!(out.event, None);
    assert!(serde_json::to_value(&out).unwrap().get("event").is_none());
    // Not in ALARM: nothing read, nothing written.
    let out = invoke_file(&s, "alarm-ok.json").await.unwrap();
    assert_eq!(out.event, None);
    assert!(cluster.events().is_empty());
}

#[tokio::test]
async fn dry_run_records_no_event() {
    let cluster = FakeCluster::at(2);
    let s = scaler(Direction::Up, cluster.clone(), None, true);
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert_eq!((out.to, out.applied), (Some(7), false));
    assert!(cluster.events().is_empty());
    assert_eq!(out.event, None);
}

#[tokio::test]
async fn kube_events_false_writes_the_scale_and_records_no_event() {
    let cluster = FakeCluster::at(2);
    let s = scaler(Direction::Up, cluster.clone(), None, false).with_events(None);
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert_eq!((out.to, out.applied), (Some(7), true));
    assert_eq!(cluster.replicas(), 7);
    assert!(cluster.events().is_empty());
    assert_eq!(out.event, Some(EventRecord::Off));
    assert_eq!(serde_json::to_value(&out).unwrap()["event"], "off");
}

#[tokio::test]
async fn a_refused_event_leaves_the_scale_applied_the_result_successful_and_writes_once() {
    let cluster = FakeCluster::at(2).refusing_events(403);
    let s = rearming_scaler(Direction::Up, &cluster);
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(2), Some(7), true));
    assert_eq!(cluster.replicas(), 7);
    assert_eq!(
        cluster.calls(),
        ["get ml/model-worker", "put ml/model-worker 7"],
        "the write is not repeated for the Event"
    );
    let Some(EventRecord::Failed(why)) = &out.event else {
        panic!("a failed Event expected: {:?}", out.event)
    };
    for part in [
        "403",
        "events.k8s.io",
        "infra/gke/rbac.yaml",
        "KUBE_EVENTS=false",
    ] {
        assert!(why.contains(part), "{part:?} not in {why:?}");
    }
    let json = serde_json::to_value(&out).unwrap();
    assert!(
        json["event"].as_str().unwrap().starts_with("failed: "),
        "{json}"
    );
    assert_eq!(out.rearm, Rearm::Done, "the alarm is re-armed all the same");
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_recorded_once_it_is_seen_applied() {
    let cluster = FakeCluster::at(2);
    cluster.state.lock().unwrap().lost_answers = 1;
    let s = scaler(Direction::Up, cluster.clone(), None, false);
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert!(out.applied);
    assert_eq!(cluster.events(), ["ScaledUp 2 -> 7"]);
    assert_eq!(out.event, Some(EventRecord::Recorded));
}

#[tokio::test]
async fn the_heartbeats_write_is_recorded_naming_the_heartbeat() {
    let routes = Routes::Single(Route {
        alarms: vec![],
        queues: vec!["model-jobs".into()],
        wake_alarms: vec![],
        target: Target {
            policy: Policy {
                min: 0,
                ..target().policy
            },
            ..target()
        },
    });
    let cluster = FakeCluster::at(0);
    let s = up_scaler(routes, cluster.clone(), FakeAlarms::default())
        .with_queues(Some(FakeQueues::with(&[("model-jobs", 3, 0, 0)])))
        .with_events(Some("qs-scale-up".into()));
    let response = invoke_heartbeat(&s).await.unwrap();
    let Response::Heartbeat(hb) = response else {
        panic!("not a heartbeat: {response:?}")
    };
    assert_eq!(hb.targets[0].event, Some(EventRecord::Recorded));
    assert_eq!(cluster.events(), ["ScaledUp 0 -> 1"]);
    let note = &cluster.notes()[0];
    assert!(
        note.starts_with("the heartbeat: live backlog 3; 0 -> 1"),
        "{note}"
    );
    assert_eq!(
        cluster.state.lock().unwrap().events[0].instance,
        "qs-scale-up"
    );
}
