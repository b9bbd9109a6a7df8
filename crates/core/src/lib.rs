//! The pure core of queue-scaler: everything that can be decided without I/O.
//!
//! - [`alarm`] turns the three event shapes a CloudWatch alarm can arrive in into one [`AlarmSignal`].
//! - `policy` holds the scaling rules: [`Routes`] finds the target (namespace, deployment,
//!   policy) for a signal, and [`decide`] is a pure function of the signal, the current replica
//!   count and the policy.
//! - [`capacity`] holds the rules of a GPU node pool the targets share: its GPUs, each target's
//!   need, the max-min fair split of a short pool, the cap on a raise, and the bookings of the
//!   pool's Lease.
//! - [`cluster`] says where the cluster is: its GKE path, or a checked [`Endpoint`] and CA.
//! - [`config`] reads the configuration from a lookup function into a checked [`Config`].
//! - [`hosts`] is the allow-list of where a signed request or a token may go, and the rule
//!   that a queue an event names is a name, never an address.
//! - [`worker`] holds the workers' AWS identity the doctor checks: each model's role and what
//!   its trust policy admits.
//! - `error` holds the [`ErrorClass`] every error carries: its own errors (intake, routing,
//!   configuration) each tell theirs with `class()`, as `queue-scaler-io`'s do.
//!
//! Nothing here is async, reads the environment, or touches the network: the I/O lives in
//! `queue-scaler-io` and `queue-scaler-lambda`.
//!
//! [`Endpoint`]: cluster::Endpoint

#![deny(unreachable_pub)]

pub mod alarm;
pub mod capacity;
pub mod cluster;
pub mod config;
mod error;
pub mod hosts;
mod policy;
pub mod worker;

pub use alarm::{AlarmSignal, AlarmState, DescribedAlarm, EventShape, IntakeError};
pub use cluster::ClusterSource;
pub use config::{Config, ConfigError};
pub use error::ErrorClass;
pub use policy::{
    decide, decide_reconcile, decide_wake, Backlog, Decision, Direction, Policy, QueueCounts,
    Route, RouteError, Routes, Target,
};
