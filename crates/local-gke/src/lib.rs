//! local-gke: a local stand-in for the parts of Google Cloud that queue-scaler talks to.
//!
//! It serves, over real TLS on 127.0.0.1:
//!
//! - on the "google" listener: the OAuth2 token endpoint (JWT-bearer grant for one service
//!   account), the GKE API's `clusters.get` (with the cluster's node pools), a Kubernetes
//!   TokenReview webhook (so a real kube-apiserver can authenticate the tokens it issues),
//!   keyless access through Workload
//!   Identity Federation (Google STS's token exchange for a signed AWS `GetCallerIdentity`
//!   request, and IAM Credentials' `generateAccessToken`) and an admin API for tests;
//! - on the "cluster" listener: the Kubernetes `deployments/scale` subresource, with bearer
//!   authentication, per-deployment grants and optimistic concurrency, answering with the same
//!   bodies and `Status` errors as a real kube-apiserver; a read of the Deployment itself (its
//!   pod template's tolerations and node selector), for a grant that allows it; and
//!   `SelfSubjectAccessReview` and
//!   `SelfSubjectReview`, which tell a caller what those grants allow it and who it is.
//!
//! The binary (`local-gke`) writes a service-account key file and an `env` file that point the
//! scaler at it. Tests start it in-process with [`LocalGke::start`], and set its state and inject
//! faults through the admin API with `AdminClient` (feature `admin-client`).
//!
//! Modules, from the outside in: `server` binds, serves and wires the handlers to the shared
//! `app` state; the google listener's handlers are `google` (token endpoint, `clusters.get`,
//! TokenReview), `federation` (keyless access: `sts`, `sigv4`) and `admin`; the cluster
//! listener's are `kube` (routing), `scale`, `deployment`, `event`, `review`, with their errors in `status` and
//! Google's in `google_error`. No handler module imports another's caller (README: Code layout).

mod admin;
pub mod admin_api;
#[cfg(feature = "admin-client")]
mod admin_client;
mod app;
mod assertion;
mod aws_verify;
pub mod cli;
pub mod config;
mod deployment;
mod error;
mod event;
mod federation;
mod google;
mod google_error;
mod http;
mod kube;
pub mod node_pool;
mod paths;
mod rbac;
mod request_info;
mod request_log;
mod review;
mod scale;
mod server;
mod service_account;
mod sigv4;
mod state;
mod state_dir;
mod status;
mod sts;
mod tls;

#[cfg(feature = "admin-client")]
pub use admin_client::{AdminClient, AdminError};
pub use config::{
    aws_role_of, AwsIdentity, Config, DeploymentSeed, ExternalCluster, Grant, WorkloadIdentity,
};
pub use error::Error;
pub use node_pool::{
    AcceleratorConfig, NodeConfig, NodePool, NodePoolAutoscaling, NodeTaint, TaintEffect,
};
pub use paths::{deployment_path, scale_path};
pub use server::LocalGke;
pub use service_account::{ServiceAccount, CLOUD_PLATFORM_SCOPE, USERINFO_EMAIL_SCOPE};
