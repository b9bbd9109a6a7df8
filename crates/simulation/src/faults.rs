//! The fault scenarios of `docs/never-stuck.md` ("Proved by the simulation"): each a
//! [`Scenario`] with its faults, run once as the functions behave now and once as they behaved
//! before ([`crate::live::Behaviour`]).
//!
//! Pure: no I/O.

use crate::chart::{render_rows, Panel};
use crate::model::{Fault, FaultKind, Scenario};
use crate::timeline::{FaultSummary, Timeline};
use queue_scaler_core::Policy;
use std::fmt::Write as _;

/// One fault scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultScenario {
    /// Its number in the issue and the table in `docs/never-stuck.md` (`2'` for a variant of 2).
    pub number: &'static str,
    /// A short name, for file names and deployments: `gke-down`.
    pub id: &'static str,
    /// What happens, in a few words.
    pub title: &'static str,
    /// The run, as the functions behave now (heartbeat at the template's default, every 2
    /// minutes, unless a variant says otherwise; and the wake alarm for the min-0 target).
    pub scenario: Scenario,
    /// For a variant that differs from another scenario only in what the functions do now (the
    /// heartbeat's schedule): that scenario's id, whose run of today's behaviour stands for it.
    pub variant_of: Option<&'static str>,
}

impl FaultScenario {
    /// Whether its faults go through the control plane's admin API (503 answers, a lost answer),
    /// which clears every fault at once: such runs must not overlap.
    pub fn injects_into_control_plane(&self) -> bool {
        self.scenario
            .faults
            .iter()
            .any(|f| matches!(f.kind, FaultKind::ScaleApiDown | FaultKind::LostAnswer))
    }
}

/// A fault scenario's runs: as the functions behave now, and as they behaved before (none for a
/// variant).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRun {
    /// The scenario.
    pub scenario: FaultScenario,
    /// The functions as they are.
    pub new: Timeline,
    /// The functions as they were (see `live::Behaviour::Today`).
    pub today: Option<Timeline>,
}

fn with_faults(scenario: Scenario, faults: Vec<Fault>) -> Scenario {
    Scenario { faults, ..scenario }
}

fn fault(kind: FaultKind, start: usize, end: usize) -> Fault {
    Fault { kind, start, end }
}

/// The scenarios, in the order; the second three times: with the template's heartbeat
/// (every minute), every 5 minutes (an older default; it misses the goal of recovery within 2
/// periods), and every 2 minutes.
///
/// 1, 2, 3 and 5 share [`Scenario::sustained_load`]: 100 messages a minute from minute 3 to 23.
/// 1. The cluster's scale API answers 503 to every request from minute 4 to 14 (10 minutes),
///    while the backlog grows.
/// 2. CloudWatch refuses the functions' `SetAlarmState` from minute 5 to 20 (15 minutes). The
///    fault ends right after the heartbeat of minute 20 has run into it: the worst phase, a full
///    heartbeat interval to the next one (the same holds for the variants' schedules, 20 being
///    a multiple of 1, 2 and 5).
/// 3. An invalid configuration is live from minute 3 to 33 (30 minutes), then fixed.
/// 4. [`Scenario::min_zero`]: 5 messages arrive in minute 3 at zero replicas.
/// 5. The first write of the scale from minute 5 on (scale-up's first step) is applied but its
///    answer is lost.
pub fn scenarios() -> Vec<FaultScenario> {
    let load = Scenario::sustained_load;
    let refused = with_faults(load(), vec![fault(FaultKind::SetAlarmStateRefused, 5, 20)]);
    let scenario = |number, id, title, scenario| FaultScenario {
        number,
        id,
        title,
        scenario,
        variant_of: None,
    };
    vec![
        scenario(
            "1",
            "gke-down",
            "GKE scale API down (503) for 10 minutes while the backlog grows",
            with_faults(load(), vec![fault(FaultKind::ScaleApiDown, 4, 14)]),
        ),
        scenario(
            "2",
            "rearm-refused",
            "SetAlarmState refused for 15 minutes; heartbeat every minute",
            refused.clone(),
        ),
        FaultScenario {
            variant_of: Some("rearm-refused"),
            ..scenario(
                "2'",
                "rearm-refused-heartbeat-5min",
                "SetAlarmState refused for 15 minutes; heartbeat every 5 minutes",
                Scenario {
                    heartbeat_every: Some(5),
                    ..refused.clone()
                },
            )
        },
        FaultScenario {
            variant_of: Some("rearm-refused"),
            ..scenario(
                "2''",
                "rearm-refused-heartbeat-2min",
                "SetAlarmState refused for 15 minutes; heartbeat every 2 minutes",
                Scenario {
                    heartbeat_every: Some(2),
                    ..refused
                },
            )
        },
        scenario(
            "3",
            "bad-config",
            "Invalid configuration live for 30 minutes, then fixed",
            with_faults(load(), vec![fault(FaultKind::BadConfiguration, 3, 33)]),
        ),
        scenario(
            "4",
            "min-zero",
            "min 0: 5 messages arrive at zero replicas, then drain",
            with_faults(
                Scenario::min_zero(),
                vec![fault(FaultKind::MessagesAtZero, 3, 3)],
            ),
        ),
        scenario(
            "5",
            "lost-answer",
            "One write of the scale applied, its answer lost",
            with_faults(load(), vec![fault(FaultKind::LostAnswer, 5, 6)]),
        ),
    ]
}

/// The scenarios whose fault `make simulate` also moves through every phase of the heartbeat,
/// with the ids of the moved runs: scenario 2 at the template's heartbeat (every 2 minutes),
/// and 2' at the 5 minutes it had before.
const PHASE_IDS: [(&str, &[&str]); 2] = [
    ("rearm-refused", &["rearm-refused-phase-1"]),
    (
        "rearm-refused-heartbeat-5min",
        &[
            "rearm-refused-heartbeat-5min-phase-1",
            "rearm-refused-heartbeat-5min-phase-2",
            "rearm-refused-heartbeat-5min-phase-3",
            "rearm-refused-heartbeat-5min-phase-4",
        ],
    ),
];

/// The ids of the scenarios [`heartbeat_phases`] moves through the heartbeat's phases.
pub fn phased() -> Vec<&'static str> {
    PHASE_IDS.iter().map(|(id, _)| *id).collect()
}

/// Scenario `id` (one of [`phased`]) with the fault moved later by 1 minute, 2, ..., up to one
/// less than its heartbeat's interval, so that it ends 1, 2, ... minutes after the last
/// heartbeat it ran into (at 0 minutes, the scenario itself): how long recovery takes at each
/// phase of that heartbeat (`make simulate` only). Empty for any other id.
pub fn heartbeat_phases(id: &str) -> Vec<FaultScenario> {
    let Some((_, ids)) = PHASE_IDS.iter().find(|(of, _)| *of == id) else {
        return Vec::new();
    };
    let Some(base) = scenarios().into_iter().find(|s| s.id == id) else {
        return Vec::new();
    };
    let every = base.scenario.heartbeat_every.unwrap_or(1);
    ids.iter()
        .take(every.saturating_sub(1))
        .enumerate()
        .map(|(k, &id)| {
            let shifted = base
                .scenario
                .faults
                .iter()
                .map(|f| fault(f.kind, f.start + k + 1, f.end + k + 1))
                .collect();
            FaultScenario {
                id,
                variant_of: Some("rearm-refused"),
                scenario: with_faults(base.scenario.clone(), shifted),
                ..base.clone()
            }
        })
        .collect()
}

/// The minute of the run a period ends at: periods count from 0, minutes from 1.
fn minute(period: usize) -> usize {
    period + 1
}

/// What else differs between the runs of a scenario: the backlog's peak, and what the
/// scenario is about (the first replica and the zero rule for min 0, the writes of the
/// invocation whose answer was lost).
pub fn notes(run: &FaultRun) -> String {
    let new = &run.new;
    let summary = |t: &Timeline| t.fault_summary();
    let peak = |t: Option<&Timeline>| {
        t.and_then(summary)
            .map_or_else(|| "as in 2".to_owned(), |s| s.peak_backlog.to_string())
    };
    let mut notes = format!(
        "backlog peak {} · {}",
        peak(Some(new)),
        peak(run.today.as_ref())
    );
    let Some(fault) = new.faults.first() else {
        return notes;
    };
    match fault.kind {
        FaultKind::MessagesAtZero => {
            let first = |t: &Timeline| {
                t.first_serving(fault.start).map_or_else(
                    || "never".to_owned(),
                    |p| {
                        format!(
                            "minute {} ({} after they arrive)",
                            minute(p),
                            periods(p + 1 - fault.start)
                        )
                    },
                )
            };
            let _ = write!(
                notes,
                "; first replica: {} · {}",
                first(new),
                run.today.as_ref().map_or_else(String::new, first)
            );
            let zero_at = new.rows.iter().skip(fault.start).find(|r| {
                r.scale_down
                    .invocation
                    .is_some_and(|i| i.applied && i.to == 0)
            });
            if let Some(r) = zero_at {
                let _ = write!(
                    notes,
                    "; back to 0 at minute {} with {} messages visible or in flight",
                    minute(r.period),
                    r.backlog()
                );
            }
            if let Some((period, from, backlog)) = first_zero_before_the_rule(new) {
                let _ = write!(
                    notes,
                    "; today's scale-down rule would have set {from} → 0 at minute {} with {backlog} messages waiting (derived)",
                    minute(period)
                );
            }
        }
        FaultKind::LostAnswer => {
            let lost = |t: &Timeline| {
                t.rows
                    .get(fault.start)
                    .and_then(|r| r.scale_up.invocation)
                    .map_or_else(
                        || "none".to_owned(),
                        |i| {
                            format!(
                                "{} → {} in {} write{}",
                                i.from,
                                i.to,
                                i.writes,
                                if i.writes == 1 { "" } else { "s" }
                            )
                        },
                    )
            };
            let _ = write!(
                notes,
                "; the invocation whose answer was lost: {} · {} (emulated)",
                lost(new),
                run.today.as_ref().map_or_else(String::new, lost)
            );
        }
        _ => {}
    }
    notes
}

fn periods(n: usize) -> String {
    format!("{n} period{}", if n == 1 { "" } else { "s" })
}

/// The first scale-down invocation of a run where the rule before the zero rule
/// ([`scale_down_before_zero_rule`]) would have set 0 while messages were waiting or in flight:
/// its period, the replicas it found, the backlog.
pub fn first_zero_before_the_rule(t: &Timeline) -> Option<(usize, i32, u64)> {
    t.rows.iter().find_map(|r| {
        let i = r.scale_down.invocation?;
        let backlog = r.backlog();
        // Counts are far below 2^52, where f64 is exact.
        let old = scale_down_before_zero_rule(i.from, Some(backlog as f64), &t.policy);
        (i.failed.is_none() && i.from > 0 && backlog > 0 && old == 0)
            .then_some((r.period, i.from, backlog))
    })
}

/// The table in `docs/never-stuck.md`: one row per scenario, the functions as they are beside how they were.
pub fn table(runs: &[FaultRun]) -> String {
    let mut out = String::from(
        "| # | scenario | periods from the fault's end to recovery: new · today | invocations: new · today | final replicas: new · today | also: new · today |\n\
         | --- | --- | --- | --- | --- | --- |\n",
    );
    let of = |s: Option<FaultSummary>, f: &dyn Fn(&FaultSummary) -> String| {
        s.as_ref().map_or_else(|| "as in 2".to_owned(), f)
    };
    for run in runs {
        let new = run.new.fault_summary();
        let today = run.today.as_ref().and_then(Timeline::fault_summary);
        let recovery = |s: &FaultSummary| s.recovery.describe();
        let invocations = |s: &FaultSummary| {
            let mut text = s.invocations.to_string();
            if s.failed > 0 {
                let _ = write!(text, " ({} failed)", s.failed);
            }
            text
        };
        let replicas = |s: &FaultSummary| {
            if s.final_backlog > 0 {
                format!("{} ({} messages left)", s.final_replicas, s.final_backlog)
            } else {
                s.final_replicas.to_string()
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} | **{}** · {} | {} · {} | {} · {} | {} |",
            run.scenario.number,
            run.scenario.title,
            of(new, &recovery),
            of(today, &recovery),
            of(new, &invocations),
            of(today, &invocations),
            of(new, &replicas),
            of(today, &replicas),
            notes(run),
        );
    }
    out
}

/// The faults chart: a row per scenario, the functions as they are on the left and as they were
/// on the right; the variants of a scenario side by side in the row after it.
pub fn chart(runs: &[FaultRun]) -> Result<String, crate::Error> {
    struct Drawn<'a> {
        title: String,
        lines: Vec<String>,
        timeline: &'a Timeline,
        threshold: f64,
    }
    let describe = |run: &FaultRun, t: &Timeline, label: &str| {
        let title = format!("{}. {label}", run.scenario.number);
        let Some(s) = t.fault_summary() else {
            return (title, Vec::new());
        };
        let heartbeat = match t.heartbeat_every {
            Some(1) => "heartbeat every minute".to_owned(),
            Some(n) => format!("heartbeat every {n} minutes"),
            None => "no heartbeat".to_owned(),
        };
        let since = match t.faults.first().map(|f| f.kind) {
            Some(FaultKind::MessagesAtZero) => "after the messages arrived",
            _ => "after the fault's end",
        };
        let lines = vec![
            run.scenario.title.to_owned(),
            format!(
                "recovery: {} {since}; final replicas {}",
                s.recovery.describe(),
                s.final_replicas
            ),
            format!(
                "{} invocations ({} failed), {heartbeat}; backlog peak {}",
                s.invocations, s.failed, s.peak_backlog
            ),
        ];
        (title, lines)
    };
    let mut rows: Vec<Vec<Drawn<'_>>> = Vec::new();
    let mut variants: Vec<Drawn<'_>> = Vec::new();
    let threshold = |run: &FaultRun| run.scenario.scenario.scale_up.threshold;
    for run in runs {
        if run.scenario.variant_of.is_some() {
            let label = match run.new.heartbeat_every {
                Some(1) => "new, heartbeat every minute".to_owned(),
                Some(n) => format!("new, heartbeat every {n} minutes"),
                None => "new".to_owned(),
            };
            let (title, lines) = describe(run, &run.new, &label);
            variants.push(Drawn {
                title,
                lines,
                timeline: &run.new,
                threshold: threshold(run),
            });
            continue;
        }
        if !variants.is_empty() {
            rows.push(std::mem::take(&mut variants));
        }
        let mut row = Vec::new();
        let (title, lines) = describe(run, &run.new, "new: as the functions are");
        row.push(Drawn {
            title,
            lines,
            timeline: &run.new,
            threshold: threshold(run),
        });
        if let Some(today) = &run.today {
            let (title, lines) = describe(run, today, "today: as they were");
            row.push(Drawn {
                title,
                lines,
                timeline: today,
                threshold: threshold(run),
            });
        }
        rows.push(row);
    }
    if !variants.is_empty() {
        rows.push(variants);
    }
    let panels: Vec<Vec<Panel<'_>>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|d| Panel {
                    title: &d.title,
                    subtitle: &d.lines,
                    timeline: d.timeline,
                    threshold: d.threshold,
                })
                .collect()
        })
        .collect();
    render_rows(&panels)
}

/// Scale-down's rule before the zero rule: `clamp(max(ceil(backlog / mpr), current - step),
/// min, max)`, never above `current`, with no floor of 1 while messages wait. For the
/// "today" note in `docs/never-stuck.md`'s table on the min-0 scenario, applied to the datapoints of the new run.
pub fn scale_down_before_zero_rule(current: i32, backlog: Option<f64>, policy: &Policy) -> i32 {
    let stepped = current.saturating_sub(policy.step);
    let wanted = match (backlog, policy.messages_per_replica) {
        // Counts in a simulation are small, whole and non-negative.
        (Some(b), Some(per)) => stepped.max((b / f64::from(per)).ceil() as i32),
        _ => stepped,
    };
    wanted.clamp(policy.min, policy.max).min(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use queue_scaler_core::{decide, Backlog, Direction};

    #[test]
    fn every_scenario_has_a_fault_within_its_run() {
        let all = scenarios();
        assert_eq!(all.len(), 7);
        for s in &all {
            assert!(!s.scenario.faults.is_empty(), "{}", s.id);
            for f in &s.scenario.faults {
                assert!(f.start <= f.end && f.end < s.scenario.periods, "{}", s.id);
            }
            assert!(s.scenario.heartbeat_every.is_some(), "{}", s.id);
        }
        let zero = all.iter().find(|s| s.id == "min-zero").unwrap();
        assert!(zero.scenario.wake.is_some());
        assert_eq!(zero.scenario.policy.min, 0);
    }

    #[test]
    fn the_refused_rearm_ends_right_after_a_heartbeat_that_ran_into_it() {
        for fs in scenarios()
            .iter()
            .filter(|s| s.id.starts_with("rearm-refused"))
        {
            let s = &fs.scenario;
            let every = s.heartbeat_every.unwrap();
            let f = s.faults[0];
            assert!(
                s.heartbeat_due(f.end - 1),
                "{}: a heartbeat in the fault's last period",
                fs.id
            );
            assert!(
                !(f.end..f.end + every - 1).any(|p| s.heartbeat_due(p)),
                "{}",
                fs.id
            );
            assert!(s.heartbeat_due(f.end + every - 1), "{}", fs.id);
        }
    }

    #[test]
    fn the_phases_move_the_fault_one_minute_at_a_time_through_the_heartbeats_interval() {
        assert_eq!(
            phased(),
            vec!["rearm-refused", "rearm-refused-heartbeat-5min"]
        );
        for id in phased() {
            let base = scenarios().into_iter().find(|s| s.id == id).unwrap();
            let every = base.scenario.heartbeat_every.unwrap();
            let f0 = base.scenario.faults[0];
            let phases = heartbeat_phases(id);
            assert_eq!(phases.len(), every - 1, "{id}: every phase but the base's");
            for (k, fs) in phases.iter().enumerate() {
                let f = fs.scenario.faults[0];
                assert_eq!((f.start, f.end), (f0.start + k + 1, f0.end + k + 1));
                assert_eq!(fs.variant_of, Some("rearm-refused"));
                assert_eq!(fs.scenario.heartbeat_every, Some(every));
                assert!(fs.id.starts_with(id), "{}", fs.id);
            }
        }
        assert_eq!(
            scenarios()[1].scenario.heartbeat_every,
            Some(crate::model::HEARTBEAT_EVERY),
            "scenario 2 runs at the template's heartbeat"
        );
        assert!(heartbeat_phases("gke-down").is_empty());
    }

    #[test]
    fn the_old_scale_down_rule_is_the_new_one_without_its_floor_of_one() {
        let policy = Policy {
            min: 0,
            max: 4,
            step: 1,
            messages_per_replica: None,
        };
        assert_eq!(scale_down_before_zero_rule(1, Some(3.0), &policy), 0);
        assert_eq!(
            decide(Direction::Down, 1, Backlog::Alarm(Some(3.0)), None, &policy).desired,
            1
        );
        for current in 0..=4 {
            for backlog in [0.0, 50.0, 250.0] {
                let with_mpr = Policy {
                    min: 1,
                    messages_per_replica: Some(100),
                    ..policy
                };
                assert_eq!(
                    scale_down_before_zero_rule(current, Some(backlog), &with_mpr),
                    decide(
                        Direction::Down,
                        current,
                        Backlog::Alarm(Some(backlog)),
                        None,
                        &with_mpr
                    )
                    .desired,
                    "with min 1 the rules agree"
                );
            }
        }
    }
}
