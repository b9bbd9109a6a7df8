//! The admin API sets and reads replicas and Leases, grants access, and keeps a log of the
//! requests the services saw, so tests can tell what a scaler did.

mod common;

use common::{resource_version, summary, Harness, Scaler, TestResult};
use local_gke::admin::{AdminGrant, Listener, RequestKind};
use local_gke::{scale_path, LeaseGrant};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn replicas_set_through_admin_are_what_the_kube_api_reads() -> TestResult {
    let scaler = Scaler::start().await?;
    let set = scaler.admin.set_replicas("ml", "model-worker", 5).await?;
    assert_eq!(set.replicas, 5);
    let (_, scale) = scaler.get("model-worker").await?;
    assert_eq!(scale["spec"]["replicas"], 5);
    assert_eq!(scale["metadata"]["resourceVersion"], set.resource_version);
    let read = scaler.admin.deployment("ml", "model-worker").await?;
    assert_eq!(read, set);
    Ok(())
}

#[tokio::test]
async fn setting_replicas_of_an_unknown_deployment_creates_it() -> TestResult {
    let scaler = Scaler::start().await?;
    let absent = scaler
        .admin
        .deployment("ml", "new-worker")
        .await
        .expect_err("no such deployment yet");
    assert_eq!(absent.status(), Some(StatusCode::NOT_FOUND), "{absent}");
    scaler.admin.set_replicas("ml", "new-worker", 0).await?;
    assert_eq!(scaler.replicas_of("new-worker").await?, 0);
    let grant = AdminGrant::new(scaler.email(), "ml", "new-worker");
    scaler.admin.set_grant(&grant).await?;
    let (status, scale) = scaler.get("new-worker").await?;
    assert_eq!(status, StatusCode::OK, "{scale}");
    Ok(())
}

#[tokio::test]
async fn the_request_log_records_listener_kind_and_status_but_not_admin_calls() -> TestResult {
    let scaler = Scaler::start().await?;
    scaler
        .google
        .get(scaler.cluster_get_url())
        .bearer_auth(&scaler.token)
        .send()
        .await?;
    scaler.get("model-worker").await?;
    let body = json!({"metadata": {"name": "model-worker"}, "spec": {"replicas": 3}});
    scaler.put("model-worker", &body).await?;
    scaler
        .get_scale("ml", "model-worker", "ya29.not-issued-here")
        .await?;
    scaler
        .google
        .post(scaler.gke.token_review_url())
        .json(&json!({"spec": {"token": scaler.token}}))
        .send()
        .await?;

    // The log as the admin API sends it, before it is read as types.
    let (status, log) = scaler
        .admin
        .send_raw(Method::GET, "/requests", None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(log["requests"][1]["listener"], "google");
    assert_eq!(log["requests"][1]["kind"], "discovery");
    let requests = scaler.admin.requests().await?;
    assert_eq!(
        summary(&requests),
        [
            (Listener::Google, "POST", RequestKind::Token, 200),
            (Listener::Google, "GET", RequestKind::Discovery, 200),
            (Listener::Cluster, "GET", RequestKind::ScaleGet, 200),
            (Listener::Cluster, "PUT", RequestKind::ScalePut, 200),
            (Listener::Cluster, "GET", RequestKind::ScaleGet, 401),
            (Listener::Google, "POST", RequestKind::TokenReview, 200),
        ]
    );
    assert_eq!(requests[2].path, scale_path("ml", "model-worker"));

    scaler.admin.clear_requests().await?;
    assert_eq!(scaler.admin.requests().await?, []);
    Ok(())
}

#[tokio::test]
async fn malformed_admin_requests_are_refused() -> TestResult {
    let harness = Harness::start().await?;
    let negative = harness
        .admin
        .set_replicas("ml", "model-worker", -1)
        .await
        .expect_err("negative replicas are refused");
    assert_eq!(negative.status(), Some(StatusCode::BAD_REQUEST));
    assert!(
        negative.to_string().contains("replicas must be >= 0"),
        "{negative}"
    );
    let half_a_grant = json!({"identity": "x"});
    let (status, _) = harness
        .admin
        .send_raw(Method::POST, "/grants", Some(&half_a_grant))
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = harness
        .admin
        .send_raw(Method::GET, "/nothing-here", None)
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn admin_creates_and_replaces_a_lease_unconditionally_keeping_its_uid() -> TestResult {
    let harness = Harness::start().await?;
    let absent = harness
        .admin
        .lease("ml", "gpu-pool")
        .await
        .expect_err("no lease yet");
    assert_eq!(absent.status(), Some(StatusCode::NOT_FOUND), "{absent}");

    let empty = harness
        .admin
        .put_lease("ml", "gpu-pool", &json!({}))
        .await?;
    assert_eq!(empty["spec"], json!({}));
    // A Lease as kubectl would show it; its other metadata is ignored.
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "ignored", "labels": {"pool": "gpu"},
                     "annotations": {"queue-scaler/raise": "1"}},
        "spec": {"holderIdentity": "scale-up-1", "leaseDurationSeconds": 15},
    });
    let held = harness.admin.put_lease("ml", "gpu-pool", &lease).await?;
    assert_eq!(held["metadata"]["name"], "gpu-pool");
    assert_eq!(held["metadata"]["uid"], empty["metadata"]["uid"]);
    assert!(resource_version(&held)? > resource_version(&empty)?);
    assert_eq!(held["metadata"]["labels"], json!({"pool": "gpu"}));
    assert_eq!(held["spec"], lease["spec"]);
    assert_eq!(harness.admin.lease("ml", "gpu-pool").await?, held);

    // Replaced, not merged: what is not given is gone.
    let released = harness
        .admin
        .put_lease("ml", "gpu-pool", &json!({"spec": {"leaseTransitions": 2}}))
        .await?;
    assert_eq!(released["spec"], json!({"leaseTransitions": 2}));
    assert!(released["metadata"].get("annotations").is_none());
    assert!(released["metadata"].get("labels").is_none());

    // Leases and deployments take their resource versions from one counter.
    let set = harness.admin.set_replicas("ml", "model-worker", 3).await?;
    assert!(set.resource_version.parse::<u64>()? > resource_version(&released)?);
    Ok(())
}

#[tokio::test]
async fn admin_refuses_a_lease_that_kube_apiserver_would_refuse() -> TestResult {
    let harness = Harness::start().await?;
    for (name, body) in [
        (
            "gpu-pool",
            json!({"spec": {"renewTime": "2025-06-01T12:00:05Z"}}),
        ),
        ("gpu-pool", json!({"spec": {"leaseDurationSeconds": 0}})),
        ("gpu-pool", json!({"spec": {"holderIdentity": 7}})),
        ("gpu-pool", json!({"holder": "scale-up-1"})),
        ("gpu-pool", json!(["spec"])),
        (
            "gpu-pool",
            json!({"annotations": {"a": "b"}, "metadata": {"annotations": {"a": "c"}}}),
        ),
        ("Gpu_Pool", json!({})),
    ] {
        let refused = harness
            .admin
            .put_lease("ml", name, &body)
            .await
            .expect_err("refused");
        assert_eq!(
            refused.status(),
            Some(StatusCode::BAD_REQUEST),
            "{body}: {refused}"
        );
    }
    let absent = harness
        .admin
        .lease("ml", "gpu-pool")
        .await
        .expect_err("none");
    assert_eq!(absent.status(), Some(StatusCode::NOT_FOUND));
    Ok(())
}

#[tokio::test]
async fn lease_grants_are_listed_with_their_verbs_and_can_be_revoked() -> TestResult {
    let harness = Harness::start().await?;
    assert_eq!(harness.admin.lease_grants().await?, []);
    let grant = LeaseGrant::new("someone@p.iam.gserviceaccount.com", "ml", "gpu-pool");
    let granted = harness.admin.grant_lease(&grant).await?;
    assert_eq!(granted, grant.clone().verbs(["get", "update"]));
    let widened = harness
        .admin
        .grant_lease(&grant.clone().verbs(["update", "create", "get"]))
        .await?;
    assert_eq!(widened, grant.clone().verbs(["create", "get", "update"]));
    assert_eq!(harness.admin.lease_grants().await?, [widened]);

    for bad in [
        grant.clone().verbs(["steal"]),
        grant.clone().verbs([]),
        LeaseGrant::new("", "ml", "gpu-pool"),
    ] {
        let refused = harness.admin.grant_lease(&bad).await.expect_err("refused");
        assert_eq!(refused.status(), Some(StatusCode::BAD_REQUEST), "{bad:?}");
    }

    harness.admin.revoke_lease_grant(&grant).await?;
    let again = harness
        .admin
        .revoke_lease_grant(&grant)
        .await
        .expect_err("already revoked");
    assert_eq!(again.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(harness.admin.lease_grants().await?, []);
    Ok(())
}
