//! What an invocation reports: the JSON result of an alarm ([`Outcome`]) or of the heartbeat
//! ([`Heartbeat`]), and the doctor's ([`doctor`]). Its log lines are `crate::log_lines`'; why an
//! invocation failed is `crate::failure::Failure`. Output only: nothing here imports either.

pub mod doctor;

use crate::error_text::chain;
use queue_scaler_core::{Backlog, Direction, ErrorClass, QueueCounts};
use queue_scaler_io::Error as IoError;
use serde::Serialize;

/// The result of one invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The alarm that invoked the function.
    pub alarm: String,
    /// The state it moved to.
    pub state: String,
    /// `namespace/name`, when the alarm has a route.
    pub target: Option<String>,
    /// `up` or `down`.
    pub direction: Direction,
    /// Replicas read from the cluster; absent when nothing was read.
    pub from: Option<i32>,
    /// Replicas decided: set when `applied`, only reported otherwise (`DRY_RUN`, or no change).
    pub to: Option<i32>,
    /// Whether a write reached the cluster.
    pub applied: bool,
    /// Whether `DRY_RUN` was on.
    pub dry_run: bool,
    /// Why, in words.
    pub reason: String,
    /// The backlog decided from: live (visible plus in flight over the target's queues), or
    /// the alarm's datapoint when the live read failed; see `source`.
    pub backlog: Option<f64>,
    /// `live` or `alarm`: where `backlog` came from; absent when nothing was decided.
    pub source: Option<&'static str>,
    /// Visible messages over the target's queues, read live.
    pub visible: Option<u64>,
    /// Messages in flight (received, not yet deleted), read live.
    pub in_flight: Option<u64>,
    /// Delayed messages, read live: reported, not counted.
    pub delayed: Option<u64>,
    /// The latest datapoint the alarm carried (a minute or more old; maybe not a count).
    pub datapoint: Option<f64>,
    /// The queue the alarm's metric names.
    pub queue: Option<String>,
    /// Re-reads after 409 Conflict.
    pub conflicts: u32,
    /// What became of the Event that records the write; absent when nothing was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventRecord>,
    /// The GPU pool the target shares, when it is on one: its GPUs, what it left free for this
    /// target, the target's share, and the cap that held a raise back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Box<Capacity>>,
    /// Why nothing but what an operator set is written, when the Deployment's pause
    /// annotations hold it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
    /// What became of the re-arm.
    pub rearm: Rearm,
}

/// What a decision saw of GPU capacity (docs/design.md, "GPU capacity"): the pool a raise was
/// capped by, when the target shares one, and whether the target is capacity-limited.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Capacity {
    /// The node pool's name; absent for a target on no configured pool (it may still be
    /// capacity-limited: a stockout leaves any GPU pod Pending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Its GPUs; absent when unknown (capacity off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u64>,
    /// Replicas of this target the pool has room for, after what the others hold or booked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free: Option<u32>,
    /// This target's max-min fair share of the pool, in replicas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<u32>,
    /// The cap that held the raise below what the backlog asked for: `free` or `share`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capped_by: Option<queue_scaler_core::capacity::CapReason>,
    /// Why capacity is off, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub off: Option<String>,
    /// Present when the target is capacity-limited: replicas asked for stay unready, so it is
    /// not raised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limited: Option<Limited>,
}

/// A capacity-limited target: fewer replicas ready than asked for, longer than
/// `CAPACITY_PENDING_SECONDS` after queue-scaler's last write to its scale.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Limited {
    /// Ready replicas (`status.readyReplicas`).
    pub ready: u32,
    /// Replicas asked for (`spec.replicas`).
    pub replicas: i32,
    /// queue-scaler's last write to the scale (`managedFields`), RFC 3339.
    pub since: String,
    /// `CAPACITY_PENDING_SECONDS`.
    pub pending_seconds: u64,
}

impl Capacity {
    /// Capacity off for `pool`, and why.
    pub(crate) fn off(pool: &str, why: &str) -> Self {
        Capacity {
            pool: Some(pool.to_owned()),
            off: Some(why.to_owned()),
            ..Capacity::default()
        }
    }

    /// What a capped raise saw.
    pub(crate) fn from_cap(
        pool: &str,
        gpus: u64,
        capped: &queue_scaler_core::capacity::Capped,
    ) -> Self {
        Capacity {
            pool: Some(pool.to_owned()),
            gpus: Some(gpus),
            free: Some(capped.free_replicas),
            share: Some(capped.share),
            capped_by: capped.limited_by,
            ..Capacity::default()
        }
    }

    /// A capacity-limited target, on `pool` when it is on one.
    pub(crate) fn limited(pool: Option<&str>, limited: Limited) -> Self {
        Capacity {
            pool: pool.map(str::to_owned),
            limited: Some(limited),
            ..Capacity::default()
        }
    }
}

/// The Event that records a write: best effort, reported but never failing the invocation.
/// In the result: `"recorded"`, `"off"`, `"repeated: ..."` or `"failed: why"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventRecord {
    /// Created on the Deployment.
    Recorded,
    /// `KUBE_EVENTS=false`.
    Off,
    /// A capacity-limited refusal this container recorded as a Warning less than ten minutes
    /// ago is not recorded again: an alarm or a heartbeat refused every minute would bury the
    /// Deployment's Events.
    Repeated,
    /// Refused, failed or too slow; the write stands.
    Failed(String),
}

impl EventRecord {
    /// A failed Event, with the error's causes.
    pub(crate) fn failed(err: &IoError) -> Self {
        EventRecord::Failed(chain(err))
    }
}

impl std::fmt::Display for EventRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventRecord::Recorded => f.write_str("recorded"),
            EventRecord::Off => f.write_str("off"),
            EventRecord::Repeated => f.write_str(
                "repeated: this container recorded the target's CapacityLimited Warning less than 10 minutes ago",
            ),
            EventRecord::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

impl Serialize for EventRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Re-arm's result, reported but never failing the invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
pub enum Rearm {
    /// The alarm was set back to OK.
    Done,
    /// `REARM_ALARM=false`.
    Disabled,
    /// Nothing acted (not ALARM, or `DRY_RUN`).
    NotNeeded,
    /// `SetAlarmState` failed; scaling stands.
    Failed(String),
}

impl Rearm {
    /// A failed re-arm, with the error's causes: "request to ... failed" alone would hide the
    /// connection error behind it.
    pub(crate) fn failed(err: &IoError) -> Self {
        Rearm::Failed(chain(err))
    }
}

/// What an invocation returns: an alarm's outcome, or the heartbeat's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// An alarm event was handled.
    Alarm(Box<Outcome>),
    /// The heartbeat ran.
    Heartbeat(Heartbeat),
    /// The doctor's report.
    Doctor(doctor::Report),
}

/// The heartbeat's result: each alarm the routes name, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Heartbeat {
    /// Always `true`: tells this result from an alarm's.
    pub heartbeat: bool,
    /// `up` or `down`.
    pub direction: Direction,
    /// The function's own ARN: alarms whose actions name another are not its own.
    pub function: String,
    /// One entry per alarm name in the routes.
    pub alarms: Vec<AlarmCheck>,
    /// Scale-up's heartbeat: each target with queues of its own that no alarm acted on, read
    /// live and woken or raised when its backlog needs more.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetCheck>,
    /// Why nothing was read, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One alarm, as the heartbeat found it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmCheck {
    /// The alarm's name.
    pub alarm: String,
    /// Its state as `DescribeAlarms` reported it; absent when it does not exist.
    pub state: Option<String>,
    /// What the heartbeat did with it.
    pub checked: Checked,
    /// The outcome, when it acted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The error, when acting failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's class, for the alarm's log line.
    #[serde(skip)]
    pub class: Option<ErrorClass>,
    /// The target acting failed on, for the alarm's log line.
    #[serde(skip)]
    pub target: Option<String>,
}

/// What the heartbeat did with one alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Checked {
    /// In ALARM: acted as if it had just fired.
    Acted,
    /// In ALARM, and acting failed.
    Failed,
    /// OK or INSUFFICIENT_DATA: nothing to do.
    NotInAlarm,
    /// Its actions do not invoke this function (it belongs to the other one).
    NotThisFunction,
    /// Its actions are disabled (scaling paused by an operator): left alone.
    ActionsDisabled,
    /// No alarm of that name exists: check TARGET_ALARMS or SCALER_TARGETS.
    Missing,
    /// In ALARM for less than a minute: left to the invocation its own state change made, so
    /// the two never step twice.
    Grace,
}

/// One target, as scale-up's heartbeat found its queues and what it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCheck {
    /// `namespace/name`.
    pub target: String,
    /// The live backlog, when the read succeeded.
    pub backlog: Option<f64>,
    /// `live`, or `alarm` when the read failed (then nothing is scaled).
    pub source: &'static str,
    /// Visible messages.
    pub visible: Option<u64>,
    /// Messages in flight.
    pub in_flight: Option<u64>,
    /// Delayed messages, not counted.
    pub delayed: Option<u64>,
    /// Replicas read, when read.
    pub from: Option<i32>,
    /// Replicas decided.
    pub to: Option<i32>,
    /// Whether a write reached the cluster.
    pub applied: bool,
    /// Whether `DRY_RUN` was on.
    pub dry_run: bool,
    /// Why, in words.
    pub reason: String,
    /// What became of the Event that records the write; absent when nothing was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventRecord>,
    /// The GPU pool a raise was capped by, when the target shares one; whether the target is
    /// capacity-limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Box<Capacity>>,
    /// Why nothing but what an operator set is written, when the Deployment's pause
    /// annotations hold it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
    /// The error, when reading or scaling failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl TargetCheck {
    /// A target whose queues were read (or not), before anything was decided: the `backlog`
    /// its decision would use, and the live `counts` when the read succeeded.
    pub(crate) fn new(
        target: &queue_scaler_core::Target,
        backlog: &Backlog,
        counts: Option<QueueCounts>,
        dry_run: bool,
    ) -> Self {
        TargetCheck {
            target: target.to_string(),
            backlog: backlog.messages(),
            source: backlog.source(),
            visible: counts.map(|c| c.visible),
            in_flight: counts.map(|c| c.in_flight),
            delayed: counts.map(|c| c.delayed),
            from: None,
            to: None,
            applied: false,
            dry_run,
            reason: String::new(),
            event: None,
            capacity: None,
            paused: None,
            error: None,
        }
    }
}

impl AlarmCheck {
    /// An alarm the heartbeat did not act on.
    pub(crate) fn new(alarm: &str, state: Option<&str>, checked: Checked) -> Self {
        AlarmCheck {
            alarm: alarm.to_owned(),
            state: state.map(str::to_owned),
            checked,
            outcome: None,
            error: None,
            class: None,
            target: None,
        }
    }

    /// An alarm the heartbeat acted on.
    pub(crate) fn acted(outcome: Outcome) -> Self {
        AlarmCheck {
            alarm: outcome.alarm.clone(),
            state: Some(outcome.state.clone()),
            checked: Checked::Acted,
            outcome: Some(outcome),
            error: None,
            class: None,
            target: None,
        }
    }

    /// An alarm whose action failed: `class: message`, and the target when it was known.
    pub(crate) fn failed(
        alarm: &str,
        state: Option<&str>,
        target: Option<&str>,
        class: ErrorClass,
        message: String,
    ) -> Self {
        AlarmCheck {
            error: Some(format!("{class}: {message}")),
            class: Some(class),
            target: target.map(str::to_owned),
            ..AlarmCheck::new(alarm, state, Checked::Failed)
        }
    }
}
