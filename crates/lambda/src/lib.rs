//! The two Lambda functions of queue-scaler share everything but their [`Direction`]. Following
//! one invocation:
//!
//! - [`function`]: start-up (configuration, clients built once, no network), the runtime loop,
//!   and [`Function::handle`], the one way in, for the binaries and every tool; a function whose
//!   configuration is invalid answers every invocation with why.
//! - [`scaler`]: an alarm, from event to write, over the narrow I/O traits
//!   ([`queue_scaler_io::ScaleApi`], [`queue_scaler_io::AlarmRearm`],
//!   [`queue_scaler_io::QueueDepth`]), so it runs against fakes in tests; and the log lines,
//!   written once from the result.
//! - `backlog`: what a decision sees, the target's queues read live, or the alarm's datapoint
//!   standing in when that read fails.
//! - [`heartbeat`]: the scheduled event, acting on alarms left in ALARM and, for scale-up,
//!   reconciling each target with its live backlog.
//! - [`report`]: the JSON results and, in [`report::lines`], the log lines in CloudWatch Embedded
//!   Metric Format; [`failure`]: why an invocation failed, typed, with its class.
//! - [`doctor`]: `{"action": "doctor"}`, the read-only check of a deployment.
//! - [`identity`]: which function this is, and its own ARN.

mod backlog;
pub mod doctor;
pub mod failure;
pub mod function;
pub mod heartbeat;
pub mod identity;
pub mod report;
pub mod scaler;

pub use failure::Failure;
pub use function::{context, run, Function};
pub use queue_scaler_core::Direction;
pub use report::{Rearm, Response};
pub use scaler::{Call, DeployedScaler, Scaler};
