//! Scaling a target: read its scale, decide (the operator's pause first, then the backlog; a
//! raise of a capacity-limited target refused, one on a shared GPU pool capped by the pool gate),
//! write, and on 409 Conflict or a lost answer read and decide again, never writing twice. Each
//! write is then recorded as an Event ([`super::event`]). The alarm and the heartbeat both scale
//! through [`Scaler::scale_from`].

use super::live::Seen;
use super::Scaler;
use crate::report::{EventRecord, Limited};
use queue_scaler_core::capacity::{capacity_limited, Pause};
use queue_scaler_core::{Decision, Target};
use queue_scaler_io::backoff::{with_backoff, write_with_backoff, WriteFailed};
use queue_scaler_io::{AlarmRearm, Error as IoError, QueueDepth, ScaleApi};
use tokio::time::Instant;

/// How many times a write that meets 409 Conflict (or gets no answer) is re-read and decided
/// again.
pub(crate) const MAX_CONFLICTS: u32 = 5;

/// What made a write, as its Event names it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trigger<'a> {
    /// An alarm, fired or found in ALARM by the heartbeat.
    Alarm(&'a str),
    /// Scale-up's heartbeat, reconciling a target with its live backlog.
    Heartbeat,
}

impl std::fmt::Display for Trigger<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::Alarm(name) => write!(f, "alarm {name}"),
            Trigger::Heartbeat => f.write_str("the heartbeat"),
        }
    }
}

/// What scaling the target did (read, decide, write): a value, so the outcome is built in one
/// place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scaled {
    pub(crate) from: i32,
    pub(crate) to: i32,
    pub(crate) applied: bool,
    pub(crate) reason: String,
    pub(crate) conflicts: u32,
    /// What became of the Event, after a write.
    pub(crate) event: Option<EventRecord>,
    /// The GPU pool a raise was capped by, when the target shares one; whether the target is
    /// capacity-limited.
    pub(crate) capacity: Option<crate::report::Capacity>,
    /// The pause annotation that held the target, when one did.
    pub(crate) paused: Option<String>,
}

impl Scaled {
    /// A raise refused because the target's replicas stay unready.
    pub(crate) fn is_limited(&self) -> bool {
        self.capacity.as_ref().is_some_and(|c| c.limited.is_some())
    }
}

/// What a read scale decided: the decision, what it saw of capacity, and the pause that held
/// it.
struct Decided {
    decision: Decision,
    capacity: Option<crate::report::Capacity>,
    paused: Option<String>,
}

impl<K: ScaleApi, R: AlarmRearm, Q: QueueDepth> Scaler<K, R, Q> {
    /// Read the target's Deployment (its scale), with backoff, within `deadline`.
    pub(crate) async fn read_scale(
        &self,
        target: &Target,
        deadline: Instant,
    ) -> Result<queue_scaler_io::kube::scale::Scale, IoError> {
        with_backoff("reading the scale", self.backoff, deadline, || {
            self.api.get(target)
        })
        .await
    }

    /// Read, decide, write; on 409 read and decide again, up to [`MAX_CONFLICTS`] times. A write
    /// is resent after a transient failure as it was (the same `resourceVersion`: 409 if the
    /// first was applied); when an attempt's answer was lost, the scale is read again, and if
    /// its replicas already equal what was written, the write was applied, and nothing is
    /// written twice. `decide` turns the replicas read into the decision. Each write is then
    /// recorded as an Event on the Deployment ([`Scaler::record`]), naming what `cause` says: the
    /// trigger and the backlog seen.
    ///
    /// `first`: the first read, where it was already made (while the queues were read, or by
    /// placing the targets); a read again after a conflict or a lost answer is made here.
    pub(crate) async fn scale_from(
        &self,
        target: &Target,
        deadline: Instant,
        cause: (Trigger<'_>, &Seen),
        first: Option<Result<queue_scaler_io::kube::scale::Scale, IoError>>,
        decide: impl Fn(i32) -> Decision,
    ) -> Result<Scaled, IoError> {
        let mut first = first;
        let mut conflicts = 0;
        let mut rereads = 0;
        // (replicas read before, replicas written) of a write whose answer was lost.
        let mut unanswered: Option<(i32, i32)> = None;
        loop {
            // Read (the first read may have been made already).
            let scale = match first.take() {
                Some(read) => read?,
                None => self.read_scale(target, deadline).await?,
            };
            let current = scale.spec.replicas;
            let uid = scale.metadata.uid.as_deref();
            // Verify a write whose answer was lost.
            if let Some((from, written)) = unanswered {
                if current == written {
                    tracing::info!(target = %target, replicas = current, "the lost write was applied");
                    let step = Scaled {
                        from,
                        to: written,
                        applied: true,
                        reason: format!(
                            "set {from} -> {written}; its answer was lost, and reading again shows it applied"
                        ),
                        conflicts,
                        event: None,
                        capacity: None,
                        paused: None,
                    };
                    return Ok(self.record(target, uid, cause, step, deadline).await);
                }
            }
            // Decide: the operator's pause first, then the backlog; a raise of a target whose
            // replicas stay unready is refused, and one on a shared GPU pool is capped by it,
            // and booked.
            let Decided {
                decision,
                capacity,
                paused,
            } = self
                .decide_on(target, &scale, &decide, cause.1, deadline)
                .await?;
            let step = Scaled {
                from: current,
                to: decision.desired,
                applied: false,
                reason: decision.reason.clone(),
                conflicts,
                event: None,
                capacity,
                paused,
            };
            if step.is_limited() && !self.dry_run {
                return Ok(self.record(target, uid, cause, step, deadline).await);
            }
            if !decision.changes(current) || self.dry_run {
                return Ok(step);
            }
            // Write.
            let body = scale.with_replicas(decision.desired);
            let written = write_with_backoff("writing the scale", self.backoff, deadline, || {
                self.api.put(target, &body)
            })
            .await;
            match written {
                Ok(_) => {
                    if let Ok(mut written) = self.written.lock() {
                        written.insert(target.to_string(), chrono::Utc::now());
                    }
                    let step = Scaled {
                        applied: true,
                        ..step
                    };
                    return Ok(self.record(target, uid, cause, step, deadline).await);
                }
                Err(WriteFailed { last, lost })
                    if (lost || last.kube_code() == Some(409)) && rereads < MAX_CONFLICTS =>
                {
                    rereads += 1;
                    if lost {
                        unanswered = Some((current, decision.desired));
                        tracing::warn!(target = %target, error = %last, "a write got no answer: reading again before writing again");
                    } else {
                        conflicts += 1;
                        tracing::info!(target = %target, conflicts, "409 Conflict: reading again");
                    }
                }
                Err(WriteFailed { last, .. }) => return Err(last),
            }
        }
    }

    /// Decide from a read scale. The Deployment's pause annotations come first: `paused` writes
    /// nothing, `paused-replicas` writes its count whatever the backlog says (a raise of it on a
    /// shared GPU pool capped at what is free, and booked). Then `decide`; a
    /// raise of a capacity-limited target is refused (its replicas asked for stay unready), and
    /// one on a shared GPU pool goes through [`Scaler::pool_gate`].
    async fn decide_on(
        &self,
        target: &Target,
        scale: &queue_scaler_io::kube::scale::Scale,
        decide: &impl Fn(i32) -> Decision,
        seen: &Seen,
        deadline: Instant,
    ) -> Result<Decided, IoError> {
        let current = scale.spec.replicas;
        let pause = scale.deployment.as_ref().map_or(Pause::Off, |facts| {
            Pause::from_annotations(|key| facts.annotation(key))
        });
        match pause {
            Pause::Off => {}
            Pause::Paused { .. } => {
                return Ok(Decided {
                    decision: Decision {
                        desired: current,
                        reason: format!("paused: {pause}"),
                    },
                    capacity: None,
                    paused: Some(pause.to_string()),
                })
            }
            Pause::Replicas(n) => {
                let n = i32::try_from(n).unwrap_or(i32::MAX);
                let reason = if n == current {
                    format!("paused: {pause}, and it has them")
                } else {
                    format!("paused: {pause}: set {current} -> {n}, then held")
                };
                let decision = Decision { desired: n, reason };
                // A raise on a shared GPU pool takes only what is free, and is booked: the
                // operator's count never leaves a pod Pending for a GPU another target holds.
                // What is held back is asked for again at the next event, as room frees.
                let (decision, capacity) = if n > current {
                    self.pool_gate(target, scale, decision, seen, deadline, !self.dry_run)
                        .await?
                } else {
                    (decision, None)
                };
                return Ok(Decided {
                    decision,
                    capacity,
                    paused: Some(pause.to_string()),
                });
            }
        }
        let decision = decide(current);
        if decision.desired <= current {
            return Ok(Decided {
                decision,
                capacity: None,
                paused: None,
            });
        }
        if let Some(limited) = self.limited(target, scale, deadline).await {
            let pools = self.placed_pools(Some((target, scale)), deadline).await;
            let pool = pools.entry(target).map(|e| e.pool.as_str());
            let reason = format!(
                "{}; not raised: capacity-limited, {} of {} replicas ready more than {} s after the last write ({}); the cluster cannot place more",
                decision.reason, limited.ready, limited.replicas, limited.pending_seconds, limited.since
            );
            return Ok(Decided {
                decision: Decision {
                    desired: current,
                    reason,
                },
                capacity: Some(crate::report::Capacity::limited(pool, limited)),
                paused: None,
            });
        }
        let (decision, capacity) = self
            .pool_gate(target, scale, decision, seen, deadline, !self.dry_run)
            .await?;
        Ok(Decided {
            decision,
            capacity,
            paused: None,
        })
    }

    /// Whether `scale`'s target is capacity-limited: fewer replicas ready than asked for, for
    /// longer than `CAPACITY_PENDING_SECONDS` after queue-scaler's last write to its scale.
    /// Unknown (never limited) where the Deployment could not be read.
    ///
    /// The write's time: the latest of its `managedFields` time (which the API server does not
    /// set for a write to the `scale` subresource, as of Kubernetes 1.34), the pool's record of
    /// the target's last raise (read only when replicas are unready), and this container's own
    /// last write of the target. With none known, it is not limited.
    async fn limited(
        &self,
        target: &Target,
        scale: &queue_scaler_io::kube::scale::Scale,
        deadline: Instant,
    ) -> Option<Limited> {
        let facts = scale.deployment.as_ref()?;
        let spec = scale.spec.replicas.max(0).unsigned_abs();
        if facts.ready_replicas >= spec {
            return None;
        }
        let remembered = self.written_at(target);
        let raised = self.raised_at(target, scale, deadline).await;
        let written = [facts.last_scale_write, raised, remembered]
            .into_iter()
            .flatten()
            .max()?;
        let pending = self.pools.pending_seconds;
        capacity_limited(
            facts.ready_replicas,
            spec,
            Some(written),
            chrono::Utc::now(),
            pending,
        )
        .then(|| Limited {
            ready: facts.ready_replicas,
            replicas: scale.spec.replicas,
            since: written.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            pending_seconds: pending,
        })
    }

    /// This container's last write of `target`'s scale, when it made one.
    fn written_at(&self, target: &Target) -> Option<chrono::DateTime<chrono::Utc>> {
        let written = self.written.lock().ok()?;
        written.get(&target.to_string()).copied()
    }
}
