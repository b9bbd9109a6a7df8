//! Routing: the [`Target`] an alarm scales ([`Routes::resolve_route`]). Either one target for every alarm (`TARGET_NAMESPACE`/`TARGET_DEPLOYMENT`), or a
//! table (`SCALER_TARGETS`) that maps alarm names, then queue names, to targets. Either way a
//! route names its alarms, so the heartbeat knows which ones to read, and which of them are wake
//! alarms (scale-up acts on those only at zero replicas).

use super::scaling::Policy;
use crate::alarm::AlarmSignal;
use crate::error::ErrorClass;
use serde::Serialize;
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
pub(crate) fn queue_name(entry: &str) -> &str {
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
