//! Injected faults: the next N matching requests fail (with a status, a delay or a dropped
//! connection), on either listener, and then service is normal again.

mod common;

use std::time::{Duration, Instant};

use common::{Harness, TestResult, JWT_BEARER};
use reqwest::{Certificate, Client, Method, StatusCode};
use serde_json::{json, Value};

const SCALE_PATH: &str = "/apis/apps/v1/namespaces/ml/deployments/model-worker/scale";

async fn add_fault(harness: &Harness, fault: Value) -> TestResult {
    let (status, body) = harness.admin(Method::POST, "/faults", Some(fault)).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Ok(())
}

#[tokio::test]
async fn a_status_fault_fails_the_next_n_requests_then_service_is_normal() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    add_fault(
        &harness,
        json!({"path": SCALE_PATH, "count": 2, "status": 503}),
    )
    .await?;
    for _ in 0..2 {
        let (status, body) = harness.get_scale("ml", "model-worker", &token).await?;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["reason"], "ServiceUnavailable");
        assert_eq!(body["code"], 503);
    }
    let (status, _) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn a_fault_for_one_method_leaves_other_methods_alone() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    add_fault(
        &harness,
        json!({"path": SCALE_PATH, "method": "PUT", "count": 1, "status": 500}),
    )
    .await?;
    let (status, _) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(status, StatusCode::OK);
    let body = json!({"metadata": {"name": "model-worker"}, "spec": {"replicas": 3}});
    let (status, _) = harness
        .put_scale("ml", "model-worker", &token, &body)
        .await?;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(harness.replicas("ml", "model-worker").await?, 2);
    let (status, _) = harness
        .put_scale("ml", "model-worker", &token, &body)
        .await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn an_apply_then_drop_fault_applies_the_write_and_loses_its_answer() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let (_, scale) = harness.get_scale("ml", "model-worker", &token).await?;
    let mut body = scale.clone();
    body["spec"]["replicas"] = json!(3);
    add_fault(
        &harness,
        json!({"path": SCALE_PATH, "method": "PUT", "apply_then_drop": true}),
    )
    .await?;
    let lost = harness
        .cluster
        .put(harness.scale_url("ml", "model-worker"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await;
    assert!(lost.is_err(), "expected no answer, got {lost:?}");
    assert_eq!(harness.replicas("ml", "model-worker").await?, 3, "applied");
    // The same write again is now stale: 409, as a retry of a lost write meets.
    let (status, _) = harness
        .put_scale("ml", "model-worker", &token, &body)
        .await?;
    assert_eq!(status, StatusCode::CONFLICT);
    // It cannot be combined with an answer of its own.
    let (status, _) = harness
        .admin(
            Method::POST,
            "/faults",
            Some(json!({"path": SCALE_PATH, "apply_then_drop": true, "status": 503})),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test]
async fn a_drop_fault_closes_the_connection_without_an_answer() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    // Over HTTP/2 (what clients negotiate) and over HTTP/1.1.
    let http1 = Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(Certificate::from_pem(
            harness.gke.cluster_ca_pem().as_bytes(),
        )?)
        .http1_only()
        .build()?;
    for client in [&harness.cluster, &http1] {
        add_fault(
            &harness,
            json!({"path": SCALE_PATH, "count": 1, "drop": true}),
        )
        .await?;
        let dropped = client
            .get(harness.scale_url("ml", "model-worker"))
            .bearer_auth(&token)
            .send()
            .await;
        assert!(dropped.is_err(), "expected no answer, got {dropped:?}");
        let answered = client
            .get(harness.scale_url("ml", "model-worker"))
            .bearer_auth(&token)
            .send()
            .await?;
        assert_eq!(answered.status(), StatusCode::OK);
    }

    let (_, log) = harness.admin(Method::GET, "/requests", None).await?;
    let statuses: Vec<&Value> = log["requests"]
        .as_array()
        .ok_or("no requests")?
        .iter()
        .filter(|r| r["kind"] == "scale_get")
        .map(|r| &r["status"])
        .collect();
    assert_eq!(statuses, [&json!(0), &json!(200), &json!(0), &json!(200)]);
    Ok(())
}

#[tokio::test]
async fn a_delay_alone_delays_the_request_then_serves_it() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    add_fault(
        &harness,
        json!({"path": SCALE_PATH, "count": 1, "delay_ms": 400}),
    )
    .await?;
    let started = Instant::now();
    let (status, _) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(400));
    Ok(())
}

#[tokio::test]
async fn faults_apply_to_the_token_endpoint_too() -> TestResult {
    let harness = Harness::start().await?;
    add_fault(
        &harness,
        json!({"path": "/token", "count": 1, "status": 503}),
    )
    .await?;
    let assertion = harness.sign(&harness.valid_claims(&common::scaler_scopes()));
    let (status, body) = harness.request_token(JWT_BEARER, &assertion).await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["status"], "UNAVAILABLE");
    let (status, _) = harness.request_token(JWT_BEARER, &assertion).await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn clearing_faults_restores_normal_service() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    add_fault(
        &harness,
        json!({"path": SCALE_PATH, "count": 5, "status": 503}),
    )
    .await?;
    let (status, _) = harness.admin(Method::DELETE, "/faults", None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn a_fault_that_would_do_nothing_is_refused() -> TestResult {
    let harness = Harness::start().await?;
    for fault in [
        json!({"path": SCALE_PATH, "count": 1}),
        json!({"path": SCALE_PATH, "count": 0, "status": 503}),
        json!({"path": SCALE_PATH, "status": 200}),
        json!({"path": "no-slash", "status": 503}),
    ] {
        let (status, _) = harness
            .admin(Method::POST, "/faults", Some(fault.clone()))
            .await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{fault}");
    }
    Ok(())
}
