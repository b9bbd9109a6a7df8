//! Parsing events: the heartbeat's `Scheduled Event`, the doctor's action, and an alarm in each
//! of its three shapes. Also the readers of CloudWatch's values (datapoints, times, queue names)
//! that the heartbeat's alarms share.
//!
//! Each alarm shape is decoded with `aws_lambda_events`' types: the alarm action as a
//! `CloudWatchAlarm`, EventBridge as an `EventBridgeEvent` whose `detail` is the same
//! `CloudWatchAlarmData` as the alarm action's `alarmData`, and SNS as an `SnsRecord`. Which shape
//! an event is, and the refusals that name a field, are read from the JSON before decoding, so
//! that an SQS event is named as one and a refusal says which field to fix.

use super::signal::{AlarmSignal, AlarmState, EventShape, IntakeError, Invocation};
use aws_lambda_events::event::cloudwatch_alarms::{
    CloudWatchAlarm, CloudWatchAlarmData, CloudWatchAlarmState, CloudWatchAlarmStateValue,
};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sns::SnsRecord;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

/// An alarm's data as the alarm action and EventBridge carry it. Its `configuration` stays JSON:
/// the library's `CloudWatchMetricAlarmConfiguration` requires a `metricStat` in every metric,
/// which a metric-math alarm's expression has not. Its `reasonData` stays the JSON string it is,
/// read by the same readers as the heartbeat's `StateReasonData`: the library's
/// `CloudWatchAlarmStateReasonData` takes reason data that lacks one of its metric fields
/// (`version`, `period`, `threshold`) for a composite alarm's, and drops its datapoints.
type AlarmData = CloudWatchAlarmData<Value, String>;

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
    if obj.contains_key("Records") {
        return parse_sns(event);
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

pub(super) fn malformed(shape: EventShape, detail: impl Into<String>) -> IntakeError {
    IntakeError::Malformed {
        shape,
        detail: detail.into(),
    }
}

/// The queue an event names, checked: a queue name, never an address.
pub(super) fn checked_queue(
    alarm: &str,
    queue: Option<String>,
) -> Result<Option<String>, IntakeError> {
    match queue {
        Some(q) if !crate::hosts::is_queue_name(&q) => Err(IntakeError::QueueNotName {
            alarm: alarm.to_owned(),
            value: q,
        }),
        other => Ok(other),
    }
}

/// The account and region of an alarm ARN (`arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME`).
pub(super) fn arn_account_region(arn: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(parts) = arn.map(|a| a.split(':').collect::<Vec<_>>()) else {
        return (None, None);
    };
    match parts.as_slice() {
        ["arn", _, "cloudwatch", region, account, ..]
            if !region.is_empty() && !account.is_empty() =>
        {
            (Some((*account).to_owned()), Some((*region).to_owned()))
        }
        _ => (None, None),
    }
}

pub(super) fn checked_backlog(alarm: &str, value: Option<f64>) -> Result<Option<f64>, IntakeError> {
    match value {
        Some(v) if !v.is_finite() || v < 0.0 => Err(IntakeError::BadDatapoint {
            alarm: alarm.to_owned(),
            value: v,
        }),
        other => Ok(other),
    }
}

/// The direct alarm action: a `CloudWatchAlarm`.
fn parse_alarm_action(event: &Value) -> Result<AlarmSignal, IntakeError> {
    let shape = EventShape::AlarmAction;
    let alarm: CloudWatchAlarm<Value, String> =
        Deserialize::deserialize(event).map_err(|source| IntakeError::Json { shape, source })?;
    let data = alarm.alarm_data;
    if data.alarm_name.trim().is_empty() {
        return Err(malformed(shape, "alarmData.alarmName is missing or empty"));
    }
    let state = data
        .state
        .as_ref()
        .ok_or_else(|| malformed(shape, "alarmData.state is missing"))?;
    let value = alarm_state(&state.value).ok_or_else(|| {
        malformed(
            shape,
            "alarmData.state.value is not OK, ALARM or INSUFFICIENT_DATA",
        )
    })?;
    let (arn_account, arn_region) =
        arn_account_region(event.get("alarmArn").and_then(Value::as_str));
    let mut signal = signal_from_data(shape, &data, value, state)?;
    signal.account = arn_account.or(alarm.account_id);
    signal.region = arn_region.or(alarm.region);
    Ok(signal)
}

/// An EventBridge `CloudWatch Alarm State Change`: an `EventBridgeEvent` whose `detail` is the
/// alarm's data.
fn parse_eventbridge(event: &Value) -> Result<AlarmSignal, IntakeError> {
    let shape = EventShape::EventBridge;
    let bad_state = || {
        malformed(
            shape,
            "detail.state.value is missing or not OK, ALARM or INSUFFICIENT_DATA",
        )
    };
    // Read from the JSON first, to name the field: the decoder refuses a missing name or an
    // unknown state without these words, and takes a missing `state.value` for OK.
    let detail = event
        .get("detail")
        .ok_or_else(|| malformed(shape, "detail is missing"))?;
    let named = detail
        .get("alarmName")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty());
    if !named {
        return Err(malformed(shape, "detail.alarmName is missing or empty"));
    }
    let valued = detail
        .pointer("/state/value")
        .and_then(Value::as_str)
        .and_then(AlarmState::parse);
    if valued.is_none() {
        return Err(bad_state());
    }
    let alarm_arn = event
        .pointer("/resources/0")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let event: EventBridgeEvent<AlarmData> =
        Deserialize::deserialize(event).map_err(|source| IntakeError::Json { shape, source })?;
    let data = event.detail;
    let state = data.state.as_ref().ok_or_else(bad_state)?;
    let value = alarm_state(&state.value).ok_or_else(bad_state)?;
    let (arn_account, arn_region) = arn_account_region(alarm_arn.as_deref());
    let mut signal = signal_from_data(shape, &data, value, state)?;
    signal.account = arn_account.or(event.account);
    signal.region = arn_region.or(event.region);
    Ok(signal)
}

fn alarm_state(value: &CloudWatchAlarmStateValue) -> Option<AlarmState> {
    match value {
        CloudWatchAlarmStateValue::Ok => Some(AlarmState::Ok),
        CloudWatchAlarmStateValue::Alarm => Some(AlarmState::Alarm),
        CloudWatchAlarmStateValue::InsufficientData => Some(AlarmState::InsufficientData),
        _ => None,
    }
}

/// The signal of an alarm's data, whose state the caller has checked: what the alarm action's
/// `alarmData` and EventBridge's `detail` carry alike.
fn signal_from_data(
    shape: EventShape,
    data: &AlarmData,
    value: AlarmState,
    state: &CloudWatchAlarmState<String>,
) -> Result<AlarmSignal, IntakeError> {
    let (datapoint, threshold) = state
        .reason_data
        .as_deref()
        .map_or((None, None), read_reason_data);
    let metrics = data.configuration.get("metrics");
    Ok(AlarmSignal {
        datapoint: checked_backlog(&data.alarm_name, datapoint)?,
        threshold,
        metrics: metric_names(metrics),
        queue: checked_queue(&data.alarm_name, queue_from_metrics(metrics))?,
        account: None,
        region: None,
        alarm: data.alarm_name.clone(),
        state: value,
        time: Some(state.timestamp),
        shape,
    })
}

/// The newest of `recentDatapoints` and the `threshold` in an alarm state's reason data (a JSON
/// string), each where it has one.
pub(super) fn read_reason_data(reason_data: &str) -> (Option<f64>, Option<f64>) {
    let Ok(v) = serde_json::from_str::<Value>(reason_data) else {
        return (None, None);
    };
    let datapoint = v
        .get("recentDatapoints")
        .and_then(Value::as_array)
        .and_then(|d| d.last())
        .and_then(Value::as_f64);
    (datapoint, v.get("threshold").and_then(Value::as_f64))
}

/// The metric names of an alarm action's or EventBridge event's
/// `configuration.metrics[].metricStat.metric.name`.
fn metric_names(metrics: Option<&Value>) -> Vec<String> {
    metrics
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.pointer("/metricStat/metric/name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
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

/// The one name, when every name given is the same one.
pub(super) fn single<'a>(mut names: impl Iterator<Item = &'a str>) -> Option<String> {
    let first = names.next()?;
    if names.all(|n| n == first) {
        Some(first.to_owned())
    } else {
        None
    }
}

/// An SNS notification: an `SnsRecord` whose `Message` is the alarm.
fn parse_sns(event: &Value) -> Result<AlarmSignal, IntakeError> {
    let shape = EventShape::Sns;
    let record: SnsRecord = Deserialize::deserialize(one_sns_record(event)?)
        .map_err(|source| IntakeError::Json { shape, source })?;
    alarm_from_sns_message(&record.sns.message)
}

/// The one record of a `Records` event, read from the JSON before decoding: another service's
/// records (SQS, S3) are named as such, and a refusal names its field.
fn one_sns_record(event: &Value) -> Result<&Value, IntakeError> {
    let shape = EventShape::Sns;
    let records = event
        .get("Records")
        .and_then(Value::as_array)
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
        })?;
    if !message.is_string() {
        return Err(malformed(shape, "Records[0].Sns.Message is not a string"));
    }
    Ok(record)
}

/// The alarm in an SNS `Message`, read by hand. `aws_lambda_events`' `CloudWatchAlarmPayload`
/// does not fit what CloudWatch sends: its `AlarmDescription` is a `String`, and an alarm without
/// a description sends `null`; it also requires `AlarmArn`, `Trigger.TreatMissingData` and
/// `Trigger.EvaluateLowSampleCountPercentile`, which older notifications omit.
fn alarm_from_sns_message(message: &str) -> Result<AlarmSignal, IntakeError> {
    let shape = EventShape::Sns;
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
    let datapoint = message
        .get("NewStateReason")
        .and_then(Value::as_str)
        .and_then(datapoint_from_reason);
    let trigger = message.get("Trigger");
    let threshold = trigger
        .and_then(|t| t.get("Threshold"))
        .and_then(Value::as_f64);
    // `Trigger.MetricName` for one metric, `Trigger.Metrics[].MetricStat.Metric.MetricName` for
    // metric math.
    let metrics = trigger
        .and_then(|t| t.get("MetricName"))
        .and_then(Value::as_str)
        .into_iter()
        .chain(
            trigger
                .and_then(|t| t.get("Metrics"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|m| m.pointer("/MetricStat/Metric/MetricName"))
                .filter_map(Value::as_str),
        )
        .map(str::to_owned)
        .collect();
    let (arn_account, sns_region) =
        arn_account_region(message.get("AlarmArn").and_then(Value::as_str));
    let sns_account = arn_account.or_else(|| {
        message
            .get("AWSAccountId")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let time = message
        .get("StateChangeTime")
        .and_then(Value::as_str)
        .and_then(parse_time);
    Ok(AlarmSignal {
        datapoint: checked_backlog(&alarm, datapoint)?,
        threshold,
        metrics,
        queue: checked_queue(&alarm, trigger.and_then(queue_from_trigger))?,
        account: sns_account,
        region: sns_region,
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
pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
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
        assert_eq!(err.class(), crate::error::ErrorClass::NonRetryable);
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
        // A whole EventBridge event (the library's type decodes no less), with a negative datapoint.
        let mut ev: Value = serde_json::from_str(include_str!(
            "../../../../events/eventbridge-alarm-high-backlog.json"
        ))
        .unwrap();
        ev["detail"]["state"]["reasonData"] = "{\"recentDatapoints\":[-3.0]}".into();
        assert!(matches!(
            parse_event(&ev),
            Err(IntakeError::BadDatapoint { .. })
        ));
    }

    #[test]
    fn an_sns_alarm_without_a_description_is_read() {
        // CloudWatch sends `"AlarmDescription": null`, which the library's payload type refuses.
        let mut ev: Value = serde_json::from_str(include_str!(
            "../../../../events/sns-alarm-high-backlog.json"
        ))
        .unwrap();
        let message = ev["Records"][0]["Sns"]["Message"].as_str().unwrap();
        let mut message: Value = serde_json::from_str(message).unwrap();
        message["AlarmDescription"] = Value::Null;
        ev["Records"][0]["Sns"]["Message"] = message.to_string().into();
        let s = parse_event(&ev).unwrap();
        assert_eq!(
            (s.alarm.as_str(), s.datapoint),
            ("model-worker-backlog-high", Some(640.0))
        );
    }

    #[test]
    fn eventbridge_refusals_name_the_field() {
        let state_change = |detail: Value| {
            parse_event(&json!({"detail-type": "CloudWatch Alarm State Change", "detail": detail}))
                .unwrap_err()
                .to_string()
        };
        let missing = parse_event(&json!({"detail-type": "CloudWatch Alarm State Change"}));
        assert!(missing
            .unwrap_err()
            .to_string()
            .ends_with("detail is missing"));
        assert!(state_change(json!({})).contains("detail.alarmName is missing or empty"));
        for state in [json!({}), json!({"value": "BROKEN"})] {
            let err = state_change(json!({"alarmName": "a", "state": state}));
            assert!(
                err.contains("detail.state.value is missing or not OK"),
                "{err}"
            );
        }
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
