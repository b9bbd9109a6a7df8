//! The pool gate: a raise of a target on a shared GPU node pool is capped at what the pool can
//! run, split by need when the pool is short, and booked on the pool's Lease before it is
//! written (docs/design.md, "GPU capacity: the pool the models share").
//!
//! For one raise: read the pool's Lease (what the raises in flight booked); read what every other
//! target on the pool holds (its scale) and its live backlog; decide each target's need and the
//! max-min fair shares; cap the raise ([`cap_raise`]; an operator's `paused-replicas` at what is
//! free, [`cap_operator_raise`]); book the capped count on the Lease with
//! its `resourceVersion`. Of two raises run at once, the second's booking meets 409 Conflict,
//! and it reads again: it then sees the first's booking, so the pool is never overbooked. A
//! lowering never books: it can only free GPUs.

use super::live::Seen;
use super::placement::PoolSize;
use super::Scaler;
use crate::report::Capacity;
use futures_util::future::join_all;
use queue_scaler_core::capacity::{
    cap_operator_raise, cap_raise, fair_shares, rebalance_step, target_need, Bookings, PoolMember,
    Pools, Raised, BOOKINGS_ANNOTATION, RAISED_ANNOTATION,
};
use queue_scaler_core::{Backlog, Decision, Target};
use queue_scaler_io::backoff::with_backoff;
use queue_scaler_io::kube::scale::Scale;
use queue_scaler_io::{AlarmRearm, Error as IoError, QueueDepth, ScaleApi};
use tokio::time::Instant;

/// How many times a booking that meets 409 Conflict is read and decided again.
pub(crate) const MAX_BOOKING_CONFLICTS: u32 = 8;

/// No raise: `spec` stays, for `reason`.
fn no_raise(spec: i32, reason: &str) -> Decision {
    Decision {
        desired: spec,
        reason: reason.to_owned(),
    }
}

/// What a target holds: `max(spec.replicas, status.replicas + status.terminatingReplicas)`,
/// since a donor's GPU is free only once its pod is gone. `status.replicas` counts no pod being
/// deleted; `terminatingReplicas` does (Kubernetes 1.33+, on by default from 1.35). Where the
/// server does not report it, a pod that is finishing its message is not counted, and a raise
/// that takes its GPU stays Pending until it is gone.
pub(crate) fn held(scale: &Scale) -> u32 {
    let spec = scale.spec.replicas.max(0).unsigned_abs();
    let count = |field: &str| {
        scale
            .status
            .get(field)
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0)
    };
    spec.max(count("replicas").saturating_add(count("terminatingReplicas")))
}

/// A replica's GPUs: the Deployment's `nvidia.com/gpu` limit where it was read, else the
/// configured value.
fn gpus_per_replica(scale: &Scale, configured: u32) -> u32 {
    scale
        .deployment
        .as_ref()
        .and_then(|facts| facts.gpus_per_replica)
        .filter(|&gpus| gpus > 0)
        .unwrap_or(configured)
}

/// Whether an operator holds the target (its Deployment's pause annotations): it counts as
/// what it holds and never donates.
fn paused(scale: &Scale) -> bool {
    scale.deployment.as_ref().is_some_and(|facts| {
        queue_scaler_core::capacity::Pause::from_annotations(|key| facts.annotation(key))
            .is_paused()
    })
}

impl<K: ScaleApi, R: AlarmRearm, Q: QueueDepth> Scaler<K, R, Q> {
    /// Cap `decision`, a raise of `target` from `scale` as read, by the pool it shares, and book
    /// it. Without a pool (or without its size) the decision passes, and the report says why
    /// capacity is off. A booking that keeps meeting conflicts is a retryable error: nothing is
    /// written, and the alarm or the heartbeat tries again.
    ///
    /// With `book` false (`DRY_RUN`), the cap is decided and reported, but nothing is booked.
    pub(crate) async fn pool_gate(
        &self,
        target: &Target,
        scale: &Scale,
        decision: Decision,
        seen: &Seen,
        deadline: Instant,
        book: bool,
    ) -> Result<(Decision, Option<Capacity>), IoError> {
        let pools = self.placed_pools(Some((target, scale)), deadline).await;
        let Some(entry) = pools.entry(target) else {
            return Ok((decision, None));
        };
        let pool = entry.pool.clone();
        let gpus = match self.pool_size(&pool).await {
            PoolSize::Gpus(gpus) => gpus,
            PoolSize::Off(why) => {
                let capacity = Capacity::off(&pool, &format!("capacity is off: {why}"));
                return Ok((decision, Some(capacity)));
            }
        };
        let me_key = target.to_string();
        let spec = scale.spec.replicas;
        // A pool with a target has a Lease; never raise uncapped if that were not so.
        let Some((namespace, lease_name)) = pools.lease(&pool) else {
            let capacity = Capacity::off(&pool, "the pool has no Lease");
            return Ok((no_raise(spec, &decision.reason), Some(capacity)));
        };
        let desired = decision.desired.max(0).unsigned_abs();
        let mut conflicts = 0;
        loop {
            let mut lease =
                with_backoff("reading the pool's Lease", self.backoff, deadline, || {
                    self.api.get_lease(&namespace, &lease_name)
                })
                .await?;
            let mut bookings = Bookings::parse(
                lease
                    .metadata
                    .annotations
                    .get(BOOKINGS_ANNOTATION)
                    .map(String::as_str),
            );
            let now = chrono::Utc::now();
            let members = self
                .pool_members(&pools, &pool, Some((target, scale, seen)), deadline)
                .await?;
            let Some(me) = members.iter().position(|(key, _)| *key == me_key) else {
                // The pool's entries come from the routes: a target on a pool is among them.
                let capacity = Capacity::off(&pool, "the target is not among its pool's targets");
                return Ok((no_raise(spec, &decision.reason), Some(capacity)));
            };
            let members: Vec<PoolMember> = members
                .into_iter()
                .map(|(key, m)| PoolMember {
                    holds: bookings.holds(&key, m.holds, now),
                    ..m
                })
                .collect();
            let shares = match fair_shares(gpus, &members) {
                Ok(shares) => shares,
                Err(e) => {
                    // Configuration checks that the mins fit; a pool size changed under a
                    // running function still must not overbook: raise nothing.
                    let capacity = Capacity::off(&pool, &e.to_string());
                    let reason = format!("{}; not raised: {e}", decision.reason);
                    return Ok((no_raise(spec, &reason), Some(capacity)));
                }
            };
            // An operator's paused-replicas takes what is free, whatever the shares.
            let capped = if paused(scale) {
                shares
                    .get(me)
                    .and_then(|&share| cap_operator_raise(me, &members, share, gpus, desired))
            } else {
                cap_raise(me, &members, &shares, gpus, desired)
            };
            let Some(capped) = capped else {
                // One share per member, and `me` among them: this cannot fail; if it did, the
                // safe answer is no raise.
                let capacity = Capacity::off(&pool, "the pool's split could not be decided");
                return Ok((no_raise(spec, &decision.reason), Some(capacity)));
            };
            let capacity = Capacity::from_cap(&pool, gpus, &capped);
            let mut reason = decision.reason.clone();
            if let Some(why) = capped.limited_by {
                reason.push_str(&format!(
                    "; capped at {} by pool {pool} ({gpus} GPUs, share {}): {why}",
                    capped.to, capped.share
                ));
            }
            let to = i32::try_from(capped.to).unwrap_or(i32::MAX);
            // Nothing above what is set: no write, so no booking (a count still held by pods
            // that are going is not raised back).
            if to <= spec {
                return Ok((no_raise(spec, &reason), Some(capacity)));
            }
            if !book {
                return Ok((
                    Decision {
                        desired: to,
                        reason,
                    },
                    Some(capacity),
                ));
            }
            bookings.book(&me_key, capped.to, now);
            let mut raised = Raised::parse(
                lease
                    .metadata
                    .annotations
                    .get(RAISED_ANNOTATION)
                    .map(String::as_str),
            );
            raised.record(&me_key, now);
            let annotations = &mut lease.metadata.annotations;
            annotations.insert(BOOKINGS_ANNOTATION.to_owned(), bookings.to_annotation());
            annotations.insert(RAISED_ANNOTATION.to_owned(), raised.to_annotation());
            match self.api.put_lease(&lease).await {
                Ok(_) => {
                    return Ok((
                        Decision {
                            desired: to,
                            reason,
                        },
                        Some(capacity),
                    ))
                }
                Err(e) if e.kube_code() == Some(409) && conflicts < MAX_BOOKING_CONFLICTS => {
                    conflicts += 1;
                    tracing::info!(pool = %pool, conflicts, "another raise booked the pool first: reading again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Every target on `pool`, as the split sees it: `namespace/name` and its member; `me` (a
    /// target, its scale as read and the backlog it saw) from what was read, the others read now
    /// (their Deployment and live backlog, in parallel). What each holds, its GPUs per replica
    /// and its pause come from its Deployment where it could be read.
    async fn pool_members(
        &self,
        pools: &Pools,
        pool: &str,
        me: Option<(&Target, &Scale, &Seen)>,
        deadline: Instant,
    ) -> Result<Vec<(String, PoolMember)>, IoError> {
        let entries = pools.members(pool);
        let reads = entries.iter().map(|entry| async move {
            let route = self
                .routes
                .routes()
                .iter()
                .find(|r| r.target.to_string() == entry.target);
            let Some(route) = route else {
                return Ok(None);
            };
            let other = &route.target;
            let (scale, backlog, visible) =
                if let Some((_, scale, seen)) = me.filter(|(target, _, _)| *target == other) {
                    (scale.clone(), seen.backlog, seen.counts.map(|c| c.visible))
                } else {
                    let scale = with_backoff(
                        "reading a pool peer's scale",
                        self.backoff,
                        deadline,
                        || self.api.get(other),
                    )
                    .await?;
                    let queues: Vec<&str> = route.queues.iter().map(String::as_str).collect();
                    let peer = self.read_backlog(&queues, None, deadline).await;
                    (scale, peer.backlog, peer.counts.map(|c| c.visible))
                };
            let holds = held(&scale);
            let policy = &other.policy;
            let need = target_need(policy, holds, backlog, None);
            let member = PoolMember {
                min: policy.min.max(0).unsigned_abs(),
                max: policy.max.max(0).unsigned_abs(),
                need,
                holds,
                gpus_per_replica: gpus_per_replica(&scale, entry.gpus_per_replica),
                paused: paused(&scale),
                waiting: matches!(backlog, Backlog::Live(_)) && visible.unwrap_or(0) >= 1,
            };
            Ok::<_, IoError>(Some((entry.target.clone(), member)))
        });
        let mut members = Vec::new();
        for read in join_all(reads).await {
            if let Some(m) = read? {
                members.push(m);
            }
        }
        Ok(members)
    }

    /// When `target`'s last raise was booked on its pool's Lease, for a target on a pool. A
    /// Lease that cannot be read gives no time (never capacity-limited from it).
    pub(crate) async fn raised_at(
        &self,
        target: &Target,
        scale: &Scale,
        deadline: Instant,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let pools = self.placed_pools(Some((target, scale)), deadline).await;
        let entry = pools.entry(target)?;
        let (namespace, name) = pools.lease(&entry.pool)?;
        let lease = with_backoff("reading the pool's Lease", self.backoff, deadline, || {
            self.api.get_lease(&namespace, &name)
        })
        .await
        .ok()?;
        let raised = Raised::parse(
            lease
                .metadata
                .annotations
                .get(RAISED_ANNOTATION)
                .map(String::as_str),
        );
        raised.at(&target.to_string())
    }

    /// Scale-up's heartbeat, for a target on a pool of known size (`POOL_REBALANCE`, on by
    /// default): while another target waits below its share, a target above its own gives up
    /// one step, never below `max(share, min)`. The count to lower it to and why, or `None`.
    pub(crate) async fn rebalance(
        &self,
        target: &Target,
        deadline: Instant,
    ) -> Result<Option<(i32, String)>, IoError> {
        if !self.pools.rebalance {
            return Ok(None);
        }
        let pools = self.placed_pools(None, deadline).await;
        let Some(entry) = pools.entry(target) else {
            return Ok(None);
        };
        let pool = entry.pool.clone();
        let PoolSize::Gpus(gpus) = self.pool_size(&pool).await else {
            return Ok(None);
        };
        let members = self.pool_members(&pools, &pool, None, deadline).await?;
        let me_key = target.to_string();
        let Some(me) = members.iter().position(|(key, _)| *key == me_key) else {
            return Ok(None);
        };
        let (keys, members): (Vec<String>, Vec<PoolMember>) = members.into_iter().unzip();
        let Ok(shares) = fair_shares(gpus, &members) else {
            return Ok(None);
        };
        let waiting = (0..members.len()).find(|&i| {
            i != me && members[i].waiting && !members[i].paused && members[i].holds < shares[i]
        });
        let Some(waiting) = waiting else {
            return Ok(None);
        };
        let step = target.policy.step.max(1).unsigned_abs();
        let Some(to) = rebalance_step(&members[me], shares[me], step, false) else {
            return Ok(None);
        };
        let reason = format!(
            "heartbeat: pool {pool} ({gpus} GPUs) is short and {} waits below its share ({} of {}); {me_key} gives up one step toward its share {}: {} -> {to}",
            keys[waiting], members[waiting].holds, shares[waiting], shares[me], members[me].holds
        );
        Ok(Some((i32::try_from(to).unwrap_or(i32::MAX), reason)))
    }
}

#[cfg(test)]
mod tests {
    use super::held;
    use queue_scaler_io::kube::scale::{Scale, ScaleMeta, ScaleSpec};

    fn scale(spec: i32, status: serde_json::Value) -> Scale {
        Scale {
            api_version: "autoscaling/v1".into(),
            kind: "Scale".into(),
            metadata: ScaleMeta {
                name: "text-model".into(),
                namespace: "ml".into(),
                resource_version: None,
                uid: None,
            },
            spec: ScaleSpec { replicas: spec },
            status,
            deployment: None,
        }
    }

    #[test]
    fn a_pod_finishing_its_message_still_holds_its_gpu() {
        // Lowered from 3 to 2: one pod is being deleted, its worker still running.
        let lowered = scale(
            2,
            serde_json::json!({"replicas": 2, "terminatingReplicas": 1}),
        );
        assert_eq!(held(&lowered), 3);
        // Raised from 1 to 3, the pods not created yet: what is asked for is held.
        assert_eq!(held(&scale(3, serde_json::json!({"replicas": 1}))), 3);
        // A server that does not count terminating pods.
        assert_eq!(held(&scale(2, serde_json::json!({"replicas": 2}))), 2);
    }
}
