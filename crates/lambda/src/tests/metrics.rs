//! The metric names the log lines carry (CloudWatch EMF) are exactly [`EMF_METRICS`], and the
//! dashboard in `infra/aws/template.yaml` shows exactly those: a metric renamed on one side
//! only would leave a graph empty.

use super::fakes::*;
use crate::log_lines::{failure_line, outcome_line, FailedAt, EMF_METRICS};
use queue_scaler_core::Direction;
use queue_scaler_io::ErrorClass;
use serde_json::Value;
use std::collections::BTreeSet;

/// The metric names one log line declares, each checked to be in its namespace and carried as a
/// field of the line.
fn declared(line: &Value) -> Vec<String> {
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "QueueScaler", "{line}");
    assert_eq!(
        directive["Dimensions"],
        serde_json::json!([["Target", "Direction"]])
    );
    directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let name = m["Name"].as_str().unwrap().to_owned();
            assert!(!line[&name].is_null(), "{name} has no value in {line}");
            name
        })
        .collect()
}

/// Every metric the functions emit: an invocation that scaled but whose re-arm failed, a raise
/// refused as capacity-limited, and a failure of each class.
fn emitted() -> BTreeSet<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let alarms = FakeAlarms {
        fail: true,
        ..FakeAlarms::default()
    };
    let s = scaler(Direction::Up, FakeCluster::at(2), Some(alarms), false);
    let outcome = rt
        .block_on(invoke_file(&s, "alarm-high-backlog.json"))
        .unwrap();
    assert!(outcome.applied, "{outcome:?}");
    let mut names: BTreeSet<String> = declared(&outcome_line(&outcome, "r")).into_iter().collect();
    // A raise refused as capacity-limited: 2 of 4 ready, an hour after the write.
    let limited = FakeCluster::at(4).with_facts(queue_scaler_io::kube::DeploymentFacts {
        ready_replicas: 2,
        last_scale_write: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
        ..Default::default()
    });
    let s = scaler(Direction::Up, limited, None, false);
    let outcome = rt
        .block_on(invoke_file(&s, "alarm-high-backlog.json"))
        .unwrap();
    assert!(outcome.capacity.is_some(), "{outcome:?}");
    names.extend(declared(&outcome_line(&outcome, "r")));
    for class in [
        ErrorClass::Retryable,
        ErrorClass::NonRetryable,
        ErrorClass::Config,
    ] {
        for target in [None, Some("ml/model-worker")] {
            let at = FailedAt {
                alarm: None,
                target,
            };
            let line = failure_line(Direction::Down, at, class, "m", "r");
            assert_eq!(line["Target"], target.unwrap_or("-"), "{line}");
            names.extend(declared(&line));
        }
    }
    names
}

/// The `QueueScaler` metrics the dashboard shows, as (name, target, direction).
fn dashboard() -> BTreeSet<(String, String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/aws/template.yaml");
    let template = std::fs::read_to_string(path).unwrap();
    let mut shown = BTreeSet::new();
    for line in template.lines() {
        let Some(start) = line.find(r#"["QueueScaler", "#) else {
            continue;
        };
        // A metric of a widget: ["QueueScaler", NAME, "Target", T, "Direction", D, {...}].
        let fields: Vec<&str> = line[start..]
            .split('"')
            .skip(1)
            .step_by(2)
            .take(6)
            .collect();
        assert_eq!(
            (fields[2], fields[4]),
            ("Target", "Direction"),
            "a QueueScaler metric of the dashboard with other dimensions: {line}"
        );
        shown.insert((
            fields[1].to_owned(),
            fields[3].to_owned(),
            fields[5].to_owned(),
        ));
    }
    shown
}

#[test]
fn the_log_lines_carry_exactly_the_listed_metrics() {
    let listed: BTreeSet<String> = EMF_METRICS.iter().map(|m| m.to_string()).collect();
    assert_eq!(emitted(), listed);
}

#[test]
fn the_dashboard_shows_exactly_the_metrics_the_functions_emit() {
    let shown = dashboard();
    let names: BTreeSet<&str> = shown.iter().map(|(name, _, _)| name.as_str()).collect();
    let listed: BTreeSet<&str> = EMF_METRICS.into_iter().collect();
    assert_eq!(
        names, listed,
        "the dashboard's QueueScaler metrics and the functions' differ"
    );
    let target = "${TargetNamespace}/${TargetDeployment}";
    for name in EMF_METRICS {
        for direction in ["up", "down"] {
            let at = |target: &str| (name.to_owned(), target.to_owned(), direction.to_owned());
            assert!(
                shown.contains(&at(target)),
                "the dashboard does not show {name} of the target, direction {direction}"
            );
            // An error before the target is known is counted under Target "-".
            if name.starts_with("Errors") {
                assert!(
                    shown.contains(&at("-")),
                    "the dashboard does not show {name} of Target -, direction {direction}"
                );
            }
        }
    }
}
