//! The scaling rules of docs/design.md as one pure function, [`decide`], and the [`Policy`] it follows.
//!
//! No I/O: the caller reads the live backlog from the queues and the current replica count from
//! the cluster, and writes the result back.

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

/// The live counts of one queue, or of a target's queues summed, as SQS reports them
/// (`GetQueueAttributes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// `ApproximateNumberOfMessages`: waiting to be received.
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible`: received by a worker, not yet deleted.
    pub in_flight: u64,
    /// `ApproximateNumberOfMessagesDelayed`: not yet deliverable; reported, not counted.
    pub delayed: u64,
}

impl QueueCounts {
    /// The backlog: visible plus in flight (KEDA's default), the same for both directions.
    pub fn backlog(self) -> u64 {
        self.visible.saturating_add(self.in_flight)
    }
}

impl std::ops::Add for QueueCounts {
    type Output = QueueCounts;
    fn add(self, other: QueueCounts) -> QueueCounts {
        QueueCounts {
            visible: self.visible.saturating_add(other.visible),
            in_flight: self.in_flight.saturating_add(other.in_flight),
            delayed: self.delayed.saturating_add(other.delayed),
        }
    }
}

/// The number a decision is made from, and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backlog {
    /// Visible plus in-flight messages of the target's queues, read at this decision.
    Live(u64),
    /// The live read failed (or there was no queue to read): the alarm's latest datapoint, when
    /// the alarm watches a count of messages and its event carried one. It is a minute or more
    /// old, so it is a trigger more than a measure.
    Alarm(Option<f64>),
}

impl Backlog {
    /// The number of messages, when one is known.
    pub fn messages(self) -> Option<f64> {
        match self {
            // Exact for any count SQS can report (below 2^53).
            Backlog::Live(n) => Some(n as f64),
            Backlog::Alarm(d) => d,
        }
    }

    /// `live` or `alarm`: the result's `source`.
    pub fn source(self) -> &'static str {
        match self {
            Backlog::Live(_) => "live",
            Backlog::Alarm(_) => "alarm",
        }
    }
}

impl fmt::Display for Backlog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backlog::Live(n) => write!(f, "live backlog {n}"),
            Backlog::Alarm(Some(d)) => write!(f, "alarm datapoint {d}"),
            Backlog::Alarm(None) => f.write_str("no backlog known"),
        }
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
    let from_backlog = match (messages, policy.messages_per_replica) {
        (Some(b), Some(per)) => Some((per, replicas_for_backlog(b, per))),
        _ => None,
    };
    let stepped = match direction {
        Direction::Up => current.saturating_add(policy.step),
        Direction::Down => current.saturating_sub(policy.step),
    };
    // Step mode on a live count: the queue, not the alarm's old datapoint, says whether the
    // threshold is still crossed.
    let live_step = match (backlog, from_backlog) {
        (Backlog::Live(n), None) => {
            let n = n as f64;
            Some(match (direction, threshold) {
                (Direction::Up, Some(t)) => (n > t, format!("above the alarm's threshold {t}")),
                (Direction::Up, None) => (n > 0.0, "above 0".to_owned()),
                (Direction::Down, Some(t)) => {
                    (n <= t, format!("at or below the alarm's threshold {t}"))
                }
                (Direction::Down, None) => (true, "low, as the alarm says".to_owned()),
            })
        }
        _ => None,
    };
    let wanted = match (direction, backlog, from_backlog) {
        (Direction::Up, Backlog::Live(_), Some((_, n))) => n,
        (Direction::Up, _, Some((_, n))) | (Direction::Down, _, Some((_, n))) => stepped.max(n),
        (_, _, None) => match &live_step {
            Some((false, _)) => current,
            _ => stepped,
        },
    };
    // Zero: scale-down leaves no replica only when the backlog is known to be 0 (visible plus
    // in flight). While a message may remain, or nothing says, keep one.
    let queue_empty = messages == Some(0.0);
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

    let mut why = match (from_backlog, &live_step) {
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
    };
    if wanted > policy.max {
        why.push_str(&format!("; capped at max {}", policy.max));
    } else if wanted < policy.min {
        why.push_str(&format!("; raised to min {}", policy.min));
    } else if wanted < floor {
        why.push_str(&format!(
            "; kept at {floor}: zero replicas only when the backlog is 0 (it is {})",
            messages.map_or_else(|| "unknown".to_owned(), |b| b.to_string())
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
            let got = decide(*dir, *current, Backlog::Alarm(*backlog), None, policy);
            assert_eq!(got.desired, *want, "{name}: {}", got.reason);
            assert!(!got.reason.is_empty(), "{name}: empty reason");
        }
    }

    #[test]
    fn scale_up_never_lowers_replicas() {
        for current in 0..12 {
            for backlog in [None, Some(0.0), Some(99.0), Some(1e9)] {
                let d = decide(
                    Direction::Up,
                    current,
                    Backlog::Alarm(backlog),
                    None,
                    &policy(2, 6, 2, Some(50)),
                );
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
                    Backlog::Alarm(backlog),
                    None,
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
        assert_eq!(decide_wake(0, Backlog::Live(5), &p).desired, 1);
        let d = decide_wake(2, Backlog::Live(5), &p);
        assert_eq!(d.desired, 2);
        assert!(d.reason.contains("already running"), "{}", d.reason);
        // With messages_per_replica, waking follows the backlog like any scale-up.
        assert_eq!(
            decide_wake(0, Backlog::Live(250), &policy(0, 4, 1, Some(100))).desired,
            3
        );
    }

    #[test]
    fn the_zero_rule_says_why_it_keeps_one() {
        let d = decide(
            Direction::Down,
            1,
            Backlog::Live(3),
            None,
            &policy(0, 4, 1, None),
        );
        assert!(
            d.reason
                .contains("zero replicas only when the backlog is 0"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn reason_says_why_and_what() {
        let d = decide(
            Direction::Up,
            3,
            Backlog::Alarm(Some(5000.0)),
            None,
            &policy(2, 4, 1, Some(100)),
        );
        assert_eq!(
            d.reason,
            "alarm datapoint 5000 at 100 messages per replica needs 50; one step up from 3 is 4; capped at max 4; set 3 -> 4"
        );
        let d = decide(
            Direction::Up,
            4,
            Backlog::Live(5000),
            None,
            &policy(2, 4, 1, Some(100)),
        );
        assert!(d.reason.contains("capped at max 4"), "{}", d.reason);
        assert!(d.reason.ends_with("no change"), "{}", d.reason);
        assert!(!d.changes(4));
    }
    /// (name, direction, current, live backlog, alarm threshold, policy, expected desired)
    type LiveCase = (&'static str, Direction, i32, u64, Option<f64>, Policy, i32);

    #[test]
    fn live_backlog_decides_in_both_directions() {
        use Direction::{Down, Up};
        let cases: &[LiveCase] = &[
            (
                "up goes straight to what the queue needs",
                Up,
                2,
                640,
                Some(100.0),
                policy(1, 10, 1, Some(100)),
                7,
            ),
            (
                "up adds nothing when the queue already drained",
                Up,
                5,
                120,
                Some(100.0),
                policy(1, 10, 1, Some(100)),
                5,
            ),
            (
                "up never lowers below current on a small live backlog",
                Up,
                6,
                0,
                None,
                policy(0, 10, 1, Some(100)),
                6,
            ),
            (
                "up is capped at max on a live backlog",
                Up,
                2,
                100_000,
                None,
                policy(1, 4, 1, Some(100)),
                4,
            ),
            (
                "up wakes a target at zero with one message",
                Up,
                0,
                1,
                None,
                policy(0, 4, 1, Some(100)),
                1,
            ),
            (
                "up leaves a target at zero with an empty queue",
                Up,
                0,
                0,
                None,
                policy(0, 4, 1, Some(100)),
                0,
            ),
            (
                "step mode steps up while the queue is above the threshold",
                Up,
                2,
                150,
                Some(100.0),
                policy(1, 4, 1, None),
                3,
            ),
            (
                "step mode stops once the queue is at the threshold",
                Up,
                2,
                100,
                Some(100.0),
                policy(1, 4, 1, None),
                2,
            ),
            (
                "step mode on an age alarm steps up while any message waits",
                Up,
                2,
                1,
                None,
                policy(1, 4, 1, None),
                3,
            ),
            (
                "step mode on an age alarm with an empty queue does nothing",
                Up,
                2,
                0,
                None,
                policy(1, 4, 1, None),
                2,
            ),
            (
                "down keeps what a live burst needs",
                Down,
                7,
                640,
                Some(10.0),
                policy(1, 10, 1, Some(100)),
                7,
            ),
            (
                "down counts in-flight work",
                Down,
                5,
                450,
                Some(10.0),
                policy(1, 10, 1, Some(100)),
                5,
            ),
            (
                "down steps once the queue is low",
                Down,
                5,
                5,
                Some(10.0),
                policy(1, 10, 1, Some(100)),
                4,
            ),
            (
                "step mode steps down at or below the threshold",
                Down,
                4,
                10,
                Some(10.0),
                policy(1, 4, 1, None),
                3,
            ),
            (
                "step mode does not step down during a live burst",
                Down,
                4,
                500,
                Some(10.0),
                policy(1, 4, 1, None),
                4,
            ),
            (
                "down reaches zero only at a live backlog of 0",
                Down,
                1,
                0,
                Some(0.0),
                policy(0, 4, 1, None),
                0,
            ),
            (
                "down keeps one while one job is in flight",
                Down,
                1,
                1,
                Some(5.0),
                policy(0, 4, 1, None),
                1,
            ),
        ];
        for (name, dir, current, live, threshold, policy, want) in cases {
            let got = decide(*dir, *current, Backlog::Live(*live), *threshold, policy);
            assert_eq!(got.desired, *want, "{name}: {}", got.reason);
            assert!(
                got.reason.contains("live backlog"),
                "{name}: {}",
                got.reason
            );
        }
    }

    #[test]
    fn an_age_alarms_fallback_steps_without_reading_seconds_as_messages() {
        // An alarm on ApproximateAgeOfOldestMessage carries seconds; intake drops them, so the
        // fallback is a plain step, never 900 / 50 = 18 replicas.
        let d = decide(
            Direction::Up,
            2,
            Backlog::Alarm(None),
            None,
            &policy(1, 20, 1, Some(50)),
        );
        assert_eq!(d.desired, 3, "{}", d.reason);
    }

    #[test]
    fn the_heartbeat_wakes_and_raises_but_leaves_step_mode_to_the_alarm() {
        assert_eq!(decide_reconcile(0, 3, &policy(0, 4, 1, None)).desired, 1);
        assert_eq!(decide_reconcile(0, 0, &policy(0, 4, 1, None)).desired, 0);
        let d = decide_reconcile(2, 5000, &policy(1, 4, 1, None));
        assert_eq!(d.desired, 2, "{}", d.reason);
        assert!(d.reason.contains("backlog alarm steps"), "{}", d.reason);
        assert_eq!(
            decide_reconcile(2, 640, &policy(1, 10, 1, Some(100))).desired,
            7
        );
        assert_eq!(
            decide_reconcile(8, 100, &policy(1, 10, 1, Some(100))).desired,
            8
        );
    }

    #[test]
    fn a_wake_alarm_with_an_empty_queue_does_not_wake() {
        let d = decide_wake(0, Backlog::Live(0), &policy(0, 4, 1, None));
        assert_eq!(d.desired, 0, "{}", d.reason);
    }
}
