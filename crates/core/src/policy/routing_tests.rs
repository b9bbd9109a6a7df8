//! Routing: an alarm to its target.

use super::*;
use crate::alarm::{AlarmSignal, AlarmState, EventShape};
use crate::error::ErrorClass;

fn target(name: &str) -> Target {
    Target {
        namespace: "ml".into(),
        deployment: name.into(),
        policy: Policy {
            min: 1,
            max: 4,
            step: 1,
            messages_per_replica: None,
        },
    }
}

fn signal(alarm: &str, queue: Option<&str>) -> AlarmSignal {
    AlarmSignal {
        alarm: alarm.into(),
        state: AlarmState::Alarm,
        datapoint: None,
        threshold: None,
        metrics: Vec::new(),
        queue: queue.map(Into::into),
        account: None,
        region: None,
        time: None,
        shape: EventShape::AlarmAction,
    }
}

fn table() -> Routes {
    Routes::Table(vec![
        Route {
            alarms: vec!["a-high".into()],
            queues: vec!["a-jobs".into()],
            wake_alarms: vec!["a-wake".into()],
            target: target("model-a"),
        },
        Route {
            alarms: vec![],
            queues: vec!["https://sqs.eu-west-1.amazonaws.com/123456789012/b-jobs".into()],
            wake_alarms: vec![],
            target: target("model-b"),
        },
    ])
}

#[test]
fn alarm_name_selects_its_target() {
    assert_eq!(
        table()
            .resolve(&signal("a-high", Some("b-jobs")))
            .unwrap()
            .deployment,
        "model-a"
    );
}

#[test]
fn queue_name_selects_a_target_when_the_alarm_is_not_listed() {
    assert_eq!(
        table()
            .resolve(&signal("b-high", Some("b-jobs")))
            .unwrap()
            .deployment,
        "model-b"
    );
}

#[test]
fn a_route_reads_its_own_queues_or_else_the_alarms() {
    let routes = table();
    let b = signal("b-high", Some("b-jobs"));
    assert_eq!(
        routes.resolve_route(&b).unwrap().live_queues(Some(&b)),
        ["https://sqs.eu-west-1.amazonaws.com/123456789012/b-jobs"]
    );
    let bare = Route {
        alarms: vec!["x".into()],
        queues: vec![],
        wake_alarms: vec![],
        target: target("x"),
    };
    let x = signal("x", Some("x-jobs"));
    assert_eq!(bare.live_queues(Some(&x)), ["x-jobs"]);
    assert!(bare.live_queues(None).is_empty());
}

#[test]
fn unrouted_alarm_is_named_in_the_error() {
    let err = table()
        .resolve(&signal("c-high", Some("c-jobs")))
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("\"c-high\"") && msg.contains("\"c-jobs\"") && msg.contains("SCALER_TARGETS"),
        "{msg}"
    );
    assert_eq!(err.class(), ErrorClass::NonRetryable);
}

#[test]
fn single_target_without_alarm_lists_takes_every_alarm() {
    let routes = Routes::Single(Route {
        alarms: vec![],
        queues: vec![],
        wake_alarms: vec![],
        target: target("only"),
    });
    assert_eq!(
        routes
            .resolve(&signal("anything", None))
            .unwrap()
            .to_string(),
        "ml/only"
    );
}

#[test]
fn single_target_with_an_alarm_list_refuses_an_alarm_outside_it() {
    let routes = Routes::Single(Route {
        alarms: vec!["only-high".into()],
        queues: vec![],
        wake_alarms: vec!["only-wake".into()],
        target: target("only"),
    });
    assert_eq!(
        routes
            .resolve(&signal("only-high", None))
            .unwrap()
            .to_string(),
        "ml/only"
    );
    assert_eq!(
        routes
            .resolve(&signal("only-wake", None))
            .unwrap()
            .to_string(),
        "ml/only"
    );
    let err = routes.resolve(&signal("anything", None)).unwrap_err();
    assert!(matches!(err, RouteError::NotListed { .. }), "{err}");
    assert!(
        err.to_string().contains("\"anything\"") && err.to_string().contains("TARGET_ALARMS"),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::NonRetryable);
    assert_eq!(routes.alarm_names(), ["only-high", "only-wake"]);
}

#[test]
fn a_queue_never_leads_an_unlisted_alarm_to_an_entry_with_alarms_of_its_own() {
    // a-jobs is model-a's queue, but model-a lists its alarms: the list is closed.
    let err = table()
        .resolve(&signal("a-other", Some("a-jobs")))
        .unwrap_err();
    assert!(matches!(err, RouteError::NoRoute { .. }), "{err}");
}

#[test]
fn a_wake_alarm_routes_to_its_target_and_is_known_as_wake() {
    let routes = table();
    assert_eq!(
        routes.resolve(&signal("a-wake", None)).unwrap().deployment,
        "model-a"
    );
    assert!(routes.is_wake("a-wake"));
    assert!(!routes.is_wake("a-high"));
    assert_eq!(routes.alarm_names(), ["a-high", "a-wake"]);
}
