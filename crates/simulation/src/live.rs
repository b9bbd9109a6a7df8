//! The real path of a run: the two functions as deployed (`queue_scaler_lambda::build`, then
//! `Scaler::invoke` in-process) against the local control plane, with the alarms kept in moto,
//! where CloudWatch evaluation (the model) and the functions' re-arm (`SetAlarmState`, SigV4
//! signed) meet.
//!
//! Does I/O: HTTP to local-gke and moto, through the functions and directly.

use crate::control_plane::ControlPlane;
use crate::moto::{CloudWatch, MotoServer, ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use crate::run::{Environment, REGION};
use crate::timeline::Invocation;
use crate::{model::Scenario, Error};
use queue_scaler_core::{AlarmState, Config, Direction};
use queue_scaler_lambda::DeployedScaler;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// The namespace the simulated deployments live in.
pub const NAMESPACE: &str = "ml";

/// How long one invocation may take, as the Lambda timeout would allow.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The functions' environment for a run, as a Lambda configuration would set it.
pub fn function_env(
    control: &ControlPlane,
    scenario: &Scenario,
    deployment: &str,
    cloudwatch_endpoint: &str,
    rearm: bool,
) -> HashMap<String, String> {
    let policy = &scenario.policy;
    let mut env: HashMap<String, String> = control.env().iter().cloned().collect();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_owned(), v);
    };
    set("TARGET_NAMESPACE", NAMESPACE.into());
    set("TARGET_DEPLOYMENT", deployment.into());
    set("MIN_REPLICAS", policy.min.to_string());
    set("MAX_REPLICAS", policy.max.to_string());
    set("SCALE_STEP", policy.step.to_string());
    if let Some(mpr) = policy.messages_per_replica {
        set("MESSAGES_PER_REPLICA", mpr.to_string());
    }
    set("REARM_ALARM", rearm.to_string());
    set("AWS_REGION", REGION.into());
    set("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.into());
    set("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.into());
    set("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch_endpoint.into());
    env
}

/// Build a function from an environment, as its cold start does.
pub async fn build_function(
    direction: Direction,
    env: &HashMap<String, String>,
) -> Result<DeployedScaler, Error> {
    let config = Config::from_lookup(|k| env.get(k).cloned(), |p| std::fs::read_to_string(p))
        .map_err(|e| Error::Function {
            direction,
            message: e.to_string(),
        })?;
    queue_scaler_lambda::build(direction, config)
        .await
        .map_err(|f| Error::Function {
            direction,
            message: f.to_string(),
        })
}

/// One run's world: its deployment in the control plane, its alarms in moto, its two functions.
#[derive(Debug)]
pub struct Live<'a> {
    control: &'a ControlPlane,
    cloudwatch: CloudWatch,
    scenario: Scenario,
    deployment: String,
    up: DeployedScaler,
    down: DeployedScaler,
}

impl<'a> Live<'a> {
    /// Create `deployment` at the policy's min, both alarms in moto (in [`REGION`]), and the two
    /// functions with `REARM_ALARM` set to `rearm`.
    pub async fn prepare(
        control: &'a ControlPlane,
        moto: &MotoServer,
        scenario: &Scenario,
        deployment: &str,
        rearm: bool,
    ) -> Result<Live<'a>, Error> {
        control
            .add_deployment(NAMESPACE, deployment, scenario.policy.min)
            .await?;
        let cloudwatch = moto.cloudwatch(REGION);
        for spec in [&scenario.scale_up, &scenario.scale_down] {
            cloudwatch
                .put_metric_alarm(spec, &scenario.queue, scenario.period_seconds)
                .await?;
            // The model starts every alarm without data, as CloudWatch does.
            cloudwatch
                .set_alarm_state(&spec.name, AlarmState::InsufficientData, "new alarm")
                .await?;
        }
        let env = function_env(control, scenario, deployment, moto.endpoint(), rearm);
        Ok(Live {
            control,
            cloudwatch,
            scenario: scenario.clone(),
            deployment: deployment.to_owned(),
            up: build_function(Direction::Up, &env).await?,
            down: build_function(Direction::Down, &env).await?,
        })
    }
}

impl Environment for Live<'_> {
    async fn replicas(&mut self) -> Result<i32, Error> {
        self.control.replicas(NAMESPACE, &self.deployment).await
    }

    async fn alarm_state(&mut self, direction: Direction) -> Result<AlarmState, Error> {
        self.cloudwatch
            .state(&self.scenario.alarm(direction).name)
            .await
    }

    async fn set_alarm_state(
        &mut self,
        direction: Direction,
        state: AlarmState,
        reason: &str,
    ) -> Result<(), Error> {
        self.cloudwatch
            .set_alarm_state(&self.scenario.alarm(direction).name, state, reason)
            .await
    }

    async fn invoke(
        &mut self,
        direction: Direction,
        period: usize,
        event: &Value,
    ) -> Result<Invocation, Error> {
        let scaler = match direction {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        };
        let deadline = tokio::time::Instant::now() + INVOCATION_TIMEOUT;
        let request_id = format!("simulation-{}-{direction}-{period}", self.deployment);
        let outcome = scaler
            .invoke(event, deadline, &request_id)
            .await
            .map_err(|f| Error::Invocation {
                direction,
                period,
                message: f.to_string(),
            })?;
        match (outcome.from, outcome.to) {
            (Some(from), Some(to)) => Ok(Invocation {
                from,
                to,
                applied: outcome.applied,
                rearmed: false,
            }),
            _ => Err(Error::Invocation {
                direction,
                period,
                message: format!("the function read no replicas: {}", outcome.reason),
            }),
        }
    }
}

/// One whole run on the real path: its own moto server (stopped when the run ends, also on an
/// error), `deployment` in the process's control plane, both functions with `REARM_ALARM=rearm`.
pub async fn run(
    control: &ControlPlane,
    scenario: &Scenario,
    deployment: &str,
    rearm: bool,
) -> Result<crate::timeline::Timeline, Error> {
    let moto = MotoServer::start().await?;
    let mut live = Live::prepare(control, &moto, scenario, deployment, rearm).await?;
    crate::run::run(scenario, rearm, &mut live).await
}
