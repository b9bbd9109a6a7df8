//! The live signal the rules decide from: the queues' counts, and the backlog, live or the
//! alarm's datapoint.

use serde::Serialize;
use std::fmt;

/// The live counts of one queue, or of a target's queues summed, as SQS reports them
/// (`GetQueueAttributes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// `ApproximateNumberOfMessages`: waiting to be received.
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible`: received by a worker, not yet deleted.
    pub in_flight: u64,
    /// `ApproximateNumberOfMessagesDelayed`: not yet deliverable; reported, not counted.
    pub delayed: u64,
}

impl QueueCounts {
    /// The backlog: visible plus in flight (KEDA's default), the same for both directions.
    pub fn backlog(self) -> u64 {
        self.visible.saturating_add(self.in_flight)
    }
}

impl std::ops::Add for QueueCounts {
    type Output = QueueCounts;
    fn add(self, other: QueueCounts) -> QueueCounts {
        QueueCounts {
            visible: self.visible.saturating_add(other.visible),
            in_flight: self.in_flight.saturating_add(other.in_flight),
            delayed: self.delayed.saturating_add(other.delayed),
        }
    }
}

/// The number a decision is made from, and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backlog {
    /// Visible plus in-flight messages of the target's queues, read at this decision.
    Live(u64),
    /// The live read failed (or there was no queue to read): the alarm's latest datapoint, when
    /// the alarm watches a count of messages and its event carried one. It is a minute or more
    /// old, so it is a trigger more than a measure.
    Alarm(Option<f64>),
}

impl Backlog {
    /// The number of messages, when one is known.
    pub fn messages(self) -> Option<f64> {
        match self {
            // Exact for any count SQS can report (below 2^53).
            Backlog::Live(n) => Some(n as f64),
            Backlog::Alarm(d) => d,
        }
    }

    /// `live` or `alarm`: the result's `source`.
    pub fn source(self) -> &'static str {
        match self {
            Backlog::Live(_) => "live",
            Backlog::Alarm(_) => "alarm",
        }
    }
}

impl fmt::Display for Backlog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backlog::Live(n) => write!(f, "live backlog {n}"),
            Backlog::Alarm(Some(d)) => write!(f, "alarm datapoint {d}"),
            Backlog::Alarm(None) => f.write_str("no backlog known"),
        }
    }
}
