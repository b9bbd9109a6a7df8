//! Alarm intake: the three event shapes a CloudWatch alarm can reach a Lambda function in, turned
//! into one [`AlarmSignal`].
//!
//! 1. The direct alarm action (`source: aws.cloudwatch`, `alarmData`), parsed with
//!    `aws_lambda_events`' CloudWatch alarm types. The backlog is the last of `recentDatapoints`
//!    inside `state.reasonData`, a JSON *string*.
//! 2. An SNS notification whose `Message` is the alarm as a JSON string; the backlog is read from
//!    `NewStateReason` where it can be.
//! 3. An EventBridge `CloudWatch Alarm State Change` event.
//!
//! Besides alarms, a function takes the heartbeat, an EventBridge `Scheduled Event`
//! ([`Invocation::Heartbeat`]): it reads its alarms with `DescribeAlarms` and acts on those in
//! ALARM, through [`signal_from_described`].
//!
//! Pure: no I/O.

use aws_lambda_events::event::cloudwatch_alarms::{
    CloudWatchAlarm, CloudWatchAlarmStateReasonData, CloudWatchAlarmStateValue,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// The state an alarm moved to. Only [`AlarmState::Alarm`] makes a function act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    /// The metric is back within its threshold.
    Ok,
    /// The metric crossed its threshold: act.
    Alarm,
    /// CloudWatch has too few datapoints to tell.
    InsufficientData,
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        })
    }
}

impl AlarmState {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "OK" => Some(AlarmState::Ok),
            "ALARM" => Some(AlarmState::Alarm),
            "INSUFFICIENT_DATA" => Some(AlarmState::InsufficientData),
            _ => None,
        }
    }
}

/// Which of the three wirings delivered the alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventShape {
    /// The alarm's own Lambda action.
    AlarmAction,
    /// An SNS topic subscribed by the function.
    Sns,
    /// An EventBridge rule on `CloudWatch Alarm State Change`.
    EventBridge,
    /// Read by the heartbeat with `DescribeAlarms`.
    Heartbeat,
}

impl fmt::Display for EventShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventShape::AlarmAction => "CloudWatch alarm action event",
            EventShape::Sns => "SNS alarm notification",
            EventShape::EventBridge => "EventBridge alarm state change event",
            EventShape::Heartbeat => "alarm read by the heartbeat (DescribeAlarms)",
        })
    }
}

/// One alarm state change, whatever shape it arrived in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmSignal {
    /// The alarm's name, the first key for routing.
    pub alarm: String,
    /// The state the alarm moved to.
    pub state: AlarmState,
    /// The latest datapoint the alarm evaluated (the backlog), when the event carries one.
    pub backlog: Option<f64>,
    /// The SQS queue named by the alarm metric's `QueueName` dimension, when exactly one is named.
    pub queue: Option<String>,
    /// When the state changed, when the event says.
    pub time: Option<DateTime<Utc>>,
    /// The wiring that delivered the event.
    pub shape: EventShape,
}

/// What an event asks a function to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// An alarm changed state.
    Alarm(AlarmSignal),
    /// The schedule fired: check the function's alarms and act on those in ALARM.
    Heartbeat {
        /// When the schedule fired, when the event says.
        time: Option<DateTime<Utc>>,
    },
    /// `{"action": "doctor"}`: check the deployment, read-only.
    Doctor,
}

/// Parse an event into an [`Invocation`]: the heartbeat's `Scheduled Event`, or an alarm in any
/// of its three shapes.
pub fn parse_invocation(event: &Value) -> Result<Invocation, IntakeError> {
    let is_scheduled = event.get("source").and_then(Value::as_str) == Some("aws.events")
        && event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
    if is_scheduled {
        let time = event
            .get("time")
            .and_then(Value::as_str)
            .and_then(parse_time);
        return Ok(Invocation::Heartbeat { time });
    }
    if let Some(action) = event.get("action") {
        return match action.as_str() {
            Some("doctor") => Ok(Invocation::Doctor),
            _ => Err(IntakeError::UnknownShape {
                found: format!("an action {action}; the only action is \"doctor\""),
            }),
        };
    }
    parse_event(event).map(Invocation::Alarm)
}

/// An alarm as `DescribeAlarms` reports it, the fields the heartbeat needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedAlarm {
    /// `AlarmName`.
    pub name: String,
    /// `StateValue`: `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// `StateReasonData`: JSON with `recentDatapoints`, when CloudWatch evaluated the alarm.
    pub state_reason_data: Option<String>,
    /// `StateUpdatedTimestamp`.
    pub state_updated: Option<String>,
    /// `AlarmActions`: the ARNs the alarm invokes on entering ALARM.
    pub actions: Vec<String>,
    /// `ActionsEnabled`: `false` when an operator paused the alarm's actions; the heartbeat then
    /// leaves it alone too.
    pub actions_enabled: bool,
    /// Every `QueueName` dimension of its metrics (one metric, or each of a metric-math alarm's).
    pub queues: Vec<String>,
}

impl Default for DescribedAlarm {
    fn default() -> Self {
        DescribedAlarm {
            name: String::new(),
            state: String::new(),
            state_reason_data: None,
            state_updated: None,
            actions: Vec::new(),
            actions_enabled: true,
            queues: Vec::new(),
        }
    }
}

impl DescribedAlarm {
    /// Whether entering ALARM invokes the function `function_arn`: an action that is its ARN,
    /// with or without a version or alias qualifier, on either side.
    pub fn invokes(&self, function_arn: &str) -> bool {
        let base = unqualified(function_arn);
        self.actions.iter().any(|a| unqualified(a) == base)
    }
}

/// A Lambda function ARN without its qualifier: `arn:aws:lambda:R:A:function:NAME[:QUALIFIER]`.
fn unqualified(arn: &str) -> &str {
    let mut colons = arn.match_indices(':').map(|(i, _)| i);
    match colons.nth(6) {
        Some(i) if arn.split(':').nth(5) == Some("function") => &arn[..i],
        _ => arn,
    }
}

/// The signal an alarm read by the heartbeat stands for, as if it had just fired: state, the
/// newest datapoint of its `StateReasonData`, its queue.
pub fn signal_from_described(alarm: &DescribedAlarm) -> Result<AlarmSignal, IntakeError> {
    let shape = EventShape::Heartbeat;
    let state = AlarmState::parse(&alarm.state).ok_or_else(|| {
        malformed(
            shape,
            format!("alarm {:?} has state {:?}", alarm.name, alarm.state),
        )
    })?;
    let backlog = alarm
        .state_reason_data
        .as_deref()
        .and_then(last_recent_datapoint);
    Ok(AlarmSignal {
        backlog: checked_backlog(&alarm.name, backlog)?,
        queue: single(alarm.queues.iter().map(String::as_str)),
        alarm: alarm.name.clone(),
        state,
        time: alarm.state_updated.as_deref().and_then(parse_time),
        shape,
    })
}

/// Why an event was refused. Never retryable: the same event fails the same way again.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The payload is none of the three alarm shapes.
    #[error(
        "unsupported event: expected a CloudWatch alarm action event (source \"aws.cloudwatch\" with \
         \"alarmData\"), an SNS notification carrying a CloudWatch alarm (\"Records[].Sns.Message\"), \
         an EventBridge \"CloudWatch Alarm State Change\" event, or the heartbeat's EventBridge \
         \"Scheduled Event\"; got {found}"
    )]
    UnknownShape {
        /// A short description of what arrived.
        found: String,
    },
    /// The payload has one of the shapes but a part of it is malformed.
    #[error("malformed {shape}: {detail}")]
    Malformed {
        /// The shape the payload claimed.
        shape: EventShape,
        /// What is wrong, naming the field.
        detail: String,
    },
    /// The payload has one of the shapes but its JSON does not fit it.
    #[error("malformed {shape}")]
    Json {
        /// The shape the payload claimed.
        shape: EventShape,
        /// The decoder's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// The datapoint is not a count of messages.
    #[error("alarm {alarm:?} reports backlog {value}, which is not a count of messages")]
    BadDatapoint {
        /// The alarm.
        alarm: String,
        /// The value it reported.
        value: f64,
    },
}

/// Parse a raw payload, as bytes, into an [`AlarmSignal`].
pub fn parse_event_bytes(payload: &[u8]) -> Result<AlarmSignal, IntakeError> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| IntakeError::UnknownShape {
        found: format!("a payload that is not JSON ({e})"),
    })?;
    parse_event(&value)
}

/// Parse an event into an [`AlarmSignal`], whichever of the three shapes it has.
pub fn parse_event(event: &Value) -> Result<AlarmSignal, IntakeError> {
    let Some(obj) = event.as_object() else {
        return Err(IntakeError::UnknownShape {
            found: format!("a JSON {}", kind(event)),
        });
    };
    if obj.get("detail-type").and_then(Value::as_str) == Some("CloudWatch Alarm State Change") {
        return parse_eventbridge(event);
    }
    if obj.contains_key("alarmData") {
        return parse_alarm_action(event);
    }
    if let Some(records) = obj.get("Records") {
        return parse_sns(records);
    }
    let found = match obj.get("detail-type").and_then(Value::as_str) {
        Some(dt) => format!("an EventBridge event of type {dt:?}"),
        None => {
            let mut keys: Vec<&str> = obj.keys().map(String::as_str).take(6).collect();
            keys.sort_unstable();
            format!("an object with keys [{}]", keys.join(", "))
        }
    };
    Err(IntakeError::UnknownShape { found })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn malformed(shape: EventShape, detail: impl Into<String>) -> IntakeError {
    IntakeError::Malformed {
        shape,
        detail: detail.into(),
    }
}

fn checked_backlog(alarm: &str, value: Option<f64>) -> Result<Option<f64>, IntakeError> {
    match value {
        Some(v) if !v.is_finite() || v < 0.0 => Err(IntakeError::BadDatapoint {
            alarm: alarm.to_owned(),
            value: v,
        }),
        other => Ok(other),
    }
}

/// The direct alarm action, parsed with `aws_lambda_events`' types.
fn parse_alarm_action(event: &Value) -> Result<AlarmSignal, IntakeError> {
    let shape = EventShape::AlarmAction;
    let alarm: CloudWatchAlarm = serde_json::from_value(event.clone())
        .map_err(|source| IntakeError::Json { shape, source })?;
    let data = alarm.alarm_data;
    if data.alarm_name.trim().is_empty() {
        return Err(malformed(shape, "alarmData.alarmName is missing or empty"));
    }
    let state = data
        .state
        .ok_or_else(|| malformed(shape, "alarmData.state is missing"))?;
    let state_value = match state.value {
        CloudWatchAlarmStateValue::Ok => AlarmState::Ok,
        CloudWatchAlarmStateValue::Alarm => AlarmState::Alarm,
        CloudWatchAlarmStateValue::InsufficientData => AlarmState::InsufficientData,
        _ => {
            return Err(malformed(
                shape,
                "alarmData.state.value is not OK, ALARM or INSUFFICIENT_DATA",
            ))
        }
    };
    let backlog = match &state.reason_data {
        Some(CloudWatchAlarmStateReasonData::Metric(m)) => m.recent_datapoints.last().copied(),
        Some(CloudWatchAlarmStateReasonData::Generic(Value::String(s))) => last_recent_datapoint(s),
        _ => None,
    };
    Ok(AlarmSignal {
        backlog: checked_backlog(&data.alarm_name, backlog)?,
        queue: queue_from_metrics(data.configuration.get("metrics")),
        alarm: data.alarm_name,
        state: state_value,
        time: Some(state.timestamp),
        shape,
    })
}

/// `recentDatapoints` read by hand, for reason data that `aws_lambda_events` keeps as a string
/// (it needs every field of its struct; metric-math alarms may omit some).
fn last_recent_datapoint(reason_data: &str) -> Option<f64> {
    let v: Value = serde_json::from_str(reason_data).ok()?;
    v.get("recentDatapoints")?.as_array()?.last()?.as_f64()
}

/// The one `QueueName` dimension among the alarm's metrics (alarm action and EventBridge shape:
/// `metrics[].metricStat.metric.dimensions.QueueName`). Metric math alarms list several metrics;
/// they count as one queue when all of them name the same one.
fn queue_from_metrics(metrics: Option<&Value>) -> Option<String> {
    let names = metrics?.as_array()?.iter().filter_map(|m| {
        m.pointer("/metricStat/metric/dimensions/QueueName")
            .and_then(Value::as_str)
    });
    single(names)
}

fn single<'a>(mut names: impl Iterator<Item = &'a str>) -> Option<String> {
    let first = names.next()?;
    if names.all(|n| n == first) {
        Some(first.to_owned())
    } else {
        None
    }
}

fn parse_sns(records: &Value) -> Result<AlarmSignal, IntakeError> {
    let shape = EventShape::Sns;
    let records = records
        .as_array()
        .ok_or_else(|| malformed(shape, "Records is not an array"))?;
    let [record] = records.as_slice() else {
        return Err(malformed(
            shape,
            format!("expected exactly one record, got {}", records.len()),
        ));
    };
    let message = record
        .pointer("/Sns/Message")
        .ok_or_else(|| IntakeError::UnknownShape {
            found: "a Records event that is not from SNS (no Records[0].Sns.Message)".into(),
        })?
        .as_str()
        .ok_or_else(|| malformed(shape, "Records[0].Sns.Message is not a string"))?;
    let message: Value = serde_json::from_str(message).map_err(|_| {
        malformed(
            shape,
            "Records[0].Sns.Message is not a CloudWatch alarm (not JSON)",
        )
    })?;
    let alarm = message
        .get("AlarmName")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            malformed(
                shape,
                "the message has no AlarmName; is the topic fed by a CloudWatch alarm?",
            )
        })?
        .to_owned();
    let state = message
        .get("NewStateValue")
        .and_then(Value::as_str)
        .and_then(AlarmState::parse)
        .ok_or_else(|| {
            malformed(
                shape,
                "NewStateValue is missing or not OK, ALARM or INSUFFICIENT_DATA",
            )
        })?;
    let backlog = message
        .get("NewStateReason")
        .and_then(Value::as_str)
        .and_then(datapoint_from_reason);
    let time = message
        .get("StateChangeTime")
        .and_then(Value::as_str)
        .and_then(parse_time);
    Ok(AlarmSignal {
        backlog: checked_backlog(&alarm, backlog)?,
        queue: message.get("Trigger").and_then(queue_from_trigger),
        alarm,
        state,
        time,
        shape,
    })
}

/// `QueueName` from an SNS alarm's `Trigger`: `Dimensions: [{name, value}]` for a single metric,
/// `Metrics[].MetricStat.Metric.Dimensions` for metric math.
fn queue_from_trigger(trigger: &Value) -> Option<String> {
    fn from_dims(dims: &Value) -> impl Iterator<Item = &str> {
        dims.as_array().into_iter().flatten().filter_map(|d| {
            (d.get("name").and_then(Value::as_str) == Some("QueueName"))
                .then(|| d.get("value").and_then(Value::as_str))
                .flatten()
        })
    }
    let direct = trigger.get("Dimensions").into_iter().flat_map(from_dims);
    let math = trigger
        .get("Metrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.pointer("/MetricStat/Metric/Dimensions"))
        .flat_map(from_dims);
    single(direct.chain(math))
}

/// The newest datapoint in a state reason such as
/// `Threshold Crossed: 2 out of the last 2 datapoints [640.0 (28/11/26 13:05:00), 120.0 (...)] ...`.
/// CloudWatch lists the newest first.
fn datapoint_from_reason(reason: &str) -> Option<f64> {
    let start = reason.find("datapoint")?;
    let rest = &reason[start..];
    let open = rest.find('[')?;
    let inner = &rest[open + 1..];
    let end = inner.find([' ', ',', ']'])?;
    inner[..end].parse().ok()
}

/// CloudWatch writes times as `2026-11-28T13:05:00.000+0000`, which is not quite RFC 3339.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn parse_eventbridge(event: &Value) -> Result<AlarmSignal, IntakeError> {
    let shape = EventShape::EventBridge;
    let detail = event
        .get("detail")
        .ok_or_else(|| malformed(shape, "detail is missing"))?;
    let alarm = detail
        .get("alarmName")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| malformed(shape, "detail.alarmName is missing or empty"))?
        .to_owned();
    let state = detail
        .pointer("/state/value")
        .and_then(Value::as_str)
        .and_then(AlarmState::parse)
        .ok_or_else(|| {
            malformed(
                shape,
                "detail.state.value is missing or not OK, ALARM or INSUFFICIENT_DATA",
            )
        })?;
    let backlog = detail
        .pointer("/state/reasonData")
        .and_then(Value::as_str)
        .and_then(last_recent_datapoint);
    let time = detail
        .pointer("/state/timestamp")
        .and_then(Value::as_str)
        .or_else(|| event.get("time").and_then(Value::as_str))
        .and_then(parse_time);
    Ok(AlarmSignal {
        backlog: checked_backlog(&alarm, backlog)?,
        queue: queue_from_metrics(detail.pointer("/configuration/metrics")),
        alarm,
        state,
        time,
        shape,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reason_datapoint_takes_the_newest_listed_first() {
        let r = "Threshold Crossed: 2 out of the last 2 datapoints [640.0 (28/11/26 13:05:00), 120.0 (28/11/26 13:04:00)] was greater than the threshold (100.0) (minimum 2 datapoints for OK -> ALARM transition).";
        assert_eq!(datapoint_from_reason(r), Some(640.0));
        let r = "Threshold Crossed: 1 datapoint [3.0 (28/11/26 13:05:00)] was less than the threshold (10.0).";
        assert_eq!(datapoint_from_reason(r), Some(3.0));
        assert_eq!(datapoint_from_reason("Alarm set by an operator"), None);
    }

    #[test]
    fn cloudwatch_times_parse_with_and_without_colon_offset() {
        assert!(parse_time("2026-11-28T13:05:00.000+0000").is_some());
        assert!(parse_time("2026-11-28T13:05:00Z").is_some());
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn non_object_payloads_are_refused_with_what_was_expected() {
        let err = parse_event(&json!([1, 2])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("got a JSON array"), "{msg}");
        assert!(msg.contains("CloudWatch alarm action"), "{msg}");
        let err = parse_event_bytes(b"not json").unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
    }

    #[test]
    fn another_eventbridge_event_is_named_in_the_error() {
        let err = parse_event(
            &json!({"detail-type": "EC2 Instance State-change Notification", "detail": {}}),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("EC2 Instance State-change Notification"),
            "{err}"
        );
    }

    #[test]
    fn sqs_records_are_not_mistaken_for_sns() {
        let err = parse_event(&json!({"Records": [{"body": "x", "eventSource": "aws:sqs"}]}))
            .unwrap_err();
        assert!(matches!(err, IntakeError::UnknownShape { .. }), "{err}");
    }

    #[test]
    fn negative_datapoint_is_refused() {
        let ev = json!({"detail-type": "CloudWatch Alarm State Change", "detail": {"alarmName": "a",
            "state": {"value": "ALARM", "reasonData": "{\"recentDatapoints\":[-3.0]}"}}});
        assert!(matches!(
            parse_event(&ev),
            Err(IntakeError::BadDatapoint { .. })
        ));
    }

    #[test]
    fn a_scheduled_event_is_the_heartbeat() {
        let ev = json!({"version": "0", "id": "1", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2026-11-30T12:05:00Z",
            "region": "eu-west-1", "resources": ["arn:aws:events:eu-west-1:123456789012:rule/hb"],
            "detail": {}});
        let Ok(Invocation::Heartbeat { time }) = parse_invocation(&ev) else {
            panic!("not a heartbeat");
        };
        assert!(time.is_some());
        // A scheduled event from another source is not ours.
        let other = json!({"detail-type": "Scheduled Event", "source": "my.app", "detail": {}});
        assert!(parse_invocation(&other).is_err());
    }

    #[test]
    fn the_doctor_is_an_action_and_no_other_action_is() {
        assert_eq!(
            parse_invocation(&json!({"action": "doctor"})).ok(),
            Some(Invocation::Doctor)
        );
        let err = parse_invocation(&json!({"action": "scale"})).unwrap_err();
        assert!(err.to_string().contains("the only action is"), "{err}");
    }

    #[test]
    fn an_action_invokes_the_function_with_or_without_a_qualifier() {
        let alarm = DescribedAlarm {
            actions: vec![
                "arn:aws:sns:eu-west-1:1:topic".into(),
                "arn:aws:lambda:eu-west-1:1:function:qs-scale-up:live".into(),
            ],
            ..DescribedAlarm::default()
        };
        assert!(alarm.invokes("arn:aws:lambda:eu-west-1:1:function:qs-scale-up"));
        assert!(alarm.invokes("arn:aws:lambda:eu-west-1:1:function:qs-scale-up:$LATEST"));
        assert!(!alarm.invokes("arn:aws:lambda:eu-west-1:1:function:qs-scale-down"));
        assert!(!alarm.invokes("arn:aws:lambda:eu-west-1:1:function:qs-scale"));
    }

    #[test]
    fn a_described_alarm_carries_its_newest_datapoint_and_queue() {
        let alarm = DescribedAlarm {
            name: "q-high".into(),
            state: "ALARM".into(),
            state_reason_data: Some(
                r#"{"version":"1.0","recentDatapoints":[120.0,640.0],"threshold":100.0}"#.into(),
            ),
            state_updated: Some("2026-11-30T12:04:00.000Z".into()),
            actions: vec![],
            actions_enabled: true,
            queues: vec!["jobs".into()],
        };
        let s = signal_from_described(&alarm).unwrap();
        assert_eq!(
            (s.state, s.backlog, s.queue.as_deref()),
            (AlarmState::Alarm, Some(640.0), Some("jobs"))
        );
        assert_eq!(s.shape, EventShape::Heartbeat);
        let bad = DescribedAlarm {
            state: "BROKEN".into(),
            ..alarm
        };
        assert!(signal_from_described(&bad)
            .unwrap_err()
            .to_string()
            .contains("BROKEN"));
    }

    #[test]
    fn queues_that_differ_name_no_queue() {
        let metrics = json!([
            {"metricStat": {"metric": {"dimensions": {"QueueName": "a"}}}},
            {"metricStat": {"metric": {"dimensions": {"QueueName": "b"}}}},
            {"expression": "m1+m2"}
        ]);
        assert_eq!(queue_from_metrics(Some(&metrics)), None);
        let metrics = json!([
            {"metricStat": {"metric": {"dimensions": {"QueueName": "a"}}}},
            {"expression": "m1+m2"},
            {"metricStat": {"metric": {"dimensions": {"QueueName": "a"}}}}
        ]);
        assert_eq!(queue_from_metrics(Some(&metrics)).as_deref(), Some("a"));
    }
}
