//! The event CloudWatch sends a Lambda alarm action when an alarm of the model changes to ALARM,
//! shaped like `events/alarm-high-backlog.json` (one metric) and
//! `events/alarm-low-backlog-metric-math.json` (visible plus in flight), carrying the alarm's
//! window as `recentDatapoints`.
//!
//! Pure: no I/O.

use crate::model::{AlarmSpec, Metric};
use chrono::{DateTime, Duration, Utc};
use queue_scaler_core::AlarmState;
use queue_scaler_harness::events::ACCOUNT;
use serde_json::{json, Value};

/// CloudWatch's timestamps: `2026-11-28T13:05:10.514+0000`.
fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

/// What an alarm transition to ALARM looks like, as its alarm action receives it.
#[derive(Debug, Clone, Copy)]
pub struct Firing<'a> {
    /// The alarm.
    pub spec: &'a AlarmSpec,
    /// The state it left.
    pub previous: AlarmState,
    /// The datapoints it evaluated, oldest first; the last is the newest.
    pub window: &'a [f64],
    /// When it evaluated (the end of the newest datapoint's period).
    pub at: DateTime<Utc>,
    /// The alarm's period.
    pub period_seconds: u32,
    /// The queue its metrics name.
    pub queue: &'a str,
    /// The region it lives in.
    pub region: &'a str,
}

impl Firing<'_> {
    /// When the `i`th datapoint of the window (oldest first) starts.
    fn datapoint_start(&self, i: usize) -> DateTime<Utc> {
        let back = (self.window.len() - i) as i64 * i64::from(self.period_seconds);
        self.at - Duration::seconds(back)
    }

    /// The state reason CloudWatch writes, newest datapoint first.
    pub fn reason(&self) -> String {
        let listed: Vec<String> = self
            .window
            .iter()
            .enumerate()
            .rev()
            .map(|(i, v)| {
                format!(
                    "{v:.1} ({})",
                    self.datapoint_start(i).format("%d/%m/%y %H:%M:%S")
                )
            })
            .collect();
        let n = self.window.len();
        let breaching = self
            .window
            .iter()
            .filter(|v| self.spec.breaches(**v))
            .count();
        format!(
            "Threshold Crossed: {breaching} out of the last {n} datapoints [{}] was {} the threshold ({:.1}) \
             (minimum {} datapoints for OK -> ALARM transition).",
            listed.join(", "),
            self.spec.comparison.words(),
            self.spec.threshold,
            self.spec.datapoints_to_alarm,
        )
    }

    /// The alarm's `StateReasonData`, as CloudWatch records it with the state and as the
    /// heartbeat reads it back with `DescribeAlarms`: JSON, the window as `recentDatapoints`.
    pub fn reason_data(&self) -> Value {
        let newest = self.window.last().copied().unwrap_or_default();
        let start = self.datapoint_start(0);
        let newest_start = self.datapoint_start(self.window.len().saturating_sub(1));
        let mut reason_data = json!({
            "version": "1.0",
            "queryDate": timestamp(self.at),
            "startDate": timestamp(start),
            "period": self.period_seconds,
            "recentDatapoints": self.window,
            "threshold": self.spec.threshold,
            "evaluatedDatapoints": [{
                "timestamp": timestamp(newest_start),
                "sampleCount": 1.0,
                "value": newest,
            }],
        });
        if self.spec.metric == Metric::Visible {
            reason_data["statistic"] = "Maximum".into();
        }
        reason_data
    }

    /// The Lambda alarm action's event.
    pub fn event(&self) -> Value {
        let reason_data = self.reason_data();
        let sqs_metric = |id: &str, name: &str, return_data: bool| {
            json!({
                "id": id,
                "metricStat": {
                    "metric": {
                        "namespace": "AWS/SQS",
                        "name": name,
                        "dimensions": {"QueueName": self.queue},
                    },
                    "period": self.period_seconds,
                    "stat": "Maximum",
                },
                "returnData": return_data,
            })
        };
        let (description, metrics) = match self.spec.metric {
            Metric::Visible => (
                format!(
                    "More than {} messages wait in {}: scale-up",
                    self.spec.threshold, self.queue
                ),
                vec![sqs_metric("m1", "ApproximateNumberOfMessagesVisible", true)],
            ),
            Metric::VisiblePlusInFlight => (
                format!(
                    "Visible plus in-flight messages in {} below {}: scale-down",
                    self.queue, self.spec.threshold
                ),
                vec![
                    json!({
                        "id": "backlog",
                        "expression": "visible + inflight",
                        "label": "Visible plus in-flight messages",
                        "returnData": true,
                    }),
                    sqs_metric("visible", "ApproximateNumberOfMessagesVisible", false),
                    sqs_metric("inflight", "ApproximateNumberOfMessagesNotVisible", false),
                ],
            ),
        };
        json!({
            "source": "aws.cloudwatch",
            "alarmArn": format!("arn:aws:cloudwatch:{}:{ACCOUNT}:alarm:{}", self.region, self.spec.name),
            "accountId": ACCOUNT,
            "time": timestamp(self.at),
            "region": self.region,
            "alarmData": {
                "alarmName": self.spec.name,
                "state": {
                    "value": "ALARM",
                    "reason": self.reason(),
                    "timestamp": timestamp(self.at),
                    "reasonData": reason_data.to_string(),
                },
                "previousState": {
                    "value": self.previous.to_string(),
                    "reason": "Set by the previous evaluation or by SetAlarmState (re-arm).",
                    "timestamp": timestamp(self.at - Duration::seconds(i64::from(self.period_seconds))),
                },
                "configuration": {
                    "description": description,
                    "metrics": metrics,
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Scenario;
    use queue_scaler_core::alarm::parse_event;
    use queue_scaler_core::EventShape;

    fn firing<'a>(spec: &'a AlarmSpec, window: &'a [f64], scenario: &'a Scenario) -> Firing<'a> {
        Firing {
            spec,
            previous: AlarmState::Ok,
            window,
            at: scenario.period_end(5),
            period_seconds: scenario.period_seconds,
            queue: &scenario.queue,
            region: "eu-west-1",
        }
    }

    #[test]
    fn a_scale_up_firing_parses_to_its_alarm_queue_and_newest_datapoint() {
        let scenario = Scenario::backlog_burst();
        let window = [180.0, 640.0];
        let event = firing(&scenario.scale_up, &window, &scenario).event();
        let signal = parse_event(&event).unwrap();
        assert_eq!(signal.alarm, "model-worker-backlog-high");
        assert_eq!(signal.state, AlarmState::Alarm);
        assert_eq!(signal.datapoint, Some(640.0));
        assert_eq!(signal.queue.as_deref(), Some("model-jobs"));
        assert_eq!(signal.shape, EventShape::AlarmAction);
    }

    #[test]
    fn a_scale_down_firing_is_metric_math_and_parses_to_its_newest_datapoint() {
        let scenario = Scenario::backlog_burst();
        let window = [8.0, 5.0, 3.0];
        let event = firing(&scenario.scale_down, &window, &scenario).event();
        assert_eq!(
            event["alarmData"]["configuration"]["metrics"][0]["expression"],
            "visible + inflight"
        );
        let signal = parse_event(&event).unwrap();
        assert_eq!(signal.alarm, "model-worker-backlog-low");
        assert_eq!(signal.datapoint, Some(3.0));
        assert_eq!(signal.queue.as_deref(), Some("model-jobs"));
    }

    #[test]
    fn the_reason_data_carries_the_window_as_recent_datapoints() {
        let scenario = Scenario::backlog_burst();
        let window = [180.0, 640.0];
        let data = firing(&scenario.scale_up, &window, &scenario).reason_data();
        assert_eq!(data["recentDatapoints"], json!([180.0, 640.0]));
        assert_eq!(data["statistic"], "Maximum");
    }

    #[test]
    fn the_reason_lists_the_newest_datapoint_first_with_its_minute() {
        let scenario = Scenario::backlog_burst();
        let window = [180.0, 640.0];
        let reason = firing(&scenario.scale_up, &window, &scenario).reason();
        assert_eq!(
            reason,
            "Threshold Crossed: 2 out of the last 2 datapoints [640.0 (28/11/26 13:05:00), \
             180.0 (28/11/26 13:04:00)] was greater than the threshold (100.0) \
             (minimum 2 datapoints for OK -> ALARM transition)."
        );
    }
}
