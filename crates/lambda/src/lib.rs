//! The two Lambda functions of queue-scaler share everything but their [`Direction`]. Following
//! one invocation:
//!
//! - `invocation`: the runtime loop ([`run`]) and [`Function::handle`], the one way in, for the
//!   binaries and every tool: the deadline set, the event read once, and handed to the scaler
//!   (or the doctor).
//! - `function`: what a function is made of and how it starts: the configuration, the clients
//!   built once, no network; a function whose configuration is invalid answers every invocation
//!   with why.
//! - `scaler/`: the scaler a running function holds, its one way in (`Scaler::invoke`, which
//!   the function and the crate's tests call), and one file per job: an alarm from signal to
//!   result (`alarm.rs`), the live read of a target's queues (`live.rs`), reading, deciding and
//!   writing the scale (`scale.rs`), the Event that records a write (`event.rs`), the heartbeat
//!   (`heartbeat.rs`), the pool gate (`pool.rs`) and where the targets' GPU pools are
//!   (`placement.rs`). It runs over the narrow I/O traits ([`queue_scaler_io::ScaleApi`],
//!   [`queue_scaler_io::AlarmRearm`], [`queue_scaler_io::QueueDepth`]), so it runs against
//!   fakes in the crate's tests.
//! - [`report`]: the JSON results (output only); `failure`: why an invocation failed, typed,
//!   with its class ([`Failure`]); [`log_lines`]: the log lines in CloudWatch Embedded Metric
//!   Format, written once from either; `error_text`: how an error reads in any of them.
//! - `doctor`: `{"action": "doctor"}`, the read-only check of a deployment, on the deployed
//!   scaler's clients.
//! - `identity`: which function this is, and its own ARN.
//!
//! Public only what another crate uses: the binaries, the bench, the simulation and the
//! end-to-end tests start a [`Function`] and read its [`Response`].

#![deny(unreachable_pub)]

mod doctor;
mod error_text;
mod failure;
mod function;
mod identity;
mod invocation;
pub mod log_lines;
pub mod report;
mod scaler;

#[cfg(test)]
mod tests;

pub use failure::Failure;
pub use function::{context, Function};
pub use invocation::run;
pub use queue_scaler_core::Direction;
pub use report::{Rearm, Response};
