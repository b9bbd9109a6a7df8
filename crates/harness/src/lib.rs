//! The stand-ins the tooling runs queue-scaler against, each started one way, for the
//! end-to-end tests (`tests/`), the benchmarks (`crates/bench`) and the simulation
//! (`crates/simulation`) alike. It holds no model of a queue or of a cluster's workload: only
//! the servers, and clients for what the tools set and read in them.
//!
//! - [`control_plane`]: local-gke (Google's token endpoint, the GKE API and a Kubernetes API,
//!   over TLS) in-process: per test, or once per process; its state directory, the variables
//!   that point a function at it, and its admin API.
//! - [`moto`]: `moto_server` as the AWS API (CloudWatch, SQS, Secrets Manager, IAM, STS), and
//!   signed clients for it.
//! - [`standin`]: SQS's and CloudWatch's reads served from counts the caller sets, for the
//!   functions' live reads and the heartbeat.
//! - [`proxy`]: a CloudWatch endpoint in front of moto that can refuse `SetAlarmState`.
//! - [`events`]: the account and region the stand-ins answer for, a function's ARN, and the
//!   heartbeat's scheduled event.
//!
//! Does I/O: threads, processes, listeners on 127.0.0.1, files.

#![deny(unreachable_pub)]

pub mod control_plane;
pub mod events;
pub mod moto;
pub mod proxy;
pub mod standin;

pub use control_plane::ControlPlane;

use std::path::{Path, PathBuf};

/// The workspace root (for the project's `.venv`), as this crate was built from.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Why a stand-in did not start, or a call to it failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `moto_server` is not installed where it was looked for.
    #[error("moto_server not found at {}: run `make venv` (or set MOTO_SERVER to its path)", path.display())]
    MotoMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// `moto_server` (or a listener in front of it) did not start or did not answer.
    #[error("moto_server did not start: {detail}")]
    MotoStart {
        /// What went wrong.
        detail: String,
    },
    /// A CloudWatch call failed.
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
        /// What went wrong, with its causes.
        detail: String,
    },
}
