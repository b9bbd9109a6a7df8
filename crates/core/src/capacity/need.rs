//! A target's need: how many replicas its backlog asks for, clamped to its policy's bounds. The
//! fair split of a short pool ([`fair_shares`](super::fair_shares)) gives each target up to it.

use crate::policy::{Backlog, Policy};

/// The replicas a target needs, always within `[min, max]` of its `policy`.
///
/// - With `messages_per_replica` and a live backlog: `ceil(backlog / messages_per_replica)`.
/// - In step mode (no `messages_per_replica`) with a live backlog: `max` while the backlog is
///   above the high alarm's `threshold` (above 0 when no threshold is known), `current` while
///   it is between 1 and the threshold, `min` at 0.
/// - `current` when only the alarm's datapoint is known ([`Backlog::Alarm`]): an old
///   datapoint says a threshold was crossed, not how far.
pub fn target_need(policy: &Policy, current: u32, backlog: Backlog, threshold: Option<f64>) -> u32 {
    let min = replicas(policy.min);
    let max = replicas(policy.max);
    let wanted = match (backlog, policy.messages_per_replica) {
        (Backlog::Alarm(_), _) => current,
        (Backlog::Live(n), Some(per_replica)) => {
            // Configuration checks messages_per_replica >= 1; never divide by 0 all the same.
            let per_replica = u64::from(replicas(per_replica).max(1));
            u32::try_from(n.div_ceil(per_replica)).unwrap_or(u32::MAX)
        }
        (Backlog::Live(0), None) => min,
        (Backlog::Live(n), None) => {
            // Exact for any count SQS can report (below 2^53).
            let above = threshold.is_none_or(|t| n as f64 > t);
            if above {
                max
            } else {
                current
            }
        }
    };
    // Not `clamp`: it panics when min > max, which configuration rules out but this need not trust.
    wanted.max(min).min(max)
}

/// A policy's replica count as `u32`; a negative one (configuration refuses them) as 0.
fn replicas(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}
