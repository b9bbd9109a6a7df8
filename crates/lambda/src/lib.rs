//! The two Lambda functions of queue-scaler share everything but their [`Direction`]:
//!
//! - [`scaler`]: one invocation, from event to result, over the narrow I/O traits
//!   ([`queue_scaler_io::ScaleApi`], [`queue_scaler_io::AlarmRearm`]), so it runs against fakes
//!   in tests.
//! - [`report`]: the JSON result, the error the runtime reports, and the one log line per
//!   invocation, which carries CloudWatch Embedded Metric Format metrics.
//! - [`doctor`]: `{"action": "doctor"}`, the read-only check of a deployment.
//! - [`run`]: start-up (configuration, clients built once, no network) and the runtime loop;
//!   [`Broken`] answers for a function whose configuration is invalid.

pub mod doctor;
pub mod report;
pub mod scaler;

use lambda_runtime::{service_fn, LambdaEvent};
use queue_scaler_core::alarm::{parse_invocation, Invocation};
use queue_scaler_core::config::AwsSettings;
use queue_scaler_core::{AlarmState, Config, Direction};
use queue_scaler_io::aws::AwsClient;
use queue_scaler_io::{GoogleTokens, KubeScaleApi, PublicRoots};
use report::{Failure, Response};
use scaler::{Call, Scaler};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The scaler as deployed: Google tokens, the GKE cluster, CloudWatch re-arm.
pub type DeployedScaler = Scaler<KubeScaleApi<GoogleTokens>, AwsClient>;

/// Time kept back from the Lambda deadline to report a result or an error.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(750);

/// Build everything an invocation needs, once per container, from the environment.
///
/// Only configuration problems are found here, and they are kept for the container's life.
/// Nothing here touches the network: the key (maybe from Secrets Manager), the token and the
/// cluster's discovery happen in the first invocation that needs them, with the same backoff as
/// every other call, and are tried again by the next invocation when they fail.
pub async fn startup(direction: Direction) -> Result<DeployedScaler, Failure> {
    let config = Config::from_lookup(
        |name| std::env::var(name).ok(),
        |path| std::fs::read_to_string(path),
    )
    .map_err(Failure::config)?;
    build(direction, config).await
}

/// Build the deployed scaler from a checked configuration: the token source (its key is loaded
/// on first use), the cluster client and the AWS client. No I/O.
pub async fn build(direction: Direction, config: Config) -> Result<DeployedScaler, Failure> {
    // The system's roots are read once, on a thread of their own while start-up goes on, and
    // shared by every client that needs them.
    let roots = PublicRoots::load();
    let public = queue_scaler_io::http::public_client(&roots).map_err(Failure::from_io)?;
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
        .map_err(Failure::from_io)?;
    // The live queue read needs only AWS access, re-arm or not.
    let queues = aws.clone();
    let rearm = match (config.rearm_alarm, aws) {
        (false, _) => None,
        (true, Some(aws)) => Some(aws),
        // Configuration checks region and credentials whenever re-arm is on.
        (true, None) => {
            return Err(Failure {
                class: queue_scaler_io::ErrorClass::Config,
                message: "REARM_ALARM is on but AWS_REGION or the AWS credentials are missing"
                    .into(),
            })
        }
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

/// A function whose configuration is invalid. It still re-arms the alarm that invoked it (when
/// the AWS settings allow), so the alarm keeps firing every evaluation while the backlog
/// persists, and the first invocation after the configuration is fixed acts at once.
#[derive(Debug)]
pub struct Broken {
    direction: Direction,
    /// The configuration problem, reported by every invocation.
    pub failure: Failure,
    rearm: Option<AwsClient>,
}

impl Broken {
    /// The broken function, from the environment it failed to start with.
    pub fn new(
        direction: Direction,
        failure: Failure,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let (settings, rearm_on) = AwsSettings::from_lookup(lookup);
        let rearm = rearm_on
            .then(|| {
                let http = queue_scaler_io::http::public_client(&PublicRoots::load()).ok()?;
                AwsClient::new(&settings, http)
            })
            .flatten();
        Broken {
            direction,
            failure,
            rearm,
        }
    }

    /// Report the configuration problem; for an ALARM event, re-arm its alarm first.
    pub async fn respond(&self, event: &serde_json::Value, request_id: &str) -> Failure {
        let mut failure = self.failure.clone();
        let signal = queue_scaler_core::alarm::parse_event(event).ok();
        if let (Some(signal), Some(aws)) = (&signal, &self.rearm) {
            if signal.state == AlarmState::Alarm {
                let why = format!(
                    "queue-scaler {}: invalid configuration; set back to OK so the alarm fires again once it is fixed.",
                    self.direction
                );
                let rearm = match aws.set_alarm_ok(&signal.alarm, &why).await {
                    Ok(()) => report::Rearm::Done,
                    Err(e) => report::Rearm::failed(&e),
                };
                failure = failure.after_rearm(&rearm);
            }
        }
        report::log_failure(
            self.direction,
            signal.as_ref().map(|s| (s, None)),
            &failure,
            request_id,
        );
        failure
    }
}

/// The setting that names a function's own ARN where the runtime gives none.
pub const FUNCTION_ARN_SETTING: &str = "QUEUE_SCALER_FUNCTION_ARN";

/// What `{function}` stands for in [`FUNCTION_ARN_SETTING`]: `scale-up` or `scale-down`.
fn function_name(direction: Direction) -> String {
    format!("scale-{direction}")
}

/// This function's own ARN, which decides the alarms that are its own (the heartbeat, the
/// doctor). Lambda passes it with each invocation (`invoked`); the runtime emulator (`cargo lambda
/// watch`) passes the placeholder `function-arn`, and the doctor run from a shell has none. There
/// `setting`, the value of `QUEUE_SCALER_FUNCTION_ARN`, names it, with `{function}` standing for
/// `scale-up` or `scale-down`, so one environment serves both functions. A Lambda ARN from the
/// runtime always wins.
pub fn own_function_arn(invoked: &str, direction: Direction, setting: Option<&str>) -> String {
    match setting {
        Some(arn) if !arn.is_empty() && !invoked.starts_with("arn:") => {
            arn.replace("{function}", &function_name(direction))
        }
        _ => invoked.to_owned(),
    }
}

/// The other function's ARN, when `setting` (`QUEUE_SCALER_FUNCTION_ARN`) names both through
/// `{function}`: an alarm of the other function is then expected among the alarms one shared
/// environment names.
pub fn sibling_function_arn(direction: Direction, setting: Option<&str>) -> Option<String> {
    let other = match direction {
        Direction::Up => Direction::Down,
        Direction::Down => Direction::Up,
    };
    setting
        .filter(|arn| arn.contains("{function}"))
        .map(|arn| arn.replace("{function}", &function_name(other)))
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
/// `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`), but with colour
/// only on a terminal: CloudWatch's text format would show the escape codes.
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
    let state = Arc::new(match startup(direction).await {
        Ok(scaler) => Ok(scaler),
        Err(failure) => {
            tracing::error!(error_type = %failure.class, error = %failure.message, "start-up failed");
            Err(Broken::new(direction, failure, |name| {
                std::env::var(name).ok()
            }))
        }
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let state = Arc::clone(&state);
        async move {
            let remaining = time_left(event.context.deadline());
            let deadline = tokio::time::Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN);
            let function_arn = own_function_arn(
                &event.context.invoked_function_arn,
                direction,
                std::env::var(FUNCTION_ARN_SETTING).ok().as_deref(),
            );
            let call = Call {
                deadline,
                request_id: &event.context.request_id,
                function_arn: &function_arn,
            };
            let invocation = parse_invocation(&event.payload);
            let doctor = matches!(invocation, Ok(Invocation::Doctor));
            match (state.as_ref(), doctor) {
                (Ok(scaler), true) => Ok(Response::Doctor(scaler.doctor(call).await)),
                (Err(broken), true) => Ok(Response::Doctor(doctor::Report::broken(
                    direction,
                    &broken.failure,
                ))),
                (Ok(scaler), false) => scaler.answer(invocation, call).await,
                (Err(broken), false) => Err(broken.respond(&event.payload, call.request_id).await),
            }
        }
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
    fn the_runtimes_arn_wins_and_the_setting_names_the_function_elsewhere() {
        let real = "arn:aws:lambda:eu-west-1:123456789012:function:qs-scale-up:live";
        let setting = Some("arn:aws:lambda:eu-west-1:123456789012:function:qs-{function}");
        assert_eq!(own_function_arn(real, Direction::Up, setting), real);
        assert_eq!(
            own_function_arn("function-arn", Direction::Down, setting),
            "arn:aws:lambda:eu-west-1:123456789012:function:qs-scale-down"
        );
        assert_eq!(
            own_function_arn(
                "",
                Direction::Up,
                setting.map(|s| s.replace("{function}", "x")).as_deref()
            ),
            "arn:aws:lambda:eu-west-1:123456789012:function:qs-x"
        );
        assert_eq!(
            own_function_arn("function-arn", Direction::Up, None),
            "function-arn"
        );
        assert_eq!(
            own_function_arn("function-arn", Direction::Up, Some("")),
            "function-arn"
        );
        assert_eq!(
            sibling_function_arn(Direction::Up, setting).as_deref(),
            Some("arn:aws:lambda:eu-west-1:123456789012:function:qs-scale-down")
        );
        assert_eq!(
            sibling_function_arn(Direction::Up, Some("arn:aws:lambda:r:1:function:one")),
            None
        );
    }

    #[test]
    fn the_emulators_relative_deadline_is_the_time_left() {
        let left = time_left(SystemTime::UNIX_EPOCH + Duration::from_millis(600_000));
        assert_eq!(left, Duration::from_secs(600));
    }
}
