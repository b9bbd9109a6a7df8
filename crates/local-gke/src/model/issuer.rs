//! The cluster issuer's documents the GKE API publishes (`getOpenid-configuration`, `getJwks`):
//! whatever the cluster's API server signs its service-account tokens with, handed over whole.
//! Google's reference says they are not available for every cluster: local-gke publishes none
//! until told to.

use serde_json::Value;

/// The discovery document and the key set, as the cluster's API server serves them.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuerDocuments {
    /// `/.well-known/openid-configuration`: its `issuer` and `jwks_uri`.
    pub discovery: Value,
    /// The JWKS its `jwks_uri` names.
    pub jwks: Value,
}
