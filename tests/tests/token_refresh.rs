//! A 401 from the cluster: the release binaries under `cargo lambda watch` against the local
//! control plane. A token the cluster no longer accepts (revoked while the function kept it) is
//! refreshed once and the call made again; a second 401, with the fresh token, is refused as
//! NonRetryable and nothing is written. Neither path puts a token or the key in the output.

use local_gke::admin::{Fault, Listener};
use local_gke::deployment_path;
use queue_scaler_tests::scenarios::{assert_no_secrets, DEPLOYMENT, NS};
use queue_scaler_tests::{
    function_env, start_local_gke, ClusterUnderTest, ControlPlane, Functions,
};
use serde_json::json;

/// No datapoint: one step up.
const ONE_STEP_UP: &str = "alarm-set-by-set-alarm-state.json";

/// The token and scale requests local-gke served since the last call, as (kind, status).
async fn token_and_scale_requests(stack: &ControlPlane) -> Vec<(String, u16)> {
    stack
        .admin()
        .take_requests()
        .await
        .expect("local-gke's request log")
        .into_iter()
        .filter(|r| r.listener == Listener::Cluster || r.kind.name() == "token")
        .map(|r| (r.kind.name().to_owned(), r.status))
        .collect()
}

fn pairs(expected: &[(&str, u16)]) -> Vec<(String, u16)> {
    expected
        .iter()
        .map(|(k, s)| ((*k).to_owned(), *s))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_is_refreshed_once_and_the_scaling_goes_through() {
    let stack = start_local_gke(|_| {}).await;
    let functions = Functions::start(&function_env(stack.env(), &[])).await;
    // The first invocation gets a token, and the warm function keeps it.
    let out = functions.invoke_file("scale-up", ONE_STEP_UP).await.ok();
    assert_eq!((&out["from"], &out["to"]), (&json!(2), &json!(3)), "{out}");
    stack.admin().clear_requests().await.expect("log cleared");

    let revoked = stack.admin().revoke_tokens().await.expect("tokens revoked");
    assert!(revoked >= 1, "the function's token was live: {revoked}");
    let out = functions.invoke_file("scale-up", ONE_STEP_UP).await.ok();
    assert_eq!(
        (&out["from"], &out["to"], &out["applied"]),
        (&json!(3), &json!(4), &json!(true)),
        "{out}"
    );
    assert_eq!(
        token_and_scale_requests(&stack).await,
        pairs(&[
            ("deployment_get", 401),
            ("token", 200),
            ("deployment_get", 200),
            ("scale_put", 200),
            // The write's Event, with the new token too.
            ("event_create", 201),
        ]),
        "one 401, one refresh, then the same call again with the new token"
    );
    assert_eq!(stack.replicas(NS, DEPLOYMENT).await, 4);
    assert_no_secrets(&functions.log(), stack.env());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_401_after_the_refresh_is_refused_and_writes_nothing() {
    let stack = start_local_gke(|_| {}).await;
    let functions = Functions::start(&function_env(stack.env(), &[])).await;
    let rejected = Fault::status(&deployment_path(NS, DEPLOYMENT), 2, 401);
    stack
        .admin()
        .add_fault(&rejected)
        .await
        .expect("fault added");

    let (error_type, message) = functions.invoke_file("scale-up", ONE_STEP_UP).await.err();
    assert_eq!(error_type, "NonRetryable", "{message}");
    assert!(
        message.contains("401") && message.contains("did not accept the Google token"),
        "{message}"
    );
    let requests = token_and_scale_requests(&stack).await;
    assert_eq!(
        requests,
        pairs(&[
            ("token", 200),
            ("deployment_get", 401),
            ("token", 200),
            ("deployment_get", 401),
        ]),
        "one refresh, no third try, no write"
    );
    assert_eq!(stack.replicas(NS, DEPLOYMENT).await, 2);
    assert_no_secrets(&message, stack.env());
    assert_no_secrets(&functions.log(), stack.env());
}
