//! The alarms the heartbeat reads with `DescribeAlarms`: which of them invoke this function, and
//! the signal each stands for.

use super::event::{
    checked_backlog, checked_queue, malformed, parse_time, read_reason_data, single,
};
use super::signal::{AlarmSignal, AlarmState, EventShape, IntakeError};

/// An alarm as `DescribeAlarms` reports it, the fields the heartbeat needs.
#[derive(Debug, Clone, PartialEq)]
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
    /// `Threshold`.
    pub threshold: Option<f64>,
    /// `MetricName`, or each `Metrics[].MetricStat.Metric.MetricName` of a metric-math alarm.
    pub metrics: Vec<String>,
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
            threshold: None,
            metrics: Vec::new(),
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
    let (datapoint, reason_threshold) = alarm
        .state_reason_data
        .as_deref()
        .map_or((None, None), read_reason_data);
    Ok(AlarmSignal {
        datapoint: checked_backlog(&alarm.name, datapoint)?,
        threshold: alarm.threshold.or(reason_threshold),
        metrics: alarm.metrics.clone(),
        queue: checked_queue(&alarm.name, single(alarm.queues.iter().map(String::as_str)))?,
        // DescribeAlarms reads this function's own account and region.
        account: None,
        region: None,
        alarm: alarm.name.clone(),
        state,
        time: alarm.state_updated.as_deref().and_then(parse_time),
        shape,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            threshold: None,
            metrics: vec!["ApproximateAgeOfOldestMessage".into()],
        };
        let s = signal_from_described(&alarm).unwrap();
        assert_eq!(
            (s.state, s.datapoint, s.queue.as_deref()),
            (AlarmState::Alarm, Some(640.0), Some("jobs"))
        );
        // The threshold falls back to the reason data's; an age alarm counts no messages.
        assert_eq!(s.threshold, Some(100.0));
        assert!(!s.counts_messages());
        assert_eq!((s.message_datapoint(), s.message_threshold()), (None, None));
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
}
