//! Capping a raise: never more than the pool leaves free after what the other targets hold,
//! and, while another target waits below its share, never more than the raiser's own share.

use super::member::PoolMember;
use serde::Serialize;
use std::fmt;

/// Which cap held a raise back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CapReason {
    /// The pool's GPUs, less what the other targets hold, leave no room for more.
    Free,
    /// Another target waits below its share, so the raise stops at the raiser's share.
    Share,
}

impl fmt::Display for CapReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CapReason::Free => {
                "the pool has no free GPU for more, after what the other targets hold"
            }
            CapReason::Share => "another target waits below its share",
        })
    }
}

/// What [`cap_raise`] allows, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capped {
    /// The replica count to set.
    pub to: u32,
    /// Replicas the pool has room for in all for this target: the pool's GPUs less what the
    /// others hold, divided by this target's GPUs per replica.
    pub free_replicas: u32,
    /// This target's fair share, in replicas.
    pub share: u32,
    /// The cap that held the raise below what was desired; `None` when nothing did.
    pub limited_by: Option<CapReason>,
}

/// Cap a raise of `members[me]` to `desired` replicas; `shares` is [`fair_shares`]'s answer
/// for the same `members`.
///
/// - A `desired` at or below what the target holds passes unchanged: this only caps raises.
/// - The pool's GPUs less what every other member holds (a paused one too) are what is free for
///   this target: the raise is capped at the whole replicas that fit in them.
/// - While another unpaused member waits below its share (it holds less than its share, and its
///   queues have visible messages), the raise is also capped at this target's own share.
/// - A cap never lowers: the result is at least what the target holds.
///
/// `None` when `me` is not an index of `members` or `shares` is not one per member: there is
/// then no safe answer.
///
/// [`fair_shares`]: super::fair_shares
pub fn cap_raise(
    me: usize,
    members: &[PoolMember],
    shares: &[u32],
    pool_gpus: u64,
    desired: u32,
) -> Option<Capped> {
    if shares.len() != members.len() {
        return None;
    }
    let mine = members.get(me)?;
    let share = *shares.get(me)?;
    let current = mine.holds;
    let others = || {
        members
            .iter()
            .zip(shares)
            .enumerate()
            .filter(move |&(i, _)| i != me)
            .map(|(_, other)| other)
    };
    let free_replicas = free_for(me, members, pool_gpus)?;
    let capped = |to, limited_by| Capped {
        to,
        free_replicas,
        share,
        limited_by,
    };
    if desired <= current {
        return Some(capped(desired, None));
    }
    let someone_waits =
        others().any(|(m, &their_share)| !m.paused && m.waiting && m.holds < their_share);
    // The tighter cap is the one to report; on a tie, the pool itself is the harder fact.
    let (cap, reason) = if someone_waits && share < free_replicas {
        (share, CapReason::Share)
    } else {
        (free_replicas, CapReason::Free)
    };
    Some(if desired <= cap {
        capped(desired, None)
    } else {
        capped(cap.max(current), Some(reason))
    })
}

/// Replicas of `members[me]` the pool has room for in all: its GPUs less what every other
/// member holds (a paused one too), in whole replicas.
fn free_for(me: usize, members: &[PoolMember], pool_gpus: u64) -> Option<u32> {
    let mine = members.get(me)?;
    let others_hold = members
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != me)
        .map(|(_, m)| m.held_gpus())
        .fold(0u64, u64::saturating_add);
    let free_gpus = pool_gpus.saturating_sub(others_hold);
    Some(u32::try_from(free_gpus / mine.replica_gpus()).unwrap_or(u32::MAX))
}

/// Cap a raise its operator asked for (`queue-scaler.io/paused-replicas`) of `members[me]` to
/// `desired`: at what the pool leaves free after what the others hold, so no pod of it waits
/// Pending for a GPU another target holds; never at a share, since the operator, not the
/// backlog, decides who comes first. `share` is reported as [`cap_raise`] reports it. A cap
/// never lowers. `None` when `me` is not an index of `members`.
pub fn cap_operator_raise(
    me: usize,
    members: &[PoolMember],
    share: u32,
    pool_gpus: u64,
    desired: u32,
) -> Option<Capped> {
    let current = members.get(me)?.holds;
    let free_replicas = free_for(me, members, pool_gpus)?;
    let (to, limited_by) = if desired <= current || desired <= free_replicas {
        (desired, None)
    } else {
        (free_replicas.max(current), Some(CapReason::Free))
    };
    Some(Capped {
        to,
        free_replicas,
        share,
        limited_by,
    })
}
