//! The max-min fair split of a short pool: each target gets its need up to an equal share of
//! the GPUs, what one does not need goes to the others, and none goes below its `min`.

use super::member::PoolMember;
use crate::error::ErrorClass;

/// The targets' mins, with what paused targets hold, need more GPUs than the pool has. A
/// configuration error: no split can keep every target at its `min`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the pool's {pool_gpus} GPUs cannot run every target's min replicas and what paused targets \
     hold ({mins_gpus} GPUs): lower a target's min, give the pool more nodes (its autoscaling \
     maximum), or unpause a target"
)]
pub struct MinsDoNotFit {
    /// The pool's GPUs.
    pub pool_gpus: u64,
    /// GPUs the unpaused targets' mins and the paused targets' holdings take together.
    pub(crate) mins_gpus: u64,
}

impl MinsDoNotFit {
    /// Always [`ErrorClass::Config`]: the targets' mins or the pool must change.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Config
    }
}

/// Each member's share of the pool in replicas, in the order of `members`.
///
/// Progressive filling in GPUs, one whole replica at a time: a paused member is fixed at what
/// it holds; every other member starts at its `min`; then, again and again, the member with the
/// fewest GPUs so far (ties: the first) among those below their need whose next replica still
/// fits gets one more, until none can take one.
///
/// So the shares never take more GPUs than the pool has, none is below its `min` nor above
/// `max(need, min)`, a member needing less than an equal share gets its need and the rest goes
/// to the others, and equal needs above the pool get equal shares (within one replica). The
/// same members always get the same shares.
///
/// It takes one pass over the members per replica handed out, so at most the pool's GPUs
/// passes: a few thousand for the largest pools.
pub fn fair_shares(pool_gpus: u64, members: &[PoolMember]) -> Result<Vec<u32>, MinsDoNotFit> {
    let mut shares: Vec<u32> = members
        .iter()
        .map(|m| if m.paused { m.holds } else { m.min })
        .collect();
    let mut used = members
        .iter()
        .zip(&shares)
        .map(|(m, &share)| m.gpus(share))
        .fold(0u64, u64::saturating_add);
    if used > pool_gpus {
        return Err(MinsDoNotFit {
            pool_gpus,
            mins_gpus: used,
        });
    }
    loop {
        let next = members
            .iter()
            .zip(&shares)
            .enumerate()
            .filter(|(_, (m, &share))| {
                !m.paused
                    && share < ceiling(m)
                    && used.saturating_add(m.replica_gpus()) <= pool_gpus
            })
            .min_by_key(|&(i, (m, &share))| (m.gpus(share), i))
            .map(|(i, (m, _))| (i, m.replica_gpus()));
        let Some((i, gpus)) = next else {
            break;
        };
        if let Some(share) = shares.get_mut(i) {
            *share = share.saturating_add(1);
        }
        used = used.saturating_add(gpus);
    }
    Ok(shares)
}

/// The most a member's share may reach: its need, kept within `[min, max]` (and never below
/// `min`, even if `max` were).
fn ceiling(m: &PoolMember) -> u32 {
    m.need.min(m.max).max(m.min)
}
