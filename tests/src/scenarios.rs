//! End-to-end scenarios, written against [`ClusterUnderTest`] so that the same assertions run
//! against the local control plane and a real kube-apiserver. Each takes the environment that
//! points a function at the cluster (`cluster_env`, as the control plane's `env` file gives it).
//!
//! The cluster must hold `ml/model-worker` (which the service account may scale) and
//! `ml/other-model` (which it may not), and grant the service account `ml/missing-model`, which
//! does not exist: under least-privilege RBAC only a deployment the Role names can be seen to be
//! missing; any other is forbidden.

use crate::{env_var, event_files, function_env, ClusterUnderTest, Functions, Invocation};
use base64::Engine as _;
use serde_json::{json, Value};

/// The namespace of the deployments.
pub const NS: &str = "ml";
/// The deployment the service account may scale.
pub const DEPLOYMENT: &str = "model-worker";
/// A deployment the service account was not granted.
pub const UNGRANTED: &str = "other-model";
/// A deployment the service account was granted, but which does not exist.
pub const MISSING: &str = "missing-model";
/// A namespace the service account has no grant in.
pub const OTHER_NAMESPACE: &str = "other-team";

/// What one event file does: the function it goes to, and replicas before and after.
struct Expect {
    file: &'static str,
    function: &'static str,
    from: i32,
    to: i32,
    applied: bool,
}

const EVENTS: &[Expect] = &[
    Expect {
        file: "alarm-high-backlog.json",
        function: "scale-up",
        from: 3,
        to: 7,
        applied: true,
    },
    Expect {
        file: "sns-alarm-high-backlog.json",
        function: "scale-up",
        from: 3,
        to: 7,
        applied: true,
    },
    Expect {
        file: "eventbridge-alarm-high-backlog.json",
        function: "scale-up",
        from: 3,
        to: 7,
        applied: true,
    },
    Expect {
        file: "alarm-age-of-oldest-message.json",
        function: "scale-up",
        from: 3,
        to: 4,
        applied: true,
    },
    Expect {
        file: "alarm-set-by-set-alarm-state.json",
        function: "scale-up",
        from: 3,
        to: 4,
        applied: true,
    },
    Expect {
        file: "alarm-low-backlog.json",
        function: "scale-down",
        from: 3,
        to: 2,
        applied: true,
    },
    Expect {
        file: "alarm-low-backlog-metric-math.json",
        function: "scale-down",
        from: 3,
        to: 2,
        applied: true,
    },
    Expect {
        file: "alarm-ok.json",
        function: "scale-up",
        from: 3,
        to: 3,
        applied: false,
    },
];

/// Every file in `events/`, through the function it is for: the result JSON and the replica
/// count the cluster holds afterwards. Also checks the round trips where the cluster counts
/// them: the first invocation gets a token and discovers the cluster, warm ones do neither.
pub async fn every_event_file_scales_as_its_alarm_says<C: ClusterUnderTest>(
    cluster: &C,
    cluster_env: &[(String, String)],
) {
    // The heartbeat's sample is checked at the end, the doctor's by the local loop's test
    // (tests/local-loop.sh); every other file is an alarm.
    let covered: Vec<&str> = EVENTS
        .iter()
        .map(|e| e.file)
        .chain([HEARTBEAT, "doctor.json"])
        .collect();
    for file in event_files() {
        assert!(
            covered.contains(&file.as_str()),
            "events/{file} has no end-to-end expectation"
        );
    }
    let functions = Functions::start(&function_env(cluster_env, &[("MAX_REPLICAS", "8")])).await;
    cluster.take_requests().await;
    let mut first = true;
    for e in EVENTS {
        cluster.set_replicas(NS, DEPLOYMENT, e.from).await;
        cluster.take_requests().await;
        let result = functions.invoke_file(e.function, e.file).await.ok();
        assert_eq!(result["target"], "ml/model-worker", "{}: {result}", e.file);
        assert_eq!(
            result["direction"],
            if e.function == "scale-up" {
                "up"
            } else {
                "down"
            },
            "{}",
            e.file
        );
        assert_eq!(result["applied"], e.applied, "{}: {result}", e.file);
        assert_eq!(result["dry_run"], false);
        assert!(
            result["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{}: {result}",
            e.file
        );
        if e.applied {
            assert_eq!(
                (result["from"].as_i64(), result["to"].as_i64()),
                (Some(e.from.into()), Some(e.to.into())),
                "{}: {result}",
                e.file
            );
        }
        assert_eq!(
            cluster.replicas(NS, DEPLOYMENT).await,
            e.to,
            "{}: replicas in the cluster",
            e.file
        );
        let requests = cluster.take_requests().await;
        // The first raise of scale-up's container also reads the Lease of the GPU pool its
        // Deployment's nodeSelector matches (none is applied here, so it is not capped): once
        // for the container, as the warm raise below shows.
        let lease_reads = requests.iter().filter(|k| *k == "lease_get").count();
        assert!(lease_reads <= 1, "{}: {requests:?}", e.file);
        // The node pools it reads for that come from discovery's own clusters.get.
        let discoveries = requests.iter().filter(|k| *k == "discovery").count();
        assert!(discoveries <= 1, "{}: {requests:?}", e.file);
        let on_the_cluster = |k: &&str| {
            k.starts_with("scale") || matches!(*k, "deployment_get" | "event_create" | "lease_get")
        };
        let scale_calls: Vec<&str> = requests
            .iter()
            .map(String::as_str)
            .filter(on_the_cluster)
            .filter(|k| *k != "lease_get")
            .collect();
        let google_calls: Vec<&str> = requests
            .iter()
            .map(String::as_str)
            .filter(|k| !on_the_cluster(k))
            .collect();
        if cluster.counts_cluster_requests() {
            // Each write is followed by its Event.
            let want_scale: &[&str] = match (e.applied, result["state"].as_str()) {
                (_, Some("OK")) => &[],
                (true, _) => &["deployment_get", "scale_put", "event_create"],
                (false, _) => &["deployment_get"],
            };
            assert_eq!(scale_calls, want_scale, "{}: cluster requests", e.file);
        }
        // Besides the scale calls, only token, discovery and token-review requests: the first
        // ALARM of each function's container fetches a token and discovers the cluster (scale-up
        // and scale-down are separate processes, each with its own cache).
        assert!(
            google_calls
                .iter()
                .all(|k| is_token_request(k) || matches!(*k, "discovery" | "tokenreview")),
            "{}: {google_calls:?}",
            e.file
        );
        if first {
            first = false;
            assert!(
                requests.iter().any(|k| is_token_request(k))
                    && requests.iter().any(|k| k == "discovery"),
                "cold start: {requests:?}"
            );
        }
    }
    // A warm scale-up makes no token and no discovery request.
    cluster.set_replicas(NS, DEPLOYMENT, 3).await;
    cluster.take_requests().await;
    functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .ok();
    let warm = cluster.take_requests().await;
    assert!(
        !warm
            .iter()
            .any(|k| is_token_request(k) || k == "discovery" || k == "lease_get"),
        "warm invocation: {warm:?}"
    );
    // The heartbeat, with re-arm off (as here), reads no alarms, says why, and writes nothing.
    let beat = functions.invoke_file("scale-up", HEARTBEAT).await.ok();
    assert_eq!(beat["heartbeat"], true, "{beat}");
    assert!(
        beat["note"]
            .as_str()
            .unwrap_or_default()
            .contains("REARM_ALARM=false"),
        "{beat}"
    );
    assert_eq!(cluster.replicas(NS, DEPLOYMENT).await, 7);
    assert_no_secrets(&functions.log(), cluster_env);
}

/// The heartbeat's sample event.
const HEARTBEAT: &str = "heartbeat.json";

/// A request for a Google token: with a key (`token`), or keyless (`sts_token`, then
/// `generate_access_token`).
fn is_token_request(kind: &str) -> bool {
    matches!(kind, "token" | "sts_token" | "generate_access_token")
}

/// Keys and tokens never reach a log line.
pub fn assert_no_secrets(log: &str, cluster_env: &[(String, String)]) {
    assert!(!log.contains("ya29."), "an access token reached the log");
    let key_file = cluster_env
        .iter()
        .find(|(k, _)| k == "GOOGLE_APPLICATION_CREDENTIALS")
        .map(|(_, v)| v.clone());
    if let Some(path) = key_file {
        let key: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_default())
            .unwrap_or(Value::Null);
        if let Some(id) = key["private_key_id"].as_str() {
            assert!(!log.contains(id), "the key's id reached the log");
        }
        if let Some(pem) = key["private_key"].as_str() {
            for line in pem.lines().filter(|l| l.len() > 40) {
                assert!(!log.contains(line), "private key material reached the log");
            }
        }
    }
}

/// Invokes scale-up with the sample high-backlog alarm and asserts as [`assert_error`] does:
/// it fails with `error_type`, no token or key in its message, each of `needles` in it; returns
/// the message.
async fn assert_high_backlog_fails(
    functions: &Functions,
    error_type: &str,
    needles: &[&str],
) -> String {
    let invocation = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await;
    assert_error(invocation, error_type, needles)
}

fn assert_error(inv: Invocation, error_type: &str, needles: &[&str]) -> String {
    let (t, message) = inv.err();
    assert_eq!(t, error_type, "{message}");
    assert!(
        !message.contains("ya29.") && !message.contains("PRIVATE KEY"),
        "a token or a key reached the error: {message}"
    );
    for n in needles {
        assert!(message.contains(n), "{n:?} not in: {message}");
    }
    message
}

/// An alarm that no route matches: NonRetryable, naming the alarm; nothing changes.
pub async fn an_alarm_without_a_route_changes_nothing<C: ClusterUnderTest>(
    cluster: &C,
    cluster_env: &[(String, String)],
) {
    let table = r#"[{"queues":["other-jobs"],"namespace":"ml","deployment":"model-worker","max_replicas":4}]"#;
    let env = function_env(
        cluster_env,
        &[
            ("TARGET_NAMESPACE", ""),
            ("TARGET_DEPLOYMENT", ""),
            ("MIN_REPLICAS", ""),
            ("MAX_REPLICAS", ""),
            ("MESSAGES_PER_REPLICA", ""),
            ("SCALER_TARGETS", table),
        ],
    );
    let functions = Functions::start(&env).await;
    cluster.set_replicas(NS, DEPLOYMENT, 3).await;
    assert_high_backlog_fails(
        &functions,
        "NonRetryable",
        &["no route", "model-worker-backlog-high", "model-jobs"],
    )
    .await;
    assert_eq!(cluster.replicas(NS, DEPLOYMENT).await, 3);
    assert_no_secrets(&functions.log(), cluster_env);
}

/// A Deployment that does not exist: NonRetryable 404 that says what to check.
pub async fn a_missing_deployment_is_a_clear_error<C: ClusterUnderTest>(
    _cluster: &C,
    cluster_env: &[(String, String)],
) {
    let functions = Functions::start(&function_env(
        cluster_env,
        &[("TARGET_DEPLOYMENT", MISSING)],
    ))
    .await;
    assert_high_backlog_fails(
        &functions,
        "NonRetryable",
        &["404", "NotFound", "ml/missing-model", "TARGET_DEPLOYMENT"],
    )
    .await;
    assert_no_secrets(&functions.log(), cluster_env);
}

/// A Deployment the service account was not granted: NonRetryable 403; its replicas stay.
pub async fn an_ungranted_deployment_is_refused_and_unchanged<C: ClusterUnderTest>(
    cluster: &C,
    cluster_env: &[(String, String)],
) {
    let functions = Functions::start(&function_env(
        cluster_env,
        &[("TARGET_DEPLOYMENT", UNGRANTED)],
    ))
    .await;
    let before = cluster.replicas(NS, UNGRANTED).await;
    assert_high_backlog_fails(
        &functions,
        "NonRetryable",
        &["403", "Forbidden", "ml/other-model", "deployments/scale"],
    )
    .await;
    assert_eq!(cluster.replicas(NS, UNGRANTED).await, before);
    assert_no_secrets(&functions.log(), cluster_env);
}

/// 503s from the API server: a few are retried away; many are Retryable and change nothing.
/// Skipped (returns false) where the cluster cannot inject faults.
pub async fn server_errors_are_retried_then_reported<C: ClusterUnderTest>(
    cluster: &C,
    cluster_env: &[(String, String)],
) -> bool {
    let functions = Functions::start(&function_env(cluster_env, &[])).await;
    cluster.set_replicas(NS, DEPLOYMENT, 2).await;
    if !cluster.fail_next(NS, DEPLOYMENT, 2, 503).await {
        return false;
    }
    let result = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .ok();
    assert_eq!(result["applied"], true, "{result}");
    assert_eq!(cluster.replicas(NS, DEPLOYMENT).await, 4);

    cluster.set_replicas(NS, DEPLOYMENT, 2).await;
    cluster.fail_next(NS, DEPLOYMENT, 50, 503).await;
    assert_high_backlog_fails(&functions, "Retryable", &["503"]).await;
    assert_eq!(cluster.replicas(NS, DEPLOYMENT).await, 2);
    assert_no_secrets(&functions.log(), cluster_env);
    true
}

/// The cluster endpoint given with the wrong CA: TLS is refused, the error says to check the CA,
/// and nothing changes.
pub async fn a_wrong_cluster_ca_is_refused<C: ClusterUnderTest>(
    cluster: &C,
    cluster_env: &[(String, String)],
    endpoint: &str,
    wrong_ca_pem: &str,
) {
    let env = function_env(
        cluster_env,
        &[
            ("GKE_CLUSTER", ""),
            ("GKE_ENDPOINT", endpoint),
            ("GKE_CA_CERT", wrong_ca_pem),
        ],
    );
    let functions = Functions::start(&env).await;
    cluster.set_replicas(NS, DEPLOYMENT, 2).await;
    assert_high_backlog_fails(
        &functions,
        "Retryable",
        &["TLS verification failed", "GKE_CA_CERT"],
    )
    .await;
    assert_eq!(cluster.replicas(NS, DEPLOYMENT).await, 2);
    assert_no_secrets(&functions.log(), cluster_env);
}

/// `DRY_RUN=true`: the result says what would happen; the cluster is not written.
pub async fn dry_run_writes_nothing<C: ClusterUnderTest>(
    cluster: &C,
    cluster_env: &[(String, String)],
) {
    let functions = Functions::start(&function_env(cluster_env, &[("DRY_RUN", "true")])).await;
    cluster.set_replicas(NS, DEPLOYMENT, 2).await;
    let result = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .ok();
    assert_eq!(
        (
            result["applied"].as_bool(),
            result["dry_run"].as_bool(),
            result["to"].as_i64()
        ),
        (Some(false), Some(true), Some(4)),
        "{result}"
    );
    assert_eq!(cluster.replicas(NS, DEPLOYMENT).await, 2);
    assert_eq!(result.get("event"), None, "no write, no Event: {result}");
}

/// The names of Events.
fn event_names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["metadata"]["name"].as_str().map(str::to_owned))
        .collect()
}

/// The Events regarding the Deployment that are not among `before`.
async fn new_events<C: ClusterUnderTest>(cluster: &C, before: &[String]) -> Vec<Value> {
    cluster
        .events(NS, DEPLOYMENT)
        .await
        .into_iter()
        .filter(|e| {
            !e["metadata"]["name"]
                .as_str()
                .is_some_and(|n| before.iter().any(|b| b == n))
        })
        .collect()
}

/// Each write is recorded as a Kubernetes Event on the Deployment, listed by its name: Normal,
/// `ScaledUp` or `ScaledDown`, its note naming the alarm and `from -> to`, reported by
/// queue-scaler. Where `create` on Events is refused (403), the scale is applied all the same,
/// the result is successful and says so; `KUBE_EVENTS=false` records none.
pub async fn each_write_is_recorded_as_an_event_on_the_deployment<C: ClusterUnderTest>(
    cluster: &C,
    cluster_env: &[(String, String)],
) {
    let functions = Functions::start(&function_env(cluster_env, &[("MAX_REPLICAS", "8")])).await;
    let mut seen = event_names(&cluster.events(NS, DEPLOYMENT).await);
    for (function, file, from, to, reason) in [
        ("scale-up", "alarm-high-backlog.json", 3, 7, "ScaledUp"),
        ("scale-down", "alarm-low-backlog.json", 7, 6, "ScaledDown"),
    ] {
        cluster.set_replicas(NS, DEPLOYMENT, from).await;
        let result = functions.invoke_file(function, file).await.ok();
        assert_eq!(
            (result["to"].as_i64(), result["applied"].as_bool()),
            (Some(to.into()), Some(true)),
            "{result}"
        );
        assert_eq!(result["event"], "recorded", "{result}");
        let events = new_events(cluster, &seen).await;
        assert_eq!(events.len(), 1, "one Event per write: {events:#?}");
        let e = &events[0];
        assert_eq!(
            (
                &e["type"],
                &e["reason"],
                &e["reportingController"],
                &e["action"]
            ),
            (
                &json!("Normal"),
                &json!(reason),
                &json!("queue-scaler"),
                &json!("Scale")
            ),
            "{e:#}"
        );
        assert_eq!(e["regarding"]["kind"], "Deployment", "{e:#}");
        assert_eq!(e["regarding"]["apiVersion"], "apps/v1", "{e:#}");
        assert_eq!(
            (
                e["regarding"]["namespace"].as_str(),
                e["regarding"]["name"].as_str()
            ),
            (Some(NS), Some(DEPLOYMENT))
        );
        assert!(
            e["regarding"]["uid"]
                .as_str()
                .is_some_and(|u| !u.is_empty()),
            "the Deployment's uid, so kubectl describe lists it: {e:#}"
        );
        let note = e["note"].as_str().unwrap_or_default();
        let alarm = result["alarm"].as_str().unwrap_or_default();
        assert!(
            note.contains(&format!("alarm {alarm}")) && note.contains(&format!("{from} -> {to}")),
            "{note}"
        );
        seen.extend(event_names(&events));
    }

    // Without the Events rule: the scale stands, the invocation succeeds, the result says why.
    cluster.allow_events(NS, false).await;
    cluster.set_replicas(NS, DEPLOYMENT, 3).await;
    let result = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .ok();
    cluster.allow_events(NS, true).await;
    assert_eq!(
        (result["to"].as_i64(), result["applied"].as_bool()),
        (Some(7), Some(true)),
        "{result}"
    );
    assert_eq!(cluster.replicas(NS, DEPLOYMENT).await, 7);
    let event = result["event"].as_str().unwrap_or_default();
    assert!(
        event.starts_with("failed: ")
            && event.contains("403")
            && event.contains("infra/gke/rbac.yaml"),
        "{result}"
    );
    assert!(new_events(cluster, &seen).await.is_empty());

    // KUBE_EVENTS=false: written, not recorded.
    let off = Functions::start(&function_env(
        cluster_env,
        &[("MAX_REPLICAS", "8"), ("KUBE_EVENTS", "false")],
    ))
    .await;
    cluster.set_replicas(NS, DEPLOYMENT, 3).await;
    let result = off
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .ok();
    assert_eq!(
        (result["applied"].as_bool(), &result["event"]),
        (Some(true), &json!("off")),
        "{result}"
    );
    assert!(new_events(cluster, &seen).await.is_empty());
}

/// The event that makes `scale-up` add one step: no backlog datapoint, so `current + 1`.
const ONE_STEP_UP: &str = "alarm-set-by-set-alarm-state.json";

/// A token without the `userinfo.email` scope (`GCP_TOKEN_SCOPES` of `cloud-platform` only):
/// the cluster sees the service account as its numeric id, which no RoleBinding names, and
/// refuses it. The error is NonRetryable and says the scope is missing; nothing changes.
pub async fn a_token_without_the_email_scope_is_refused_and_named<C: ClusterUnderTest>(
    cluster: &C,
    cluster_env: &[(String, String)],
) {
    let env = function_env(
        cluster_env,
        &[("GCP_TOKEN_SCOPES", local_gke::CLOUD_PLATFORM_SCOPE)],
    );
    let functions = Functions::start(&env).await;
    cluster.set_replicas(NS, DEPLOYMENT, 2).await;
    let numeric_id = format!(
        "User \"{}\"",
        env_var(cluster_env, "SCALER_SERVICE_ACCOUNT_ID")
    );
    let message = assert_high_backlog_fails(
        &functions,
        "NonRetryable",
        &[
            "403",
            "Forbidden",
            "ml/model-worker",
            &numeric_id,
            "numeric id",
            "userinfo.email",
        ],
    )
    .await;
    assert!(
        !message.contains("Check the name first"),
        "the hint is about the scope, not the Role: {message}"
    );
    assert_eq!(cluster.replicas(NS, DEPLOYMENT).await, 2);
    assert_no_secrets(&functions.log(), cluster_env);
}

/// Least privilege: the service account's own token may read and set the replicas of its
/// deployment, and read the Deployment itself, and nothing else. The cluster refuses (403, with
/// kube's exact `Status`) the scale or the Deployment of one the Role does not name or in another
/// namespace, patching or creating its own scale (verbs the functions never use), reading
/// Secrets, and patching or deleting the Deployment; it does not authenticate (401) a token the token endpoint never
/// issued. Nothing changes.
pub async fn the_scaler_may_do_nothing_but_scale_its_deployment<C: ClusterUnderTest>(
    cluster: &C,
    cluster_env: &[(String, String)],
) {
    use reqwest::Method;
    let token = scaler_token(
        cluster_env,
        &[
            local_gke::CLOUD_PLATFORM_SCOPE,
            local_gke::USERINFO_EMAIL_SCOPE,
        ],
    )
    .await;
    let email = env_var(cluster_env, "SCALER_SERVICE_ACCOUNT");
    let kube = ClusterClient::new(cluster_env);
    cluster.set_replicas(NS, DEPLOYMENT, 2).await;
    let other_before = cluster.replicas(NS, UNGRANTED).await;
    let scale = |name: &str| local_gke::scale_path(NS, name);
    let deployment = local_gke::deployment_path(NS, DEPLOYMENT);

    // What it may do: get and update its deployment's scale (infra/gke/rbac.yaml grants exactly
    // the verbs the functions use).
    let (status, body) = kube
        .request(Method::GET, &scale(DEPLOYMENT), &token, None)
        .await;
    assert_eq!(
        (status, &body["spec"]["replicas"]),
        (200, &json!(2)),
        "{body}"
    );
    let mut update = body.clone();
    update["spec"]["replicas"] = json!(3);
    let (status, body) = kube
        .request(
            Method::PUT,
            &scale(DEPLOYMENT),
            &token,
            Some(("application/json", update)),
        )
        .await;
    assert_eq!(
        (status, &body["spec"]["replicas"]),
        (200, &json!(3)),
        "{body}"
    );

    // And read its Deployment itself: the same replicas and resourceVersion as its scale.
    let (status, body) = kube.request(Method::GET, &deployment, &token, None).await;
    assert_eq!(
        (status, &body["spec"]["replicas"]),
        (200, &json!(3)),
        "{body}"
    );

    // What it may not: (method, path, body, verb, group, resource, name, subresource).
    let other_scale = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": UNGRANTED, "namespace": NS}, "spec": {"replicas": 5}});
    let refused = [
        (
            Method::GET,
            scale(UNGRANTED),
            None,
            "get",
            "apps",
            "deployments",
            Some(UNGRANTED),
            Some("scale"),
        ),
        (
            Method::PUT,
            scale(UNGRANTED),
            Some(("application/json", other_scale)),
            "update",
            "apps",
            "deployments",
            Some(UNGRANTED),
            Some("scale"),
        ),
        (
            Method::GET,
            format!("/api/v1/namespaces/{NS}/secrets/model-worker-aws"),
            None,
            "get",
            "",
            "secrets",
            Some("model-worker-aws"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/namespaces/{NS}/secrets"),
            None,
            "list",
            "",
            "secrets",
            None,
            None,
        ),
        (
            Method::GET,
            local_gke::deployment_path(NS, UNGRANTED),
            None,
            "get",
            "apps",
            "deployments",
            Some(UNGRANTED),
            None,
        ),
        (
            Method::PATCH,
            deployment.clone(),
            merge_patch_to_nine(),
            "patch",
            "apps",
            "deployments",
            Some(DEPLOYMENT),
            None,
        ),
        (
            Method::DELETE,
            deployment.clone(),
            None,
            "delete",
            "apps",
            "deployments",
            Some(DEPLOYMENT),
            None,
        ),
        // Its own scale, but with the verbs the functions never use.
        (
            Method::PATCH,
            scale(DEPLOYMENT),
            merge_patch_to_nine(),
            "patch",
            "apps",
            "deployments",
            Some(DEPLOYMENT),
            Some("scale"),
        ),
        (
            Method::POST,
            scale(DEPLOYMENT),
            Some(("application/json", own_scale(NS, 9))),
            "create",
            "apps",
            "deployments",
            Some(DEPLOYMENT),
            Some("scale"),
        ),
        // A deployment of the same name in another namespace.
        (
            Method::GET,
            local_gke::scale_path(OTHER_NAMESPACE, DEPLOYMENT),
            None,
            "get",
            "apps",
            "deployments",
            Some(DEPLOYMENT),
            Some("scale"),
        ),
        (
            Method::PUT,
            local_gke::scale_path(OTHER_NAMESPACE, DEPLOYMENT),
            Some(("application/json", own_scale(OTHER_NAMESPACE, 9))),
            "update",
            "apps",
            "deployments",
            Some(DEPLOYMENT),
            Some("scale"),
        ),
    ];
    for (method, path, body, verb, group, resource, name, subresource) in refused {
        let (status, answer) = kube.request(method.clone(), &path, &token, body).await;
        let namespace = path
            .split("/namespaces/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("{path} names no namespace"));
        let want = forbidden(&email, namespace, verb, group, resource, name, subresource);
        assert_eq!((status, &answer), (403, &want), "{method} {path}");
    }

    // A token that was never issued is not a user at all.
    let (status, answer) = kube
        .request(Method::GET, &scale(DEPLOYMENT), "ya29.never-issued", None)
        .await;
    let unauthorized = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401});
    assert_eq!((status, &answer), (401, &unauthorized));

    assert_eq!(
        cluster.replicas(NS, DEPLOYMENT).await,
        3,
        "the Deployment is still there, as updated through its scale"
    );
    assert_eq!(cluster.replicas(NS, UNGRANTED).await, other_before);
}

/// A JSON merge patch of the replicas to 9, as a request body.
fn merge_patch_to_nine() -> Option<(&'static str, Value)> {
    Some((
        "application/merge-patch+json",
        json!({"spec": {"replicas": 9}}),
    ))
}

/// A `Scale` of `model-worker` in `namespace` with `replicas`, as a write would send it.
fn own_scale(namespace: &str, replicas: i32) -> Value {
    json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": DEPLOYMENT, "namespace": namespace}, "spec": {"replicas": replicas}})
}

/// The `Status` a kube-apiserver answers when RBAC refuses a request (`NewForbidden` and
/// `forbiddenMessage` in k8s.io/apimachinery and k8s.io/apiserver).
fn forbidden(
    user: &str,
    namespace: &str,
    verb: &str,
    group: &str,
    resource: &str,
    name: Option<&str>,
    subresource: Option<&str>,
) -> Value {
    let qualified = if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    };
    let full = subresource.map_or_else(|| resource.to_owned(), |s| format!("{resource}/{s}"));
    let why = format!("User {user:?} cannot {verb} resource {full:?} in API group {group:?} in the namespace {namespace:?}");
    let message = match name {
        Some(name) => format!("{qualified} {name:?} is forbidden: {why}"),
        None => format!("{qualified} is forbidden: {why}"),
    };
    let mut details = json!({"kind": resource});
    if let Some(name) = name {
        details["name"] = json!(name);
    }
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": "Forbidden", "details": details, "code": 403})
}

/// Optimistic concurrency: a write of the scale at the resourceVersion read before someone else
/// changed the deployment is refused with 409 Conflict and kube's message, and does not land.
pub async fn a_write_at_a_stale_resource_version_is_a_conflict<C: ClusterUnderTest>(
    cluster: &C,
    cluster_env: &[(String, String)],
) {
    use reqwest::Method;
    let token = scaler_token(
        cluster_env,
        &[
            local_gke::CLOUD_PLATFORM_SCOPE,
            local_gke::USERINFO_EMAIL_SCOPE,
        ],
    )
    .await;
    let kube = ClusterClient::new(cluster_env);
    let path = local_gke::scale_path(NS, DEPLOYMENT);
    cluster.set_replicas(NS, DEPLOYMENT, 2).await;
    let (status, mut read) = kube.request(Method::GET, &path, &token, None).await;
    assert_eq!(status, 200, "{read}");
    // An operator changes the deployment between the read and the write.
    cluster.set_replicas(NS, DEPLOYMENT, 3).await;
    read["spec"]["replicas"] = json!(4);
    let (status, answer) = kube
        .request(Method::PUT, &path, &token, Some(("application/json", read)))
        .await;
    let conflict = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("Operation cannot be fulfilled on deployments.apps {DEPLOYMENT:?}: the object has been modified; please apply your changes to the latest version and try again"),
        "reason": "Conflict",
        "details": {"name": DEPLOYMENT, "group": "apps", "kind": "deployments"},
        "code": 409
    });
    assert_eq!((status, &answer), (409, &conflict));
    assert_eq!(
        cluster.replicas(NS, DEPLOYMENT).await,
        3,
        "the stale write did not land"
    );
}

/// Two function instances (two emulators, so two `scale-up` processes) scale one deployment at
/// the same moment, round after round, and lose no update: each writes with the resourceVersion
/// it read, so whichever writes second gets 409 Conflict, reads again and decides again. The
/// replicas end where applying every invocation one after the other ends.
///
/// The race is made, not hoped for, where the cluster can hold reads (local-gke): each round
/// holds both functions' reads of the Deployment until both have read, so both write from the
/// same `resourceVersion` and every round meets a conflict, whatever the machine's load. A real
/// API server cannot hold a read: there the rounds go on (within a bound) until the functions
/// have reported a conflict. Returns how many conflicts they reported.
pub async fn racing_functions_lose_no_update<C: ClusterUnderTest>(
    cluster: &C,
    cluster_env: &[(String, String)],
) -> u64 {
    const ROUNDS: i32 = 10;
    const AT_MOST_ROUNDS: i32 = 60;
    let env = function_env(cluster_env, &[("MAX_REPLICAS", "1000")]);
    let (a, b) = tokio::join!(Functions::start(&env), Functions::start(&env));
    cluster.set_replicas(NS, DEPLOYMENT, 2).await;
    // The first invocation of each gets a token and finds the cluster: warm both up first, so the
    // rounds race on the scale alone.
    for functions in [&a, &b] {
        functions.invoke_file("scale-up", ONE_STEP_UP).await.ok();
    }
    assert_eq!(cluster.replicas(NS, DEPLOYMENT).await, 4);
    let (mut rounds, mut conflicts) = (0, 0);
    loop {
        let held = cluster.hold_next_reads(NS, DEPLOYMENT, 2).await;
        rounds += 1;
        let (first, second) = tokio::join!(
            a.invoke_file("scale-up", ONE_STEP_UP),
            b.invoke_file("scale-up", ONE_STEP_UP)
        );
        let mut in_round = 0;
        for result in [first.ok(), second.ok()] {
            assert_eq!(result["applied"], true, "{result}");
            assert_eq!(
                result["to"].as_i64(),
                result["from"].as_i64().map(|from| from + 1),
                "{result}"
            );
            in_round += result["conflicts"]
                .as_u64()
                .expect("conflicts in the result");
        }
        conflicts += in_round;
        if held {
            assert!(
                in_round >= 1,
                "round {rounds}: both read the same resourceVersion, yet neither met 409 Conflict"
            );
        }
        let enough = if held {
            rounds >= ROUNDS
        } else {
            rounds >= ROUNDS && conflicts > 0 || rounds >= AT_MOST_ROUNDS
        };
        if enough {
            break;
        }
    }
    assert_eq!(
        cluster.replicas(NS, DEPLOYMENT).await,
        4 + 2 * rounds,
        "every scale-up counts once: no update was lost"
    );
    assert!(
        conflicts > 0,
        "{rounds} rounds of racing functions met no 409 Conflict"
    );
    conflicts
}

/// An HTTPS client that trusts only this PEM CA.
fn client_trusting(ca_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).expect("a PEM CA certificate"))
        .build()
        .expect("an HTTPS client")
}

/// The service account's own access token, got the way the functions get theirs: a JWT-bearer
/// grant, signed RS256 with the key file's private key (`ring`, as gcp_auth signs), sent to the
/// key's `token_uri`, trusting `SSL_CERT_FILE`.
pub async fn scaler_token(cluster_env: &[(String, String)], scopes: &[&str]) -> String {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
    let key_file = env_var(cluster_env, "GOOGLE_APPLICATION_CREDENTIALS");
    let key: Value =
        serde_json::from_str(&std::fs::read_to_string(&key_file).expect("the key file"))
            .expect("key JSON");
    let pem = key["private_key"].as_str().expect("private_key");
    let der = STANDARD
        .decode(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .expect("PEM body");
    let pair = RsaKeyPair::from_pkcs8(&der).expect("a PKCS#8 RSA key");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let claims = json!({"iss": key["client_email"], "aud": key["token_uri"], "iat": now, "exp": now + 3600, "scope": scopes.join(" ")});
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let signing_input = format!(
        "{}.{}",
        encode(&json!({"alg": "RS256", "typ": "JWT"})),
        encode(&claims)
    );
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .expect("RS256 signature");
    let assertion = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));

    let google = client_trusting(
        &std::fs::read(env_var(cluster_env, "SSL_CERT_FILE")).expect("SSL_CERT_FILE"),
    );
    let token_uri = key["token_uri"].as_str().expect("token_uri");
    let response = google
        .post(token_uri)
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{token_uri}: {e}"));
    let body: Value = response.json().await.expect("a JSON answer");
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {body}"))
        .to_owned()
}

/// Requests to the cluster's endpoint (`GKE_ENDPOINT`), trusting only its CA (`GKE_CA_CERT`).
struct ClusterClient {
    http: reqwest::Client,
    base: String,
}

impl ClusterClient {
    fn new(cluster_env: &[(String, String)]) -> ClusterClient {
        let ca = env_var(cluster_env, "GKE_CA_CERT");
        // As GKE gives it (base64 of the PEM), or the PEM itself.
        let pem = base64::engine::general_purpose::STANDARD
            .decode(ca.trim())
            .unwrap_or_else(|_| ca.into_bytes());
        ClusterClient {
            http: client_trusting(&pem),
            base: env_var(cluster_env, "GKE_ENDPOINT"),
        }
    }

    /// The status and the JSON body of a request with this bearer token.
    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<(&str, Value)>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        crate::bearer_request(&self.http, method, &url, token, body).await
    }
}
