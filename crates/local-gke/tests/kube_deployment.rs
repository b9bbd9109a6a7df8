//! A read of the Deployment itself on the cluster listener, as a real kube-apiserver answers it:
//! allowed under the default grant (the shipped Role gives `get` on the named Deployment),
//! refused under a grant on the scale alone, and an `apps/v1` Deployment that agrees with its scale subresource, whose pod
//! template carries the tolerations and node selector the admin API sets.

mod common;

use std::collections::BTreeMap;

use common::{Fallible, Scaler, TestResult};
use local_gke::admin::{AdminGrant, PodScheduling, Toleration};
use local_gke::deployment_path;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// GETs `ml/{name}` itself with the scaler's token.
async fn get_deployment(scaler: &Scaler, name: &str) -> Fallible<(StatusCode, Value)> {
    scaler
        .send(Method::GET, &deployment_path("ml", name), None)
        .await
}

/// The default grant, and `get` on the Deployment: one rule, so `update` on it comes too.
async fn allow_reading_the_deployment(scaler: &Scaler) -> TestResult {
    let grant = AdminGrant::new(scaler.email(), "ml", "model-worker")
        .verbs(["get", "update"])
        .resources(["deployments/scale", "deployments"]);
    scaler.admin.set_grant(&grant).await?;
    Ok(())
}

#[tokio::test]
async fn a_grant_on_the_scale_alone_may_not_read_the_deployment_and_no_token_is_unauthorized(
) -> TestResult {
    let scaler = Scaler::start().await?;
    let (status, body) = get_deployment(&scaler, "model-worker").await?;
    assert_eq!(status, StatusCode::OK, "the default grant reads it: {body}");
    let scale_only = AdminGrant::new(scaler.email(), "ml", "model-worker")
        .verbs(["get", "update"])
        .resources(["deployments/scale"]);
    scaler.admin.set_grant(&scale_only).await?;
    let (status, body) = get_deployment(&scaler, "model-worker").await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("deployments.apps \"model-worker\" is forbidden: User \"{}\" cannot get resource \"deployments\" in API group \"apps\" in the namespace \"ml\"", scaler.email()),
            "reason": "Forbidden",
            "details": {"name": "model-worker", "group": "apps", "kind": "deployments"},
            "code": 403
        })
    );
    let (status, body) = scaler
        .cluster_request(
            Method::GET,
            &deployment_path("ml", "model-worker"),
            None,
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    Ok(())
}

#[tokio::test]
async fn a_grant_with_get_on_the_deployment_reads_it_as_its_scale_shows_it() -> TestResult {
    let scaler = Scaler::start().await?;
    allow_reading_the_deployment(&scaler).await?;
    let (status, deployment) = get_deployment(&scaler, "model-worker").await?;
    assert_eq!(status, StatusCode::OK, "{deployment}");
    let (_, scale) = scaler.get("model-worker").await?;
    assert_eq!(deployment["kind"], "Deployment");
    assert_eq!(deployment["apiVersion"], "apps/v1");
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        assert_eq!(
            deployment["metadata"][field], scale["metadata"][field],
            "{field}"
        );
    }
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["spec"]["selector"],
        json!({"matchLabels": {"app": "model-worker"}})
    );
    assert_eq!(scale["status"]["selector"], "app=model-worker");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        (&pod["nodeSelector"], &pod["tolerations"]),
        (
            &json!({"mlonly": "true"}),
            &json!([
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "mlonly", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
            ])
        ),
        "infra/gke/model-deployment.yaml's by default: {deployment}"
    );

    // A write through the scale is a change of the Deployment's spec.
    let mut update = scale.clone();
    update["spec"]["replicas"] = json!(3);
    let (status, written) = scaler.put("model-worker", &update).await?;
    assert_eq!(status, StatusCode::OK, "{written}");
    let (_, after) = get_deployment(&scaler, "model-worker").await?;
    assert_eq!(after["spec"]["replicas"], 3);
    assert_eq!(
        after["metadata"]["resourceVersion"],
        written["metadata"]["resourceVersion"]
    );
    assert_eq!(
        after["metadata"]["generation"].as_i64(),
        deployment["metadata"]["generation"].as_i64().map(|g| g + 1)
    );
    assert_eq!(after["status"]["readyReplicas"], 3);

    // Other names are not covered by the grant.
    let (status, body) = get_deployment(&scaler, "other-worker").await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    Ok(())
}

#[tokio::test]
async fn scheduling_set_through_the_admin_api_is_served_and_moves_the_resource_version(
) -> TestResult {
    let scaler = Scaler::start().await?;
    allow_reading_the_deployment(&scaler).await?;
    let (_, scale) = scaler.get("model-worker").await?;
    let only_gpu = PodScheduling {
        node_selector: BTreeMap::new(),
        tolerations: vec![Toleration::exists("nvidia.com/gpu", "NoSchedule")],
    };
    let state = scaler
        .admin
        .set_scheduling("ml", "model-worker", &only_gpu)
        .await?;
    let (status, deployment) = get_deployment(&scaler, "model-worker").await?;
    assert_eq!(status, StatusCode::OK, "{deployment}");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
    );
    assert!(pod.get("nodeSelector").is_none(), "{pod}");
    assert_eq!(
        deployment["metadata"]["resourceVersion"],
        state.resource_version
    );
    assert_ne!(scale["metadata"]["resourceVersion"], state.resource_version);
    // The scale read before the change is stale now.
    let mut stale = scale.clone();
    stale["spec"]["replicas"] = json!(4);
    let (status, body) = scaler.put("model-worker", &stale).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // What kube-apiserver would refuse, and a deployment that does not exist.
    let mut invalid = only_gpu.clone();
    invalid.tolerations[0].value = "present".to_owned();
    let refused = scaler
        .admin
        .set_scheduling("ml", "model-worker", &invalid)
        .await
        .expect_err("Exists with a value is refused");
    assert_eq!(refused.status(), Some(StatusCode::BAD_REQUEST), "{refused}");
    let refused = scaler
        .admin
        .set_scheduling("ml", "no-such-worker", &only_gpu)
        .await
        .expect_err("no such deployment");
    assert_eq!(refused.status(), Some(StatusCode::NOT_FOUND), "{refused}");
    Ok(())
}

#[tokio::test]
async fn a_granted_deployment_that_does_not_exist_is_not_found() -> TestResult {
    let scaler = Scaler::start().await?;
    let grant = AdminGrant::new(scaler.email(), "ml", "missing-worker")
        .verbs(["get"])
        .resources(["deployments"]);
    scaler.admin.set_grant(&grant).await?;
    let (status, body) = get_deployment(&scaler, "missing-worker").await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["reason"], "NotFound");
    assert_eq!(
        body["message"],
        "deployments.apps \"missing-worker\" not found"
    );
    Ok(())
}
