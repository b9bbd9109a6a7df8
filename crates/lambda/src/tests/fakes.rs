//! The fakes of the handler's three I/O traits, and the fixtures its tests share. The fakes record
//! every call they receive, for the tests to check.

use crate::report::{Outcome, Response};
use crate::scaler::Call;
use crate::scaler::Scaler;
use crate::Failure;
use queue_scaler_core::alarm::parse_invocation;
use queue_scaler_core::{DescribedAlarm, Direction, Policy, QueueCounts, Route, Routes, Target};
use queue_scaler_io::backoff::Backoff;
use queue_scaler_io::kube::scale::{Scale, ScaleMeta, ScaleSpec};
use queue_scaler_io::kube::DeploymentFacts;
use queue_scaler_io::{AlarmRearm, QueueDepth};
use queue_scaler_io::{Error, KubeStatus, KubeVerb, Lease, ScaleApi, ScaleEvent};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A deployment's scale in memory, with scripted failures per verb. A clone shares the state:
/// the test keeps one to inspect what the scaler did with the other.
#[derive(Default, Clone)]
pub(crate) struct FakeCluster {
    pub state: Arc<Mutex<FakeState>>,
}

#[derive(Default)]
pub(crate) struct FakeState {
    pub replicas: i32,
    pub version: u64,
    pub get_failures: VecDeque<u16>,
    pub put_failures: VecDeque<u16>,
    /// Replicas someone else sets between our read and our write (once each).
    pub concurrent_writes: VecDeque<i32>,
    /// Writes that are applied but whose answer is lost (the connection drops).
    pub lost_answers: u32,
    pub calls: Vec<String>,
    /// The Events created, in order.
    pub events: Vec<ScaleEvent>,
    /// Refuse every Event with this status (403: no RBAC grant for Events).
    pub event_failure: Option<u16>,
    /// What the Deployment says beyond its scale; `None`: the scale is read, as where `get`
    /// on the Deployment is refused.
    pub facts: Option<DeploymentFacts>,
    /// When each read was made (tokio's clock).
    pub read_at: Vec<Instant>,
}

pub(crate) fn status(code: u16, verb: KubeVerb) -> Error {
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
    pub(crate) fn at(replicas: i32) -> Self {
        let c = FakeCluster::default();
        c.state.lock().unwrap().replicas = replicas;
        c
    }
    pub(crate) fn replicas(&self) -> i32 {
        self.state.lock().unwrap().replicas
    }
    /// The Deployment's facts, read with its scale.
    pub(crate) fn with_facts(self, facts: DeploymentFacts) -> Self {
        self.state.lock().unwrap().facts = Some(facts);
        self
    }
    pub(crate) fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }
    /// The Events created, as `reason from -> to`.
    pub(crate) fn events(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .events
            .iter()
            .map(|e| format!("{} {} -> {}", e.reason(), e.from, e.to))
            .collect()
    }
    /// The notes of the Events created.
    pub(crate) fn notes(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.events.iter().map(|e| e.note.clone()).collect()
    }
    /// Refuse every Event with `code`.
    pub(crate) fn refusing_events(self, code: u16) -> Self {
        self.state.lock().unwrap().event_failure = Some(code);
        self
    }
}

/// The uid of the fake Deployment, as the scale read gives it.
pub(crate) const UID: &str = "0f5c6d2e-fake-deployment";

/// The ARN of scale-up, as the heartbeat's invocation and the alarms' actions name it.
pub(crate) const UP_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:qs-scale-up";

impl ScaleApi for FakeCluster {
    async fn get(&self, target: &Target) -> Result<Scale, Error> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("get {target}"));
        s.read_at.push(Instant::now());
        if let Some(code) = s.get_failures.pop_front() {
            return Err(status(code, KubeVerb::Get));
        }
        let scale = Scale {
            api_version: "autoscaling/v1".into(),
            kind: "Scale".into(),
            metadata: ScaleMeta {
                name: target.deployment.clone(),
                namespace: target.namespace.clone(),
                resource_version: Some(s.version.to_string()),
                uid: Some(UID.into()),
            },
            spec: ScaleSpec {
                replicas: s.replicas,
            },
            status: serde_json::Value::Null,
            deployment: s.facts.clone(),
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
                return Err(status(code, KubeVerb::Update));
            }
            if scale.metadata.resource_version.as_deref() != Some(&s.version.to_string()) {
                return Err(status(409, KubeVerb::Update));
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

    async fn get_lease(&self, namespace: &str, name: &str) -> Result<Lease, Error> {
        Err(Error::Kube {
            verb: KubeVerb::GetLease,
            target: format!("{namespace}/{name}"),
            status: KubeStatus {
                code: 404,
                reason: "NotFound".into(),
                message: "this fake has no pool".into(),
            },
        })
    }

    async fn put_lease(&self, lease: &Lease) -> Result<Lease, Error> {
        self.get_lease(&lease.metadata.namespace, &lease.metadata.name)
            .await
    }

    async fn record(&self, target: &Target, event: &ScaleEvent) -> Result<(), Error> {
        let mut s = self.state.lock().unwrap();
        if let Some(code) = s.event_failure {
            return Err(Error::Kube {
                verb: KubeVerb::CreateEvent,
                target: target.to_string(),
                status: KubeStatus {
                    code,
                    reason: "Forbidden".into(),
                    message: "events.events.k8s.io is forbidden".into(),
                },
            });
        }
        s.events.push(event.clone());
        Ok(())
    }
}

/// A real transport error of a request whose connection was made and then dropped before any
/// answer: what a write whose answer was lost looks like.
pub(crate) async fn dropped_answer() -> Error {
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

/// SQS in memory: each queue's counts, or the status its read fails with.
#[derive(Default)]
pub(crate) struct FakeQueues {
    pub counts: Mutex<HashMap<String, Result<QueueCounts, u16>>>,
    pub reads: Mutex<Vec<String>>,
    /// How long each read takes to answer.
    pub latency: Mutex<Duration>,
}

impl FakeQueues {
    /// Queues with these counts: (name, visible, in flight, delayed).
    pub(crate) fn with(queues: &[(&str, u64, u64, u64)]) -> Self {
        let q = FakeQueues::default();
        for (name, visible, in_flight, delayed) in queues {
            q.set(name, *visible, *in_flight, *delayed);
        }
        q
    }
    pub(crate) fn set(&self, name: &str, visible: u64, in_flight: u64, delayed: u64) {
        self.counts.lock().unwrap().insert(
            name.into(),
            Ok(QueueCounts {
                visible,
                in_flight,
                delayed,
            }),
        );
    }
    /// Every read of `name` fails with `status`.
    pub(crate) fn failing(self, name: &str, status: u16) -> Self {
        self.counts.lock().unwrap().insert(name.into(), Err(status));
        self
    }
    pub(crate) fn reads(&self) -> Vec<String> {
        self.reads.lock().unwrap().clone()
    }
}

impl QueueDepth for FakeQueues {
    async fn counts(&self, queue: &str) -> Result<QueueCounts, Error> {
        self.reads.lock().unwrap().push(queue.into());
        let latency = *self.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match self.counts.lock().unwrap().get(queue) {
            Some(Ok(c)) => Ok(*c),
            Some(Err(status)) => Err(Error::Aws {
                service: "sqs",
                action: "GetQueueAttributes",
                status: *status,
                message: "scripted failure".into(),
            }),
            None => Err(Error::Aws {
                service: "sqs",
                action: "GetQueueUrl",
                status: 400,
                message: "AWS.SimpleQueueService.NonExistentQueue".into(),
            }),
        }
    }
}

/// A scaler built with [`Scaler::new`] reads no queue; these satisfy its default type.
impl QueueDepth for FakeAlarms {
    async fn counts(&self, _queue: &str) -> Result<QueueCounts, Error> {
        unreachable!("a scaler reads queues only through with_queues")
    }
}

impl QueueDepth for Shared {
    async fn counts(&self, _queue: &str) -> Result<QueueCounts, Error> {
        unreachable!("a scaler reads queues only through with_queues")
    }
}

#[derive(Default)]
pub(crate) struct FakeAlarms {
    pub fail: bool,
    pub rearmed: Mutex<Vec<(String, String)>>,
    /// What `DescribeAlarms` answers.
    pub described: Vec<DescribedAlarm>,
    pub described_names: Mutex<Vec<Vec<String>>>,
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
pub(crate) struct Shared(pub std::sync::Arc<FakeAlarms>);

impl AlarmRearm for Shared {
    async fn set_ok(&self, alarm: &str, reason: &str) -> Result<(), Error> {
        self.0.set_ok(alarm, reason).await
    }
    async fn describe(&self, names: &[&str]) -> Result<Vec<DescribedAlarm>, Error> {
        self.0.describe(names).await
    }
}

pub(crate) fn target() -> Target {
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

pub(crate) fn scaler(
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

/// The scaler of [`scaler`] in `direction`, writing (not a dry run) on `cluster` (a clone: the
/// test keeps its own to inspect), and re-arming its alarm through default [`FakeAlarms`].
pub(crate) fn rearming_scaler(
    direction: Direction,
    cluster: &FakeCluster,
) -> Scaler<FakeCluster, FakeAlarms> {
    scaler(
        direction,
        cluster.clone(),
        Some(FakeAlarms::default()),
        false,
    )
}

/// Scale-up over `routes`, writing (not a dry run) on `cluster` and re-arming through `alarms`,
/// with [`Scaler::new`]'s own backoff.
pub(crate) fn up_scaler<A>(
    routes: Routes,
    cluster: FakeCluster,
    alarms: A,
) -> Scaler<FakeCluster, A> {
    Scaler::new(Direction::Up, routes, false, cluster, Some(alarms))
}

pub(crate) fn single(target: Target, alarms: &[&str], wake: &[&str]) -> Routes {
    Routes::Single(Route {
        alarms: alarms.iter().map(|a| a.to_string()).collect(),
        queues: vec![],
        wake_alarms: wake.iter().map(|a| a.to_string()).collect(),
        target,
    })
}

pub(crate) fn event(name: &str) -> serde_json::Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

pub(crate) fn soon() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

/// Invoke with the event file `name` (in `events/`), 20 s before the deadline.
pub(crate) async fn invoke_file<C: ScaleApi, A: AlarmRearm, Q: QueueDepth>(
    s: &Scaler<C, A, Q>,
    name: &str,
) -> Result<Outcome, Failure> {
    invoke_at(s, &event(name), soon()).await
}

/// Send `s` the scheduled heartbeat event (`events/heartbeat.json`) as scale-up receives it,
/// 20 s before the deadline.
pub(crate) async fn invoke_heartbeat<C: ScaleApi, A: AlarmRearm, Q: QueueDepth>(
    s: &Scaler<C, A, Q>,
) -> Result<Response, Failure> {
    let call = Call {
        deadline: soon(),
        request_id: "hb",
        function_arn: UP_ARN,
    };
    s.invoke(parse_invocation(&event("heartbeat.json")), call)
        .await
}

/// Invoke with an alarm's `event`, read as [`crate::Function::handle`] reads it, through
/// [`Scaler::invoke`], `deadline` being the invocation's; answers the alarm's outcome.
pub(crate) async fn invoke_at<C: ScaleApi, A: AlarmRearm, Q: QueueDepth>(
    s: &Scaler<C, A, Q>,
    event: &serde_json::Value,
    deadline: Instant,
) -> Result<Outcome, Failure> {
    let call = Call {
        deadline,
        request_id: "r",
        function_arn: UP_ARN,
    };
    match s.invoke(parse_invocation(event), call).await? {
        Response::Alarm(outcome) => Ok(*outcome),
        other => panic!("not an alarm's outcome: {other:?}"),
    }
}
