//! The heartbeat at scale: scale-up's heartbeat, as deployed (`queue_scaler_lambda::Function`,
//! handling the scheduled event in-process), over 1,000 targets with one queue and two alarms
//! each (high and low), and over the same 1,000 queues four to a target, against local-gke for
//! the cluster and a small in-process stand-in
//! for SQS and CloudWatch (`queue_scaler_harness::standin`) that answers `GetQueueUrl`,
//! `GetQueueAttributes` and `DescribeAlarms` after a fixed service latency, and counts requests
//! and the most in flight at once. Every tenth queue holds 250 messages, so its target (at 2
//! replicas, 100 messages per replica) is raised to 3; the alarms are all OK.
//!
//! Two heartbeats are measured: the first in a new container (it looks up each queue's URL once,
//! and fetches the Google token), then the next one, warm.
//!
//! I/O: local-gke, the stand-in, all on 127.0.0.1.

use crate::Error;
use lambda_runtime::LambdaEvent;
use queue_scaler_core::{Direction, QueueCounts};
use queue_scaler_harness::events::{function_arn, heartbeat_event, REGION};
use queue_scaler_harness::moto::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use queue_scaler_harness::standin::{AwsStandIn, StandInAlarm};
use queue_scaler_harness::ControlPlane;
use queue_scaler_lambda::{Function, Response};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// The namespace of the benchmark's deployments.
pub const NAMESPACE: &str = "fleet";

/// What the benchmark sets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fleet {
    /// Targets, each with two alarms.
    pub targets: usize,
    /// Queues of each target.
    pub queues_per_target: usize,
    /// The stand-in's answer time, as an AWS API's round trip.
    pub latency: Duration,
}

impl Fleet {
    /// The issue's fleet: 1,000 targets, 1,000 queues, 2,000 alarms; 10 ms per AWS request.
    pub fn issue() -> Self {
        Fleet {
            targets: 1000,
            queues_per_target: 1,
            latency: Duration::from_millis(10),
        }
    }

    /// The same 1,000 queues, 4 to a target (the most a target reads at once): 250 targets.
    pub fn four_queues_each() -> Self {
        Fleet {
            targets: 250,
            queues_per_target: 4,
            ..Fleet::issue()
        }
    }

    /// Queues in all.
    pub fn queues(&self) -> usize {
        self.targets * self.queues_per_target
    }

    fn deployment(i: usize) -> String {
        format!("model-{i:04}")
    }

    fn queue(i: usize, q: usize) -> String {
        format!("jobs-{i:04}-{q}")
    }

    /// Whether target `i` needs a raise: every tenth.
    fn busy(i: usize) -> bool {
        i % 10 == 0
    }
}

/// One heartbeat, measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    /// From the event to the result.
    pub wall: Duration,
    /// Requests to the stand-in, by service and action.
    pub aws: BTreeMap<String, u64>,
    /// The most requests the stand-in was answering at once.
    pub aws_max_in_flight: usize,
    /// Requests to local-gke, by kind.
    pub cluster: BTreeMap<String, u64>,
    /// Targets the heartbeat checked, and those it scaled.
    pub targets: usize,
    /// See [`Beat::targets`].
    pub raised: usize,
    /// Alarms it read.
    pub alarms: usize,
}

impl Beat {
    /// Requests to the stand-in, all actions.
    pub fn aws_requests(&self) -> u64 {
        self.aws.values().sum()
    }
}

/// Both heartbeats of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numbers {
    /// The fleet.
    pub fleet: Fleet,
    /// In a new container.
    pub cold: Beat,
    /// The next one.
    pub warm: Beat,
}

fn fail(what: &str) -> impl Fn(queue_scaler_harness::Error) -> Error + '_ {
    move |e| Error::Function(format!("{what}: {e}"))
}

/// Set the fleet up in `control` and the stand-in, and run scale-up's heartbeat twice.
pub async fn measure(control: &ControlPlane, fleet: Fleet) -> Result<Numbers, Error> {
    let aws = AwsStandIn::start(fleet.latency)
        .await
        .map_err(fail("the stand-in"))?;
    let up = function_arn(REGION, "queue-scaler-scale-up");
    let down = function_arn(REGION, "queue-scaler-scale-down");
    let mut routes = Vec::with_capacity(fleet.targets);
    for i in 0..fleet.targets {
        let deployment = Fleet::deployment(i);
        let queues: Vec<String> = (0..fleet.queues_per_target)
            .map(|q| Fleet::queue(i, q))
            .collect();
        control
            .add_deployment(NAMESPACE, &deployment, 2)
            .await
            .map_err(fail("adding a deployment"))?;
        // A busy target's 250 messages, in its first queue.
        for (q, queue) in queues.iter().enumerate() {
            let visible = if Fleet::busy(i) && q == 0 { 250 } else { 0 };
            aws.set_queue(
                queue,
                QueueCounts {
                    visible,
                    ..QueueCounts::default()
                },
            );
        }
        for (suffix, arn, threshold) in [("high", &up, 100.0), ("low", &down, 10.0)] {
            aws.put_alarm(StandInAlarm {
                name: format!("{deployment}-{suffix}"),
                state: "OK".into(),
                actions: vec![arn.clone()],
                queue: queues[0].clone(),
                metric: "ApproximateNumberOfMessagesVisible".into(),
                threshold,
            });
        }
        routes.push(serde_json::json!({
            "alarms": [format!("{deployment}-high"), format!("{deployment}-low")],
            "queues": queues,
            "namespace": NAMESPACE,
            "deployment": deployment,
            "min_replicas": 2,
            "max_replicas": 8,
            "messages_per_replica": 100,
        }));
    }
    // A table this size (kilobytes per hundred targets) does not fit Lambda's 4 KB environment:
    // it is a file in the deployment package, as `make deploy SCALER_TARGETS_FILE=...` ships it.
    let table = serde_json::Value::from(routes).to_string();
    let table_path = "/var/task/targets.json";
    let mut env: HashMap<String, String> = control.key_env().into_iter().collect();
    for (k, v) in [
        ("SCALER_TARGETS", table_path.to_owned()),
        ("AWS_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.into()),
        ("AWS_ENDPOINT_URL_SQS", aws.endpoint().into()),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", aws.endpoint().into()),
        ("KUBE_EVENTS", "false".into()),
    ] {
        env.insert(k.into(), v);
    }
    let function = Function::start(
        Direction::Up,
        |k| env.get(k).cloned(),
        |p| {
            if p == std::path::Path::new(table_path) {
                Ok(table.clone())
            } else {
                std::fs::read_to_string(p)
            }
        },
    )
    .await;
    if let Some(failure) = function.broken() {
        return Err(Error::Function(format!("start-up: {failure}")));
    }
    let mut beats = Vec::new();
    for n in 0..2 {
        aws.reset_counts();
        control
            .clear_requests()
            .await
            .map_err(fail("clearing the request log"))?;
        let event = heartbeat_event(chrono::Utc::now(), REGION);
        let request_id = format!("bench-heartbeat-{n}");
        let context = queue_scaler_lambda::context(&request_id, &up, Duration::from_secs(60));
        let started = Instant::now();
        let answer = function.handle(LambdaEvent::new(event, context)).await;
        let wall = started.elapsed();
        let Ok(Response::Heartbeat(report)) = answer else {
            return Err(Error::Function(format!("the heartbeat failed: {answer:?}")));
        };
        beats.push(Beat {
            wall,
            aws: aws.requests(),
            aws_max_in_flight: aws.max_in_flight(),
            cluster: control
                .request_counts()
                .await
                .map_err(fail("reading the request log"))?,
            targets: report.targets.len(),
            raised: report.targets.iter().filter(|t| t.applied).count(),
            alarms: report.alarms.len(),
        });
    }
    let warm = beats.pop().expect("two beats");
    let cold = beats.pop().expect("two beats");
    Ok(Numbers { fleet, cold, warm })
}

/// The section of `BENCHMARKS.md` between [`BEGIN`] and [`END`]: one row per fleet and beat.
pub fn section(runs: &[Numbers]) -> String {
    let latency = runs.first().map_or(0, |n| n.fleet.latency.as_millis());
    // `make bench` runs the release build; a debug build says so.
    let profile = if cfg!(debug_assertions) {
        "a debug build"
    } else {
        "the release build"
    };
    let mut out = format!(
        "Measured with {profile}; the stand-in answers each AWS request after {latency} ms.\n\n\
         | fleet | heartbeat | wall time | AWS requests | most AWS requests in flight | cluster requests | targets checked · raised | alarms read |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    );
    let joined = |counts: Vec<String>| {
        if counts.is_empty() {
            "0".to_owned()
        } else {
            counts.join(", ")
        }
    };
    for n in runs {
        let fleet = format!(
            "{} targets, {} queues, {} alarms",
            n.fleet.targets,
            n.fleet.queues(),
            2 * n.fleet.targets
        );
        for (name, b) in [("first (new container)", &n.cold), ("next (warm)", &n.warm)] {
            let aws = joined(b.aws.iter().map(|(k, v)| format!("{v} {k}")).collect());
            let cluster = joined(b.cluster.iter().map(|(k, v)| format!("{v} {k}")).collect());
            let _ = writeln!(
                out,
                "| {fleet} | {name} | {:.2} s | {} ({aws}) | {} | {cluster} | {} · {} | {} |",
                b.wall.as_secs_f64(),
                b.aws_requests(),
                b.aws_max_in_flight,
                b.targets,
                b.raised,
                b.alarms
            );
        }
    }
    out
}

/// Where `make bench` writes [`section`] in `BENCHMARKS.md`.
pub const BEGIN: &str = "<!-- bench:heartbeat:begin (generated by `make bench`; do not edit) -->";
/// See [`BEGIN`].
pub const END: &str = "<!-- bench:heartbeat:end -->";
