//! The scaling rules of docs/design.md: the [`Target`] an alarm scales, and how many replicas,
//! as one pure function, [`decide`], and the [`Policy`] it follows.
//!
//! No I/O: the caller reads the live backlog from the queues and the current replica count from
//! the cluster, and writes the result back.
//!
//! - `rules`: the [`Target`] an alarm scales ([`Routes`]), the [`Policy`], the [`Direction`],
//!   and the rules themselves: [`decide`] for an alarm, [`decide_wake`] for a wake alarm,
//!   [`decide_reconcile`] for the heartbeat.
//! - `signal`: what the rules decide from: the [`QueueCounts`] read from SQS, and the
//!   [`Backlog`], live or the alarm's datapoint.

#[cfg(test)]
mod routing_tests;
mod rules;
mod signal;
#[cfg(test)]
mod tests;

pub use rules::{
    decide, decide_reconcile, decide_wake, queue_name, Decision, Direction, Policy, Route,
    RouteError, Routes, Target,
};
pub use signal::{Backlog, QueueCounts};
