//! What an invocation reports: the JSON result, the error the Lambda runtime sees (its type is
//! the retry class), and one log line per invocation in CloudWatch Embedded Metric Format, so the
//! metrics cost no API call.

use lambda_runtime::Diagnostic;
use queue_scaler_core::{AlarmSignal, ConfigError, Direction, ErrorClass, IntakeError, RouteError};
use queue_scaler_io::Error as IoError;
use serde::Serialize;
use serde_json::{json, Value};

/// The result of one invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The alarm that invoked the function.
    pub alarm: String,
    /// The state it moved to.
    pub state: String,
    /// `namespace/name`, when the alarm has a route.
    pub target: Option<String>,
    /// `up` or `down`.
    pub direction: Direction,
    /// Replicas read from the cluster; absent when nothing was read.
    pub from: Option<i32>,
    /// Replicas decided: set when `applied`, only reported otherwise (`DRY_RUN`, or no change).
    pub to: Option<i32>,
    /// Whether a write reached the cluster.
    pub applied: bool,
    /// Whether `DRY_RUN` was on.
    pub dry_run: bool,
    /// Why, in words.
    pub reason: String,
    /// The backlog decided from: live (visible plus in flight over the target's queues), or
    /// the alarm's datapoint when the live read failed; see `source`.
    pub backlog: Option<f64>,
    /// `live` or `alarm`: where `backlog` came from; absent when nothing was decided.
    pub source: Option<&'static str>,
    /// Visible messages over the target's queues, read live.
    pub visible: Option<u64>,
    /// Messages in flight (received, not yet deleted), read live.
    pub in_flight: Option<u64>,
    /// Delayed messages, read live: reported, not counted.
    pub delayed: Option<u64>,
    /// The latest datapoint the alarm carried (a minute or more old; maybe not a count).
    pub datapoint: Option<f64>,
    /// The queue the alarm's metric names.
    pub queue: Option<String>,
    /// Re-reads after 409 Conflict.
    pub conflicts: u32,
    /// What became of the Event that records the write; absent when nothing was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventRecord>,
    /// What became of the re-arm.
    pub rearm: Rearm,
}

/// The Event that records a write: best effort, reported but never failing the invocation.
/// In the result: `"recorded"`, `"off"` or `"failed: why"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventRecord {
    /// Created on the Deployment.
    Recorded,
    /// `KUBE_EVENTS=false`.
    Off,
    /// Refused, failed or too slow; the write stands.
    Failed(String),
}

impl EventRecord {
    /// A failed Event, with the error's causes.
    pub fn failed(err: &IoError) -> Self {
        EventRecord::Failed(chain(err))
    }
}

impl std::fmt::Display for EventRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventRecord::Recorded => f.write_str("recorded"),
            EventRecord::Off => f.write_str("off"),
            EventRecord::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

impl Serialize for EventRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Re-arm's result, reported but never failing the invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
pub enum Rearm {
    /// The alarm was set back to OK.
    Done,
    /// `REARM_ALARM=false`.
    Disabled,
    /// Nothing acted (not ALARM, or `DRY_RUN`).
    NotNeeded,
    /// `SetAlarmState` failed; scaling stands.
    Failed(String),
}

impl Rearm {
    /// A failed re-arm, with the error's causes: "request to ... failed" alone would hide the
    /// connection error behind it.
    pub fn failed(err: &IoError) -> Self {
        Rearm::Failed(chain(err))
    }
}

/// What an invocation returns: an alarm's outcome, or the heartbeat's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// An alarm event was handled.
    Alarm(Outcome),
    /// The heartbeat ran.
    Heartbeat(Heartbeat),
    /// The doctor's report.
    Doctor(crate::doctor::Report),
}

/// The heartbeat's result: each alarm the routes name, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Heartbeat {
    /// Always `true`: tells this result from an alarm's.
    pub heartbeat: bool,
    /// `up` or `down`.
    pub direction: Direction,
    /// The function's own ARN: alarms whose actions name another are not its own.
    pub function: String,
    /// One entry per alarm name in the routes.
    pub alarms: Vec<AlarmCheck>,
    /// Scale-up's heartbeat: each target with queues of its own that no alarm acted on, read
    /// live and woken or raised when its backlog needs more.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetCheck>,
    /// Why nothing was read, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One alarm, as the heartbeat found it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmCheck {
    /// The alarm's name.
    pub alarm: String,
    /// Its state as `DescribeAlarms` reported it; absent when it does not exist.
    pub state: Option<String>,
    /// What the heartbeat did with it.
    pub checked: Checked,
    /// The outcome, when it acted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The error, when acting failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the heartbeat did with one alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Checked {
    /// In ALARM: acted as if it had just fired.
    Acted,
    /// In ALARM, and acting failed.
    Failed,
    /// OK or INSUFFICIENT_DATA: nothing to do.
    NotInAlarm,
    /// Its actions do not invoke this function (it belongs to the other one).
    NotThisFunction,
    /// Its actions are disabled (scaling paused by an operator): left alone.
    ActionsDisabled,
    /// No alarm of that name exists: check TARGET_ALARMS or SCALER_TARGETS.
    Missing,
    /// In ALARM for less than a minute: left to the invocation its own state change made, so
    /// the two never step twice.
    Grace,
}

/// One target, as scale-up's heartbeat found its queues and what it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCheck {
    /// `namespace/name`.
    pub target: String,
    /// The live backlog, when the read succeeded.
    pub backlog: Option<f64>,
    /// `live`, or `alarm` when the read failed (then nothing is scaled).
    pub source: &'static str,
    /// Visible messages.
    pub visible: Option<u64>,
    /// Messages in flight.
    pub in_flight: Option<u64>,
    /// Delayed messages, not counted.
    pub delayed: Option<u64>,
    /// Replicas read, when read.
    pub from: Option<i32>,
    /// Replicas decided.
    pub to: Option<i32>,
    /// Whether a write reached the cluster.
    pub applied: bool,
    /// Whether `DRY_RUN` was on.
    pub dry_run: bool,
    /// Why, in words.
    pub reason: String,
    /// What became of the Event that records the write; absent when nothing was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventRecord>,
    /// The error, when reading or scaling failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's class, for the heartbeat's own.
    #[serde(skip)]
    pub class: Option<ErrorClass>,
}

impl TargetCheck {
    /// A target whose queues were read (or not), before anything was decided.
    pub fn new(
        target: &queue_scaler_core::Target,
        seen: &crate::scaler::Seen,
        dry_run: bool,
    ) -> Self {
        let counts = seen.counts;
        TargetCheck {
            target: target.to_string(),
            backlog: seen.backlog.messages(),
            source: seen.backlog.source(),
            visible: counts.map(|c| c.visible),
            in_flight: counts.map(|c| c.in_flight),
            delayed: counts.map(|c| c.delayed),
            from: None,
            to: None,
            applied: false,
            dry_run,
            reason: String::new(),
            event: None,
            error: None,
            class: None,
        }
    }
}

impl AlarmCheck {
    /// An alarm the heartbeat did not act on.
    pub fn new(alarm: &str, state: Option<&str>, checked: Checked) -> Self {
        AlarmCheck {
            alarm: alarm.to_owned(),
            state: state.map(str::to_owned),
            checked,
            outcome: None,
            error: None,
        }
    }

    /// An alarm the heartbeat acted on.
    pub fn acted(outcome: Outcome) -> Self {
        AlarmCheck {
            alarm: outcome.alarm.clone(),
            state: Some(outcome.state.clone()),
            checked: Checked::Acted,
            outcome: Some(outcome),
            error: None,
        }
    }

    /// An alarm whose action failed.
    pub fn failed(alarm: &str, state: Option<&str>, failure: &Failure) -> Self {
        AlarmCheck {
            error: Some(failure.to_string()),
            ..AlarmCheck::new(alarm, state, Checked::Failed)
        }
    }
}

/// An invocation that failed, as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Retryable, NonRetryable or Config: the error type Lambda reports.
    pub class: ErrorClass,
    /// What happened and what to fix; never a key or token.
    pub message: String,
}

impl Failure {
    /// A configuration failure, listing every problem.
    pub fn config(err: ConfigError) -> Self {
        Failure {
            class: err.class(),
            message: err.to_string(),
        }
    }

    /// From an I/O error, keeping its class and its chain of causes.
    pub fn from_io(err: IoError) -> Self {
        Failure {
            class: err.class(),
            message: chain(&err),
        }
    }

    /// Say what became of the re-arm that followed the failure.
    pub fn after_rearm(mut self, rearm: &Rearm) -> Self {
        match rearm {
            Rearm::Done => self.message.push_str(
                ". The alarm was set back to OK: its next evaluation tries again while the backlog persists",
            ),
            Rearm::Failed(why) => self.message.push_str(&format!(
                ". Setting the alarm back to OK failed too ({why}); the heartbeat acts on it while it stays in ALARM"
            )),
            Rearm::Disabled | Rearm::NotNeeded => {}
        }
        self
    }

    /// Context before the message: which alarm and target.
    pub fn context(mut self, alarm: &str, target: Option<&str>) -> Self {
        let at = match target {
            Some(t) => format!("alarm {alarm:?}, target {t}: "),
            None => format!("alarm {alarm:?}: "),
        };
        self.message.insert_str(0, &at);
        self
    }
}

/// An error and its sources, joined: `Display` of each level says only its own part.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

impl From<IntakeError> for Failure {
    fn from(err: IntakeError) -> Self {
        Failure {
            class: err.class(),
            message: chain(&err),
        }
    }
}

impl From<RouteError> for Failure {
    fn from(err: RouteError) -> Self {
        Failure {
            class: err.class(),
            message: err.to_string(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}

impl From<Failure> for Diagnostic {
    fn from(f: Failure) -> Self {
        Diagnostic {
            error_type: f.class.to_string(),
            error_message: f.message,
        }
    }
}

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

/// A failed invocation, one metric per error class.
const ERRORS: [(ErrorClass, &str); 3] = [
    (ErrorClass::Retryable, "ErrorsRetryable"),
    (ErrorClass::NonRetryable, "ErrorsNonRetryable"),
    (ErrorClass::Config, "ErrorsConfig"),
];

/// Every metric name a log line may carry (namespace `QueueScaler`, dimensions `Target` and
/// `Direction`): the dashboard in `infra/aws/template.yaml` must show each one, and a test holds
/// it to that.
pub const EMF_METRICS: [&str; 9] = [
    METRICS[0],
    METRICS[1],
    METRICS[2],
    METRICS[3],
    METRICS[4],
    REARM_FAILED,
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

fn print_line(line: &Value) {
    // One JSON object per line on stdout: Lambda sends it to CloudWatch Logs, which extracts the
    // metrics from `_aws`. Printed directly so the metric fields stay at the top level.
    println!("{line}");
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
    line
}

/// The log line of a failed invocation: the error, and `Errors.<class>` as a metric.
pub fn failure_line(
    direction: Direction,
    signal: Option<&AlarmSignal>,
    target: Option<&str>,
    failure: &Failure,
    request_id: &str,
) -> Value {
    let metric = ERRORS
        .iter()
        .find(|(class, _)| *class == failure.class)
        .map_or(ERRORS[0].1, |(_, name)| name);
    let mut line = emf(
        target.unwrap_or("-"),
        direction,
        &[(metric, Value::from(1))],
    );
    line["level"] = "ERROR".into();
    line["message"] = "invocation failed".into();
    line["requestId"] = request_id.into();
    line["errorType"] = failure.class.to_string().into();
    line["error"] = failure.message.as_str().into();
    if let Some(s) = signal {
        line["alarm"] = s.alarm.as_str().into();
        line["state"] = s.state.to_string().into();
    }
    line
}

/// The heartbeat's summary log line (each alarm it acted on has its own line too).
pub fn heartbeat_line(report: &Heartbeat, request_id: &str) -> Value {
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
pub fn target_check_line(check: &TargetCheck, direction: Direction, request_id: &str) -> Value {
    let mut line = emf(
        &check.target,
        direction,
        &[
            ("Applied", Value::from(u8::from(check.applied))),
            ("Backlog", check.backlog.map_or(Value::Null, Value::from)),
        ],
    );
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
    if let Some(e) = &check.error {
        line["error"] = e.as_str().into();
    }
    line
}

/// Print a reconciled target's log line.
pub fn log_target_check(check: &TargetCheck, direction: Direction, request_id: &str) {
    print_line(&target_check_line(check, direction, request_id));
}

/// Print the heartbeat's summary log line.
pub fn log_heartbeat(report: &Heartbeat, request_id: &str) {
    print_line(&heartbeat_line(report, request_id));
}

/// Print the log line of a successful invocation.
pub fn log_outcome(outcome: &Outcome, request_id: &str) {
    print_line(&outcome_line(outcome, request_id));
}

/// Print the log line of a failed invocation.
pub fn log_failure(
    direction: Direction,
    signal: Option<(&AlarmSignal, Option<&str>)>,
    failure: &Failure,
    request_id: &str,
) {
    let (signal, target) = signal.map_or((None, None), |(s, t)| (Some(s), t));
    print_line(&failure_line(
        direction, signal, target, failure, request_id,
    ));
}
