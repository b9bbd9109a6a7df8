//! GPU capacity: the node pool the models share, and how a short pool is split between the
//! targets that run on it (docs/design.md, "GPU capacity: the pool the models share").
//!
//! Pure: no I/O, no async. The caller reads the node pool from `clusters.get`, the Deployments'
//! replicas, annotations and readiness from the cluster, and the queues' live counts; these
//! functions only decide.
//!
//! - `pool`: how many GPUs a node pool can run ([`pool_gpus`]), or that it is no GPU pool.
//! - `pause`: the pause annotations on a Deployment ([`Pause`]).
//! - `need`: how many replicas a target needs ([`target_need`]), from its [`Policy`] and
//!   [`Backlog`].
//! - `member`: a target as its pool sees it ([`PoolMember`]).
//! - `share`: the max-min fair split of a pool ([`fair_shares`]), and the configuration error
//!   when the targets' mins do not fit ([`MinsDoNotFit`]).
//! - `cap`: a raise capped by the pool's free GPUs and, while another target waits, by the
//!   raiser's share ([`cap_raise`]).
//! - `rebalance`: the heartbeat's step down for a target above its share ([`rebalance_step`]).
//! - `pools`: which targets share which pool, as configured ([`Pools`]), and each pool's Lease.
//! - `bookings`: what a pool's Lease records of the raises in flight ([`Bookings`]).
//! - `limited`: whether a target's replicas have stayed unready too long after a scale write
//!   ([`capacity_limited`]).
//!
//! Replica counts here are `u32`: a pool never holds a negative count. [`Policy`]'s `i32`
//! bounds are read as `u32`, a negative one as 0 (configuration never lets one through).
//!
//! [`Policy`]: crate::policy::Policy
//! [`Backlog`]: crate::policy::Backlog

mod bookings;
mod cap;
mod limited;
mod member;
mod need;
mod pause;
mod pool;
mod pools;
mod rebalance;
mod share;
#[cfg(test)]
mod tests;

pub use bookings::{Booking, Bookings, Raised, BOOKINGS_ANNOTATION, RAISED_ANNOTATION};
pub use cap::{cap_operator_raise, cap_raise, CapReason, Capped};
pub use limited::capacity_limited;
pub use member::PoolMember;
pub use need::target_need;
pub use pause::{Pause, PAUSED_ANNOTATION, PAUSED_REPLICAS_ANNOTATION};
pub use pool::{pool_gpus, NodePoolSize, PoolAccelerator, PoolAutoscaling, PoolGpus};
pub(crate) use pools::DEFAULT_PENDING_SECONDS;
pub use pools::{PoolEntry, Pools};
pub use rebalance::rebalance_step;
pub use share::{fair_shares, MinsDoNotFit};
