//! The scaling rules of docs/design.md: the [`Target`] an alarm scales, and how many replicas,
//! as one pure function, [`decide`], and the [`Policy`] it follows.
//!
//! No I/O: the caller reads the live backlog from the queues and the current replica count from
//! the cluster, and writes the result back.
//!
//! - `routing`: the [`Target`] an alarm scales ([`Routes`]);
//! - `scaling`: the [`Policy`] a target follows and the [`Direction`] of the function;
//! - `decide`: the rules themselves: [`decide`] for an alarm, [`decide_wake`] for a wake alarm,
//!   [`decide_reconcile`] for the heartbeat.
//! - `backlog`: what the rules decide from: the [`QueueCounts`] read from SQS, and the
//!   [`Backlog`], live or the alarm's datapoint.

mod backlog;
mod decide;
mod routing;
#[cfg(test)]
mod routing_tests;
mod scaling;
#[cfg(test)]
mod tests;

pub use backlog::{Backlog, QueueCounts};
pub use decide::{decide, decide_reconcile, decide_wake, Decision};
pub(crate) use routing::queue_name;
pub use routing::{Route, RouteError, Routes, Target};
pub use scaling::{Direction, Policy};
