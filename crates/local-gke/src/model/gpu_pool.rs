//! Which of the Deployments' pods the GPU pool can run, as kube-scheduler binds them on a pool of
//! fixed size with no preemption: a pod already running keeps its GPU; a lowering removes pods
//! (pending ones first, as a ReplicaSet deletes unscheduled pods first); the GPUs left go to
//! pending pods, the Deployment that has waited longest first. What is not placed is Pending.
//! No I/O.

use std::collections::BTreeMap;

/// One Deployment on the pool, as the placement sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Demand {
    /// `spec.replicas`.
    pub replicas: u32,
    /// Its pods' `nvidia.com/gpu` limit; 0 takes no GPU and always runs.
    pub gpus_per_replica: u32,
    /// Pods bound before this change.
    pub running: u32,
    /// When its oldest Pending pod was created (a sequence number), if one is.
    pub waiting_since: Option<u64>,
}

/// The pods of each Deployment that run after a change, by key: what was running, down to its
/// replicas, then Pending pods placed while GPUs are free, the longest-waiting Deployment first.
/// With `gpus` `None` (no GPU pool), every pod runs.
pub(crate) fn place<K: Ord + Clone>(
    gpus: Option<u64>,
    demand: &BTreeMap<K, Demand>,
) -> BTreeMap<K, u32> {
    let mut running: BTreeMap<K, u32> = demand
        .iter()
        .map(|(key, d)| {
            let runs = if gpus.is_none() || d.gpus_per_replica == 0 {
                d.replicas
            } else {
                d.running.min(d.replicas)
            };
            (key.clone(), runs)
        })
        .collect();
    let Some(gpus) = gpus else {
        return running;
    };
    let used: u64 = demand
        .iter()
        .map(|(key, d)| u64::from(running[key]) * u64::from(d.gpus_per_replica))
        .sum();
    let mut free = gpus.saturating_sub(used);
    let mut waiting: Vec<(&K, &Demand)> = demand
        .iter()
        .filter(|(key, d)| running[*key] < d.replicas)
        .collect();
    waiting.sort_by_key(|(_, d)| d.waiting_since.unwrap_or(u64::MAX));
    for (key, d) in waiting {
        let per = u64::from(d.gpus_per_replica.max(1));
        let pending = u64::from(d.replicas - running[key]);
        let placed = pending.min(free / per);
        free -= placed * per;
        if let Some(r) = running.get_mut(key) {
            *r += u32::try_from(placed).unwrap_or(0);
        }
    }
    running
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(replicas: u32, running: u32, since: Option<u64>) -> Demand {
        Demand {
            replicas,
            gpus_per_replica: 1,
            running,
            waiting_since: since,
        }
    }

    #[test]
    fn a_raise_past_the_pool_leaves_the_rest_pending() {
        let d = BTreeMap::from([("text", demand(7, 2, Some(1)))]);
        assert_eq!(place(Some(4), &d)["text"], 4);
    }

    #[test]
    fn running_pods_keep_their_gpus_and_the_longest_waiting_goes_first() {
        let d = BTreeMap::from([
            ("text", demand(4, 3, Some(5))),
            ("image", demand(2, 1, Some(2))),
        ]);
        // 4 held; nothing free: no one moves.
        let placed = place(Some(4), &d);
        assert_eq!((placed["text"], placed["image"]), (3, 1));
        // text lowered to 2: its GPU goes to image, which waited longest.
        let d = BTreeMap::from([
            ("text", demand(2, 3, None)),
            ("image", demand(2, 1, Some(2))),
        ]);
        let placed = place(Some(4), &d);
        assert_eq!((placed["text"], placed["image"]), (2, 2));
    }

    #[test]
    fn without_a_gpu_pool_everything_runs() {
        let d = BTreeMap::from([("text", demand(9, 0, Some(1)))]);
        assert_eq!(place(None, &d)["text"], 9);
    }
}
