//! The handler against fakes of its two I/O traits: what it reads, decides, writes and re-arms,
//! and that it writes nothing after a failure. The fakes fail the test on an unexpected call.

#![allow(clippy::unwrap_used)] // a failed lock or a bad fixture should fail the test loudly

use queue_scaler_core::{DescribedAlarm, Direction, Policy, Route, Routes, Target};
use queue_scaler_io::kube::scale::{Scale, ScaleMeta, ScaleSpec};
use queue_scaler_io::retry::Backoff;
use queue_scaler_io::AlarmRearm;
use queue_scaler_io::{Error, ErrorClass, KubeStatus, ScaleApi};
use queue_scaler_lambda::report::{Checked, Rearm, Response};
use queue_scaler_lambda::scaler::{Call, Scaler};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// A deployment's scale in memory, with scripted failures per verb.
#[derive(Default)]
struct FakeCluster {
    state: Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    replicas: i32,
    version: u64,
    get_failures: VecDeque<u16>,
    put_failures: VecDeque<u16>,
    /// Replicas someone else sets between our read and our write (once each).
    concurrent_writes: VecDeque<i32>,
    /// Writes that are applied but whose answer is lost (the connection drops).
    lost_answers: u32,
    calls: Vec<String>,
}

fn status(code: u16, verb: &'static str) -> Error {
    Error::Kube {
        verb,
        target: "ml/model-worker".into(),
        status: KubeStatus {
            code,
            reason: "Scripted".into(),
            message: "scripted failure".into(),
        },
    }
}

impl FakeCluster {
    fn at(replicas: i32) -> Self {
        let c = FakeCluster::default();
        c.state.lock().unwrap().replicas = replicas;
        c
    }
    fn replicas(&self) -> i32 {
        self.state.lock().unwrap().replicas
    }
    fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }
}

impl ScaleApi for FakeCluster {
    async fn get(&self, target: &Target) -> Result<Scale, Error> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("get {target}"));
        if let Some(code) = s.get_failures.pop_front() {
            return Err(status(code, "get"));
        }
        let scale = Scale {
            api_version: "autoscaling/v1".into(),
            kind: "Scale".into(),
            metadata: ScaleMeta {
                name: target.deployment.clone(),
                namespace: target.namespace.clone(),
                resource_version: Some(s.version.to_string()),
            },
            spec: ScaleSpec {
                replicas: s.replicas,
            },
            status: serde_json::Value::Null,
        };
        if let Some(r) = s.concurrent_writes.pop_front() {
            s.replicas = r;
            s.version += 1;
        }
        Ok(scale)
    }

    async fn put(&self, target: &Target, scale: &Scale) -> Result<Scale, Error> {
        let lose_answer = {
            let mut s = self.state.lock().unwrap();
            s.calls
                .push(format!("put {target} {}", scale.spec.replicas));
            if let Some(code) = s.put_failures.pop_front() {
                return Err(status(code, "update"));
            }
            if scale.metadata.resource_version.as_deref() != Some(&s.version.to_string()) {
                return Err(status(409, "update"));
            }
            s.replicas = scale.spec.replicas;
            s.version += 1;
            let lose = s.lost_answers > 0;
            s.lost_answers = s.lost_answers.saturating_sub(1);
            lose
        };
        if lose_answer {
            return Err(dropped_answer().await);
        }
        Ok(scale.clone())
    }
}

/// A real transport error of a request whose connection was made and then dropped before any
/// answer: what a write whose answer was lost looks like.
async fn dropped_answer() -> Error {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/scale", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut conn, &mut buf).await;
        drop(conn);
    });
    let source = reqwest::Client::new().put(&url).send().await.unwrap_err();
    Error::Transport { url, source }
}

#[derive(Default)]
struct FakeAlarms {
    fail: bool,
    rearmed: Mutex<Vec<(String, String)>>,
    /// What `DescribeAlarms` answers.
    described: Vec<DescribedAlarm>,
    described_names: Mutex<Vec<Vec<String>>>,
}

impl AlarmRearm for FakeAlarms {
    async fn describe(&self, names: &[&str]) -> Result<Vec<DescribedAlarm>, Error> {
        self.described_names
            .lock()
            .unwrap()
            .push(names.iter().map(|n| n.to_string()).collect());
        Ok(self
            .described
            .iter()
            .filter(|a| names.contains(&a.name.as_str()))
            .cloned()
            .collect())
    }

    async fn set_ok(&self, alarm: &str, reason: &str) -> Result<(), Error> {
        self.rearmed
            .lock()
            .unwrap()
            .push((alarm.into(), reason.into()));
        if self.fail {
            Err(Error::Aws {
                service: "monitoring",
                action: "SetAlarmState",
                status: 403,
                message: "AccessDenied".into(),
            })
        } else {
            Ok(())
        }
    }
}

/// The fake alarms, shared: the scaler owns its client, the test reads the calls afterwards.
struct Shared(std::sync::Arc<FakeAlarms>);

impl AlarmRearm for Shared {
    async fn set_ok(&self, alarm: &str, reason: &str) -> Result<(), Error> {
        self.0.set_ok(alarm, reason).await
    }
    async fn describe(&self, names: &[&str]) -> Result<Vec<DescribedAlarm>, Error> {
        self.0.describe(names).await
    }
}

fn target() -> Target {
    Target {
        namespace: "ml".into(),
        deployment: "model-worker".into(),
        policy: Policy {
            min: 2,
            max: 8,
            step: 1,
            messages_per_replica: Some(100),
        },
    }
}

fn scaler(
    direction: Direction,
    cluster: FakeCluster,
    alarms: Option<FakeAlarms>,
    dry_run: bool,
) -> Scaler<FakeCluster, FakeAlarms> {
    let routes = Routes::Table(vec![Route {
        alarms: vec![],
        queues: vec!["model-jobs".into()],
        wake_alarms: vec![],
        target: target(),
    }]);
    Scaler::new(direction, routes, dry_run, cluster, alarms).with_backoff(Backoff {
        attempts: 4,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
    })
}

fn single(target: Target, alarms: &[&str], wake: &[&str]) -> Routes {
    Routes::Single(Route {
        alarms: alarms.iter().map(|a| a.to_string()).collect(),
        queues: vec![],
        wake_alarms: wake.iter().map(|a| a.to_string()).collect(),
        target,
    })
}

fn event(name: &str) -> serde_json::Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

#[tokio::test]
async fn high_backlog_scales_up_to_what_the_backlog_needs_and_rearms() {
    let s = scaler(
        Direction::Up,
        FakeCluster::at(2),
        Some(FakeAlarms::default()),
        false,
    );
    let out = s
        .invoke(&event("alarm-high-backlog.json"), soon(), "req-1")
        .await
        .unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(2), Some(7), true));
    assert_eq!(s.api().replicas(), 7);
    assert_eq!(
        s.api().calls(),
        ["get ml/model-worker", "put ml/model-worker 7"]
    );
    assert_eq!(out.rearm, Rearm::Done);
    assert_eq!(out.target.as_deref(), Some("ml/model-worker"));
}

#[tokio::test]
async fn rearm_reason_says_what_queue_scaler_did() {
    // The scaler owns its re-arm client; share the fake to read its calls afterwards.
    let alarms = std::sync::Arc::new(FakeAlarms::default());
    let routes = single(target(), &[], &[]);
    let s = Scaler::new(
        Direction::Up,
        routes,
        false,
        FakeCluster::at(2),
        Some(Shared(alarms.clone())),
    );
    s.invoke(&event("alarm-high-backlog.json"), soon(), "r")
        .await
        .unwrap();
    let calls = alarms.rearmed.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "model-worker-backlog-high");
    assert!(
        calls[0].1.contains("ml/model-worker 2 -> 7"),
        "{}",
        calls[0].1
    );
}

#[tokio::test]
async fn low_backlog_scales_down_one_step() {
    let s = scaler(Direction::Down, FakeCluster::at(5), None, false);
    let out = s
        .invoke(&event("alarm-low-backlog.json"), soon(), "r")
        .await
        .unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(5), Some(4), true));
    assert_eq!(out.rearm, Rearm::Disabled);
}

#[tokio::test]
async fn ok_and_insufficient_data_touch_nothing() {
    let s = scaler(
        Direction::Up,
        FakeCluster::at(2),
        Some(FakeAlarms::default()),
        false,
    );
    let out = s
        .invoke(&event("alarm-ok.json"), soon(), "r")
        .await
        .unwrap();
    assert!(!out.applied && out.from.is_none());
    assert!(out.reason.contains("only ALARM acts"), "{}", out.reason);
    assert!(s.api().calls().is_empty());
    assert_eq!(out.rearm, Rearm::NotNeeded);
}

#[tokio::test]
async fn dry_run_reads_and_decides_but_writes_nothing() {
    let s = scaler(
        Direction::Up,
        FakeCluster::at(2),
        Some(FakeAlarms::default()),
        true,
    );
    let out = s
        .invoke(&event("alarm-high-backlog.json"), soon(), "r")
        .await
        .unwrap();
    assert_eq!(
        (out.from, out.to, out.applied, out.dry_run),
        (Some(2), Some(7), false, true)
    );
    assert_eq!(s.api().calls(), ["get ml/model-worker"]);
    assert_eq!(s.api().replicas(), 2);
    assert_eq!(out.rearm, Rearm::NotNeeded);
}

#[tokio::test]
async fn at_max_nothing_is_written_but_the_alarm_is_rearmed() {
    let s = scaler(
        Direction::Up,
        FakeCluster::at(8),
        Some(FakeAlarms::default()),
        false,
    );
    let out = s
        .invoke(&event("alarm-high-backlog.json"), soon(), "r")
        .await
        .unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(8), Some(8), false));
    assert_eq!(s.api().calls(), ["get ml/model-worker"]);
    assert_eq!(out.rearm, Rearm::Done);
}

#[tokio::test]
async fn a_conflict_is_read_again_and_decided_again() {
    // Someone scales 6 -> 4 between our first read and our write.
    let cluster = FakeCluster::at(6);
    cluster.state.lock().unwrap().concurrent_writes.push_back(4);
    let s = scaler(Direction::Down, cluster, None, false);
    let out = s
        .invoke(&event("alarm-low-backlog.json"), soon(), "r")
        .await
        .unwrap();
    assert_eq!(out.conflicts, 1);
    assert_eq!(
        (out.from, out.to, out.applied),
        (Some(4), Some(3), true),
        "decided again from the fresh read"
    );
    assert_eq!(s.api().replicas(), 3);
    assert_eq!(
        s.api().calls(),
        [
            "get ml/model-worker",
            "put ml/model-worker 5",
            "get ml/model-worker",
            "put ml/model-worker 3"
        ]
    );
}

#[tokio::test]
async fn endless_conflicts_give_up_as_retryable() {
    let cluster = FakeCluster::at(6);
    cluster
        .state
        .lock()
        .unwrap()
        .concurrent_writes
        .extend([7, 6, 7, 6, 7, 6, 7]);
    let s = scaler(Direction::Down, cluster, Some(FakeAlarms::default()), false);
    let err = s
        .invoke(&event("alarm-low-backlog.json"), soon(), "r")
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Retryable, "{err}");
    assert!(err.message.contains("409"), "{err}");
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let cluster = FakeCluster::at(2);
    cluster
        .state
        .lock()
        .unwrap()
        .get_failures
        .extend([503, 429]);
    cluster.state.lock().unwrap().put_failures.extend([500]);
    let s = scaler(Direction::Up, cluster, None, false);
    let out = s
        .invoke(&event("alarm-high-backlog.json"), soon(), "r")
        .await
        .unwrap();
    assert!(out.applied);
    assert_eq!(s.api().calls().len(), 5);
    assert_eq!(s.api().replicas(), 7);
}

#[tokio::test]
async fn forbidden_is_not_retried_and_writes_nothing() {
    let cluster = FakeCluster::at(2);
    cluster.state.lock().unwrap().get_failures.push_back(403);
    let s = scaler(Direction::Up, cluster, Some(FakeAlarms::default()), false);
    let err = s
        .invoke(&event("alarm-high-backlog.json"), soon(), "r")
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::NonRetryable);
    assert!(
        err.message
            .starts_with("alarm \"model-worker-backlog-high\", target ml/model-worker: "),
        "{err}"
    );
    assert_eq!(s.api().calls(), ["get ml/model-worker"]);
    assert_eq!(s.api().replicas(), 2);
}

#[tokio::test]
async fn an_alarm_without_a_route_is_named_and_nothing_is_called() {
    let s = scaler(Direction::Up, FakeCluster::at(2), None, false);
    let mut ev = event("alarm-set-by-set-alarm-state.json");
    // No queue dimension and an unknown alarm name: no route.
    ev["alarmData"]["alarmName"] = "other-queue-high".into();
    ev["alarmData"]["configuration"]["metrics"] = serde_json::json!([]);
    let err = s.invoke(&ev, soon(), "r").await.unwrap_err();
    assert_eq!(err.class, ErrorClass::NonRetryable);
    assert!(err.message.contains("\"other-queue-high\""), "{err}");
    assert!(s.api().calls().is_empty());
}

#[tokio::test]
async fn a_malformed_event_is_refused_saying_what_was_expected() {
    let s = scaler(Direction::Up, FakeCluster::at(2), None, false);
    let err = s
        .invoke(
            &serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}),
            soon(),
            "r",
        )
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::NonRetryable);
    assert!(
        err.message
            .contains("expected a CloudWatch alarm action event"),
        "{err}"
    );
    assert!(s.api().calls().is_empty());
}

#[tokio::test]
async fn a_failed_rearm_does_not_undo_the_scaling() {
    let s = scaler(
        Direction::Up,
        FakeCluster::at(2),
        Some(FakeAlarms {
            fail: true,
            ..Default::default()
        }),
        false,
    );
    let out = s
        .invoke(&event("alarm-high-backlog.json"), soon(), "r")
        .await
        .unwrap();
    assert!(out.applied);
    assert_eq!(s.api().replicas(), 7);
    assert!(
        matches!(out.rearm, Rearm::Failed(ref m) if m.contains("AccessDenied")),
        "{:?}",
        out.rearm
    );
}

#[tokio::test]
async fn no_datapoint_means_one_step() {
    let s = scaler(Direction::Up, FakeCluster::at(2), None, false);
    let out = s
        .invoke(&event("alarm-set-by-set-alarm-state.json"), soon(), "r")
        .await
        .unwrap();
    assert_eq!((out.from, out.to), (Some(2), Some(3)));
    assert!(
        out.reason.contains("no backlog datapoint"),
        "{}",
        out.reason
    );
}

#[tokio::test]
async fn a_lost_answer_is_read_again_and_never_applied_twice() {
    // The write 2 -> 3 is applied, but its answer is lost. The resent write meets 409 (the
    // version moved); reading again shows 3: that was our write, so no second step.
    let cluster = FakeCluster::at(2);
    cluster.state.lock().unwrap().lost_answers = 1;
    let s = scaler(Direction::Up, cluster, Some(FakeAlarms::default()), false);
    let out = s
        .invoke(&event("alarm-set-by-set-alarm-state.json"), soon(), "r")
        .await
        .unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(2), Some(3), true));
    assert_eq!(s.api().replicas(), 3, "one step, not two");
    assert!(out.reason.contains("answer was lost"), "{}", out.reason);
    assert_eq!(
        s.api().calls(),
        [
            "get ml/model-worker",
            "put ml/model-worker 3",
            "put ml/model-worker 3",
            "get ml/model-worker"
        ]
    );
    assert_eq!(out.rearm, Rearm::Done);
}

#[tokio::test]
async fn a_failure_still_rearms_the_alarm_so_its_next_evaluation_retries() {
    let alarms = FakeAlarms::default();
    let cluster = FakeCluster::at(2);
    cluster.state.lock().unwrap().get_failures.push_back(403);
    let s = scaler(Direction::Up, cluster, Some(alarms), false);
    let err = s
        .invoke(&event("alarm-high-backlog.json"), soon(), "r")
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::NonRetryable);
    assert!(err.message.contains("set back to OK"), "{err}");
    assert_eq!(s.api().replicas(), 2, "nothing written after a refusal");
}

#[tokio::test]
async fn a_retryable_failure_rearms_too_and_says_so() {
    let shared = std::sync::Arc::new(FakeAlarms::default());
    let cluster = FakeCluster::at(2);
    cluster.state.lock().unwrap().get_failures.extend([503; 10]);
    let s = Scaler::new(
        Direction::Up,
        single(target(), &[], &[]),
        false,
        cluster,
        Some(Shared(shared.clone())),
    )
    .with_backoff(Backoff {
        attempts: 3,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
    });
    let err = s
        .invoke(&event("alarm-high-backlog.json"), soon(), "r")
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Retryable, "{err}");
    let rearmed = shared.rearmed.lock().unwrap().clone();
    assert_eq!(rearmed.len(), 1);
    assert!(
        rearmed[0].1.contains("failed (Retryable)"),
        "{}",
        rearmed[0].1
    );
}

#[tokio::test]
async fn a_failed_rearm_after_a_failure_points_at_the_heartbeat() {
    let cluster = FakeCluster::at(2);
    cluster.state.lock().unwrap().get_failures.push_back(404);
    let alarms = FakeAlarms {
        fail: true,
        ..Default::default()
    };
    let s = scaler(Direction::Up, cluster, Some(alarms), false);
    let err = s
        .invoke(&event("alarm-high-backlog.json"), soon(), "r")
        .await
        .unwrap_err();
    assert!(err.message.contains("the heartbeat acts on it"), "{err}");
}

const UP_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:qs-scale-up";
const DOWN_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:qs-scale-down";

fn described(name: &str, state: &str, backlog: Option<f64>, action: &str) -> DescribedAlarm {
    DescribedAlarm {
        name: name.into(),
        state: state.into(),
        state_reason_data: backlog
            .map(|b| format!(r#"{{"version":"1.0","recentDatapoints":[{b:?}]}}"#)),
        state_updated: Some("2026-11-30T12:00:00.000Z".into()),
        actions: vec![action.into()],
        actions_enabled: true,
        queues: vec!["model-jobs".into()],
    }
}

fn heartbeat_event() -> serde_json::Value {
    event("heartbeat.json")
}

#[tokio::test]
async fn the_heartbeat_acts_on_each_of_its_alarms_in_alarm_and_nothing_else() {
    let alarms = FakeAlarms {
        described: vec![
            described("qs-high", "ALARM", Some(640.0), &format!("{UP_ARN}:live")),
            described("qs-high-2", "OK", Some(10.0), UP_ARN),
            described("qs-high-3", "INSUFFICIENT_DATA", None, UP_ARN),
            described("qs-low", "ALARM", Some(0.0), DOWN_ARN),
            DescribedAlarm {
                actions_enabled: false,
                ..described("qs-paused", "ALARM", Some(900.0), UP_ARN)
            },
        ],
        ..Default::default()
    };
    let routes = single(
        target(),
        &[
            "qs-high",
            "qs-high-2",
            "qs-high-3",
            "qs-low",
            "qs-paused",
            "qs-gone",
        ],
        &[],
    );
    let s = Scaler::new(
        Direction::Up,
        routes,
        false,
        FakeCluster::at(2),
        Some(alarms),
    );
    let call = Call {
        deadline: soon(),
        request_id: "hb",
        function_arn: UP_ARN,
    };
    let Response::Heartbeat(report) = s.respond(&heartbeat_event(), call).await.unwrap() else {
        panic!("not a heartbeat report");
    };
    let checked: Vec<(&str, Checked)> = report
        .alarms
        .iter()
        .map(|a| (a.alarm.as_str(), a.checked))
        .collect();
    assert_eq!(
        checked,
        [
            ("qs-high", Checked::Acted),
            ("qs-high-2", Checked::NotInAlarm),
            ("qs-high-3", Checked::NotInAlarm),
            ("qs-low", Checked::NotThisFunction),
            ("qs-paused", Checked::ActionsDisabled),
            ("qs-gone", Checked::Missing),
        ]
    );
    let acted = report.alarms[0].outcome.as_ref().unwrap();
    assert_eq!(
        (acted.from, acted.to, acted.applied),
        (Some(2), Some(7), true),
        "the datapoint of StateReasonData drives the decision"
    );
    assert_eq!(acted.rearm, Rearm::Done);
    assert_eq!(
        s.api().calls(),
        ["get ml/model-worker", "put ml/model-worker 7"]
    );
}

#[tokio::test]
async fn the_heartbeat_without_alarm_names_says_which_setting_to_add() {
    let s = scaler(
        Direction::Up,
        FakeCluster::at(2),
        Some(FakeAlarms::default()),
        false,
    );
    let call = Call {
        deadline: soon(),
        request_id: "hb",
        function_arn: UP_ARN,
    };
    let Response::Heartbeat(report) = s.respond(&heartbeat_event(), call).await.unwrap() else {
        panic!("not a heartbeat report");
    };
    assert!(
        report
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("TARGET_ALARMS"),
        "{report:?}"
    );
    assert!(s.api().calls().is_empty());
}

#[tokio::test]
async fn a_heartbeat_whose_action_fails_fails_and_still_rearms() {
    let cluster = FakeCluster::at(2);
    cluster.state.lock().unwrap().get_failures.push_back(403);
    let alarms = FakeAlarms {
        described: vec![described("qs-high", "ALARM", Some(640.0), UP_ARN)],
        ..Default::default()
    };
    let s = Scaler::new(
        Direction::Up,
        single(target(), &["qs-high"], &[]),
        false,
        cluster,
        Some(alarms),
    );
    let call = Call {
        deadline: soon(),
        request_id: "hb",
        function_arn: UP_ARN,
    };
    let err = s.respond(&heartbeat_event(), call).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::NonRetryable);
    assert!(
        err.message.starts_with("heartbeat: 1 of 1 alarm(s) failed"),
        "{err}"
    );
    assert!(err.message.contains("set back to OK"), "{err}");
}

fn zero_target() -> Target {
    Target {
        policy: Policy {
            min: 0,
            max: 4,
            step: 1,
            messages_per_replica: None,
        },
        ..target()
    }
}

#[tokio::test]
async fn a_wake_alarm_brings_a_target_up_from_zero_and_leaves_a_running_one_alone() {
    let mut ev = event("alarm-high-backlog.json");
    ev["alarmData"]["alarmName"] = "qs-wake".into();
    let routes = || single(zero_target(), &["qs-high"], &["qs-wake"]);
    let s = Scaler::new(
        Direction::Up,
        routes(),
        false,
        FakeCluster::at(0),
        Some(FakeAlarms::default()),
    );
    let out = s.invoke(&ev, soon(), "r").await.unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(0), Some(1), true));
    assert_eq!(out.rearm, Rearm::Done);
    let s = Scaler::new(
        Direction::Up,
        routes(),
        false,
        FakeCluster::at(2),
        Some(FakeAlarms::default()),
    );
    let out = s.invoke(&ev, soon(), "r").await.unwrap();
    assert_eq!((out.from, out.to, out.applied), (Some(2), Some(2), false));
    assert_eq!(s.api().calls(), ["get ml/model-worker"]);
    // Left in ALARM: re-armed, it would fire every period while any message waits.
    assert_eq!(out.rearm, Rearm::NotNeeded);
}

#[tokio::test]
async fn scale_down_keeps_one_replica_while_messages_wait_and_reaches_zero_at_none() {
    let mut ev = event("alarm-low-backlog.json");
    let s = Scaler::new(
        Direction::Down,
        single(zero_target(), &[], &[]),
        false,
        FakeCluster::at(1),
        None::<FakeAlarms>,
    );
    // The sample's datapoint is a few messages: keep one.
    let out = s.invoke(&ev, soon(), "r").await.unwrap();
    assert_eq!(
        (out.from, out.to, out.applied),
        (Some(1), Some(1), false),
        "{}",
        out.reason
    );
    ev["alarmData"]["state"]["reasonData"] =
        r#"{"version":"1.0","queryDate":"2026-11-28T13:20:00.000+0000","startDate":"2026-11-28T13:15:00.000+0000","statistic":"Maximum","period":60,"recentDatapoints":[0.0],"threshold":10.0,"evaluatedDatapoints":[{"timestamp":"2026-11-28T13:19:00.000+0000","sampleCount":1.0,"value":0.0}]}"#.into();
    let out = s.invoke(&ev, soon(), "r").await.unwrap();
    assert_eq!(
        (out.from, out.to, out.applied),
        (Some(1), Some(0), true),
        "{}",
        out.reason
    );
}
