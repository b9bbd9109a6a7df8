//! local-gke: a local stand-in for the parts of Google Cloud that queue-scaler talks to.
//!
//! It serves, over real TLS on 127.0.0.1:
//!
//! - on the "google" listener: the OAuth2 token endpoint (JWT-bearer grant for one service
//!   account), the GKE API's `clusters.get` (with the cluster's node pools), a Kubernetes
//!   TokenReview webhook (so a real kube-apiserver can authenticate the tokens it issues),
//!   keyless access through Workload
//!   Identity Federation (Google STS's token exchange for a signed AWS `GetCallerIdentity`
//!   request, and IAM Credentials' `generateAccessToken`), the GKE metadata server's identity
//!   endpoint (a Google-signed ID token of the Google service account a pod's Kubernetes service
//!   account acts as) with `accounts.google.com`'s discovery document and Google's keys, and an
//!   admin API for tests;
//! - on the "cluster" listener: the Kubernetes `deployments/scale` subresource, with bearer
//!   authentication, per-deployment grants and optimistic concurrency, answering with the same
//!   bodies and `Status` errors as a real kube-apiserver; a read of the Deployment itself (its
//!   pod template's tolerations and node selector), for a grant that allows it; `GET` and `PUT`
//!   of `coordination.k8s.io/v1` Leases, with per-Lease grants and kube-apiserver's compare and
//!   swap on the resource version; and `SelfSubjectAccessReview` and
//!   `SelfSubjectReview`, which tell a caller what those grants allow it and who it is.
//!
//! The binary (`local-gke`) writes a service-account key file and an `env` file that point the
//! scaler at it. Tests start it in-process with [`LocalGke::start`], and set its state and inject
//! faults through the admin API with `AdminClient` (feature `admin-client`).
//!
//! The tree shows the layers, each importing only those below it:
//!
//! - at the top, what runs it: `main` and `cli` (the binary), `config` and `error`, `server`
//!   (binds both listeners, serves each connection, applies injected faults, routes each request
//!   to the handlers of what it is for, records it), `state_dir` and `tls`;
//! - the handlers, one folder per thing served: `google/` (the token endpoint, `clusters.get`,
//!   TokenReview; Google's error shape), `federation/` (keyless access: STS's exchange, what AWS
//!   checks of the signed request, SigV4, impersonation), `id_token/` (Google ID tokens: the
//!   metadata server's identity endpoint, Google's discovery document and keys), `kube/` (the cluster listener: the scale
//!   subresource, the Deployment, Leases, Events, the self reviews, kube's `Status`) and `admin/`
//!   (the admin API: its handlers, its public bodies, `AdminClient`). A handler folder imports no
//!   other, except `federation/` answering with `google/`'s error shape;
//! - what every handler shares: `app` (configuration, service account, state), `state/` (the
//!   in-memory state, one part per file, each behind its own lock: `credentials` (tokens issued,
//!   AWS identities, workload identity users), `authorization` (grants and RBAC's decision),
//!   `cluster` (Deployments, Leases, Events, their resource versions, node pools, the issuer's
//!   documents), `instruments` (faults and the request log); `mod.rs` holds the shared handle
//!   and the order parts are locked in), the `service_account`, `id_token_key` (Google's ID-token
//!   signing key), `http` and `paths`;
//! - at the bottom, `model/`: the plain data the state holds and the admin API carries (grants and
//!   RBAC's rules, Leases and their compare and swap, node pools, pod scheduling, faults, the
//!   request log), which imports nothing else of the crate.

pub mod admin;
mod app;
pub mod cli;
pub mod config;
mod error;
mod federation;
mod google;
mod http;
mod id_token;
mod id_token_key;
mod kube;
mod model;
mod paths;
mod server;
mod service_account;
mod state;
mod state_dir;
mod tls;

#[cfg(feature = "admin-client")]
pub use admin::{AdminClient, AdminError};
pub use config::{
    aws_role_of, AwsIdentity, Config, DeploymentSeed, ExternalCluster, Grant, LeaseGrant,
    LeaseSeed, WorkloadIdentity,
};
pub use error::Error;
pub use model::issuer::IssuerDocuments;
pub use model::node_pool::{
    AcceleratorConfig, InvalidNodePools, NodeConfig, NodePool, NodePoolAutoscaling, NodeTaint,
    TaintEffect,
};
pub use model::pod_identity::{PodIdentity, ServiceAccountBinding, POD_ADDRESS_HEADER};
pub use paths::{deployment_path, lease_path, scale_path};
pub use server::LocalGke;
pub use service_account::{ServiceAccount, CLOUD_PLATFORM_SCOPE, USERINFO_EMAIL_SCOPE};
