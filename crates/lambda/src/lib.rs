//! The two Lambda functions of queue-scaler share everything but their [`Direction`]:
//!
//! - [`scaler`]: one invocation, from event to result, over the narrow I/O traits
//!   ([`queue_scaler_gke::ScaleApi`], [`rearm::AlarmRearm`]), so it runs against fakes in tests.
//! - [`report`]: the JSON result, the error the runtime reports, and the one log line per
//!   invocation, which carries CloudWatch Embedded Metric Format metrics.
//! - [`rearm`]: setting the alarm back to OK after acting, so a persisting backlog fires again.
//! - [`run`]: start-up (configuration, clients built once) and the runtime loop.

pub mod rearm;
pub mod report;
pub mod scaler;

use lambda_runtime::{service_fn, LambdaEvent};
use queue_scaler_core::{Config, Direction};
use queue_scaler_gke::aws::AwsClient;
use queue_scaler_gke::key::ServiceAccountKey;
use queue_scaler_gke::{GoogleTokens, KubeScaleApi};
use report::Failure;
use scaler::Scaler;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The scaler as deployed: Google tokens, the GKE cluster, CloudWatch re-arm.
pub type DeployedScaler = Scaler<KubeScaleApi<GoogleTokens>, AwsClient>;

/// Time kept back from the Lambda deadline to report a result or an error.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(750);

/// Build everything an invocation needs, once per container, from the environment.
pub async fn startup(direction: Direction) -> Result<DeployedScaler, Failure> {
    let config = Config::from_lookup(
        |name| std::env::var(name).ok(),
        |path| std::fs::read_to_string(path),
    )
    .map_err(Failure::config)?;
    build(direction, config).await
}

/// Build the deployed scaler from a checked configuration: load the key, build the token
/// provider and the cluster client.
pub async fn build(direction: Direction, config: Config) -> Result<DeployedScaler, Failure> {
    let public = queue_scaler_gke::cluster::public_client().map_err(Failure::from_io)?;
    let aws = AwsClient::new(&config.aws, public.clone());
    let key = ServiceAccountKey::load(&config.key, aws.as_ref())
        .await
        .map_err(Failure::from_io)?;
    tracing::info!(account = %key.client_email, targets = config.routes.targets().len(), dry_run = config.dry_run,
        rearm = config.rearm_alarm, "queue-scaler started");
    let tokens =
        Arc::new(GoogleTokens::new(key, config.token_scopes.clone()).map_err(Failure::from_io)?);
    let api =
        KubeScaleApi::new(tokens, config.cluster.clone(), public).map_err(Failure::from_io)?;
    let rearm = match (config.rearm_alarm, aws) {
        (false, _) => None,
        (true, Some(aws)) => Some(aws),
        // Configuration checks region and credentials whenever re-arm is on.
        (true, None) => {
            return Err(Failure {
                class: queue_scaler_gke::ErrorClass::Config,
                message: "REARM_ALARM is on but AWS_REGION or the AWS credentials are missing"
                    .into(),
            })
        }
    };
    Ok(Scaler::new(
        direction,
        config.routes,
        config.dry_run,
        api,
        rearm,
    ))
}

/// Time left until the invocation's deadline.
///
/// Lambda sends the deadline as milliseconds since the epoch. The runtime emulator
/// (`cargo lambda watch`) sends the timeout itself (e.g. 600000): a "deadline" less than a day
/// after the epoch is read as time from now.
pub fn time_left(deadline: SystemTime) -> Duration {
    match deadline.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(relative) if relative < Duration::from_secs(86_400) => relative,
        _ => deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    }
}

/// Run a function: start up, then serve invocations until the runtime stops.
///
/// A configuration problem does not crash the process: every invocation returns it as a `Config`
/// error, so it shows in the invoke result and the logs, with every problem listed.
pub async fn run(direction: Direction) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let state = Arc::new(match startup(direction).await {
        Ok(scaler) => Ok(scaler),
        Err(failure) => {
            tracing::error!(error_type = %failure.class, error = %failure.message, "start-up failed");
            Err(failure)
        }
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let state = Arc::clone(&state);
        async move {
            let remaining = time_left(event.context.deadline());
            let deadline = tokio::time::Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN);
            match state.as_ref() {
                Ok(scaler) => {
                    scaler
                        .invoke(&event.payload, deadline, &event.context.request_id)
                        .await
                }
                Err(failure) => {
                    report::log_failure(direction, None, failure, &event.context.request_id);
                    Err(failure.clone())
                }
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
        let left = time_left(SystemTime::now() + Duration::from_secs(30));
        assert!(
            left > Duration::from_secs(29) && left <= Duration::from_secs(30),
            "{left:?}"
        );
        assert_eq!(
            time_left(SystemTime::now() - Duration::from_secs(5)),
            Duration::ZERO
        );
    }

    #[test]
    fn the_emulators_relative_deadline_is_the_time_left() {
        let left = time_left(SystemTime::UNIX_EPOCH + Duration::from_millis(600_000));
        assert_eq!(left, Duration::from_secs(600));
    }
}
