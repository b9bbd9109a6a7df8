//! The Kubernetes API's deployments/scale subresource behaves, and fails, like a real
//! kube-apiserver's: same bodies, same Status messages, reasons and details.

mod common;

use std::time::Duration;

use common::{Fallible, Harness, TestResult};
use local_gke::{Config, Grant, CLOUD_PLATFORM_SCOPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn patch_scale(
    harness: &Harness,
    token: &str,
    content_type: &str,
    body: &Value,
) -> Fallible<(StatusCode, Value)> {
    let response = harness
        .cluster
        .patch(harness.scale_url("ml", "model-worker"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await?;
    Ok((response.status(), response.json().await?))
}

fn resource_version(scale: &Value) -> Fallible<String> {
    Ok(scale["metadata"]["resourceVersion"]
        .as_str()
        .ok_or("resourceVersion is not a string")?
        .to_owned())
}

fn scale_body(replicas: i64, resource_version: Option<&str>) -> Value {
    let mut metadata = json!({"name": "model-worker", "namespace": "ml"});
    if let Some(version) = resource_version {
        metadata["resourceVersion"] = json!(version);
    }
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": metadata, "spec": {"replicas": replicas}})
}

#[tokio::test]
async fn reading_scale_returns_an_autoscaling_v1_scale() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let (status, scale) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(status, StatusCode::OK, "{scale}");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["metadata"]["name"], "model-worker");
    assert_eq!(scale["metadata"]["namespace"], "ml");
    assert_eq!(scale["metadata"]["uid"].as_str().map(str::len), Some(36));
    assert!(resource_version(&scale)?.parse::<u64>().is_ok());
    assert!(scale["metadata"]["creationTimestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(scale["spec"], json!({"replicas": 2}));
    assert_eq!(
        scale["status"],
        json!({"replicas": 2, "selector": "app=model-worker"})
    );
    Ok(())
}

#[tokio::test]
async fn replacing_scale_at_the_current_resource_version_sets_replicas_and_a_new_version(
) -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let (_, before) = harness.get_scale("ml", "model-worker", &token).await?;
    let version = resource_version(&before)?;
    let (status, after) = harness
        .put_scale("ml", "model-worker", &token, &scale_body(5, Some(&version)))
        .await?;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["spec"]["replicas"], 5);
    assert_ne!(resource_version(&after)?, version);
    assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(harness.replicas("ml", "model-worker").await?, 5);
    Ok(())
}

#[tokio::test]
async fn replacing_scale_at_a_stale_resource_version_conflicts_and_leaves_replicas_unchanged(
) -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let (_, read) = harness.get_scale("ml", "model-worker", &token).await?;
    let stale = resource_version(&read)?;
    // Someone else scales in between.
    harness
        .admin(
            Method::PUT,
            "/deployments/ml/model-worker",
            Some(json!({"replicas": 3})),
        )
        .await?;
    let (status, body) = harness
        .put_scale("ml", "model-worker", &token, &scale_body(7, Some(&stale)))
        .await?;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Operation cannot be fulfilled on deployments.apps \"model-worker\": the object has been modified; please apply your changes to the latest version and try again",
            "reason": "Conflict",
            "details": {"name": "model-worker", "group": "apps", "kind": "deployments"},
            "code": 409
        })
    );
    assert_eq!(harness.replicas("ml", "model-worker").await?, 3);
    Ok(())
}

#[tokio::test]
async fn replacing_scale_without_a_resource_version_is_unconditional() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    harness
        .admin(
            Method::PUT,
            "/deployments/ml/model-worker",
            Some(json!({"replicas": 3})),
        )
        .await?;
    let (status, body) = harness
        .put_scale("ml", "model-worker", &token, &scale_body(4, None))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(harness.replicas("ml", "model-worker").await?, 4);
    Ok(())
}

#[tokio::test]
async fn a_merge_patch_sets_replicas() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let (status, body) = patch_scale(
        &harness,
        &token,
        "application/merge-patch+json",
        &json!({"spec": {"replicas": 6}}),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["spec"]["replicas"], 6);
    assert_eq!(harness.replicas("ml", "model-worker").await?, 6);
    Ok(())
}

#[tokio::test]
async fn a_merge_patch_at_a_stale_resource_version_conflicts() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let (_, read) = harness.get_scale("ml", "model-worker", &token).await?;
    let stale = resource_version(&read)?;
    harness
        .admin(
            Method::PUT,
            "/deployments/ml/model-worker",
            Some(json!({"replicas": 3})),
        )
        .await?;
    let (status, body) = patch_scale(
        &harness,
        &token,
        "application/merge-patch+json",
        &json!({"metadata": {"resourceVersion": stale}, "spec": {"replicas": 6}}),
    )
    .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["reason"], "Conflict");
    assert_eq!(harness.replicas("ml", "model-worker").await?, 3);
    Ok(())
}

#[tokio::test]
async fn other_patch_types_are_an_unsupported_media_type() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let patch = json!({"spec": {"replicas": 6}});
    for content_type in [
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
    ] {
        let (status, body) = patch_scale(&harness, &token, content_type, &patch).await?;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
        assert_eq!(body["reason"], "UnsupportedMediaType");
        assert_eq!(body["code"], 415);
        assert_eq!(
            body["message"],
            "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json"
        );
    }
    // Not a patch type at all: kube's router answers before any handler.
    let (status, body) = patch_scale(&harness, &token, "application/json", &patch).await?;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["message"], "415: Unsupported Media Type");
    assert_eq!(harness.replicas("ml", "model-worker").await?, 2);
    Ok(())
}

#[tokio::test]
async fn replacing_scale_with_a_body_that_is_not_json_is_an_unsupported_media_type() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let response = harness
        .cluster
        .put(harness.scale_url("ml", "model-worker"))
        .bearer_auth(&token)
        .header("content-type", "application/yaml")
        .body("spec:\n  replicas: 4\n")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = response.json().await?;
    assert_eq!(body["reason"], "UnsupportedMediaType");
    Ok(())
}

#[tokio::test]
async fn negative_replicas_are_invalid_with_a_field_cause() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let (status, body) = harness
        .put_scale("ml", "model-worker", &token, &scale_body(-1, None))
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Scale.autoscaling \"model-worker\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "reason": "Invalid",
            "details": {
                "name": "model-worker", "group": "autoscaling", "kind": "Scale",
                "causes": [{
                    "reason": "FieldValueInvalid",
                    "message": "Invalid value: -1: must be greater than or equal to 0",
                    "field": "spec.replicas"
                }]
            },
            "code": 422
        })
    );
    assert_eq!(harness.replicas("ml", "model-worker").await?, 2);
    Ok(())
}

#[tokio::test]
async fn a_body_naming_another_deployment_is_a_bad_request() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let mut body = scale_body(4, None);
    body["metadata"]["name"] = json!("other-worker");
    let (status, body) = harness
        .put_scale("ml", "model-worker", &token, &body)
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["reason"], "BadRequest");
    assert_eq!(
        body["message"],
        "the name of the object (other-worker) does not match the name on the URL (model-worker)"
    );
    assert_eq!(harness.replicas("ml", "model-worker").await?, 2);
    Ok(())
}

#[tokio::test]
async fn a_request_without_a_live_token_is_unauthorized() -> TestResult {
    let harness = Harness::start().await?;
    let unauthorized = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401
    });
    let response = harness
        .cluster
        .get(harness.scale_url("ml", "model-worker"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await?, unauthorized);

    let (status, body) = harness
        .get_scale("ml", "model-worker", "ya29.not-issued-here")
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, unauthorized);
    Ok(())
}

#[tokio::test]
async fn an_expired_token_is_unauthorized() -> TestResult {
    let harness = Harness::start().await?;
    harness.set_token_lifetime(1).await?;
    let token = harness.scaler_token().await?;
    let (status, _) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    Ok(())
}

#[tokio::test]
async fn an_ungranted_deployment_is_forbidden_naming_user_verb_and_namespace() -> TestResult {
    let harness = Harness::start().await?;
    harness
        .admin(
            Method::PUT,
            "/deployments/ml/other-worker",
            Some(json!({"replicas": 1})),
        )
        .await?;
    let token = harness.scaler_token().await?;
    let forbidden = |verb: &str| {
        format!(
            "deployments.apps \"other-worker\" is forbidden: User \"{}\" cannot {verb} resource \"deployments/scale\" in API group \"apps\" in the namespace \"ml\"",
            harness.email()
        )
    };

    let (status, body) = harness.get_scale("ml", "other-worker", &token).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": forbidden("get"),
            "reason": "Forbidden",
            "details": {"name": "other-worker", "group": "apps", "kind": "deployments"},
            "code": 403
        })
    );

    let mut body = scale_body(9, None);
    body["metadata"]["name"] = json!("other-worker");
    let (status, body) = harness
        .put_scale("ml", "other-worker", &token, &body)
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["message"], json!(forbidden("update")));

    let response = harness
        .cluster
        .patch(harness.scale_url("ml", "other-worker"))
        .bearer_auth(&token)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"spec":{"replicas":9}}"#)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.json::<Value>().await?["message"],
        json!(forbidden("patch"))
    );

    assert_eq!(harness.replicas("ml", "other-worker").await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_token_without_userinfo_email_acts_as_the_numeric_account_id() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.token(CLOUD_PLATFORM_SCOPE).await?;
    let (status, body) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let message = body["message"].as_str().ok_or("no message")?;
    assert!(
        message.contains(&format!("User \"{}\"", harness.client_id())),
        "{message}"
    );

    harness
        .grant(harness.client_id(), "ml", "model-worker")
        .await?;
    let (status, body) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}

#[tokio::test]
async fn a_granted_deployment_that_does_not_exist_is_not_found() -> TestResult {
    let harness = Harness::start().await?;
    harness.grant(harness.email(), "ml", "ghost").await?;
    let token = harness.scaler_token().await?;
    let (status, body) = harness.get_scale("ml", "ghost", &token).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "deployments.apps \"ghost\" not found",
            "reason": "NotFound",
            "details": {"name": "ghost", "group": "apps", "kind": "deployments"},
            "code": 404
        })
    );
    Ok(())
}

#[tokio::test]
async fn explicit_grants_replace_the_default_grant_to_the_service_account() -> TestResult {
    let harness = Harness::start_with(Config {
        grants: vec![Grant {
            identity: "someone-else@demo-project.iam.gserviceaccount.com".to_owned(),
            namespace: "ml".to_owned(),
            deployment: "model-worker".to_owned(),
        }],
        ..Config::default()
    })
    .await?;
    let token = harness.scaler_token().await?;
    let (status, _) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    Ok(())
}

#[tokio::test]
async fn other_methods_on_scale_are_forbidden_like_any_ungranted_verb() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let response = harness
        .cluster
        .delete(harness.scale_url("ml", "model-worker"))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await?;
    assert_eq!(
        body["message"],
        json!(format!(
            "deployments.apps \"model-worker\" is forbidden: User \"{}\" cannot delete resource \"deployments/scale\" in API group \"apps\" in the namespace \"ml\"",
            harness.email()
        ))
    );
    Ok(())
}

#[tokio::test]
async fn every_other_resource_is_forbidden_to_a_live_token_and_unauthorized_without_one(
) -> TestResult {
    // Under least-privilege RBAC a kube-apiserver authorizes before it routes: the service
    // account, granted only deployments/scale, is refused anything else with 403.
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let base = harness.gke.cluster_url().to_owned();
    let response = harness
        .cluster
        .delete(format!(
            "{base}/apis/apps/v1/namespaces/ml/deployments/model-worker"
        ))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await?;
    assert_eq!(
        body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("deployments.apps \"model-worker\" is forbidden: User \"{}\" cannot delete resource \"deployments\" in API group \"apps\" in the namespace \"ml\"", harness.email()),
            "reason": "Forbidden",
            "details": {"name": "model-worker", "group": "apps", "kind": "deployments"},
            "code": 403
        })
    );
    let response = harness
        .cluster
        .get(format!("{base}/api/v1/namespaces/ml/secrets"))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await?;
    assert_eq!(
        body["message"],
        format!("secrets is forbidden: User \"{}\" cannot list resource \"secrets\" in API group \"\" in the namespace \"ml\"", harness.email())
    );
    assert_eq!(body["details"], json!({"kind": "secrets"}));

    let response = harness
        .cluster
        .get(format!("{base}/api/v1/namespaces/ml/secrets"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(harness.replicas("ml", "model-worker").await?, 2);
    Ok(())
}
