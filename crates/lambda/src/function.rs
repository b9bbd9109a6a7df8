//! A function as deployed, from start-up to each invocation: the one way in, for the binaries
//! and for every tool ([`Function::handle`]).
//!
//! Start-up reads and checks the configuration and builds the clients, once per container, with
//! no network: the key (maybe from Secrets Manager), the token and the cluster's discovery happen
//! in the first invocation that needs them, with the same backoff as every other call, and are
//! tried again by the next invocation when they fail. A function whose configuration is invalid
//! still starts: it answers every invocation with the problem ([`Failure::Broken`]), after
//! re-arming the alarm that invoked it.

use crate::failure::Failure;
use crate::identity::{function_name, own_function_arn, FUNCTION_ARN_SETTING};
use crate::report::{Rearm, Response};
use crate::scaler::{Call, DeployedScaler, Scaler};
use lambda_runtime::{service_fn, Context, LambdaEvent};
use queue_scaler_core::alarm::{parse_event, parse_invocation, Invocation};
use queue_scaler_core::config::AwsSettings;
use queue_scaler_core::{AlarmState, Config, Direction};
use queue_scaler_io::aws::AwsClient;
use queue_scaler_io::{GoogleTokens, KubeScaleApi, PublicRoots};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Time kept back from the Lambda deadline to report a result or an error.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(750);

/// A function as deployed: ready to scale, or broken by its configuration.
#[derive(Debug)]
pub struct Function {
    direction: Direction,
    state: State,
}

#[derive(Debug)]
enum State {
    Ready(Box<DeployedScaler>),
    Broken(Broken),
}

impl Function {
    /// Start as the container does, from the process's environment.
    pub async fn from_env(direction: Direction) -> Self {
        Function::start(
            direction,
            |name| std::env::var(name).ok(),
            |path| std::fs::read_to_string(path),
        )
        .await
    }

    /// Start from an environment (`lookup`) and the files it names (`read`): the configuration
    /// checked with every problem at once, the clients built. Never fails: a function that
    /// cannot start answers every invocation with why ([`Function::broken`]).
    pub async fn start(
        direction: Direction,
        lookup: impl Fn(&str) -> Option<String>,
        read: impl Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Self {
        let started = match Config::from_lookup(&lookup, read) {
            Ok(config) => build(direction, config),
            Err(e) => Err(Failure::from(e)),
        };
        let state = match started {
            Ok(scaler) => State::Ready(Box::new(scaler)),
            Err(failure) => {
                tracing::error!(error_type = %failure.class(), error = %failure, "start-up failed");
                State::Broken(Broken::new(failure, lookup))
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

    /// Handle one invocation as the runtime passes it: an alarm in any of its shapes, the
    /// heartbeat, or `{"action": "doctor"}`. Writes the invocation's log lines.
    pub async fn handle(&self, event: LambdaEvent<serde_json::Value>) -> Result<Response, Failure> {
        let LambdaEvent { payload, context } = event;
        let remaining = time_left(context.deadline());
        let deadline = tokio::time::Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN);
        let function_arn = own_function_arn(
            &context.invoked_function_arn,
            self.direction,
            std::env::var(FUNCTION_ARN_SETTING).ok().as_deref(),
        );
        let call = Call {
            deadline,
            request_id: &context.request_id,
            function_arn: &function_arn,
        };
        let doctor = matches!(parse_invocation(&payload), Ok(Invocation::Doctor));
        match (&self.state, doctor) {
            (State::Ready(scaler), true) => Ok(Response::Doctor(scaler.doctor(call).await)),
            (State::Broken(broken), true) => Ok(Response::Doctor(
                crate::report::doctor::Report::broken(self.direction, &broken.failure.message()),
            )),
            (State::Ready(scaler), false) => scaler.handle(&payload, call).await,
            (State::Broken(broken), false) => {
                let result = Err(broken.respond(self.direction, &payload).await);
                crate::scaler::log(self.direction, &result, call.request_id);
                result
            }
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
fn build(direction: Direction, config: Config) -> Result<DeployedScaler, Failure> {
    // The system's roots are read once, on a thread of their own while start-up goes on, and
    // shared by every client that needs them.
    let roots = PublicRoots::load();
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
            .with_heartbeat_grace(config.heartbeat_grace),
    )
}

/// A function that could not start. It still re-arms the alarm that invoked it (when the AWS
/// settings allow), so the alarm keeps firing every evaluation while the backlog persists, and
/// the first invocation after the configuration is fixed acts at once.
#[derive(Debug)]
struct Broken {
    /// Why it could not start, reported by every invocation.
    failure: Arc<Failure>,
    rearm: Option<AwsClient>,
}

impl Broken {
    /// The broken function, from the environment it failed to start with.
    fn new(failure: Failure, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let (settings, rearm_on) = AwsSettings::from_lookup(lookup);
        let rearm = rearm_on
            .then(|| {
                let http = queue_scaler_io::http::public_client(&PublicRoots::load()).ok()?;
                AwsClient::new(&settings, http)
            })
            .flatten();
        Broken {
            failure: Arc::new(failure),
            rearm,
        }
    }

    /// The start-up problem; for an ALARM event, after re-arming its alarm.
    async fn respond(&self, direction: Direction, event: &serde_json::Value) -> Failure {
        let signal = parse_event(event).ok();
        let mut rearm = Rearm::NotNeeded;
        if let (Some(signal), Some(aws)) = (&signal, &self.rearm) {
            if signal.state == AlarmState::Alarm {
                let why = format!(
                    "queue-scaler {direction}: invalid configuration; set back to OK so the alarm fires again once it is fixed."
                );
                rearm = match aws.set_alarm_ok(&signal.alarm, &why).await {
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

/// Time left until the invocation's deadline.
///
/// Lambda sends the deadline as milliseconds since the epoch. The runtime emulator
/// (`cargo lambda watch`) sends the timeout itself (e.g. 600000): a "deadline" less than a day
/// after the epoch is read as time from now.
pub fn time_left(deadline: SystemTime) -> Duration {
    time_left_at(deadline, SystemTime::now())
}

/// [`time_left`] as seen at `now`.
fn time_left_at(deadline: SystemTime, now: SystemTime) -> Duration {
    match deadline.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(relative) if relative < Duration::from_secs(86_400) => relative,
        _ => deadline.duration_since(now).unwrap_or_default(),
    }
}

/// Log lines as `lambda_runtime`'s default subscriber writes them (level from
/// `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`). Not the
/// runtime's own `init_default_subscriber`, because it writes colour codes even when stdout is
/// not a terminal, and CloudWatch's text format would show them.
fn init_logging() {
    use std::io::IsTerminal as _;
    use tracing_subscriber::{filter::LevelFilter, EnvFilter};
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(
            EnvFilter::builder()
                .with_default_directive(level.into())
                .from_env_lossy(),
        );
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Run a function: start up, then serve invocations until the runtime stops.
///
/// A configuration problem does not crash the process: every invocation returns it as a `Config`
/// error, so it shows in the invoke result and the logs, with every problem listed.
pub async fn run(direction: Direction) -> Result<(), lambda_runtime::Error> {
    init_logging();
    let function = Arc::new(Function::from_env(direction).await);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let function = Arc::clone(&function);
        async move { function.handle(event).await }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absolute_deadline_counts_from_now() {
        // A real deadline: milliseconds since the epoch, years after it.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        assert_eq!(
            time_left_at(now + Duration::from_secs(30), now),
            Duration::from_secs(30)
        );
        assert_eq!(
            time_left_at(now - Duration::from_secs(5), now),
            Duration::ZERO
        );
    }

    #[test]
    fn the_emulators_relative_deadline_is_the_time_left() {
        let left = time_left(SystemTime::UNIX_EPOCH + Duration::from_millis(600_000));
        assert_eq!(left, Duration::from_secs(600));
    }

    #[test]
    fn a_tools_context_has_its_deadline_ahead() {
        let context = context(
            "r",
            "arn:aws:lambda:r:1:function:f",
            Duration::from_secs(30),
        );
        let left = time_left(context.deadline());
        assert!(
            left > Duration::from_secs(25) && left <= Duration::from_secs(30),
            "{left:?}"
        );
    }
}
