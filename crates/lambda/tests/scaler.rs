//! The handler against fakes of its two I/O traits: what it reads, decides, writes and re-arms,
//! and that it writes nothing after a failure. The fakes fail the test on an unexpected call.

#![allow(clippy::unwrap_used)] // a failed lock or a bad fixture should fail the test loudly

use queue_scaler_core::{Direction, Policy, Route, Routes, Target};
use queue_scaler_gke::retry::Backoff;
use queue_scaler_gke::scale::{Scale, ScaleMeta, ScaleSpec};
use queue_scaler_gke::{Error, ErrorClass, KubeStatus, ScaleApi};
use queue_scaler_lambda::rearm::AlarmRearm;
use queue_scaler_lambda::report::Rearm;
use queue_scaler_lambda::scaler::Scaler;
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
        Ok(scale.clone())
    }
}

#[derive(Default)]
struct FakeAlarms {
    fail: bool,
    rearmed: Mutex<Vec<(String, String)>>,
}

impl AlarmRearm for FakeAlarms {
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
        target: target(),
    }]);
    Scaler::new(direction, routes, dry_run, cluster, alarms).with_backoff(Backoff {
        attempts: 4,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
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
    struct Shared(std::sync::Arc<FakeAlarms>);
    impl AlarmRearm for Shared {
        async fn set_ok(&self, alarm: &str, reason: &str) -> Result<(), Error> {
            self.0.set_ok(alarm, reason).await
        }
    }
    let routes = Routes::Single(target());
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
