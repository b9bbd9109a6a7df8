//! The handler against fakes of its I/O traits ([`fakes`]), driven through
//! [`crate::scaler::Scaler::invoke`], the way in a [`crate::Function`] uses, on any clients: one invocation (`scaler.rs`), the
//! Events of writes (`events.rs`), the live read (`live.rs`), the heartbeat (`heartbeat.rs`),
//! the re-arm's cause and reserve (`rearm_cause.rs`, `rearm_reserve.rs`), zero replicas
//! (`zero.rs`) and the log lines' metrics (`metrics.rs`). In the crate, so the scaler and its
//! builders need not be public for them.

mod cluster_side;
mod events;
mod fakes;
mod heartbeat;
mod live;
mod metrics;
mod pool;
mod rearm_cause;
mod rearm_reserve;
mod scaler;
mod trust;
mod zero;
