//! What a run recorded, period by period, and what it adds up to: the CSV timelines in
//! `docs/simulation/`, the numbers `docs/rearm.md` quotes, and for a run with a fault, when the
//! loop recovered ([`Timeline::recovery`], defined in `docs/never-stuck.md`).
//!
//! Pure: no I/O.

use crate::model::{AlarmKind, Fault};
use queue_scaler_core::{AlarmState, Direction, Policy};
use queue_scaler_io::ErrorClass;
use std::fmt::Write as _;

/// One invocation of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invocation {
    /// Replicas the function read (for a failed invocation: the cluster's, before it).
    pub from: i32,
    /// Replicas it decided (for a failed invocation: the cluster's, after it).
    pub to: i32,
    /// Whether it wrote a change.
    pub applied: bool,
    /// Whether the alarm was in OK afterwards (the function re-armed it). For a heartbeat: it
    /// acted on some alarm, and none of its function's alarms is in ALARM afterwards.
    pub rearmed: bool,
    /// The class of the error it returned; `None` when it succeeded.
    pub failed: Option<ErrorClass>,
    /// Writes of the scale that the cluster applied during it: counted from the cluster's
    /// request log in runs with a lost answer, otherwise 1 when `applied`.
    pub writes: u32,
}

impl Invocation {
    /// A successful invocation from `from` to `to`, one write when they differ.
    pub fn done(from: i32, to: i32, rearmed: bool) -> Self {
        Invocation {
            from,
            to,
            applied: from != to,
            rearmed,
            failed: None,
            writes: u32::from(from != to),
        }
    }

    /// The CSV cell: `2->3`, then ` failed:Class` or ` writes:N` when there is more to say.
    fn cell(&self) -> String {
        let mut cell = format!("{}->{}", self.from, self.to);
        if let Some(class) = self.failed {
            let _ = write!(cell, " failed:{class}");
        }
        if self.writes != u32::from(self.applied) {
            let _ = write!(cell, " writes:{}", self.writes);
        }
        cell
    }
}

/// One alarm in one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlarmCell {
    /// The state the period's evaluation left it in.
    pub state: AlarmState,
    /// The invocation its change to ALARM caused, if any.
    pub invocation: Option<Invocation>,
    /// Its state at the period's end, after the invocation and the heartbeat.
    pub end: AlarmState,
}

/// One heartbeat invocation of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beat {
    /// Alarms it found in ALARM and acted on (as its result lists them).
    pub acted: usize,
    /// What it did to the replicas, and whether it failed.
    pub invocation: Invocation,
}

/// One period of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The period, from 0; one period is one minute.
    pub period: usize,
    /// Messages sent in the period.
    pub arrivals: u64,
    /// Visible messages at its end.
    pub visible: u64,
    /// In-flight messages at its end.
    pub in_flight: u64,
    /// Long jobs whose replica was removed while it held them (visible again).
    pub interrupted: u64,
    /// Replicas that took work in it.
    pub ready_replicas: i32,
    /// Replicas the deployment had at its end, after any invocation.
    pub replicas: i32,
    /// The scale-up alarm.
    pub scale_up: AlarmCell,
    /// The scale-down alarm.
    pub scale_down: AlarmCell,
    /// The wake alarm, when the run has one.
    pub wake: Option<AlarmCell>,
    /// The heartbeat's invocations at the period's end: scale-up, scale-down.
    pub heartbeat: [Option<Beat>; 2],
    /// Whether a fault was in effect during the period.
    pub fault: bool,
}

impl Row {
    /// Visible plus in flight.
    pub fn backlog(&self) -> u64 {
        self.visible + self.in_flight
    }

    /// The alarm of a direction: high for up, low for down.
    pub fn alarm(&self, direction: Direction) -> &AlarmCell {
        match direction {
            Direction::Up => &self.scale_up,
            Direction::Down => &self.scale_down,
        }
    }

    /// The alarm of a kind, when the run has it.
    pub fn cell(&self, kind: AlarmKind) -> Option<&AlarmCell> {
        match kind {
            AlarmKind::High => Some(&self.scale_up),
            AlarmKind::Low => Some(&self.scale_down),
            AlarmKind::Wake => self.wake.as_ref(),
        }
    }

    /// Every invocation in the period, alarm events and heartbeats, with its function.
    pub fn invocations(&self) -> Vec<(Direction, Invocation)> {
        let mut all: Vec<(Direction, Invocation)> = AlarmKind::ALL
            .into_iter()
            .filter_map(|k| Some((k.direction(), self.cell(k)?.invocation?)))
            .collect();
        all.extend(
            [Direction::Up, Direction::Down]
                .into_iter()
                .zip(self.heartbeat)
                .filter_map(|(d, b)| Some((d, b?.invocation))),
        );
        all
    }

    /// Whether the loop is running as it does without a fault at the end of this period: no
    /// alarm is left in ALARM (except a wake alarm while replicas run, which scale-up leaves
    /// there on purpose), no invocation in the period failed, and replicas run while messages
    /// wait.
    pub fn healthy(&self) -> bool {
        let armed = AlarmKind::ALL.into_iter().all(|k| match self.cell(k) {
            Some(cell) if cell.end == AlarmState::Alarm => {
                k == AlarmKind::Wake && self.replicas > 0
            }
            _ => true,
        });
        let nothing_failed = self.invocations().iter().all(|(_, i)| i.failed.is_none());
        let serving = self.backlog() == 0 || self.replicas > 0;
        armed && nothing_failed && serving
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Whether the functions re-armed their alarms (`REARM_ALARM`).
    pub rearm: bool,
    /// The target's policy.
    pub policy: Policy,
    /// Every period, in order.
    pub rows: Vec<Row>,
    /// What went wrong in the run, and when.
    pub faults: Vec<Fault>,
    /// Periods between heartbeats; `None`: the run had none.
    pub heartbeat_every: Option<usize>,
}

/// What ended a fault's effect, in the period of recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveredBy {
    /// An alarm's event invoked a function, which acted and re-armed its alarm.
    AlarmEvent,
    /// The heartbeat found an alarm in ALARM, acted on it and re-armed it.
    Heartbeat,
    /// No invocation: the alarm left ALARM at its own evaluation, once the backlog no longer
    /// met its condition.
    ByItself,
}

/// When a run recovered from its faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// The first period after the last fault (its end).
    pub fault_end: usize,
    /// The first period, from `fault_end` on, at whose end the loop is healthy
    /// ([`Row::healthy`]); `None`: not within the run.
    pub at: Option<usize>,
    /// What did it.
    pub by: Option<RecoveredBy>,
}

impl Recovery {
    /// Periods from the fault's end to the end of the period of recovery: 1 when the first
    /// evaluation after the fault finds the loop healthy.
    pub fn periods(&self) -> Option<usize> {
        Some(self.at? + 1 - self.fault_end)
    }

    /// `1 period`, `5 periods (heartbeat)`, or `not within the run`.
    pub fn describe(&self) -> String {
        match (self.periods(), self.by) {
            (Some(n), by) => {
                let how = match by {
                    Some(RecoveredBy::Heartbeat) => " (heartbeat)",
                    Some(RecoveredBy::ByItself) => " (by itself)",
                    _ => "",
                };
                format!("{n} period{}{how}", if n == 1 { "" } else { "s" })
            }
            (None, _) => "not within the run".into(),
        }
    }
}

/// What a run with faults adds up to: the table in `docs/never-stuck.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultSummary {
    /// When it recovered.
    pub recovery: Recovery,
    /// Invocations of both functions: alarm events and heartbeats.
    pub invocations: usize,
    /// Of those, the heartbeat's.
    pub heartbeats: usize,
    /// Of those, the ones that returned an error.
    pub failed: usize,
    /// Replicas at the end of the run.
    pub final_replicas: i32,
    /// Messages left (visible plus in flight) at the end of the run.
    pub final_backlog: u64,
    /// The largest backlog.
    pub peak_backlog: u64,
    /// The most replicas at any period's end.
    pub peak_replicas: i32,
    /// The first period, from the backlog's peak on, with nothing left to do.
    pub drained_at: Option<usize>,
}

/// What one direction did in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirectionSummary {
    /// Every invocation of the function.
    pub invocations: usize,
    /// Invocations that changed the replica count.
    pub changes: usize,
    /// Invocations that found the deployment at the bound (max for up, min for down) already.
    pub at_bound: usize,
    /// The period of the first invocation that changed something.
    pub first_change: Option<usize>,
    /// The first period, from `first_change` on, that ended at the bound.
    pub reached_bound: Option<usize>,
    /// Invocations from `first_change` to `reached_bound`, both included.
    pub invocations_to_bound: usize,
}

impl DirectionSummary {
    /// Periods from the first change to reaching the bound, both included.
    pub fn periods_to_bound(&self) -> Option<usize> {
        Some(self.reached_bound? - self.first_change? + 1)
    }
}

/// The numbers of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Scale-up.
    pub up: DirectionSummary,
    /// Scale-down.
    pub down: DirectionSummary,
    /// The largest backlog (visible plus in flight).
    pub peak_backlog: u64,
    /// Periods with more than `threshold` visible messages.
    pub periods_over_threshold: usize,
    /// The first period, after the peak, with nothing left to do.
    pub drained_at: Option<usize>,
    /// The fewest and most replicas at any period's end.
    pub replicas_range: (i32, i32),
}

impl Summary {
    /// Invocations of both functions.
    pub fn invocations(&self) -> usize {
        self.up.invocations + self.down.invocations
    }

    /// The run in three lines: how each direction went, and what it cost.
    pub fn lines(&self, policy: &Policy) -> Vec<String> {
        fn count(n: usize) -> String {
            format!("{n} invocation{}", if n == 1 { "" } else { "s" })
        }
        let (low, high) = self.replicas_range;
        let up = match self.up.periods_to_bound() {
            Some(periods) => format!(
                "scale-up: {} → {} in {periods} periods, {}; {} more at max",
                policy.min,
                policy.max,
                count(self.up.invocations_to_bound),
                self.up.at_bound
            ),
            None => format!(
                "scale-up: stalled at {high} after {}",
                count(self.up.invocations)
            ),
        };
        let down = match self.down.periods_to_bound() {
            Some(periods) => format!(
                "scale-down: {high} → {} in {periods} period{}, {}; {} at min with nothing to change",
                policy.min,
                if periods == 1 { "" } else { "s" },
                count(self.down.invocations_to_bound),
                self.down.at_bound
            ),
            None => format!(
                "scale-down: stalled at {low} after {}",
                count(self.down.invocations)
            ),
        };
        let total = format!(
            "{} in all; backlog peaked at {}, {} periods over the threshold",
            count(self.invocations()),
            self.peak_backlog,
            self.periods_over_threshold
        );
        vec![up, down, total]
    }

    /// [`Summary::lines`] in one line.
    pub fn describe(&self, policy: &Policy) -> String {
        self.lines(policy).join("; ")
    }
}

impl Timeline {
    /// Add up a run; `threshold` is the scale-up alarm's.
    pub fn summary(&self, threshold: f64) -> Summary {
        let peak_at = self
            .rows
            .iter()
            .enumerate()
            .max_by_key(|(i, r)| (r.backlog(), std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let replicas = self.rows.iter().map(|r| r.replicas);
        Summary {
            up: self.direction(Direction::Up, 0),
            down: self.direction(Direction::Down, peak_at),
            peak_backlog: self.rows.iter().map(Row::backlog).max().unwrap_or(0),
            // Counts are far below 2^52, where f64 is exact.
            periods_over_threshold: self
                .rows
                .iter()
                .filter(|r| r.visible as f64 > threshold)
                .count(),
            drained_at: self.rows[peak_at..]
                .iter()
                .find(|r| r.backlog() == 0)
                .map(|r| r.period),
            replicas_range: (
                replicas.clone().min().unwrap_or(0),
                replicas.max().unwrap_or(0),
            ),
        }
    }

    /// One direction's numbers, looking for its first change from period `from` on (scale-down
    /// counts from the peak, so the quiet start, where it already sits at min, is left out).
    fn direction(&self, direction: Direction, from: usize) -> DirectionSummary {
        let bound = match direction {
            Direction::Up => self.policy.max,
            Direction::Down => self.policy.min,
        };
        let invocations: Vec<(usize, Invocation)> = self
            .rows
            .iter()
            .filter_map(|r| Some((r.period, r.alarm(direction).invocation?)))
            .collect();
        let first_change = invocations
            .iter()
            .find(|(p, i)| *p >= from && i.applied)
            .map(|(p, _)| *p);
        let reached_bound = first_change.and_then(|first| {
            self.rows[first..]
                .iter()
                .find(|r| r.replicas == bound)
                .map(|r| r.period)
        });
        let invocations_to_bound = match (first_change, reached_bound) {
            (Some(a), Some(b)) => invocations
                .iter()
                .filter(|(p, _)| (a..=b).contains(p))
                .count(),
            _ => 0,
        };
        DirectionSummary {
            invocations: invocations.len(),
            changes: invocations.iter().filter(|(_, i)| i.applied).count(),
            at_bound: invocations
                .iter()
                .filter(|(_, i)| !i.applied && i.from == bound)
                .count(),
            first_change,
            reached_bound,
            invocations_to_bound,
        }
    }

    /// The first period after the last fault; `None` without faults.
    pub fn fault_end(&self) -> Option<usize> {
        self.faults.iter().map(|f| f.end).max()
    }

    /// When the run recovered from its faults (`None` without faults): the first period, from
    /// the last fault's end on, at whose end [`Row::healthy`] holds.
    pub fn recovery(&self) -> Option<Recovery> {
        let fault_end = self.fault_end()?;
        let row = self.rows.iter().skip(fault_end).find(|r| r.healthy());
        let by = row.map(|r| {
            let acted = |i: &Invocation| i.failed.is_none() && (i.rearmed || i.applied);
            if r.heartbeat
                .iter()
                .flatten()
                .any(|b| b.acted > 0 && acted(&b.invocation))
            {
                RecoveredBy::Heartbeat
            } else if AlarmKind::ALL
                .into_iter()
                .filter_map(|k| r.cell(k)?.invocation)
                .any(|i| acted(&i))
            {
                RecoveredBy::AlarmEvent
            } else {
                RecoveredBy::ByItself
            }
        });
        Some(Recovery {
            fault_end,
            at: row.map(|r| r.period),
            by,
        })
    }

    /// The numbers of a run with faults.
    pub fn fault_summary(&self) -> Option<FaultSummary> {
        let invocations: Vec<(Direction, Invocation)> =
            self.rows.iter().flat_map(Row::invocations).collect();
        let last = self.rows.last()?;
        Some(FaultSummary {
            recovery: self.recovery()?,
            invocations: invocations.len(),
            heartbeats: self
                .rows
                .iter()
                .flat_map(|r| r.heartbeat.iter().flatten())
                .count(),
            failed: invocations
                .iter()
                .filter(|(_, i)| i.failed.is_some())
                .count(),
            final_replicas: last.replicas,
            final_backlog: last.backlog(),
            peak_backlog: self.rows.iter().map(Row::backlog).max().unwrap_or(0),
            peak_replicas: self.rows.iter().map(|r| r.replicas).max().unwrap_or(0),
            drained_at: self.summary(0.0).drained_at,
        })
    }

    /// Periods in which an invocation took the replicas to 0 while messages were still waiting
    /// or in flight (the zero rule forbids it).
    pub fn zero_while_waiting(&self) -> Vec<usize> {
        self.rows
            .iter()
            .filter(|r| {
                r.backlog() > 0
                    && r.invocations()
                        .iter()
                        .any(|(_, i)| i.applied && i.to == 0 && i.from > 0)
            })
            .map(|r| r.period)
            .collect()
    }

    /// The first period, from `from` on, at whose end at least one replica runs.
    pub fn first_serving(&self, from: usize) -> Option<usize> {
        self.rows
            .iter()
            .skip(from)
            .find(|r| r.replicas > 0)
            .map(|r| r.period)
    }

    /// The fault-scenario CSV: one line per period of each named run, with the fault, the
    /// wake alarm, each alarm's state at the period's end and the heartbeat's invocations.
    pub fn fault_csv(runs: &[(&str, &Timeline)]) -> String {
        let mut out = String::from(
            "run,period,fault,arrivals,visible,in_flight,backlog,ready_replicas,replicas,\
             high_alarm,high_invocation,high_end,low_alarm,low_invocation,low_end,\
             wake_alarm,wake_invocation,wake_end,heartbeat_up,heartbeat_down\n",
        );
        let cell = |c: Option<&AlarmCell>| match c {
            Some(c) => format!(
                "{},{},{}",
                c.state,
                c.invocation.map(|i| i.cell()).unwrap_or_default(),
                c.end
            ),
            None => ",,".into(),
        };
        let beat = |b: &Option<Beat>| match b {
            Some(b) if b.acted == 0 && b.invocation.failed.is_none() && !b.invocation.applied => {
                "nothing in ALARM".into()
            }
            // Scale-up's heartbeat raised a target from its live backlog, no alarm in ALARM.
            Some(b) if b.acted == 0 && b.invocation.failed.is_none() => {
                format!("reconciled {}", b.invocation.cell())
            }
            Some(b) => format!("acted:{} {}", b.acted, b.invocation.cell()),
            None => String::new(),
        };
        for (name, timeline) in runs {
            for r in &timeline.rows {
                let _ = writeln!(
                    out,
                    "{name},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    r.period,
                    u8::from(r.fault),
                    r.arrivals,
                    r.visible,
                    r.in_flight,
                    r.backlog(),
                    r.ready_replicas,
                    r.replicas,
                    cell(Some(&r.scale_up)),
                    cell(Some(&r.scale_down)),
                    cell(r.wake.as_ref()),
                    beat(&r.heartbeat[0]),
                    beat(&r.heartbeat[1]),
                );
            }
        }
        out
    }

    /// The timeline as CSV, one line per period.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "period,arrivals,visible,in_flight,backlog,ready_replicas,replicas,\
             scale_up_alarm,scale_up_invocation,scale_up_rearmed,\
             scale_down_alarm,scale_down_invocation,scale_down_rearmed\n",
        );
        let cell = |c: &AlarmCell| match c.invocation {
            Some(i) => format!("{},{}->{},{}", c.state, i.from, i.to, i.rearmed),
            None => format!("{},,", c.state),
        };
        for r in &self.rows {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{}",
                r.period,
                r.arrivals,
                r.visible,
                r.in_flight,
                r.backlog(),
                r.ready_replicas,
                r.replicas,
                cell(&r.scale_up),
                cell(&r.scale_down),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(period: usize, visible: u64, replicas: i32) -> Row {
        let quiet = AlarmCell {
            state: AlarmState::Ok,
            invocation: None,
            end: AlarmState::Ok,
        };
        Row {
            period,
            arrivals: 0,
            visible,
            in_flight: 0,
            interrupted: 0,
            ready_replicas: replicas,
            replicas,
            scale_up: quiet,
            scale_down: quiet,
            wake: None,
            heartbeat: [None, None],
            fault: false,
        }
    }

    fn fired(from: i32, to: i32) -> AlarmCell {
        AlarmCell {
            state: AlarmState::Alarm,
            invocation: Some(Invocation::done(from, to, true)),
            end: AlarmState::Ok,
        }
    }

    fn timeline() -> Timeline {
        let mut rows = vec![row(0, 0, 2), row(1, 200, 3), row(2, 300, 4), row(3, 0, 4)];
        rows[0].scale_down = fired(2, 2);
        rows[1].scale_up = fired(2, 3);
        rows[2].scale_up = fired(3, 4);
        rows[3].scale_up = fired(4, 4);
        rows.push(row(4, 0, 3));
        rows[4].scale_down = fired(4, 3);
        rows.push(row(5, 0, 2));
        rows[5].scale_down = fired(3, 2);
        Timeline {
            rearm: true,
            policy: Policy {
                min: 2,
                max: 4,
                step: 1,
                messages_per_replica: None,
            },
            rows,
            faults: Vec::new(),
            heartbeat_every: None,
        }
    }

    #[test]
    fn the_summary_counts_invocations_changes_and_periods_to_each_bound() {
        let s = timeline().summary(100.0);
        assert_eq!(s.up.invocations, 3);
        assert_eq!(s.up.changes, 2);
        assert_eq!(s.up.at_bound, 1);
        assert_eq!((s.up.first_change, s.up.reached_bound), (Some(1), Some(2)));
        assert_eq!(s.up.periods_to_bound(), Some(2));
        assert_eq!(s.up.invocations_to_bound, 2);
        assert_eq!(s.down.invocations, 3);
        assert_eq!(s.down.at_bound, 1, "the quiet start, at min already");
        assert_eq!(
            (s.down.first_change, s.down.reached_bound),
            (Some(4), Some(5))
        );
        assert_eq!(s.peak_backlog, 300);
        assert_eq!(s.periods_over_threshold, 2);
        assert_eq!(s.drained_at, Some(3));
        assert_eq!(s.replicas_range, (2, 4));
    }

    fn failed(from: i32) -> AlarmCell {
        AlarmCell {
            state: AlarmState::Alarm,
            invocation: Some(Invocation {
                failed: Some(ErrorClass::Retryable),
                ..Invocation::done(from, from, true)
            }),
            end: AlarmState::Ok,
        }
    }

    fn stuck() -> AlarmCell {
        AlarmCell {
            state: AlarmState::Alarm,
            invocation: None,
            end: AlarmState::Alarm,
        }
    }

    /// Six periods: a fault in periods 1 and 2, whose invocations fail.
    fn faulted(third: AlarmCell, fourth: AlarmCell) -> Timeline {
        let mut t = timeline();
        t.faults = vec![Fault {
            kind: crate::model::FaultKind::ScaleApiDown,
            start: 1,
            end: 3,
        }];
        t.rows[1].scale_up = failed(2);
        t.rows[2].scale_up = failed(2);
        t.rows[3].scale_up = third;
        t.rows[3].visible = 300;
        t.rows[4].scale_up = fourth;
        t.rows[4].visible = 300;
        t.rows[4].scale_down = AlarmCell {
            state: AlarmState::Ok,
            invocation: None,
            end: AlarmState::Ok,
        };
        t
    }

    #[test]
    fn recovery_is_the_first_healthy_period_from_the_faults_end() {
        let quiet = row(0, 0, 2).scale_up;
        let t = faulted(fired(2, 3), fired(3, 4));
        let r = t.recovery().unwrap();
        assert_eq!((r.fault_end, r.at, r.periods()), (3, Some(3), Some(1)));
        assert_eq!(r.by, Some(RecoveredBy::AlarmEvent));

        let t = faulted(failed(2), fired(2, 3));
        assert_eq!(
            t.recovery().unwrap().periods(),
            Some(2),
            "a failure is not healthy"
        );

        let t = faulted(stuck(), quiet);
        let r = t.recovery().unwrap();
        assert_eq!(
            r.periods(),
            Some(2),
            "an alarm left in ALARM is not healthy"
        );
        assert_eq!(r.by, Some(RecoveredBy::ByItself));

        let mut t = faulted(stuck(), stuck());
        t.rows[4].heartbeat[0] = Some(Beat {
            acted: 1,
            invocation: Invocation::done(2, 3, true),
        });
        t.rows[4].scale_up.end = AlarmState::Ok;
        let r = t.recovery().unwrap();
        assert_eq!((r.periods(), r.by), (Some(2), Some(RecoveredBy::Heartbeat)));

        let mut t = faulted(stuck(), stuck());
        t.rows[5].scale_up = stuck();
        let r = t.recovery().unwrap();
        assert_eq!(r.at, None, "still stuck in the last period");
        assert_eq!(r.describe(), "not within the run");
        assert_eq!(
            timeline().recovery(),
            None,
            "no fault, nothing to recover from"
        );
    }

    #[test]
    fn messages_at_zero_replicas_are_not_healthy_and_zero_with_messages_is_found() {
        let mut t = timeline();
        t.rows[1].replicas = 0;
        assert!(!t.rows[1].healthy(), "200 visible at zero replicas");
        t.rows[1].scale_down = fired(1, 0);
        assert_eq!(t.zero_while_waiting(), vec![1]);
        assert_eq!(t.first_serving(1), Some(2));
    }

    #[test]
    fn the_fault_csv_names_the_run_and_each_failure() {
        let t = faulted(fired(2, 3), fired(3, 4));
        let csv = Timeline::fault_csv(&[("new", &t)]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 7);
        assert_eq!(
            lines[2],
            "new,1,0,0,200,0,200,3,3,ALARM,2->2 failed:Retryable,OK,OK,,OK,,,,,"
        );
    }

    #[test]
    fn the_csv_has_a_line_per_period_and_names_each_invocation() {
        let csv = timeline().to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 7);
        assert!(lines[0].starts_with("period,arrivals,visible"));
        assert_eq!(lines[2], "1,0,200,0,200,3,3,ALARM,2->3,true,OK,,");
    }
}
