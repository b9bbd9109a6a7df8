//! The rules: the [`Target`] an alarm scales ([`Routes::resolve_route`]), the [`Policy`] it
//! follows, the [`Direction`] of the function, and the [`Decision`] each rule makes.
//!
//! Routing: either one target for every alarm (`TARGET_NAMESPACE`/`TARGET_DEPLOYMENT`), or a
//! table (`SCALER_TARGETS`) that maps alarm names, then queue names, to targets. Either way a
//! route names its alarms, so the heartbeat knows which ones to read, and which of them are wake
//! alarms (scale-up acts on those only at zero replicas).

use super::signal::Backlog;
use crate::alarm::AlarmSignal;
use crate::error::ErrorClass;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One Deployment that queue-scaler may scale, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The Kubernetes namespace.
    pub namespace: String,
    /// The Deployment's name.
    pub deployment: String,
    /// Bounds and pace.
    pub policy: Policy,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.deployment)
    }
}

/// One row of a routing table: the alarms and queues that lead to a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Alarm names that select this target.
    pub alarms: Vec<String>,
    /// The target's SQS queues: names (matched against the alarm metric's `QueueName`
    /// dimension) or full queue URLs (another account or region). Each decision reads them
    /// live; in a table they also select this target.
    pub queues: Vec<String>,
    /// Alarm names that select this target but only wake it from zero replicas: on them
    /// scale-up acts only when the target has none (a `min = 0` target's "any message" alarm).
    pub wake_alarms: Vec<String>,
    /// Where they lead.
    pub target: Target,
}

/// Every target this function may scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routes {
    /// Every alarm scales this one target; the route's alarm names are those the heartbeat reads.
    Single(Route),
    /// Alarms and queues are looked up in a table; configuration checks no name appears twice.
    Table(Vec<Route>),
}

/// An alarm that may not act here. Not retryable: configuration (or the event's sender) must
/// change.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// No route names the alarm, nor its queue.
    #[error(
        "no route for alarm {alarm:?}{}: add the alarm name (or its queue) to a target in SCALER_TARGETS",
        queue.as_ref().map(|q| format!(" (queue {q:?})")).unwrap_or_default()
    )]
    NoRoute {
        /// The alarm's name.
        alarm: String,
        /// The queue its metric names, if any.
        queue: Option<String>,
    },
    /// The single target's alarm list (`TARGET_ALARMS`, `TARGET_WAKE_ALARMS`) is set and does
    /// not name this alarm: a closed list, so an event cannot make the function act on (or
    /// re-arm) any alarm it names.
    #[error(
        "alarm {alarm:?} is not in TARGET_ALARMS or TARGET_WAKE_ALARMS: add it there if it should scale this target; nothing was written and the alarm was not re-armed"
    )]
    NotListed {
        /// The alarm's name.
        alarm: String,
    },
    /// The event comes from another account or region than the function's own.
    #[error(
        "alarm {alarm:?} comes from {found}, not this function's {own}: an alarm of another account or region never scales this target; nothing was written"
    )]
    Foreign {
        /// The alarm's name.
        alarm: String,
        /// The event's account and region.
        found: String,
        /// The function's own.
        own: String,
    },
}

impl RouteError {
    /// Always [`ErrorClass::NonRetryable`]: the alarm leads nowhere until configuration changes.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::NonRetryable
    }
}

/// A queue's name: the entry itself, or the last path segment of a queue URL
/// (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`).
pub fn queue_name(entry: &str) -> &str {
    entry.rsplit('/').next().unwrap_or(entry)
}

impl Route {
    /// The queues a decision on this route reads live: its own, or else the queue the alarm's
    /// metric names (none for the heartbeat's own pass, which has no alarm).
    pub fn live_queues<'a>(&'a self, signal: Option<&'a AlarmSignal>) -> Vec<&'a str> {
        if self.queues.is_empty() {
            signal
                .and_then(|s| s.queue.as_deref())
                .into_iter()
                .collect()
        } else {
            self.queues.iter().map(String::as_str).collect()
        }
    }
}

impl Routes {
    /// The target for a signal: by alarm name first, then by queue name.
    pub fn resolve(&self, signal: &AlarmSignal) -> Result<&Target, RouteError> {
        self.resolve_route(signal).map(|r| &r.target)
    }

    /// The route for a signal: by alarm name first, then by queue name. Alarm lists are closed:
    /// with the single target's lists set, an alarm outside them is refused; in a table, a
    /// queue leads only to an entry that lists no alarms of its own.
    pub fn resolve_route(&self, signal: &AlarmSignal) -> Result<&Route, RouteError> {
        let named =
            |r: &Route| r.alarms.contains(&signal.alarm) || r.wake_alarms.contains(&signal.alarm);
        match self {
            Routes::Single(route) => {
                // No alarm list: every alarm scales the single target.
                let open = route.alarms.is_empty() && route.wake_alarms.is_empty();
                if open || named(route) {
                    Ok(route)
                } else {
                    Err(RouteError::NotListed {
                        alarm: signal.alarm.clone(),
                    })
                }
            }
            Routes::Table(routes) => routes
                .iter()
                .find(|r| named(r))
                .or_else(|| {
                    let queue = signal.queue.as_deref()?;
                    routes.iter().find(|r| {
                        r.alarms.is_empty()
                            && r.wake_alarms.is_empty()
                            && r.queues.iter().any(|q| queue_name(q) == queue)
                    })
                })
                .ok_or_else(|| RouteError::NoRoute {
                    alarm: signal.alarm.clone(),
                    queue: signal.queue.clone(),
                }),
        }
    }

    /// Every target, for start-up logs and checks.
    pub fn targets(&self) -> Vec<&Target> {
        self.routes().iter().map(|r| &r.target).collect()
    }

    /// Every route: the heartbeat reads each one's queues.
    pub fn routes(&self) -> &[Route] {
        match self {
            Routes::Single(route) => std::slice::from_ref(route),
            Routes::Table(routes) => routes,
        }
    }

    /// Every alarm name the routes give, wake alarms included, each once: what the heartbeat
    /// reads with `DescribeAlarms`.
    pub fn alarm_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for route in self.routes() {
            for name in route.alarms.iter().chain(&route.wake_alarms) {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// Whether `alarm` is a wake alarm: scale-up acts on it only at zero replicas.
    pub fn is_wake(&self, alarm: &str) -> bool {
        self.routes()
            .iter()
            .any(|r| r.wake_alarms.iter().any(|w| w == alarm))
    }
}

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
