//! The scaling rules of docs/design.md as one pure function, [`decide`], and the [`Policy`] it follows.
//!
//! No I/O: the caller reads the live backlog from the queues and the current replica count from
//! the cluster, and writes the result back.
//!
//! - `rules`: the [`Policy`], the [`Direction`], and the rules themselves: [`decide`] for an
//!   alarm, [`decide_wake`] for a wake alarm, [`decide_reconcile`] for the heartbeat.
//! - `signal`: what the rules decide from: the [`QueueCounts`] read from SQS, and the
//!   [`Backlog`], live or the alarm's datapoint.

mod rules;
mod signal;
#[cfg(test)]
mod tests;

pub use rules::{decide, decide_reconcile, decide_wake, Decision, Direction, Policy};
pub use signal::{Backlog, QueueCounts};
