//! The real path of a run: the two functions as deployed (`queue_scaler_lambda::Function`, started
//! from the run's environment, then handling each event in-process as the Lambda runtime passes it,
//! with the function's ARN) against
//! the local control plane, with the alarms kept in moto, where CloudWatch evaluation (the model),
//! the functions' re-arm (`SetAlarmState`, SigV4 signed) and the heartbeat's `DescribeAlarms`
//! meet. Each alarm's `AlarmActions` names the ARN of the function it invokes, and each function
//! names its alarms in `TARGET_ALARMS` (and `TARGET_WAKE_ALARMS`), as the template wires them.
//!
//! A run's faults are injected here ([`FaultKind`]): 503 answers and lost answers through the
//! control plane's admin API, a refused `SetAlarmState` through [`CloudWatchProxy`], an invalid
//! configuration by starting the functions from it (a function that could not start, as
//! `queue_scaler_lambda::run` gives it) and starting them again from the good one when the fault
//! ends.
//!
//! [`Behaviour::Today`] runs the same handlers the way the functions behaved before the loop was
//! made never stuck; what it emulates, and how, is on [`Behaviour`].
//!
//! Does I/O: HTTP to local-gke and moto, through the functions and directly.

use crate::model::{AlarmKind, FaultKind, QueueSample};
use crate::model_alarm::put_metric_alarm_invoking;
use crate::run::Environment;
use crate::timeline::{Beat, Invocation};
use crate::{model::Scenario, Error};
use lambda_runtime::LambdaEvent;
use local_gke::admin::Fault;
use queue_scaler_core::{AlarmState, Direction, QueueCounts};
use queue_scaler_harness::control_plane::ControlPlane;
use queue_scaler_harness::events::{function_arn, REGION};
use queue_scaler_harness::moto::{CloudWatch, MotoServer, ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use queue_scaler_harness::proxy::CloudWatchProxy;
use queue_scaler_harness::standin::AwsStandIn;
use queue_scaler_lambda::report::{Checked, Response};
use queue_scaler_lambda::{Failure, Function};
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
    let mut env: HashMap<String, String> = control.key_env().into_iter().collect();
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
    // The model's queue lives in the model, not in moto's SQS: moto refuses the queue at once,
    // and each decision takes the alarm's datapoint, as the alarm-driven loop modelled here. A
    // scenario with `live_queue` serves it through `crate::standin` instead (`Live::prepare_with`).
    set("AWS_ENDPOINT_URL_SQS", cloudwatch_endpoint.into());
    // A simulated minute passes in far less than a real one, while moto stamps the alarms' state
    // changes with the wall clock: no grace, or every alarm looks fresh to the heartbeat.
    set("HEARTBEAT_GRACE_SECONDS", "0".into());
    env
}

/// Start a function from an environment, as its cold start does; an error when it could not
/// start.
pub async fn build_function(
    direction: Direction,
    env: &HashMap<String, String>,
) -> Result<Function, Error> {
    let function = start_function(direction, env).await;
    match function.broken() {
        None => Ok(function),
        Some(failure) => Err(Error::Function {
            direction,
            message: failure.to_string(),
        }),
    }
}

/// Handle `event` as the function's runtime would pass it, `request_id` and the function's
/// `arn` in its context.
pub async fn handle(
    function: &Function,
    event: &Value,
    request_id: &str,
    arn: &str,
) -> Result<Response, Failure> {
    let context = queue_scaler_lambda::context(request_id, arn, INVOCATION_TIMEOUT);
    function
        .handle(LambdaEvent::new(event.clone(), context))
        .await
}

/// The name of a run's function: `{deployment}-scale-{direction}`.
pub fn function_name(deployment: &str, direction: Direction) -> String {
    format!("{deployment}-scale-{direction}")
}

/// One function's own environment: the shared one, plus the alarms it names for the heartbeat
/// (`TARGET_ALARMS`, and `TARGET_WAKE_ALARMS` for scale-up when the run has a wake alarm).
fn own_env(
    base: &HashMap<String, String>,
    scenario: &Scenario,
    direction: Direction,
) -> HashMap<String, String> {
    let mut env = base.clone();
    let names = |wake: bool| -> Vec<String> {
        scenario
            .alarm_kinds()
            .into_iter()
            .filter(|k| k.direction() == direction && (*k == AlarmKind::Wake) == wake)
            .filter_map(|k| Some(scenario.alarm_spec(k)?.name.clone()))
            .collect()
    };
    env.insert("TARGET_ALARMS".into(), names(false).join(","));
    let wake = names(true);
    if !wake.is_empty() {
        env.insert("TARGET_WAKE_ALARMS".into(), wake.join(","));
    }
    env
}

/// How the functions behave in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// As they are: re-arm after a failure too, the heartbeat (at the scenario's schedule), the
    /// wake alarm (when the scenario has one), a lost answer read again, the zero rule.
    New,
    /// As they were before: no heartbeat and no wake alarm (the scenario's are dropped), and,
    /// emulated around the same handlers, the alarm left in ALARM after a failed invocation
    /// (the run sets it back to ALARM, with its reason data, when the function re-armed it) and
    /// a lost answer that costs a second step (the run invokes the function once more with the
    /// same event: the old retry met 409, read the replicas the lost write had left, and decided
    /// again from them, which is what a second invocation does). The zero rule cannot be turned
    /// off: it is in the decision itself.
    Today,
}

impl Behaviour {
    /// The scenario as this behaviour runs it.
    pub fn scenario(self, scenario: &Scenario) -> Scenario {
        match self {
            Behaviour::New => scenario.clone(),
            Behaviour::Today => Scenario {
                heartbeat_every: None,
                wake: None,
                ..scenario.clone()
            },
        }
    }

    /// `new` or `today`.
    pub fn label(self) -> &'static str {
        match self {
            Behaviour::New => "new",
            Behaviour::Today => "today",
        }
    }
}

/// The configuration a bad deployment gives the functions: `MAX_REPLICAS` below `MIN_REPLICAS`,
/// which start-up refuses.
fn bad_env(good: &HashMap<String, String>, scenario: &Scenario) -> HashMap<String, String> {
    let mut env = good.clone();
    env.insert(
        "MAX_REPLICAS".into(),
        (scenario.policy.min - 1).max(0).to_string(),
    );
    env.insert(
        "MIN_REPLICAS".into(),
        (scenario.policy.min.max(1)).to_string(),
    );
    env
}

/// Start a function from `env` as its container does: a configuration it refuses gives a
/// function that could not start, which still re-arms the alarm that invoked it.
async fn start_function(direction: Direction, env: &HashMap<String, String>) -> Function {
    Function::start(
        direction,
        |k| env.get(k).cloned(),
        |p| std::fs::read_to_string(p),
    )
    .await
}

/// One run's world: its deployment in the control plane, its alarms in moto, its two functions.
#[derive(Debug)]
pub struct Live<'a> {
    control: &'a ControlPlane,
    cloudwatch: CloudWatch,
    scenario: Scenario,
    deployment: String,
    behaviour: Behaviour,
    env: HashMap<String, String>,
    up: Function,
    down: Function,
    proxy: Option<CloudWatchProxy>,
    /// SQS for the functions' live reads, serving the model's queue (`Scenario::live_queue`).
    sqs: Option<AwsStandIn>,
    /// The reason and reason data each alarm was last put in ALARM with.
    firing: HashMap<AlarmKind, (String, Option<String>)>,
    /// Whether to count the scale writes of each invocation from the request log.
    track_writes: bool,
}

impl<'a> Live<'a> {
    /// Create `deployment` at the policy's min, the scenario's alarms in moto (in [`REGION`]),
    /// and the two functions with `REARM_ALARM` set to `rearm`, behaving as they do now.
    pub async fn prepare(
        control: &'a ControlPlane,
        moto: &MotoServer,
        scenario: &Scenario,
        deployment: &str,
        rearm: bool,
    ) -> Result<Live<'a>, Error> {
        Live::prepare_with(control, moto, scenario, deployment, rearm, Behaviour::New).await
    }

    /// [`Live::prepare`], the functions behaving as `behaviour` says. `scenario` is run as it
    /// is: pass it through [`Behaviour::scenario`] first.
    pub async fn prepare_with(
        control: &'a ControlPlane,
        moto: &MotoServer,
        scenario: &Scenario,
        deployment: &str,
        rearm: bool,
        behaviour: Behaviour,
    ) -> Result<Live<'a>, Error> {
        control
            .add_deployment(NAMESPACE, deployment, scenario.starting_replicas())
            .await?;
        let has = |kind: FaultKind| scenario.faults.iter().any(|f| f.kind == kind);
        let proxy = if has(FaultKind::SetAlarmStateRefused) {
            Some(CloudWatchProxy::start(moto.endpoint()).await?)
        } else {
            None
        };
        let cloudwatch = moto.cloudwatch(REGION);
        for kind in scenario.alarm_kinds() {
            let Some(spec) = scenario.alarm_spec(kind) else {
                continue;
            };
            let action = function_arn(REGION, &function_name(deployment, kind.direction()));
            put_metric_alarm_invoking(
                &cloudwatch,
                spec,
                &scenario.queue,
                scenario.period_seconds,
                &[action],
            )
            .await?;
            // The model starts every alarm without data, as CloudWatch does.
            cloudwatch
                .set_alarm_state(&spec.name, AlarmState::InsufficientData, "new alarm")
                .await?;
        }
        let endpoint = proxy.as_ref().map_or(moto.endpoint(), |p| p.endpoint());
        let mut env = function_env(control, scenario, deployment, endpoint, rearm);
        let sqs = if scenario.live_queue {
            let sqs = AwsStandIn::start(Duration::ZERO).await?;
            sqs.set_queue(&scenario.queue, QueueCounts::default());
            env.insert("AWS_ENDPOINT_URL_SQS".into(), sqs.endpoint().to_owned());
            env.insert("TARGET_QUEUES".into(), scenario.queue.clone());
            Some(sqs)
        } else {
            None
        };
        let up = start_function(Direction::Up, &own_env(&env, scenario, Direction::Up)).await;
        let down = start_function(Direction::Down, &own_env(&env, scenario, Direction::Down)).await;
        Ok(Live {
            control,
            cloudwatch,
            scenario: scenario.clone(),
            deployment: deployment.to_owned(),
            behaviour,
            env,
            up,
            down,
            proxy,
            sqs,
            firing: HashMap::new(),
            track_writes: has(FaultKind::LostAnswer),
        })
    }

    fn alarm_name(&self, kind: AlarmKind) -> Result<String, Error> {
        self.scenario
            .alarm_spec(kind)
            .map(|s| s.name.clone())
            .ok_or_else(|| Error::Scenario {
                detail: format!("the scenario has no {} alarm", kind.label()),
            })
    }

    fn scale_path(&self) -> String {
        local_gke::scale_path(NAMESPACE, &self.deployment)
    }

    /// (Re)start both functions, from the good configuration or the bad one.
    async fn restart_functions(&mut self, bad: bool) -> Result<(), Error> {
        for direction in [Direction::Up, Direction::Down] {
            let mut env = own_env(&self.env, &self.scenario, direction);
            if bad {
                env = bad_env(&env, &self.scenario);
            }
            let function = start_function(direction, &env).await;
            if bad && function.broken().is_none() {
                return Err(Error::Function {
                    direction,
                    message: "the bad configuration was accepted".into(),
                });
            }
            match direction {
                Direction::Up => self.up = function,
                Direction::Down => self.down = function,
            }
        }
        Ok(())
    }

    async fn fault_on(&mut self, kind: FaultKind) -> Result<(), Error> {
        match kind {
            FaultKind::ScaleApiDown => {
                // Every request, read or write, until the fault ends.
                let fault = Fault::status(&self.scale_path(), 1_000_000, 503);
                Ok(self.control.add_fault(&fault).await?)
            }
            FaultKind::LostAnswer => {
                let fault = Fault {
                    method: Some("PUT".to_owned()),
                    apply_then_drop: true,
                    ..Fault::new(&self.scale_path())
                };
                Ok(self.control.add_fault(&fault).await?)
            }
            FaultKind::SetAlarmStateRefused => {
                if let Some(proxy) = &self.proxy {
                    proxy.refuse_set_alarm_state(true);
                }
                Ok(())
            }
            FaultKind::BadConfiguration => self.restart_functions(true).await,
            FaultKind::MessagesAtZero => Ok(()),
        }
    }

    async fn fault_off(&mut self, kind: FaultKind) -> Result<(), Error> {
        match kind {
            FaultKind::ScaleApiDown | FaultKind::LostAnswer => {
                Ok(self.control.clear_faults().await?)
            }
            FaultKind::SetAlarmStateRefused => {
                if let Some(proxy) = &self.proxy {
                    proxy.refuse_set_alarm_state(false);
                }
                Ok(())
            }
            FaultKind::BadConfiguration => self.restart_functions(false).await,
            FaultKind::MessagesAtZero => Ok(()),
        }
    }

    /// Clear what the run injected into the control plane, so that the next run starts clean.
    pub async fn finish(&mut self) -> Result<(), Error> {
        let injected = self
            .scenario
            .faults
            .iter()
            .any(|f| matches!(f.kind, FaultKind::ScaleApiDown | FaultKind::LostAnswer));
        if injected {
            self.control.clear_faults().await?;
        }
        Ok(())
    }

    fn function(&self, direction: Direction) -> &Function {
        match direction {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        }
    }

    /// Invoke a function with an alarm event, once; a failure is recorded, not returned.
    async fn call(
        &mut self,
        direction: Direction,
        period: usize,
        event: &Value,
    ) -> Result<Invocation, Error> {
        let arn = function_arn(REGION, &function_name(&self.deployment, direction));
        let request_id = format!("simulation-{}-{direction}-{period}", self.deployment);
        let before = self
            .control
            .deployment_replicas(NAMESPACE, &self.deployment)
            .await?;
        let result = handle(self.function(direction), event, &request_id, &arn).await;
        match result {
            Ok(Response::Alarm(outcome)) => match (outcome.from, outcome.to) {
                (Some(from), Some(to)) => Ok(Invocation {
                    from,
                    to,
                    applied: outcome.applied,
                    rearmed: false,
                    failed: None,
                    writes: u32::from(outcome.applied),
                }),
                _ => Err(Error::Invocation {
                    direction,
                    period,
                    message: format!("the function read no replicas: {}", outcome.reason),
                }),
            },
            Ok(Response::Heartbeat(_)) => Err(Error::Invocation {
                direction,
                period,
                message: "an alarm event was answered as a heartbeat".into(),
            }),
            Ok(Response::Doctor(_)) => Err(Error::Invocation {
                direction,
                period,
                message: "an alarm event was answered as a doctor's report".into(),
            }),
            Err(failure) => {
                let after = self
                    .control
                    .deployment_replicas(NAMESPACE, &self.deployment)
                    .await?;
                Ok(Invocation {
                    from: before,
                    to: after,
                    applied: after != before,
                    rearmed: false,
                    failed: Some(failure.class()),
                    writes: u32::from(after != before),
                })
            }
        }
    }

    /// Writes the cluster applied since the request log was last cleared, and how many of them
    /// lost their answer: a dropped `PUT` (status 0) is one that `apply_then_drop` applied.
    async fn writes(&self) -> Result<(u32, u32), Error> {
        let statuses = self
            .control
            .scale_writes(NAMESPACE, &self.deployment)
            .await?;
        let count = |f: &dyn Fn(u16) -> bool| {
            u32::try_from(statuses.iter().filter(|s| f(**s)).count()).unwrap_or(u32::MAX)
        };
        Ok((count(&|s| s == 200 || s == 0), count(&|s| s == 0)))
    }
}

impl Environment for Live<'_> {
    async fn begin_period(&mut self, period: usize) -> Result<(), Error> {
        let faults = self.scenario.faults.clone();
        for fault in faults.iter().filter(|f| f.end == period && f.end > f.start) {
            self.fault_off(fault.kind).await?;
        }
        for fault in faults
            .iter()
            .filter(|f| f.start == period && f.end > f.start)
        {
            self.fault_on(fault.kind).await?;
        }
        Ok(())
    }

    async fn replicas(&mut self) -> Result<i32, Error> {
        Ok(self
            .control
            .deployment_replicas(NAMESPACE, &self.deployment)
            .await?)
    }

    async fn queue(&mut self, sample: &QueueSample) -> Result<(), Error> {
        if let Some(sqs) = &self.sqs {
            let counts = QueueCounts {
                visible: sample.visible,
                in_flight: sample.in_flight,
                delayed: 0,
            };
            sqs.set_queue(&self.scenario.queue, counts);
        }
        Ok(())
    }

    async fn alarm_state(&mut self, kind: AlarmKind) -> Result<AlarmState, Error> {
        Ok(self.cloudwatch.state(&self.alarm_name(kind)?).await?)
    }

    async fn set_alarm_state(
        &mut self,
        kind: AlarmKind,
        state: AlarmState,
        reason: &str,
        reason_data: Option<&str>,
    ) -> Result<(), Error> {
        if state == AlarmState::Alarm {
            self.firing
                .insert(kind, (reason.to_owned(), reason_data.map(str::to_owned)));
        }
        Ok(self
            .cloudwatch
            .set_alarm_state_with_data(&self.alarm_name(kind)?, state, reason, reason_data)
            .await?)
    }

    async fn invoke(
        &mut self,
        kind: AlarmKind,
        period: usize,
        event: &Value,
    ) -> Result<Invocation, Error> {
        let direction = kind.direction();
        if self.track_writes {
            self.control.clear_requests().await?;
        }
        let mut invocation = self.call(direction, period, event).await?;
        if self.track_writes {
            let (writes, lost) = self.writes().await?;
            invocation.writes = writes;
            if self.behaviour == Behaviour::Today && lost > 0 && invocation.failed.is_none() {
                self.control.clear_requests().await?;
                let second = self.call(direction, period, event).await?;
                let (more, _) = self.writes().await?;
                invocation = Invocation {
                    to: second.to,
                    applied: invocation.applied || second.applied,
                    failed: second.failed,
                    writes: writes + more,
                    ..invocation
                };
            }
        }
        if self.behaviour == Behaviour::Today && invocation.failed.is_some() {
            let name = self.alarm_name(kind)?;
            if self.cloudwatch.state(&name).await? == AlarmState::Ok {
                let (reason, data) = self.firing.get(&kind).cloned().unwrap_or_default();
                self.cloudwatch
                    .set_alarm_state_with_data(&name, AlarmState::Alarm, &reason, data.as_deref())
                    .await?;
            }
        }
        Ok(invocation)
    }

    async fn heartbeat(
        &mut self,
        direction: Direction,
        period: usize,
        event: &Value,
    ) -> Result<Beat, Error> {
        let arn = function_arn(REGION, &function_name(&self.deployment, direction));
        let request_id = format!(
            "simulation-{}-{direction}-{period}-heartbeat",
            self.deployment
        );
        let before = self
            .control
            .deployment_replicas(NAMESPACE, &self.deployment)
            .await?;
        let result = handle(self.function(direction), event, &request_id, &arn).await;
        let after = self
            .control
            .deployment_replicas(NAMESPACE, &self.deployment)
            .await?;
        let mut invocation = Invocation {
            from: before,
            to: after,
            applied: after != before,
            rearmed: false,
            failed: None,
            writes: u32::from(after != before),
        };
        match result {
            Ok(Response::Heartbeat(report)) => {
                let outcomes = report.alarms.iter().filter_map(|a| a.outcome.as_ref());
                let raised = report.targets.iter().filter(|t| t.applied).count();
                invocation.writes = u32::try_from(outcomes.filter(|o| o.applied).count() + raised)
                    .unwrap_or(u32::MAX);
                Ok(Beat {
                    acted: report
                        .alarms
                        .iter()
                        .filter(|a| matches!(a.checked, Checked::Acted | Checked::Failed))
                        .count(),
                    invocation,
                })
            }
            Ok(Response::Alarm(_)) => Err(Error::Invocation {
                direction,
                period,
                message: "the heartbeat was answered as an alarm event".into(),
            }),
            Ok(Response::Doctor(_)) => Err(Error::Invocation {
                direction,
                period,
                message: "the heartbeat was answered as a doctor's report".into(),
            }),
            Err(failure) => {
                invocation.failed = Some(failure.class());
                Ok(Beat {
                    acted: 0,
                    invocation,
                })
            }
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
    run_with(control, scenario, deployment, rearm, Behaviour::New).await
}

/// [`run`], the functions behaving as `behaviour` says, with the scenario's faults. Runs with
/// faults in one process must not overlap: ending a fault clears the control plane's faults.
pub async fn run_with(
    control: &ControlPlane,
    scenario: &Scenario,
    deployment: &str,
    rearm: bool,
    behaviour: Behaviour,
) -> Result<crate::timeline::Timeline, Error> {
    let scenario = behaviour.scenario(scenario);
    let moto = MotoServer::start().await?;
    let mut live =
        Live::prepare_with(control, &moto, &scenario, deployment, rearm, behaviour).await?;
    let timeline = crate::run::run(&scenario, rearm, &mut live).await;
    let cleared = live.finish().await;
    let timeline = timeline?;
    cleared?;
    Ok(timeline)
}

/// A fault scenario on the real path, the functions behaving as `behaviour` says, on its own
/// deployment (`{id}-{new|today}`).
pub async fn run_fault(
    control: &ControlPlane,
    fault: &crate::faults::FaultScenario,
    behaviour: Behaviour,
) -> Result<crate::timeline::Timeline, Error> {
    let deployment = format!("{}-{}", fault.id, behaviour.label());
    run_with(control, &fault.scenario, &deployment, true, behaviour).await
}

/// Both runs of one scenario: the functions as they are, then (except for a variant) as they were.
async fn run_both(
    control: &ControlPlane,
    scenario: crate::faults::FaultScenario,
) -> Result<crate::faults::FaultRun, Error> {
    let new = run_fault(control, &scenario, Behaviour::New).await?;
    let today = match scenario.variant_of {
        None => Some(run_fault(control, &scenario, Behaviour::Today).await?),
        Some(_) => None,
    };
    Ok(crate::faults::FaultRun {
        scenario,
        new,
        today,
    })
}

/// Each scenario's runs, in the order given. Scenarios whose faults go through the control
/// plane's admin API (which clears all faults at once, and whose request log a lost answer reads)
/// run one after the other; the others run one after the other beside them, each with its own
/// moto, deployment and functions.
pub async fn run_faults(
    control: &ControlPlane,
    scenarios: Vec<crate::faults::FaultScenario>,
) -> Result<Vec<crate::faults::FaultRun>, Error> {
    let (shared, own): (Vec<_>, Vec<_>) = scenarios
        .into_iter()
        .enumerate()
        .partition(|(_, s)| s.injects_into_control_plane());
    let lane = |list: Vec<(usize, crate::faults::FaultScenario)>| async move {
        let mut runs = Vec::with_capacity(list.len());
        for (i, scenario) in list {
            runs.push((i, run_both(control, scenario).await?));
        }
        Ok::<_, Error>(runs)
    };
    let (shared, own) = tokio::join!(lane(shared), lane(own));
    let mut runs = shared?;
    runs.extend(own?);
    runs.sort_by_key(|(i, _)| *i);
    Ok(runs.into_iter().map(|(_, run)| run).collect())
}

/// The live-signal scenarios' runs ([`crate::live_signal`]), one after the other, each on its
/// own deployments (`{id}-before`, `{id}-after`) and moto. They inject nothing into the control
/// plane, so they may run beside the fault scenarios.
pub async fn run_live_signal(
    control: &ControlPlane,
    scenarios: Vec<crate::live_signal::LiveScenario>,
) -> Result<Vec<crate::live_signal::LiveRun>, Error> {
    let mut runs = Vec::with_capacity(scenarios.len());
    for scenario in scenarios {
        let mut both = Vec::with_capacity(2);
        for (live, name) in [(false, "before"), (true, "after")] {
            let deployment = format!("{}-{name}", scenario.id);
            both.push(run(control, &scenario.run_as(live), &deployment, true).await?);
        }
        let (Some(after), Some(before)) = (both.pop(), both.pop()) else {
            continue;
        };
        runs.push(crate::live_signal::LiveRun {
            scenario,
            before,
            after,
        });
    }
    Ok(runs)
}
