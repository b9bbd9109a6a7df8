//! The cluster queue-scaler scales on: where its HTTPS endpoint and CA come from
//! ([`ClusterSource`]: the GKE cluster's path, read through the GKE API, or given directly), and
//! the checked [`Endpoint`] itself. Configuration builds a [`ClusterSource`]; `queue-scaler-io`
//! discovers the endpoint through the GKE API and connects to it.
//!
//! Pure: no I/O.

use base64::Engine as _;

/// The default base URL of the GKE API.
pub(crate) const DEFAULT_GKE_API_URL: &str = "https://container.googleapis.com";

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

/// Why an endpoint or its CA is refused. The endpoint's variants say it as quoted; the CA's say
/// it of the CA, without naming it, so the caller can put the setting or field in front.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The endpoint does not parse as a URL.
    #[error("{endpoint:?} is not a URL ({reason})")]
    NotAUrl {
        /// The endpoint as given, trimmed.
        endpoint: String,
        /// Why it does not parse.
        reason: url::ParseError,
    },
    /// The endpoint's scheme is not `https`.
    #[error("{endpoint:?} must use https://; queue-scaler never talks to a cluster in plain text")]
    NotHttps {
        /// The endpoint as given, trimmed.
        endpoint: String,
    },
    /// The endpoint has a path, a query or a user.
    #[error("{endpoint:?} must be https://host[:port], without a path, query or user")]
    NotOrigin {
        /// The endpoint as given, trimmed.
        endpoint: String,
    },
    /// The endpoint names no host.
    #[error("{endpoint:?} has no host")]
    NoHost {
        /// The endpoint as given, trimmed.
        endpoint: String,
    },
    /// The endpoint is a host name other than a GKE DNS endpoint: the token would go to a host
    /// no cluster owns.
    #[error(
        "{endpoint:?} names host {host:?}: a cluster endpoint is an IP address (with GKE_CA_CERT) \
         or GKE's DNS endpoint (*.gke.goog, `gcloud container clusters describe` \
         controlPlaneEndpointsConfig.dnsEndpointConfig.endpoint); the access token is sent nowhere else"
    )]
    HostNotGke {
        /// The endpoint as given, trimmed.
        endpoint: String,
        /// Its host.
        host: String,
    },
    /// The endpoint is an IP address and no CA was given, so no certificate could be checked.
    #[error(
        "{endpoint:?} is an IP address, which needs the cluster CA: set GKE_CA_CERT \
         (masterAuth.clusterCaCertificate from `gcloud container clusters describe`)"
    )]
    IpWithoutCa {
        /// The endpoint as given, trimmed.
        endpoint: String,
    },
    /// The CA is neither PEM nor base64.
    #[error("is neither PEM nor base64 of PEM ({0})")]
    CaNotPemOrBase64(base64::DecodeError),
    /// The CA is base64, of something other than text.
    #[error("is base64, but not of PEM text")]
    CaNotText,
    /// The CA holds no PEM certificate.
    #[error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    CaNoCertificate,
}

impl Endpoint {
    /// Check an endpoint as GKE or a user gives it: `https://host[:port]`, or a bare `host[:port]`
    /// (GKE's `endpoint` field is a bare IP). `ca` is PEM or base64 of PEM, as GKE returns it.
    pub fn parse(endpoint: &str, ca: Option<&str>) -> Result<Self, EndpointError> {
        let raw = endpoint.trim();
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("https://{raw}")
        };
        let endpoint = || raw.to_owned();
        let url = url::Url::parse(&with_scheme).map_err(|reason| EndpointError::NotAUrl {
            endpoint: endpoint(),
            reason,
        })?;
        if url.scheme() != "https" {
            return Err(EndpointError::NotHttps {
                endpoint: endpoint(),
            });
        }
        if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
            return Err(EndpointError::NotOrigin {
                endpoint: endpoint(),
            });
        }
        let host = url.host().ok_or_else(|| EndpointError::NoHost {
            endpoint: endpoint(),
        })?;
        if let url::Host::Domain(name) = host {
            let name = name.to_ascii_lowercase();
            let gke = name.ends_with(".gke.goog") || name == "localhost";
            if !gke {
                return Err(EndpointError::HostNotGke {
                    endpoint: endpoint(),
                    host: name,
                });
            }
        }
        let is_ip = !matches!(host, url::Host::Domain(_));
        let ca_pem = ca.map(decode_ca).transpose()?;
        if is_ip && ca_pem.is_none() {
            return Err(EndpointError::IpWithoutCa {
                endpoint: endpoint(),
            });
        }
        Ok(Endpoint {
            url: with_scheme.trim_end_matches('/').to_owned(),
            ca_pem,
        })
    }
}

/// Accept a CA as PEM or as base64 of PEM (GKE's `masterAuth.clusterCaCertificate`).
fn decode_ca(ca: &str) -> Result<String, EndpointError> {
    let ca = ca.trim();
    let pem = if ca.starts_with("-----BEGIN") {
        ca.to_owned()
    } else {
        let compact: String = ca.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(EndpointError::CaNotPemOrBase64)?;
        String::from_utf8(bytes).map_err(|_| EndpointError::CaNotText)?
    };
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(EndpointError::CaNoCertificate);
    }
    Ok(pem.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_says_what_is_wrong() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let refused = |endpoint: &str, ca: Option<&str>| Endpoint::parse(endpoint, ca).unwrap_err();
        assert!(matches!(refused("", None), EndpointError::NotAUrl { .. }));
        assert!(matches!(
            refused("http://10.0.0.1", None),
            EndpointError::NotHttps { .. }
        ));
        assert!(matches!(
            refused("https://a.example/x", None),
            EndpointError::NotOrigin { .. }
        ));
        for look_alike in [
            "https://a.example",
            "https://gke-abc.europe-west4.gke.goog.evil.example",
        ] {
            assert!(
                matches!(refused(look_alike, None), EndpointError::HostNotGke { .. }),
                "{look_alike}"
            );
        }
        assert!(matches!(
            refused("34.1.2.3", None),
            EndpointError::IpWithoutCa { .. }
        ));
        let host = "https://gke-a.europe-west4.gke.goog";
        assert!(matches!(
            refused(host, Some("!!!")),
            EndpointError::CaNotPemOrBase64(_)
        ));
        assert_eq!(refused(host, Some("//79/A==")), EndpointError::CaNotText);
        assert_eq!(
            refused(host, Some("bm90IGEgY2VydA==")),
            EndpointError::CaNoCertificate
        );
        assert!(Endpoint::parse("34.1.2.3", Some(pem)).is_ok());
    }
}
