//! What a function is made of, and how it starts: the [`Function`] as deployed, ready or broken,
//! and the `Scaler` it runs, with its clients. Each invocation is handled in
//! [`crate::invocation`] ([`Function::handle`], the one way in).
//!
//! Start-up reads and checks the configuration and builds the clients, once per container, with
//! no network: the key (maybe from Secrets Manager), the token and the cluster's discovery happen
//! in the first invocation that needs them, with the same backoff as every other call, and are
//! tried again by the next invocation when they fail. A function whose configuration is invalid
//! still starts: it answers every invocation with the problem ([`Failure::Broken`]), after
//! re-arming the alarm that invoked it.

use crate::failure::Failure;
use crate::identity::function_name;
use crate::report::Rearm;
use lambda_runtime::Context;
use queue_scaler_core::alarm::parse_event;
use queue_scaler_core::config::{roots_from_environment, AwsSettings, Logging};
use queue_scaler_core::{AlarmState, Config, Direction, Routes};
use queue_scaler_io::aws::AwsClient;
use queue_scaler_io::backoff::Backoff;
use queue_scaler_io::{GoogleTokens, KubeScaleApi, PublicRoots};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
pub const HEARTBEAT_GRACE: Duration = Duration::from_secs(60);

/// A function as deployed: ready to scale, or broken by its configuration.
#[derive(Debug)]
pub struct Function {
    pub(crate) direction: Direction,
    pub(crate) state: State,
}

#[derive(Debug)]
pub(crate) enum State {
    Ready(Box<DeployedScaler>),
    Broken(Broken),
}

impl Function {
    /// Start as the container does, from the process's environment.
    pub async fn from_env(direction: Direction) -> Self {
        Function::start(direction, environment, |path| std::fs::read_to_string(path)).await
    }

    /// Start from an environment (`lookup`) and the files it names (`read`): the configuration
    /// checked with every problem at once, the clients built. Never fails: a function that
    /// cannot start answers every invocation with why ([`Function::broken`]).
    pub async fn start(
        direction: Direction,
        lookup: impl Fn(&str) -> Option<String>,
        read: impl Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Self {
        let roots = PublicRoots::load(roots_from_environment(&lookup));
        let started = match Config::from_lookup(&lookup, read) {
            Ok(config) => build(direction, config, roots.clone()),
            Err(e) => Err(Failure::from(e)),
        };
        let state = match started {
            Ok(scaler) => State::Ready(Box::new(scaler)),
            Err(failure) => {
                tracing::error!(error_type = %failure.class(), error = %failure, "start-up failed");
                State::Broken(Broken::new(failure, lookup, &roots))
            }
        };
        Function { direction, state }
    }

    /// Why the function could not start, when it could not.
    pub fn broken(&self) -> Option<&Failure> {
        match &self.state {
            State::Ready(_) => None,
            State::Broken(broken) => Some(&broken.failure),
        }
    }
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
    /// per [`crate::report::WARNING_EVERY`].
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

/// An invocation's context as the runtime would pass it: `request_id`, the invoked function's
/// ARN, and the deadline `timeout` from now. For tools that run a [`Function`] in-process.
pub fn context(request_id: &str, function_arn: &str, timeout: Duration) -> Context {
    let deadline = SystemTime::now() + timeout;
    let mut context = Context::default();
    context.request_id = request_id.to_owned();
    context.invoked_function_arn = function_arn.to_owned();
    context.deadline = deadline
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    context
}

/// Build the deployed scaler from a checked configuration: the token source (its key is loaded
/// on first use), the cluster client and the AWS client. No I/O.
fn build(
    direction: Direction,
    config: Config,
    roots: PublicRoots,
) -> Result<DeployedScaler, Failure> {
    // The system's roots are read once, on a thread of their own while start-up goes on (from
    // `Function::start`), and shared by every client that needs them.
    let public = queue_scaler_io::http::public_client(&roots).map_err(Failure::Startup)?;
    let aws = AwsClient::new(&config.aws, public.clone());
    tracing::info!(
        targets = config.routes.targets().len(),
        alarms = config.routes.alarm_names().len(),
        dry_run = config.dry_run,
        rearm = config.rearm_alarm,
        kube_events = config.kube_events,
        "queue-scaler started"
    );
    let tokens = Arc::new(GoogleTokens::lazy(
        config.key.clone(),
        aws.clone(),
        public.clone(),
        config.token_scopes.clone(),
    ));
    let api = KubeScaleApi::new(tokens, config.cluster.clone(), public, roots)
        .map_err(Failure::Startup)?;
    // The live queue read needs only AWS access, re-arm or not.
    let queues = aws.clone();
    let rearm = match (config.rearm_alarm, aws) {
        (false, _) => None,
        (true, Some(aws)) => Some(aws),
        // Configuration checks region and credentials whenever re-arm is on.
        (true, None) => return Err(Failure::RearmWithoutAws),
    };
    // The Events name the function that reported them: its name in Lambda, else which one.
    let events = config.kube_events.then(|| {
        config
            .function_name
            .unwrap_or_else(|| function_name(direction))
    });
    Ok(
        Scaler::new(direction, config.routes, config.dry_run, api, rearm)
            .with_queues(queues)
            .with_events(events)
            .with_heartbeat_grace(config.heartbeat_grace)
            .with_own_arn(config.function_arn.clone())
            .with_pools(config.pools)
            .with_worker_roles(config.worker_roles, &config.cluster),
    )
}

/// A function that could not start. It still re-arms the alarm that invoked it (when the AWS
/// settings allow), so the alarm keeps firing every evaluation while the backlog persists, and
/// the first invocation after the configuration is fixed acts at once.
#[derive(Debug)]
pub(crate) struct Broken {
    /// Why it could not start, reported by every invocation.
    pub(crate) failure: Arc<Failure>,
    rearm: Option<AwsClient>,
}

impl Broken {
    /// The broken function, from the environment it failed to start with.
    fn new(failure: Failure, lookup: impl Fn(&str) -> Option<String>, roots: &PublicRoots) -> Self {
        let (settings, rearm_on) = AwsSettings::from_lookup(lookup);
        let rearm = rearm_on
            .then(|| {
                let http = queue_scaler_io::http::public_client(roots).ok()?;
                AwsClient::new(&settings, http)
            })
            .flatten();
        Broken {
            failure: Arc::new(failure),
            rearm,
        }
    }

    /// The start-up problem; for an ALARM event, after re-arming its alarm.
    pub(crate) async fn respond(&self, direction: Direction, event: &serde_json::Value) -> Failure {
        let signal = parse_event(event).ok();
        let mut rearm = Rearm::NotNeeded;
        if let (Some(signal), Some(aws)) = (&signal, &self.rearm) {
            if signal.state == AlarmState::Alarm {
                let why = format!(
                    "queue-scaler {direction}: invalid configuration; set back to OK so the alarm fires again once it is fixed."
                );
                rearm = match queue_scaler_io::AlarmRearm::set_ok(aws, &signal.alarm, &why).await {
                    Ok(()) => Rearm::Done,
                    Err(e) => Rearm::failed(&e),
                };
            }
        }
        Failure::Broken {
            cause: Arc::clone(&self.failure),
            signal: signal.map(Box::new),
            rearm,
        }
    }
}

/// The process environment: the lookup every setting is read through. The names, and what
/// each means, are `queue_scaler_core::config`'s.
pub(crate) fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Log lines as `lambda_runtime`'s default subscriber writes them (level from
/// `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`: [`Logging`]).
/// Not the runtime's own `init_default_subscriber`, because it writes colour codes even when
/// stdout is not a terminal, and CloudWatch's text format would show them.
pub(crate) fn init_logging() {
    use std::io::IsTerminal as _;
    use tracing_subscriber::{filter::LevelFilter, EnvFilter};
    let logging = Logging::from_lookup(environment);
    let level = logging
        .level
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(
            EnvFilter::builder()
                .with_default_directive(level.into())
                .parse_lossy(logging.directives.unwrap_or_default()),
        );
    if logging.json {
        builder.json().init();
    } else {
        builder.init();
    }
}
