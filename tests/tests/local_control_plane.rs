//! The end-to-end scenarios against the local control plane: the release binaries under
//! `cargo lambda watch`, the local token endpoint, GKE API and Kubernetes scale API over TLS.

use local_gke::admin::AdminGrant;
use queue_scaler_tests::{
    function_env, scenarios, start_local_gke, ClusterUnderTest, ControlPlane, Functions,
};

/// The cluster the scenarios need: `ml/model-worker` (granted), `ml/other-model` (not granted),
/// and a grant of `ml/missing-model`, which does not exist; as `infra/gke/rbac.yaml` grants them
/// on the real server. The service account is `queue-scaler@PROJECT.iam.gserviceaccount.com`.
async fn stack() -> ControlPlane {
    let s = start_local_gke(|c| {
        c.deployments
            .push("ml/other-model=1".parse().expect("seed"));
        c.grants = ["model-worker", "missing-model"]
            .iter()
            .map(|name| {
                format!(
                    "queue-scaler@{}.iam.gserviceaccount.com=ml/{name}",
                    c.project
                )
                .parse()
                .expect("grant")
            })
            .collect();
    })
    .await;
    let account = s.var("SCALER_SERVICE_ACCOUNT");
    assert!(
        account.starts_with("queue-scaler@"),
        "the grants name the service account"
    );
    // Exactly the verbs of infra/gke/rbac.yaml (local-gke's default grant adds patch).
    for name in ["model-worker", "missing-model"] {
        let grant = AdminGrant::new(&account, "ml", name).verbs(["get", "update"]);
        s.admin().set_grant(&grant).await.expect("grant narrowed");
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_file_scales_as_its_alarm_says() {
    let s = stack().await;
    scenarios::every_event_file_scales_as_its_alarm_says(&s, s.env()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_file_scales_as_its_alarm_says_keyless() {
    let s = stack().await;
    let env = queue_scaler_tests::keyless(s.env());
    scenarios::every_event_file_scales_as_its_alarm_says(&s, &env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_without_a_route_changes_nothing() {
    let s = stack().await;
    scenarios::an_alarm_without_a_route_changes_nothing(&s, s.env()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_deployment_is_a_clear_error() {
    let s = stack().await;
    scenarios::a_missing_deployment_is_a_clear_error(&s, s.env()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ungranted_deployment_is_refused_and_unchanged() {
    let s = stack().await;
    scenarios::an_ungranted_deployment_is_refused_and_unchanged(&s, s.env()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_then_reported() {
    let s = stack().await;
    assert!(
        scenarios::server_errors_are_retried_then_reported(&s, s.env()).await,
        "the local control plane injects faults"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_cluster_ca_is_refused() {
    let s = stack().await;
    // The Google CA is a real CA, but not the cluster's: the cluster client must not trust it.
    let endpoint = s.var("GKE_ENDPOINT");
    let wrong = s.gke().google_ca_pem().to_owned();
    scenarios::a_wrong_cluster_ca_is_refused(&s, s.env(), &endpoint, &wrong).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_write_is_recorded_as_an_event_on_the_deployment() {
    let s = stack().await;
    scenarios::each_write_is_recorded_as_an_event_on_the_deployment(&s, s.env()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_writes_nothing() {
    let s = stack().await;
    scenarios::dry_run_writes_nothing(&s, s.env()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_that_expires_between_invocations_is_refreshed() {
    use queue_scaler_tests::ClusterUnderTest;
    let s = stack().await;
    // gcp_auth treats a token as expired 20 s early: 22 s tokens are good for about 2 s.
    s.admin()
        .set_token_lifetime(std::time::Duration::from_secs(22))
        .await
        .expect("the token lifetime set");
    let functions = Functions::start(&function_env(s.env(), &[])).await;
    s.set_replicas("ml", "model-worker", 2).await;
    s.take_requests().await;
    functions
        .invoke_file("scale-up", "alarm-set-by-set-alarm-state.json")
        .await
        .ok();
    let first = s.take_requests().await;
    assert_eq!(
        first.iter().filter(|k| *k == "token").count(),
        1,
        "{first:?}"
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    functions
        .invoke_file("scale-up", "alarm-set-by-set-alarm-state.json")
        .await
        .ok();
    let second = s.take_requests().await;
    assert_eq!(
        second.iter().filter(|k| *k == "token").count(),
        1,
        "the expired token is replaced: {second:?}"
    );
    assert!(
        !second.iter().any(|k| k == "discovery"),
        "discovery stays cached: {second:?}"
    );
    assert_eq!(s.replicas("ml", "model-worker").await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_error_lists_every_problem() {
    let s = stack().await;
    let env = function_env(
        s.env(),
        &[
            ("MIN_REPLICAS", "9"),
            ("SCALE_STEP", "0"),
            ("DRY_RUN", "perhaps"),
        ],
    );
    let functions = Functions::start(&env).await;
    let (t, message) = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .err();
    assert_eq!(t, "Config");
    for needle in ["MIN_REPLICAS/MAX_REPLICAS", "SCALE_STEP", "DRY_RUN"] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_the_email_scope_is_refused_and_named() {
    let s = stack().await;
    scenarios::a_token_without_the_email_scope_is_refused_and_named(&s, s.env()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scaler_may_do_nothing_but_scale_its_deployment() {
    let s = stack().await;
    scenarios::the_scaler_may_do_nothing_but_scale_its_deployment(&s, s.env()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_at_a_stale_resource_version_is_a_conflict() {
    let s = stack().await;
    scenarios::a_write_at_a_stale_resource_version_is_a_conflict(&s, s.env()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_functions_lose_no_update() {
    let s = stack().await;
    let conflicts = scenarios::racing_functions_lose_no_update(&s, s.env()).await;
    eprintln!("racing functions met {conflicts} conflict(s)");
}

/// A Role that grants only the scale (an older `infra/gke/rbac.yaml`): the first read of the
/// Deployment is refused, the container remembers it, reads the scale instead from then on, and
/// scales all the same.
#[tokio::test(flavor = "multi_thread")]
async fn a_role_on_the_scale_alone_still_scales_from_the_scale() {
    let s = stack().await;
    let account = s.var("SCALER_SERVICE_ACCOUNT");
    let scale_only = AdminGrant::new(&account, "ml", "model-worker")
        .verbs(["get", "update"])
        .resources(["deployments/scale"]);
    s.admin()
        .set_grant(&scale_only)
        .await
        .expect("grant narrowed");
    let functions = Functions::start(&function_env(s.env(), &[])).await;
    s.take_requests().await;
    let cluster = |kinds: Vec<String>| -> Vec<String> {
        kinds
            .into_iter()
            .filter(|k| {
                k.starts_with("scale") || k.starts_with("deployment") || k == "event_create"
            })
            .collect()
    };
    for (round, want) in [
        ["deployment_get", "scale_get", "scale_put", "event_create"].as_slice(),
        ["scale_get", "scale_put", "event_create"].as_slice(),
    ]
    .into_iter()
    .enumerate()
    {
        let out = functions
            .invoke_file("scale-up", "alarm-set-by-set-alarm-state.json")
            .await
            .ok();
        assert_eq!(out["applied"], true, "round {round}: {out}");
        assert_eq!(cluster(s.take_requests().await), want, "round {round}");
    }
}
