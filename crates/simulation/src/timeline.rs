//! What a run recorded, period by period, and what it adds up to: the CSV timeline in
//! `docs/simulation/` and the numbers `docs/rearm.md` quotes.
//!
//! Pure: no I/O.

use queue_scaler_core::{AlarmState, Direction, Policy};
use std::fmt::Write as _;

/// One invocation of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invocation {
    /// Replicas the function read.
    pub from: i32,
    /// Replicas it decided.
    pub to: i32,
    /// Whether it wrote a change.
    pub applied: bool,
    /// Whether the alarm was in OK afterwards (the function re-armed it).
    pub rearmed: bool,
}

/// One alarm in one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlarmCell {
    /// The state the period's evaluation left it in.
    pub state: AlarmState,
    /// The invocation its change to ALARM caused, if any.
    pub invocation: Option<Invocation>,
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
    /// Replicas that took work in it.
    pub ready_replicas: i32,
    /// Replicas the deployment had at its end, after any invocation.
    pub replicas: i32,
    /// The scale-up alarm.
    pub scale_up: AlarmCell,
    /// The scale-down alarm.
    pub scale_down: AlarmCell,
}

impl Row {
    /// Visible plus in flight.
    pub fn backlog(&self) -> u64 {
        self.visible + self.in_flight
    }

    /// The alarm of a direction.
    pub fn alarm(&self, direction: Direction) -> &AlarmCell {
        match direction {
            Direction::Up => &self.scale_up,
            Direction::Down => &self.scale_down,
        }
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
        };
        Row {
            period,
            arrivals: 0,
            visible,
            in_flight: 0,
            ready_replicas: replicas,
            replicas,
            scale_up: quiet,
            scale_down: quiet,
        }
    }

    fn fired(from: i32, to: i32) -> AlarmCell {
        AlarmCell {
            state: AlarmState::Alarm,
            invocation: Some(Invocation {
                from,
                to,
                applied: from != to,
                rearmed: true,
            }),
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

    #[test]
    fn the_csv_has_a_line_per_period_and_names_each_invocation() {
        let csv = timeline().to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 7);
        assert!(lines[0].starts_with("period,arrivals,visible"));
        assert_eq!(lines[2], "1,0,200,0,200,3,3,ALARM,2->3,true,OK,,");
    }
}
