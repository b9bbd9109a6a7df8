//! The rules themselves, pure: [`decide`] for an alarm, [`decide_wake`] for a wake alarm,
//! [`decide_reconcile`] for the heartbeat. [`decide`] runs in named steps: what the backlog
//! needs, one step, whether a live count still crosses the alarm's threshold, what is wanted,
//! the floor, the bounds and the direction, then the reason in words.

use super::backlog::Backlog;
use super::scaling::{Direction, Policy};

/// What [`decide`] chose, and why, in words a person reading a log line understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The absolute replica count to set.
    pub desired: i32,
    /// Why that number.
    pub reason: String,
}

impl Decision {
    /// Whether the decision changes anything for the given current count.
    pub fn changes(&self, current: i32) -> bool {
        self.desired != current
    }
}

/// Replicas the backlog asks for: `ceil(backlog / messages_per_replica)`, saturating at `i32::MAX`.
fn replicas_for_backlog(backlog: f64, per_replica: i32) -> i32 {
    let needed = (backlog / f64::from(per_replica)).ceil();
    if needed >= f64::from(i32::MAX) {
        i32::MAX
    } else {
        // `backlog` is finite and non-negative (intake checks), so `needed` is in 0..i32::MAX.
        needed as i32
    }
}

/// What the backlog needs, with `messages_per_replica`: (messages per replica, replicas).
fn needed_by_backlog(messages: Option<f64>, policy: &Policy) -> Option<(i32, i32)> {
    match (messages, policy.messages_per_replica) {
        (Some(b), Some(per)) => Some((per, replicas_for_backlog(b, per))),
        _ => None,
    }
}

/// One step from `current` in `direction`.
fn one_step(direction: Direction, current: i32, policy: &Policy) -> i32 {
    match direction {
        Direction::Up => current.saturating_add(policy.step),
        Direction::Down => current.saturating_sub(policy.step),
    }
}

/// Step mode on a live count: whether the queue, not the alarm's old datapoint, says the
/// threshold is still crossed, and what "crossed" means here, in words. `None` when the count
/// is not live or `messages_per_replica` decides.
fn live_step(
    direction: Direction,
    backlog: Backlog,
    threshold: Option<f64>,
    by_backlog: bool,
) -> Option<(bool, String)> {
    let Backlog::Live(n) = backlog else {
        return None;
    };
    if by_backlog {
        return None;
    }
    let n = n as f64;
    Some(match (direction, threshold) {
        (Direction::Up, Some(t)) => (n > t, format!("above the alarm's threshold {t}")),
        (Direction::Up, None) => (n > 0.0, "above 0".to_owned()),
        (Direction::Down, Some(t)) => (n <= t, format!("at or below the alarm's threshold {t}")),
        (Direction::Down, None) => (true, "low, as the alarm says".to_owned()),
    })
}

/// The count wanted before the bounds: a live backlog's need, going up; else one step, at least
/// what the backlog needs; in step mode, no step when a live count no longer crosses.
fn wanted(
    direction: Direction,
    backlog: Backlog,
    needed: Option<(i32, i32)>,
    crossed: Option<bool>,
    current: i32,
    stepped: i32,
) -> i32 {
    match (direction, backlog, needed) {
        (Direction::Up, Backlog::Live(_), Some((_, n))) => n,
        (_, _, Some((_, n))) => stepped.max(n),
        (_, _, None) => match crossed {
            Some(false) => current,
            _ => stepped,
        },
    }
}

/// The fewest replicas this decision may leave: `min`, and going down, at least one while a
/// message may remain (the backlog is not known to be 0, visible plus in flight).
fn floor(direction: Direction, messages: Option<f64>, policy: &Policy) -> i32 {
    let queue_empty = messages == Some(0.0);
    if direction == Direction::Down && !queue_empty {
        policy.min.max(1).min(policy.max)
    } else {
        policy.min
    }
}

/// Up never lowers, down never raises.
fn never_against(direction: Direction, clamped: i32, current: i32) -> i32 {
    match direction {
        Direction::Up => clamped.max(current),
        Direction::Down => clamped.min(current),
    }
}

/// Why the count before the bounds: what the backlog needs, or the step and what it follows.
fn basis(
    direction: Direction,
    backlog: Backlog,
    needed: Option<(i32, i32)>,
    live: Option<&(bool, String)>,
    current: i32,
    stepped: i32,
) -> String {
    match (needed, live) {
        (Some((per, n)), _) => match (direction, backlog) {
            (Direction::Up, Backlog::Live(_)) => {
                format!("{backlog} at {per} messages per replica needs {n}")
            }
            _ => format!(
                "{backlog} at {per} messages per replica needs {n}; one step {direction} from {current} is {stepped}"
            ),
        },
        (None, Some((crossed, what))) => {
            if *crossed {
                format!("{backlog} is {what}: one step {direction} from {current} is {stepped}")
            } else {
                format!("{backlog} is no longer {what}: no step {direction}")
            }
        }
        (None, None) => {
            let basis = match backlog {
                Backlog::Alarm(None) => "no backlog known".to_owned(),
                _ => format!("{backlog}, no messages_per_replica"),
            };
            format!("{basis}: one step {direction} from {current} is {stepped}")
        }
    }
}

/// What the bounds did to `wanted`: capped at max, raised to min, or kept above zero.
fn bounds_note(wanted: i32, floor: i32, messages: Option<f64>, policy: &Policy) -> String {
    if wanted > policy.max {
        format!("; capped at max {}", policy.max)
    } else if wanted < policy.min {
        format!("; raised to min {}", policy.min)
    } else if wanted < floor {
        format!(
            "; kept at {floor}: zero replicas only when the backlog is 0 (it is {})",
            messages.map_or_else(|| "unknown".to_owned(), |b| b.to_string())
        )
    } else {
        String::new()
    }
}

/// What the direction did, and the change made, if any.
fn outcome_note(direction: Direction, clamped: i32, desired: i32, current: i32) -> String {
    let mut note = String::new();
    if desired != clamped {
        let (who, never) = match direction {
            Direction::Up => ("scale-up", "lowers"),
            Direction::Down => ("scale-down", "raises"),
        };
        note.push_str(&format!(
            "; {who} never {never} replicas, so stays at {current}"
        ));
    }
    if desired == current {
        note.push_str("; no change");
    } else {
        note.push_str(&format!("; set {current} -> {desired}"));
    }
    note
}

/// Decide the replica count for one trigger, following the rules of docs/design.md exactly.
///
/// `threshold` is the triggering alarm's own threshold when the alarm watches a count of
/// messages (`None` for an alarm on another metric, or when the event did not say).
///
/// - Up, live, with `messages_per_replica`: `clamp(ceil(backlog / mpr), min, max)`; the queue has
///   the final word, so a drained backlog adds nothing.
/// - Up, live, step mode: one step while the backlog is above `threshold` (above 0 without one).
/// - Up from the alarm's datapoint (the live read failed): `clamp(max(current + step,
///   ceil(datapoint / mpr)), min, max)`: the alarm says the threshold was crossed.
/// - Down: `clamp(max(ceil(backlog / mpr), current - step), min, max)`; in step mode on a live
///   backlog, a step only while the backlog is at or below `threshold`.
/// - Up never lowers, down never raises. Zero only when the backlog is 0 (visible plus in
///   flight); while any message remains, or nothing says, scale-down keeps at least 1.
pub fn decide(
    direction: Direction,
    current: i32,
    backlog: Backlog,
    threshold: Option<f64>,
    policy: &Policy,
) -> Decision {
    let messages = backlog.messages();
    let needed = needed_by_backlog(messages, policy);
    let stepped = one_step(direction, current, policy);
    let live = live_step(direction, backlog, threshold, needed.is_some());
    let wanted = wanted(
        direction,
        backlog,
        needed,
        live.as_ref().map(|(crossed, _)| *crossed),
        current,
        stepped,
    );
    let floor = floor(direction, messages, policy);
    let clamped = wanted.clamp(floor, policy.max);
    let desired = never_against(direction, clamped, current);
    let reason = format!(
        "{}{}{}",
        basis(direction, backlog, needed, live.as_ref(), current, stepped),
        bounds_note(wanted, floor, messages, policy),
        outcome_note(direction, clamped, desired, current)
    );
    Decision { desired, reason }
}

/// Decide for a wake alarm (`visible > 0` for a target whose `min` is 0): it brings a target
/// up from zero replicas, following the scale-up rule, and leaves a running target alone, since
/// the backlog alarm scales that.
pub fn decide_wake(current: i32, backlog: Backlog, policy: &Policy) -> Decision {
    if current > 0 {
        return Decision {
            desired: current,
            reason: format!(
                "wake alarm: {current} replica(s) already running, the backlog alarm scales from here; no change"
            ),
        };
    }
    // A wake alarm watches "any message visible": its threshold is 0.
    let mut d = decide(Direction::Up, current, backlog, Some(0.0), policy);
    d.reason.insert_str(0, "wake alarm at zero replicas: ");
    d
}

/// What scale-up's heartbeat does for a target whose queues it read, whatever its alarms say:
/// wake a target at zero replicas while any message waits, and with `messages_per_replica`
/// raise a target below what its live backlog needs. It never lowers, and otherwise leaves a
/// running target in step mode to its alarm.
pub fn decide_reconcile(current: i32, live_backlog: u64, policy: &Policy) -> Decision {
    if policy.messages_per_replica.is_none() && current > 0 {
        return Decision {
            desired: current,
            reason: format!(
                "heartbeat: {current} replica(s) running and no messages_per_replica, the backlog alarm steps from here; no change"
            ),
        };
    }
    let mut d = decide(
        Direction::Up,
        current,
        Backlog::Live(live_backlog),
        Some(0.0),
        policy,
    );
    d.reason.insert_str(0, "heartbeat: ");
    d
}
