//! Two models on one GPU pool, against a fake cluster that holds both Deployments and the pool's
//! Lease (with the API server's compare-and-swap on `resourceVersion`): every raise is capped at
//! what the pool can run, a short pool is split by need, and two raises run at once never
//! overbook it. The race is made, not hoped for: the fake holds the first two Lease reads until
//! both invocations have read it, so both decide from the same version and one booking must meet
//! 409 Conflict; and it holds the first scale write until the other invocation writes too (or
//! has decided to write nothing), so a raise that did not book would write from a stale read.
//! The clock is tokio's paused one: that hold ends when the other invocation is done, whatever
//! the machine's load.

use super::fakes::*;
use crate::report::{Outcome, Response};
use crate::scaler::Scaler;
use futures_util::future::join_all;
use queue_scaler_core::capacity::{CapReason, PoolEntry, Pools};
use queue_scaler_core::{Direction, Policy, Route, Routes, Target};
use queue_scaler_io::kube::lease::LeaseMeta;
use queue_scaler_io::kube::node_pool::{parse_node_pools, NodePool};
use queue_scaler_io::kube::scale::{Scale, ScaleMeta, ScaleSpec};
use queue_scaler_io::kube::DeploymentFacts;
use queue_scaler_io::{Error, KubeStatus, KubeVerb, Lease, ScaleApi, ScaleEvent};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::Barrier;

/// Both Deployments and the pool's Lease, in memory. A clone shares the state.
#[derive(Clone, Default)]
struct FakePool {
    state: Arc<Mutex<PoolState>>,
}

#[derive(Default)]
struct PoolState {
    /// `namespace/name` -> (spec.replicas, resourceVersion).
    deployments: HashMap<String, (i32, u64)>,
    lease: Option<(BTreeMap<String, String>, u64)>,
    /// The Lease reads still to hold at the barrier.
    held_reads: usize,
    barrier: Option<Arc<Barrier>>,
    /// The scale writes still to hold until the other invocation writes too (or gives up).
    held_writes: usize,
    write_barrier: Option<Arc<Barrier>>,
    lease_conflicts: u32,
    lease_writes: u32,
    /// What `clusters.get` says of the node pools; `None`: not asked (`GKE_ENDPOINT`).
    node_pools: Option<Vec<NodePool>>,
    /// What each Deployment says beyond its scale (its annotations), by `namespace/name`.
    facts: HashMap<String, DeploymentFacts>,
    /// How many times a Deployment (or its scale) was read.
    gets: u32,
    /// How many times the pool's Lease was read.
    lease_reads: u32,
    /// Every Deployment read hangs, unanswered (a cluster in trouble).
    unavailable: bool,
}

fn conflict(verb: KubeVerb, target: String) -> Error {
    Error::Kube {
        verb,
        target,
        status: KubeStatus {
            code: 409,
            reason: "Conflict".into(),
            message: "the object has been modified".into(),
        },
    }
}

impl FakePool {
    fn new(text: i32, image: i32) -> Self {
        let pool = FakePool::default();
        {
            let mut s = pool.state.lock().unwrap();
            s.deployments.insert("ml/text-model".into(), (text, 1));
            s.deployments.insert("ml/image-model".into(), (image, 1));
            s.lease = Some((BTreeMap::new(), 1));
        }
        pool
    }

    /// Hold the next `reads` Lease reads until that many have read.
    fn racing(self, reads: usize) -> Self {
        {
            let mut s = self.state.lock().unwrap();
            s.held_reads = reads;
            s.barrier = Some(Arc::new(Barrier::new(reads)));
            s.held_writes = reads;
            s.write_barrier = Some(Arc::new(Barrier::new(reads)));
        }
        self
    }

    fn replicas(&self, name: &str) -> i32 {
        self.state.lock().unwrap().deployments[&format!("ml/{name}")].0
    }

    /// Give the Deployment `ml/{name}` the annotation `key: value`, `ready` replicas ready.
    fn annotate(&self, name: &str, key: &str, value: &str, ready: u32) {
        let annotations = BTreeMap::from([(key.to_owned(), value.to_owned())]);
        self.state.lock().unwrap().facts.insert(
            format!("ml/{name}"),
            DeploymentFacts {
                annotations,
                ready_replicas: ready,
                ..DeploymentFacts::default()
            },
        );
    }
}

impl ScaleApi for FakePool {
    async fn get(&self, target: &Target) -> Result<Scale, Error> {
        let unavailable = {
            let mut s = self.state.lock().unwrap();
            s.gets += 1;
            s.unavailable
        };
        if unavailable {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
        let s = self.state.lock().unwrap();
        let (replicas, version) = s.deployments[&target.to_string()];
        Ok(Scale {
            api_version: "autoscaling/v1".into(),
            kind: "Scale".into(),
            metadata: ScaleMeta {
                name: target.deployment.clone(),
                namespace: target.namespace.clone(),
                resource_version: Some(version.to_string()),
                uid: None,
            },
            spec: ScaleSpec { replicas },
            status: serde_json::json!({ "replicas": replicas }),
            deployment: s.facts.get(&target.to_string()).cloned(),
        })
    }

    async fn put(&self, target: &Target, scale: &Scale) -> Result<Scale, Error> {
        let barrier = {
            let mut s = self.state.lock().unwrap();
            let barrier = (s.held_writes > 0)
                .then(|| s.write_barrier.clone())
                .flatten();
            s.held_writes = s.held_writes.saturating_sub(1);
            barrier
        };
        if let Some(barrier) = barrier {
            // The other invocation may decide to write nothing: then this wait ends when the
            // paused clock, with nothing else to run, reaches the timeout.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), barrier.wait()).await;
        }
        let mut s = self.state.lock().unwrap();
        let entry = s.deployments.get_mut(&target.to_string()).unwrap();
        if scale.metadata.resource_version.as_deref() != Some(&entry.1.to_string()) {
            return Err(conflict(KubeVerb::Update, target.to_string()));
        }
        *entry = (scale.spec.replicas, entry.1 + 1);
        Ok(scale.clone())
    }

    async fn record(&self, _target: &Target, _event: &ScaleEvent) -> Result<(), Error> {
        Ok(())
    }

    async fn get_lease(&self, namespace: &str, name: &str) -> Result<Lease, Error> {
        let (lease, barrier) = {
            let mut s = self.state.lock().unwrap();
            s.lease_reads += 1;
            let Some((annotations, version)) = s.lease.clone() else {
                return Err(Error::Kube {
                    verb: KubeVerb::GetLease,
                    target: format!("{namespace}/{name}"),
                    status: KubeStatus {
                        code: 404,
                        reason: "NotFound".into(),
                        message: format!("leases \"{name}\" not found"),
                    },
                });
            };
            let barrier = (s.held_reads > 0).then(|| s.barrier.clone()).flatten();
            s.held_reads = s.held_reads.saturating_sub(1);
            let lease = Lease {
                api_version: "coordination.k8s.io/v1".into(),
                kind: "Lease".into(),
                metadata: LeaseMeta {
                    name: name.into(),
                    namespace: namespace.into(),
                    resource_version: Some(version.to_string()),
                    annotations,
                },
                spec: serde_json::json!({}),
            };
            (lease, barrier)
        };
        if let Some(barrier) = barrier {
            barrier.wait().await;
        }
        Ok(lease)
    }

    async fn pool_sizes(&self) -> Result<Option<Vec<NodePool>>, Error> {
        Ok(self.state.lock().unwrap().node_pools.clone())
    }

    async fn put_lease(&self, lease: &Lease) -> Result<Lease, Error> {
        let mut s = self.state.lock().unwrap();
        let version = s.lease.as_ref().map_or(0, |l| l.1);
        if lease.metadata.resource_version.as_deref() != Some(&version.to_string()) {
            s.lease_conflicts += 1;
            return Err(conflict(KubeVerb::UpdateLease, lease.metadata.name.clone()));
        }
        s.lease = Some((lease.metadata.annotations.clone(), version + 1));
        s.lease_writes += 1;
        Ok(lease.clone())
    }
}

fn model(name: &str, mpr: i32) -> Route {
    Route {
        alarms: vec![format!("{name}-high")],
        queues: vec![format!("{name}-jobs")],
        wake_alarms: vec![],
        target: Target {
            namespace: "ml".into(),
            deployment: format!("{name}-model"),
            policy: Policy {
                min: 0,
                max: 4,
                step: 1,
                messages_per_replica: Some(mpr),
            },
        },
    }
}

/// The team's pool: 2 to 4 nodes of one GPU, both models at one GPU per replica.
fn pools(gpus: Option<u64>) -> Pools {
    let entry = |name: &str| PoolEntry {
        target: format!("ml/{name}-model"),
        pool: "gpu-pool".into(),
        gpus_per_replica: 1,
        pool_gpus: gpus,
    };
    Pools::new(vec![entry("text"), entry("image")])
}

fn scaler(
    cluster: FakePool,
    queues: Arc<FakeQueues>,
    gpus: Option<u64>,
) -> Scaler<FakePool, FakeAlarms, Arc<FakeQueues>> {
    let routes = Routes::Table(vec![model("text", 100), model("image", 50)]);
    Scaler::new(Direction::Up, routes, false, cluster, None::<FakeAlarms>)
        .with_queues(Some(queues))
        .with_pools(pools(gpus))
}

async fn fire<C: ScaleApi>(s: &Scaler<C, FakeAlarms, Arc<FakeQueues>>, alarm: &str) -> Outcome {
    let mut event = event("alarm-high-backlog.json");
    event["alarmData"]["alarmName"] = alarm.into();
    invoke_at(s, &event, soon())
        .await
        .unwrap_or_else(|e| panic!("{alarm}: {e:?}"))
}

#[tokio::test(start_paused = true)]
async fn two_raises_at_once_never_book_more_gpus_than_the_pool_has() {
    // text: 500 visible (needs 4). image: nothing visible but 200 in flight (needs 4, not
    // waiting). Decided alone from the same read, text would take 3 and image 2: five GPUs.
    for round in 0..20 {
        let cluster = FakePool::new(1, 1).racing(2);
        let queues = Arc::new(FakeQueues::with(&[
            ("text-jobs", 500, 0, 0),
            ("image-jobs", 0, 200, 0),
        ]));
        let text = scaler(cluster.clone(), Arc::clone(&queues), Some(4));
        let image = scaler(cluster.clone(), Arc::clone(&queues), Some(4));
        let (t, i) = tokio::join!(fire(&text, "text-high"), fire(&image, "image-high"));
        let held = cluster.replicas("text-model") + cluster.replicas("image-model");
        assert!(
            held <= 4,
            "round {round}: {held} GPUs asked of 4: {t:?} {i:?}"
        );
        let s = cluster.state.lock().unwrap();
        assert!(
            s.lease_conflicts >= 1,
            "round {round}: the race was not made"
        );
        assert!(t.capacity.is_some() && i.capacity.is_some());
    }
}

#[tokio::test]
async fn both_busy_models_split_the_pool_two_and_two() {
    let cluster = FakePool::new(1, 1);
    let queues = Arc::new(FakeQueues::with(&[
        ("text-jobs", 900, 0, 0),
        ("image-jobs", 900, 0, 0),
    ]));
    let s = scaler(cluster.clone(), queues, Some(4));
    let out = fire(&s, "text-high").await;
    assert_eq!((out.from, out.to), (Some(1), Some(2)), "{}", out.reason);
    let capacity = out.capacity.unwrap();
    assert_eq!(capacity.capped_by, Some(CapReason::Share));
    assert_eq!((capacity.gpus, capacity.share), (Some(4), Some(2)));
    assert!(out.reason.contains("pool gpu-pool"), "{}", out.reason);
    let out = fire(&s, "image-high").await;
    assert_eq!((out.from, out.to), (Some(1), Some(2)));
    // Nothing more for either while the other waits at its share.
    let out = fire(&s, "text-high").await;
    assert_eq!(out.to, Some(2));
    assert!(!out.applied);
    assert_eq!(
        cluster.replicas("text-model") + cluster.replicas("image-model"),
        4
    );
}

#[tokio::test]
async fn an_idle_model_leaves_the_whole_pool_to_the_busy_one() {
    let cluster = FakePool::new(1, 0);
    let queues = Arc::new(FakeQueues::with(&[
        ("text-jobs", 900, 0, 0),
        ("image-jobs", 0, 0, 0),
    ]));
    let out = fire(&scaler(cluster.clone(), queues, Some(4)), "text-high").await;
    assert_eq!((out.from, out.to, out.applied), (Some(1), Some(4), true));
    assert_eq!(out.capacity.unwrap().capped_by, None);
}

#[tokio::test]
async fn a_pool_of_unknown_size_caps_nothing_and_says_capacity_is_off() {
    let cluster = FakePool::new(1, 3);
    let queues = Arc::new(FakeQueues::with(&[
        ("text-jobs", 900, 0, 0),
        ("image-jobs", 900, 0, 0),
    ]));
    let out = fire(&scaler(cluster.clone(), queues, None), "text-high").await;
    assert_eq!(out.to, Some(4));
    let capacity = out.capacity.unwrap();
    assert!(capacity.off.unwrap().contains("pool_gpus"));
    assert_eq!(cluster.state.lock().unwrap().lease_writes, 0);
}

#[tokio::test]
async fn a_lowering_never_books_the_pool() {
    let cluster = FakePool::new(4, 0);
    let queues = Arc::new(FakeQueues::with(&[
        ("text-jobs", 0, 0, 0),
        ("image-jobs", 0, 0, 0),
    ]));
    let routes = Routes::Table(vec![model("text", 100), model("image", 50)]);
    let s = Scaler::new(
        Direction::Down,
        routes,
        false,
        cluster.clone(),
        None::<FakeAlarms>,
    )
    .with_queues(Some(queues))
    .with_pools(pools(Some(4)));
    let out = fire(&s, "text-high").await;
    assert_eq!((out.from, out.to), (Some(4), Some(3)));
    assert!(out.capacity.is_none());
    assert_eq!(cluster.state.lock().unwrap().lease_writes, 0);
}

async fn beat<C: ScaleApi>(s: &Scaler<C, FakeAlarms, Arc<FakeQueues>>) -> crate::report::Heartbeat {
    match invoke_heartbeat(s).await {
        Ok(Response::Heartbeat(report)) => report,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_heartbeat_lowers_a_donor_one_step_per_beat_before_the_waiting_model_is_raised() {
    // text holds the whole pool; image's queue fills up.
    let cluster = FakePool::new(4, 0);
    let queues = Arc::new(FakeQueues::with(&[
        ("text-jobs", 900, 0, 0),
        ("image-jobs", 300, 0, 0),
    ]));
    let s = scaler(cluster.clone(), queues, Some(4));
    let mut seen = Vec::new();
    for _ in 0..3 {
        let report = beat(&s).await;
        let text = cluster.replicas("text-model");
        let image = cluster.replicas("image-model");
        assert!(text + image <= 4, "{text} + {image} GPUs of 4: {report:?}");
        seen.push((text, image));
    }
    assert_eq!(
        seen,
        [(3, 1), (2, 2), (2, 2)],
        "one step per beat, down to the share"
    );
    let report = beat(&s).await;
    let image = report
        .targets
        .iter()
        .find(|t| t.target == "ml/image-model")
        .unwrap();
    let share = image.capacity.as_ref().and_then(|c| c.share);
    assert_eq!(share, Some(2), "{report:?}");
}

#[tokio::test]
async fn without_rebalance_the_donor_keeps_what_it_holds() {
    let cluster = FakePool::new(4, 0);
    let queues = Arc::new(FakeQueues::with(&[
        ("text-jobs", 900, 0, 0),
        ("image-jobs", 300, 0, 0),
    ]));
    let routes = Routes::Table(vec![model("text", 100), model("image", 50)]);
    let s = Scaler::new(
        Direction::Up,
        routes,
        false,
        cluster.clone(),
        None::<FakeAlarms>,
    )
    .with_queues(Some(queues))
    .with_pools(pools(Some(4)).with_rebalance(false));
    beat(&s).await;
    assert_eq!(
        (
            cluster.replicas("text-model"),
            cluster.replicas("image-model")
        ),
        (4, 0)
    );
}

#[tokio::test]
async fn a_dry_run_reports_the_cap_and_books_nothing() {
    let cluster = FakePool::new(1, 1);
    let queues = Arc::new(FakeQueues::with(&[
        ("text-jobs", 900, 0, 0),
        ("image-jobs", 900, 0, 0),
    ]));
    let routes = Routes::Table(vec![model("text", 100), model("image", 50)]);
    let s = Scaler::new(
        Direction::Up,
        routes,
        true,
        cluster.clone(),
        None::<FakeAlarms>,
    )
    .with_queues(Some(queues))
    .with_pools(pools(Some(4)));
    let out = fire(&s, "text-high").await;
    assert_eq!((out.from, out.to, out.applied), (Some(1), Some(2), false));
    assert_eq!(out.capacity.unwrap().capped_by, Some(CapReason::Share));
    assert_eq!(cluster.state.lock().unwrap().lease_writes, 0);
    assert_eq!(cluster.replicas("text-model"), 1);
}

/// The cluster's node pools, as `clusters.get` answers: `gpu-pool` as given, and a CPU pool.
fn cluster_pools(gpu_pool: &str) -> Vec<NodePool> {
    let body = format!(
        r#"{{"nodePools":[{gpu_pool},{{"name":"default","initialNodeCount":3,"locations":["a"]}}]}}"#
    );
    parse_node_pools(body.as_bytes(), "u").unwrap()
}

#[tokio::test]
async fn where_the_gke_api_is_asked_the_cluster_says_the_pools_size() {
    // The pool autoscales to 2 nodes of one GPU; nothing is configured.
    let cluster = FakePool::new(1, 0);
    cluster.state.lock().unwrap().node_pools = Some(cluster_pools(
        r#"{"name":"gpu-pool","locations":["a"],"autoscaling":{"enabled":true,"maxNodeCount":2},
            "config":{"accelerators":[{"acceleratorCount":"1"}]}}"#,
    ));
    let queues = Arc::new(FakeQueues::with(&[
        ("text-jobs", 900, 0, 0),
        ("image-jobs", 0, 0, 0),
    ]));
    let out = fire(&scaler(cluster.clone(), queues, None), "text-high").await;
    assert_eq!((out.from, out.to), (Some(1), Some(2)), "{}", out.reason);
    let capacity = out.capacity.unwrap();
    assert_eq!(capacity.gpus, Some(2));
    assert_eq!(capacity.capped_by, Some(CapReason::Free));
}

#[tokio::test]
async fn a_pool_the_cluster_lists_without_accelerators_is_not_capped() {
    let cluster = FakePool::new(1, 0);
    cluster.state.lock().unwrap().node_pools = Some(cluster_pools(
        r#"{"name":"gpu-pool","locations":["a"],"autoscaling":{"enabled":true,"maxNodeCount":2}}"#,
    ));
    let queues = Arc::new(FakeQueues::with(&[
        ("text-jobs", 900, 0, 0),
        ("image-jobs", 0, 0, 0),
    ]));
    let out = fire(&scaler(cluster.clone(), queues, Some(4)), "text-high").await;
    assert_eq!(out.to, Some(4));
    let off = out.capacity.unwrap().off.unwrap_or_default();
    assert!(off.contains("not a GPU pool"), "{off}");
}

#[tokio::test]
async fn a_paused_model_never_gives_a_gpu_to_the_other() {
    // text holds the whole pool, held there by its operator; image's queue fills up.
    let cluster = FakePool::new(4, 0);
    cluster.annotate("text-model", "queue-scaler.io/paused", "true", 4);
    let queues = Arc::new(FakeQueues::with(&[
        ("text-jobs", 900, 0, 0),
        ("image-jobs", 300, 0, 0),
    ]));
    let s = scaler(cluster.clone(), queues, Some(4));
    for _ in 0..2 {
        let report = beat(&s).await;
        let text = report
            .targets
            .iter()
            .find(|t| t.target == "ml/text-model")
            .unwrap();
        assert!(text.paused.is_some(), "{report:?}");
    }
    assert_eq!(
        (
            cluster.replicas("text-model"),
            cluster.replicas("image-model")
        ),
        (4, 0),
        "paused text keeps the pool; image gets no GPU it does not have"
    );
}

#[tokio::test]
async fn an_operators_paused_replicas_takes_only_what_the_pool_has_free() {
    // The operator asks text for 4 GPUs of 4 while image holds 2: text gets the 2 that are free
    // (no pod Pending for a GPU image holds), booked; the rest is asked for again later.
    let cluster = FakePool::new(1, 2);
    cluster.annotate("text-model", "queue-scaler.io/paused-replicas", "4", 1);
    let queues = Arc::new(FakeQueues::with(&[
        ("text-jobs", 0, 0, 0),
        ("image-jobs", 300, 0, 0),
    ]));
    let s = scaler(cluster.clone(), queues, Some(4));
    let out = fire(&s, "text-high").await;
    assert_eq!((out.from, out.to, out.applied), (Some(1), Some(2), true));
    assert!(out.paused.is_some(), "{out:?}");
    let capacity = out.capacity.expect("the pool is reported");
    assert_eq!(capacity.capped_by, Some(CapReason::Free));
    assert!(out.reason.contains("pool gpu-pool"), "{}", out.reason);
    assert_eq!(cluster.state.lock().unwrap().lease_writes, 1, "booked");
    assert_eq!(
        cluster.replicas("text-model") + cluster.replicas("image-model"),
        4
    );
    // image gives one back: the next event takes it, up to the operator's 4 at most.
    cluster
        .state
        .lock()
        .unwrap()
        .deployments
        .insert("ml/image-model".into(), (1, 2));
    let out = fire(&s, "text-high").await;
    assert_eq!((out.from, out.to), (Some(2), Some(3)), "{}", out.reason);
}

/// Nothing configured of the pool: the cluster lists `gpu_pools` and a CPU pool, and both
/// Deployments select `mlonly: "true"` and ask for `gpus` GPUs per replica.
fn on_selected_pool(cluster: &FakePool, gpu_pools: &str, gpus: Option<u32>) {
    let mut s = cluster.state.lock().unwrap();
    s.node_pools = Some(cluster_pools(gpu_pools));
    for name in ["text", "image"] {
        s.facts.insert(
            format!("ml/{name}-model"),
            DeploymentFacts {
                ready_replicas: 1,
                gpus_per_replica: gpus,
                node_selector: [("mlonly".to_owned(), "true".to_owned())].into(),
                ..DeploymentFacts::default()
            },
        );
    }
}

/// A GKE node pool of 1-GPU nodes labelled `mlonly: "true"`, autoscaling to `nodes`.
fn ml_pool(name: &str, nodes: u32) -> String {
    format!(
        r#"{{"name":"{name}","locations":["a"],"autoscaling":{{"enabled":true,"maxNodeCount":{nodes}}},
            "config":{{"labels":{{"mlonly":"true"}},"accelerators":[{{"acceleratorCount":"1"}}]}}}}"#
    )
}

fn unconfigured(
    cluster: FakePool,
    queues: Arc<FakeQueues>,
) -> Scaler<FakePool, FakeAlarms, Arc<FakeQueues>> {
    let routes = Routes::Table(vec![model("text", 100), model("image", 50)]);
    Scaler::new(Direction::Up, routes, false, cluster, None::<FakeAlarms>).with_queues(Some(queues))
}

fn busy() -> Arc<FakeQueues> {
    Arc::new(FakeQueues::with(&[
        ("text-jobs", 900, 0, 0),
        ("image-jobs", 900, 0, 0),
    ]))
}

#[tokio::test]
async fn a_target_with_no_pool_configured_is_placed_on_the_gpu_pool_its_node_selector_matches() {
    let cluster = FakePool::new(1, 1);
    on_selected_pool(&cluster, &ml_pool("gpu-pool", 4), Some(1));
    let s = unconfigured(cluster.clone(), busy());
    let out = fire(&s, "text-high").await;
    assert_eq!((out.from, out.to), (Some(1), Some(2)), "{}", out.reason);
    let capacity = out.capacity.unwrap();
    assert_eq!(capacity.pool.as_deref(), Some("gpu-pool"));
    assert_eq!((capacity.gpus, capacity.share), (Some(4), Some(2)));
    assert_eq!(capacity.capped_by, Some(CapReason::Share));
    // Placed once for the container: the next raise reads its own Deployment and its peer's,
    // and places nothing again.
    cluster.state.lock().unwrap().gets = 0;
    let out = fire(&s, "image-high").await;
    assert_eq!((out.from, out.to), (Some(1), Some(2)), "{}", out.reason);
    assert_eq!(cluster.state.lock().unwrap().gets, 2);
    assert_eq!(
        cluster.replicas("text-model") + cluster.replicas("image-model"),
        4
    );
}

#[tokio::test]
async fn a_target_is_placed_on_no_pool_where_the_match_is_not_one_gpu_pool_with_a_lease() {
    // Two GPU pools both labelled mlonly: which one the pods land on is the scheduler's choice.
    let two = FakePool::new(1, 1);
    on_selected_pool(
        &two,
        &format!("{},{}", ml_pool("gpu-pool", 4), ml_pool("gpu-pool-b", 4)),
        Some(1),
    );
    // Pods that ask for no GPU are not GPU work.
    let no_gpu = FakePool::new(1, 1);
    on_selected_pool(&no_gpu, &ml_pool("gpu-pool", 4), None);
    // The pool's Lease was never applied: nothing to book raises on.
    let no_lease = FakePool::new(1, 1);
    on_selected_pool(&no_lease, &ml_pool("gpu-pool", 4), Some(1));
    no_lease.state.lock().unwrap().lease = None;
    for (case, cluster) in [
        ("two pools", two),
        ("no GPU", no_gpu),
        ("no Lease", no_lease),
    ] {
        let out = fire(&unconfigured(cluster.clone(), busy()), "text-high").await;
        assert_eq!(
            (out.from, out.to),
            (Some(1), Some(4)),
            "{case}: {}",
            out.reason
        );
        assert!(out.capacity.is_none(), "{case}: {:?}", out.capacity);
        assert_eq!(cluster.state.lock().unwrap().lease_writes, 0, "{case}");
    }
}

#[tokio::test(start_paused = true)]
async fn callers_at_once_wait_for_one_placement_kept_until_it_is_stale() {
    let cluster = FakePool::new(1, 1);
    on_selected_pool(&cluster, &ml_pool("gpu-pool", 4), Some(1));
    let s = unconfigured(cluster.clone(), busy());
    let deadline = soon();
    // The heartbeat's targets ask at once: one placement serves them all.
    let placed = join_all((0..8).map(|_| s.placed_pools(None, deadline))).await;
    assert!(placed.iter().all(|p| p
        .entry(&model("text", 100).target)
        .is_some_and(|e| e.pool == "gpu-pool")));
    let reads = |c: &FakePool| {
        let s = c.state.lock().unwrap();
        (s.gets, s.lease_reads)
    };
    assert_eq!(
        reads(&cluster),
        (2, 1),
        "each Deployment and the Lease read once"
    );
    // Kept: nothing is read again until it is stale.
    s.placed_pools(None, deadline).await;
    assert_eq!(reads(&cluster), (2, 1));
    tokio::time::advance(crate::scaler::placement::PLACEMENT_TTL).await;
    s.placed_pools(None, soon()).await;
    assert_eq!(reads(&cluster), (4, 2), "placed afresh once stale");
}

#[tokio::test(start_paused = true)]
async fn placing_on_a_cluster_in_trouble_takes_its_budget_not_the_invocation() {
    let cluster = FakePool::new(1, 1);
    on_selected_pool(&cluster, &ml_pool("gpu-pool", 4), Some(1));
    cluster.state.lock().unwrap().unavailable = true;
    let s = unconfigured(cluster.clone(), busy());
    let started = tokio::time::Instant::now();
    // The invocation has a minute; placing waits for its reads for a few seconds at most.
    let deadline = started + std::time::Duration::from_secs(60);
    let pools = s.placed_pools(None, deadline).await;
    let took = started.elapsed();
    assert!(pools.is_empty(), "nothing could be placed");
    assert!(
        took <= std::time::Duration::from_secs(6),
        "placing took {took:?} of the invocation's minute"
    );
    // Tried again only after the retry interval, not by every caller.
    let reads = cluster.state.lock().unwrap().gets;
    s.placed_pools(None, deadline).await;
    assert_eq!(cluster.state.lock().unwrap().gets, reads);
    tokio::time::advance(crate::scaler::placement::PLACEMENT_RETRY).await;
    s.placed_pools(None, started + std::time::Duration::from_secs(120))
        .await;
    assert!(cluster.state.lock().unwrap().gets > reads);
}
