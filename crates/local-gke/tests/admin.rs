//! The admin API sets and reads replicas, grants access, and keeps a log of the requests the
//! services saw, so tests can tell what a scaler did.

mod common;

use common::{Harness, TestResult};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn replicas_set_through_admin_are_what_the_kube_api_reads() -> TestResult {
    let harness = Harness::start().await?;
    let (status, set) = harness
        .admin(
            Method::PUT,
            "/deployments/ml/model-worker",
            Some(json!({"replicas": 5})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let token = harness.scaler_token().await?;
    let (_, scale) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(scale["spec"]["replicas"], 5);
    assert_eq!(scale["metadata"]["resourceVersion"], set["resourceVersion"]);
    let (_, read) = harness
        .admin(Method::GET, "/deployments/ml/model-worker", None)
        .await?;
    assert_eq!(read, set);
    Ok(())
}

#[tokio::test]
async fn setting_replicas_of_an_unknown_deployment_creates_it() -> TestResult {
    let harness = Harness::start().await?;
    let (status, _) = harness
        .admin(Method::GET, "/deployments/ml/new-worker", None)
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = harness
        .admin(
            Method::PUT,
            "/deployments/ml/new-worker",
            Some(json!({"replicas": 0})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(harness.replicas("ml", "new-worker").await?, 0);
    harness.grant(harness.email(), "ml", "new-worker").await?;
    let token = harness.scaler_token().await?;
    let (status, scale) = harness.get_scale("ml", "new-worker", &token).await?;
    assert_eq!(status, StatusCode::OK, "{scale}");
    Ok(())
}

#[tokio::test]
async fn the_request_log_records_listener_kind_and_status_but_not_admin_calls() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    harness
        .google
        .get(harness.cluster_get_url())
        .bearer_auth(&token)
        .send()
        .await?;
    harness.get_scale("ml", "model-worker", &token).await?;
    let body = json!({"metadata": {"name": "model-worker"}, "spec": {"replicas": 3}});
    harness
        .put_scale("ml", "model-worker", &token, &body)
        .await?;
    harness
        .get_scale("ml", "model-worker", "ya29.not-issued-here")
        .await?;
    harness
        .google
        .post(harness.gke.token_review_url())
        .json(&json!({"spec": {"token": token}}))
        .send()
        .await?;

    let (status, log) = harness.admin(Method::GET, "/requests", None).await?;
    assert_eq!(status, StatusCode::OK);
    let summary: Vec<(String, String, String, u64)> = log["requests"]
        .as_array()
        .ok_or("no requests")?
        .iter()
        .map(|r: &Value| {
            (
                r["listener"].as_str().unwrap_or_default().to_owned(),
                r["method"].as_str().unwrap_or_default().to_owned(),
                r["kind"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let expected = [
        ("google", "POST", "token", 200),
        ("google", "GET", "discovery", 200),
        ("cluster", "GET", "scale_get", 200),
        ("cluster", "PUT", "scale_put", 200),
        ("cluster", "GET", "scale_get", 401),
        ("google", "POST", "tokenreview", 200),
    ]
    .map(|(l, m, k, s)| (l.to_owned(), m.to_owned(), k.to_owned(), s));
    assert_eq!(summary, expected);
    assert_eq!(
        log["requests"][2]["path"],
        "/apis/apps/v1/namespaces/ml/deployments/model-worker/scale"
    );

    let (status, _) = harness.admin(Method::DELETE, "/requests", None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, log) = harness.admin(Method::GET, "/requests", None).await?;
    assert_eq!(log, json!({"requests": []}));
    Ok(())
}

#[tokio::test]
async fn malformed_admin_requests_are_refused() -> TestResult {
    let harness = Harness::start().await?;
    let (status, _) = harness
        .admin(
            Method::PUT,
            "/deployments/ml/model-worker",
            Some(json!({"replicas": -1})),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = harness
        .admin(Method::POST, "/grants", Some(json!({"identity": "x"})))
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = harness.admin(Method::GET, "/nothing-here", None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}
