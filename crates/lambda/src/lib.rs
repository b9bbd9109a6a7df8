//! The two Lambda functions of queue-scaler share everything but their [`Direction`]. Following
//! one invocation:
//!
//! - [`invocation`]: the runtime loop ([`run`]) and [`Function::handle`], the one way in, for the
//!   binaries and every tool; then an alarm, from event to write: the target's queues read live
//!   (or the alarm's datapoint standing in when that read fails), the decision, the write and
//!   its Event, the re-arm. It runs over the narrow I/O traits ([`queue_scaler_io::ScaleApi`],
//!   [`queue_scaler_io::AlarmRearm`], [`queue_scaler_io::QueueDepth`]), so it runs against
//!   fakes in the crate's tests.
//! - [`function`]: what a function is made of and how it starts: the configuration, the
//!   clients built once, no network; a function whose configuration is invalid answers every
//!   invocation with why.
//! - `pool`: the pool gate: a raise on a shared GPU node pool capped by it and booked on its
//!   Lease.
//! - [`heartbeat`]: the scheduled event, acting on alarms left in ALARM and, for scale-up,
//!   reconciling each target with its live backlog.
//! - [`report`]: the JSON results; [`failure`]: why an invocation failed, typed, with its
//!   class; [`log_lines`]: the log lines in CloudWatch Embedded Metric Format, written once
//!   from either; `error_text`: how an error reads in any of them.
//! - [`doctor`]: `{"action": "doctor"}`, the read-only check of a deployment.
//! - [`identity`]: which function this is, and its own ARN.

#![deny(unreachable_pub)]

pub mod doctor;
mod error_text;
pub mod failure;
pub mod function;
pub mod heartbeat;
pub mod identity;
pub mod invocation;
pub mod log_lines;
mod placement;
mod pool;
pub mod report;

#[cfg(test)]
mod tests;

pub use failure::Failure;
pub use function::{context, Function};
pub use invocation::run;
pub use queue_scaler_core::Direction;
pub use report::{Rearm, Response};
