//! Which targets share which node pool, as configured (`TARGET_POOL`, `TARGET_GPUS_PER_REPLICA`,
//! `TARGET_POOL_GPUS`, or a table entry's `pool`, `gpus_per_replica` and `pool_gpus`), and the
//! Lease that serialises raises on each pool. Pure.

use crate::policy::Target;

/// One target's place on a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolEntry {
    /// The target, `namespace/name`.
    pub target: String,
    /// The pool's name (GKE's node pool name).
    pub pool: String,
    /// GPUs one replica takes (the pod template's `nvidia.com/gpu` limit), at least 1.
    pub gpus_per_replica: u32,
    /// The pool's GPUs as configured, where `clusters.get` is not read; `None`: unknown.
    pub pool_gpus: Option<u64>,
}

/// Every target's pool: one stack, one routing table, so a decision sees every target on its
/// pool. Built only by configuration, which checks that the entries of one pool agree on its
/// GPUs and that their mins fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pools {
    entries: Vec<PoolEntry>,
    /// `POOL_REBALANCE`: scale-up's heartbeat lowers a target above its share, one step per
    /// beat, while another waits below its own.
    pub rebalance: bool,
    /// `CAPACITY_PENDING_SECONDS`: how long ready replicas may stay below the spec after a
    /// scale write before the target is capacity-limited and no longer raised. It applies to
    /// every target, on a pool or not: a stockout leaves any GPU pod Pending.
    pub pending_seconds: u64,
}

/// `CAPACITY_PENDING_SECONDS` unset: 15 minutes, long enough for a GPU node to be added and
/// its driver installed.
pub(crate) const DEFAULT_PENDING_SECONDS: u64 = 900;

/// The prefix of the Lease that serialises the raises on a pool: `queue-scaler-pool-{pool}`.
pub(crate) const POOL_LEASE_PREFIX: &str = "queue-scaler-pool-";

impl Default for Pools {
    /// No pool: capacity is off, but a target may still be capacity-limited, after the default
    /// wait.
    fn default() -> Self {
        Pools::new(Vec::new())
    }
}

impl Pools {
    /// The pools of these entries, in the routing table's order.
    pub fn new(entries: Vec<PoolEntry>) -> Self {
        Pools {
            entries,
            rebalance: true,
            pending_seconds: DEFAULT_PENDING_SECONDS,
        }
    }

    /// The same pools, with `CAPACITY_PENDING_SECONDS`.
    pub fn with_pending_seconds(mut self, seconds: u64) -> Self {
        self.pending_seconds = seconds;
        self
    }

    /// The same pools, rebalanced by the heartbeat or not (`POOL_REBALANCE`).
    pub fn with_rebalance(mut self, rebalance: bool) -> Self {
        self.rebalance = rebalance;
        self
    }

    /// Whether no target is on a pool (capacity is off).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The pool entry of `target`, when it is on one.
    pub fn entry(&self, target: &Target) -> Option<&PoolEntry> {
        let key = target.to_string();
        self.entries.iter().find(|e| e.target == key)
    }

    /// The entries of `pool`, in table order.
    pub fn members(&self, pool: &str) -> Vec<&PoolEntry> {
        self.entries.iter().filter(|e| e.pool == pool).collect()
    }

    /// The pool's GPUs as configured (the first entry that says).
    pub fn configured_gpus(&self, pool: &str) -> Option<u64> {
        self.entries
            .iter()
            .filter(|e| e.pool == pool)
            .find_map(|e| e.pool_gpus)
    }

    /// These pools with `placed` added: targets with no configured pool, each placed on the one
    /// GPU pool its Deployment's `nodeSelector` matches. A target already on a pool keeps it.
    pub fn with_placed(&self, placed: Vec<PoolEntry>) -> Pools {
        let mut pools = self.clone();
        for entry in placed {
            if !pools.entries.iter().any(|e| e.target == entry.target) {
                pools.entries.push(entry);
            }
        }
        pools
    }

    /// The Lease of `pool`: its namespace (the pool's first target's) and name.
    pub fn lease(&self, pool: &str) -> Option<(String, String)> {
        let first = self.entries.iter().find(|e| e.pool == pool)?;
        let namespace = first.target.split('/').next()?.to_owned();
        Some((namespace, format!("{POOL_LEASE_PREFIX}{pool}")))
    }
}
