//! The end-to-end scenarios against a real kube-apiserver with RBAC (see `real_kube`): the
//! release binaries under `cargo lambda watch`, Google tokens from the local token endpoint that
//! the API server authenticates through local-gke's TokenReview webhook, the RBAC manifests of
//! `infra/gke` applied as they ship.
//!
//! One test, one cluster: starting etcd and kube-apiserver takes seconds, and the scenarios run
//! one after the other on it, each setting the replicas it starts from. `make kube-binaries`
//! builds the servers (or `KUBE_BIN_DIR` names them); the test builds them itself if needed.

use queue_scaler_tests::real_kube::RealKube;
use queue_scaler_tests::real_pool;
use queue_scaler_tests::scenarios::{self, DEPLOYMENT, NS};
use queue_scaler_tests::{function_env, ClusterUnderTest, Functions};
use std::time::Instant;

/// Runs one scenario, saying which, so a failure is easy to place in the output.
macro_rules! step {
    ($name:literal, $scenario:expr) => {{
        let started = Instant::now();
        eprintln!("real kube-apiserver: {} ...", $name);
        let outcome = $scenario;
        eprintln!(
            "real kube-apiserver: {} done in {:.1?}",
            $name,
            started.elapsed()
        );
        outcome
    }};
}

#[tokio::test(flavor = "multi_thread")]
async fn every_scenario_holds_against_a_real_kube_apiserver_with_rbac() {
    let kube = step!(
        "start etcd and kube-apiserver, apply infra/gke",
        RealKube::start().await
    );
    eprintln!("real kube-apiserver: {} at {}", kube.version, kube.url);
    let env = kube.env.clone();

    // The scenarios the local control plane runs, with the same assertions.
    step!(
        "every event file",
        scenarios::every_event_file_scales_as_its_alarm_says(&kube, &env).await
    );
    step!(
        "no route",
        scenarios::an_alarm_without_a_route_changes_nothing(&kube, &env).await
    );
    step!(
        "missing deployment",
        scenarios::a_missing_deployment_is_a_clear_error(&kube, &env).await
    );
    step!(
        "ungranted deployment",
        scenarios::an_ungranted_deployment_is_refused_and_unchanged(&kube, &env).await
    );
    let injected = step!(
        "server errors",
        scenarios::server_errors_are_retried_then_reported(&kube, &env).await
    );
    assert!(
        !injected,
        "a real API server cannot inject faults: this is the one scenario that runs only locally"
    );
    let wrong_ca = kube.local.gke().google_ca_pem().to_owned();
    step!(
        "wrong cluster CA",
        scenarios::a_wrong_cluster_ca_is_refused(&kube, &env, &kube.url, &wrong_ca).await
    );
    step!(
        "dry run",
        scenarios::dry_run_writes_nothing(&kube, &env).await
    );
    step!(
        "an Event on each write",
        scenarios::each_write_is_recorded_as_an_event_on_the_deployment(&kube, &env).await
    );
    step!(
        "kubectl describe deployment lists the Events",
        the_events_are_those_kubectl_describe_lists(&kube).await
    );
    step!(
        "token without userinfo.email",
        scenarios::a_token_without_the_email_scope_is_refused_and_named(&kube, &env).await
    );
    step!(
        "least privilege",
        scenarios::the_scaler_may_do_nothing_but_scale_its_deployment(&kube, &env).await
    );
    step!(
        "stale resourceVersion",
        scenarios::a_write_at_a_stale_resource_version_is_a_conflict(&kube, &env).await
    );
    let conflicts = step!(
        "racing functions",
        scenarios::racing_functions_lose_no_update(&kube, &env).await
    );
    eprintln!("real kube-apiserver: the racing functions met {conflicts} conflict(s) and recovered from each");

    // Keyless: the same events, with the Google token from Workload Identity Federation; the
    // API server authenticates the impersonated token through the TokenReview webhook as the
    // service account's email, so the same RBAC applies.
    // The keyless environment has no key file: the only token the functions can get is the
    // impersonated one (the scenario checks a token request on the cold start).
    let keyless_env = queue_scaler_tests::keyless(&env);
    assert!(!keyless_env
        .iter()
        .any(|(k, _)| k == "GOOGLE_APPLICATION_CREDENTIALS"));
    step!(
        "every event file, keyless",
        scenarios::every_event_file_scales_as_its_alarm_says(&kube, &keyless_env).await
    );

    // The doctor against the real server: SelfSubjectReview and SelfSubjectAccessReview need
    // no RBAC of their own (infra/gke/rbac.yaml grants only get and update on the scale), and
    // the real authorizer answers the least-privilege questions.
    step!(
        "doctor",
        the_doctor_passes_with_the_shipped_rbac(&kube).await
    );

    // Two models on one 4-GPU pool, their high alarms fired at once, round after round: a
    // watch of the Deployments sees every count the API server stored, and their sum never
    // passes the pool's GPUs.
    step!(
        "two models racing on one pool",
        two_models_racing_on_one_pool_never_hold_more_than_it_has(&kube).await
    );

    // Only here: the endpoint and CA given directly, without the GKE API.
    step!(
        "endpoint and CA given directly",
        the_functions_scale_a_cluster_given_by_endpoint_and_ca(&kube).await
    );
}

/// `GKE_ENDPOINT` and `GKE_CA_CERT` instead of `GKE_CLUSTER`: the functions go straight to the
/// API server, and never ask the GKE API.
async fn the_functions_scale_a_cluster_given_by_endpoint_and_ca(kube: &RealKube) {
    let env = function_env(
        &kube.env,
        &[
            ("GKE_CLUSTER", ""),
            ("GKE_ENDPOINT", &kube.var("GKE_ENDPOINT")),
            ("GKE_CA_CERT", &kube.var("GKE_CA_CERT")),
        ],
    );
    let functions = Functions::start(&env).await;
    kube.set_replicas(NS, DEPLOYMENT, 3).await;
    kube.take_requests().await;
    let up = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .ok();
    assert_eq!(
        (
            up["from"].as_i64(),
            up["to"].as_i64(),
            up["applied"].as_bool()
        ),
        (Some(3), Some(4), Some(true)),
        "{up}"
    );
    let down = functions
        .invoke_file("scale-down", "alarm-low-backlog.json")
        .await
        .ok();
    assert_eq!(
        (
            down["from"].as_i64(),
            down["to"].as_i64(),
            down["applied"].as_bool()
        ),
        (Some(4), Some(3), Some(true)),
        "{down}"
    );
    assert_eq!(kube.replicas(NS, DEPLOYMENT).await, 3);
    let requests = kube.take_requests().await;
    assert!(requests.iter().any(|k| k == "token"), "{requests:?}");
    assert!(
        !requests.iter().any(|k| k == "discovery"),
        "no GKE API call with a given endpoint: {requests:?}"
    );
}

/// `kubectl describe deployment` lists the core Events whose `involvedObject` is the
/// Deployment, uid included (`searchEvents` in kubectl): the functions' Events are among them.
async fn the_events_are_those_kubectl_describe_lists(kube: &RealKube) {
    let (status, deployment) = kube
        .admin_request(
            reqwest::Method::GET,
            &local_gke::deployment_path(NS, DEPLOYMENT),
            None,
        )
        .await;
    assert_eq!(status, 200, "{deployment}");
    let uid = deployment["metadata"]["uid"].as_str().expect("a uid");
    let selector = format!(
        "involvedObject.kind%3DDeployment,involvedObject.name%3D{DEPLOYMENT},involvedObject.namespace%3D{NS},involvedObject.uid%3D{uid}"
    );
    let (status, list) = kube
        .admin_request(
            reqwest::Method::GET,
            &format!("/api/v1/namespaces/{NS}/events?fieldSelector={selector}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().cloned().unwrap_or_default();
    assert!(
        items
            .iter()
            .any(|e| e["reportingComponent"] == "queue-scaler" && e["reason"] == "ScaledUp"),
        "{list:#}"
    );
}

/// The doctor, on the cluster `infra/gke` sets up: every check passes or is skipped for a
/// reason, and it writes nothing.
async fn the_doctor_passes_with_the_shipped_rbac(kube: &RealKube) {
    let functions = Functions::start(&function_env(&kube.env, &[])).await;
    kube.set_replicas(NS, DEPLOYMENT, 3).await;
    let report = functions
        .invoke("scale-up", &serde_json::json!({"action": "doctor"}))
        .await
        .ok();
    assert_eq!(report["ok"], true, "{report:#}");
    let checks = report["checks"].as_array().cloned().unwrap_or_default();
    let status = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"].as_str().is_some_and(|n| n.contains(name)))
            .map(|c| c["status"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|| panic!("no check {name:?}: {report:#}"))
    };
    // The shipped RBAC lets the functions read their Deployment: the tolerations check runs
    // under it, least privilege and all.
    for name in [
        "identity",
        "access",
        "events",
        "Deployment read",
        "deployment",
        "taints",
        "tolerates",
    ] {
        assert_eq!(status(name), "pass", "{name}: {report:#}");
    }
    assert_eq!(
        kube.replicas(NS, DEPLOYMENT).await,
        3,
        "the doctor writes nothing"
    );
}

/// The team's pool: 4 GPUs, `text-model` and `image-model` at one GPU per replica, in one
/// routing table. Each round sets both to one replica, forgets the Lease's bookings, and fires
/// both high alarms at once, each at its own function (two warm containers). No queue is read
/// here (SQS answers 404), so the alarm's datapoint stands in: each asks for its maximum, 4.
/// The API server's own compare-and-swap on the Lease serialises the two bookings (its
/// `apiserver_request_total` shows at least one booking met 409 Conflict: the rounds go on until
/// one has), and the watch proves the sum of what both hold never passed 4 at any
/// resourceVersion.
async fn two_models_racing_on_one_pool_never_hold_more_than_it_has(kube: &RealKube) {
    const MODELS: [&str; 2] = ["text-model", "image-model"];
    const ROUNDS: usize = 20;
    const MAX_ROUNDS: usize = 60;
    kube.share_a_pool("gpu-pool", &MODELS).await;
    let table = serde_json::json!([
        {"alarms": ["text-high"], "namespace": NS, "deployment": "text-model", "min_replicas": 1,
         "max_replicas": 4, "messages_per_replica": 100, "pool": "gpu-pool", "pool_gpus": 4},
        {"alarms": ["image-high"], "namespace": NS, "deployment": "image-model", "min_replicas": 1,
         "max_replicas": 4, "messages_per_replica": 100, "pool": "gpu-pool"}
    ]);
    let env = real_pool::table_env(&kube.env, &table, &[]);
    let (a, b) = tokio::join!(Functions::start(&env), Functions::start(&env));
    let held = kube.watch_held(&MODELS).await;
    let raced = kube
        .race_until_bookings_meet(ROUNDS, MAX_ROUNDS, |round| {
            race_round(kube, &a, &b, &MODELS, round)
        })
        .await;
    let (round, conflicts) = (raced.rounds.len(), raced.conflicts);
    let capped: usize = raced.rounds.iter().sum();
    // Let the watch catch up with the last write.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let held = held.lock().expect("the watch's record").clone();
    held.assert_never_above(4, round);
    assert!(
        capped >= round,
        "every round capped at least one raise ({capped} in {round} rounds)"
    );
    eprintln!(
        "real kube-apiserver: {round} rounds of racing raises on one 4-GPU pool, {conflicts} bookings met 409 Conflict and were decided again, {} stored counts, none above 4",
        held.sums.len()
    );
}

/// One round of [`two_models_racing_on_one_pool_never_hold_more_than_it_has`]: both `models` at
/// one replica, no booking, both high alarms at once. The pool is used whole and never more;
/// answers how many of the two raises the pool capped.
async fn race_round(
    kube: &RealKube,
    a: &Functions,
    b: &Functions,
    models: &[&str],
    round: usize,
) -> usize {
    for model in models {
        kube.set_replicas(NS, model, 1).await;
    }
    kube.clear_bookings("gpu-pool").await;
    let (text_alarm, image_alarm) = (
        real_pool::high_alarm("text-high"),
        real_pool::high_alarm("image-high"),
    );
    let (text, image) = tokio::join!(
        a.invoke("scale-up", &text_alarm),
        b.invoke("scale-up", &image_alarm)
    );
    let (text, image) = (text.ok(), image.ok());
    let sum = kube.replicas(NS, "text-model").await + kube.replicas(NS, "image-model").await;
    if sum != 4 {
        panic!(
            "round {round}: the two models hold {sum} GPUs, not the pool's 4 used whole: {text} {image}\nthe pool's Lease: {}",
            kube.pool_lease("gpu-pool").await
        );
    }
    let mut capped = 0;
    for out in [&text, &image] {
        assert_eq!(out["capacity"]["pool"], "gpu-pool", "{out}");
        capped += usize::from(out["capacity"]["capped_by"].is_string());
    }
    capped
}
