//! The model: an SQS queue that the workers drain, and the CloudWatch metric alarms that watch it
//! (high, low, and for a min-0 target the wake alarm), advanced one period (one minute) at a time,
//! with the heartbeat's schedule and the faults of a run.
//!
//! The alarms follow CloudWatch's rules: each period the alarm looks at its last
//! `evaluation_periods` datapoints and is in ALARM when at least `datapoints_to_alarm` of them
//! breach the threshold (a missing datapoint does not breach: `TreatMissingData=notBreaching`);
//! a Lambda action runs only on a change of state.
//!
//! The datapoints arrive as SQS publishes its metrics to CloudWatch ([`MetricDelivery`]): one a
//! minute, some minutes late; none while the queue has been idle for 6 hours; and, when such a
//! queue wakes, up to 15 minutes late. `SetAlarmState` (the
//! function's re-arm) changes the state but not the datapoints, so an alarm re-armed to OK goes
//! back to ALARM at its next evaluation if the window still breaches.
//!
//! Pure: no I/O and no clock. The runner ([`crate::run`]) feeds in the replica count the cluster
//! holds and the alarm states the CloudWatch API reports.

use chrono::{DateTime, Duration, TimeZone, Utc};
use queue_scaler_core::{AlarmState, Direction, Policy};

/// What an alarm measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `ApproximateNumberOfMessagesVisible`: messages waiting for a worker.
    Visible,
    /// Visible plus `ApproximateNumberOfMessagesNotVisible` (in flight), as metric math.
    VisiblePlusInFlight,
}

/// How a datapoint is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `GreaterThanThreshold`.
    GreaterThan,
    /// `LessThanThreshold`.
    LessThan,
}

impl Comparison {
    /// The name the CloudWatch API uses.
    pub fn api_name(self) -> &'static str {
        match self {
            Comparison::GreaterThan => "GreaterThanThreshold",
            Comparison::LessThan => "LessThanThreshold",
        }
    }

    /// The words CloudWatch writes in a state reason.
    pub fn words(self) -> &'static str {
        match self {
            Comparison::GreaterThan => "greater than",
            Comparison::LessThan => "less than",
        }
    }
}

/// A metric alarm as it is configured.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    /// The alarm's name.
    pub name: String,
    /// What it measures.
    pub metric: Metric,
    /// How it compares.
    pub comparison: Comparison,
    /// The threshold, in messages.
    pub threshold: f64,
    /// `EvaluationPeriods`: how many of the latest datapoints it looks at.
    pub evaluation_periods: usize,
    /// `DatapointsToAlarm`: how many of those must breach.
    pub datapoints_to_alarm: usize,
}

impl AlarmSpec {
    /// Whether one datapoint breaches the threshold.
    pub fn breaches(&self, value: f64) -> bool {
        match self.comparison {
            Comparison::GreaterThan => value > self.threshold,
            Comparison::LessThan => value < self.threshold,
        }
    }
}

/// A change of an alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: AlarmState,
    /// The state after.
    pub to: AlarmState,
}

/// Which of a run's alarms: each invokes one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlarmKind {
    /// The high-backlog alarm: its action is `scale-up`.
    High,
    /// The low-backlog alarm: its action is `scale-down`.
    Low,
    /// The wake alarm of a target whose min is 0 (visible > 0): its action is `scale-up`, which
    /// acts on it only at zero replicas.
    Wake,
}

impl AlarmKind {
    /// Every kind, in the order a period evaluates them.
    pub const ALL: [AlarmKind; 3] = [AlarmKind::High, AlarmKind::Low, AlarmKind::Wake];

    /// The function its action invokes.
    pub fn direction(self) -> Direction {
        match self {
            AlarmKind::High | AlarmKind::Wake => Direction::Up,
            AlarmKind::Low => Direction::Down,
        }
    }

    /// A short name, for CSV columns and labels.
    pub fn label(self) -> &'static str {
        match self {
            AlarmKind::High => "high",
            AlarmKind::Low => "low",
            AlarmKind::Wake => "wake",
        }
    }
}

/// What goes wrong in a run, injected into its environment (see [`crate::live`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The cluster's scale API answers 503 Service Unavailable to every request, read or write.
    ScaleApiDown,
    /// CloudWatch refuses every `SetAlarmState` the functions send (AccessDenied, as after an
    /// IAM change that dropped the permission); `DescribeAlarms` and the alarms' evaluation go on.
    SetAlarmStateRefused,
    /// Both functions run with an invalid configuration (their start-up fails), then with a good
    /// one again from the fault's end.
    BadConfiguration,
    /// The first write of the scale from the fault's start on is applied, but its answer is lost
    /// (the connection drops before it).
    LostAnswer,
    /// Nothing is injected: messages arrive while the target has zero replicas, and the clock
    /// starts with their arrival (`start == end`).
    MessagesAtZero,
}

impl FaultKind {
    /// What it is, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            FaultKind::ScaleApiDown => "scale API answers 503",
            FaultKind::SetAlarmStateRefused => "SetAlarmState refused",
            FaultKind::BadConfiguration => "invalid configuration",
            FaultKind::LostAnswer => "one write's answer lost",
            FaultKind::MessagesAtZero => "messages at zero replicas",
        }
    }
}

/// A fault and the periods it lasts: from the start of period `start` to the start of period
/// `end` (so `end - start` periods; the fault's end is the start of period `end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// What goes wrong.
    pub kind: FaultKind,
    /// The first period it is in effect.
    pub start: usize,
    /// The first period it is no longer in effect.
    pub end: usize,
}

impl Fault {
    /// Whether it is in effect during `period`.
    pub fn active(&self, period: usize) -> bool {
        (self.start..self.end).contains(&period)
    }
}

/// An alarm: its configuration, the datapoints of its latest evaluation window (`None`: missing),
/// and its state.
#[derive(Debug, Clone)]
pub struct Alarm {
    spec: AlarmSpec,
    datapoints: Vec<Option<f64>>,
    state: AlarmState,
}

impl Alarm {
    /// A new alarm has no data.
    pub fn new(spec: AlarmSpec) -> Self {
        Alarm {
            spec,
            datapoints: Vec::new(),
            state: AlarmState::InsufficientData,
        }
    }

    /// Its configuration.
    pub fn spec(&self) -> &AlarmSpec {
        &self.spec
    }

    /// Its state now.
    pub fn state(&self) -> AlarmState {
        self.state
    }

    /// Set the state from outside, as `SetAlarmState` does: the datapoints stay as they are.
    pub fn set_state(&mut self, state: AlarmState) {
        self.state = state;
    }

    /// Add the datapoint of a period, published at once.
    pub fn record(&mut self, value: f64) {
        self.datapoints.push(Some(value));
        let n = self.spec.evaluation_periods;
        if self.datapoints.len() > n {
            self.datapoints.drain(..self.datapoints.len() - n);
        }
    }

    /// Look at the periods of an evaluation, oldest first, as CloudWatch has them now: `None`
    /// for a datapoint not (yet) published. Fewer than `evaluation_periods`: the run is younger.
    pub fn observe(&mut self, periods: Vec<Option<f64>>) {
        self.datapoints = periods;
    }

    /// The datapoints the next evaluation looks at, oldest first, without the missing ones.
    pub fn window(&self) -> Vec<f64> {
        self.datapoints.iter().flatten().copied().collect()
    }

    /// What CloudWatch concludes from the window: too few periods, enough breaching, or not.
    pub fn verdict(&self) -> AlarmState {
        if self.datapoints.len() < self.spec.evaluation_periods {
            return AlarmState::InsufficientData;
        }
        let breaching = self
            .datapoints
            .iter()
            .flatten()
            .filter(|v| self.spec.breaches(**v))
            .count();
        if breaching >= self.spec.datapoints_to_alarm {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        }
    }

    /// Evaluate once: move to the verdict, and say so when that is a change of state (which is
    /// when CloudWatch runs the alarm's actions).
    pub fn evaluate(&mut self) -> Option<Transition> {
        let verdict = self.verdict();
        let from = self.state;
        self.state = verdict;
        (from != verdict).then_some(Transition { from, to: verdict })
    }
}

/// The queue: messages that arrived and no worker has finished yet; for long jobs, the periods
/// each job in flight still needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queue {
    messages: u64,
    jobs: Vec<usize>,
}

/// The queue at the end of one period, as the SQS metrics report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSample {
    /// Messages sent in the period.
    pub arrivals: u64,
    /// Messages the workers finished (deleted) in the period.
    pub processed: u64,
    /// `ApproximateNumberOfMessagesVisible`.
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible`: one per busy worker.
    pub in_flight: u64,
    /// Jobs whose worker was removed while it held them (long jobs): they are visible again.
    pub interrupted: u64,
}

impl QueueSample {
    /// Visible plus in flight: what is left to do.
    pub fn backlog(&self) -> u64 {
        self.visible + self.in_flight
    }

    /// The datapoint an alarm on `metric` sees.
    pub fn datapoint(&self, metric: Metric) -> f64 {
        let value = match metric {
            Metric::Visible => self.visible,
            Metric::VisiblePlusInFlight => self.backlog(),
        };
        // Message counts in a simulation stay far below 2^52, where f64 is exact.
        value as f64
    }
}

impl Queue {
    /// One period: messages arrive, `ready` workers finish up to `per_replica` each, and each
    /// ready worker holds one of the remaining messages in flight.
    pub fn step(&mut self, arrivals: u64, ready: u64, per_replica: u64) -> QueueSample {
        let available = self.messages + arrivals;
        let processed = available.min(ready * per_replica);
        self.messages = available - processed;
        let in_flight = self.messages.min(ready);
        QueueSample {
            arrivals,
            processed,
            visible: self.messages - in_flight,
            in_flight,
            interrupted: 0,
        }
    }

    /// One period of long jobs, each taking a worker `job_periods` periods: messages arrive,
    /// jobs whose worker is gone go back to the queue (visible again), the others advance and
    /// the finished ones are deleted, and each idle ready worker receives one message.
    pub fn step_long(&mut self, arrivals: u64, ready: u64, job_periods: usize) -> QueueSample {
        let ready = usize::try_from(ready).unwrap_or(usize::MAX);
        let interrupted = self.jobs.len().saturating_sub(ready);
        self.jobs.truncate(ready);
        self.messages += arrivals + interrupted as u64;
        for left in &mut self.jobs {
            *left = left.saturating_sub(1);
        }
        let before = self.jobs.len();
        self.jobs.retain(|left| *left > 0);
        let processed = (before - self.jobs.len()) as u64;
        let free = ready - self.jobs.len();
        let taken = self.messages.min(free as u64);
        self.messages -= taken;
        self.jobs.extend(std::iter::repeat_n(
            job_periods,
            usize::try_from(taken).unwrap_or(0),
        ));
        QueueSample {
            arrivals,
            processed,
            visible: self.messages,
            in_flight: self.jobs.len() as u64,
            interrupted: interrupted as u64,
        }
    }
}

/// How SQS's metrics reach CloudWatch: one datapoint a minute per metric, published `lag`
/// periods after the period it measures; none once the queue has been idle (no message in it or
/// arriving) for `stop_after_idle` periods; and when such a queue wakes, the datapoints of its
/// first `wake_delay` periods are published only `wake_delay` periods after it woke (AWS: "up to
/// 15 minutes"; the model takes the worst case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDelivery {
    /// Periods from the end of a period to its datapoint being in CloudWatch.
    pub lag: usize,
    /// Idle periods after which SQS stops publishing: 6 hours.
    pub stop_after_idle: usize,
    /// Periods a woken queue's datapoints are late: 15 minutes.
    pub wake_delay: usize,
    /// Periods the queue had already been idle when the run starts.
    pub idle_before: usize,
}

impl MetricDelivery {
    /// 6 hours of 60 s periods.
    pub const SIX_HOURS: usize = 6 * 60;

    /// Every datapoint at once: the delivery the re-arm and fault runs assume.
    pub fn immediate() -> Self {
        MetricDelivery {
            lag: 0,
            stop_after_idle: Self::SIX_HOURS,
            wake_delay: 15,
            idle_before: 0,
        }
    }

    /// A queue idle overnight (8 hours before the run), its datapoints `lag` periods late.
    pub fn idle_overnight(lag: usize) -> Self {
        MetricDelivery {
            lag,
            idle_before: 8 * 60,
            ..Self::immediate()
        }
    }
}

/// The datapoints SQS has published, and when, following a [`MetricDelivery`].
#[derive(Debug, Clone)]
struct Published {
    delivery: MetricDelivery,
    /// Idle periods before the current one.
    idle_for: usize,
    /// The period the queue last woke after its metrics had stopped.
    woke_at: Option<usize>,
    /// For each period so far, when its datapoint is published (`None`: never), and the sample.
    points: Vec<(Option<usize>, QueueSample)>,
}

impl Published {
    fn new(delivery: MetricDelivery) -> Self {
        Published {
            delivery,
            idle_for: delivery.idle_before,
            woke_at: None,
            points: Vec::new(),
        }
    }

    /// Add the sample of the next period.
    fn push(&mut self, sample: QueueSample) {
        let period = self.points.len();
        let d = self.delivery;
        let active = sample.arrivals > 0 || sample.backlog() > 0 || sample.processed > 0;
        let stopped = self.idle_for >= d.stop_after_idle;
        if stopped && active {
            self.woke_at = Some(period);
        }
        let at = match (stopped, active) {
            (true, false) => None,
            _ => {
                let late = self
                    .woke_at
                    .filter(|w| period < w + d.wake_delay)
                    .map_or(0, |w| w + d.wake_delay);
                Some((period + d.lag).max(late))
            }
        };
        self.idle_for = if active { 0 } else { self.idle_for + 1 };
        self.points.push((at, sample));
    }

    /// The `n` periods an alarm evaluates at the end of period `now`: those ending `lag`
    /// periods ago, each `None` when its datapoint is not published by `now`.
    fn window(&self, now: usize, n: usize, metric: Metric) -> Vec<Option<f64>> {
        let Some(newest) = now.checked_sub(self.delivery.lag) else {
            return Vec::new();
        };
        let oldest = (newest + 1).saturating_sub(n);
        self.points[oldest..=newest]
            .iter()
            .map(|(at, s)| at.filter(|at| *at <= now).map(|_| s.datapoint(metric)))
            .collect()
    }
}

/// Periods between two heartbeats at the template's default: `rate(1 minute)` with 60 s
/// alarm periods.
pub const HEARTBEAT_EVERY: usize = 1;

/// Everything one simulated run is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// How many periods to run.
    pub periods: usize,
    /// The length of a period, which is also each alarm's period.
    pub period_seconds: u32,
    /// Messages sent in each period; periods past the end send none.
    pub arrivals: Vec<u64>,
    /// Messages one ready replica finishes per period.
    pub per_replica: u64,
    /// Periods from a replica being requested to it taking work (pod scheduling, a GPU node
    /// joining, the model loading). Removed replicas stop at once.
    pub ready_delay: usize,
    /// The target's policy, as `MIN_REPLICAS`, `MAX_REPLICAS`, `SCALE_STEP`,
    /// `MESSAGES_PER_REPLICA` give it; the deployment starts at `min`.
    pub policy: Policy,
    /// The alarm whose action is `scale-up`.
    pub scale_up: AlarmSpec,
    /// The alarm whose action is `scale-down`.
    pub scale_down: AlarmSpec,
    /// The wake alarm (visible > 0 for one period), whose action is `scale-up`; only for a
    /// target whose min is 0.
    pub wake: Option<AlarmSpec>,
    /// The SQS queue the alarms watch.
    pub queue: String,
    /// When period 0 starts.
    pub start: DateTime<Utc>,
    /// Periods between two heartbeats (the template's `rate(2 minutes)` at 60 s periods is 2);
    /// `None`: no heartbeat.
    pub heartbeat_every: Option<usize>,
    /// What goes wrong, and when.
    pub faults: Vec<Fault>,
    /// How the queue's metrics reach the alarms.
    pub metrics: MetricDelivery,
    /// Periods one job takes a replica: 1, a replica finishes `per_replica` messages a period;
    /// more, long jobs, one at a time per replica (`per_replica` is then unused).
    pub job_periods: usize,
    /// Replicas the deployment starts with; `None`: the policy's min.
    pub initial_replicas: Option<i32>,
    /// Whether the functions read the queue live (SQS serves the model's counts, and
    /// `TARGET_QUEUES` names the queue); `false`: their read fails and the alarm's datapoint
    /// decides, as before the live signal.
    pub live_queue: bool,
}

impl Scenario {
    /// The team's queue: quiet for 3 minutes, then 100 messages a minute for 10 minutes, which at
    /// the starting 2 replicas (20 messages a minute each) raises the backlog from 0 to 600; then
    /// quiet again while the workers drain it. Replicas take 2 minutes to be ready (a GPU node
    /// joining). Policy: min 2, max 8 (2 pods on each of up to 4 GPU nodes), step 1, 100
    /// messages per replica.
    ///
    /// Alarms: `scale-up` when more than 100 messages are visible for 2 of 2 minutes;
    /// `scale-down` when fewer than 10 are visible or in flight for 3 of 3 minutes.
    pub fn backlog_burst() -> Self {
        let mut arrivals = vec![0; 3];
        arrivals.extend([100; 10]);
        Scenario {
            periods: 40,
            period_seconds: 60,
            arrivals,
            per_replica: 20,
            ready_delay: 2,
            policy: Policy {
                min: 2,
                max: 8,
                step: 1,
                messages_per_replica: Some(100),
            },
            scale_up: AlarmSpec {
                name: "model-worker-backlog-high".into(),
                metric: Metric::Visible,
                comparison: Comparison::GreaterThan,
                threshold: 100.0,
                evaluation_periods: 2,
                datapoints_to_alarm: 2,
            },
            scale_down: AlarmSpec {
                name: "model-worker-backlog-low".into(),
                metric: Metric::VisiblePlusInFlight,
                comparison: Comparison::LessThan,
                threshold: 10.0,
                evaluation_periods: 3,
                datapoints_to_alarm: 3,
            },
            wake: None,
            queue: "model-jobs".into(),
            start: Utc
                .with_ymd_and_hms(2026, 11, 28, 13, 0, 0)
                .single()
                .unwrap_or_default(),
            heartbeat_every: None,
            faults: Vec::new(),
            metrics: MetricDelivery::immediate(),
            job_periods: 1,
            initial_replicas: None,
            live_queue: false,
        }
    }

    /// The same team's queue under a longer load, for the fault scenarios: quiet for 3 minutes,
    /// then 100 messages a minute for 20 minutes (at the starting 2 replicas the backlog would
    /// grow to 1,200), then quiet; 60 minutes in all. Replicas, policy and the two alarms are
    /// those of [`Scenario::backlog_burst`], and the heartbeat runs at the template's default,
    /// every 2 minutes.
    pub fn sustained_load() -> Self {
        let mut arrivals = vec![0; 3];
        arrivals.extend([100; 20]);
        Scenario {
            periods: 60,
            arrivals,
            heartbeat_every: Some(HEARTBEAT_EVERY),
            ..Scenario::backlog_burst()
        }
    }

    /// A target that may sit at zero replicas (`MIN_REPLICAS=0`, no `MESSAGES_PER_REPLICA`):
    /// max 4, step 1, starting at 0. Each job takes a replica one minute (one message per
    /// period); replicas are ready 2 minutes after they are requested. 5 messages arrive in
    /// period 3, far below the high alarm's threshold (100), so only the wake alarm (visible > 0
    /// for 1 of 1 periods) can start a replica. 20 minutes in all; heartbeat every 2.
    pub fn min_zero() -> Self {
        let burst = Scenario::backlog_burst();
        Scenario {
            periods: 20,
            arrivals: vec![0, 0, 0, 5],
            per_replica: 1,
            policy: Policy {
                min: 0,
                max: 4,
                step: 1,
                messages_per_replica: None,
            },
            wake: Some(AlarmSpec {
                name: "model-worker-backlog-wake".into(),
                metric: Metric::Visible,
                comparison: Comparison::GreaterThan,
                threshold: 0.0,
                evaluation_periods: 1,
                datapoints_to_alarm: 1,
            }),
            heartbeat_every: Some(HEARTBEAT_EVERY),
            ..burst
        }
    }

    /// Replicas the deployment starts with.
    pub fn starting_replicas(&self) -> i32 {
        self.initial_replicas.unwrap_or(self.policy.min)
    }

    /// The alarm of a kind, when the scenario has it.
    pub fn alarm_spec(&self, kind: AlarmKind) -> Option<&AlarmSpec> {
        match kind {
            AlarmKind::High => Some(&self.scale_up),
            AlarmKind::Low => Some(&self.scale_down),
            AlarmKind::Wake => self.wake.as_ref(),
        }
    }

    /// The kinds of alarm the scenario has, in the order a period evaluates them.
    pub fn alarm_kinds(&self) -> Vec<AlarmKind> {
        AlarmKind::ALL
            .into_iter()
            .filter(|k| self.alarm_spec(*k).is_some())
            .collect()
    }

    /// Whether the heartbeat runs at the end of `period`, after that period's evaluations:
    /// EventBridge's `rate(N minutes)` counts from when the rule was created, here the run's
    /// start, so the heartbeats come at minutes N, 2N, ...
    pub fn heartbeat_due(&self, period: usize) -> bool {
        self.heartbeat_every
            .is_some_and(|every| every > 0 && (period + 1) % every == 0)
    }

    /// The alarm of a direction.
    pub fn alarm(&self, direction: Direction) -> &AlarmSpec {
        match direction {
            Direction::Up => &self.scale_up,
            Direction::Down => &self.scale_down,
        }
    }

    /// When a period ends, which is when its datapoint is evaluated.
    pub fn period_end(&self, period: usize) -> DateTime<Utc> {
        let seconds = i64::from(self.period_seconds) * (period as i64 + 1);
        self.start + Duration::seconds(seconds)
    }
}

/// The queue and the alarms of one run, advanced period by period.
#[derive(Debug, Clone)]
pub struct Simulation {
    scenario: Scenario,
    queue: Queue,
    up: Alarm,
    down: Alarm,
    wake: Option<Alarm>,
    replicas: Vec<i32>,
    published: Published,
}

impl Simulation {
    /// The start of a run: an empty queue, alarms with no data.
    pub fn new(scenario: Scenario) -> Self {
        Simulation {
            queue: Queue::default(),
            up: Alarm::new(scenario.scale_up.clone()),
            down: Alarm::new(scenario.scale_down.clone()),
            wake: scenario.wake.clone().map(Alarm::new),
            replicas: Vec::new(),
            published: Published::new(scenario.metrics),
            scenario,
        }
    }

    /// The scenario it runs.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The alarm of a kind, when the scenario has it.
    pub fn alarm(&self, kind: AlarmKind) -> Option<&Alarm> {
        match kind {
            AlarmKind::High => Some(&self.up),
            AlarmKind::Low => Some(&self.down),
            AlarmKind::Wake => self.wake.as_ref(),
        }
    }

    /// The alarm of a kind, to evaluate it or set its state.
    pub fn alarm_mut(&mut self, kind: AlarmKind) -> Option<&mut Alarm> {
        match kind {
            AlarmKind::High => Some(&mut self.up),
            AlarmKind::Low => Some(&mut self.down),
            AlarmKind::Wake => self.wake.as_mut(),
        }
    }

    /// The period that [`Simulation::advance`] runs next.
    pub fn period(&self) -> usize {
        self.replicas.len()
    }

    /// Replicas that take work in the next period: those requested at least `ready_delay`
    /// periods ago and not removed since.
    pub fn ready_replicas(&self, replicas_now: i32) -> i32 {
        let delay = self.scenario.ready_delay;
        let start = self.replicas.len().saturating_sub(delay);
        self.replicas[start..]
            .iter()
            .copied()
            .chain([replicas_now])
            .min()
            .unwrap_or(replicas_now)
    }

    /// Run one period with the replicas the deployment has at its start: messages arrive, the
    /// ready workers drain them, and each alarm sees the datapoints published by the period's
    /// end.
    pub fn advance(&mut self, replicas_now: i32) -> (QueueSample, i32) {
        let ready = self.ready_replicas(replicas_now);
        let arrivals = self
            .scenario
            .arrivals
            .get(self.period())
            .copied()
            .unwrap_or(0);
        let ready_workers = u64::try_from(ready).unwrap_or(0);
        let sample = if self.scenario.job_periods > 1 {
            self.queue
                .step_long(arrivals, ready_workers, self.scenario.job_periods)
        } else {
            self.queue
                .step(arrivals, ready_workers, self.scenario.per_replica)
        };
        let now = self.period();
        self.replicas.push(replicas_now);
        self.published.push(sample);
        let published = &self.published;
        for alarm in [&mut self.up, &mut self.down]
            .into_iter()
            .chain(self.wake.as_mut())
        {
            alarm.observe(published.window(now, alarm.spec.evaluation_periods, alarm.spec.metric));
        }
        (sample, ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(comparison: Comparison, n: usize, m: usize) -> AlarmSpec {
        AlarmSpec {
            name: "a".into(),
            metric: Metric::Visible,
            comparison,
            threshold: 100.0,
            evaluation_periods: n,
            datapoints_to_alarm: m,
        }
    }

    #[test]
    fn an_alarm_needs_a_full_window_before_it_leaves_insufficient_data() {
        let mut alarm = Alarm::new(spec(Comparison::GreaterThan, 2, 2));
        alarm.record(500.0);
        assert_eq!(alarm.evaluate(), None);
        assert_eq!(alarm.state(), AlarmState::InsufficientData);
        alarm.record(500.0);
        assert_eq!(
            alarm.evaluate(),
            Some(Transition {
                from: AlarmState::InsufficientData,
                to: AlarmState::Alarm
            })
        );
    }

    #[test]
    fn an_alarm_fires_only_on_a_change_of_state() {
        let mut alarm = Alarm::new(spec(Comparison::GreaterThan, 2, 2));
        for _ in 0..2 {
            alarm.record(50.0);
        }
        assert_eq!(alarm.evaluate().map(|t| t.to), Some(AlarmState::Ok));
        alarm.record(150.0);
        assert_eq!(alarm.evaluate(), None, "1 of 2 breaching is not enough");
        alarm.record(150.0);
        assert_eq!(alarm.evaluate().map(|t| t.to), Some(AlarmState::Alarm));
        alarm.record(150.0);
        assert_eq!(alarm.evaluate(), None, "still in ALARM: no action");
    }

    #[test]
    fn a_rearmed_alarm_fires_again_at_the_next_evaluation_while_the_window_breaches() {
        let mut alarm = Alarm::new(spec(Comparison::GreaterThan, 3, 3));
        for _ in 0..3 {
            alarm.record(150.0);
        }
        assert_eq!(alarm.evaluate().map(|t| t.to), Some(AlarmState::Alarm));
        alarm.set_state(AlarmState::Ok);
        alarm.record(150.0);
        assert_eq!(
            alarm.evaluate(),
            Some(Transition {
                from: AlarmState::Ok,
                to: AlarmState::Alarm
            }),
            "the old datapoints are still in the window: no wait of 3 new periods"
        );
    }

    #[test]
    fn a_low_alarm_breaches_below_its_threshold() {
        let s = spec(Comparison::LessThan, 1, 1);
        assert!(s.breaches(99.0));
        assert!(!s.breaches(100.0));
    }

    #[test]
    fn workers_drain_at_their_rate_and_hold_one_message_each_in_flight() {
        let mut queue = Queue::default();
        let s = queue.step(100, 2, 20);
        assert_eq!((s.processed, s.visible, s.in_flight), (40, 58, 2));
        let s = queue.step(0, 3, 20);
        assert_eq!((s.processed, s.visible, s.in_flight), (60, 0, 0));
        let s = queue.step(5, 8, 20);
        assert_eq!((s.processed, s.backlog()), (5, 0));
    }

    #[test]
    fn new_replicas_take_work_only_after_the_ready_delay_and_removed_ones_stop_at_once() {
        let mut sim = Simulation::new(Scenario::backlog_burst());
        assert_eq!(sim.advance(2).1, 2);
        assert_eq!(sim.advance(3).1, 2);
        assert_eq!(sim.advance(3).1, 2);
        assert_eq!(sim.advance(3).1, 3);
        assert_eq!(sim.advance(1).1, 1);
    }

    #[test]
    fn the_burst_alone_raises_the_backlog_to_600_at_the_starting_replicas() {
        let scenario = Scenario::backlog_burst();
        let mut sim = Simulation::new(scenario.clone());
        let mut peak = 0;
        for _ in 0..scenario.periods {
            peak = peak.max(sim.advance(scenario.policy.min).0.backlog());
        }
        assert_eq!(peak, 600);
    }
}
