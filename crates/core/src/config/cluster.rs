//! The cluster settings: `GKE_CLUSTER` (discovered through the GKE API, at `GKE_API_URL`), or
//! `GKE_ENDPOINT` with `GKE_CA_CERT`, checked into a [`ClusterSource`].

use super::problem::Problems;
use super::raw::RawCluster;
use crate::cluster::{ClusterSource, Endpoint, EndpointError, DEFAULT_GKE_API_URL};
use crate::hosts::{check_url, Service};

/// Check the cluster settings: exactly one of `GKE_CLUSTER` and `GKE_ENDPOINT`.
pub(super) fn check(raw: RawCluster, problems: &mut Problems) -> Option<ClusterSource> {
    let ca = raw.ca_cert.value;
    let api_url = raw
        .api_url
        .value
        .unwrap_or_else(|| DEFAULT_GKE_API_URL.to_owned());
    match (raw.cluster.value, raw.endpoint.value) {
        (Some(_), Some(_)) => {
            problems.add("GKE_CLUSTER/GKE_ENDPOINT", "set one of them, not both");
            None
        }
        (None, None) => {
            problems.add(
                "GKE_CLUSTER",
                "is required (projects/P/locations/L/clusters/C), unless GKE_ENDPOINT and GKE_CA_CERT are set",
            );
            None
        }
        (Some(cluster), None) => {
            let parts: Vec<&str> = cluster.split('/').collect();
            let well_formed = parts.len() == 6
                && parts[0] == "projects"
                && parts[2] == "locations"
                && parts[4] == "clusters"
                && [parts[1], parts[3], parts[5]].iter().all(|p| {
                    !p.is_empty()
                        && p.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
            if !well_formed {
                problems.add(
                    "GKE_CLUSTER",
                    format!("{cluster:?} is not projects/PROJECT/locations/LOCATION/clusters/NAME"),
                );
            }
            if ca.is_some() {
                problems.add("GKE_CA_CERT", "is only used with GKE_ENDPOINT; with GKE_CLUSTER the CA is read from the GKE API");
            }
            if let Err(e) = check_url(&api_url, Service::GkeApi) {
                problems.add("GKE_API_URL", e.to_string());
            }
            well_formed.then(|| ClusterSource::Discover {
                cluster,
                api_url: api_url.trim_end_matches('/').to_owned(),
            })
        }
        (None, Some(endpoint)) => match Endpoint::parse(&endpoint, ca.as_deref()) {
            Ok(e) => Some(ClusterSource::Direct(e)),
            Err(err) => {
                let setting = match err {
                    EndpointError::NotAUrl { .. }
                    | EndpointError::NotHttps { .. }
                    | EndpointError::NotOrigin { .. }
                    | EndpointError::NoHost { .. }
                    | EndpointError::HostNotGke { .. }
                    | EndpointError::IpWithoutCa { .. } => "GKE_ENDPOINT",
                    EndpointError::CaNotPemOrBase64(_)
                    | EndpointError::CaNotText
                    | EndpointError::CaNoCertificate => "GKE_CA_CERT",
                };
                problems.add(setting, err.to_string());
                None
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{base, load, settings, with, CA_PEM};
    use base64::Engine as _;

    #[test]
    fn endpoint_must_be_https_and_an_ip_needs_a_ca() {
        let no_cluster = with(base(), &[("GKE_CLUSTER", "")]);
        let err = load(&with(
            no_cluster.clone(),
            &[("GKE_ENDPOINT", "http://10.0.0.1")],
        ))
        .unwrap_err();
        assert!(err.to_string().contains("must use https://"), "{err}");
        let err = load(&with(no_cluster.clone(), &[("GKE_ENDPOINT", "34.1.2.3")])).unwrap_err();
        assert!(err.to_string().contains("needs the cluster CA"), "{err}");
        let c = load(&with(
            no_cluster.clone(),
            &[("GKE_ENDPOINT", "34.1.2.3"), ("GKE_CA_CERT", CA_PEM)],
        ))
        .unwrap();
        assert_eq!(
            c.cluster,
            ClusterSource::Direct(Endpoint {
                url: "https://34.1.2.3".into(),
                ca_pem: Some(CA_PEM.trim().into())
            })
        );
        // A DNS endpoint uses public roots.
        let c = load(&with(
            no_cluster,
            &[("GKE_ENDPOINT", "https://gke-abc.europe-west4.gke.goog")],
        ))
        .unwrap();
        assert!(matches!(
            c.cluster,
            ClusterSource::Direct(Endpoint { ca_pem: None, .. })
        ));
    }

    #[test]
    fn ca_is_accepted_as_base64_of_pem_as_gke_returns_it() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(CA_PEM);
        let vars = with(
            base(),
            &[
                ("GKE_CLUSTER", ""),
                ("GKE_ENDPOINT", "https://127.0.0.1:6443"),
                ("GKE_CA_CERT", &*Box::leak(b64.into_boxed_str())),
            ],
        );
        let c = load(&vars).unwrap();
        assert!(
            matches!(c.cluster, ClusterSource::Direct(Endpoint { ca_pem: Some(ref p), .. }) if p == CA_PEM.trim())
        );
        let err = load(&with(vars, &[("GKE_CA_CERT", "bm90IGEgY2VydA==")])).unwrap_err();
        assert_eq!(settings(&err), ["GKE_CA_CERT"], "{err}");
    }
}
