//! The heartbeat, against the same fakes: it re-evaluates every alarm it names that is in ALARM,
//! so a lost invocation or a failed re-arm never leaves the loop stuck.

use super::fakes::*;
use crate::report::{Checked, Rearm, Response};
use crate::scaler::Scaler;
use queue_scaler_core::{DescribedAlarm, Direction};
use queue_scaler_io::ErrorClass;

const DOWN_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:qs-scale-down";

/// An alarm as `DescribeAlarms` answers it, on the queue `model-jobs`, changed long ago.
pub(crate) fn described(
    name: &str,
    state: &str,
    backlog: Option<f64>,
    action: &str,
) -> DescribedAlarm {
    DescribedAlarm {
        name: name.into(),
        state: state.into(),
        state_reason_data: backlog
            .map(|b| format!(r#"{{"version":"1.0","recentDatapoints":[{b:?}]}}"#)),
        state_updated: Some("2026-11-30T12:00:00.000Z".into()),
        actions: vec![action.into()],
        actions_enabled: true,
        queues: vec!["model-jobs".into()],
        threshold: Some(100.0),
        metrics: vec!["ApproximateNumberOfMessagesVisible".into()],
    }
}

#[tokio::test]
async fn the_heartbeat_acts_on_each_of_its_alarms_in_alarm_and_nothing_else() {
    let alarms = FakeAlarms {
        described: vec![
            described("qs-high", "ALARM", Some(640.0), &format!("{UP_ARN}:live")),
            described("qs-high-2", "OK", Some(10.0), UP_ARN),
            described("qs-high-3", "INSUFFICIENT_DATA", None, UP_ARN),
            described("qs-low", "ALARM", Some(0.0), DOWN_ARN),
            DescribedAlarm {
                actions_enabled: false,
                ..described("qs-paused", "ALARM", Some(900.0), UP_ARN)
            },
        ],
        ..Default::default()
    };
    let routes = single(
        target(),
        &[
            "qs-high",
            "qs-high-2",
            "qs-high-3",
            "qs-low",
            "qs-paused",
            "qs-gone",
        ],
        &[],
    );
    let cluster = FakeCluster::at(2);
    let s = Scaler::new(Direction::Up, routes, false, cluster.clone(), Some(alarms));
    let Response::Heartbeat(report) = invoke_heartbeat(&s).await.unwrap() else {
        panic!("not a heartbeat report");
    };
    let checked: Vec<(&str, Checked)> = report
        .alarms
        .iter()
        .map(|a| (a.alarm.as_str(), a.checked))
        .collect();
    assert_eq!(
        checked,
        [
            ("qs-high", Checked::Acted),
            ("qs-high-2", Checked::NotInAlarm),
            ("qs-high-3", Checked::NotInAlarm),
            ("qs-low", Checked::NotThisFunction),
            ("qs-paused", Checked::ActionsDisabled),
            ("qs-gone", Checked::Missing),
        ]
    );
    let acted = report.alarms[0].outcome.as_ref().unwrap();
    assert_eq!(
        (acted.from, acted.to, acted.applied),
        (Some(2), Some(7), true),
        "the datapoint of StateReasonData drives the decision"
    );
    assert_eq!(acted.rearm, Rearm::Done);
    assert_eq!(
        cluster.calls(),
        ["get ml/model-worker", "put ml/model-worker 7"]
    );
}

#[tokio::test]
async fn the_heartbeat_without_alarm_names_says_which_setting_to_add() {
    let cluster = FakeCluster::at(2);
    let s = scaler(
        Direction::Up,
        cluster.clone(),
        Some(FakeAlarms::default()),
        false,
    );
    let Response::Heartbeat(report) = invoke_heartbeat(&s).await.unwrap() else {
        panic!("not a heartbeat report");
    };
    assert!(
        report
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("TARGET_ALARMS"),
        "{report:?}"
    );
    assert!(cluster.calls().is_empty());
}

#[tokio::test]
async fn a_heartbeat_whose_action_fails_fails_and_still_rearms() {
    let cluster = FakeCluster::at(2);
    cluster.state.lock().unwrap().get_failures.push_back(403);
    let alarms = FakeAlarms {
        described: vec![described("qs-high", "ALARM", Some(640.0), UP_ARN)],
        ..Default::default()
    };
    let s = Scaler::new(
        Direction::Up,
        single(target(), &["qs-high"], &[]),
        false,
        cluster,
        Some(alarms),
    );
    let err = invoke_heartbeat(&s).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::NonRetryable);
    assert!(
        err.message()
            .starts_with("heartbeat: 1 of 1 alarm(s) failed"),
        "{err}"
    );
    assert!(err.message().contains("set back to OK"), "{err}");
}
