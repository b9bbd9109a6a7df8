//! The log lines of an invocation, one JSON object each, in CloudWatch Embedded Metric Format:
//! the metrics are read from the lines, so they cost no API call. Built here as values, printed
//! once per invocation by `log`.

use crate::failure::Failure;
use crate::report::{Capacity, Checked, Heartbeat, Outcome, Rearm, Response, TargetCheck};
use queue_scaler_core::{Direction, ErrorClass};
use serde_json::{json, Value};

/// Metric names of a successful invocation, in the order of its values.
const METRICS: [&str; 5] = [
    "ReplicasBefore",
    "ReplicasAfter",
    "ReplicasDesired",
    "Backlog",
    "Applied",
];

/// A re-arm that failed, beside the metrics of a successful invocation.
const REARM_FAILED: &str = "RearmFailed";

/// A raise refused because the target is capacity-limited (its replicas stay unready).
const CAPACITY_LIMITED: &str = "CapacityLimited";

/// A failed invocation, one metric per error class.
const ERRORS: [(ErrorClass, &str); 3] = [
    (ErrorClass::Retryable, "ErrorsRetryable"),
    (ErrorClass::NonRetryable, "ErrorsNonRetryable"),
    (ErrorClass::Config, "ErrorsConfig"),
];

/// Every metric name a log line may carry (namespace `QueueScaler`, dimensions `Target` and
/// `Direction`): the dashboard in `infra/aws/template.yaml` must show each one, and a test holds
/// it to that.
#[cfg(test)]
pub(crate) const EMF_METRICS: [&str; 10] = [
    METRICS[0],
    METRICS[1],
    METRICS[2],
    METRICS[3],
    METRICS[4],
    REARM_FAILED,
    CAPACITY_LIMITED,
    ERRORS[0].1,
    ERRORS[1].1,
    ERRORS[2].1,
];

fn emf(target: &str, direction: Direction, metrics: &[(&str, Value)]) -> Value {
    let defs: Vec<Value> = metrics
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
        .collect();
    let mut line = json!({
        "_aws": {
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": "QueueScaler",
                "Dimensions": [["Target", "Direction"]],
                "Metrics": defs,
            }]
        },
        "Target": target,
        "Direction": direction,
    });
    for (name, value) in metrics {
        line[*name] = value.clone();
    }
    line
}

/// The log line of a successful invocation.
pub fn outcome_line(outcome: &Outcome, request_id: &str) -> Value {
    let target = outcome.target.clone().unwrap_or_else(|| "-".into());
    let mut metrics: Vec<(&str, Value)> = Vec::new();
    let values = [
        outcome.from.map(Value::from),
        if outcome.applied {
            outcome.to
        } else {
            outcome.from
        }
        .map(Value::from),
        outcome.to.map(Value::from),
        outcome.backlog.map(Value::from),
        Some(Value::from(u8::from(outcome.applied))),
    ];
    for (name, value) in METRICS.iter().zip(values) {
        if let Some(v) = value {
            metrics.push((name, v));
        }
    }
    if matches!(outcome.rearm, Rearm::Failed(_)) {
        metrics.push((REARM_FAILED, Value::from(1)));
    }
    if is_limited(outcome.capacity.as_deref()) {
        metrics.push((CAPACITY_LIMITED, Value::from(1)));
    }
    let mut line = emf(&target, outcome.direction, &metrics);
    line["level"] = "INFO".into();
    line["message"] = if outcome.applied {
        "scaled"
    } else {
        "no change applied"
    }
    .into();
    line["requestId"] = request_id.into();
    line["alarm"] = outcome.alarm.as_str().into();
    line["state"] = outcome.state.as_str().into();
    line["from"] = outcome.from.into();
    line["to"] = outcome.to.into();
    line["reason"] = outcome.reason.as_str().into();
    line["source"] = outcome.source.into();
    line["visible"] = outcome.visible.into();
    line["in_flight"] = outcome.in_flight.into();
    line["delayed"] = outcome.delayed.into();
    line["datapoint"] = outcome.datapoint.into();
    line["dry_run"] = outcome.dry_run.into();
    line["rearm"] = serde_json::to_value(&outcome.rearm).unwrap_or_default();
    if let Some(event) = &outcome.event {
        line["event"] = event.to_string().into();
    }
    capacity_fields(
        &mut line,
        outcome.capacity.as_deref(),
        outcome.paused.as_deref(),
    );
    line
}

fn is_limited(capacity: Option<&Capacity>) -> bool {
    capacity.is_some_and(|c| c.limited.is_some())
}

/// The capacity a decision saw and the pause that held it, on a log line, when there were.
fn capacity_fields(line: &mut Value, capacity: Option<&Capacity>, paused: Option<&str>) {
    if let Some(capacity) = capacity {
        line["capacity"] = serde_json::to_value(capacity).unwrap_or_default();
    }
    if let Some(paused) = paused {
        line["paused"] = paused.into();
    }
}

/// What a failed invocation's log line names: the alarm and its state, and the target, when
/// known.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FailedAt<'a> {
    /// The alarm and the state it moved to.
    pub(crate) alarm: Option<(&'a str, &'a str)>,
    /// `namespace/name`.
    pub(crate) target: Option<&'a str>,
}

/// The log line of a failed invocation: the error, and `Errors.<class>` as a metric.
pub(crate) fn failure_line(
    direction: Direction,
    at: FailedAt<'_>,
    class: ErrorClass,
    message: &str,
    request_id: &str,
) -> Value {
    let metric = ERRORS
        .iter()
        .find(|(c, _)| *c == class)
        .map_or(ERRORS[0].1, |(_, name)| name);
    let mut line = emf(
        at.target.unwrap_or("-"),
        direction,
        &[(metric, Value::from(1))],
    );
    line["level"] = "ERROR".into();
    line["message"] = "invocation failed".into();
    line["requestId"] = request_id.into();
    line["errorType"] = class.to_string().into();
    line["error"] = message.into();
    if let Some((alarm, state)) = at.alarm {
        line["alarm"] = alarm.into();
        line["state"] = state.into();
    }
    line
}

/// The heartbeat's summary log line (each alarm it acted on has its own line too).
pub(crate) fn heartbeat_line(report: &Heartbeat, request_id: &str) -> Value {
    let count = |c: Checked| report.alarms.iter().filter(|a| a.checked == c).count();
    json!({
        "level": if count(Checked::Failed) > 0 || count(Checked::Missing) > 0 || report.targets.iter().any(|t| t.error.is_some()) { "WARN" } else { "INFO" },
        "message": "heartbeat",
        "requestId": request_id,
        "direction": report.direction,
        "function": report.function,
        "alarms": report.alarms.len(),
        "acted": count(Checked::Acted),
        "failed": count(Checked::Failed),
        "grace": count(Checked::Grace),
        "targets_scaled": report.targets.iter().filter(|t| t.applied).count(),
        "targets_failed": report.targets.iter().filter(|t| t.error.is_some()).count(),
        "missing": report.alarms.iter().filter(|a| a.checked == Checked::Missing).map(|a| a.alarm.as_str()).collect::<Vec<_>>(),
        "note": report.note,
    })
}

/// The log line of a target scale-up's heartbeat scaled, or failed to.
pub(crate) fn target_check_line(
    check: &TargetCheck,
    direction: Direction,
    request_id: &str,
) -> Value {
    let mut metrics = vec![
        ("Applied", Value::from(u8::from(check.applied))),
        ("Backlog", check.backlog.map_or(Value::Null, Value::from)),
    ];
    if is_limited(check.capacity.as_deref()) {
        metrics.push((CAPACITY_LIMITED, Value::from(1)));
    }
    let mut line = emf(&check.target, direction, &metrics);
    line["level"] = if check.error.is_some() {
        "ERROR"
    } else {
        "INFO"
    }
    .into();
    line["message"] = "heartbeat reconciled a target".into();
    line["requestId"] = request_id.into();
    line["source"] = check.source.into();
    line["visible"] = check.visible.into();
    line["in_flight"] = check.in_flight.into();
    line["delayed"] = check.delayed.into();
    line["from"] = check.from.into();
    line["to"] = check.to.into();
    line["reason"] = check.reason.as_str().into();
    capacity_fields(
        &mut line,
        check.capacity.as_deref(),
        check.paused.as_deref(),
    );
    if let Some(e) = &check.error {
        line["error"] = e.as_str().into();
    }
    line
}

/// Print one log line: one JSON object per line on stdout. Lambda sends it to CloudWatch Logs,
/// which extracts the metrics from `_aws`; printed directly so the metric fields stay at the top
/// level.
pub(crate) fn print(line: &Value) {
    println!("{line}");
}

/// Write an invocation's log lines, once, from its result: an alarm's line, or the heartbeat's
/// (a line per alarm it acted on and per target it scaled or failed on, then its summary), or
/// the failure's, with `Errors.<class>` as a metric.
pub(crate) fn log(direction: Direction, result: &Result<Response, Failure>, request_id: &str) {
    let heartbeat = match result {
        Ok(Response::Heartbeat(report)) => Some(report),
        Err(Failure::Heartbeat { report, .. }) => Some(&**report),
        _ => None,
    };
    if let Some(report) = heartbeat {
        for alarm in &report.alarms {
            if let Some(outcome) = &alarm.outcome {
                print(&outcome_line(outcome, request_id));
            } else if let (Checked::Failed, Some(class), Some(error)) =
                (alarm.checked, alarm.class, &alarm.error)
            {
                let at = FailedAt {
                    alarm: Some((&alarm.alarm, alarm.state.as_deref().unwrap_or("-"))),
                    target: alarm.target.as_deref(),
                };
                let prefix = format!("{class}: ");
                let message = error.strip_prefix(&prefix).unwrap_or(error);
                print(&failure_line(direction, at, class, message, request_id));
            }
        }
        for check in report
            .targets
            .iter()
            .filter(|c| c.applied || c.error.is_some())
        {
            print(&target_check_line(check, direction, request_id));
        }
        print(&heartbeat_line(report, request_id));
        return;
    }
    match result {
        Ok(Response::Alarm(outcome)) => print(&outcome_line(outcome, request_id)),
        Ok(Response::Heartbeat(_) | Response::Doctor(_)) => {}
        Err(failure) => {
            let (alarm, state) = failure.alarm().unzip();
            let at = FailedAt {
                alarm: alarm.zip(state.as_deref()),
                target: failure.target(),
            };
            let message = failure.message();
            print(&failure_line(
                direction,
                at,
                failure.class(),
                &message,
                request_id,
            ));
        }
    }
}
