//! Two models on one GPU pool, minute by minute, with capacity off (every target decided alone,
//! as before the pool) and on (the pool's rules). Pure.
//!
//! What decides is the functions' own code, from `queue-scaler-core`: [`decide`] and
//! [`decide_reconcile`] for the alarms and scale-up's heartbeat, and, with capacity on,
//! [`target_need`], [`fair_shares`], [`cap_raise`] and [`rebalance_step`], as
//! `crates/lambda/src/scaler/pool.rs` calls them. What is modelled around it, each minute:
//! - each queue gets its arrivals; each running worker takes its messages, oldest first (a
//!   message's wait is the minutes from its arrival to a worker taking it);
//! - each model's high alarm fires after `high_periods` minutes above `high_threshold` visible
//!   messages, and its low alarm after `low_periods` minutes below `low_threshold`; each is set
//!   back to OK after its function acts (re-arm), so it fires again while the backlog persists;
//! - scale-up's heartbeat runs every minute: it rebalances (capacity on) and raises a target
//!   below what its live backlog needs;
//! - the cluster: a replica asked for is a Pending pod until a node has a free GPU (the oldest
//!   Pending pod first, whichever model); a bound pod runs `pod_start` minutes later; a removed
//!   pod finishes its message for `drain` minutes, holding its GPU; the cluster autoscaler adds a
//!   node for unschedulable pods (ready `node_start` minutes later) up to the pool's maximum, and
//!   removes a node empty for `node_idle` minutes, down to its minimum.
//!
//! The cluster's I/O, the Lease and two invocations at once are not modelled here: the real
//! kube-apiserver and kube-scheduler tests cover them (`tests/tests/real_scheduler.rs`).

use queue_scaler_core::capacity::{
    cap_raise, fair_shares, rebalance_step, target_need, PoolMember,
};
use queue_scaler_core::{decide, decide_reconcile, Backlog, Direction, Policy};
use std::collections::VecDeque;
use std::fmt::Write as _;

/// A burst of arrivals on a queue.
#[derive(Debug, Clone, Copy)]
pub struct Burst {
    /// The minute its first message arrives.
    pub start: usize,
    /// How many minutes it lasts.
    pub minutes: usize,
    /// Messages a minute, beside the background.
    pub per_minute: u64,
}

/// One model: its Deployment's bounds, its workers' pace, its queue's arrivals.
#[derive(Debug, Clone)]
pub struct Model {
    /// The Deployment's name.
    pub name: &'static str,
    /// Its bounds and messages per replica.
    pub policy: Policy,
    /// Messages one running worker takes a minute.
    pub per_worker: u64,
    /// Messages a minute, always.
    pub background: u64,
    /// Its bursts.
    pub bursts: Vec<Burst>,
}

/// The pool, the models and the timings.
#[derive(Debug, Clone)]
pub struct PoolScenario {
    /// Minutes simulated.
    pub minutes: usize,
    /// The pool's fewest and most nodes.
    pub nodes: (usize, usize),
    /// GPUs on each node.
    pub gpus_per_node: u32,
    /// Minutes from the autoscaler asking for a node to the node taking pods.
    pub node_start: usize,
    /// Minutes a node stays empty before the autoscaler removes it.
    pub node_idle: usize,
    /// Minutes from a pod bound to a node to its worker taking messages (image pull, model load).
    pub pod_start: usize,
    /// Minutes a removed worker takes to finish its message (its SIGTERM grace), holding its GPU.
    pub drain: usize,
    /// The high alarm: visible messages above this, for `high_periods` minutes.
    pub high_threshold: u64,
    /// Consecutive minutes above the high threshold.
    pub high_periods: usize,
    /// The low alarm: visible messages below this, for `low_periods` minutes.
    pub low_threshold: u64,
    /// Consecutive minutes below the low threshold.
    pub low_periods: usize,
    /// The two models, first the one whose burst comes first.
    pub models: Vec<Model>,
}

impl PoolScenario {
    /// The seed team's pool: 2 to 4 nodes of one GPU; text-model (100 messages a replica, 25 a
    /// worker-minute) and image-model (50 a replica, 10 a worker-minute), each 1 to 4 replicas;
    /// text's burst, then image's 15 minutes into it, overlapping. A GPU pod starts in 3 minutes,
    /// a node in 6.
    pub fn seed() -> Self {
        let policy = |mpr| Policy {
            min: 1,
            max: 4,
            step: 1,
            messages_per_replica: Some(mpr),
        };
        PoolScenario {
            minutes: 240,
            nodes: (2, 4),
            gpus_per_node: 1,
            node_start: 6,
            node_idle: 10,
            pod_start: 3,
            drain: 1,
            high_threshold: 100,
            high_periods: 2,
            low_threshold: 10,
            low_periods: 10,
            models: vec![
                Model {
                    name: "text-model",
                    policy: policy(100),
                    per_worker: 25,
                    background: 10,
                    bursts: vec![Burst {
                        start: 20,
                        minutes: 40,
                        per_minute: 110,
                    }],
                },
                Model {
                    name: "image-model",
                    policy: policy(50),
                    per_worker: 10,
                    background: 4,
                    bursts: vec![Burst {
                        start: 35,
                        minutes: 30,
                        per_minute: 40,
                    }],
                },
            ],
        }
    }

    /// The pool's GPUs at its largest.
    pub fn pool_gpus(&self) -> u64 {
        self.nodes.1 as u64 * u64::from(self.gpus_per_node)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pod {
    /// Waiting for a GPU, since this minute.
    Pending(usize),
    /// Bound; its worker takes messages from this minute.
    Starting(usize),
    /// Taking messages.
    Running,
    /// Finishing its message; gone at this minute.
    Draining(usize),
}

#[derive(Debug, Clone)]
struct ModelState {
    spec: u32,
    /// Each pod and the minute it was created.
    pods: Vec<(Pod, usize)>,
    /// The queue: (minute of arrival, messages).
    queue: VecDeque<(usize, u64)>,
    /// How many messages waited how many minutes.
    waits: Vec<u64>,
    above: usize,
    below: usize,
}

impl ModelState {
    fn visible(&self) -> u64 {
        self.queue.iter().map(|(_, n)| n).sum()
    }

    /// What it holds on the pool: its replicas asked for, or its pods that still hold a GPU,
    /// whichever is more (`max(spec.replicas, status.replicas)`).
    fn holds(&self) -> u32 {
        let existing = u32::try_from(self.pods.len()).unwrap_or(u32::MAX);
        self.spec.max(existing)
    }
}

/// One minute of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minute {
    /// The minute.
    pub minute: usize,
    /// Each model's visible messages, replicas asked for, pods running and pods Pending.
    pub models: Vec<(u64, u32, u32, u32)>,
    /// Nodes up or coming up.
    pub nodes: usize,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSummary {
    /// Pod-minutes Pending while the GPUs asked for exceeded the pool's maximum: Pending that
    /// no node could ever end, caused by the functions.
    pub pending_beyond_pool: u64,
    /// All pod-minutes Pending (a node coming up counts too).
    pub pending: u64,
    /// For each model's burst: minutes from its first message to its first added replica
    /// running (`None`: never, within the run).
    pub first_added_running: Vec<(&'static str, usize, Option<usize>)>,
    /// Each model's 95th-percentile message wait, in minutes.
    pub p95_wait: Vec<(&'static str, usize)>,
    /// GPU node-minutes (nodes up or coming up).
    pub gpu_node_minutes: u64,
}

/// A run: every minute and what it measured.
#[derive(Debug, Clone)]
pub struct PoolRun {
    /// Capacity on (the pool's rules) or off.
    pub capacity: bool,
    /// Every minute.
    pub minutes: Vec<Minute>,
    /// What it measured.
    pub summary: PoolSummary,
}

/// The raise of model `me` to `desired`, capped by the pool when `capacity` is on, as
/// `pool_gate` caps it: each model's need from its live backlog, the max-min fair shares, the
/// cap.
fn capped_raise(
    scenario: &PoolScenario,
    states: &[ModelState],
    me: usize,
    desired: u32,
    capacity: bool,
) -> u32 {
    if !capacity {
        return desired;
    }
    let members = members(scenario, states);
    let Ok(shares) = fair_shares(scenario.pool_gpus(), &members) else {
        return states[me].spec;
    };
    cap_raise(me, &members, &shares, scenario.pool_gpus(), desired)
        .map_or(states[me].spec, |c| c.to)
}

fn members(scenario: &PoolScenario, states: &[ModelState]) -> Vec<PoolMember> {
    scenario
        .models
        .iter()
        .zip(states)
        .map(|(model, s)| {
            let holds = s.holds();
            let backlog = Backlog::Live(s.visible());
            PoolMember {
                min: model.policy.min.max(0).unsigned_abs(),
                max: model.policy.max.max(0).unsigned_abs(),
                need: target_need(
                    &model.policy,
                    holds,
                    backlog,
                    Some(scenario.high_threshold as f64),
                ),
                holds,
                gpus_per_replica: 1,
                paused: false,
                waiting: s.visible() >= 1,
            }
        })
        .collect()
}

fn as_count(n: i32) -> u32 {
    n.max(0).unsigned_abs()
}

/// Run `scenario` with capacity on or off.
pub fn simulate(scenario: &PoolScenario, capacity: bool) -> PoolRun {
    let mut states: Vec<ModelState> = scenario
        .models
        .iter()
        .map(|m| ModelState {
            spec: as_count(m.policy.min),
            pods: (0..as_count(m.policy.min))
                .map(|_| (Pod::Running, 0))
                .collect(),
            queue: VecDeque::new(),
            waits: Vec::new(),
            above: 0,
            below: 0,
        })
        .collect();
    // Each node: the minute it takes pods, and since when it has been empty.
    let mut nodes: Vec<(usize, Option<usize>)> = (0..scenario.nodes.0).map(|_| (0, None)).collect();
    let mut minutes = Vec::new();
    let (mut pending_beyond, mut pending_all, mut node_minutes) = (0u64, 0u64, 0u64);
    let mut first_running: Vec<Vec<Option<usize>>> = scenario
        .models
        .iter()
        .map(|m| vec![None; m.bursts.len()])
        .collect();
    for t in 0..scenario.minutes {
        // Arrivals, then the workers.
        for (model, s) in scenario.models.iter().zip(states.iter_mut()) {
            let burst: u64 = model
                .bursts
                .iter()
                .filter(|b| (b.start..b.start + b.minutes).contains(&t))
                .map(|b| b.per_minute)
                .sum();
            s.queue.push_back((t, model.background + burst));
            let running = s.pods.iter().filter(|(p, _)| *p == Pod::Running).count() as u64;
            let mut take = running * model.per_worker;
            while take > 0 {
                let Some((arrived, n)) = s.queue.front_mut() else {
                    break;
                };
                let taken = take.min(*n);
                let wait = t - *arrived;
                if s.waits.len() <= wait {
                    s.waits.resize(wait + 1, 0);
                }
                s.waits[wait] += taken;
                *n -= taken;
                take -= taken;
                if *n == 0 {
                    s.queue.pop_front();
                }
            }
        }
        // The alarms, and what their functions decide.
        for i in 0..states.len() {
            let policy = &scenario.models[i].policy;
            let visible = states[i].visible();
            let s = &mut states[i];
            s.above = if visible > scenario.high_threshold {
                s.above + 1
            } else {
                0
            };
            s.below = if visible < scenario.low_threshold {
                s.below + 1
            } else {
                0
            };
            let current = i32::try_from(s.spec).unwrap_or(i32::MAX);
            if s.above >= scenario.high_periods {
                s.above = 0;
                let threshold = Some(scenario.high_threshold as f64);
                let d = decide(
                    Direction::Up,
                    current,
                    Backlog::Live(visible),
                    threshold,
                    policy,
                );
                let desired = as_count(d.desired);
                if desired > states[i].spec {
                    states[i].spec = capped_raise(scenario, &states, i, desired, capacity);
                }
            } else if s.below >= scenario.low_periods {
                s.below = 0;
                let d = decide(
                    Direction::Down,
                    current,
                    Backlog::Live(visible),
                    None,
                    policy,
                );
                states[i].spec = as_count(d.desired).min(states[i].spec);
            }
        }
        // Scale-up's heartbeat: a donor gives up one step, then a target below its need is
        // raised.
        let mut lowered = vec![false; states.len()];
        if capacity {
            let members = members(scenario, &states);
            if let Ok(shares) = fair_shares(scenario.pool_gpus(), &members) {
                for me in 0..members.len() {
                    let waits = (0..members.len())
                        .any(|o| o != me && members[o].waiting && members[o].holds < shares[o]);
                    let step = as_count(scenario.models[me].policy.step);
                    if let (true, Some(to)) =
                        (waits, rebalance_step(&members[me], shares[me], step, false))
                    {
                        states[me].spec = states[me].spec.min(to);
                        lowered[me] = true;
                    }
                }
            }
        }
        for i in 0..states.len() {
            if lowered[i] {
                continue;
            }
            let current = i32::try_from(states[i].spec).unwrap_or(i32::MAX);
            let d = decide_reconcile(current, states[i].visible(), &scenario.models[i].policy);
            let desired = as_count(d.desired);
            if desired > states[i].spec {
                states[i].spec = capped_raise(scenario, &states, i, desired, capacity);
            }
        }
        // The ReplicaSets: pods to the replicas asked for; a removed one is Pending first, else
        // the youngest, and drains.
        for s in &mut states {
            let live = |p: &Pod| !matches!(p, Pod::Draining(_));
            let mut count = s.pods.iter().filter(|(p, _)| live(p)).count() as u32;
            while count < s.spec {
                s.pods.push((Pod::Pending(t), t));
                count += 1;
            }
            while count > s.spec {
                let victim = s
                    .pods
                    .iter()
                    .rposition(|(p, _)| matches!(p, Pod::Pending(_)))
                    .or_else(|| s.pods.iter().rposition(|(p, _)| live(p)));
                match victim {
                    Some(v) if matches!(s.pods[v].0, Pod::Pending(_)) => {
                        s.pods.remove(v);
                    }
                    Some(v) => s.pods[v].0 = Pod::Draining(t + scenario.drain),
                    None => break,
                }
                count -= 1;
            }
            s.pods
                .retain(|(p, _)| !matches!(p, Pod::Draining(gone) if *gone <= t));
            for (p, _) in &mut s.pods {
                if matches!(p, Pod::Starting(at) if *at <= t) {
                    *p = Pod::Running;
                }
            }
        }
        // The scheduler: free GPUs on ready nodes to the oldest Pending pods.
        let ready = nodes.iter().filter(|(at, _)| *at <= t).count() as u64;
        let bound: u64 = states
            .iter()
            .flat_map(|s| &s.pods)
            .filter(|(p, _)| !matches!(p, Pod::Pending(_)))
            .count() as u64;
        let mut free = (ready * u64::from(scenario.gpus_per_node)).saturating_sub(bound);
        let mut waiting: Vec<(usize, usize, usize)> = states
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.pods
                    .iter()
                    .enumerate()
                    .filter_map(move |(j, (p, _))| match p {
                        Pod::Pending(since) => Some((*since, i, j)),
                        _ => None,
                    })
            })
            .collect();
        waiting.sort();
        for (_, i, j) in waiting {
            if free == 0 {
                break;
            }
            states[i].pods[j].0 = Pod::Starting(t + scenario.pod_start);
            free -= 1;
        }
        // The cluster autoscaler.
        let pending: u64 = states
            .iter()
            .flat_map(|s| &s.pods)
            .filter(|(p, _)| matches!(p, Pod::Pending(_)))
            .count() as u64;
        let coming = nodes.iter().filter(|(at, _)| *at > t).count() as u64;
        let per_node = u64::from(scenario.gpus_per_node.max(1));
        let wanted = pending.div_ceil(per_node).saturating_sub(coming);
        for _ in 0..wanted {
            if nodes.len() < scenario.nodes.1 {
                nodes.push((t + scenario.node_start, None));
            }
        }
        let mut used = bound;
        let mut keep = Vec::new();
        for (at, empty) in nodes.drain(..) {
            let holds = u64::from(scenario.gpus_per_node).min(used);
            used -= holds;
            let empty = if at <= t && holds == 0 {
                Some(empty.unwrap_or(t))
            } else {
                None
            };
            keep.push((at, empty));
        }
        while keep.len() > scenario.nodes.0 {
            let Some(idle) = keep
                .iter()
                .rposition(|(_, e)| e.is_some_and(|since| t - since >= scenario.node_idle))
            else {
                break;
            };
            keep.remove(idle);
        }
        nodes = keep;
        // What this minute measured.
        let asked: u64 = states.iter().map(|s| u64::from(s.spec)).sum();
        pending_beyond += asked.saturating_sub(scenario.pool_gpus());
        pending_all += pending;
        node_minutes += nodes.len() as u64;
        for (i, (model, s)) in scenario.models.iter().zip(&states).enumerate() {
            for (b, burst) in model.bursts.iter().enumerate() {
                let added_running = s
                    .pods
                    .iter()
                    .any(|(p, created)| *p == Pod::Running && *created >= burst.start);
                if first_running[i][b].is_none() && t >= burst.start && added_running {
                    first_running[i][b] = Some(t - burst.start);
                }
            }
        }
        minutes.push(Minute {
            minute: t,
            models: states
                .iter()
                .map(|s| {
                    let running = s.pods.iter().filter(|(p, _)| *p == Pod::Running).count();
                    let waiting = s
                        .pods
                        .iter()
                        .filter(|(p, _)| matches!(p, Pod::Pending(_)))
                        .count();
                    (s.visible(), s.spec, running as u32, waiting as u32)
                })
                .collect(),
            nodes: nodes.len(),
        });
    }
    let p95 = |waits: &[u64]| {
        let total: u64 = waits.iter().sum();
        let mut seen = 0;
        for (minutes, n) in waits.iter().enumerate() {
            seen += n;
            if seen * 100 >= total * 95 {
                return minutes;
            }
        }
        waits.len()
    };
    let summary = PoolSummary {
        pending_beyond_pool: pending_beyond,
        pending: pending_all,
        first_added_running: scenario
            .models
            .iter()
            .zip(&first_running)
            .flat_map(|(m, firsts)| {
                m.bursts
                    .iter()
                    .zip(firsts)
                    .map(|(b, f)| (m.name, b.start, *f))
            })
            .collect(),
        p95_wait: scenario
            .models
            .iter()
            .zip(&states)
            .map(|(m, s)| (m.name, p95(&s.waits)))
            .collect(),
        gpu_node_minutes: node_minutes,
    };
    PoolRun {
        capacity,
        minutes,
        summary,
    }
}

impl PoolRun {
    /// Every minute as CSV: each model's visible messages, replicas, running and Pending pods,
    /// and the nodes.
    pub fn to_csv(&self, scenario: &PoolScenario) -> String {
        let mut out = String::from("minute");
        for m in &scenario.models {
            let _ = write!(
                out,
                ",{0}_visible,{0}_replicas,{0}_running,{0}_pending",
                m.name
            );
        }
        out.push_str(",nodes\n");
        for row in &self.minutes {
            let _ = write!(out, "{}", row.minute);
            for (visible, spec, running, pending) in &row.models {
                let _ = write!(out, ",{visible},{spec},{running},{pending}");
            }
            let _ = writeln!(out, ",{}", row.nodes);
        }
        out
    }
}

/// The Markdown table of a run with capacity off beside one with capacity on.
pub fn table(scenario: &PoolScenario, before: &PoolRun, after: &PoolRun) -> String {
    let mut out = String::from(
        "| | capacity off (each target alone) | capacity on (the pool's rules) |\n|---|---|---|\n",
    );
    let row = |out: &mut String, what: &str, a: String, b: String| {
        let _ = writeln!(out, "| {what} | {a} | {b} |");
    };
    row(
        &mut out,
        &format!(
            "pod-minutes Pending beyond the pool's maximum ({} GPUs)",
            scenario.pool_gpus()
        ),
        before.summary.pending_beyond_pool.to_string(),
        after.summary.pending_beyond_pool.to_string(),
    );
    row(
        &mut out,
        "pod-minutes Pending in all (nodes coming up included)",
        before.summary.pending.to_string(),
        after.summary.pending.to_string(),
    );
    let minutes = |m: Option<usize>| m.map_or_else(|| "never".to_owned(), |m| format!("{m} min"));
    for ((name, start, b), (_, _, a)) in before
        .summary
        .first_added_running
        .iter()
        .zip(&after.summary.first_added_running)
    {
        row(
            &mut out,
            &format!("{name}: burst at minute {start} to its first added replica running"),
            minutes(*b),
            minutes(*a),
        );
    }
    for ((name, b), (_, a)) in before.summary.p95_wait.iter().zip(&after.summary.p95_wait) {
        row(
            &mut out,
            &format!("{name}: p95 message wait"),
            format!("{b} min"),
            format!("{a} min"),
        );
    }
    row(
        &mut out,
        "GPU node-minutes",
        before.summary.gpu_node_minutes.to_string(),
        after.summary.gpu_node_minutes.to_string(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_pool_never_asks_beyond_its_gpus_with_capacity_on() {
        let scenario = PoolScenario::seed();
        let before = simulate(&scenario, false);
        let after = simulate(&scenario, true);
        assert!(
            before.summary.pending_beyond_pool > 0,
            "{:?}",
            before.summary
        );
        assert_eq!(after.summary.pending_beyond_pool, 0, "{:?}", after.summary);
        for row in &after.minutes {
            let asked: u32 = row.models.iter().map(|m| m.1).sum();
            assert!(u64::from(asked) <= scenario.pool_gpus(), "{row:?}");
        }
        assert!(
            after.summary.gpu_node_minutes <= before.summary.gpu_node_minutes,
            "{:?} {:?}",
            before.summary,
            after.summary
        );
    }

    #[test]
    fn the_second_burst_gets_a_replica_within_two_heartbeats_a_drain_and_a_pod_start() {
        let scenario = PoolScenario::seed();
        let after = simulate(&scenario, true);
        // Two heartbeats (one a minute), the donor's drain, a pod's start.
        let bound = 2 + scenario.drain + scenario.pod_start;
        let (name, _, first) = after.summary.first_added_running[1];
        assert_eq!(name, "image-model");
        let first = first.expect("image-model's burst got a replica");
        assert!(first <= bound, "{first} min > {bound} min");
        // Decided alone, it waits for text-model's queue to drain.
        let before = simulate(&scenario, false);
        let alone = before.summary.first_added_running[1]
            .2
            .unwrap_or(usize::MAX);
        assert!(alone > bound, "{alone}");
    }

    #[test]
    fn the_committed_tables_are_the_ones_a_run_gives() {
        let scenario = PoolScenario::seed();
        let (before, after) = (simulate(&scenario, false), simulate(&scenario, true));
        let docs = crate::workspace_root().join("docs/simulation");
        for (file, want) in [
            ("pool-off.csv", before.to_csv(&scenario)),
            ("pool-on.csv", after.to_csv(&scenario)),
            ("pool.md", table(&scenario, &before, &after)),
        ] {
            let got = std::fs::read_to_string(docs.join(file)).unwrap_or_default();
            assert!(
                got == want,
                "docs/simulation/{file} is not what a run gives: make simulate"
            );
        }
    }
}
