//! The doctor, `{"action": "doctor"}`, under `cargo lambda watch` against the local control plane:
//! a healthy deployment passes, and each way a deployment can be wrong fails its check with a
//! fix: an RBAC binding removed, a role that also grants `patch` on the Deployment, a token
//! without `userinfo.email`, a wrong cluster CA, a missing Deployment, a node pool with a
//! duplicated taint, `clusters.get` refused, pods that do not tolerate the GPU pool, an alarm
//! that does not exist. The doctor writes nothing.

use local_gke::admin::{AdminGrant, Fault, PodScheduling, Toleration};
use local_gke::{NodePool, NodeTaint, TaintEffect};
use queue_scaler_core::AlarmState;
use queue_scaler_harness::moto::{MotoServer, ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use queue_scaler_tests::{
    function_env, put_alarm, start_local_gke, ClusterUnderTest, ControlPlane, Functions,
};
use serde_json::Value;

const DOCTOR: &str = r#"{"action": "doctor"}"#;

async fn doctor(env: &[(String, String)]) -> Value {
    let functions = Functions::start(env).await;
    doctor_on(&functions).await
}

/// The doctor's report from functions already running (a warm container the second time).
async fn doctor_on(functions: &Functions) -> Value {
    let event: Value = serde_json::from_str(DOCTOR).expect("JSON");
    functions.invoke("scale-up", &event).await.ok()
}

/// The status of the check named `name` (the first whose name contains it).
fn status<'a>(report: &'a Value, name: &str) -> (&'a str, &'a Value) {
    let check = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"].as_str().is_some_and(|n| n.contains(name)))
        .unwrap_or_else(|| panic!("no check {name:?} in {report}"));
    (check["status"].as_str().unwrap_or_default(), check)
}

fn scaler(stack: &ControlPlane) -> String {
    stack.var("SCALER_SERVICE_ACCOUNT")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_deployment_passes_and_nothing_is_written() {
    let stack = start_local_gke(|_| {}).await;
    stack.take_requests().await;
    let report = doctor(&function_env(stack.env(), &[])).await;
    assert_eq!(report["ok"], true, "{report:#}");
    for name in [
        "configuration",
        "credentials",
        "token",
        "cluster",
        "identity",
        "access",
        "events",
        "deployment",
        "taints",
    ] {
        assert_eq!(status(&report, name).0, "pass", "{name}: {report:#}");
    }
    assert_eq!(
        status(&report, "identity").1["detail"],
        format!("the cluster sees {}", scaler(&stack))
    );
    // The shipped Role reads the Deployment (by name): its tolerations and the pool its
    // nodeSelector lands on are checked under least privilege.
    for name in ["Deployment read", "tolerates"] {
        assert_eq!(status(&report, name).0, "pass", "{name}: {report:#}");
    }
    // No pool configured, and no pool Lease applied: the pool its nodeSelector matches is named,
    // and that its raises are not capped is a warning, not a failure.
    let check = assert_check(
        &report,
        "model-worker: GPU pool",
        "warn",
        "matches GPU pool gpu-pool",
    );
    assert!(text(check, "detail").contains("not capped"), "{check}");
    assert!(
        text(check, "fix").contains("infra/gke/pool-lease.yaml"),
        "{check}"
    );
    // REARM_ALARM=false here: no alarms to read.
    assert_eq!(status(&report, "alarms").0, "skip", "{report:#}");
    let requests = stack.take_requests().await;
    assert!(
        !requests
            .iter()
            .any(|k| k == "scale_put" || k == "scale_patch" || k == "event_create"),
        "the doctor writes nothing: {requests:?}"
    );
    assert_eq!(stack.replicas("ml", "model-worker").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn events_refused_are_a_warning_with_the_rbac_fix_and_the_report_stays_ok() {
    let stack = start_local_gke(|_| {}).await;
    let refused = local_gke::admin::EventGrant {
        identity: scaler(&stack),
        namespace: "ml".to_owned(),
    };
    stack
        .admin()
        .revoke_events(&refused)
        .await
        .expect("Events refused");
    let report = doctor(&function_env(stack.env(), &[])).await;
    assert_eq!(
        report["ok"], true,
        "scaling works without Events: {report:#}"
    );
    let check = assert_check(&report, "events", "warn", "");
    let fix = text(check, "fix");
    assert!(
        fix.contains("events.k8s.io") && fix.contains("infra/gke/rbac.yaml"),
        "{fix}"
    );
    assert_eq!(status(&report, "access").0, "pass", "{report:#}");
    // Turned off, there is nothing to check.
    let report = doctor(&function_env(stack.env(), &[("KUBE_EVENTS", "false")])).await;
    assert_eq!(status(&report, "events").0, "skip", "{report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_binding_fails_access_with_the_rbac_fix() {
    let stack = start_local_gke(|_| {}).await;
    let grant = AdminGrant::new(&scaler(&stack), "ml", "model-worker");
    stack
        .admin()
        .remove_grant(&grant.key())
        .await
        .expect("the binding removed");
    let report = doctor(&function_env(stack.env(), &[])).await;
    assert_eq!(report["ok"], false);
    assert_fails(
        &report,
        "access",
        "get deployments/scale is refused",
        "infra/gke/rbac.yaml",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_that_also_grants_patch_on_the_deployment_fails_least_privilege() {
    let stack = start_local_gke(|_| {}).await;
    let grant = AdminGrant::new(&scaler(&stack), "ml", "model-worker")
        .verbs(["patch"])
        .resources(["deployments"]);
    stack
        .admin()
        .set_grant(&grant)
        .await
        .expect("the grant widened");
    let report = doctor(&function_env(stack.env(), &[])).await;
    assert_check(
        &report,
        "access",
        "fail",
        "patch deployments is allowed, and should not be",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_the_email_scope_fails_identity() {
    let stack = start_local_gke(|_| {}).await;
    let report = doctor(&function_env(
        stack.env(),
        &[(
            "GCP_TOKEN_SCOPES",
            "https://www.googleapis.com/auth/cloud-platform",
        )],
    ))
    .await;
    assert_fails(&report, "identity", "a number", "userinfo.email");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_cluster_ca_fails_the_cluster_check() {
    let stack = start_local_gke(|_| {}).await;
    let wrong = stack.gke().google_ca_pem().to_owned();
    let report = doctor(&function_env(
        stack.env(),
        &[
            ("GKE_CLUSTER", ""),
            ("GKE_ENDPOINT", &stack.var("GKE_ENDPOINT")),
            ("GKE_CA_CERT", &wrong),
        ],
    ))
    .await;
    assert_check(&report, "cluster", "fail", "TLS verification failed");
    assert_eq!(report["ok"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_deployment_fails_its_check() {
    let stack = start_local_gke(|c| {
        c.grants = vec![format!(
            "queue-scaler@{}.iam.gserviceaccount.com=ml/missing-model",
            c.project
        )
        .parse()
        .expect("grant")];
    })
    .await;
    let report = doctor(&function_env(
        stack.env(),
        &[("TARGET_DEPLOYMENT", "missing-model")],
    ))
    .await;
    let (s, check) = status(&report, "deployment");
    assert_eq!(s, "fail", "{report:#}");
    assert_eq!(check["detail"], "not found");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_pool_with_a_duplicated_taint_fails_with_the_node_pool_fix() {
    let stack = start_local_gke(|_| {}).await;
    gpu_pool_tainted(
        &stack,
        &[
            ("mlonly", "true"),
            ("nvidia.com/gpu", "present"),
            ("nvidia.com/gpu", "present"),
        ],
    )
    .await;
    let report = doctor(&function_env(stack.env(), &[])).await;
    assert_fails(
        &report,
        "taints",
        "nvidia.com/gpu:NoSchedule",
        "infra/gke/node-pool.sh",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_alarms_must_exist_and_invoke_the_function() {
    let stack = start_local_gke(|_| {}).await;
    let moto = MotoServer::start().await.unwrap_or_else(|e| panic!("{e}"));
    let cw = moto.cloudwatch("eu-west-1");
    // The emulator's ARN for every function.
    put_alarm(&cw, "qs-backlog-high", "function-arn", true).await;
    cw.set_alarm_state("qs-backlog-high", AlarmState::Alarm, "Threshold Crossed")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let report = doctor(&function_env(
        stack.env(),
        &[
            ("REARM_ALARM", "true"),
            ("TARGET_ALARMS", "qs-backlog-high,qs-backlog-gone"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", moto.endpoint()),
        ],
    ))
    .await;
    assert_eq!(
        status(&report, "alarm qs-backlog-high").0,
        "pass",
        "{report:#}"
    );
    let (s, check) = status(&report, "alarm qs-backlog-gone");
    assert_eq!(s, "fail", "{report:#}");
    assert_eq!(check["detail"], "does not exist in this region");
    // Read-only: the alarm in ALARM was not set back to OK.
    let state = cw
        .state("qs-backlog-high")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state, AlarmState::Alarm, "the doctor sets no alarm");
    assert_eq!(stack.replicas("ml", "model-worker").await, 2);
}

/// The GPU pool, alone, with these `NoSchedule` taints.
async fn gpu_pool_tainted(stack: &ControlPlane, taints: &[(&str, &str)]) {
    let mut pool = NodePool::default_gpu_pool();
    pool.config.taints = taints
        .iter()
        .map(|(key, value)| NodeTaint::new(key, value, TaintEffect::NoSchedule))
        .collect();
    pool.autoscaling = None;
    stack
        .admin()
        .set_node_pools(&[pool])
        .await
        .expect("the pools replaced");
}

/// A text field of a check (`detail`, `fix`); empty when it has none.
fn text<'a>(check: &'a Value, field: &str) -> &'a str {
    check[field].as_str().unwrap_or_default()
}

/// The first check whose name holds `name` has `state`, and its detail holds `in_detail`: the
/// check, for what a test asserts beyond that.
fn assert_check<'a>(report: &'a Value, name: &str, state: &str, in_detail: &str) -> &'a Value {
    let (s, check) = status(report, name);
    assert_eq!(s, state, "{name}: {report:#}");
    assert!(text(check, "detail").contains(in_detail), "{name}: {check}");
    check
}

/// The check named `name` failed, making the report not ok, with `in_detail` in its detail and
/// `in_fix` in its fix.
fn assert_fails(report: &Value, name: &str, in_detail: &str, in_fix: &str) {
    assert_eq!(report["ok"], false, "{name}: {report:#}");
    let check = assert_check(report, name, "fail", in_detail);
    assert!(text(check, "fix").contains(in_fix), "{check}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_file_that_cannot_be_read_fails_the_credentials_check() {
    let stack = start_local_gke(|_| {}).await;
    let missing = stack.dir().join("no-such-key.json");
    let missing = missing.to_str().expect("a UTF-8 path");
    let report = doctor(&function_env(
        stack.env(),
        &[("GOOGLE_APPLICATION_CREDENTIALS", missing)],
    ))
    .await;
    assert_eq!(status(&report, "configuration").0, "pass", "{report:#}");
    assert_fails(
        &report,
        "credentials",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "README.md",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_setting_fails_the_configuration_naming_it() {
    let stack = start_local_gke(|_| {}).await;
    let report = doctor(&function_env(stack.env(), &[("MAX_REPLICAS", "many")])).await;
    assert_fails(&report, "configuration", "MAX_REPLICAS", "README.md");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_endpoint_that_refuses_fails_the_token_check() {
    let stack = start_local_gke(|_| {}).await;
    stack
        .admin()
        .add_fault(&Fault::status("/token", 50, 400))
        .await
        .expect("fault added");
    let report = doctor(&function_env(stack.env(), &[])).await;
    assert_eq!(status(&report, "credentials").0, "pass", "{report:#}");
    assert_fails(&report, "token", "token", "docs/troubleshooting.md");
}

/// A key whose token endpoint nothing answers: the token request (gcp_auth's, on the key path)
/// got no answer, and the fix says to check the address, not the key. The doctor reads that
/// from the error's type, not from its text.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_endpoint_where_nothing_listens_fails_with_the_unreachable_fix() {
    let stack = start_local_gke(|_| {}).await;
    let key_file = stack.var("GOOGLE_APPLICATION_CREDENTIALS");
    let mut key: Value =
        serde_json::from_str(&std::fs::read_to_string(&key_file).expect("the key file"))
            .expect("a key");
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    key["token_uri"] = Value::String(format!("https://127.0.0.1:{port}/token"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let moved = dir.path().join("key.json");
    std::fs::write(&moved, key.to_string()).expect("written");
    let moved = moved.to_string_lossy().into_owned();
    let report = doctor(&function_env(
        stack.env(),
        &[("GOOGLE_APPLICATION_CREDENTIALS", &moved)],
    ))
    .await;
    assert_eq!(status(&report, "credentials").0, "pass", "{report:#}");
    assert_fails(&report, "token", "token", "nothing answered at the address");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gpu_pool_without_the_mlonly_taint_fails_with_the_node_pool_fix() {
    let stack = start_local_gke(|_| {}).await;
    gpu_pool_tainted(&stack, &[("nvidia.com/gpu", "present")]).await;
    let report = doctor(&function_env(stack.env(), &[])).await;
    assert_fails(
        &report,
        "taints",
        "mlonly=true:NoSchedule is missing",
        "infra/gke/node-pool.sh",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn alarms_are_compared_with_the_functions_own_arn() {
    let stack = start_local_gke(|_| {}).await;
    let moto = MotoServer::start().await.unwrap_or_else(|e| panic!("{e}"));
    let cw = moto.cloudwatch("eu-west-1");
    let arn = |function: &str| format!("arn:aws:lambda:eu-west-1:123456789012:function:{function}");
    put_alarm(&cw, "qs-high", &arn("qs-scale-up"), true).await;
    put_alarm(&cw, "qs-elsewhere", &arn("someone-elses-function"), true).await;
    put_alarm(&cw, "qs-paused", &arn("qs-scale-up"), false).await;
    let report = doctor(&function_env(
        stack.env(),
        &[
            ("REARM_ALARM", "true"),
            ("TARGET_ALARMS", "qs-high,qs-elsewhere,qs-paused"),
            ("QUEUE_SCALER_FUNCTION_ARN", &arn("qs-{function}")),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", moto.endpoint()),
        ],
    ))
    .await;
    // Compared, not waved through: the detail is the comparison's.
    let check = assert_check(&report, "alarm qs-high", "pass", "");
    assert!(
        text(check, "detail").starts_with("invokes this function"),
        "{check}"
    );
    assert_fails(
        &report,
        "alarm qs-elsewhere",
        "do not invoke this function",
        "AlarmActions",
    );
    assert_fails(
        &report,
        "alarm qs-paused",
        "its actions are disabled",
        "enable-alarm-actions",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn clusters_get_refused_after_discovery_fails_the_node_pool_check_with_the_iam_fix() {
    let stack = start_local_gke(|_| {}).await;
    let functions = Functions::start(&function_env(stack.env(), &[])).await;
    // The first doctor discovers the cluster through clusters.get, and the container keeps the
    // endpoint it found.
    let report = doctor_on(&functions).await;
    assert_eq!(status(&report, "taints").0, "pass", "{report:#}");
    stack.take_requests().await;
    // Then container.clusters.get is taken away from the service account: Google refuses the
    // next clusters.get, which is the doctor's read of the node pools in the warm container.
    let clusters_get = format!("/v1/{}", stack.gke().cluster_name());
    stack
        .admin()
        .add_fault(&Fault::status(&clusters_get, 1, 403))
        .await
        .expect("fault added");
    let report = doctor_on(&functions).await;
    assert_eq!(
        status(&report, "cluster").0,
        "pass",
        "the endpoint found before is kept: {report:#}"
    );
    assert_fails(
        &report,
        "node pool",
        "403",
        "grant container.clusters.get (infra/gke/iam-role.yaml)",
    );
    let requests = stack.take_requests().await;
    assert_eq!(
        requests.iter().filter(|k| *k == "discovery").count(),
        1,
        "one clusters.get, the refused one: {requests:?}"
    );
}

/// A grant written out, that lets the service account read its Deployment: get and update on the
/// scale and on the Deployment (one rule in local-gke; patch and delete stay refused), as the
/// default grant reads it too.
async fn allow_reading_the_deployment(stack: &ControlPlane) {
    let grant = AdminGrant::new(&scaler(stack), "ml", "model-worker")
        .verbs(["get", "update"])
        .resources(["deployments/scale", "deployments"]);
    stack
        .admin()
        .set_grant(&grant)
        .await
        .expect("the grant widened");
}

#[tokio::test(flavor = "multi_thread")]
async fn pods_that_tolerate_the_gpu_pool_pass_and_pods_that_do_not_fail_with_the_manifest_fix() {
    let stack = start_local_gke(|_| {}).await;
    allow_reading_the_deployment(&stack).await;
    let functions = Functions::start(&function_env(stack.env(), &[])).await;
    stack.take_requests().await;
    // By default the Deployment's pod template is infra/gke/model-deployment.yaml's.
    let report = doctor_on(&functions).await;
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(status(&report, "access").0, "pass", "{report:#}");
    let (s, check) = status(&report, "tolerates");
    assert_eq!(s, "pass", "{report:#}");
    assert_eq!(
        check["detail"],
        "tolerates every taint of the pool and selects mlonly=true"
    );
    let requests = stack.take_requests().await;
    assert!(
        requests.iter().any(|k| k == "deployment_get"),
        "the Deployment was read: {requests:?}"
    );

    // Without the mlonly toleration and the node selector.
    let only_gpu = PodScheduling {
        node_selector: Default::default(),
        tolerations: vec![Toleration::exists("nvidia.com/gpu", "NoSchedule")],
    };
    let report = doctor_with_scheduling(&stack, &functions, &only_gpu).await;
    assert_fails(
        &report,
        "tolerates",
        "does not tolerate mlonly=true:NoSchedule; does not select mlonly=true",
        "infra/gke/model-deployment.yaml",
    );
    // GKE's own taint on GPU nodes, untolerated: named as the pool carries it and as GKE adds it.
    let only_mlonly = PodScheduling {
        tolerations: vec![Toleration::equal("mlonly", "true", "NoSchedule")],
        ..PodScheduling::default()
    };
    let report = doctor_with_scheduling(&stack, &functions, &only_mlonly).await;
    assert_fails(
        &report,
        "tolerates",
        "does not tolerate nvidia.com/gpu=present:NoSchedule, nvidia.com/gpu (added by GKE)",
        "tolerate nvidia.com/gpu with operator Exists",
    );
    // Pods that select a pool without GPUs land on no GPU pool.
    let elsewhere = PodScheduling {
        node_selector: [(
            "cloud.google.com/gke-nodepool".to_owned(),
            "default-pool".to_owned(),
        )]
        .into(),
        ..only_mlonly.clone()
    };
    let report = doctor_with_scheduling(&stack, &functions, &elsewhere).await;
    assert_fails(
        &report,
        "GPU pool",
        "matches no GPU pool",
        "cloud.google.com/gke-nodepool",
    );
    assert_eq!(stack.replicas("ml", "model-worker").await, 2);
}

/// The doctor's report once the Deployment's pod template has these scheduling fields.
async fn doctor_with_scheduling(
    stack: &ControlPlane,
    functions: &Functions,
    scheduling: &PodScheduling,
) -> Value {
    stack
        .admin()
        .set_scheduling("ml", "model-worker", scheduling)
        .await
        .expect("the pod template changed");
    doctor_on(functions).await
}

/// A target on a shared GPU pool: the pool's size against what its targets may ask for, and its
/// Lease (there, `get` and `update` allowed), as the functions book each raise on it.
#[tokio::test(flavor = "multi_thread")]
async fn a_gpu_pool_is_checked_for_its_size_and_its_lease() {
    let pool = [("TARGET_POOL", "gpu-pool"), ("TARGET_POOL_GPUS", "4")];
    // The Lease seeded, and granted to the service account (local-gke's default for a seed).
    let stack = start_local_gke(|config| {
        config.leases.push(local_gke::LeaseSeed {
            namespace: "ml".into(),
            name: "queue-scaler-pool-gpu-pool".into(),
        });
    })
    .await;
    let report = doctor(&function_env(stack.env(), &pool)).await;
    assert_check(
        &report,
        "GPU pool gpu-pool:",
        "pass",
        "get and update allowed",
    );
    assert_check(&report, "GPU pool gpu-pool", "pass", "4 GPUs");
    // Targets that may ask for more than the pool has: a warning with the numbers.
    let mut wide = pool.to_vec();
    wide.push(("MAX_REPLICAS", "8"));
    let report = doctor(&function_env(stack.env(), &wide)).await;
    assert_check(&report, "GPU pool gpu-pool", "warn", "ask for 8");
    assert_eq!(report["ok"], true, "a warning is not a failure: {report:#}");

    // No pool configured: with the Lease there, the functions place the target on the pool its
    // nodeSelector matches, and the pool is checked as a configured one is, its size read from
    // clusters.get.
    let report = doctor(&function_env(stack.env(), &[])).await;
    assert_check(
        &report,
        "model-worker: GPU pool",
        "pass",
        "the functions place it there",
    );
    assert_check(
        &report,
        "GPU pool gpu-pool:",
        "pass",
        "get and update allowed",
    );
    assert_check(
        &report,
        "GPU pool gpu-pool",
        "pass",
        "may ask for 4 together",
    );
    // Mins that need more GPUs than the pool has: no raise on it is made, a failure.
    let mins = [("MIN_REPLICAS", "9"), ("MAX_REPLICAS", "10")];
    let report = doctor(&function_env(stack.env(), &mins)).await;
    assert_check(&report, "GPU pool gpu-pool", "fail", "need 9 together");

    // No Lease: no raise on the pool can be booked.
    let bare = start_local_gke(|_| {}).await;
    let report = doctor(&function_env(bare.env(), &pool)).await;
    assert_fails(
        &report,
        "GPU pool gpu-pool: lease",
        "",
        "infra/gke/pool-lease.yaml",
    );
}
