//! The in-memory state both listeners share, in four parts by what they serve, each its own
//! type in its own file and behind its own lock:
//!
//! - [`credentials`]: Google's side of who may call: the access tokens and federated (STS) tokens
//!   issued and their lifetime, the AWS identities recognised and the workload identity users;
//! - [`authorization`]: who may do what in the cluster: the grants on Deployments and on Leases,
//!   who may create Events, and the RBAC decision over them;
//! - [`cluster`]: Deployments, Leases and Events with the resource versions they share, and
//!   what the GKE API reports of the cluster: its node pools and its issuer's documents;
//! - [`instruments`]: the admin's: the faults injected into requests to come and the request
//!   log.
//!
//! # Locking
//!
//! A handler locks one part, uses it and lets it go. The one exception is a cluster request that
//! must be decided and served at one state of the grants (a read or write of a Deployment's scale,
//! a read of the Deployment, a Lease's create on update): it takes both parts with
//! [`Shared::authorization_and_cluster`], which locks `authorization` first and `cluster` second.
//! No code locks `authorization` while it holds `cluster`, nor any other part while it holds one,
//! so no two requests can wait on each other. No guard is held across an await: a held request
//! waits at its fault's barrier after the instruments' lock is let go. What must be atomic is one
//! method of one part under its lock: the compare and swap on a Deployment's or a Lease's
//! `resourceVersion` (in [`Cluster`], where the counter is), and taking one use of a fault with
//! its barrier (in [`Instruments`]).
//!
//! A handler that panicked cannot leave a part half-written in a way that matters for a test
//! double, so a poisoned lock is simply taken over. No I/O.

mod authorization;
mod cluster;
mod credentials;
mod instruments;

use std::sync::{Mutex, MutexGuard, PoisonError};

use rand::Rng;

pub(crate) use authorization::Authorization;
pub(crate) use cluster::{Cluster, Deployment};
pub(crate) use credentials::{Credentials, TokenProblem};
pub(crate) use instruments::Instruments;

/// The state, shared between listeners and connections: each part behind its own lock.
#[derive(Debug)]
pub(crate) struct Shared {
    credentials: Mutex<Credentials>,
    authorization: Mutex<Authorization>,
    cluster: Mutex<Cluster>,
    instruments: Mutex<Instruments>,
}

impl Shared {
    /// Shares the parts as seeded at start, with no fault pending and an empty request log.
    pub(crate) fn new(
        credentials: Credentials,
        authorization: Authorization,
        cluster: Cluster,
    ) -> Self {
        Shared {
            credentials: Mutex::new(credentials),
            authorization: Mutex::new(authorization),
            cluster: Mutex::new(cluster),
            instruments: Mutex::default(),
        }
    }

    /// Locks the tokens issued and the identities recognised.
    pub(crate) fn credentials(&self) -> MutexGuard<'_, Credentials> {
        lock(&self.credentials)
    }

    /// Locks the grants, alone: to decide a request that then reads or writes nothing of the
    /// cluster under that decision, or to change them.
    pub(crate) fn authorization(&self) -> MutexGuard<'_, Authorization> {
        lock(&self.authorization)
    }

    /// Locks the cluster's objects, node pools and issuer documents, alone.
    pub(crate) fn cluster(&self) -> MutexGuard<'_, Cluster> {
        lock(&self.cluster)
    }

    /// Locks the grants and then the cluster, the only order in which two parts are ever held:
    /// the request is served at the state of the grants it was authorized by.
    pub(crate) fn authorization_and_cluster(
        &self,
    ) -> (MutexGuard<'_, Authorization>, MutexGuard<'_, Cluster>) {
        let authorization = lock(&self.authorization);
        let cluster = lock(&self.cluster);
        (authorization, cluster)
    }

    /// Locks the pending faults and the request log.
    pub(crate) fn instruments(&self) -> MutexGuard<'_, Instruments> {
        lock(&self.instruments)
    }
}

/// Locks a part, taking over a poisoned lock.
fn lock<T>(part: &Mutex<T>) -> MutexGuard<'_, T> {
    part.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Random letters and digits, for access tokens and generated names.
fn random_text(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
