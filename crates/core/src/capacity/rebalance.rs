//! The heartbeat's rebalance: a target above its fair share gives up one step per beat, so a
//! waiting target's share frees up without cutting the donor's work off all at once.

use super::member::PoolMember;

/// The replica count a donor steps down to in this beat, or `None` when it should not move.
///
/// A member above `max(share, min)` gives up one `step` (from what it holds), never below
/// `max(share, min)`. One step per beat in all: when the target was already lowered in this
/// beat (`already_lowered_this_beat`, by its scale-down alarm for instance), no further step. A
/// paused member never donates. A `step` of 0 counts as 1.
pub fn rebalance_step(
    member: &PoolMember,
    share: u32,
    step: u32,
    already_lowered_this_beat: bool,
) -> Option<u32> {
    if member.paused || already_lowered_this_beat {
        return None;
    }
    let floor = share.max(member.min);
    if member.holds <= floor {
        return None;
    }
    Some(member.holds.saturating_sub(step.max(1)).max(floor))
}
