//! Every sample in `events/` parses into the signal it describes. The same files drive
//! `cargo lambda invoke --data-file` and the end-to-end tests.

use queue_scaler_core::alarm::{
    parse_event_bytes, parse_invocation, AlarmState, EventShape, Invocation,
};

fn load(name: &str) -> queue_scaler_core::AlarmSignal {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse_event_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn high_backlog_alarm_action_carries_the_newest_datapoint_and_queue() {
    let s = load("alarm-high-backlog.json");
    assert_eq!(s.alarm, "model-worker-backlog-high");
    assert_eq!(s.state, AlarmState::Alarm);
    assert_eq!(s.datapoint, Some(640.0));
    assert_eq!(s.queue.as_deref(), Some("model-jobs"));
    assert_eq!(s.shape, EventShape::AlarmAction);
    assert_eq!(
        s.time.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-11-28T13:05:10.514+00:00")
    );
}

#[test]
fn low_backlog_alarm_action_carries_its_datapoint() {
    let s = load("alarm-low-backlog.json");
    assert_eq!(
        (s.alarm.as_str(), s.state, s.datapoint),
        ("model-worker-backlog-low", AlarmState::Alarm, Some(3.0))
    );
}

#[test]
fn metric_math_alarm_names_the_queue_shared_by_its_metrics() {
    let s = load("alarm-low-backlog-metric-math.json");
    assert_eq!(s.datapoint, Some(4.0));
    assert_eq!(s.queue.as_deref(), Some("model-jobs"));
}

#[test]
fn ok_transition_is_read_as_ok() {
    let s = load("alarm-ok.json");
    assert_eq!(s.state, AlarmState::Ok);
    assert_eq!(s.datapoint, Some(12.0));
}

#[test]
fn alarm_set_by_set_alarm_state_has_no_datapoint() {
    let s = load("alarm-set-by-set-alarm-state.json");
    assert_eq!((s.state, s.datapoint), (AlarmState::Alarm, None));
}

#[test]
fn sns_wrapped_alarm_reads_the_datapoint_from_the_reason() {
    let s = load("sns-alarm-high-backlog.json");
    assert_eq!(s.shape, EventShape::Sns);
    assert_eq!(
        (s.alarm.as_str(), s.state, s.datapoint),
        ("model-worker-backlog-high", AlarmState::Alarm, Some(640.0))
    );
    assert_eq!(s.queue.as_deref(), Some("model-jobs"));
    assert!(s.time.is_some());
}

#[test]
fn eventbridge_alarm_state_change_is_read() {
    let s = load("eventbridge-alarm-high-backlog.json");
    assert_eq!(s.shape, EventShape::EventBridge);
    assert_eq!(
        (s.alarm.as_str(), s.state, s.datapoint),
        ("model-worker-backlog-high", AlarmState::Alarm, Some(640.0))
    );
    assert_eq!(s.queue.as_deref(), Some("model-jobs"));
}

/// A file of `events/` as JSON, whatever it is.
fn json(name: &str) -> serde_json::Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_heartbeat_sample_is_a_scheduled_event_and_no_alarm() {
    assert!(matches!(
        parse_invocation(&json("heartbeat.json")),
        Ok(Invocation::Heartbeat { time: Some(_) })
    ));
    // As an alarm it is refused, naming what it is.
    let err = std::panic::catch_unwind(|| load("heartbeat.json")).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("Scheduled Event"), "{msg}");
}

#[test]
fn the_doctor_sample_asks_for_the_doctor_and_is_no_alarm() {
    assert!(matches!(
        parse_invocation(&json("doctor.json")),
        Ok(Invocation::Doctor)
    ));
    assert!(std::panic::catch_unwind(|| load("doctor.json")).is_err());
}

#[test]
fn every_event_file_is_covered_by_a_test_here() {
    let dir = format!("{}/../../events", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let this = include_str!("events.rs");
    for n in names.iter().filter(|n| n.ends_with(".json")) {
        assert!(
            this.contains(&format!("load(\"{n}\")")),
            "events/{n} has no test"
        );
    }
}

#[test]
fn every_alarm_shape_carries_its_threshold_and_metric_names() {
    for (name, threshold) in [
        ("alarm-high-backlog.json", 100.0),
        ("sns-alarm-high-backlog.json", 100.0),
        ("eventbridge-alarm-high-backlog.json", 100.0),
    ] {
        let s = load(name);
        assert_eq!(s.threshold, Some(threshold), "{name}");
        assert_eq!(s.metrics, ["ApproximateNumberOfMessagesVisible"], "{name}");
        assert!(s.counts_messages(), "{name}");
        assert_eq!(s.message_threshold(), Some(threshold), "{name}");
    }
    let math = load("alarm-low-backlog-metric-math.json");
    assert!(math.metrics.len() >= 2, "{:?}", math.metrics);
    assert!(math.counts_messages(), "{:?}", math.metrics);
}

#[test]
fn an_age_alarm_is_a_trigger_whose_seconds_are_never_read_as_messages() {
    let s = load("alarm-age-of-oldest-message.json");
    assert_eq!(s.metrics, ["ApproximateAgeOfOldestMessage"]);
    assert_eq!((s.datapoint, s.threshold), (Some(900.0), Some(300.0)));
    assert!(!s.counts_messages());
    assert_eq!((s.message_datapoint(), s.message_threshold()), (None, None));
}
