//! The benchmark harness of queue-scaler (`bench-harness`, run by `make bench`).
//!
//! It measures what the functions cost as whole processes, next to a floor (`hello`, a minimal
//! `lambda_runtime` function):
//!
//! - [`runtime_api`]: a minimal Lambda Runtime API on 127.0.0.1 that hands out events, times
//!   each invocation from event to result, and answers CloudWatch `SetAlarmState` (re-arm).
//! - [`function`]: one function process, spawned with the Lambda environment; its start-up time
//!   and its memory (`VmHWM` and `VmRSS` from `/proc`).
//! - [`scaler_env`]: the functions' configuration against the control plane (local-gke
//!   in-process, started by `queue_scaler_harness`, whose request log is counted by kind).
//! - [`breakdown`]: the phases of a cold invocation, timed in-process with the same I/O code.
//! - [`heartbeat`]: scale-up's heartbeat over 1,000 targets, in-process, against local-gke and
//!   the AWS stand-in, counting requests and the most in flight (`bench-heartbeat`).
//! - [`measure`]: the scenarios (start-up, cold and warm invocations, 1,000 warm invocations).
//! - [`sizes`], [`criterion_results`]: the release binaries and zips, and criterion's estimates.
//! - [`report`]: the Markdown numbers section of `BENCHMARKS.md`; [`stats`]: medians and spread.
//!
//! Everything here does I/O except [`stats`] and [`report`]. All traffic stays on 127.0.0.1.

#[cfg(feature = "harness")]
pub mod breakdown;
#[cfg(feature = "harness")]
pub mod criterion_results;
#[cfg(feature = "harness")]
pub mod function;
#[cfg(feature = "harness")]
pub mod heartbeat;
#[cfg(feature = "harness")]
pub mod measure;
#[cfg(feature = "harness")]
pub mod report;
#[cfg(feature = "harness")]
pub mod runtime_api;
#[cfg(feature = "harness")]
pub mod scaler_env;
#[cfg(feature = "harness")]
pub mod sizes;
#[cfg(feature = "harness")]
pub mod stats;

#[cfg(feature = "harness")]
pub use measure::{Plan, Results};

/// What went wrong while measuring. The harness stops at the first error.
#[cfg(feature = "harness")]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or process could not be read, written or started.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A stand-in (local-gke, the AWS stand-in) did not start, or a call to it failed.
    #[error(transparent)]
    Harness(#[from] queue_scaler_harness::Error),
    /// A function did not behave: it exited, timed out, or returned an error.
    #[error("{0}")]
    Function(String),
    /// The in-process breakdown's I/O failed.
    #[error("in-process breakdown: {0}")]
    Breakdown(String),
}

#[cfg(feature = "harness")]
impl Error {
    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}
