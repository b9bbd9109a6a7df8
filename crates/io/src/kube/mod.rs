//! The cluster: GKE's API for its endpoint and CA, and the Kubernetes API behind it.
//!
//! - [`cluster`]: the endpoint and CA, given or discovered through the GKE API, and the HTTPS
//!   client that trusts only that CA.
//! - [`scale`]: the Kubernetes `deployments/{name}/scale` subresource ([`ScaleApi`]); requests are
//!   built as plain values first.

pub mod cluster;
pub mod scale;

pub use scale::{KubeScaleApi, Scale, ScaleApi};
