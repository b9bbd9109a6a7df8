//! `coordination.k8s.io/v1` Leases behave, and fail, like a real kube-apiserver's for the two
//! requests of a compare and swap: `GET`, then `PUT` at the resourceVersion read. Same bodies,
//! same Status messages, reasons and details; the same grants model as the scale subresource;
//! faults and the request log apply to them as to every request.

mod common;

use common::{resource_version, summary, Fallible, Harness, Scaler, TestResult};
use local_gke::admin::{Fault, Listener, RequestKind};
use local_gke::{lease_path, Config, LeaseGrant, LeaseSeed};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const POOL: &str = "gpu-pool";

/// The spec a scaler writes when it takes the Lease.
fn held_by(holder: &str) -> Value {
    json!({
        "holderIdentity": holder,
        "leaseDurationSeconds": 30,
        "acquireTime": "2025-06-01T12:00:00.000000Z",
        "renewTime": "2025-06-01T12:00:05.250000Z",
        "leaseTransitions": 1,
    })
}

/// The Lease `read`, with `spec` in place of its own: what a compare and swap `PUT`s.
fn with_spec(read: &Value, spec: Value) -> Value {
    let mut lease = read.clone();
    lease["spec"] = spec;
    lease
}

/// The scaler, granted `get` and `update` on `ml/gpu-pool`, which holds `spec`.
async fn scaler_with_lease(spec: Value) -> Fallible<Scaler> {
    let scaler = Scaler::start().await?;
    let grant = LeaseGrant::new(scaler.email(), "ml", POOL);
    scaler.admin.grant_lease(&grant).await?;
    scaler
        .admin
        .put_lease("ml", POOL, &json!({ "spec": spec }))
        .await?;
    Ok(scaler)
}

/// The scaler, on a local-gke that seeds `ml/gpu-pool` at start with `lease_grants` (none: the
/// default grant to the service account).
async fn scaler_on_seeded_lease(lease_grants: Vec<LeaseGrant>) -> Fallible<Scaler> {
    let harness = Harness::start_with(Config {
        leases: vec![LeaseSeed {
            namespace: "ml".to_owned(),
            name: POOL.to_owned(),
        }],
        lease_grants,
        ..Config::default()
    })
    .await?;
    Scaler::on(harness).await
}

/// GETs `ml/gpu-pool` with the scaler's token; returns the status and the JSON body.
async fn read_pool(scaler: &Scaler) -> Fallible<(StatusCode, Value)> {
    scaler.get_lease("ml", POOL, &scaler.token).await
}

/// PUTs `lease` to `ml/gpu-pool` with the scaler's token; returns the status and the JSON body.
async fn write_pool(scaler: &Scaler, lease: &Value) -> Fallible<(StatusCode, Value)> {
    scaler.put_lease("ml", POOL, &scaler.token, lease).await
}

/// Asserts that PUTting `lease` to `ml/gpu-pool` is a 400 whose Status message is `message`.
async fn assert_bad_request(scaler: &Scaler, lease: &Value, message: &str) -> TestResult {
    let (code, body) = write_pool(scaler, lease).await?;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], message);
    Ok(())
}

fn status(code: u16, reason: &str, message: &str, details: Value) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code
    })
}

fn lease_details() -> Value {
    json!({"name": POOL, "group": "coordination.k8s.io", "kind": "leases"})
}

#[tokio::test]
async fn reading_a_lease_that_does_not_exist_is_not_found() -> TestResult {
    let scaler = Scaler::start().await?;
    let grant = LeaseGrant::new(scaler.email(), "ml", POOL);
    scaler.admin.grant_lease(&grant).await?;
    let (code, body) = read_pool(&scaler).await?;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        status(
            404,
            "NotFound",
            "leases.coordination.k8s.io \"gpu-pool\" not found",
            lease_details()
        )
    );
    Ok(())
}

#[tokio::test]
async fn a_lease_created_through_admin_is_read_as_a_coordination_v1_lease() -> TestResult {
    let scaler = Scaler::start().await?;
    scaler
        .admin
        .grant_lease(&LeaseGrant::new(scaler.email(), "ml", POOL))
        .await?;
    let mut spec = held_by("scale-up-1");
    // A MicroTime is written back in UTC.
    spec["renewTime"] = json!("2025-06-01T14:00:05.250000+02:00");
    let created = scaler
        .admin
        .put_lease(
            "ml",
            POOL,
            &json!({"annotations": {"queue-scaler/raise": "3"}, "spec": spec}),
        )
        .await?;

    let (code, lease) = read_pool(&scaler).await?;
    assert_eq!(code, StatusCode::OK, "{lease}");
    assert_eq!(lease, created);
    assert_eq!(lease["kind"], "Lease");
    assert_eq!(lease["apiVersion"], "coordination.k8s.io/v1");
    let metadata = &lease["metadata"];
    assert_eq!(metadata["name"], POOL);
    assert_eq!(metadata["namespace"], "ml");
    assert_eq!(metadata["uid"].as_str().map(str::len), Some(36));
    assert!(resource_version(&lease)? > 0);
    assert!(metadata["creationTimestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(metadata["annotations"], json!({"queue-scaler/raise": "3"}));
    assert_eq!(lease["spec"], held_by("scale-up-1"));
    assert_eq!(scaler.admin.lease("ml", POOL).await?, lease);
    Ok(())
}

#[tokio::test]
async fn updating_a_lease_at_its_resource_version_stores_it_with_a_new_version() -> TestResult {
    let scaler = scaler_with_lease(json!({})).await?;
    let (_, read) = read_pool(&scaler).await?;
    let mut update = with_spec(&read, held_by("scale-up-1"));
    update["metadata"]["annotations"] = json!({"queue-scaler/raise": "2"});

    let (code, written) = write_pool(&scaler, &update).await?;
    assert_eq!(code, StatusCode::OK, "{written}");
    assert!(resource_version(&written)? > resource_version(&read)?);
    assert_eq!(written["metadata"]["uid"], read["metadata"]["uid"]);
    assert_eq!(
        written["metadata"]["creationTimestamp"],
        read["metadata"]["creationTimestamp"]
    );
    assert_eq!(written["spec"], held_by("scale-up-1"));
    assert_eq!(
        written["metadata"]["annotations"],
        json!({"queue-scaler/raise": "2"})
    );
    let (_, reread) = read_pool(&scaler).await?;
    assert_eq!(reread, written);
    Ok(())
}

#[tokio::test]
async fn updating_a_lease_at_a_stale_resource_version_conflicts_and_changes_nothing() -> TestResult
{
    let scaler = scaler_with_lease(json!({})).await?;
    let (_, read) = read_pool(&scaler).await?;
    // Someone else takes the Lease in between.
    let taken = scaler
        .admin
        .put_lease("ml", POOL, &json!({"spec": held_by("scale-up-2")}))
        .await?;

    let update = with_spec(&read, held_by("scale-up-1"));
    let (code, body) = write_pool(&scaler, &update).await?;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(
        body,
        status(
            409,
            "Conflict",
            "Operation cannot be fulfilled on leases.coordination.k8s.io \"gpu-pool\": the object has been modified; please apply your changes to the latest version and try again",
            lease_details()
        )
    );
    assert_eq!(scaler.admin.lease("ml", POOL).await?, taken);
    Ok(())
}

#[tokio::test]
async fn of_two_writers_at_one_version_only_the_first_wins() -> TestResult {
    let scaler = scaler_with_lease(json!({})).await?;
    let (_, read) = read_pool(&scaler).await?;
    let first = with_spec(&read, held_by("scale-up-1"));
    let second = with_spec(&read, held_by("scale-up-2"));
    let (code, _) = write_pool(&scaler, &first).await?;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = write_pool(&scaler, &second).await?;
    assert_eq!(code, StatusCode::CONFLICT);
    let lease = scaler.admin.lease("ml", POOL).await?;
    assert_eq!(lease["spec"]["holderIdentity"], "scale-up-1");
    Ok(())
}

#[tokio::test]
async fn updating_a_lease_without_a_resource_version_is_invalid_as_leases_refuse_unconditional_updates(
) -> TestResult {
    let scaler = scaler_with_lease(json!({})).await?;
    let update = json!({"metadata": {"name": POOL}, "spec": held_by("scale-up-1")});
    let (code, body) = write_pool(&scaler, &update).await?;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        status(
            422,
            "Invalid",
            "leases.coordination.k8s.io \"gpu-pool\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
            json!({
                "name": POOL, "group": "coordination.k8s.io", "kind": "leases",
                "causes": [{
                    "reason": "FieldValueInvalid",
                    "message": "Invalid value: 0x0: must be specified for an update",
                    "field": "metadata.resourceVersion"
                }]
            })
        )
    );
    assert_eq!(scaler.admin.lease("ml", POOL).await?["spec"], json!({}));
    Ok(())
}

#[tokio::test]
async fn a_lease_request_without_a_live_token_is_unauthorized() -> TestResult {
    let scaler = scaler_with_lease(json!({})).await?;
    let unauthorized = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401
    });
    let path = lease_path("ml", POOL);
    let (code, body) = scaler
        .cluster_request(Method::GET, &path, None, None)
        .await?;
    assert_eq!(
        (code, body),
        (StatusCode::UNAUTHORIZED, unauthorized.clone())
    );
    let put = Some((
        "application/json",
        json!({"metadata": {"name": POOL}}).to_string(),
    ));
    let (code, body) = scaler
        .cluster_request(Method::PUT, &path, None, put)
        .await?;
    assert_eq!(
        (code, body),
        (StatusCode::UNAUTHORIZED, unauthorized.clone())
    );
    let (code, body) = scaler.get_lease("ml", POOL, "ya29.not-issued-here").await?;
    assert_eq!((code, body), (StatusCode::UNAUTHORIZED, unauthorized));
    Ok(())
}

#[tokio::test]
async fn a_lease_not_granted_is_forbidden_naming_user_verb_and_namespace() -> TestResult {
    // The default grant, like the shipped Role, covers the deployment's scale only.
    let scaler = Scaler::start().await?;
    let read = scaler.admin.put_lease("ml", POOL, &json!({})).await?;
    let forbidden = |verb: &str| {
        format!(
            "leases.coordination.k8s.io \"gpu-pool\" is forbidden: User \"{}\" cannot {verb} resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"ml\"",
            scaler.email()
        )
    };
    let (code, body) = read_pool(&scaler).await?;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        status(403, "Forbidden", &forbidden("get"), lease_details())
    );

    let update = with_spec(&read, held_by("scale-up-1"));
    let (code, body) = write_pool(&scaler, &update).await?;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(body["message"], json!(forbidden("update")));
    assert_eq!(scaler.admin.lease("ml", POOL).await?, read);
    Ok(())
}

#[tokio::test]
async fn a_grant_of_get_alone_lets_the_lease_be_read_but_not_updated() -> TestResult {
    let scaler = scaler_with_lease(json!({})).await?;
    let read_only = LeaseGrant::new(scaler.email(), "ml", POOL).verbs(["get"]);
    scaler.admin.grant_lease(&read_only).await?;
    let (code, read) = read_pool(&scaler).await?;
    assert_eq!(code, StatusCode::OK);
    let (code, body) = scaler
        .put_lease("ml", POOL, &scaler.token, &with_spec(&read, held_by("a")))
        .await?;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    // A grant on one Lease is not a grant on another.
    let (code, _) = scaler.get_lease("ml", "cpu-pool", &scaler.token).await?;
    assert_eq!(code, StatusCode::FORBIDDEN);
    Ok(())
}

#[tokio::test]
async fn putting_a_lease_that_does_not_exist_creates_it_only_for_a_caller_that_may_create(
) -> TestResult {
    // Leases allow create on update; kube-apiserver then also authorizes `create` of the name.
    let scaler = Scaler::start().await?;
    let grant = LeaseGrant::new(scaler.email(), "ml", POOL);
    scaler.admin.grant_lease(&grant).await?;
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": POOL, "namespace": "ml"}, "spec": held_by("scale-up-1"),
    });
    let (code, body) = write_pool(&scaler, &lease).await?;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        status(
            403,
            "Forbidden",
            "leases.coordination.k8s.io \"gpu-pool\" is forbidden: ",
            lease_details()
        )
    );
    let (code, _) = read_pool(&scaler).await?;
    assert_eq!(code, StatusCode::NOT_FOUND);

    let may_create = grant.verbs(["get", "update", "create"]);
    scaler.admin.grant_lease(&may_create).await?;
    let (code, created) = write_pool(&scaler, &lease).await?;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["spec"], held_by("scale-up-1"));
    assert!(resource_version(&created).is_ok());
    let (code, read) = read_pool(&scaler).await?;
    assert_eq!((code, read), (StatusCode::OK, created));
    Ok(())
}

#[tokio::test]
async fn a_body_naming_another_lease_or_namespace_is_a_bad_request() -> TestResult {
    let scaler = scaler_with_lease(json!({})).await?;
    let (_, read) = read_pool(&scaler).await?;
    for (field, value, message) in [
        (
            "name",
            "cpu-pool",
            "the name of the object (cpu-pool) does not match the name on the URL (gpu-pool)",
        ),
        (
            "namespace",
            "default",
            "the namespace of the object (default) does not match the namespace on the URL (ml)",
        ),
    ] {
        let mut update = with_spec(&read, held_by("scale-up-1"));
        update["metadata"][field] = json!(value);
        let (code, body) = write_pool(&scaler, &update).await?;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(body["reason"], "BadRequest");
        assert_eq!(body["message"], message);
    }
    assert_eq!(scaler.admin.lease("ml", POOL).await?["spec"], json!({}));
    Ok(())
}

#[tokio::test]
async fn a_body_that_is_not_a_json_lease_is_refused_as_kube_apiserver_refuses_it() -> TestResult {
    let scaler = scaler_with_lease(json!({})).await?;
    let (_, read) = read_pool(&scaler).await?;
    let path = lease_path("ml", POOL);

    let yaml = (
        "application/yaml",
        "spec:\n  holderIdentity: a\n".to_owned(),
    );
    let (code, body) = scaler.send(Method::PUT, &path, Some(yaml)).await?;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["reason"], "UnsupportedMediaType");

    let not_json = ("application/json", "holderIdentity=a".to_owned());
    let (code, body) = scaler.send(Method::PUT, &path, Some(not_json)).await?;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(body["reason"], "BadRequest");

    // A MicroTime has exactly six fractional digits: seconds alone do not decode.
    for (pointer, value, message) in [
        (
            "/kind",
            json!("Scale"),
            "Scale in version \"v1\" cannot be handled as a Lease: expected kind Lease",
        ),
        (
            "/spec/renewTime",
            json!("2025-06-01T12:00:05Z"),
            "Lease in version \"v1\" cannot be handled as a Lease: parsing time \"2025-06-01T12:00:05Z\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"Z\" as \".000000\"",
        ),
        (
            "/spec/leaseDurationSeconds",
            json!("30"),
            "Lease in version \"v1\" cannot be handled as a Lease: json: cannot unmarshal string into Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32",
        ),
    ] {
        let mut lease = with_spec(&read, held_by("scale-up-1"));
        *lease.pointer_mut(pointer).ok_or(pointer)? = value;
        assert_bad_request(&scaler, &lease, message).await?;
    }
    assert_eq!(scaler.admin.lease("ml", POOL).await?, read);
    Ok(())
}

#[tokio::test]
async fn a_lease_duration_that_is_not_positive_is_invalid_with_a_field_cause() -> TestResult {
    let scaler = scaler_with_lease(json!({})).await?;
    let (_, read) = read_pool(&scaler).await?;
    let mut spec = held_by("scale-up-1");
    spec["leaseDurationSeconds"] = json!(0);
    let (code, body) = write_pool(&scaler, &with_spec(&read, spec)).await?;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        status(
            422,
            "Invalid",
            "Lease.coordination.k8s.io \"gpu-pool\" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
            json!({
                "name": POOL, "group": "coordination.k8s.io", "kind": "Lease",
                "causes": [{
                    "reason": "FieldValueInvalid",
                    "message": "Invalid value: 0: must be greater than 0",
                    "field": "spec.leaseDurationSeconds"
                }]
            })
        )
    );
    Ok(())
}

#[tokio::test]
async fn lease_requests_are_logged_as_lease_get_and_lease_update() -> TestResult {
    let scaler = scaler_with_lease(json!({})).await?;
    scaler.admin.clear_requests().await?;
    let (_, read) = read_pool(&scaler).await?;
    let update = with_spec(&read, held_by("scale-up-1"));
    write_pool(&scaler, &update).await?;
    write_pool(&scaler, &update).await?;
    scaler.get_lease("ml", POOL, "ya29.not-issued-here").await?;

    let (_, log) = scaler
        .admin
        .send_raw(Method::GET, "/requests", None)
        .await?;
    assert_eq!(log["requests"][0]["kind"], "lease_get");
    assert_eq!(log["requests"][1]["kind"], "lease_update");
    let requests = scaler.admin.requests().await?;
    assert_eq!(
        summary(&requests),
        [
            (Listener::Cluster, "GET", RequestKind::LeaseGet, 200),
            (Listener::Cluster, "PUT", RequestKind::LeaseUpdate, 200),
            (Listener::Cluster, "PUT", RequestKind::LeaseUpdate, 409),
            (Listener::Cluster, "GET", RequestKind::LeaseGet, 401),
        ]
    );
    assert_eq!(requests[1].path, lease_path("ml", POOL));
    Ok(())
}

#[tokio::test]
async fn faults_on_a_lease_path_fail_its_requests_then_let_them_through() -> TestResult {
    let scaler = scaler_with_lease(json!({})).await?;
    let path = lease_path("ml", POOL);
    let (_, read) = read_pool(&scaler).await?;
    let update = with_spec(&read, held_by("scale-up-1"));

    let unavailable_write = Fault {
        method: Some("PUT".to_owned()),
        ..Fault::status(&path, 1, 503)
    };
    scaler.admin.add_fault(&unavailable_write).await?;
    let (code, body) = write_pool(&scaler, &update).await?;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reason"], "ServiceUnavailable");
    assert_eq!(scaler.admin.lease("ml", POOL).await?, read);

    // A write whose answer is lost: it was applied, so the same write again is stale.
    let lost_answer = Fault {
        method: Some("PUT".to_owned()),
        apply_then_drop: true,
        ..Fault::new(&path)
    };
    scaler.admin.add_fault(&lost_answer).await?;
    let lost = write_pool(&scaler, &update).await;
    assert!(lost.is_err(), "expected no answer, got {lost:?}");
    let stored = scaler.admin.lease("ml", POOL).await?;
    assert_eq!(stored["spec"], held_by("scale-up-1"), "applied");
    let (code, _) = write_pool(&scaler, &update).await?;
    assert_eq!(code, StatusCode::CONFLICT);
    Ok(())
}

#[tokio::test]
async fn a_self_subject_access_review_tells_what_a_lease_grant_allows() -> TestResult {
    let scaler = scaler_with_lease(json!({})).await?;
    let review = |verb: &str| {
        json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": "ml", "verb": verb,
                "group": "coordination.k8s.io", "resource": "leases", "name": POOL}},
        })
    };
    for (verb, allowed) in [
        ("get", true),
        ("update", true),
        ("create", false),
        ("delete", false),
    ] {
        let body = Some(("application/json", review(verb).to_string()));
        let (code, answer) = scaler
            .send(
                Method::POST,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                body,
            )
            .await?;
        assert_eq!(code, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["status"]["allowed"], allowed, "{verb}");
    }
    Ok(())
}

#[tokio::test]
async fn leases_seeded_at_start_are_empty_and_granted_to_the_service_account() -> TestResult {
    let scaler = scaler_on_seeded_lease(vec![]).await?;
    let (code, read) = read_pool(&scaler).await?;
    assert_eq!(code, StatusCode::OK, "{read}");
    assert_eq!(read["spec"], json!({}));
    let (code, _) = scaler
        .put_lease("ml", POOL, &scaler.token, &with_spec(&read, held_by("a")))
        .await?;
    assert_eq!(code, StatusCode::OK);
    // The deployment keeps its default grant.
    let (code, _) = scaler.get("model-worker").await?;
    assert_eq!(code, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn explicit_lease_grants_replace_the_default_grant_to_the_service_account() -> TestResult {
    let scaler = scaler_on_seeded_lease(vec![LeaseGrant::new(
        "someone-else@demo-project.iam.gserviceaccount.com",
        "ml",
        POOL,
    )])
    .await?;
    let (code, _) = read_pool(&scaler).await?;
    assert_eq!(code, StatusCode::FORBIDDEN);
    Ok(())
}

#[tokio::test]
async fn other_methods_on_a_lease_are_forbidden_like_any_ungranted_verb() -> TestResult {
    let scaler = scaler_with_lease(json!({})).await?;
    let (code, body) = scaler
        .send(Method::DELETE, &lease_path("ml", POOL), None)
        .await?;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(
        body["message"],
        json!(format!(
            "leases.coordination.k8s.io \"gpu-pool\" is forbidden: User \"{}\" cannot delete resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"ml\"",
            scaler.email()
        ))
    );
    Ok(())
}
