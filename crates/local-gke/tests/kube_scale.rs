//! The Kubernetes API's deployments/scale subresource behaves, and fails, like a real
//! kube-apiserver's: same bodies, same Status messages, reasons and details.

mod common;

use std::time::Duration;

use common::{Fallible, Harness, Scaler, TestResult};
use local_gke::admin::AdminGrant;
use local_gke::{deployment_path, scale_path, Config, Grant, CLOUD_PLATFORM_SCOPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const MERGE_PATCH: &str = "application/merge-patch+json";

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
    let scaler = Scaler::start().await?;
    let (status, scale) = scaler.get("model-worker").await?;
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
    let scaler = Scaler::start().await?;
    let (_, before) = scaler.get("model-worker").await?;
    let version = resource_version(&before)?;
    let (status, after) = scaler
        .put("model-worker", &scale_body(5, Some(&version)))
        .await?;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["spec"]["replicas"], 5);
    assert_ne!(resource_version(&after)?, version);
    assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(scaler.replicas_of("model-worker").await?, 5);
    Ok(())
}

#[tokio::test]
async fn replacing_scale_at_a_stale_resource_version_conflicts_and_leaves_replicas_unchanged(
) -> TestResult {
    let scaler = Scaler::start().await?;
    let (_, read) = scaler.get("model-worker").await?;
    let stale = resource_version(&read)?;
    // Someone else scales in between.
    scaler.admin.set_replicas("ml", "model-worker", 3).await?;
    let (status, body) = scaler
        .put("model-worker", &scale_body(7, Some(&stale)))
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
    assert_eq!(scaler.replicas_of("model-worker").await?, 3);
    Ok(())
}

#[tokio::test]
async fn replacing_scale_without_a_resource_version_is_unconditional() -> TestResult {
    let scaler = Scaler::start().await?;
    scaler.admin.set_replicas("ml", "model-worker", 3).await?;
    let (status, body) = scaler.put("model-worker", &scale_body(4, None)).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(scaler.replicas_of("model-worker").await?, 4);
    Ok(())
}

#[tokio::test]
async fn a_patch_of_the_scale_which_the_functions_never_send_is_not_served() -> TestResult {
    // The default grant covers patch: authorized, then refused as a method not served, and
    // nothing changes.
    let scaler = Scaler::start().await?;
    let (status, body) = scaler
        .patch(
            "model-worker",
            MERGE_PATCH,
            &json!({"spec": {"replicas": 6}}),
        )
        .await?;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["reason"], "MethodNotAllowed");
    assert_eq!(scaler.replicas_of("model-worker").await?, 2);
    Ok(())
}

#[tokio::test]
async fn replacing_scale_with_a_body_that_is_not_json_is_an_unsupported_media_type() -> TestResult {
    let scaler = Scaler::start().await?;
    let yaml = ("application/yaml", "spec:\n  replicas: 4\n".to_owned());
    let (status, body) = scaler
        .send(Method::PUT, &scale_path("ml", "model-worker"), Some(yaml))
        .await?;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["reason"], "UnsupportedMediaType");
    Ok(())
}

#[tokio::test]
async fn negative_replicas_are_invalid_with_a_field_cause() -> TestResult {
    let scaler = Scaler::start().await?;
    let (status, body) = scaler.put("model-worker", &scale_body(-1, None)).await?;
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
    assert_eq!(scaler.replicas_of("model-worker").await?, 2);
    Ok(())
}

#[tokio::test]
async fn a_body_naming_another_deployment_is_a_bad_request() -> TestResult {
    let scaler = Scaler::start().await?;
    let mut body = scale_body(4, None);
    body["metadata"]["name"] = json!("other-worker");
    let (status, body) = scaler.put("model-worker", &body).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["reason"], "BadRequest");
    assert_eq!(
        body["message"],
        "the name of the object (other-worker) does not match the name on the URL (model-worker)"
    );
    assert_eq!(scaler.replicas_of("model-worker").await?, 2);
    Ok(())
}

#[tokio::test]
async fn a_request_without_a_live_token_is_unauthorized() -> TestResult {
    let harness = Harness::start().await?;
    let unauthorized = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401
    });
    let path = scale_path("ml", "model-worker");
    let (status, body) = harness
        .cluster_request(Method::GET, &path, None, None)
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, unauthorized);

    let (status, body) = harness
        .get_scale("ml", "model-worker", "ya29.not-issued-here")
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, unauthorized);
    Ok(())
}

#[tokio::test]
async fn an_expired_token_is_unauthorized() -> TestResult {
    let harness = Harness::with_token_lifetime(1).await?;
    let scaler = Scaler::on(harness).await?;
    let (status, _) = scaler.get("model-worker").await?;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = scaler.get("model-worker").await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    Ok(())
}

#[tokio::test]
async fn an_ungranted_deployment_is_forbidden_naming_user_verb_and_namespace() -> TestResult {
    let scaler = Scaler::start().await?;
    scaler.admin.set_replicas("ml", "other-worker", 1).await?;
    let forbidden = |verb: &str| {
        format!(
            "deployments.apps \"other-worker\" is forbidden: User \"{}\" cannot {verb} resource \"deployments/scale\" in API group \"apps\" in the namespace \"ml\"",
            scaler.email()
        )
    };

    let (status, body) = scaler.get("other-worker").await?;
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
    let (status, body) = scaler.put("other-worker", &body).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["message"], json!(forbidden("update")));

    let (status, body) = scaler
        .patch(
            "other-worker",
            MERGE_PATCH,
            &json!({"spec": {"replicas": 9}}),
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["message"], json!(forbidden("patch")));

    assert_eq!(scaler.replicas_of("other-worker").await?, 1);
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

    let grant = AdminGrant::new(harness.client_id(), "ml", "model-worker");
    harness.admin.set_grant(&grant).await?;
    let (status, body) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}

#[tokio::test]
async fn a_granted_deployment_that_does_not_exist_is_not_found() -> TestResult {
    let scaler = Scaler::start().await?;
    let grant = AdminGrant::new(scaler.email(), "ml", "ghost");
    scaler.admin.set_grant(&grant).await?;
    let (status, body) = scaler.get("ghost").await?;
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
    let scaler = Scaler::on(harness).await?;
    let (status, _) = scaler.get("model-worker").await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    Ok(())
}

#[tokio::test]
async fn other_methods_on_scale_are_forbidden_like_any_ungranted_verb() -> TestResult {
    let scaler = Scaler::start().await?;
    let (status, body) = scaler
        .send(Method::DELETE, &scale_path("ml", "model-worker"), None)
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["message"],
        json!(format!(
            "deployments.apps \"model-worker\" is forbidden: User \"{}\" cannot delete resource \"deployments/scale\" in API group \"apps\" in the namespace \"ml\"",
            scaler.email()
        ))
    );
    Ok(())
}

#[tokio::test]
async fn every_other_resource_is_forbidden_to_a_live_token_and_unauthorized_without_one(
) -> TestResult {
    // Under least-privilege RBAC a kube-apiserver authorizes before it routes: the service
    // account, granted only deployments/scale, is refused anything else with 403.
    let scaler = Scaler::start().await?;
    let (status, body) = scaler
        .send(Method::DELETE, &deployment_path("ml", "model-worker"), None)
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("deployments.apps \"model-worker\" is forbidden: User \"{}\" cannot delete resource \"deployments\" in API group \"apps\" in the namespace \"ml\"", scaler.email()),
            "reason": "Forbidden",
            "details": {"name": "model-worker", "group": "apps", "kind": "deployments"},
            "code": 403
        })
    );
    let secrets = "/api/v1/namespaces/ml/secrets";
    let (status, body) = scaler.send(Method::GET, secrets, None).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["message"],
        format!("secrets is forbidden: User \"{}\" cannot list resource \"secrets\" in API group \"\" in the namespace \"ml\"", scaler.email())
    );
    assert_eq!(body["details"], json!({"kind": "secrets"}));

    let (status, _) = scaler
        .cluster_request(Method::GET, secrets, None, None)
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(scaler.replicas_of("model-worker").await?, 2);
    Ok(())
}
