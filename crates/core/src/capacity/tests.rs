//! The pool's GPUs, the pause annotations, a target's need, the fair split, the caps and the
//! rebalance; last, the team's own pool told as a story.

use super::*;
use crate::policy::{Backlog, Policy};
use chrono::{DateTime, Utc};

/// A member with one GPU per replica, neither paused nor waiting.
fn member(min: u32, max: u32, need: u32, holds: u32) -> PoolMember {
    PoolMember {
        min,
        max,
        need,
        holds,
        gpus_per_replica: 1,
        paused: false,
        waiting: false,
    }
}

fn waiting(m: PoolMember) -> PoolMember {
    PoolMember { waiting: true, ..m }
}

fn paused(m: PoolMember) -> PoolMember {
    PoolMember { paused: true, ..m }
}

fn policy(min: i32, max: i32, mpr: Option<i32>) -> Policy {
    Policy {
        min,
        max,
        step: 1,
        messages_per_replica: mpr,
    }
}

// ---- the pool's GPUs ----

fn one_gpu(count: u32) -> Vec<PoolAccelerator> {
    vec![PoolAccelerator {
        count,
        max_shared_clients_per_gpu: None,
    }]
}

#[test]
fn pool_gpus_read_every_field_gke_gives() {
    let autoscaling = |total, per_location| {
        Some(PoolAutoscaling {
            total_max_node_count: total,
            max_node_count: per_location,
        })
    };
    let cases: &[(&str, NodePoolSize, PoolGpus)] = &[
        (
            "the team's pool: autoscaling to 4 nodes of 1 GPU in one zone",
            NodePoolSize {
                autoscaling: autoscaling(None, Some(4)),
                initial_node_count: 2,
                locations: 1,
                accelerators: one_gpu(1),
            },
            PoolGpus::Gpus(4),
        ),
        (
            "maxNodeCount counts once per location",
            NodePoolSize {
                autoscaling: autoscaling(None, Some(2)),
                initial_node_count: 1,
                locations: 3,
                accelerators: one_gpu(1),
            },
            PoolGpus::Gpus(6),
        ),
        (
            "totalMaxNodeCount wins, whatever the locations",
            NodePoolSize {
                autoscaling: autoscaling(Some(5), Some(2)),
                initial_node_count: 1,
                locations: 3,
                accelerators: one_gpu(2),
            },
            PoolGpus::Gpus(10),
        ),
        (
            "a totalMaxNodeCount of 0 is unset",
            NodePoolSize {
                autoscaling: autoscaling(Some(0), Some(2)),
                initial_node_count: 1,
                locations: 2,
                accelerators: one_gpu(1),
            },
            PoolGpus::Gpus(4),
        ),
        (
            "without autoscaling, the node count in every location",
            NodePoolSize {
                autoscaling: None,
                initial_node_count: 2,
                locations: 2,
                accelerators: one_gpu(4),
            },
            PoolGpus::Gpus(16),
        ),
        (
            "autoscaling with no limit set falls back to the node count",
            NodePoolSize {
                autoscaling: autoscaling(None, None),
                initial_node_count: 3,
                locations: 1,
                accelerators: one_gpu(1),
            },
            PoolGpus::Gpus(3),
        ),
        (
            "no locations listed counts as one",
            NodePoolSize {
                autoscaling: autoscaling(None, Some(4)),
                initial_node_count: 2,
                locations: 0,
                accelerators: one_gpu(1),
            },
            PoolGpus::Gpus(4),
        ),
        (
            "GPU sharing multiplies each GPU by its clients",
            NodePoolSize {
                autoscaling: autoscaling(None, Some(2)),
                initial_node_count: 1,
                locations: 1,
                accelerators: vec![PoolAccelerator {
                    count: 1,
                    max_shared_clients_per_gpu: Some(4),
                }],
            },
            PoolGpus::Gpus(8),
        ),
        (
            "accelerators of several types add up",
            NodePoolSize {
                autoscaling: autoscaling(None, Some(2)),
                initial_node_count: 1,
                locations: 1,
                accelerators: vec![
                    PoolAccelerator {
                        count: 2,
                        max_shared_clients_per_gpu: None,
                    },
                    PoolAccelerator {
                        count: 1,
                        max_shared_clients_per_gpu: Some(3),
                    },
                ],
            },
            PoolGpus::Gpus(10),
        ),
        (
            "a pool without accelerators is not a GPU pool",
            NodePoolSize {
                autoscaling: autoscaling(None, Some(8)),
                initial_node_count: 3,
                locations: 1,
                accelerators: Vec::new(),
            },
            PoolGpus::NotGpuPool,
        ),
        (
            "accelerators of count 0 make no GPU pool",
            NodePoolSize {
                autoscaling: None,
                initial_node_count: 3,
                locations: 1,
                accelerators: one_gpu(0),
            },
            PoolGpus::NotGpuPool,
        ),
        (
            "a huge pool saturates instead of overflowing",
            NodePoolSize {
                autoscaling: autoscaling(None, Some(u32::MAX)),
                initial_node_count: 0,
                locations: u32::MAX,
                accelerators: vec![PoolAccelerator {
                    count: u32::MAX,
                    max_shared_clients_per_gpu: Some(u32::MAX),
                }],
            },
            PoolGpus::Gpus(u64::MAX),
        ),
    ];
    for (name, pool, want) in cases {
        assert_eq!(pool_gpus(pool), *want, "{name}");
    }
}

#[test]
fn a_pool_that_is_not_a_gpu_pool_says_no_cap_applies() {
    assert!(PoolGpus::NotGpuPool.to_string().contains("no cap"));
    assert_eq!(PoolGpus::Gpus(4).to_string(), "4 GPUs");
}

// ---- the pause annotations ----

fn pause(paused: Option<&str>, replicas: Option<&str>) -> Pause {
    Pause::from_annotations(|key| match key {
        PAUSED_ANNOTATION => paused,
        PAUSED_REPLICAS_ANNOTATION => replicas,
        _ => None,
    })
}

/// What a pause reads as, without the reason's words.
#[derive(Debug, PartialEq)]
enum Read {
    Off,
    Held,
    Replicas(u32),
}

fn read(p: &Pause) -> Read {
    match p {
        Pause::Off => Read::Off,
        Pause::Paused { .. } => Read::Held,
        Pause::Replicas(n) => Read::Replicas(*n),
    }
}

#[test]
fn pause_annotations_read_as_the_operator_meant() {
    // (name, paused, paused-replicas, want)
    type Case = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Read,
    );
    let cases: &[Case] = &[
        ("no annotation is not paused", None, None, Read::Off),
        ("paused false is not paused", Some("false"), None, Read::Off),
        ("paused true writes nothing", Some("true"), None, Read::Held),
        (
            "paused True, any case, writes nothing",
            Some(" True "),
            None,
            Read::Held,
        ),
        (
            "paused yes is unparsable, so paused",
            Some("yes"),
            None,
            Read::Held,
        ),
        (
            "paused empty is unparsable, so paused",
            Some(""),
            None,
            Read::Held,
        ),
        (
            "paused-replicas 2 holds 2",
            None,
            Some("2"),
            Read::Replicas(2),
        ),
        (
            "paused-replicas 0 holds 0",
            None,
            Some("0"),
            Read::Replicas(0),
        ),
        (
            "paused-replicas wins over paused true",
            Some("true"),
            Some("3"),
            Read::Replicas(3),
        ),
        (
            "paused-replicas wins over paused false",
            Some("false"),
            Some("1"),
            Read::Replicas(1),
        ),
        (
            "paused-replicas abc is paused",
            None,
            Some("abc"),
            Read::Held,
        ),
        ("paused-replicas -1 is paused", None, Some("-1"), Read::Held),
        (
            "paused-replicas beyond int32 is paused",
            None,
            Some("3000000000"),
            Read::Held,
        ),
        (
            "an unparsable paused beside valid replicas is paused",
            Some("maybe"),
            Some("2"),
            Read::Held,
        ),
        (
            "an unparsable paused-replicas beside paused false is paused",
            Some("false"),
            Some("x"),
            Read::Held,
        ),
    ];
    for (name, paused, replicas, want) in cases {
        let got = pause(*paused, *replicas);
        assert_eq!(read(&got), *want, "{name}: got {got:?}");
        assert_eq!(got.is_paused(), *want != Read::Off, "{name}");
    }
}

#[test]
fn an_unparsable_pause_names_the_annotation_and_its_value() {
    let Pause::Paused { reason } = pause(None, Some("two")) else {
        panic!("an unparsable paused-replicas must pause");
    };
    assert!(reason.contains(PAUSED_REPLICAS_ANNOTATION), "{reason}");
    assert!(reason.contains("\"two\""), "{reason}");

    let Pause::Paused { reason } = pause(Some("on"), None) else {
        panic!("an unparsable paused must pause");
    };
    assert!(reason.contains(PAUSED_ANNOTATION), "{reason}");
    assert!(reason.contains("\"on\""), "{reason}");

    assert!(pause(None, Some("2")).to_string().contains("holds 2"));
}

// ---- a target's need ----

#[test]
fn need_follows_the_backlog_and_stays_within_min_and_max() {
    // (name, policy, current, backlog, threshold, want)
    type Case = (&'static str, Policy, u32, Backlog, Option<f64>, u32);
    let cases: &[Case] = &[
        (
            "per replica: ceil of the backlog",
            policy(0, 10, Some(100)),
            1,
            Backlog::Live(250),
            None,
            3,
        ),
        (
            "per replica: an exact multiple",
            policy(0, 10, Some(100)),
            1,
            Backlog::Live(300),
            None,
            3,
        ),
        (
            "per replica: capped at max",
            policy(0, 4, Some(10)),
            1,
            Backlog::Live(1000),
            None,
            4,
        ),
        (
            "per replica: an empty queue needs min",
            policy(1, 4, Some(10)),
            3,
            Backlog::Live(0),
            None,
            1,
        ),
        (
            "per replica: a huge backlog saturates at max",
            policy(0, 4, Some(1)),
            1,
            Backlog::Live(u64::MAX),
            None,
            4,
        ),
        (
            "step: above the threshold needs max",
            policy(1, 4, None),
            2,
            Backlog::Live(101),
            Some(100.0),
            4,
        ),
        (
            "step: at the threshold needs current",
            policy(1, 4, None),
            2,
            Backlog::Live(100),
            Some(100.0),
            2,
        ),
        (
            "step: 1 message below the threshold needs current",
            policy(1, 4, None),
            3,
            Backlog::Live(1),
            Some(100.0),
            3,
        ),
        (
            "step: an empty queue needs min",
            policy(1, 4, None),
            3,
            Backlog::Live(0),
            Some(100.0),
            1,
        ),
        (
            "step: without a threshold any message is above",
            policy(0, 4, None),
            1,
            Backlog::Live(1),
            None,
            4,
        ),
        (
            "step: a threshold of 0 reads any message as above",
            policy(0, 4, None),
            1,
            Backlog::Live(1),
            Some(0.0),
            4,
        ),
        (
            "only the alarm's datapoint: current",
            policy(0, 4, Some(10)),
            2,
            Backlog::Alarm(Some(1000.0)),
            None,
            2,
        ),
        (
            "no number at all: current",
            policy(0, 4, None),
            3,
            Backlog::Alarm(None),
            Some(5.0),
            3,
        ),
        (
            "current below min is lifted to min",
            policy(2, 4, None),
            0,
            Backlog::Alarm(None),
            None,
            2,
        ),
        (
            "current above max is brought to max",
            policy(0, 4, None),
            7,
            Backlog::Live(5),
            Some(10.0),
            4,
        ),
    ];
    for (name, policy, current, backlog, threshold, want) in cases {
        assert_eq!(
            target_need(policy, *current, *backlog, *threshold),
            *want,
            "{name}"
        );
    }
}

// ---- the fair split ----

#[test]
fn two_busy_models_split_a_four_gpu_pool_two_and_two() {
    let members = [member(0, 4, 4, 0), member(0, 4, 4, 0)];
    assert_eq!(fair_shares(4, &members).unwrap(), vec![2, 2]);
}

#[test]
fn an_idle_model_leaves_the_whole_pool_to_the_busy_one() {
    let members = [member(0, 4, 4, 4), member(0, 4, 0, 0)];
    assert_eq!(fair_shares(4, &members).unwrap(), vec![4, 0]);
}

#[test]
fn a_model_needing_less_than_an_equal_share_gets_its_need_and_the_rest_goes_to_the_others() {
    let members = [member(0, 8, 1, 0), member(0, 8, 8, 0), member(0, 8, 8, 0)];
    assert_eq!(fair_shares(7, &members).unwrap(), vec![1, 3, 3]);
}

#[test]
fn equal_needs_above_the_pool_get_equal_shares_within_one_replica() {
    for pool in 0..20u64 {
        for n in 1..5usize {
            let members = vec![member(0, 50, 50, 0); n];
            let shares = fair_shares(pool, &members).unwrap();
            let (lo, hi) = (shares.iter().min(), shares.iter().max());
            assert!(hi.unwrap() - lo.unwrap() <= 1, "pool {pool}: {shares:?}");
            assert_eq!(shares.iter().map(|&s| u64::from(s)).sum::<u64>(), pool);
        }
    }
}

#[test]
fn ties_go_to_the_first_member() {
    let members = [member(0, 4, 4, 0), member(0, 4, 4, 0)];
    assert_eq!(fair_shares(3, &members).unwrap(), vec![2, 1]);
}

#[test]
fn a_share_is_never_below_min_even_when_others_need_more() {
    let members = [member(3, 4, 3, 0), member(0, 8, 8, 0)];
    assert_eq!(fair_shares(6, &members).unwrap(), vec![3, 3]);
}

#[test]
fn fairness_is_counted_in_gpus_not_replicas() {
    // A two-GPU replica and two one-GPU replicas take the same from the pool.
    let big = PoolMember {
        gpus_per_replica: 2,
        ..member(0, 8, 8, 0)
    };
    let members = [big, member(0, 8, 8, 0)];
    assert_eq!(fair_shares(8, &members).unwrap(), vec![2, 4]);
}

#[test]
fn a_replica_too_big_for_what_is_left_lets_a_smaller_one_take_it() {
    let big = PoolMember {
        gpus_per_replica: 2,
        ..member(0, 8, 8, 0)
    };
    let members = [big, member(0, 1, 1, 0)];
    // 2 for the big one, 1 for the small one (its need), and the last GPU fits no big replica.
    assert_eq!(fair_shares(4, &members).unwrap(), vec![1, 1]);
    assert_eq!(fair_shares(5, &members).unwrap(), vec![2, 1]);
}

#[test]
fn a_paused_model_keeps_what_it_holds_and_the_rest_is_split() {
    let members = [
        paused(member(0, 4, 4, 3)),
        member(0, 4, 4, 0),
        member(0, 4, 4, 0),
    ];
    assert_eq!(fair_shares(6, &members).unwrap(), vec![3, 2, 1]);
    // Even a paused member needing nothing keeps what it holds.
    let members = [paused(member(0, 4, 0, 2)), member(0, 4, 4, 0)];
    assert_eq!(fair_shares(4, &members).unwrap(), vec![2, 2]);
}

#[test]
fn mins_that_do_not_fit_are_a_configuration_error() {
    let members = [member(3, 4, 4, 0), member(2, 4, 4, 0)];
    let err = fair_shares(4, &members).unwrap_err();
    assert_eq!(
        err,
        MinsDoNotFit {
            pool_gpus: 4,
            mins_gpus: 5
        }
    );
    assert_eq!(err.class(), crate::error::ErrorClass::Config);
    let text = err.to_string();
    assert!(text.contains("4 GPUs") && text.contains("5 GPUs"), "{text}");
    assert!(text.contains("lower a target's min"), "{text}");

    // What a paused member holds counts with the mins.
    let members = [paused(member(0, 4, 0, 3)), member(2, 4, 4, 0)];
    assert_eq!(fair_shares(4, &members).unwrap_err().mins_gpus, 5);
}

#[test]
fn shares_never_overbook_the_pool_and_stay_between_min_and_need() {
    let mut checked = 0;
    for pool in 0..9u64 {
        for (min_a, need_a, gpr_a) in [(0, 0, 1), (0, 3, 1), (1, 5, 1), (0, 4, 2), (2, 2, 3)] {
            for (min_b, need_b, gpr_b) in [(0, 6, 1), (1, 1, 1), (0, 2, 2), (0, 9, 1)] {
                for paused_c in [None, Some(1), Some(2)] {
                    let mut members = vec![
                        PoolMember {
                            gpus_per_replica: gpr_a,
                            ..member(min_a, 9, need_a, 0)
                        },
                        PoolMember {
                            gpus_per_replica: gpr_b,
                            ..member(min_b, 9, need_b, 0)
                        },
                    ];
                    if let Some(holds) = paused_c {
                        members.push(paused(member(0, 9, 9, holds)));
                    }
                    let Ok(shares) = fair_shares(pool, &members) else {
                        let mins: u64 = members
                            .iter()
                            .map(|m| {
                                u64::from(if m.paused { m.holds } else { m.min })
                                    * u64::from(m.gpus_per_replica)
                            })
                            .sum();
                        assert!(mins > pool, "refused a split whose mins fit: {members:?}");
                        continue;
                    };
                    let used: u64 = members
                        .iter()
                        .zip(&shares)
                        .map(|(m, &s)| u64::from(s) * u64::from(m.gpus_per_replica))
                        .sum();
                    assert!(used <= pool, "pool {pool}: {shares:?} for {members:?}");
                    for (m, &s) in members.iter().zip(&shares) {
                        if m.paused {
                            assert_eq!(s, m.holds, "a paused member keeps what it holds");
                        } else {
                            assert!(s >= m.min, "pool {pool}: {s} below min for {m:?}");
                            assert!(
                                s <= m.need.max(m.min),
                                "pool {pool}: {s} above need for {m:?}"
                            );
                        }
                    }
                    // Nothing left unused that a member below its need could take.
                    for (m, &s) in members.iter().zip(&shares) {
                        if !m.paused && s < m.need {
                            assert!(
                                used + u64::from(m.gpus_per_replica) > pool,
                                "pool {pool}: {shares:?} leaves room for {m:?}"
                            );
                        }
                    }
                    assert_eq!(fair_shares(pool, &members), Ok(shares), "deterministic");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100);
}

// ---- capping a raise ----

#[test]
fn a_raise_never_books_a_gpu_another_target_holds() {
    let members = [member(0, 4, 4, 1), member(0, 4, 1, 2)];
    let shares = fair_shares(4, &members).unwrap();
    let capped = cap_raise(0, &members, &shares, 4, 4).unwrap();
    assert_eq!(capped.to, 2);
    assert_eq!(capped.free_replicas, 2);
    assert_eq!(capped.limited_by, Some(CapReason::Free));
}

#[test]
fn a_raise_within_the_free_gpus_passes() {
    let members = [member(0, 4, 3, 1), member(0, 4, 1, 1)];
    let shares = fair_shares(4, &members).unwrap();
    let capped = cap_raise(0, &members, &shares, 4, 3).unwrap();
    assert_eq!((capped.to, capped.limited_by), (3, None));
}

#[test]
fn free_gpus_are_counted_in_whole_replicas() {
    let me = PoolMember {
        gpus_per_replica: 2,
        ..member(0, 4, 4, 0)
    };
    let members = [me, member(0, 4, 1, 1)];
    let shares = fair_shares(4, &members).unwrap();
    let capped = cap_raise(0, &members, &shares, 4, 4).unwrap();
    assert_eq!((capped.to, capped.free_replicas), (1, 1));
}

#[test]
fn a_paused_target_counts_what_it_holds() {
    let members = [member(0, 4, 4, 0), paused(member(0, 4, 0, 3))];
    let shares = fair_shares(4, &members).unwrap();
    let capped = cap_raise(0, &members, &shares, 4, 4).unwrap();
    assert_eq!((capped.to, capped.limited_by), (1, Some(CapReason::Free)));
}

#[test]
fn while_another_target_waits_below_its_share_a_raise_stops_at_the_raisers_share() {
    let members = [member(0, 8, 8, 1), waiting(member(0, 8, 8, 0))];
    let shares = fair_shares(8, &members).unwrap();
    assert_eq!(shares, vec![4, 4]);
    let capped = cap_raise(0, &members, &shares, 8, 8).unwrap();
    assert_eq!(capped.to, 4);
    assert_eq!(capped.share, 4);
    assert_eq!(capped.free_replicas, 8);
    assert_eq!(capped.limited_by, Some(CapReason::Share));
}

#[test]
fn a_target_that_waits_at_its_share_or_with_no_message_does_not_cap_others() {
    let pool = 8;
    // At its share: it waits for nothing it is owed.
    let members = [member(0, 8, 8, 1), waiting(member(0, 8, 8, 4))];
    let shares = fair_shares(pool, &members).unwrap();
    let capped = cap_raise(0, &members, &shares, pool, 8).unwrap();
    assert_eq!((capped.to, capped.limited_by), (4, Some(CapReason::Free)));
    // Below its share but with no visible message: it is not waiting.
    let members = [member(0, 8, 8, 1), member(0, 8, 8, 0)];
    let shares = fair_shares(pool, &members).unwrap();
    let capped = cap_raise(0, &members, &shares, pool, 8).unwrap();
    assert_eq!((capped.to, capped.limited_by), (8, None));
}

#[test]
fn a_capped_raise_never_turns_into_a_lowering() {
    // It holds 3, above its share of 2, while the other waits: the raise stays at 3.
    let members = [member(0, 4, 4, 3), waiting(member(0, 4, 4, 0))];
    let shares = fair_shares(4, &members).unwrap();
    let capped = cap_raise(0, &members, &shares, 4, 4).unwrap();
    assert_eq!((capped.to, capped.limited_by), (3, Some(CapReason::Share)));
    // And when the pool is over-full (a paused target grew), it stays where it is.
    let members = [member(0, 4, 4, 2), paused(member(0, 4, 0, 4))];
    let shares = [2, 4];
    let capped = cap_raise(0, &members, &shares, 4, 4).unwrap();
    assert_eq!((capped.to, capped.free_replicas), (2, 0));
}

#[test]
fn a_desired_at_or_below_what_it_holds_passes_unchanged() {
    let members = [member(0, 4, 4, 4), waiting(member(0, 4, 4, 0))];
    let shares = fair_shares(4, &members).unwrap();
    for desired in 0..=4 {
        let capped = cap_raise(0, &members, &shares, 4, desired).unwrap();
        assert_eq!((capped.to, capped.limited_by), (desired, None));
    }
}

#[test]
fn an_operators_raise_takes_what_is_free_and_no_share_caps_it() {
    // The other holds 1 and waits below its share: a backlog's raise would stop at this
    // target's share, the operator's paused-replicas=4 takes the 3 GPUs free.
    let members = [paused(member(0, 4, 4, 1)), waiting(member(0, 4, 4, 1))];
    let shares = fair_shares(4, &members).unwrap();
    let by_share = cap_raise(0, &members, &shares, 4, 4).unwrap();
    assert_eq!(by_share.limited_by, Some(CapReason::Share));
    let capped = cap_operator_raise(0, &members, shares[0], 4, 4).unwrap();
    assert_eq!(
        (capped.to, capped.free_replicas, capped.limited_by),
        (3, 3, Some(CapReason::Free))
    );
    // What fits passes; a lowering passes; a full pool never lowers what it holds.
    assert_eq!(
        cap_operator_raise(0, &members, 2, 4, 3).unwrap().limited_by,
        None
    );
    assert_eq!(cap_operator_raise(0, &members, 2, 4, 0).unwrap().to, 0);
    let full = [paused(member(0, 4, 4, 2)), member(0, 4, 4, 3)];
    assert_eq!(cap_operator_raise(0, &full, 2, 4, 4).unwrap().to, 2);
    assert_eq!(cap_operator_raise(2, &full, 2, 4, 4), None);
}

#[test]
fn cap_raise_gives_no_answer_for_a_member_it_does_not_know() {
    let members = [member(0, 4, 4, 0)];
    assert_eq!(cap_raise(1, &members, &[4], 4, 4), None);
    assert_eq!(cap_raise(0, &members, &[], 4, 4), None);
}

// ---- the rebalance ----

#[test]
fn a_donor_gives_up_one_step_per_beat_never_below_its_share() {
    let mut donor = member(0, 6, 6, 6);
    let mut beats = Vec::new();
    while let Some(to) = rebalance_step(&donor, 2, 1, false) {
        beats.push(to);
        donor.holds = to;
    }
    assert_eq!(beats, vec![5, 4, 3, 2]);
    // A bigger step stops at the share.
    assert_eq!(rebalance_step(&member(0, 6, 6, 5), 2, 4, false), Some(2));
}

#[test]
fn a_donor_never_goes_below_its_min() {
    assert_eq!(rebalance_step(&member(3, 6, 6, 4), 1, 2, false), Some(3));
    assert_eq!(rebalance_step(&member(3, 6, 6, 3), 1, 1, false), None);
}

#[test]
fn a_donor_already_lowered_this_beat_takes_no_further_step() {
    assert_eq!(rebalance_step(&member(0, 6, 6, 5), 2, 1, true), None);
}

#[test]
fn a_paused_target_never_donates() {
    assert_eq!(
        rebalance_step(&paused(member(0, 6, 6, 6)), 2, 1, false),
        None
    );
}

#[test]
fn a_target_at_or_below_its_share_does_not_move() {
    assert_eq!(rebalance_step(&member(0, 6, 6, 2), 2, 1, false), None);
    assert_eq!(rebalance_step(&member(0, 6, 6, 1), 2, 1, false), None);
}

// ---- capacity-limited ----

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
}

#[test]
fn a_target_is_capacity_limited_only_when_unready_long_after_a_write() {
    // (name, ready, spec, last write, now, want)
    type Case = (
        &'static str,
        u32,
        u32,
        Option<DateTime<Utc>>,
        DateTime<Utc>,
        bool,
    );
    let cases: &[Case] = &[
        ("unready past the wait", 2, 4, Some(at(0)), at(901), true),
        (
            "unready exactly at the wait",
            2,
            4,
            Some(at(0)),
            at(900),
            false,
        ),
        ("unready within the wait", 2, 4, Some(at(0)), at(60), false),
        ("all ready long after", 4, 4, Some(at(0)), at(5000), false),
        (
            "more ready than the spec (scaling down)",
            4,
            2,
            Some(at(0)),
            at(5000),
            false,
        ),
        ("no known write", 0, 4, None, at(5000), false),
        ("a write in the future", 0, 4, Some(at(100)), at(0), false),
    ];
    for (name, ready, spec, written, now, want) in cases {
        assert_eq!(
            capacity_limited(*ready, *spec, *written, *now, 900),
            *want,
            "{name}"
        );
    }
    assert!(!capacity_limited(0, 4, Some(at(0)), at(5000), u64::MAX));
}

// ---- the team's pool, told as a story ----

/// Pool of 4 GPUs (2 to 4 nodes of 1 GPU); text-model and image-model each take 1 GPU a
/// replica, min 0, max 4.
#[test]
fn the_team_pool_shares_four_gpus_between_text_and_image() {
    const TEXT: usize = 0;
    const IMAGE: usize = 1;
    let pool = match pool_gpus(&NodePoolSize {
        autoscaling: Some(PoolAutoscaling {
            total_max_node_count: None,
            max_node_count: Some(4),
        }),
        initial_node_count: 2,
        locations: 1,
        accelerators: one_gpu(1),
    }) {
        PoolGpus::Gpus(n) => n,
        PoolGpus::NotGpuPool => panic!("the team's pool has GPUs"),
    };
    assert_eq!(pool, 4);

    // Both busy: 2 and 2.
    let both_busy = [waiting(member(0, 4, 4, 0)), waiting(member(0, 4, 4, 0))];
    assert_eq!(fair_shares(pool, &both_busy).unwrap(), vec![2, 2]);

    // Image idle: text may take all 4.
    let image_idle = [waiting(member(0, 4, 4, 2)), member(0, 4, 0, 0)];
    let shares = fair_shares(pool, &image_idle).unwrap();
    assert_eq!(shares, vec![4, 0]);
    let text = cap_raise(TEXT, &image_idle, &shares, pool, 4).unwrap();
    assert_eq!((text.to, text.limited_by), (4, None));

    // Image starts waiting while text holds 4: shares go back to 2 and 2.
    let mut members = [waiting(member(0, 4, 4, 4)), waiting(member(0, 4, 4, 0))];
    let mut beats = Vec::new();
    for beat in 1..=4 {
        let shares = fair_shares(pool, &members).unwrap();
        assert_eq!(shares, vec![2, 2], "beat {beat}");

        // Text's raises are capped at its share (never below what it holds).
        let text = cap_raise(TEXT, &members, &shares, pool, 4).unwrap();
        let text_holds = members[TEXT].holds;
        assert!(
            text.to <= text_holds.max(text.share),
            "beat {beat}: {text:?}"
        );
        if text_holds < 4 && members[IMAGE].holds < 2 {
            assert_eq!(text.limited_by, Some(CapReason::Share), "beat {beat}");
        }

        // Image may take only what text does not hold.
        let image = cap_raise(IMAGE, &members, &shares, pool, 4).unwrap();
        assert_eq!(image.to, 4 - text_holds.min(4), "beat {beat}");
        assert!(image.to as u64 + text_holds as u64 <= pool, "beat {beat}");

        // The heartbeat's rebalance lowers text one step, then image takes what was freed.
        let lowered = rebalance_step(&members[TEXT], shares[TEXT], 1, false);
        beats.push(lowered);
        if let Some(to) = lowered {
            members[TEXT].holds = to;
        }
        members[IMAGE].holds = image.to;
    }
    assert_eq!(beats, vec![Some(3), Some(2), None, None]);
    assert_eq!((members[TEXT].holds, members[IMAGE].holds), (2, 2));
}
