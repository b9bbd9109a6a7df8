//! Injected faults: the next N matching requests fail (with a status, a delay or a dropped
//! connection), on either listener, and then service is normal again.

mod common;

use std::time::{Duration, Instant};

use common::{Harness, Scaler, TestResult, JWT_BEARER};
use local_gke::admin::{Fault, RequestKind};
use local_gke::scale_path;
use reqwest::{Certificate, Client, Method, StatusCode};
use serde_json::json;

/// A fault on `ml/model-worker`'s scale.
fn scale_fault() -> Fault {
    Fault::new(&scale_path("ml", "model-worker"))
}

#[tokio::test]
async fn a_status_fault_fails_the_next_n_requests_then_service_is_normal() -> TestResult {
    let scaler = Scaler::start().await?;
    scaler
        .admin
        .add_fault(&Fault::status(&scale_path("ml", "model-worker"), 2, 503))
        .await?;
    for _ in 0..2 {
        let (status, body) = scaler.get("model-worker").await?;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["reason"], "ServiceUnavailable");
        assert_eq!(body["code"], 503);
    }
    let (status, _) = scaler.get("model-worker").await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn a_fault_for_one_method_leaves_other_methods_alone() -> TestResult {
    let scaler = Scaler::start().await?;
    let fault = Fault {
        method: Some("PUT".to_owned()),
        status: Some(500),
        ..scale_fault()
    };
    scaler.admin.add_fault(&fault).await?;
    let (status, _) = scaler.get("model-worker").await?;
    assert_eq!(status, StatusCode::OK);
    let body = json!({"metadata": {"name": "model-worker"}, "spec": {"replicas": 3}});
    let (status, _) = scaler.put("model-worker", &body).await?;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(scaler.replicas_of("model-worker").await?, 2);
    let (status, _) = scaler.put("model-worker", &body).await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn an_apply_then_drop_fault_applies_the_write_and_loses_its_answer() -> TestResult {
    let scaler = Scaler::start().await?;
    let (_, scale) = scaler.get("model-worker").await?;
    let mut body = scale.clone();
    body["spec"]["replicas"] = json!(3);
    let apply_then_drop = Fault {
        method: Some("PUT".to_owned()),
        apply_then_drop: true,
        ..scale_fault()
    };
    scaler.admin.add_fault(&apply_then_drop).await?;
    let lost = scaler.put("model-worker", &body).await;
    assert!(lost.is_err(), "expected no answer, got {lost:?}");
    assert_eq!(scaler.replicas_of("model-worker").await?, 3, "applied");
    // The same write again is now stale: 409, as a retry of a lost write meets.
    let (status, _) = scaler.put("model-worker", &body).await?;
    assert_eq!(status, StatusCode::CONFLICT);
    // It cannot be combined with an answer of its own.
    let refused = scaler
        .admin
        .add_fault(&Fault {
            status: Some(503),
            ..apply_then_drop
        })
        .await
        .expect_err("apply_then_drop with a status is refused");
    assert_eq!(refused.status(), Some(StatusCode::BAD_REQUEST), "{refused}");
    Ok(())
}

#[tokio::test]
async fn a_drop_fault_closes_the_connection_without_an_answer() -> TestResult {
    let scaler = Scaler::start().await?;
    // Over HTTP/2 (what clients negotiate) and over HTTP/1.1.
    let http1 = Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(Certificate::from_pem(
            scaler.gke.cluster_ca_pem().as_bytes(),
        )?)
        .http1_only()
        .build()?;
    let drop = Fault {
        drop: true,
        ..scale_fault()
    };
    let url = scaler.scale_url("ml", "model-worker");
    for client in [&scaler.cluster, &http1] {
        scaler.admin.add_fault(&drop).await?;
        let dropped = client.get(&url).bearer_auth(&scaler.token).send().await;
        assert!(dropped.is_err(), "expected no answer, got {dropped:?}");
        let answered = client.get(&url).bearer_auth(&scaler.token).send().await?;
        assert_eq!(answered.status(), StatusCode::OK);
    }

    let statuses: Vec<u16> = scaler
        .admin
        .requests()
        .await?
        .into_iter()
        .filter(|r| r.kind == RequestKind::ScaleGet)
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [0, 200, 0, 200]);
    Ok(())
}

#[tokio::test]
async fn a_delay_alone_delays_the_request_then_serves_it() -> TestResult {
    let scaler = Scaler::start().await?;
    let delay = Fault {
        delay_ms: Some(400),
        ..scale_fault()
    };
    scaler.admin.add_fault(&delay).await?;
    let started = Instant::now();
    let (status, _) = scaler.get("model-worker").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(400));
    Ok(())
}

#[tokio::test]
async fn faults_apply_to_the_token_endpoint_too() -> TestResult {
    let harness = Harness::start().await?;
    harness
        .admin
        .add_fault(&Fault::status("/token", 1, 503))
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
    let scaler = Scaler::start().await?;
    let path = scale_path("ml", "model-worker");
    scaler
        .admin
        .add_fault(&Fault::status(&path, 5, 503))
        .await?;
    scaler.admin.clear_faults().await?;
    let (status, _) = scaler.get("model-worker").await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn a_fault_that_would_do_nothing_is_refused() -> TestResult {
    let harness = Harness::start().await?;
    let path = scale_path("ml", "model-worker");
    for fault in [
        json!({"path": path, "count": 1}),
        json!({"path": path, "count": 0, "status": 503}),
        json!({"path": path, "status": 200}),
        json!({"path": "no-slash", "status": 503}),
    ] {
        let (status, _) = harness
            .admin
            .send_raw(Method::POST, "/faults", Some(&fault))
            .await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{fault}");
    }
    Ok(())
}

#[tokio::test]
async fn held_reads_wait_for_each_other_then_read_the_same_version() -> TestResult {
    let scaler = std::sync::Arc::new(Scaler::start().await?);
    scaler
        .admin
        .add_fault(&Fault::hold(&scale_path("ml", "model-worker"), "GET", 2))
        .await?;
    let first = {
        let scaler = std::sync::Arc::clone(&scaler);
        tokio::spawn(async move { scaler.get("model-worker").await.map_err(|e| e.to_string()) })
    };
    // The first read is held: it has not been answered while no second read came.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!first.is_finished(), "a held read was answered alone");
    let (status, second) = scaler.get("model-worker").await?;
    let (first_status, first) = first.await??;
    assert_eq!((first_status, status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        first["metadata"]["resourceVersion"],
        second["metadata"]["resourceVersion"]
    );
    // Used up: the next read is answered at once.
    let (status, _) = scaler.get("model-worker").await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}
