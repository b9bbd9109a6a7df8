//! SelfSubjectAccessReview and SelfSubjectReview on the cluster listener: any authenticated
//! caller may create them, an access review is decided by the very grants the scale subresource
//! enforces (widened, narrowed or removed through the admin API), and a subject review names the
//! identity the cluster sees.

mod common;

use common::{Fallible, Harness, TestResult};
use local_gke::{CLOUD_PLATFORM_SCOPE, USERINFO_EMAIL_SCOPE};
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
    let mut request = harness
        .cluster
        .post(format!("{}{path}", harness.gke.cluster_url()))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    Ok((response.status(), response.json().await?))
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

async fn set_grant(harness: &Harness, body: Value) -> Fallible<Value> {
    let (status, grant) = harness.admin(Method::POST, "/grants", Some(body)).await?;
    if status != StatusCode::CREATED {
        return Err(format!("setting a grant failed: {status} {grant}").into());
    }
    Ok(grant)
}

/// A PATCH of the Deployment itself (not its scale).
async fn patch_deployment(harness: &Harness, token: &str) -> Fallible<(StatusCode, Value)> {
    let response = harness
        .cluster
        .patch(format!(
            "{}/apis/apps/v1/namespaces/ml/deployments/model-worker",
            harness.gke.cluster_url()
        ))
        .bearer_auth(token)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"spec":{"replicas":9}}"#)
        .send()
        .await?;
    Ok((response.status(), response.json().await?))
}

#[tokio::test]
async fn the_default_grant_allows_get_update_and_patch_on_the_scale_with_rbacs_reason() -> TestResult
{
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    for verb in ["get", "update", "patch"] {
        let (status, review) = post(
            &harness,
            SSAR_PATH,
            Some(&token),
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
                harness.email()
            )
        );
    }
    Ok(())
}

#[tokio::test]
async fn everything_else_is_denied_without_a_reason() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
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
        deployment_attributes("get"),
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
            &harness,
            SSAR_PATH,
            Some(&token),
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
    harness
        .admin(
            Method::DELETE,
            "/grants",
            Some(json!({"identity": harness.email(), "namespace": "ml", "deployment": "model-worker"})),
        )
        .await?;
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
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    assert!(!allowed(&harness, &token, &deployment_attributes("patch")).await?);
    let (status, body) = patch_deployment(&harness, &token).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let grant = set_grant(
        &harness,
        json!({"identity": harness.email(), "namespace": "ml", "deployment": "model-worker",
            "verbs": ["get", "update", "patch"], "resources": ["deployments/scale", "deployments"]}),
    )
    .await?;
    assert_eq!(grant["verbs"], json!(["get", "patch", "update"]));
    assert_eq!(
        grant["resources"],
        json!(["deployments", "deployments/scale"])
    );

    assert!(allowed(&harness, &token, &deployment_attributes("patch")).await?);
    assert!(allowed(&harness, &token, &deployment_attributes("get")).await?);
    assert!(!allowed(&harness, &token, &deployment_attributes("delete")).await?);
    assert!(allowed(&harness, &token, &scale_attributes("update")).await?);
    // The request itself is now authorized; local-gke serves no Deployment object, so it is
    // refused as a method the server does not serve, not as forbidden.
    let (status, body) = patch_deployment(&harness, &token).await?;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["reason"], "MethodNotAllowed");
    // The scale still works.
    let (status, scale) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(status, StatusCode::OK, "{scale}");
    Ok(())
}

#[tokio::test]
async fn a_removed_grant_shows_denied_and_the_scale_is_forbidden() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    assert!(allowed(&harness, &token, &scale_attributes("get")).await?);
    let key = json!({"identity": harness.email(), "namespace": "ml", "deployment": "model-worker"});
    let (status, body) = harness
        .admin(Method::DELETE, "/grants", Some(key.clone()))
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for verb in ["get", "update", "patch"] {
        assert!(
            !allowed(&harness, &token, &scale_attributes(verb)).await?,
            "{verb}"
        );
    }
    let (status, body) = harness.get_scale("ml", "model-worker", &token).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = harness.admin(Method::DELETE, "/grants", Some(key)).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Granting it again restores it.
    harness.grant(harness.email(), "ml", "model-worker").await?;
    assert!(allowed(&harness, &token, &scale_attributes("patch")).await?);
    Ok(())
}

#[tokio::test]
async fn a_narrowed_grant_is_what_both_the_review_and_the_scale_enforce() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    set_grant(
        &harness,
        json!({"identity": harness.email(), "namespace": "ml", "deployment": "model-worker",
            "verbs": ["get", "update"]}),
    )
    .await?;
    assert!(allowed(&harness, &token, &scale_attributes("get")).await?);
    assert!(allowed(&harness, &token, &scale_attributes("update")).await?);
    assert!(!allowed(&harness, &token, &scale_attributes("patch")).await?);
    let response = harness
        .cluster
        .patch(harness.scale_url("ml", "model-worker"))
        .bearer_auth(&token)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"spec":{"replicas":3}}"#)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(harness.replicas("ml", "model-worker").await?, 2);
    Ok(())
}

#[tokio::test]
async fn the_admin_api_lists_grants_and_refuses_unknown_verbs_and_resources() -> TestResult {
    let harness = Harness::start().await?;
    let (status, list) = harness.admin(Method::GET, "/grants", None).await?;
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
        let (status, answer) = harness.admin(Method::POST, "/grants", Some(body)).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field} {value}: {answer}");
    }
    let (_, list) = harness.admin(Method::GET, "/grants", None).await?;
    assert_eq!(list["grants"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[tokio::test]
async fn a_review_with_no_attributes_is_invalid_and_one_of_another_kind_a_bad_request() -> TestResult
{
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let (status, body) = post(
        &harness,
        SSAR_PATH,
        Some(&token),
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
        &harness,
        SSAR_PATH,
        Some(&token),
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
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    allowed(&harness, &token, &scale_attributes("get")).await?;
    whoami(&harness, &token).await?;
    let (_, log) = harness.admin(Method::GET, "/requests", None).await?;
    let kinds: Vec<(&str, &str, &str)> = log["requests"]
        .as_array()
        .ok_or("no requests")?
        .iter()
        .filter_map(|r| {
            Some((
                r["listener"].as_str()?,
                r["path"].as_str()?,
                r["kind"].as_str()?,
            ))
        })
        .filter(|(listener, _, _)| *listener == "cluster")
        .collect();
    assert_eq!(
        kinds,
        [
            ("cluster", SSAR_PATH, "selfsubjectaccessreview"),
            ("cluster", SSR_PATH, "selfsubjectreview"),
        ]
    );
    Ok(())
}
