//! The scaler: what a running function scales and the clients it does it with ([`Scaler`]),
//! built once per container by [`crate::function`], and its one way in, [`Scaler::invoke`]
//! (an event already read: an alarm or the heartbeat), which [`crate::Function::handle`] and
//! the crate's tests both call. Each file in this folder is one job of the scaler:
//!
//! - `alarm.rs`: one alarm, from its signal to the re-arm and the result;
//! - `live.rs`: the live read of a target's queues, and what the decision saw ([`live::Seen`]);
//! - `scale.rs`: read the scale, decide (the operator's pause, capacity-limited, the pool gate),
//!   and write, again on 409 or a lost answer, never twice;
//! - `event.rs`: the Event that records a write on the Deployment, best effort;
//! - `heartbeat.rs`: the scheduled event, acting on alarms left in ALARM and, for scale-up,
//!   reconciling each target with its live backlog;
//! - `pool.rs`: the pool gate, a raise on a shared GPU node pool capped and booked on its Lease;
//! - `placement.rs`: where the targets' GPU pools are, and how big.
//!
//! All I/O goes through [`ScaleApi`], [`AlarmRearm`] and [`QueueDepth`], so the scaler runs
//! against fakes in the crate's tests. The doctor, which scales nothing, is [`crate::doctor`].

use crate::failure::Failure;
use crate::log_lines::log;
use crate::report::Response;
use queue_scaler_core::alarm::{IntakeError, Invocation};
use queue_scaler_core::{Direction, Routes};
use queue_scaler_io::aws::AwsClient;
use queue_scaler_io::backoff::Backoff;
use queue_scaler_io::{AlarmRearm, GoogleTokens, KubeScaleApi, QueueDepth, ScaleApi};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub(crate) mod alarm;
mod event;
mod heartbeat;
pub(crate) mod live;
pub(crate) mod placement;
mod pool;
pub(crate) mod scale;

/// The scaler as deployed: Google tokens, the GKE cluster, CloudWatch re-arm and SQS.
pub(crate) type DeployedScaler = Scaler<KubeScaleApi<GoogleTokens>, AwsClient>;

/// The node pools `clusters.get` gave; `None` where the GKE API is not asked (`GKE_ENDPOINT`).
pub(crate) type NodePools = Option<Arc<Vec<queue_scaler_io::kube::node_pool::NodePool>>>;

/// The placement of the targets kept for the container ([`Scaler::placed_pools`]): the pools
/// in use, and until when they hold.
pub(crate) type Placement = Option<(
    Arc<queue_scaler_core::capacity::Pools>,
    tokio::time::Instant,
)>;

/// An alarm whose state changed less than this long ago is left by the heartbeat to its own
/// invocation, so the two never step twice for one crossing.
pub(crate) const HEARTBEAT_GRACE: Duration = Duration::from_secs(60);

/// What one invocation is: when it must be done, its request id, and the function's own ARN
/// (the heartbeat keeps the alarms whose actions invoke it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// When the function must have returned, less a margin.
    pub(crate) deadline: Instant,
    /// The Lambda request id, for log lines.
    pub(crate) request_id: &'a str,
    /// The invoked function's ARN as the runtime passes it (qualified or not; a placeholder
    /// under the emulator, where `QUEUE_SCALER_FUNCTION_ARN` names it).
    pub(crate) function_arn: &'a str,
}

/// A function's state across invocations: what it scales and the clients it uses. `Q` reads
/// the queues live; without one (no AWS access), every decision uses the alarm's datapoint.
#[derive(Debug)]
pub(crate) struct Scaler<K, R, Q = R> {
    pub(crate) direction: Direction,
    pub(crate) routes: Routes,
    pub(crate) dry_run: bool,
    pub(crate) api: K,
    pub(crate) rearm: Option<R>,
    pub(crate) queues: Option<Q>,
    /// `reportingInstance` of the Events; `None` when `KUBE_EVENTS=false`.
    pub(crate) events: Option<String>,
    pub(crate) backoff: Backoff,
    pub(crate) grace: Duration,
    /// `QUEUE_SCALER_FUNCTION_ARN`: the function's own ARN where the runtime passes none.
    pub(crate) own_arn: Option<String>,
    /// Which targets share which GPU pool, as configured; empty: each target's pool is placed by
    /// its `nodeSelector` where the cluster's node pools are read ([`Scaler::placed_pools`]).
    pub(crate) pools: queue_scaler_core::capacity::Pools,
    /// When this container last wrote each target's scale (`namespace/name`): one source of a
    /// write's time for capacity-limited.
    pub(crate) written:
        std::sync::Mutex<std::collections::HashMap<String, chrono::DateTime<chrono::Utc>>>,
    /// When this container last recorded each target's `CapacityLimited` Warning: at most one
    /// per [`event::WARNING_EVERY`].
    pub(crate) warned: std::sync::Mutex<std::collections::HashMap<String, tokio::time::Instant>>,
    /// The cluster's node pools as `clusters.get` last told them, kept for the container; the
    /// heartbeat and the doctor read them afresh, once each. `None` until first read.
    pub(crate) node_pools: tokio::sync::RwLock<Option<NodePools>>,
    /// The pools in use: [`Scaler::pools`] with each target that has no configured pool placed
    /// on the one GPU pool its Deployment's `nodeSelector` matches, and until when that holds
    /// ([`Scaler::placed_pools`]). Locked while the targets are placed, so that one placement
    /// serves every caller waiting for it. `None` until first placed.
    pub(crate) placed: tokio::sync::Mutex<Placement>,
    /// Each target's worker role, where one is configured: the doctor checks it.
    pub(crate) worker_roles: queue_scaler_core::worker::WorkerRoles,
    /// The cluster's service-account issuer without `https://`, where `GKE_CLUSTER` names the
    /// cluster (GKE's issuer follows from its name); `None` with `GKE_ENDPOINT`.
    pub(crate) cluster_issuer: Option<String>,
}

impl<K, R> Scaler<K, R, R> {
    /// A scaler; `rearm` is `None` when `REARM_ALARM=false`. It reads no queue until
    /// [`Scaler::with_queues`] gives it a reader, and records each write as an Event reported by
    /// `scale-up` or `scale-down` (see [`Scaler::with_events`]).
    pub(crate) fn new(
        direction: Direction,
        routes: Routes,
        dry_run: bool,
        api: K,
        rearm: Option<R>,
    ) -> Self {
        Scaler {
            direction,
            routes,
            dry_run,
            api,
            rearm,
            queues: None,
            events: Some(format!("scale-{direction}")),
            backoff: Backoff::default(),
            grace: HEARTBEAT_GRACE,
            own_arn: None,
            pools: queue_scaler_core::capacity::Pools::default(),
            written: std::sync::Mutex::default(),
            warned: std::sync::Mutex::default(),
            node_pools: tokio::sync::RwLock::default(),
            placed: tokio::sync::Mutex::default(),
            worker_roles: queue_scaler_core::worker::WorkerRoles::default(),
            cluster_issuer: None,
        }
    }
}

impl<K, R, Q> Scaler<K, R, Q> {
    /// Read the queues live with `queues` (`None`: no AWS access, the alarm's datapoint decides).
    pub(crate) fn with_queues<Q2>(self, queues: Option<Q2>) -> Scaler<K, R, Q2> {
        Scaler {
            direction: self.direction,
            routes: self.routes,
            dry_run: self.dry_run,
            api: self.api,
            rearm: self.rearm,
            queues,
            events: self.events,
            backoff: self.backoff,
            grace: self.grace,
            own_arn: self.own_arn,
            pools: self.pools,
            written: self.written,
            warned: self.warned,
            node_pools: self.node_pools,
            placed: self.placed,
            worker_roles: self.worker_roles,
            cluster_issuer: self.cluster_issuer,
        }
    }

    /// Use another heartbeat grace than [`HEARTBEAT_GRACE`] (`HEARTBEAT_GRACE_SECONDS`; the
    /// simulation runs its minutes faster than the wall clock its alarms' timestamps follow).
    pub(crate) fn with_heartbeat_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Record each write as an Event reported by `instance` (the function's name), or, with
    /// `None` (`KUBE_EVENTS=false`), record none.
    pub(crate) fn with_events(mut self, instance: Option<String>) -> Self {
        self.events = instance;
        self
    }

    /// Name the function's own ARN where the runtime passes none (`QUEUE_SCALER_FUNCTION_ARN`,
    /// `{function}` standing for `scale-up` or `scale-down`): the heartbeat and the doctor
    /// keep the alarms whose actions invoke it.
    pub(crate) fn with_own_arn(mut self, setting: Option<String>) -> Self {
        self.own_arn = setting;
        self
    }

    /// This function's own ARN, from what the runtime passed (`invoked`) and
    /// [`Scaler::with_own_arn`].
    pub(crate) fn own_arn(&self, invoked: &str) -> String {
        crate::identity::own_function_arn(invoked, self.direction, self.own_arn.as_deref())
    }

    /// Cap raises by the GPU pools the targets share (`pool`, `pool_gpus`, ...).
    pub(crate) fn with_pools(mut self, pools: queue_scaler_core::capacity::Pools) -> Self {
        self.pools = pools;
        self
    }

    /// Check these worker roles in the doctor, against the cluster `source` names: its issuer
    /// follows from a GKE cluster's name.
    pub(crate) fn with_worker_roles(
        mut self,
        roles: queue_scaler_core::worker::WorkerRoles,
        source: &queue_scaler_core::ClusterSource,
    ) -> Self {
        self.worker_roles = roles;
        self.cluster_issuer = match source {
            queue_scaler_core::ClusterSource::Discover { cluster, .. } => {
                Some(queue_scaler_core::worker::gke_issuer(cluster))
            }
            queue_scaler_core::ClusterSource::Direct(_) => None,
        };
        self
    }

    /// Use another backoff (tests make it short).
    #[cfg(test)]
    pub(crate) fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
}

impl<K: ScaleApi, R: AlarmRearm, Q: QueueDepth> Scaler<K, R, Q> {
    /// The one way into a running scaler: an event already read (an alarm in any of its
    /// shapes, or the heartbeat; or why it could not be read), handled, and its log lines
    /// written. [`crate::Function::handle`] reads the event and calls this; so do the crate's
    /// tests, over fakes.
    pub(crate) async fn invoke(
        &self,
        invocation: Result<Invocation, IntakeError>,
        call: Call<'_>,
    ) -> Result<Response, Failure> {
        let result = match invocation {
            Ok(Invocation::Alarm(signal)) => match self.foreign(&signal, call) {
                Some(refused) => Err(refused),
                None => self
                    .alarm(&signal, call.deadline)
                    .await
                    .map(|outcome| Response::Alarm(Box::new(outcome))),
            },
            Ok(Invocation::Heartbeat { .. }) => self.heartbeat(call).await.map(Response::Heartbeat),
            // `Function::handle` answers it before this: it needs the real clients.
            Ok(Invocation::Doctor) => Err(Failure::DoctorElsewhere),
            Err(e) => Err(Failure::from(e)),
        };
        log(self.direction, &result, call.request_id);
        result
    }
}
