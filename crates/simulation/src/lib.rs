//! The whole re-arm loop, simulated: a queue with a scripted burst of messages, the CloudWatch
//! alarms that watch it, the heartbeat, and the real `scale-up` and `scale-down` handlers that
//! they invoke, period by period; with faults injected, to show the loop recovers.
//!
//! Pure (no I/O):
//! - [`model`]: the queue, the workers that drain it, the alarms and their evaluation, and the
//!   [`model::Scenario`] of a run, with its heartbeat schedule and faults.
//! - [`event`]: the alarm action's event for a change to ALARM, carrying the alarm's datapoints,
//!   and the heartbeat's scheduled event.
//! - [`faults`]: the fault scenarios.
//! - [`live_signal`]: the scenarios of the live signal, before and after it.
//! - [`pool`]: two models on one GPU pool, minute by minute, with capacity off and on: the
//!   functions' own decision and capacity rules around a model of the queues, the pods, the
//!   scheduler and the cluster autoscaler.
//! - [`timeline`]: what a run recorded, its CSV, its [`timeline::Summary`], and when a run with
//!   faults recovered ([`timeline::Recovery`]).
//! - [`chart`]: the SVG chart of runs side by side.
//! - [`run`]: the loop, over the narrow [`run::Environment`] trait.
//!
//! I/O, over the stand-ins of `queue_scaler_harness` (the local control plane, moto, the AWS
//! stand-in, the CloudWatch proxy):
//! - [`model_alarm`]: the model's alarms created in moto's CloudWatch.
//! - [`live`]: the environment of a real run: the functions as deployed, in-process.

pub mod chart;
pub mod event;
pub mod faults;
pub mod live;
pub mod live_signal;
pub mod model;
pub mod model_alarm;
pub mod pool;
pub mod run;
pub mod timeline;

use queue_scaler_core::Direction;
use std::path::PathBuf;

/// The workspace root (for `docs/`), as the crates were built from.
pub use queue_scaler_harness::workspace_root;

/// Why a simulated run could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A stand-in (local-gke, moto, the AWS stand-in, the CloudWatch proxy) did not start, or a
    /// call to it failed.
    #[error(transparent)]
    Harness(#[from] queue_scaler_harness::Error),
    /// The scenario lacks what a run needs.
    #[error("the scenario is incomplete: {detail}")]
    Scenario {
        /// What is missing.
        detail: String,
    },
    /// A function's configuration or start-up failed.
    #[error("the scale-{direction} function did not start: {message}")]
    Function {
        /// Which function.
        direction: Direction,
        /// Its failure, as it reports it.
        message: String,
    },
    /// An invocation returned an error.
    #[error("scale-{direction} failed in period {period}: {message}")]
    Invocation {
        /// Which function.
        direction: Direction,
        /// The period it ran in.
        period: usize,
        /// Its failure, as it reports it.
        message: String,
    },
    /// A chart could not be drawn.
    #[error("the chart could not be drawn: {detail}")]
    Chart {
        /// What went wrong, as plotters reports it.
        detail: String,
    },
    /// An output file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
