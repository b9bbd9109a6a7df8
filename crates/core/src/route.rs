//! Routing: which deployment, in which namespace, under which policy, an alarm scales.
//!
//! Either one target for every alarm (`TARGET_NAMESPACE`/`TARGET_DEPLOYMENT`), or a table
//! (`SCALER_TARGETS`) that maps alarm names, then queue names, to targets. Either way a route
//! names its alarms, so the heartbeat knows which ones to read, and which of them are wake alarms
//! (scale-up acts on those only at zero replicas). Pure: no I/O.

use crate::alarm::AlarmSignal;
use crate::error::ErrorClass;
use crate::policy::Policy;
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

/// An alarm that leads nowhere. Not retryable: configuration must change.
#[derive(Debug, thiserror::Error)]
#[error(
    "no route for alarm {alarm:?}{}: add the alarm name (or its queue) to a target in SCALER_TARGETS",
    queue.as_ref().map(|q| format!(" (queue {q:?})")).unwrap_or_default()
)]
pub struct RouteError {
    /// The alarm's name.
    pub alarm: String,
    /// The queue its metric names, if any.
    pub queue: Option<String>,
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

    /// The route for a signal: by alarm name first, then by queue name.
    pub fn resolve_route(&self, signal: &AlarmSignal) -> Result<&Route, RouteError> {
        match self {
            Routes::Single(route) => Ok(route),
            Routes::Table(routes) => routes
                .iter()
                .find(|r| r.alarms.contains(&signal.alarm) || r.wake_alarms.contains(&signal.alarm))
                .or_else(|| {
                    let queue = signal.queue.as_deref()?;
                    routes
                        .iter()
                        .find(|r| r.queues.iter().any(|q| queue_name(q) == queue))
                })
                .ok_or_else(|| RouteError {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::{AlarmState, EventShape};

    fn target(name: &str) -> Target {
        Target {
            namespace: "ml".into(),
            deployment: name.into(),
            policy: Policy {
                min: 1,
                max: 4,
                step: 1,
                messages_per_replica: None,
            },
        }
    }

    fn signal(alarm: &str, queue: Option<&str>) -> AlarmSignal {
        AlarmSignal {
            alarm: alarm.into(),
            state: AlarmState::Alarm,
            datapoint: None,
            threshold: None,
            metrics: Vec::new(),
            queue: queue.map(Into::into),
            time: None,
            shape: EventShape::AlarmAction,
        }
    }

    fn table() -> Routes {
        Routes::Table(vec![
            Route {
                alarms: vec!["a-high".into()],
                queues: vec!["a-jobs".into()],
                wake_alarms: vec!["a-wake".into()],
                target: target("model-a"),
            },
            Route {
                alarms: vec![],
                queues: vec!["https://sqs.eu-west-1.amazonaws.com/123456789012/b-jobs".into()],
                wake_alarms: vec![],
                target: target("model-b"),
            },
        ])
    }

    #[test]
    fn alarm_name_selects_its_target() {
        assert_eq!(
            table()
                .resolve(&signal("a-high", Some("b-jobs")))
                .unwrap()
                .deployment,
            "model-a"
        );
    }

    #[test]
    fn queue_name_selects_a_target_when_the_alarm_is_not_listed() {
        assert_eq!(
            table()
                .resolve(&signal("b-high", Some("b-jobs")))
                .unwrap()
                .deployment,
            "model-b"
        );
    }

    #[test]
    fn a_route_reads_its_own_queues_or_else_the_alarms() {
        let routes = table();
        let b = signal("b-high", Some("b-jobs"));
        assert_eq!(
            routes.resolve_route(&b).unwrap().live_queues(Some(&b)),
            ["https://sqs.eu-west-1.amazonaws.com/123456789012/b-jobs"]
        );
        let bare = Route {
            alarms: vec!["x".into()],
            queues: vec![],
            wake_alarms: vec![],
            target: target("x"),
        };
        let x = signal("x", Some("x-jobs"));
        assert_eq!(bare.live_queues(Some(&x)), ["x-jobs"]);
        assert!(bare.live_queues(None).is_empty());
    }

    #[test]
    fn unrouted_alarm_is_named_in_the_error() {
        let err = table()
            .resolve(&signal("c-high", Some("c-jobs")))
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("\"c-high\"")
                && msg.contains("\"c-jobs\"")
                && msg.contains("SCALER_TARGETS"),
            "{msg}"
        );
        assert_eq!(err.class(), ErrorClass::NonRetryable);
    }

    #[test]
    fn single_target_takes_every_alarm() {
        let routes = Routes::Single(Route {
            alarms: vec!["only-high".into()],
            queues: vec![],
            wake_alarms: vec![],
            target: target("only"),
        });
        assert_eq!(
            routes
                .resolve(&signal("anything", None))
                .unwrap()
                .to_string(),
            "ml/only"
        );
        assert_eq!(routes.alarm_names(), ["only-high"]);
    }

    #[test]
    fn a_wake_alarm_routes_to_its_target_and_is_known_as_wake() {
        let routes = table();
        assert_eq!(
            routes.resolve(&signal("a-wake", None)).unwrap().deployment,
            "model-a"
        );
        assert!(routes.is_wake("a-wake"));
        assert!(!routes.is_wake("a-high"));
        assert_eq!(routes.alarm_names(), ["a-high", "a-wake"]);
    }
}
