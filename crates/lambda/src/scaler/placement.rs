//! Where the targets' GPU pools are, and how big: the cluster's node pools from `clusters.get`,
//! kept for the container, and each target with no configured pool placed on the one GPU pool
//! its Deployment's `nodeSelector` matches (docs/design.md, "GPU capacity: the pool the models
//! share"). The pool gate (`pool.rs`) caps and books raises on what this says.

use super::{NodePools, Scaler};
use futures_util::{stream, StreamExt as _};
use queue_scaler_core::capacity::{PoolEntry, Pools};
use queue_scaler_core::Target;
use queue_scaler_io::backoff::with_backoff;
use queue_scaler_io::kube::node_pool::NodePool;
use queue_scaler_io::kube::scale::Scale;
use queue_scaler_io::{AlarmRearm, Error as IoError, QueueDepth, ScaleApi};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A pool's size as the decision uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PoolSize {
    /// This many GPUs, read from `clusters.get` or configured.
    Gpus(u64),
    /// Capacity is off for the pool, and why (its size is unknown, or it has no accelerators).
    Off(String),
}

/// How long a container keeps its placement of the targets: a Deployment given another
/// `nodeSelector`, or a pool Lease applied, is seen within this long (and by a new container
/// at once). Placing reads every target's Deployment that has no configured pool.
pub(crate) const PLACEMENT_TTL: Duration = Duration::from_secs(600);

/// How long a placement that could not read everything is kept before it is tried again: long
/// enough that the targets of one heartbeat do not each try it.
pub(crate) const PLACEMENT_RETRY: Duration = Duration::from_secs(30);

/// The Deployments placing the targets read, by target (`namespace/name`): a heartbeat that
/// placed them decides each target from its read, rather than reading it again a moment later.
pub(crate) type PlacementReads = HashMap<String, Scale>;

/// At most this many Deployments are read at once when the targets are placed.
const PLACEMENT_READS_IN_FLIGHT: usize = 16;

/// The longest placing may take of an invocation's time (its reads retried within it): a cluster
/// that answers slowly leaves the targets unplaced for [`PLACEMENT_RETRY`], not the invocation
/// without time for its own work.
const PLACEMENT_BUDGET: Duration = Duration::from_secs(5);

impl<K: ScaleApi, R: AlarmRearm, Q: QueueDepth> Scaler<K, R, Q> {
    /// Read the cluster's node pools from `clusters.get` now, and keep them for the container:
    /// the heartbeat and the doctor call it once each, so each sees the pools' sizes afresh. A
    /// failed read keeps what was kept, and says why.
    pub(crate) async fn refresh_node_pools(&self) -> Result<NodePools, IoError> {
        match self.api.pool_sizes().await {
            Ok(pools) => {
                let pools = pools.map(Arc::new);
                *self.node_pools.write().await = Some(pools.clone());
                Ok(pools)
            }
            Err(e) => {
                tracing::warn!(error = %e, "clusters.get failed: the configured pool size stands in");
                Err(e)
            }
        }
    }

    /// The cluster's node pools as kept for the container, read first where none are kept.
    async fn node_pools(&self) -> Result<NodePools, IoError> {
        let cached = self.node_pools.read().await.clone();
        match cached {
            Some(pools) => Ok(pools),
            None => self.refresh_node_pools().await,
        }
    }

    /// The pools in use: the configured ones, and each target with no configured pool placed on
    /// the one GPU pool (a node pool with accelerators) whose labels, with GKE's
    /// `cloud.google.com/gke-nodepool`, match every key of its Deployment's `nodeSelector`, when
    /// the Deployment asks for `nvidia.com/gpu` and the pool's Lease is there. A target that
    /// matches none or several is on no pool: no cap applies, and the doctor fails it.
    ///
    /// Kept for the container for [`PLACEMENT_TTL`] ([`PLACEMENT_RETRY`] when a read failed),
    /// so the warm path reads nothing more; callers at once wait for one placement, never make
    /// their own (the heartbeat's targets). The doctor places afresh
    /// ([`Scaler::forget_placement`]). `known`: a target whose Deployment was just read, and is
    /// not read again.
    pub(crate) async fn placed_pools(
        &self,
        known: Option<(&Target, &Scale)>,
        deadline: Instant,
    ) -> Arc<Pools> {
        self.place(known, deadline).await.0
    }

    /// [`Scaler::placed_pools`], with the Deployments it read to place the targets (none when
    /// the placement was kept).
    pub(crate) async fn place(
        &self,
        known: Option<(&Target, &Scale)>,
        deadline: Instant,
    ) -> (Arc<Pools>, PlacementReads) {
        let mut placement = self.placed.lock().await;
        if let Some((pools, until)) = placement.as_ref() {
            if Instant::now() < *until {
                return (pools.clone(), PlacementReads::new());
            }
        }
        let (pools, reads, every_read) = self.place_targets(known, deadline).await;
        let pools = Arc::new(pools);
        let keep = if every_read {
            PLACEMENT_TTL
        } else {
            PLACEMENT_RETRY
        };
        *placement = Some((pools.clone(), Instant::now() + keep));
        (pools, reads)
    }

    /// Forget the placement: the next [`Scaler::placed_pools`] places the targets afresh.
    pub(crate) async fn forget_placement(&self) {
        *self.placed.lock().await = None;
    }

    /// Place the targets without a configured pool: the pools, the Deployments read, and whether
    /// every read it took succeeded.
    async fn place_targets(
        &self,
        known: Option<(&Target, &Scale)>,
        deadline: Instant,
    ) -> (Pools, PlacementReads, bool) {
        let deadline = deadline.min(Instant::now() + PLACEMENT_BUDGET);
        let unplaced: Vec<&Target> = self
            .routes
            .routes()
            .iter()
            .map(|route| &route.target)
            .filter(|target| self.pools.entry(target).is_none())
            .collect();
        let nothing_read = PlacementReads::new;
        if unplaced.is_empty() {
            return (self.pools.clone(), nothing_read(), true);
        }
        let cluster = match self.node_pools().await {
            Ok(Some(cluster)) => cluster,
            // The GKE API is not asked (GKE_ENDPOINT): only configured pools.
            Ok(None) => return (self.pools.clone(), nothing_read(), true),
            Err(_) => return (self.pools.clone(), nothing_read(), false),
        };
        let gpu_pools: Vec<&NodePool> = cluster
            .iter()
            .filter(|pool| !pool.config.accelerators.is_empty())
            .collect();
        if gpu_pools.is_empty() {
            return (self.pools.clone(), nothing_read(), true);
        }
        let reads: Vec<_> = stream::iter(unplaced)
            .map(|target| async move {
                if let Some((_, scale)) = known.filter(|(read, _)| *read == target) {
                    return (target, Ok(scale.clone()));
                }
                let read = with_backoff(
                    "reading a Deployment's nodeSelector",
                    self.backoff,
                    deadline,
                    || self.api.get(target),
                )
                .await;
                (target, read)
            })
            .buffer_unordered(PLACEMENT_READS_IN_FLIGHT)
            .collect()
            .await;
        let mut placed = Vec::new();
        let mut read_now = PlacementReads::new();
        let mut every_read = true;
        for (target, read) in reads {
            let facts = match read {
                Ok(scale) => {
                    let facts = scale.deployment.clone();
                    read_now.insert(target.to_string(), scale);
                    facts
                }
                Err(e) => {
                    tracing::warn!(target = %target, error = %e, "its Deployment could not be read, so its GPU pool is not known: no cap for now");
                    every_read = false;
                    continue;
                }
            };
            // Without `get` on the Deployment (scale only), its selector is not known.
            let Some(facts) = facts else { continue };
            let Some(gpus_per_replica) = facts.gpus_per_replica.filter(|&gpus| gpus > 0) else {
                continue;
            };
            if let [pool] = gpu_pools
                .iter()
                .filter(|pool| pool.selected_by(&facts.node_selector))
                .collect::<Vec<_>>()[..]
            {
                placed.push(PoolEntry {
                    target: target.to_string(),
                    pool: pool.name.clone(),
                    gpus_per_replica,
                    pool_gpus: None,
                });
            }
        }
        // A pool is counted only where its Lease is there to book raises on: without it (never
        // applied, or not granted), its targets stay uncapped as before, and the doctor warns.
        // One read per pool.
        let candidates = self.pools.with_placed(placed.clone());
        let mut pools: Vec<String> = placed.iter().map(|e| e.pool.clone()).collect();
        pools.sort_unstable();
        pools.dedup();
        let mut leased: Vec<String> = Vec::new();
        for pool in pools {
            let Some((namespace, name)) = candidates.lease(&pool) else {
                continue;
            };
            match self.api.get_lease(&namespace, &name).await {
                Ok(_) => leased.push(pool),
                Err(e) if matches!(e.kube_code(), Some(403 | 404)) => {
                    tracing::info!(pool = %pool, "targets' nodeSelectors place them on a GPU pool whose Lease {namespace}/{name} is not there (infra/gke/pool-lease.yaml): not capped");
                }
                Err(e) => {
                    tracing::warn!(pool = %pool, error = %e, "the pool's Lease could not be read: not capped for now");
                    every_read = false;
                }
            }
        }
        let placed = placed
            .into_iter()
            .filter(|e| leased.contains(&e.pool))
            .collect();
        (self.pools.with_placed(placed), read_now, every_read)
    }

    /// The GPUs of `pool`: read from `clusters.get` (the autoscaling maximum times the GPUs per
    /// node) where the GKE API is asked, else the configured `pool_gpus`. The node pools are read
    /// once per container ([`Scaler::refresh_node_pools`] reads them again). A pool the cluster
    /// lists without accelerators is not a GPU pool: no cap. A failed read falls back to the
    /// configured size, and is tried again next time.
    pub(crate) async fn pool_size(&self, pool: &str) -> PoolSize {
        use queue_scaler_core::capacity::{pool_gpus, PoolGpus};
        let read = self.node_pools().await;
        let configured = self.pools.configured_gpus(pool);
        let listed = match &read {
            Ok(Some(pools)) => pools.iter().find(|p| p.name == pool).map(NodePool::size),
            _ => None,
        };
        match (listed.map(|size| pool_gpus(&size)), configured) {
            (Some(PoolGpus::Gpus(gpus)), _) | (None, Some(gpus)) => PoolSize::Gpus(gpus),
            (Some(PoolGpus::NotGpuPool), _) => PoolSize::Off(format!(
                "node pool {pool} has no accelerators: not a GPU pool, no cap"
            )),
            (None, None) => PoolSize::Off(match read {
                Ok(Some(_)) => format!(
                    "the cluster has no node pool {pool}, and no pool_gpus (or TARGET_POOL_GPUS) is set"
                ),
                Ok(None) => {
                    "the pool's GPUs are unknown (set pool_gpus, or TARGET_POOL_GPUS)".to_owned()
                }
                Err(e) => format!(
                    "clusters.get failed ({e}), and no pool_gpus (or TARGET_POOL_GPUS) is set"
                ),
            }),
        }
    }
}
