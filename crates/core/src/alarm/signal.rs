//! The model of alarm intake: the [`AlarmSignal`] every shape becomes, the [`AlarmState`], the
//! [`EventShape`] it came in, the [`Invocation`] an event asks for, and the [`IntakeError`] that
//! refuses one.

use crate::error::ErrorClass;
use chrono::{DateTime, Utc};
use serde::Serialize;
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
    pub(super) fn parse(value: &str) -> Option<Self> {
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
    /// The latest datapoint the alarm evaluated, when the event carries one. A minute or more
    /// old, and a count of messages only when [`AlarmSignal::counts_messages`].
    pub datapoint: Option<f64>,
    /// The alarm's threshold, when the event says.
    pub threshold: Option<f64>,
    /// The names of the metrics the alarm watches (one, or each of a metric-math alarm's), when
    /// the event says.
    pub metrics: Vec<String>,
    /// The SQS queue named by the alarm metric's `QueueName` dimension, when exactly one is named.
    /// Always a queue name (checked at intake), never an address: it is read in the function's
    /// own account and region.
    pub queue: Option<String>,
    /// The AWS account the alarm belongs to, when the event says (its ARN, or the shape's own
    /// account field).
    pub account: Option<String>,
    /// The AWS region the alarm lives in, when the event says.
    pub region: Option<String>,
    /// When the state changed, when the event says.
    pub time: Option<DateTime<Utc>>,
    /// The wiring that delivered the event.
    pub shape: EventShape,
}

/// SQS's metrics that count messages: an alarm on these (or on math over them) has a datapoint
/// and a threshold in messages. Any other metric (`ApproximateAgeOfOldestMessage`, in seconds,
/// or a custom latency) only triggers.
pub(crate) const MESSAGE_COUNT_METRICS: [&str; 3] = [
    "ApproximateNumberOfMessagesVisible",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
];

impl AlarmSignal {
    /// Whether the alarm watches a count of the queue's messages: every metric it names is one
    /// of `MESSAGE_COUNT_METRICS`. An event that names no metric is taken at its word, as
    /// before metric names were read.
    pub fn counts_messages(&self) -> bool {
        self.metrics
            .iter()
            .all(|m| MESSAGE_COUNT_METRICS.contains(&m.as_str()))
    }

    /// The datapoint, when it is a count of messages: what the rules may fall back on.
    pub fn message_datapoint(&self) -> Option<f64> {
        self.datapoint.filter(|_| self.counts_messages())
    }

    /// Why the alarm is not this function's, when its event names an account or region other
    /// than `own_account` / `own_region` (each compared only where both sides are known): the
    /// event's and the function's, as the error says them.
    pub fn foreign(
        &self,
        own_account: Option<&str>,
        own_region: Option<&str>,
    ) -> Option<(String, String)> {
        let differs = |found: Option<&str>, own: Option<&str>| matches!((found, own), (Some(f), Some(o)) if f != o);
        let account_differs = differs(self.account.as_deref(), own_account);
        let region_differs = differs(self.region.as_deref(), own_region);
        (account_differs || region_differs).then(|| {
            let say = |a: Option<&str>, r: Option<&str>| {
                format!("account {} in {}", a.unwrap_or("?"), r.unwrap_or("?"))
            };
            (
                say(self.account.as_deref(), self.region.as_deref()),
                say(own_account, own_region),
            )
        })
    }

    /// The threshold, when it is a count of messages: what step mode compares the live backlog
    /// with.
    pub fn message_threshold(&self) -> Option<f64> {
        self.threshold.filter(|_| self.counts_messages())
    }
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
    /// The alarm's `QueueName` dimension is not an SQS queue name: an event names a queue, never
    /// an address, and nothing is sent for it.
    #[error(
        "alarm {alarm:?} names queue {value:?}, which is not an SQS queue name (1 to 80 letters, digits, '-' or '_', optionally ending in .fifo); an event's queue is a name in this account and region, never a URL: nothing was read or written"
    )]
    QueueNotName {
        /// The alarm.
        alarm: String,
        /// The value its event gave.
        value: String,
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

impl IntakeError {
    /// Always [`ErrorClass::NonRetryable`]: the same event is refused the same way again.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::NonRetryable
    }
}
