//! Routing: which deployment, in which namespace, under which policy, an alarm scales.
//!
//! Either one target for every alarm (`TARGET_NAMESPACE`/`TARGET_DEPLOYMENT`), or a table
//! (`SCALER_TARGETS`) that maps alarm names, then queue names, to targets. Pure: no I/O.

use crate::alarm::AlarmSignal;
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
    /// Queue names (the alarm metric's `QueueName` dimension) that select this target.
    pub queues: Vec<String>,
    /// Where they lead.
    pub target: Target,
}

/// Every target this function may scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routes {
    /// Every alarm scales this one target.
    Single(Target),
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

impl Routes {
    /// The target for a signal: by alarm name first, then by queue name.
    pub fn resolve(&self, signal: &AlarmSignal) -> Result<&Target, RouteError> {
        match self {
            Routes::Single(target) => Ok(target),
            Routes::Table(routes) => routes
                .iter()
                .find(|r| r.alarms.contains(&signal.alarm))
                .or_else(|| {
                    let queue = signal.queue.as_deref()?;
                    routes.iter().find(|r| r.queues.iter().any(|q| q == queue))
                })
                .map(|r| &r.target)
                .ok_or_else(|| RouteError {
                    alarm: signal.alarm.clone(),
                    queue: signal.queue.clone(),
                }),
        }
    }

    /// Every target, for start-up logs and checks.
    pub fn targets(&self) -> Vec<&Target> {
        match self {
            Routes::Single(t) => vec![t],
            Routes::Table(routes) => routes.iter().map(|r| &r.target).collect(),
        }
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
            backlog: None,
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
                target: target("model-a"),
            },
            Route {
                alarms: vec![],
                queues: vec!["b-jobs".into()],
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
    }

    #[test]
    fn single_target_takes_every_alarm() {
        let routes = Routes::Single(target("only"));
        assert_eq!(
            routes
                .resolve(&signal("anything", None))
                .unwrap()
                .to_string(),
            "ml/only"
        );
    }
}
