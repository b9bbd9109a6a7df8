//! The GKE API's clusters.get reports the cluster's endpoint and CA the way GKE does, to callers
//! with a live cloud-platform token.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{client_trusting, Harness, TestResult};
use local_gke::{scale_path, Config, ExternalCluster, CLOUD_PLATFORM_SCOPE, USERINFO_EMAIL_SCOPE};
use reqwest::StatusCode;
use serde_json::Value;

async fn get_cluster(
    harness: &Harness,
    url: &str,
    token: Option<&str>,
) -> common::Fallible<(StatusCode, Value)> {
    let mut request = harness.google.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    Ok((response.status(), response.json().await?))
}

#[tokio::test]
async fn clusters_get_reports_a_bare_endpoint_and_a_base64_ca_like_gke() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let (status, cluster) = get_cluster(&harness, &harness.cluster_get_url(), Some(&token)).await?;
    assert_eq!(status, StatusCode::OK, "{cluster}");
    assert_eq!(cluster["name"], "gpu-cluster");
    assert_eq!(cluster["location"], "europe-west4");
    assert_eq!(cluster["status"], "RUNNING");
    let expected_endpoint = harness.gke.cluster_url().trim_start_matches("https://");
    assert_eq!(cluster["endpoint"], expected_endpoint);
    let ca = STANDARD.decode(
        cluster["masterAuth"]["clusterCaCertificate"]
            .as_str()
            .ok_or("no clusterCaCertificate")?,
    )?;
    assert_eq!(String::from_utf8(ca)?, harness.gke.cluster_ca_pem());
    Ok(())
}

#[tokio::test]
async fn the_advertised_endpoint_and_ca_reach_the_kube_api() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let (_, cluster) = get_cluster(&harness, &harness.cluster_get_url(), Some(&token)).await?;
    let endpoint = cluster["endpoint"].as_str().ok_or("no endpoint")?;
    let ca = STANDARD.decode(
        cluster["masterAuth"]["clusterCaCertificate"]
            .as_str()
            .ok_or("no clusterCaCertificate")?,
    )?;
    let client = client_trusting(&String::from_utf8(ca)?)?;
    let response = client
        .get(format!(
            "https://{endpoint}{}",
            scale_path("ml", "model-worker")
        ))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn clusters_get_without_a_live_token_is_unauthenticated() -> TestResult {
    let harness = Harness::start().await?;
    for token in [None, Some("ya29.not-issued-here")] {
        let (status, body) = get_cluster(&harness, &harness.cluster_get_url(), token).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], 401);
        assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    }
    Ok(())
}

#[tokio::test]
async fn clusters_get_with_an_expired_token_is_unauthenticated() -> TestResult {
    let harness = Harness::with_token_lifetime(1).await?;
    let token = harness.scaler_token().await?;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = get_cluster(&harness, &harness.cluster_get_url(), Some(&token)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    Ok(())
}

#[tokio::test]
async fn clusters_get_with_a_token_lacking_the_cloud_platform_scope_is_denied() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.token(USERINFO_EMAIL_SCOPE).await?;
    let (status, body) = get_cluster(&harness, &harness.cluster_get_url(), Some(&token)).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
    assert_eq!(
        body["error"]["message"],
        "Request had insufficient authentication scopes."
    );
    Ok(())
}

#[tokio::test]
async fn clusters_get_for_another_cluster_is_not_found() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.token(CLOUD_PLATFORM_SCOPE).await?;
    let url = format!(
        "{}/v1/projects/demo-project/locations/europe-west4/clusters/cpu-cluster",
        harness.gke.google_url()
    );
    let (status, body) = get_cluster(&harness, &url, Some(&token)).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["status"], "NOT_FOUND");
    assert_eq!(
        body["error"]["message"],
        "Not found: projects/demo-project/locations/europe-west4/clusters/cpu-cluster."
    );
    Ok(())
}

/// `clusters.get` and the `env` file name the external cluster at `host_port` with its CA.
async fn assert_advertised(harness: &Harness, host_port: &str, ca_pem: &str) -> TestResult {
    let token = harness.scaler_token().await?;
    let (status, cluster) = get_cluster(harness, &harness.cluster_get_url(), Some(&token)).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cluster["endpoint"], host_port);
    assert_eq!(
        cluster["masterAuth"]["clusterCaCertificate"],
        STANDARD.encode(ca_pem)
    );
    let env = harness.gke.env(std::path::Path::new("/state"));
    let value = |key: &str| env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
    assert_eq!(value("GKE_ENDPOINT"), Some(format!("https://{host_port}")));
    assert_eq!(value("GKE_CA_CERT"), Some(STANDARD.encode(ca_pem)));
    Ok(())
}

#[tokio::test]
async fn an_external_cluster_is_advertised_instead_of_our_own() -> TestResult {
    let external_ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let harness = Harness::start_with(Config {
        external_cluster: Some(ExternalCluster {
            endpoint: "https://127.0.0.1:6443".parse()?,
            ca_pem: external_ca.to_owned(),
        }),
        ..Config::default()
    })
    .await?;
    assert_advertised(&harness, "127.0.0.1:6443", external_ca).await
}

#[tokio::test]
async fn an_external_cluster_set_while_serving_is_advertised_from_then_on() -> TestResult {
    // A real kube-apiserver needs the TokenReview webhook's URL before it starts, so it can only
    // be advertised once local-gke runs.
    let harness = Harness::start().await?;
    let external_ca = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n";
    harness.gke.set_external_cluster(ExternalCluster {
        endpoint: "https://127.0.0.1:7443".parse()?,
        ca_pem: external_ca.to_owned(),
    });
    assert_advertised(&harness, "127.0.0.1:7443", external_ca).await
}

/// The cluster's issuer documents, as GKE publishes them for STS: anonymous GETs under the
/// cluster's path, a 404 while the cluster publishes none, and for any other cluster.
#[tokio::test]
async fn the_issuer_documents_are_public_once_published_and_only_for_this_cluster() -> TestResult {
    let harness = Harness::start().await?;
    let discovery_url = format!(
        "{}/.well-known/openid-configuration",
        harness.cluster_get_url()
    );
    let jwks_url = format!("{}/jwks", harness.cluster_get_url());
    for url in [&discovery_url, &jwks_url] {
        let (status, body) = get_cluster(&harness, url, None).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{url} before: {body}");
    }
    let discovery = serde_json::json!({"issuer": "https://container.googleapis.com/v1/projects/demo-project/locations/europe-west4/clusters/gpu-cluster",
        "jwks_uri": "https://container.googleapis.com/v1/projects/demo-project/locations/europe-west4/clusters/gpu-cluster/jwks"});
    let jwks = serde_json::json!({"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"}]});
    harness.gke.publish_issuer(Some(local_gke::IssuerDocuments {
        discovery: discovery.clone(),
        jwks: jwks.clone(),
    }));
    assert_eq!(
        get_cluster(&harness, &discovery_url, None).await?,
        (StatusCode::OK, discovery)
    );
    assert_eq!(
        get_cluster(&harness, &jwks_url, None).await?,
        (StatusCode::OK, jwks)
    );
    let other = jwks_url.replace("clusters/gpu-cluster", "clusters/other");
    let (status, _) = get_cluster(&harness, &other, None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "another cluster's issuer");
    harness.gke.publish_issuer(None);
    let (status, _) = get_cluster(&harness, &discovery_url, None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "withdrawn");
    Ok(())
}
