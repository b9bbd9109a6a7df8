//! Re-arm against a real CloudWatch API: `moto_server` on 127.0.0.1 (from `make venv`), reached
//! through `AWS_ENDPOINT_URL_CLOUDWATCH`. The scale-up function runs in-process as deployed
//! (`Function::start`, then `Function::handle` with `events/alarm-high-backlog.json`)
//! against the local control plane.
//!
//! moto keeps alarms per region and reads the region from the SigV4 credential scope, so these
//! tests also show that `SetAlarmState` is signed for the function's `AWS_REGION`: an alarm
//! created in eu-west-1 is set back to OK by a function in eu-west-1, and not found by one in
//! us-east-1.
//!
//! Each test starts its own moto server, which its guard stops at the end, also on a panic.

use queue_scaler_core::{AlarmState, Direction};
use queue_scaler_harness::moto::{CloudWatch, MotoServer};
use queue_scaler_harness::{workspace_root, ControlPlane};
use queue_scaler_lambda::log_lines::outcome_line;
use queue_scaler_lambda::report::{Outcome, Rearm, Response};
use queue_scaler_lambda::Function;
use queue_scaler_simulation::live::{build_function, function_env, handle, NAMESPACE};
use queue_scaler_simulation::model::Scenario;
use queue_scaler_simulation::model_alarm::put_metric_alarm;
use serde_json::Value;
use std::path::Path;

/// The alarm `events/alarm-high-backlog.json` names; its datapoint is 640 messages.
const ALARM: &str = "model-worker-backlog-high";
const HOME: &str = "eu-west-1";
const ELSEWHERE: &str = "us-east-1";

async fn control() -> &'static ControlPlane {
    ControlPlane::shared(Path::new(env!("CARGO_TARGET_TMPDIR")))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn high_backlog_event() -> Value {
    let path = workspace_root().join("events/alarm-high-backlog.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("events/alarm-high-backlog.json: {e}"));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("events/alarm-high-backlog.json is not JSON: {e}"))
}

/// moto, with the scale-up alarm created in [`HOME`] and in ALARM, as CloudWatch leaves it
/// when it invokes the function.
async fn moto_with_alarm_in_alarm() -> (MotoServer, CloudWatch) {
    // Display, not Debug: a missing moto_server says to run `make venv`.
    let moto = MotoServer::start().await.unwrap_or_else(|e| panic!("{e}"));
    let home = moto.cloudwatch(HOME);
    let scenario = Scenario::backlog_burst();
    assert_eq!(scenario.scale_up.name, ALARM);
    put_metric_alarm(
        &home,
        &scenario.scale_up,
        &scenario.queue,
        scenario.period_seconds,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    home.set_alarm_state(ALARM, AlarmState::Alarm, "Threshold Crossed")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (moto, home)
}

/// The scale-up function for `ml/{deployment}` (min 2, max 8, 100 messages per replica), in
/// `region`, re-arming through moto unless `rearm` is false.
async fn scale_up(moto: &MotoServer, deployment: &str, region: &str, rearm: bool) -> Function {
    let control = control().await;
    control
        .add_deployment(NAMESPACE, deployment, 2)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut env = function_env(
        control,
        &Scenario::backlog_burst(),
        deployment,
        moto.endpoint(),
        rearm,
    );
    env.insert("AWS_REGION".into(), region.into());
    build_function(Direction::Up, &env)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn invoke(function: &Function) -> Outcome {
    let arn = "arn:aws:lambda:eu-west-1:123456789012:function:rearm-moto-scale-up";
    match handle(function, &high_backlog_event(), "rearm-moto-test", arn).await {
        Ok(Response::Alarm(outcome)) => *outcome,
        Ok(other) => panic!("not an alarm's outcome: {other:?}"),
        Err(e) => panic!("the invocation fails: {e}"),
    }
}

async fn state(cloudwatch: &CloudWatch) -> (AlarmState, String) {
    let status = cloudwatch
        .alarm(ALARM)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("the alarm exists");
    (status.state, status.reason)
}

#[tokio::test(flavor = "multi_thread")]
async fn rearm_sets_the_alarm_back_to_ok_in_the_region_the_function_signs_for() {
    let (moto, home) = moto_with_alarm_in_alarm().await;
    let function = scale_up(&moto, "rearm-home-region", HOME, true).await;

    let outcome = invoke(&function).await;

    assert!(outcome.applied, "{outcome:?}");
    assert_eq!(
        (outcome.from, outcome.to),
        (Some(2), Some(7)),
        "640 messages at 100 a replica"
    );
    assert_eq!(outcome.rearm, Rearm::Done);
    let (state, reason) = state(&home).await;
    assert_eq!(state, AlarmState::Ok);
    assert!(
        reason.starts_with("queue-scaler up: ml/rearm-home-region 2 -> 7 (scaled)"),
        "the reason says what the function did: {reason}"
    );
    let status = home.alarm(ALARM).await.unwrap().unwrap();
    assert!(status.arn.contains(":eu-west-1:"), "{}", status.arn);
    assert_eq!(
        control()
            .await
            .deployment_replicas(NAMESPACE, "rearm-home-region")
            .await
            .unwrap(),
        7
    );
    assert_eq!(
        moto.cloudwatch(ELSEWHERE).alarm(ALARM).await.unwrap(),
        None,
        "moto keeps alarms per region: us-east-1 has none"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rearm_signed_for_another_region_misses_the_alarm_and_the_scaling_stands() {
    let (moto, home) = moto_with_alarm_in_alarm().await;
    let function = scale_up(&moto, "rearm-other-region", ELSEWHERE, true).await;

    let outcome = invoke(&function).await;

    assert!(
        outcome.applied,
        "a failed re-arm does not undo scaling: {outcome:?}"
    );
    assert_eq!(outcome.to, Some(7));
    let Rearm::Failed(message) = &outcome.rearm else {
        panic!("re-arm should fail in us-east-1: {:?}", outcome.rearm);
    };
    assert!(
        message.contains("SetAlarmState") && message.contains("ResourceNotFound"),
        "{message}"
    );
    assert_eq!(
        state(&home).await.0,
        AlarmState::Alarm,
        "the eu-west-1 alarm is untouched"
    );
    assert_eq!(
        control()
            .await
            .deployment_replicas(NAMESPACE, "rearm-other-region")
            .await
            .unwrap(),
        7
    );
    let line = outcome_line(&outcome, "rearm-moto-test");
    assert_eq!(line["RearmFailed"], 1, "{line}");
    let metrics = &line["_aws"]["CloudWatchMetrics"][0]["Metrics"];
    assert!(
        metrics
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["Name"] == "RearmFailed"),
        "RearmFailed is declared as an EMF metric: {metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_rearm_off_the_alarm_stays_in_alarm() {
    let (moto, home) = moto_with_alarm_in_alarm().await;
    let function = scale_up(&moto, "rearm-off", HOME, false).await;

    let outcome = invoke(&function).await;

    assert!(outcome.applied, "{outcome:?}");
    assert_eq!(outcome.rearm, Rearm::Disabled);
    assert_eq!(state(&home).await.0, AlarmState::Alarm);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invocation_at_max_changes_nothing_but_still_rearms() {
    let (moto, home) = moto_with_alarm_in_alarm().await;
    let function = scale_up(&moto, "rearm-at-max", HOME, true).await;
    control()
        .await
        .set_deployment_replicas(NAMESPACE, "rearm-at-max", 8)
        .await
        .unwrap();

    let outcome = invoke(&function).await;

    assert!(!outcome.applied, "{outcome:?}");
    assert_eq!((outcome.from, outcome.to), (Some(8), Some(8)));
    assert_eq!(outcome.rearm, Rearm::Done);
    let (state, reason) = state(&home).await;
    assert_eq!(state, AlarmState::Ok);
    assert!(reason.contains("8 -> 8 (no change)"), "{reason}");
}
