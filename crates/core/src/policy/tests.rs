//! The decision table and the rules' invariants.

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
