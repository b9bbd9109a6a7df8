//! A target as its pool sees it: its bounds and need in replicas, what it holds, what one of
//! its replicas costs in GPUs, and whether it is paused or waiting.

/// One target on a shared pool: what [`fair_shares`](super::fair_shares),
/// [`cap_raise`](super::cap_raise) and [`rebalance_step`](super::rebalance_step) decide from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolMember {
    /// The policy's `min`: its share is never below it.
    pub min: u32,
    /// The policy's `max`.
    pub max: u32,
    /// Its need ([`target_need`](super::target_need)), already clamped to `[min, max]`.
    pub need: u32,
    /// Replicas it holds: `max(spec.replicas, status.replicas)`. A donor's GPU is free only
    /// once its pod is gone.
    pub holds: u32,
    /// GPUs one replica takes (the pod template's `nvidia.com/gpu` limit); 0 counts as 1.
    pub gpus_per_replica: u32,
    /// An operator holds it ([`Pause`](super::Pause)): it keeps what it holds and never donates.
    pub paused: bool,
    /// Its queues have live visible messages (at least 1): below its share, it is waiting.
    pub waiting: bool,
}

impl PoolMember {
    /// GPUs one replica takes, at least 1.
    pub(super) fn replica_gpus(&self) -> u64 {
        u64::from(self.gpus_per_replica.max(1))
    }

    /// GPUs for `replicas` of its replicas.
    pub(super) fn gpus(&self, replicas: u32) -> u64 {
        u64::from(replicas).saturating_mul(self.replica_gpus())
    }

    /// GPUs it holds now.
    pub(super) fn held_gpus(&self) -> u64 {
        self.gpus(self.holds)
    }
}
