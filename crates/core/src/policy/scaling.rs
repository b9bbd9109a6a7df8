//! How far and how fast a target may be scaled ([`Policy`]), and which way the running function
//! scales ([`Direction`]): what every rule is given.

use serde::{Deserialize, Serialize};
use std::fmt;

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
