//! How many GPUs a GKE node pool can run, from the fields `clusters.get` gives for it: the most
//! nodes it may have, times the GPUs (or GPU shares) on each node.

use std::fmt;

/// The fields of a GKE node pool (`clusters.get`, `nodePools[]`) that say how many GPUs it can
/// run, already read from GKE's JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodePoolSize {
    /// `autoscaling`, only when its `enabled` is true.
    pub autoscaling: Option<PoolAutoscaling>,
    /// `initialNodeCount`: the pool's nodes in each of its locations, when it does not
    /// autoscale.
    pub initial_node_count: u32,
    /// How many zones `locations` lists. GKE always lists at least one; 0 counts as 1.
    pub locations: u32,
    /// `config.accelerators[]`: what each node carries. Empty for a pool without GPUs.
    pub accelerators: Vec<PoolAccelerator>,
}

/// A node pool's `autoscaling`, when enabled. GKE leaves a limit at zero when it is not set,
/// so 0 reads as "not set".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolAutoscaling {
    /// `totalMaxNodeCount`: the most nodes across all the pool's locations.
    pub total_max_node_count: Option<u32>,
    /// `maxNodeCount`: the most nodes in each of the pool's locations.
    pub max_node_count: Option<u32>,
}

/// One of a node pool's `config.accelerators[]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolAccelerator {
    /// `acceleratorCount` (a string or a number in GKE's JSON): GPUs of this type per node.
    pub count: u32,
    /// `gpuSharingConfig.maxSharedClientsPerGpu`, when GPU sharing (time-sharing or MPS) is on:
    /// each GPU runs that many containers that ask for one.
    pub max_shared_clients_per_gpu: Option<u32>,
}

/// What [`pool_gpus`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolGpus {
    /// The pool has no accelerators: it is not a GPU pool, and no cap applies.
    NotGpuPool,
    /// The most GPUs (GPU shares, with sharing) the pool can run at its largest.
    Gpus(u64),
}

impl fmt::Display for PoolGpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolGpus::NotGpuPool => f.write_str("not a GPU pool (no accelerators): no cap"),
            PoolGpus::Gpus(n) => write!(f, "{n} GPUs"),
        }
    }
}

/// The pool's GPUs: its most nodes times the GPUs each node offers.
///
/// - Most nodes: with autoscaling, `totalMaxNodeCount` when set, else `maxNodeCount` times
///   the number of locations; without autoscaling (or with neither limit set),
///   `initialNodeCount` times the number of locations (GKE counts it per location).
/// - GPUs per node: the sum over the accelerators of `acceleratorCount`, each times
///   `maxSharedClientsPerGpu` where GPU sharing is on.
///
/// A pool whose accelerators add up to no GPU is [`PoolGpus::NotGpuPool`]. Saturates rather
/// than overflows.
pub fn pool_gpus(pool: &NodePoolSize) -> PoolGpus {
    let per_node = pool
        .accelerators
        .iter()
        .map(|a| {
            let clients = a.max_shared_clients_per_gpu.filter(|&n| n > 0).unwrap_or(1);
            u64::from(a.count).saturating_mul(u64::from(clients))
        })
        .fold(0u64, u64::saturating_add);
    if per_node == 0 {
        return PoolGpus::NotGpuPool;
    }
    PoolGpus::Gpus(most_nodes(pool).saturating_mul(per_node))
}

/// The most nodes the pool may have.
fn most_nodes(pool: &NodePoolSize) -> u64 {
    let locations = u64::from(pool.locations.max(1));
    let set = |limit: Option<u32>| limit.filter(|&n| n > 0).map(u64::from);
    let autoscaled = pool.autoscaling.and_then(|a| {
        set(a.total_max_node_count)
            .or_else(|| set(a.max_node_count).map(|per| per.saturating_mul(locations)))
    });
    autoscaled.unwrap_or_else(|| u64::from(pool.initial_node_count).saturating_mul(locations))
}
