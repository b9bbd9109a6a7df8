//! SelfSubjectAccessReview and SelfSubjectReview on the cluster listener: any authenticated
//! caller may create them, an access review is decided by the very grants the scale subresource
//! enforces (widened, narrowed or removed through the admin API), and a subject review names the
//! identity the cluster sees.

mod common;

use common::{Fallible, Harness, Scaler, TestResult};
use local_gke::admin::{AdminGrant, Listener, RequestKind};
use local_gke::{deployment_path, CLOUD_PLATFORM_SCOPE, USERINFO_EMAIL_SCOPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SSAR_PATH: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
const SSR_PATH: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

/// Posts `body` to `path` on the cluster listener with `token` (none if `None`).
async fn post(
    harness: &Harness,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Fallible<(StatusCode, Value)> {
    let body = ("application/json", body.to_string());
    harness
        .cluster_request(Method::POST, path, token, Some(body))
        .await
}

/// A SelfSubjectAccessReview of `attributes`, as kubectl auth can-i sends it.
fn access_review(attributes: &Value) -> Value {
    json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    })
}

fn scale_attributes(verb: &str) -> Value {
    json!({"namespace": "ml", "verb": verb, "group": "apps", "resource": "deployments",
        "subresource": "scale", "name": "model-worker"})
}

fn deployment_attributes(verb: &str) -> Value {
    json!({"namespace": "ml", "verb": verb, "group": "apps", "resource": "deployments",
        "name": "model-worker"})
}

/// Whether a review of `attributes` comes back allowed; fails unless it is a 201 review.
async fn allowed(harness: &Harness, token: &str, attributes: &Value) -> Fallible<bool> {
    let (status, review) =
        post(harness, SSAR_PATH, Some(token), &access_review(attributes)).await?;
    if status != StatusCode::CREATED {
        return Err(format!("review of {attributes}: {status} {review}").into());
    }
    review["status"]["allowed"]
        .as_bool()
        .ok_or_else(|| format!("no status.allowed in {review}").into())
}

/// Whether a review of `attributes` by the scaler comes back allowed.
async fn can(scaler: &Scaler, attributes: &Value) -> Fallible<bool> {
    allowed(scaler, &scaler.token, attributes).await
}

/// A PATCH of the Deployment itself (not its scale).
async fn patch_deployment(scaler: &Scaler) -> Fallible<(StatusCode, Value)> {
    let patch = r#"{"spec":{"replicas":9}}"#.to_owned();
    scaler
        .send(
            Method::PATCH,
            &deployment_path("ml", "model-worker"),
            Some(("application/merge-patch+json", patch)),
        )
        .await
}

#[tokio::test]
async fn the_default_grant_allows_get_update_and_patch_on_the_scale_with_rbacs_reason() -> TestResult
{
    let scaler = Scaler::start().await?;
    for verb in ["get", "update", "patch"] {
        let (status, review) = post(
            &scaler,
            SSAR_PATH,
            Some(&scaler.token),
            &access_review(&scale_attributes(verb)),
        )
        .await?;
        assert_eq!(status, StatusCode::CREATED, "{verb}: {review}");
        assert_eq!(review["apiVersion"], "authorization.k8s.io/v1");
        assert_eq!(review["kind"], "SelfSubjectAccessReview");
        assert_eq!(review["spec"]["resourceAttributes"], scale_attributes(verb));
        assert_eq!(review["status"]["allowed"], true, "{verb}: {review}");
        assert_eq!(
            review["status"]["reason"],
            format!(
                "RBAC: allowed by RoleBinding \"queue-scaler/ml\" of Role \"queue-scaler\" to User \"{}\"",
                scaler.email()
            )
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_default_grant_reads_the_deployment_itself_as_the_shipped_role_does() -> TestResult {
    let scaler = Scaler::start().await?;
    assert!(can(&scaler, &deployment_attributes("get")).await?);
    let mut other = deployment_attributes("get");
    other["name"] = json!("other-worker");
    assert!(!can(&scaler, &other).await?);
    Ok(())
}

#[tokio::test]
async fn everything_else_is_denied_without_a_reason() -> TestResult {
    let scaler = Scaler::start().await?;
    let mut other_name = scale_attributes("get");
    other_name["name"] = json!("other-worker");
    let mut no_name = scale_attributes("get");
    no_name.as_object_mut().ok_or("an object")?.remove("name");
    let mut other_namespace = scale_attributes("get");
    other_namespace["namespace"] = json!("default");
    let mut core_group = scale_attributes("get");
    core_group["group"] = json!("");
    let denied = [
        deployment_attributes("patch"),
        deployment_attributes("delete"),
        deployment_attributes("update"),
        scale_attributes("delete"),
        scale_attributes("create"),
        scale_attributes("list"),
        other_name,
        no_name,
        other_namespace,
        core_group,
        json!({"namespace": "ml", "verb": "get", "resource": "secrets", "name": "s"}),
    ];
    for attributes in &denied {
        let (status, review) = post(
            &scaler,
            SSAR_PATH,
            Some(&scaler.token),
            &access_review(attributes),
        )
        .await?;
        assert_eq!(status, StatusCode::CREATED, "{attributes}: {review}");
        assert_eq!(
            review["status"],
            json!({"allowed": false}),
            "{attributes}: {review}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_token_without_userinfo_email_is_a_number_no_grant_names() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.token(CLOUD_PLATFORM_SCOPE).await?;
    assert!(!allowed(&harness, &token, &scale_attributes("get")).await?);
    let (status, _) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    Ok(())
}

#[tokio::test]
async fn reviews_need_a_live_token_and_nothing_more() -> TestResult {
    let harness = Harness::start().await?;
    for token in [None, Some("ya29.not-issued-here")] {
        for path in [SSAR_PATH, SSR_PATH] {
            let (status, body) = post(
                &harness,
                path,
                token,
                &access_review(&scale_attributes("get")),
            )
            .await?;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
            assert_eq!(body["kind"], "Status");
            assert_eq!(body["reason"], "Unauthorized");
        }
    }
    // An identity with no grant at all may still ask: the answer is "no", not 403.
    let grant = AdminGrant::new(harness.email(), "ml", "model-worker");
    harness.admin.remove_grant(&grant.key()).await?;
    let token = harness.scaler_token().await?;
    let (status, review) = post(
        &harness,
        SSAR_PATH,
        Some(&token),
        &access_review(&scale_attributes("get")),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{review}");
    assert_eq!(review["status"]["allowed"], false);
    Ok(())
}

#[tokio::test]
async fn a_grant_that_also_covers_deployments_shows_patch_allowed() -> TestResult {
    let scaler = Scaler::start().await?;
    assert!(!can(&scaler, &deployment_attributes("patch")).await?);
    let (status, body) = patch_deployment(&scaler).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let wide = AdminGrant::new(scaler.email(), "ml", "model-worker")
        .verbs(["get", "update", "patch"])
        .resources(["deployments/scale", "deployments"]);
    let grant = scaler.admin.set_grant(&wide).await?;
    assert_eq!(
        grant.verbs,
        Some(["get", "patch", "update"].map(str::to_owned).to_vec())
    );
    assert_eq!(
        grant.resources,
        Some(
            ["deployments", "deployments/scale"]
                .map(str::to_owned)
                .to_vec()
        )
    );

    assert!(can(&scaler, &deployment_attributes("patch")).await?);
    assert!(can(&scaler, &deployment_attributes("get")).await?);
    assert!(!can(&scaler, &deployment_attributes("delete")).await?);
    assert!(can(&scaler, &scale_attributes("update")).await?);
    // The request itself is now authorized; local-gke serves only reads of the Deployment
    // object, so it is refused as a method the server does not serve, not as forbidden.
    let (status, body) = patch_deployment(&scaler).await?;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["reason"], "MethodNotAllowed");
    // The scale still works.
    let (status, scale) = scaler.get("model-worker").await?;
    assert_eq!(status, StatusCode::OK, "{scale}");
    Ok(())
}

#[tokio::test]
async fn a_removed_grant_shows_denied_and_the_scale_is_forbidden() -> TestResult {
    let scaler = Scaler::start().await?;
    assert!(can(&scaler, &scale_attributes("get")).await?);
    let grant = AdminGrant::new(scaler.email(), "ml", "model-worker");
    scaler.admin.remove_grant(&grant.key()).await?;
    for verb in ["get", "update", "patch"] {
        assert!(!can(&scaler, &scale_attributes(verb)).await?, "{verb}");
    }
    let (status, body) = scaler.get("model-worker").await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let gone = scaler
        .admin
        .remove_grant(&grant.key())
        .await
        .expect_err("the grant is gone");
    assert_eq!(gone.status(), Some(StatusCode::NOT_FOUND), "{gone}");
    // Granting it again restores it.
    scaler.admin.set_grant(&grant).await?;
    assert!(can(&scaler, &scale_attributes("patch")).await?);
    Ok(())
}

#[tokio::test]
async fn a_narrowed_grant_is_what_both_the_review_and_the_scale_enforce() -> TestResult {
    let scaler = Scaler::start().await?;
    let narrow = AdminGrant::new(scaler.email(), "ml", "model-worker").verbs(["get", "update"]);
    scaler.admin.set_grant(&narrow).await?;
    assert!(can(&scaler, &scale_attributes("get")).await?);
    assert!(can(&scaler, &scale_attributes("update")).await?);
    assert!(!can(&scaler, &scale_attributes("patch")).await?);
    let (status, _) = scaler
        .patch(
            "model-worker",
            "application/merge-patch+json",
            &json!({"spec": {"replicas": 3}}),
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(scaler.replicas_of("model-worker").await?, 2);
    Ok(())
}

#[tokio::test]
async fn the_admin_api_lists_grants_and_refuses_unknown_verbs_and_resources() -> TestResult {
    let harness = Harness::start().await?;
    let (status, list) = harness.admin.send_raw(Method::GET, "/grants", None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list,
        json!({"grants": [{"identity": harness.email(), "namespace": "ml",
            "deployment": "model-worker", "verbs": ["get", "patch", "update"],
            "resources": ["deployments/scale"]}]})
    );
    let base = json!({"identity": "a@p", "namespace": "ml", "deployment": "model-worker"});
    for (field, value) in [
        ("verbs", json!(["scale"])),
        ("verbs", json!([])),
        ("resources", json!(["secrets"])),
        ("resources", json!(["deployments/"])),
        ("resources", json!([])),
        ("role", json!("admin")),
    ] {
        let mut body = base.clone();
        body[field] = value.clone();
        let (status, answer) = harness
            .admin
            .send_raw(Method::POST, "/grants", Some(&body))
            .await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field} {value}: {answer}");
    }
    assert_eq!(harness.admin.grants().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_review_with_no_attributes_is_invalid_and_one_of_another_kind_a_bad_request() -> TestResult
{
    let scaler = Scaler::start().await?;
    let (status, body) = post(
        &scaler,
        SSAR_PATH,
        Some(&scaler.token),
        &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {}}),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["reason"], "Invalid");
    assert_eq!(
        body["message"],
        "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"
    );
    assert_eq!(
        body["details"]["causes"][0]["field"],
        "spec.resourceAttributes"
    );

    let (status, body) = post(
        &scaler,
        SSAR_PATH,
        Some(&scaler.token),
        &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"resourceAttributes": scale_attributes("get")}}),
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    Ok(())
}

#[tokio::test]
async fn discovery_paths_are_open_to_every_authenticated_user_and_nothing_else() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.token(CLOUD_PLATFORM_SCOPE).await?;
    for (path, verb, expected) in [
        ("/healthz", "get", true),
        ("/apis/apps/v1", "get", true),
        ("/metrics", "get", false),
        ("/healthz", "post", false),
    ] {
        let (status, review) = post(
            &harness,
            SSAR_PATH,
            Some(&token),
            &json!({"spec": {"nonResourceAttributes": {"path": path, "verb": verb}}}),
        )
        .await?;
        assert_eq!(status, StatusCode::CREATED, "{review}");
        assert_eq!(review["status"]["allowed"], expected, "{path} {verb}");
    }
    Ok(())
}

/// A SelfSubjectReview, as kubectl auth whoami sends it.
async fn whoami(harness: &Harness, token: &str) -> Fallible<Value> {
    let (status, review) = post(
        harness,
        SSR_PATH,
        Some(token),
        &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
    )
    .await?;
    if status != StatusCode::CREATED {
        return Err(format!("SelfSubjectReview: {status} {review}").into());
    }
    Ok(review)
}

#[tokio::test]
async fn a_subject_review_names_the_email_with_userinfo_email_and_the_number_without() -> TestResult
{
    let harness = Harness::start().await?;
    let with_email = harness
        .token(&format!("{CLOUD_PLATFORM_SCOPE} {USERINFO_EMAIL_SCOPE}"))
        .await?;
    let review = whoami(&harness, &with_email).await?;
    assert_eq!(review["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(review["kind"], "SelfSubjectReview");
    assert!(review["metadata"]["creationTimestamp"]
        .as_str()
        .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()));
    assert_eq!(
        review["status"]["userInfo"],
        json!({"username": harness.email(), "uid": harness.client_id(),
            "groups": ["system:authenticated"]})
    );

    let without_email = harness.token(CLOUD_PLATFORM_SCOPE).await?;
    let review = whoami(&harness, &without_email).await?;
    let username = review["status"]["userInfo"]["username"]
        .as_str()
        .ok_or("no username")?;
    assert_eq!(username, harness.client_id());
    assert!(username.bytes().all(|b| b.is_ascii_digit()), "{username}");
    assert_eq!(
        review["status"]["userInfo"]["groups"],
        json!(["system:authenticated"])
    );
    Ok(())
}

#[tokio::test]
async fn reviews_are_logged_by_kind() -> TestResult {
    let scaler = Scaler::start().await?;
    can(&scaler, &scale_attributes("get")).await?;
    whoami(&scaler, &scaler.token).await?;
    let requests = scaler.admin.requests().await?;
    let kinds: Vec<(&str, RequestKind)> = requests
        .iter()
        .filter(|r| r.listener == Listener::Cluster)
        .map(|r| (r.path.as_str(), r.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            (SSAR_PATH, RequestKind::SelfSubjectAccessReview),
            (SSR_PATH, RequestKind::SelfSubjectReview),
        ]
    );
    Ok(())
}
