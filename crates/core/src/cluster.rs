//! The cluster queue-scaler scales on: where its HTTPS endpoint and CA come from
//! ([`ClusterSource`]: the GKE cluster's path, read through the GKE API, or given directly), and
//! the checked [`Endpoint`] itself. Configuration builds a [`ClusterSource`]; `queue-scaler-io`
//! discovers the endpoint through the GKE API and connects to it.
//!
//! Pure: no I/O.

use base64::Engine as _;

/// The default base URL of the GKE API.
pub const DEFAULT_GKE_API_URL: &str = "https://container.googleapis.com";

/// Where the cluster's HTTPS endpoint and CA come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterSource {
    /// Read both from the GKE API's `clusters.get`, once per container.
    Discover {
        /// `projects/P/locations/L/clusters/C`.
        cluster: String,
        /// Base URL of the GKE API.
        api_url: String,
    },
    /// Given directly.
    Direct(Endpoint),
}

/// A cluster endpoint, checked: HTTPS, no path, and a CA wherever the host is an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://host[:port]`, without a trailing slash.
    pub url: String,
    /// The cluster CA in PEM. When present it is the only trusted root.
    pub ca_pem: Option<String>,
}

impl Endpoint {
    /// Check an endpoint as GKE or a user gives it: `https://host[:port]`, or a bare `host[:port]`
    /// (GKE's `endpoint` field is a bare IP). `ca` is PEM or base64 of PEM, as GKE returns it.
    pub fn parse(endpoint: &str, ca: Option<&str>) -> Result<Self, String> {
        let raw = endpoint.trim();
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("https://{raw}")
        };
        let url =
            url::Url::parse(&with_scheme).map_err(|e| format!("{raw:?} is not a URL ({e})"))?;
        if url.scheme() != "https" {
            return Err(format!(
                "{raw:?} must use https://; queue-scaler never talks to a cluster in plain text"
            ));
        }
        if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
            return Err(format!(
                "{raw:?} must be https://host[:port], without a path, query or user"
            ));
        }
        let host = url.host().ok_or_else(|| format!("{raw:?} has no host"))?;
        let is_ip = !matches!(host, url::Host::Domain(_));
        let ca_pem = ca.map(decode_ca).transpose()?;
        if is_ip && ca_pem.is_none() {
            return Err(format!(
                "{raw:?} is an IP address, which needs the cluster CA: set GKE_CA_CERT \
                 (masterAuth.clusterCaCertificate from `gcloud container clusters describe`)"
            ));
        }
        Ok(Endpoint {
            url: with_scheme.trim_end_matches('/').to_owned(),
            ca_pem,
        })
    }
}

/// Accept a CA as PEM or as base64 of PEM (GKE's `masterAuth.clusterCaCertificate`).
fn decode_ca(ca: &str) -> Result<String, String> {
    let ca = ca.trim();
    let pem = if ca.starts_with("-----BEGIN") {
        ca.to_owned()
    } else {
        let compact: String = ca.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| format!("is neither PEM nor base64 of PEM ({e})"))?;
        String::from_utf8(bytes).map_err(|_| "is base64, but not of PEM text".to_owned())?
    };
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned());
    }
    Ok(pem.trim().to_owned())
}
