//! Zero replicas, against the same fakes: a wake alarm brings a target up from zero, and
//! scale-down reaches zero only when no message waits.

use super::fakes::*;
use crate::report::Rearm;
use crate::scaler::Scaler;
use queue_scaler_core::{Direction, Policy, Target};

fn zero_target() -> Target {
    Target {
        policy: Policy {
            min: 0,
            max: 4,
            step: 1,
            messages_per_replica: None,
        },
        ..target()
    }
}

#[tokio::test]
async fn a_wake_alarm_brings_a_target_up_from_zero_and_leaves_a_running_one_alone() {
    let mut ev = event("alarm-high-backlog.json");
    ev["alarmData"]["alarmName"] = "qs-wake".into();
    let routes = || single(zero_target(), &["qs-high"], &["qs-wake"]);
    let cluster = FakeCluster::at(0);
    let s = up_scaler(routes(), cluster.clone(), FakeAlarms::default());
    let out = invoke_at(&s, &ev, soon()).await.unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(0), Some(1), true));
    assert_eq!(out.rearm, Rearm::Done);
    let cluster = FakeCluster::at(2);
    let s = up_scaler(routes(), cluster.clone(), FakeAlarms::default());
    let out = invoke_at(&s, &ev, soon()).await.unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(2), Some(2), false));
    assert_eq!(cluster.calls(), ["get ml/model-worker"]);
    // Left in ALARM: re-armed, it would fire every period while any message waits.
    assert_eq!(out.rearm, Rearm::NotNeeded);
}

#[tokio::test]
async fn scale_down_keeps_one_replica_while_messages_wait_and_reaches_zero_at_none() {
    let mut ev = event("alarm-low-backlog.json");
    let s = Scaler::new(
        Direction::Down,
        single(zero_target(), &[], &[]),
        false,
        FakeCluster::at(1),
        None::<FakeAlarms>,
    );
    // The sample's datapoint is a few messages: keep one.
    let out = invoke_at(&s, &ev, soon()).await.unwrap();
    assert_eq!(
        (out.from, out.to, out.applied),
        (Some(1), Some(1), false),
        "{}",
        out.reason
    );
    ev["alarmData"]["state"]["reasonData"] =
        r#"{"version":"1.0","queryDate":"2026-11-28T13:20:00.000+0000","startDate":"2026-11-28T13:15:00.000+0000","statistic":"Maximum","period":60,"recentDatapoints":[0.0],"threshold":10.0,"evaluatedDatapoints":[{"timestamp":"2026-11-28T13:19:00.000+0000","sampleCount":1.0,"value":0.0}]}"#.into();
    let out = invoke_at(&s, &ev, soon()).await.unwrap();
    assert_eq!(
        (out.from, out.to, out.applied),
        (Some(1), Some(0), true),
        "{}",
        out.reason
    );
}
