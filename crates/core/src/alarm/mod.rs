//! Alarm intake: the three event shapes a CloudWatch alarm can reach a Lambda function in, turned
//! into one [`AlarmSignal`].
//!
//! 1. The direct alarm action (`source: aws.cloudwatch`, `alarmData`), parsed with
//!    `aws_lambda_events`' CloudWatch alarm types. The backlog is the last of `recentDatapoints`
//!    inside `state.reasonData`, a JSON *string*.
//! 2. An SNS notification (`aws_lambda_events`' `SnsRecord`) whose `Message` is the alarm as a
//!    JSON string, read by hand; the backlog is read from `NewStateReason` where it can be.
//! 3. An EventBridge `CloudWatch Alarm State Change` event (`aws_lambda_events`'
//!    `EventBridgeEvent`), whose `detail` is the alarm action's `alarmData`.
//!
//! Besides alarms, a function takes the heartbeat, an EventBridge `Scheduled Event`
//! ([`Invocation::Heartbeat`]): it reads its alarms with `DescribeAlarms` and acts on those in
//! ALARM, through [`signal_from_described`].
//!
//! `signal` holds the model (the signal, the state, the shapes, the refusal); `event` parses the
//! events, and `described` reads the alarms the heartbeat gets from `DescribeAlarms`.
//!
//! Pure: no I/O.

mod described;
mod event;
mod signal;

pub use described::{signal_from_described, DescribedAlarm};
pub use event::{parse_event, parse_event_bytes, parse_invocation};
pub use signal::{AlarmSignal, AlarmState, EventShape, IntakeError, Invocation};
