//! The team's GPU pool in a real cluster that schedules: the real kube-apiserver with
//! kube-scheduler and kube-controller-manager (see `real_scheduler`), Node objects for the pool's
//! nodes, and the release binaries under `cargo lambda watch`. The scheduler decides which pods
//! fit; no test decides it for it.
//!
//! One test, one cluster, the scenarios in order:
//! - **a stockout**: the pool may grow to 4 GPUs, but only 2 nodes come. A raise to 3 leaves a pod
//!   Pending ("Insufficient nvidia.com/gpu"); once that lasts past `CAPACITY_PENDING_SECONDS`,
//!   the target is capacity-limited: the next alarm raises nothing, and says so in its result
//!   and in a Warning Event. When a third node comes, the pod runs and raises go on;
//! - **the pause annotations**, set on the Deployment as an operator would;
//! - **both models' high alarms at once, 20 rounds**, on the 4 nodes: what the two hold never
//!   passes 4 GPUs at any resourceVersion, and the scheduler never leaves a pod Pending. The
//!   rounds go on until the API server has answered at least one booking with 409 Conflict (its
//!   own `apiserver_request_total`), so the race is shown to have been run, not only hoped for;
//! - **the rebalance**: text-model holds 3 of the 4 GPUs when image-model's queue fills; scale-up's
//!   heartbeat, reading both queues live (from a stand-in for SQS), lowers text-model one step
//!   first, and raises image-model only once text-model's pod is gone.

use queue_scaler_core::QueueCounts;
use queue_scaler_harness::standin::AwsStandIn;
use queue_scaler_tests::real_kube::RealKube;
use queue_scaler_tests::real_pool;
use queue_scaler_tests::real_scheduler::Pods;
use queue_scaler_tests::scenarios::{DEPLOYMENT, NS, UNGRANTED};
use queue_scaler_tests::{assert_fields, ClusterUnderTest, Functions};
use serde_json::Value;
use std::time::Duration;

const MODELS: [&str; 2] = ["text-model", "image-model"];

/// How long the scheduler and the controllers may take to act on a change.
const SETTLE: Duration = Duration::from_secs(60);

/// `CAPACITY_PENDING_SECONDS` here: a Pending pod counts after 2 s.
const PENDING_SECONDS: &str = "2";

/// A model's high alarm whose datapoint is `messages`.
fn high_alarm(alarm: &str, messages: u32) -> Value {
    let text = real_pool::high_alarm(alarm)
        .to_string()
        .replace("640.0", &format!("{messages}.0"));
    serde_json::from_str(&text).expect("the alarm stays JSON")
}

/// Wait until `name`'s Deployment reports `ready` ready replicas, and no pod being deleted.
async fn wait_ready(kube: &RealKube, name: &str, ready: i64) {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let (_, d) = kube
            .admin_request(
                reqwest::Method::GET,
                &local_gke::deployment_path(NS, name),
                None,
            )
            .await;
        let seen = d["status"]["readyReplicas"].as_i64().unwrap_or(0);
        let gone = d["status"]["replicas"].as_i64().unwrap_or(0)
            == d["spec"]["replicas"].as_i64().unwrap_or(0)
            && d["status"]["terminatingReplicas"].as_i64().unwrap_or(0) == 0;
        if seen == ready && gone {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: {seen} ready, not {ready}: {}",
            d["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pool_the_models_share_in_a_cluster_that_schedules() {
    let kube = RealKube::start_with(true).await;
    eprintln!("real scheduler: {} at {}", kube.version, kube.url);
    // The manifests' own Deployments take no GPU here.
    for name in [DEPLOYMENT, UNGRANTED] {
        kube.set_replicas(NS, name, 0).await;
    }
    let _kubelet = kube.run_kubelet();
    kube.add_gpu_nodes("gpu-pool", 2, 1).await;
    kube.share_a_pool("gpu-pool", &MODELS).await;
    kube.set_replicas(NS, "image-model", 0).await;
    wait_ready(&kube, "text-model", 1).await;

    let table: Value = serde_json::json!([
        {"alarms": ["text-high"], "namespace": NS, "deployment": "text-model", "min_replicas": 1,
         "max_replicas": 4, "messages_per_replica": 100, "pool": "gpu-pool", "pool_gpus": 4},
        {"alarms": ["image-high"], "namespace": NS, "deployment": "image-model", "min_replicas": 0,
         "max_replicas": 4, "messages_per_replica": 100, "pool": "gpu-pool"}
    ]);
    let env = real_pool::table_env(
        &kube.env,
        &table,
        &[("CAPACITY_PENDING_SECONDS", PENDING_SECONDS)],
    );
    let (a, b) = tokio::join!(Functions::start(&env), Functions::start(&env));

    a_stockout_is_reported_and_not_piled_on(&kube, &a, &b).await;
    the_pause_annotations_hold_a_model(&kube, &a).await;
    racing_raises_never_leave_a_pod_pending(&kube, &a, &b).await;
    the_heartbeat_lowers_the_donor_before_it_raises_the_waiting_model(&kube, &table).await;
}

async fn the_heartbeat_lowers_the_donor_before_it_raises_the_waiting_model(
    kube: &RealKube,
    table: &Value,
) {
    eprintln!("real scheduler: the rebalance ...");
    let sqs = AwsStandIn::start(Duration::ZERO)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let counts = |visible| QueueCounts {
        visible,
        in_flight: 0,
        delayed: 0,
    };
    // image-model needs 1 replica (40 messages, 50 a replica): the split is 3 and 1.
    sqs.set_queue("text-jobs", counts(900));
    sqs.set_queue("image-jobs", counts(40));
    let mut table = table.clone();
    for (entry, queue) in table
        .as_array_mut()
        .into_iter()
        .flatten()
        .zip(["text-jobs", "image-jobs"])
    {
        entry["queues"] = serde_json::json!([queue]);
    }
    let env = real_pool::table_env(
        &kube.env,
        &table,
        &[
            ("AWS_ENDPOINT_URL_SQS", sqs.endpoint()),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "example-secret"),
            ("CAPACITY_PENDING_SECONDS", PENDING_SECONDS),
        ],
    );
    let up = Functions::start(&env).await;
    kube.set_replicas(NS, "text-model", 3).await;
    kube.set_replicas(NS, "image-model", 1).await;
    wait_ready(kube, "text-model", 3).await;
    wait_ready(kube, "image-model", 1).await;
    kube.clear_bookings("gpu-pool").await;
    let held = kube.watch_held(&MODELS).await;
    let heartbeat = queue_scaler_tests::event("heartbeat.json");
    let replicas = || async {
        (
            kube.replicas(NS, "text-model").await,
            kube.replicas(NS, "image-model").await,
        )
    };

    let report = up.invoke("scale-up", &heartbeat).await.ok();
    assert_eq!(
        replicas().await,
        (3, 1),
        "the pool is split by need: {report}"
    );

    // image-model's queue fills: it needs 4, the split is 2 and 2, and it waits below its share.
    sqs.set_queue("image-jobs", counts(300));
    let report = up.invoke("scale-up", &heartbeat).await.ok();
    assert_eq!(
        replicas().await,
        (2, 1),
        "the donor gives up one step; its pod still holds its GPU while its worker finishes, so image-model is not raised yet: {report}"
    );
    // The pod is gone ([`DRAIN`] later): the next beat raises the waiting model.
    wait_ready(kube, "text-model", 2).await;
    let report = up.invoke("scale-up", &heartbeat).await.ok();
    assert_eq!(replicas().await, (2, 2), "then the waiting model: {report}");
    kube.wait_for_pods("image-model", SETTLE, |p| {
        p == Pods {
            running: 2,
            pending: 0,
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = held.lock().expect("the watch's record").clone();
    let sums: Vec<i64> = held.sums.iter().map(|(_, s)| *s).collect();
    assert!(sums.iter().all(|s| *s <= 4), "{sums:?}");
    assert!(
        sums.contains(&3) && sums.last() == Some(&4),
        "3/1 -> 2/1 -> 2/2: {sums:?}"
    );
    eprintln!("real scheduler: the rebalance: 3/1 -> 2/1 -> 2/2, stored sums {sums:?}");
}

/// `up` raises; `other`, another container that never wrote the target, finds it
/// capacity-limited: the API server keeps no time for a `scale` write in `managedFields`, so the
/// pool's Lease dates the raise.
async fn a_stockout_is_reported_and_not_piled_on(
    kube: &RealKube,
    up: &Functions,
    other: &Functions,
) {
    eprintln!("real scheduler: a stockout ...");
    // 300 messages at 100 a replica: 3 replicas, which the 4-GPU pool has room for.
    let out = up
        .invoke("scale-up", &high_alarm("text-high", 300))
        .await
        .ok();
    assert_fields(&out, &[("to", 3.into()), ("applied", true.into())]);
    kube.wait_for_pods("text-model", SETTLE, |p| {
        p == Pods {
            running: 2,
            pending: 1,
        }
    })
    .await;
    let why = kube
        .unschedulable_reason("text-model")
        .await
        .unwrap_or_default();
    assert!(why.contains("Insufficient nvidia.com/gpu"), "{why}");

    // Past CAPACITY_PENDING_SECONDS with a pod still Pending: capacity-limited.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let out = other
        .invoke("scale-up", &high_alarm("text-high", 640))
        .await
        .ok();
    assert_eq!(
        (&out["from"], &out["to"], &out["applied"]),
        (&3.into(), &3.into(), &false.into()),
        "{out}"
    );
    let limited = &out["capacity"]["limited"];
    assert_eq!(
        (&limited["ready"], &limited["replicas"]),
        (&2.into(), &3.into()),
        "{out}"
    );
    assert_eq!(kube.replicas(NS, "text-model").await, 3, "not raised");
    let warned = kube
        .events(NS, "text-model")
        .await
        .iter()
        .any(|e| e["type"] == "Warning" && e["reason"] == "CapacityLimited");
    assert!(warned, "a Warning Event says so");

    // The stockout ends: a third node comes, the Pending pod runs, and raises go on.
    kube.add_gpu_nodes("gpu-pool-late", 1, 1).await;
    kube.wait_for_pods("text-model", SETTLE, |p| {
        p == Pods {
            running: 3,
            pending: 0,
        }
    })
    .await;
    wait_ready(kube, "text-model", 3).await;
    let out = up
        .invoke("scale-up", &high_alarm("text-high", 640))
        .await
        .ok();
    assert_eq!(
        (&out["from"], &out["to"], &out["applied"]),
        (&3.into(), &4.into(), &true.into()),
        "{out}"
    );
    assert!(out["capacity"]["limited"].is_null(), "{out}");
    kube.wait_for_pods("text-model", SETTLE, |p| {
        p == Pods {
            running: 3,
            pending: 1,
        }
    })
    .await;
    kube.set_replicas(NS, "text-model", 1).await;
    wait_ready(kube, "text-model", 1).await;
}

async fn the_pause_annotations_hold_a_model(kube: &RealKube, up: &Functions) {
    eprintln!("real scheduler: the pause annotations ...");
    kube.annotate("text-model", "queue-scaler.io/paused", Some("true"))
        .await;
    let out = up
        .invoke("scale-up", &high_alarm("text-high", 640))
        .await
        .ok();
    assert_fields(&out, &[("to", 1.into()), ("applied", false.into())]);
    assert!(
        out["paused"]
            .as_str()
            .is_some_and(|p| p.contains("queue-scaler.io/paused")),
        "{out}"
    );
    assert_eq!(kube.replicas(NS, "text-model").await, 1);

    kube.annotate("text-model", "queue-scaler.io/paused", None)
        .await;
    kube.annotate("text-model", "queue-scaler.io/paused-replicas", Some("2"))
        .await;
    for applied in [true, false] {
        let out = up
            .invoke("scale-up", &high_alarm("text-high", 640))
            .await
            .ok();
        assert_fields(&out, &[("to", 2.into()), ("applied", applied.into())]);
    }
    assert_eq!(
        kube.replicas(NS, "text-model").await,
        2,
        "written once, then held"
    );
    kube.annotate("text-model", "queue-scaler.io/paused-replicas", None)
        .await;
}

async fn racing_raises_never_leave_a_pod_pending(kube: &RealKube, a: &Functions, b: &Functions) {
    // POOL_ROUNDS runs more rounds, to look for a rare interleaving.
    let rounds: usize = std::env::var("POOL_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    eprintln!("real scheduler: {rounds} rounds of racing raises ...");
    kube.add_gpu_nodes("gpu-pool-last", 1, 1).await;
    let held = kube.watch_held(&MODELS).await;
    let raced = kube
        .race_until_bookings_meet(rounds, MAX_RACE_ROUNDS, |round| {
            race_once(kube, a, b, round)
        })
        .await;
    let (round, conflicts) = (raced.rounds.len(), raced.conflicts);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = held.lock().expect("the watch's record").clone();
    held.assert_never_above(4, round);
    let said = [a.log(), b.log()]
        .iter()
        .map(|log| log.matches("another raise booked the pool first").count())
        .sum::<usize>();
    eprintln!(
        "real scheduler: {round} rounds, {conflicts} bookings met 409 Conflict (the functions' logs say so {said} times) and were decided again, {} stored counts, none above 4, no pod left Pending",
        held.sums.len()
    );
}

/// The most rounds the race runs looking for two bookings that meet.
const MAX_RACE_ROUNDS: usize = 60;

/// One round: both models at 1 replica and no booking, then both high alarms at once. The pool
/// is used whole and never more, and every pod asked for runs.
async fn race_once(kube: &RealKube, a: &Functions, b: &Functions, round: usize) {
    for model in MODELS {
        kube.set_replicas(NS, model, 1).await;
    }
    for model in MODELS {
        wait_ready(kube, model, 1).await;
    }
    kube.clear_bookings("gpu-pool").await;
    let (text_alarm, image_alarm) = (high_alarm("text-high", 640), high_alarm("image-high", 640));
    let (text, image) = tokio::join!(
        a.invoke("scale-up", &text_alarm),
        b.invoke("scale-up", &image_alarm)
    );
    let (text, image) = (text.ok(), image.ok());
    let (t, i) = (
        kube.replicas(NS, "text-model").await,
        kube.replicas(NS, "image-model").await,
    );
    if t + i != 4 {
        let tail = |log: String| {
            let lines: Vec<&str> = log.lines().filter(|l| !l.starts_with('{')).collect();
            lines[lines.len().saturating_sub(60)..].join("\n")
        };
        panic!(
            "round {round}: {t} + {i} replicas, not the pool's 4 used whole: {text} {image}\nthe pool's Lease: {}\n--- a:\n{}\n--- b:\n{}",
            kube.pool_lease("gpu-pool").await,
            tail(a.log()),
            tail(b.log())
        );
    }
    // Every pod asked for gets a GPU: none is left Pending by the functions.
    for (model, want) in [("text-model", t), ("image-model", i)] {
        let want = usize::try_from(want).unwrap_or(0);
        kube.wait_for_pods(model, SETTLE, |p| {
            p == Pods {
                running: want,
                pending: 0,
            }
        })
        .await;
    }
}
