//! The scaling rules of docs/design.md as one pure function, [`decide`], and the [`Policy`] it follows.
//!
//! No I/O: the caller reads the current replica count from the cluster and writes the result back.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How far a target may be scaled, and how fast.
///
/// Built only through configuration, which checks `min <= max`, `step >= 1` and
/// `messages_per_replica >= 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Fewest replicas scale-down may leave.
    pub min: i32,
    /// Most replicas scale-up may set.
    pub max: i32,
    /// Replicas added or removed per invocation when the backlog does not ask for more.
    pub step: i32,
    /// Messages one replica is expected to handle; with it, the backlog sets a target count.
    pub messages_per_replica: Option<i32>,
}

/// Which function is running: they share everything but the direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// `scale-up`: the backlog is too high.
    Up,
    /// `scale-down`: the backlog is low.
    Down,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Up => "up",
            Direction::Down => "down",
        })
    }
}

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

/// Decide the replica count for one alarm, following the rules of docs/design.md exactly.
///
/// - Up: `clamp(max(current + step, ceil(backlog / mpr)), min, max)`, never below `current`.
/// - Down: `clamp(max(ceil(backlog / mpr), current - step), min, max)`, never above `current`.
/// - Zero: scale-down goes to 0 only when the backlog datapoint is 0; while any message remains
///   (or no datapoint says) it keeps at least 1.
///
/// Without `messages_per_replica` or a datapoint the backlog term drops out.
pub fn decide(
    direction: Direction,
    current: i32,
    backlog: Option<f64>,
    policy: &Policy,
) -> Decision {
    let from_backlog = match (backlog, policy.messages_per_replica) {
        (Some(b), Some(per)) => Some((b, per, replicas_for_backlog(b, per))),
        _ => None,
    };
    let stepped = match direction {
        Direction::Up => current.saturating_add(policy.step),
        Direction::Down => current.saturating_sub(policy.step),
    };
    let wanted = match (direction, from_backlog) {
        (Direction::Up, Some((_, _, n))) => stepped.max(n),
        (Direction::Down, Some((_, _, n))) => n.max(stepped),
        (_, None) => stepped,
    };
    // Zero: scale-down leaves no replica only when the datapoint says the queue is empty
    // (visible plus in flight). While a message may remain, or nothing says, keep one.
    let queue_empty = backlog == Some(0.0);
    let floor = if direction == Direction::Down && !queue_empty {
        policy.min.max(1).min(policy.max)
    } else {
        policy.min
    };
    let clamped = wanted.clamp(floor, policy.max);
    let desired = match direction {
        Direction::Up => clamped.max(current),
        Direction::Down => clamped.min(current),
    };

    let mut why = match (direction, from_backlog) {
        (_, Some((b, per, n))) => format!(
            "backlog {b} at {per} messages per replica needs {n}; one step {} from {current} is {stepped}",
            if direction == Direction::Up { "up" } else { "down" }
        ),
        (_, None) => {
            let basis = if backlog.is_none() { "no backlog datapoint" } else { "no messages_per_replica" };
            format!("{basis}: one step {direction} from {current} is {stepped}")
        }
    };
    if wanted > policy.max {
        why.push_str(&format!("; capped at max {}", policy.max));
    } else if wanted < policy.min {
        why.push_str(&format!("; raised to min {}", policy.min));
    } else if wanted < floor {
        why.push_str(&format!(
            "; kept at {floor}: zero replicas only when the backlog is 0 (it is {})",
            backlog.map_or_else(|| "unknown".to_owned(), |b| b.to_string())
        ));
    }
    if desired != clamped {
        why.push_str(&format!(
            "; {} never {} replicas, so stays at {current}",
            if direction == Direction::Up {
                "scale-up"
            } else {
                "scale-down"
            },
            if direction == Direction::Up {
                "lowers"
            } else {
                "raises"
            }
        ));
    }
    if desired == current {
        why.push_str("; no change");
    } else {
        why.push_str(&format!("; set {current} -> {desired}"));
    }
    Decision {
        desired,
        reason: why,
    }
}

/// Decide for a wake alarm (`visible > 0` for a target whose `min` is 0): it brings a target
/// up from zero replicas, following the scale-up rule, and leaves a running target alone, since
/// the backlog alarm scales that.
pub fn decide_wake(current: i32, backlog: Option<f64>, policy: &Policy) -> Decision {
    if current > 0 {
        return Decision {
            desired: current,
            reason: format!(
                "wake alarm: {current} replica(s) already running, the backlog alarm scales from here; no change"
            ),
        };
    }
    let mut d = decide(Direction::Up, current, backlog, policy);
    d.reason.insert_str(0, "wake alarm at zero replicas: ");
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(min: i32, max: i32, step: i32, mpr: Option<i32>) -> Policy {
        Policy {
            min,
            max,
            step,
            messages_per_replica: mpr,
        }
    }

    /// (name, direction, current, backlog, policy, expected desired)
    type Case = (&'static str, Direction, i32, Option<f64>, Policy, i32);

    #[test]
    fn decision_table_covers_every_edge() {
        use Direction::{Down, Up};
        let cases: &[Case] = &[
            (
                "up one step without datapoint",
                Up,
                2,
                None,
                policy(2, 4, 1, Some(100)),
                3,
            ),
            (
                "up one step without messages_per_replica",
                Up,
                2,
                Some(5000.0),
                policy(2, 4, 1, None),
                3,
            ),
            (
                "up follows the backlog when it asks for more",
                Up,
                2,
                Some(350.0),
                policy(1, 10, 1, Some(100)),
                4,
            ),
            (
                "up takes the step when the backlog asks for less",
                Up,
                5,
                Some(100.0),
                policy(1, 10, 1, Some(100)),
                6,
            ),
            (
                "up is capped at max",
                Up,
                3,
                Some(5000.0),
                policy(2, 4, 1, Some(100)),
                4,
            ),
            (
                "up at max stays at max",
                Up,
                4,
                Some(5000.0),
                policy(2, 4, 1, Some(100)),
                4,
            ),
            (
                "up from above max never lowers",
                Up,
                7,
                Some(5000.0),
                policy(2, 4, 1, Some(100)),
                7,
            ),
            (
                "up from below min lifts to min",
                Up,
                0,
                None,
                policy(2, 4, 1, None),
                2,
            ),
            (
                "up with backlog zero still steps",
                Up,
                2,
                Some(0.0),
                policy(2, 4, 1, Some(100)),
                3,
            ),
            (
                "up with a huge backlog saturates at max",
                Up,
                2,
                Some(1e300),
                policy(2, 4, 1, Some(1)),
                4,
            ),
            (
                "up with step larger than the range lands on max",
                Up,
                2,
                None,
                policy(2, 4, 10, None),
                4,
            ),
            (
                "up step near i32::MAX does not overflow",
                Up,
                i32::MAX - 1,
                None,
                policy(0, i32::MAX, 5, None),
                i32::MAX,
            ),
            (
                "down one step without datapoint",
                Down,
                4,
                None,
                policy(2, 4, 1, Some(100)),
                3,
            ),
            (
                "down is rate limited by step even when the queue is empty",
                Down,
                4,
                Some(0.0),
                policy(1, 4, 1, Some(100)),
                3,
            ),
            (
                "down follows the backlog when it still needs more than one step down",
                Down,
                8,
                Some(650.0),
                policy(1, 10, 1, Some(100)),
                7,
            ),
            (
                "down keeps what the backlog still needs",
                Down,
                8,
                Some(750.0),
                policy(1, 10, 2, Some(100)),
                8,
            ),
            (
                "down stops at min",
                Down,
                2,
                Some(0.0),
                policy(2, 4, 1, Some(100)),
                2,
            ),
            (
                "down from below min never raises",
                Down,
                1,
                Some(0.0),
                policy(2, 4, 1, Some(100)),
                1,
            ),
            (
                "down from above max drops to max",
                Down,
                9,
                Some(0.0),
                policy(2, 4, 1, Some(100)),
                4,
            ),
            (
                "down with a huge backlog does not scale down",
                Down,
                3,
                Some(1e12),
                policy(2, 4, 1, Some(100)),
                3,
            ),
            (
                "down with step larger than the range lands on min",
                Down,
                4,
                None,
                policy(2, 4, 10, None),
                2,
            ),
            (
                "down with min zero can reach zero",
                Down,
                1,
                Some(0.0),
                policy(0, 4, 1, Some(10)),
                0,
            ),
            (
                "down with min zero keeps one while messages wait",
                Down,
                1,
                Some(3.0),
                policy(0, 4, 1, None),
                1,
            ),
            (
                "down with min zero keeps one without a datapoint",
                Down,
                1,
                None,
                policy(0, 4, 1, None),
                1,
            ),
            (
                "down with min zero reaches zero at a datapoint of zero, step by step",
                Down,
                1,
                Some(0.0),
                policy(0, 4, 1, None),
                0,
            ),
            (
                "down with min zero and a large step still keeps one while messages wait",
                Down,
                4,
                Some(1.0),
                policy(0, 4, 10, None),
                1,
            ),
            (
                "down never raises a target already at zero",
                Down,
                0,
                Some(3.0),
                policy(0, 4, 1, None),
                0,
            ),
            (
                "down with max zero may stay at zero",
                Down,
                0,
                Some(3.0),
                policy(0, 0, 1, None),
                0,
            ),
            (
                "down with min equal max holds",
                Down,
                3,
                None,
                policy(3, 3, 1, None),
                3,
            ),
        ];
        for (name, dir, current, backlog, policy, want) in cases {
            let got = decide(*dir, *current, *backlog, policy);
            assert_eq!(got.desired, *want, "{name}: {}", got.reason);
            assert!(!got.reason.is_empty(), "{name}: empty reason");
        }
    }

    #[test]
    fn scale_up_never_lowers_replicas() {
        for current in 0..12 {
            for backlog in [None, Some(0.0), Some(99.0), Some(1e9)] {
                let d = decide(Direction::Up, current, backlog, &policy(2, 6, 2, Some(50)));
                assert!(
                    d.desired >= current,
                    "{current} {backlog:?} -> {}",
                    d.desired
                );
            }
        }
    }

    #[test]
    fn scale_down_never_raises_replicas() {
        for current in 0..12 {
            for backlog in [None, Some(0.0), Some(99.0), Some(1e9)] {
                let d = decide(
                    Direction::Down,
                    current,
                    backlog,
                    &policy(2, 6, 2, Some(50)),
                );
                assert!(
                    d.desired <= current,
                    "{current} {backlog:?} -> {}",
                    d.desired
                );
            }
        }
    }

    #[test]
    fn a_wake_alarm_acts_only_at_zero_replicas() {
        let p = policy(0, 4, 1, None);
        assert_eq!(decide_wake(0, Some(5.0), &p).desired, 1);
        let d = decide_wake(2, Some(5.0), &p);
        assert_eq!(d.desired, 2);
        assert!(d.reason.contains("already running"), "{}", d.reason);
        // With messages_per_replica, waking follows the backlog like any scale-up.
        assert_eq!(
            decide_wake(0, Some(250.0), &policy(0, 4, 1, Some(100))).desired,
            3
        );
    }

    #[test]
    fn the_zero_rule_says_why_it_keeps_one() {
        let d = decide(Direction::Down, 1, Some(3.0), &policy(0, 4, 1, None));
        assert!(
            d.reason
                .contains("zero replicas only when the backlog is 0"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn reason_says_why_and_what() {
        let d = decide(Direction::Up, 3, Some(5000.0), &policy(2, 4, 1, Some(100)));
        assert_eq!(
            d.reason,
            "backlog 5000 at 100 messages per replica needs 50; one step up from 3 is 4; capped at max 4; set 3 -> 4"
        );
        let d = decide(Direction::Up, 4, Some(5000.0), &policy(2, 4, 1, Some(100)));
        assert!(d.reason.contains("capped at max 4"), "{}", d.reason);
        assert!(d.reason.ends_with("no change"), "{}", d.reason);
        assert!(!d.changes(4));
    }
}
