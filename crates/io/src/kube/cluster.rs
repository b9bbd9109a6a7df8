//! The cluster's HTTPS endpoint and CA: given, or read once per container from the GKE API's
//! `clusters.get`; and the HTTPS client for the cluster, for which the cluster CA is the only
//! trusted root (the client for Google's endpoints is [`crate::http::public_client`]).

use crate::error::{built, Error};
use crate::http::{send, Answer, CONNECT_TIMEOUT, REQUEST_TIMEOUT};
use crate::kube::node_pool::{parse_node_pools, NodePool};
use crate::roots::PublicRoots;
use queue_scaler_core::cluster::Endpoint;
use secrecy::SecretString;
use serde::Deserialize;

/// A client for the cluster endpoint. With a CA, that CA is the only trusted root; without one
/// (GKE's DNS endpoint, with a public certificate), `roots`.
pub fn cluster_client(endpoint: &Endpoint, roots: &PublicRoots) -> Result<reqwest::Client, Error> {
    let builder = match &endpoint.ca_pem {
        Some(_) => reqwest::Client::builder(),
        None => roots.client_builder()?,
    };
    let mut builder = builder
        .https_only(true)
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        // The endpoint is an IP or GKE's DNS name; never follow redirects elsewhere with a token.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = &endpoint.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| Error::ClusterCa(format!("GKE_CA_CERT is not a PEM certificate: {e}")))?;
        if certs.is_empty() {
            return Err(Error::ClusterCa("GKE_CA_CERT holds no certificate".into()));
        }
        builder = builder.tls_built_in_root_certs(false);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| {
        Error::ClusterCa(format!(
            "cannot build the HTTPS client for the cluster: {e}"
        ))
    })
}

/// The `clusters.get` request for `projects/P/locations/L/clusters/C`.
pub(crate) fn discovery_request(
    api_url: &str,
    cluster: &str,
) -> Result<http::Request<Vec<u8>>, Error> {
    let url = format!("{api_url}/v1/{cluster}");
    built(
        &url,
        http::Request::get(&url)
            .header("accept", "application/json")
            .body(Vec::new()),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterInfo {
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    master_auth: MasterAuth,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MasterAuth {
    #[serde(default)]
    cluster_ca_certificate: String,
}

/// Ask the GKE API's `clusters.get` for `cluster`: its answer when it is 200, else
/// [`Error::Discovery`] with the API's message and what to check. The one place `clusters.get`
/// is sent and its refusals read: [`discover`] reads the endpoint from the answer, the doctor's
/// probe the node pools.
pub(crate) async fn get_cluster(
    http: &reqwest::Client,
    api_url: &str,
    cluster: &str,
    token: &SecretString,
) -> Result<Answer, Error> {
    let answer = send(
        http,
        discovery_request(api_url, cluster)?,
        Some(token),
        None,
    )
    .await?;
    if answer.status != 200 {
        return Err(refused(cluster, answer.status, &answer.body));
    }
    Ok(answer)
}

/// The error of a `clusters.get` that did not answer 200: the API's message (or the start of
/// the body), and what to check.
fn refused(cluster: &str, status: u16, body: &[u8]) -> Error {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    let what = match status {
        401 => "; the token was refused",
        403 => "; grant the service account container.clusters.get on this cluster (infra/gke/service-account.sh)",
        404 => "; check GKE_CLUSTER names an existing cluster",
        _ => "",
    };
    Error::Discovery {
        cluster: cluster.to_owned(),
        status,
        message: format!("{message}{what}"),
    }
}

/// Read the endpoint and CA of `cluster` from the GKE API.
pub async fn discover(
    http: &reqwest::Client,
    api_url: &str,
    cluster: &str,
    token: &SecretString,
) -> Result<Endpoint, Error> {
    discover_with_pools(http, api_url, cluster, token)
        .await
        .map(|(endpoint, _)| endpoint)
}

/// Read the endpoint and CA of `cluster` from the GKE API, and the node pools from the same
/// answer (`None` where they cannot be read from it: the endpoint is what discovery is for).
pub(crate) async fn discover_with_pools(
    http: &reqwest::Client,
    api_url: &str,
    cluster: &str,
    token: &SecretString,
) -> Result<(Endpoint, Option<Vec<NodePool>>), Error> {
    let Answer { body, url, .. } = get_cluster(http, api_url, cluster, token).await?;
    let pools = parse_node_pools(&body, &url).ok();
    let endpoint = endpoint_of(&body, url)?;
    Ok((endpoint, pools))
}

/// The endpoint and CA in a `clusters.get` answer.
fn endpoint_of(body: &[u8], url: String) -> Result<Endpoint, Error> {
    let info: ClusterInfo = serde_json::from_slice(body).map_err(|e| Error::Protocol {
        url: url.clone(),
        detail: format!("clusters.get answer is not a Cluster ({e})"),
    })?;
    if info.endpoint.is_empty() || info.master_auth.cluster_ca_certificate.is_empty() {
        return Err(Error::Protocol {
            url,
            detail: "clusters.get answer has no endpoint or masterAuth.clusterCaCertificate".into(),
        });
    }
    Endpoint::parse(
        &info.endpoint,
        Some(&info.master_auth.cluster_ca_certificate),
    )
    .map_err(|e| Error::Protocol {
        url,
        detail: format!("the cluster's endpoint or CA is unusable: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_asks_the_gke_api_for_the_named_cluster() {
        let r = discovery_request(
            "https://container.googleapis.com",
            "projects/p/locations/l/clusters/c",
        )
        .unwrap();
        assert_eq!(r.method(), http::Method::GET);
        assert_eq!(
            r.uri(),
            "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c"
        );
    }

    #[test]
    fn a_refused_clusters_get_gives_the_apis_message_and_what_to_check() {
        let body = br#"{"error":{"code":403,"message":"Required \"container.clusters.get\" permission(s) for \"projects/p/locations/l/clusters/c\".","status":"PERMISSION_DENIED"}}"#;
        let err = refused("projects/p/locations/l/clusters/c", 403, body);
        let msg = err.to_string();
        assert!(
            msg.contains("answered 403: Required \"container.clusters.get\"")
                && msg.contains("grant the service account container.clusters.get"),
            "{msg}"
        );
        assert_eq!(err.class(), crate::error::ErrorClass::NonRetryable);
        let err = refused("c", 503, b"upstream unavailable");
        assert!(
            err.to_string()
                .ends_with("answered 503: upstream unavailable"),
            "{err}"
        );
        assert!(err.is_transient());
    }

    #[test]
    fn a_ca_that_is_not_a_certificate_is_a_configuration_error() {
        let endpoint = Endpoint {
            url: "https://10.0.0.1".into(),
            ca_pem: Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----".into()),
        };
        let roots = PublicRoots::load(false);
        let err = cluster_client(&endpoint, &roots).unwrap_err();
        assert_eq!(err.class(), crate::error::ErrorClass::Config, "{err}");
    }
}
