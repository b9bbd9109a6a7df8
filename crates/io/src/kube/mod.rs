//! The cluster: GKE's API for its endpoint and CA, and the Kubernetes API behind it.
//!
//! - [`cluster`]: the endpoint and CA, given or discovered through the GKE API, and the HTTPS
//!   client that trusts only that CA.
//! - `deployment`: the Deployment as the scaler reads it: its scale, and what the scale does
//!   not say ([`DeploymentFacts`]: readiness, pause annotations, GPUs, the last write's time).
//! - [`scale`]: the Kubernetes `deployments/{name}/scale` subresource ([`ScaleApi`]); requests are
//!   built as plain values first.
//! - [`probe`]: the doctor's read-only questions ([`ClusterProbe`]): who the cluster sees,
//!   what it allows, where a Deployment's pods may run, the node pools' taints.
//! - `object`: the values read and written: the `Scale`, and [`DeploymentFacts`].
//! - [`node_pool`]: a GKE node pool as `clusters.get` tells it: its size, labels and taints.
//! - [`lease`]: the Lease that serialises raises on a shared GPU pool, built as plain values.
//! - `event`: the Event (`events.k8s.io/v1`) that records a write on its Deployment, built as a
//!   plain value; [`ScaleApi::record`] sends it.

pub mod cluster;
mod deployment;
mod event;
#[cfg(test)]
mod fixtures;
pub mod lease;
pub mod node_pool;
mod object;
pub mod probe;
pub mod scale;

pub use event::ScaleEvent;
pub use lease::Lease;
pub use object::DeploymentFacts;
pub use probe::{ClusterProbe, Probed};
pub use scale::{KubeScaleApi, Scale, ScaleApi};
