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
//! I/O:
//! - [`control_plane`]: the local control plane (`local-gke`), once per process.
//! - [`moto`]: `moto_server` as the CloudWatch API, and a SigV4-signed client for it.
//! - [`proxy`]: a CloudWatch endpoint for the functions that can refuse `SetAlarmState`.
//! - [`standin`]: SQS's `GetQueueUrl` and `GetQueueAttributes` (and `DescribeAlarms`) served from
//!   counts the caller sets, for the functions' live reads.
//! - [`live`]: the environment of a real run: the functions as deployed, in-process.

pub mod chart;
pub mod control_plane;
pub mod event;
pub mod faults;
pub mod live;
pub mod live_signal;
pub mod model;
pub mod moto;
pub mod pool;
pub mod proxy;
pub mod run;
pub mod standin;
pub mod timeline;

use queue_scaler_core::Direction;
use std::path::{Path, PathBuf};

/// The workspace root (for the project's `.venv` and `docs/`), as this crate was built from.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Why a simulated run could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `moto_server` is not installed where it was looked for.
    #[error("moto_server not found at {}: run `make venv` (or set MOTO_SERVER to its path)", path.display())]
    MotoMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// `moto_server` did not start or did not answer.
    #[error("moto_server did not start: {detail}")]
    MotoStart {
        /// What went wrong.
        detail: String,
    },
    /// A CloudWatch call to moto failed.
    #[error("CloudWatch {action} failed: {detail}")]
    CloudWatch {
        /// The API action.
        action: &'static str,
        /// Status and error code, or the transport error.
        detail: String,
    },
    /// A Secrets Manager call to moto failed.
    #[error("Secrets Manager {action} failed: {detail}")]
    SecretsManager {
        /// The API action.
        action: &'static str,
        /// Status and error code, or the transport error.
        detail: String,
    },
    /// An SQS call to moto failed.
    #[error("SQS {action} failed: {detail}")]
    Sqs {
        /// The API action.
        action: &'static str,
        /// Status and error code, or the transport error.
        detail: String,
    },
    /// An IAM call to moto failed.
    #[error("IAM {action} failed: {detail}")]
    Iam {
        /// The API action.
        action: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// An STS call to moto failed.
    #[error("STS AssumeRoleWithWebIdentity failed: {detail}")]
    Sts {
        /// What went wrong.
        detail: String,
    },
    /// The local control plane did not start, or its admin API failed.
    #[error("the local control plane failed: {detail}")]
    ControlPlane {
        /// What went wrong.
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
