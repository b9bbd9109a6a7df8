//! Events on the cluster listener: the service account creates `events.k8s.io/v1` Events in the
//! namespace of its grant, as the Role of `infra/gke/rbac.yaml` lets it, local-gke keeps them for
//! the admin API to list by deployment, and without the Events rule the answer is kube's 403.

mod common;

use common::{Scaler, TestResult};
use local_gke::admin::{EventGrant, RequestKind};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/ml/events";

fn event(name: &str) -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "ml"},
        "eventTime": "2026-11-28T10:00:00.123456Z",
        "type": "Normal", "reason": "ScaledUp", "action": "Scale",
        "note": "alarm model-worker-backlog-high: live backlog 650; 2 -> 7",
        "reportingController": "queue-scaler", "reportingInstance": "scale-up",
        "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "ml", "name": "model-worker"},
    })
}

impl Scaler {
    async fn create_event(&self, body: &Value) -> common::Fallible<(StatusCode, Value)> {
        self.send(
            Method::POST,
            EVENTS,
            Some(("application/json", body.to_string())),
        )
        .await
    }
}

#[tokio::test]
async fn the_scaler_creates_an_event_on_its_deployment_and_it_is_listed_by_the_deployments_name(
) -> TestResult {
    let scaler = Scaler::start().await?;
    scaler.admin.clear_requests().await?;
    let (status, created) = scaler.create_event(&event("model-worker.1")).await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["metadata"]["name"], "model-worker.1");
    assert_eq!(created["metadata"]["uid"].as_str().map(str::len), Some(36));
    assert!(created["metadata"]["resourceVersion"].is_string());
    assert_eq!(created["reason"], "ScaledUp");

    let listed = scaler.admin.events("ml", "model-worker").await?;
    assert_eq!(listed, vec![created]);
    assert!(scaler.admin.events("ml", "other-model").await?.is_empty());
    let kinds: Vec<RequestKind> = scaler
        .admin
        .take_requests()
        .await?
        .iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(kinds, [RequestKind::EventCreate]);
    Ok(())
}

#[tokio::test]
async fn a_name_taken_is_a_conflict_and_generate_name_gives_a_new_one() -> TestResult {
    let scaler = Scaler::start().await?;
    scaler.create_event(&event("model-worker.1")).await?;
    let (status, body) = scaler.create_event(&event("model-worker.1")).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["reason"], "AlreadyExists");
    let mut generated = event("");
    generated["metadata"] = json!({"generateName": "model-worker-"});
    let (status, body) = scaler.create_event(&generated).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let name = body["metadata"]["name"].as_str().unwrap_or_default();
    assert!(
        name.starts_with("model-worker-") && name.len() == 18,
        "{name}"
    );
    assert_eq!(scaler.admin.events("ml", "model-worker").await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn an_event_the_api_server_would_refuse_is_invalid_and_not_kept() -> TestResult {
    let scaler = Scaler::start().await?;
    let mut no_micros = event("model-worker.1");
    no_micros["eventTime"] = json!("2026-11-28T10:00:00Z");
    let (status, _) = scaler.create_event(&no_micros).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut no_reason = event("model-worker.2");
    no_reason["reason"] = Value::Null;
    let (status, body) = scaler.create_event(&no_reason).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(scaler.admin.events("ml", "model-worker").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn without_the_events_rule_the_answer_is_kubes_403_and_the_access_review_says_no(
) -> TestResult {
    let scaler = Scaler::start().await?;
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": "ml", "verb": "create", "group": "events.k8s.io", "resource": "events"}},
    });
    let ask = || async {
        let (_, answer) = scaler
            .send(
                Method::POST,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                Some(("application/json", review.to_string())),
            )
            .await?;
        common::Fallible::Ok(answer["status"]["allowed"].clone())
    };
    assert_eq!(
        ask().await?,
        json!(true),
        "a grant comes with the Events rule"
    );

    let grant = EventGrant {
        identity: scaler.email().to_owned(),
        namespace: "ml".to_owned(),
    };
    scaler.admin.revoke_events(&grant).await?;
    assert_eq!(ask().await?, json!(false));
    let (status, body) = scaler.create_event(&event("model-worker.1")).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let email = scaler.email();
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("events.events.k8s.io is forbidden: User {email:?} cannot create resource \"events\" in API group \"events.k8s.io\" in the namespace \"ml\""),
            "reason": "Forbidden", "details": {"group": "events.k8s.io", "kind": "events"}, "code": 403})
    );
    // Another namespace was never granted.
    let (status, _) = scaler
        .send(
            Method::POST,
            "/apis/events.k8s.io/v1/namespaces/other/events",
            Some(("application/json", event("x.1").to_string())),
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);

    scaler.admin.grant_events(&grant).await?;
    let (status, body) = scaler.create_event(&event("model-worker.1")).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Ok(())
}

#[tokio::test]
async fn an_event_without_a_token_is_unauthorized() -> TestResult {
    let scaler = Scaler::start().await?;
    let (status, _) = scaler
        .cluster_request(
            Method::POST,
            EVENTS,
            None,
            Some(("application/json", event("model-worker.1").to_string())),
        )
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}
