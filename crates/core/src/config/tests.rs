//! The configuration as a whole: its defaults, and problems in different settings listed together.

use super::test_support::{base, load, settings, with};
use crate::cluster::ClusterSource;
use crate::cluster::DEFAULT_GKE_API_URL;
use crate::policy::Policy;
use crate::policy::Routes;

#[test]
fn a_minimal_single_target_configuration_loads_with_defaults() {
    let c = load(&base()).unwrap();
    assert_eq!(c.heartbeat_grace, std::time::Duration::from_secs(60));
    assert!(!c.dry_run);
    assert!(!c.rearm_alarm);
    assert!(c.kube_events, "Events are recorded unless turned off");
    let Routes::Single(route) = &c.routes else {
        panic!("single target expected")
    };
    let t = &route.target;
    assert!(route.alarms.is_empty() && route.wake_alarms.is_empty());
    assert_eq!(
        t.policy,
        Policy {
            min: 2,
            max: 4,
            step: 1,
            messages_per_replica: None
        }
    );
    assert_eq!(
        c.cluster,
        ClusterSource::Discover {
            cluster: "projects/p/locations/europe-west4/clusters/gpu".into(),
            api_url: DEFAULT_GKE_API_URL.into()
        }
    );
}

#[test]
fn kube_events_false_turns_the_events_off_and_a_bad_value_is_named() {
    let mut settings_off = base();
    settings_off.push(("KUBE_EVENTS", "false"));
    assert!(!load(&settings_off).unwrap().kube_events);
    let mut bad = base();
    bad.push(("KUBE_EVENTS", "sometimes"));
    assert!(settings(&load(&bad).unwrap_err()).contains(&"KUBE_EVENTS"));
}

#[test]
fn problems_in_different_settings_are_all_listed() {
    let err = load(&[("DRY_RUN", "maybe"), ("MAX_REPLICAS", "lots")]).unwrap_err();
    let s = settings(&err);
    for want in [
        "GKE_CLUSTER",
        "GCP_CREDENTIAL_CONFIG",
        "TARGET_NAMESPACE",
        "TARGET_DEPLOYMENT",
        "MAX_REPLICAS",
        "DRY_RUN",
    ] {
        assert!(s.contains(&want), "{want} missing from {s:?}");
    }
    assert_eq!(err.class(), crate::error::ErrorClass::Config);
}

#[test]
fn the_functions_own_arn_is_a_lambda_function_arn() {
    let arn = "arn:aws:lambda:eu-west-1:123456789012:function:qs-{function}";
    let c = load(&with(base(), &[("QUEUE_SCALER_FUNCTION_ARN", arn)]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.function_arn.as_deref(), Some(arn));
    assert_eq!(load(&base()).map(|c| c.function_arn).ok(), Some(None));
    for bad in [
        "qs-scale-up",
        "arn:aws:iam::123456789012:role/x",
        "arn:aws:lambda:eu-west-1:1234:function:f",
    ] {
        let err = load(&with(base(), &[("QUEUE_SCALER_FUNCTION_ARN", bad)]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("QUEUE_SCALER_FUNCTION_ARN") && err.contains("not a Lambda function ARN"),
            "{bad}: {err}"
        );
    }
}
