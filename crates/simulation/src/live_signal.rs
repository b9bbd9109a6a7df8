//! The live-signal scenarios of `docs/live-signal.md`: what reading the queue at every decision
//! changes, with SQS's metrics reaching the alarms as they do ([`MetricDelivery`]). Each runs
//! twice with the functions as they are (re-arm, the heartbeat every minute, the wake alarm at
//! min 0): **before**, the queue cannot be read and the alarm's datapoint decides, as before the
//! live signal; **after**, the functions read the model's queue live and scale-up's heartbeat
//! reconciles every target with its queue.
//!
//! Pure: no I/O (the runs are in [`crate::live::run_live_signal`]).

use crate::model::{AlarmSpec, Comparison, Metric, MetricDelivery, Scenario, HEARTBEAT_EVERY};
use crate::timeline::{Row, Timeline};
use queue_scaler_core::{Direction, Policy};
use std::fmt::Write as _;

/// Periods from the end of a period to its datapoint in CloudWatch, in these scenarios.
pub const METRIC_LAG: usize = 1;

/// What a scenario is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Minutes from the first message to the end of the minute in which a replica beyond the
    /// starting ones was requested.
    FirstNewReplica,
    /// Replicas removed from the burst's first minute until the queue is empty.
    RemovedDuringBurst,
    /// Long jobs whose replica was removed while it held them.
    RemovedWhileBusy,
}

impl Measure {
    /// The row's label in the table.
    pub fn label(self) -> &'static str {
        match self {
            Measure::FirstNewReplica => "minutes from the first message to the first new replica",
            Measure::RemovedDuringBurst => {
                "replicas removed from the burst's first message until the queue is empty"
            }
            Measure::RemovedWhileBusy => "replicas removed while busy (their jobs interrupted)",
        }
    }

    /// The number of a run; `None` for a first replica that never came.
    pub fn of(self, t: &Timeline, scenario: &Scenario) -> Option<usize> {
        let first = scenario.arrivals.iter().position(|a| *a > 0)?;
        match self {
            Measure::FirstNewReplica => t
                .rows
                .iter()
                .skip(first)
                .find(|r| r.replicas > scenario.starting_replicas())
                .map(|r| r.period + 1 - first),
            Measure::RemovedDuringBurst => {
                let drained = t.rows[first..]
                    .iter()
                    .find(|r| r.backlog() == 0)
                    .map_or(t.rows.len(), |r| r.period);
                Some(t.rows[first..drained].iter().map(removed).sum())
            }
            Measure::RemovedWhileBusy => Some(
                t.rows
                    .iter()
                    .map(|r| usize::try_from(r.interrupted).unwrap_or(usize::MAX))
                    .sum(),
            ),
        }
    }
}

/// Replicas scale-down's invocations removed in a period.
fn removed(r: &Row) -> usize {
    r.invocations()
        .iter()
        .filter(|(d, i)| *d == Direction::Down && i.applied && i.to < i.from)
        .map(|(_, i)| usize::try_from(i.from - i.to).unwrap_or(0))
        .sum()
}

/// One live-signal scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveScenario {
    /// For file names and deployments.
    pub id: &'static str,
    /// What happens, in a few words.
    pub title: &'static str,
    /// What it is judged by.
    pub measure: Measure,
    /// The run (`live_queue` is set by each run).
    pub scenario: Scenario,
}

impl LiveScenario {
    /// The scenario as run before (`false`: the alarm's datapoint) or after (`true`).
    pub fn run_as(&self, live: bool) -> Scenario {
        Scenario {
            live_queue: live,
            ..self.scenario.clone()
        }
    }
}

/// Both runs of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRun {
    /// The scenario.
    pub scenario: LiveScenario,
    /// The alarm's datapoint only.
    pub before: Timeline,
    /// The live read and the reconciling heartbeat.
    pub after: Timeline,
}

/// The wake alarm of a min-0 target, as the template makes it.
fn wake() -> Option<AlarmSpec> {
    Scenario::min_zero().wake
}

/// A morning burst on a queue idle all night, so its metrics have stopped: at 7:00 the first of
/// 200 messages a minute for 10 minutes arrive; SQS publishes the queue's datapoints again only
/// 15 minutes later. The team's policy (100 messages per replica, max 8) with `min`.
pub fn morning_burst(min: i32) -> Scenario {
    let mut arrivals = vec![0; 3];
    arrivals.extend([200; 10]);
    let base = Scenario::backlog_burst();
    Scenario {
        periods: 30,
        arrivals,
        policy: Policy { min, ..base.policy },
        wake: if min == 0 { wake() } else { None },
        heartbeat_every: Some(HEARTBEAT_EVERY),
        metrics: MetricDelivery::idle_overnight(METRIC_LAG),
        ..base
    }
}

/// The team's target at 6 replicas after a busy spell, its queue empty, so the low alarm is in
/// ALARM and steps down every minute; in minute 5 a batch of 1,000 messages arrives at once.
pub fn burst_during_low() -> Scenario {
    Scenario {
        periods: 30,
        arrivals: vec![0, 0, 0, 0, 1000],
        initial_replicas: Some(6),
        heartbeat_every: Some(HEARTBEAT_EVERY),
        metrics: MetricDelivery {
            lag: METRIC_LAG,
            ..MetricDelivery::immediate()
        },
        ..Scenario::backlog_burst()
    }
}

/// Long GPU jobs: 6 replicas each take one of 6 jobs of 10 minutes as they arrive, so nothing
/// is visible while all are busy. The low alarm watches visible messages only (fewer than 1 for
/// 3 of 3 minutes, a common choice); the high alarm more than 1 visible for 2 of 2. Policy: min
/// 0 (with the wake alarm), max 8, one message per replica.
pub fn long_jobs() -> Scenario {
    let base = Scenario::backlog_burst();
    Scenario {
        periods: 25,
        arrivals: vec![6],
        job_periods: 10,
        initial_replicas: Some(6),
        policy: Policy {
            min: 0,
            max: 8,
            step: 1,
            messages_per_replica: Some(1),
        },
        scale_up: AlarmSpec {
            threshold: 1.0,
            ..base.scale_up.clone()
        },
        scale_down: AlarmSpec {
            metric: Metric::Visible,
            comparison: Comparison::LessThan,
            threshold: 1.0,
            ..base.scale_down.clone()
        },
        wake: wake(),
        heartbeat_every: Some(HEARTBEAT_EVERY),
        metrics: MetricDelivery {
            lag: METRIC_LAG,
            ..MetricDelivery::immediate()
        },
        ..base
    }
}

/// The scenarios, in the order.
pub fn scenarios() -> Vec<LiveScenario> {
    vec![
        LiveScenario {
            id: "morning-min-0",
            title: "Morning burst on a queue idle overnight, min 0",
            measure: Measure::FirstNewReplica,
            scenario: morning_burst(0),
        },
        LiveScenario {
            id: "morning-min-2",
            title: "Morning burst on a queue idle overnight, min 2",
            measure: Measure::FirstNewReplica,
            scenario: morning_burst(2),
        },
        LiveScenario {
            id: "burst-during-low",
            title: "A burst while the low alarm is in ALARM",
            measure: Measure::RemovedDuringBurst,
            scenario: burst_during_low(),
        },
        LiveScenario {
            id: "long-jobs",
            title: "Long jobs in flight when the low alarm fires",
            measure: Measure::RemovedWhileBusy,
            scenario: long_jobs(),
        },
    ]
}

/// The table of one scenario's runs, as `docs/live-signal.md` shows it.
pub fn table(run: &LiveRun) -> String {
    let s = &run.scenario;
    let number = |n: Option<usize>| n.map_or_else(|| "never".to_owned(), |n| n.to_string());
    let measure = |t: &Timeline| number(s.measure.of(t, &s.scenario));
    let mut out = format!(
        "**{}**\n\n| | before: the alarm's datapoint | after: live read, reconciling heartbeat |\n| --- | --- | --- |\n",
        s.title
    );
    let mut line = |label: &str, f: &dyn Fn(&Timeline) -> String| {
        let _ = writeln!(
            out,
            "| {label} | {} | **{}** |",
            f(&run.before),
            f(&run.after)
        );
    };
    line(s.measure.label(), &measure);
    line("peak backlog (visible plus in flight)", &|t| {
        t.rows
            .iter()
            .map(Row::backlog)
            .max()
            .unwrap_or(0)
            .to_string()
    });
    line("most replicas", &|t| {
        t.rows
            .iter()
            .map(|r| r.replicas)
            .max()
            .unwrap_or(0)
            .to_string()
    });
    line("invocations (alarm events and heartbeats)", &|t| {
        t.rows
            .iter()
            .map(|r| r.invocations().len())
            .sum::<usize>()
            .to_string()
    });
    out
}

/// The file of a scenario's runs in `docs/simulation/`.
pub fn csv_name(id: &str) -> String {
    format!("live-{id}.csv")
}

/// Both runs as CSV, one line per period of each.
pub fn csv(run: &LiveRun) -> String {
    Timeline::fault_csv(&[("before", &run.before), ("after", &run.after)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::tests::run_in_memory;

    #[test]
    fn the_morning_bursts_metrics_come_back_15_minutes_after_the_first_message() {
        let scenario = morning_burst(0);
        let timeline = run_in_memory(&scenario, true);
        let woke = timeline
            .rows
            .iter()
            .find(|r| r.wake.is_some_and(|w| w.invocation.is_some()))
            .map(|r| r.period);
        assert_eq!(
            woke,
            Some(3 + 15),
            "the wake alarm sees the queue 15 minutes late"
        );
        assert_eq!(Measure::FirstNewReplica.of(&timeline, &scenario), Some(16));
    }

    #[test]
    fn long_jobs_hold_their_replica_for_ten_minutes_and_nothing_is_visible() {
        let scenario = long_jobs();
        let mut sim = crate::model::Simulation::new(scenario.clone());
        let (first, _) = sim.advance(6);
        assert_eq!((first.visible, first.in_flight), (0, 6));
        for _ in 1..9 {
            let (s, _) = sim.advance(6);
            assert_eq!((s.visible, s.in_flight, s.processed), (0, 6, 0));
        }
        let (s, _) = sim.advance(5);
        assert_eq!((s.interrupted, s.visible, s.in_flight), (1, 1, 5));
    }
}
