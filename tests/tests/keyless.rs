//! Keyless: the release binaries under `cargo lambda watch` get their Google token through
//! Workload Identity Federation from their AWS identity (a signed `GetCallerIdentity`, Google's
//! STS token exchange, `generateAccessToken`), against the local control plane, which verifies
//! the SigV4 signature and the role's binding as Google does. No key is configured.

use local_gke::AwsIdentity;
use queue_scaler_tests::{
    assert_fields, function_env, start_local_gke, ClusterUnderTest, ControlPlane, Functions,
};
use serde_json::{json, Value};

const REGION: &str = "eu-west-1";

/// The functions' environment in keyless mode: the credential configuration the local control
/// plane wrote (as `create-cred-config --aws` would), the AWS identity `identity` gives, and no key.
fn keyless_env(
    stack: &ControlPlane,
    config: &str,
    identity: [(&str, String); 3],
) -> Vec<(String, String)> {
    let mut extra: Vec<(&str, &str)> = vec![
        ("GOOGLE_APPLICATION_CREDENTIALS", ""),
        ("GCP_CREDENTIAL_CONFIG", config),
        ("AWS_REGION", REGION),
    ];
    extra.extend(identity.iter().map(|(k, v)| (*k, v.as_str())));
    let env = function_env(stack.env(), &extra);
    assert!(
        !env.iter()
            .any(|(k, _)| k == "GOOGLE_APPLICATION_CREDENTIALS"),
        "no key in keyless mode"
    );
    env
}

fn default_identity(stack: &ControlPlane) -> [(&'static str, String); 3] {
    [
        (
            "AWS_ACCESS_KEY_ID",
            stack.var("LOCAL_GKE_AWS_ACCESS_KEY_ID"),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            stack.var("LOCAL_GKE_AWS_SECRET_ACCESS_KEY"),
        ),
        (
            "AWS_SESSION_TOKEN",
            stack.var("LOCAL_GKE_AWS_SESSION_TOKEN"),
        ),
    ]
}

fn credential_config(stack: &ControlPlane) -> String {
    let path = stack.var("LOCAL_GKE_CREDENTIAL_CONFIG");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn both_functions_scale_without_a_key() {
    let stack = start_local_gke(|_| {}).await;
    let config = credential_config(&stack);
    let functions = Functions::start(&keyless_env(&stack, &config, default_identity(&stack))).await;
    stack.take_requests().await;

    let out = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .ok();
    assert_fields(&out, &[("from", json!(2)), ("to", json!(4))]);
    let requests = stack.take_requests().await;
    assert_eq!(
        requests
            .iter()
            .filter(|k| {
                // The cluster's own requests: the Deployment, its scale, the Event, and the
                // Lease of the GPU pool its nodeSelector matches (none here: not capped).
                !matches!(
                    k.as_str(),
                    "discovery" | "event_create" | "deployment_get" | "lease_get"
                ) && !k.starts_with("scale_")
            })
            .collect::<Vec<_>>(),
        ["sts_token", "generate_access_token"],
        "one exchange and one impersonation, no key-signed token request: {requests:?}"
    );

    // Warm: the token is cached.
    let out = functions
        .invoke_file("scale-down", "alarm-low-backlog.json")
        .await
        .ok();
    assert_eq!(out["to"], 3, "{out}");
    let out = functions
        .invoke_file("scale-up", "alarm-set-by-set-alarm-state.json")
        .await
        .ok();
    assert_eq!(out["to"], 4, "{out}");
    let requests = stack.take_requests().await;
    // scale-down is a process of its own: one exchange and one impersonation for it; none for
    // the warm scale-up.
    assert_eq!(
        requests
            .iter()
            .filter(|k| k.as_str() == "sts_token" || k.as_str() == "generate_access_token")
            .count(),
        2,
        "{requests:?}"
    );
    // The output never holds the tokens, the signed request or the AWS secret.
    let log = functions.log();
    for secret in [
        stack.var("LOCAL_GKE_AWS_SECRET_ACCESS_KEY"),
        stack.var("LOCAL_GKE_AWS_SESSION_TOKEN"),
        "AWS4-HMAC-SHA256".to_owned(),
        "ya29.".to_owned(),
    ] {
        assert!(!log.contains(&secret), "the output holds {secret:?}");
    }
}

/// Invoke scale-up once in keyless mode with `config` and `identity`; the error, and the
/// replicas afterwards.
async fn refused(
    stack: &ControlPlane,
    config: &str,
    identity: [(&str, String); 3],
) -> (String, String, i32) {
    let functions = Functions::start(&keyless_env(stack, config, identity)).await;
    let (error_type, message) = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .err();
    (
        error_type,
        message,
        stack.replicas("ml", "model-worker").await,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_audience_that_names_no_provider_is_refused_at_the_exchange() {
    let stack = start_local_gke(|_| {}).await;
    let mut config: Value = serde_json::from_str(&credential_config(&stack)).expect("JSON");
    let audience = config["audience"].as_str().unwrap_or_default().to_owned();
    config["audience"] = audience
        .replace("/providers/aws", "/providers/azure")
        .into();
    let (error_type, message, replicas) =
        refused(&stack, &config.to_string(), default_identity(&stack)).await;
    assert_eq!(error_type, "NonRetryable", "{message}");
    assert!(
        message.contains("token exchange at Google STS answered 400: invalid_target")
            && message
                .contains("Fix: the audience names no enabled workload identity pool provider"),
        "{message}"
    );
    assert_eq!(replicas, 2, "nothing written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_not_bound_to_the_service_account_is_refused_at_impersonation() {
    let stack = start_local_gke(|_| {}).await;
    // A second AWS identity that Google can verify, but whose role is not a workload identity
    // user of the service account.
    let (key, secret) = (
        "ASIAQUEUESCALEROTHER",
        "other-role-secret-access-key-0123456789",
    );
    let someone_else = AwsIdentity {
        access_key_id: key.to_owned(),
        secret_access_key: secret.to_owned(),
        session_token: Some("other-session".to_owned()),
        arn: "arn:aws:sts::123456789012:assumed-role/someone-else/someone-else".to_owned(),
    };
    stack
        .admin()
        .add_aws_identity(&someone_else)
        .await
        .expect("the identity added");
    let identity = [
        ("AWS_ACCESS_KEY_ID", key.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", secret.to_owned()),
        ("AWS_SESSION_TOKEN", "other-session".to_owned()),
    ];
    let (error_type, message, replicas) =
        refused(&stack, &credential_config(&stack), identity).await;
    assert_eq!(error_type, "NonRetryable", "{message}");
    assert!(
        message.contains("generateAccessToken) answered 403: PERMISSION_DENIED")
            && message.contains("roles/iam.workloadIdentityUser"),
        "{message}"
    );
    assert_eq!(replicas, 2, "nothing written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signature_google_cannot_verify_is_refused_at_the_exchange() {
    let stack = start_local_gke(|_| {}).await;
    let mut identity = default_identity(&stack);
    identity[1].1 = "not-the-secret-access-key-of-this-key-id".into();
    let (error_type, message, replicas) =
        refused(&stack, &credential_config(&stack), identity).await;
    assert_eq!(error_type, "NonRetryable", "{message}");
    assert!(
        message.contains("token exchange at Google STS answered 400")
            && message.contains("Google could not verify the signed AWS identity"),
        "{message}"
    );
    assert!(!message.contains("not-the-secret"), "{message}");
    assert_eq!(replicas, 2, "nothing written");
}

#[tokio::test(flavor = "multi_thread")]
async fn keyless_without_the_functions_aws_identity_is_a_configuration_error() {
    let stack = start_local_gke(|_| {}).await;
    let config = credential_config(&stack);
    let env: Vec<(String, String)> = keyless_env(&stack, &config, default_identity(&stack))
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && !k.starts_with("AWS_SECRET"))
        .collect();
    let functions = Functions::start(&env).await;
    let (error_type, message) = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .err();
    assert_eq!(error_type, "Config", "{message}");
    assert!(
        message.contains("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY") && message.contains("keyless"),
        "{message}"
    );
}
