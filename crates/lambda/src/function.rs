//! What a function is made of, and how it starts: the [`Function`] as deployed, ready (running
//! the [`crate::scaler`] it built) or broken. Each invocation is handled in
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
use crate::scaler::{DeployedScaler, Scaler};
use lambda_runtime::Context;
use queue_scaler_core::alarm::parse_event;
use queue_scaler_core::config::{roots_from_environment, AwsSettings, Logging};
use queue_scaler_core::{AlarmState, Config, Direction};
use queue_scaler_io::aws::AwsClient;
use queue_scaler_io::{GoogleTokens, KubeScaleApi, PublicRoots};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
