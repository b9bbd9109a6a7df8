//! The pause annotations an operator sets on a Deployment to hold it: `queue-scaler.io/paused`
//! and `queue-scaler.io/paused-replicas`, read into a [`Pause`].

use std::fmt;

/// `"true"`: write nothing to this Deployment. `"false"`, or absent: not paused.
pub const PAUSED_ANNOTATION: &str = "queue-scaler.io/paused";

/// `"N"`: write N replicas once, whatever min, max and the backlog say, then hold them.
pub const PAUSED_REPLICAS_ANNOTATION: &str = "queue-scaler.io/paused-replicas";

/// Whether an operator holds a target, read from its Deployment's annotations.
///
/// A paused target (either held variant) counts in its pool as what it holds, and never donates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pause {
    /// No pause annotation, or `queue-scaler.io/paused: "false"`: scale as usual.
    Off,
    /// Write nothing. `reason` names the annotation and its value, for the result and the log.
    Paused {
        /// Which annotation holds the target, with what value, and what that means.
        reason: String,
    },
    /// `queue-scaler.io/paused-replicas`: set this many replicas once, then hold.
    Replicas(u32),
}

impl Pause {
    /// Read the pause from a Deployment's annotations; `annotation` looks one up by key.
    ///
    /// `paused-replicas` wins over `paused` when both are valid. A value that cannot be read,
    /// in either, means paused: when an operator's intent is unclear, writing nothing is the
    /// safe reading. Values are trimmed; `true` and `false` are read in any case.
    pub fn from_annotations<'a>(annotation: impl Fn(&str) -> Option<&'a str>) -> Pause {
        let paused = annotation(PAUSED_ANNOTATION).map(|v| (v, read_flag(v)));
        let replicas = annotation(PAUSED_REPLICAS_ANNOTATION).map(|v| (v, read_replicas(v)));
        match (paused, replicas) {
            (_, Some((value, None))) => Pause::Paused {
                reason: format!(
                    "{PAUSED_REPLICAS_ANNOTATION} is {value:?}, not a replica count \
                     (0 to {}): paused, writes nothing",
                    i32::MAX
                ),
            },
            (Some((value, None)), _) => Pause::Paused {
                reason: format!(
                    "{PAUSED_ANNOTATION} is {value:?}, neither \"true\" nor \"false\": \
                     paused, writes nothing"
                ),
            },
            (_, Some((_, Some(n)))) => Pause::Replicas(n),
            (Some((value, Some(true))), None) => Pause::Paused {
                reason: format!("{PAUSED_ANNOTATION} is {value:?}: writes nothing"),
            },
            (Some((_, Some(false))) | None, None) => Pause::Off,
        }
    }

    /// Whether an operator holds the target (any variant but [`Pause::Off`]).
    pub fn is_paused(&self) -> bool {
        !matches!(self, Pause::Off)
    }
}

impl fmt::Display for Pause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pause::Off => f.write_str("not paused"),
            Pause::Paused { reason } => f.write_str(reason),
            Pause::Replicas(n) => write!(
                f,
                "{PAUSED_REPLICAS_ANNOTATION} is \"{n}\": holds {n} replica(s)"
            ),
        }
    }
}

/// `true` or `false`, in any case; anything else is `None`.
fn read_flag(value: &str) -> Option<bool> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A replica count Kubernetes can take (its `replicas` is an int32), or `None`.
fn read_replicas(value: &str) -> Option<u32> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|&n| i32::try_from(n).is_ok())
}
