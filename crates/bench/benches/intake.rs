//! criterion: one event through intake (bytes -> JSON -> `AlarmSignal`), routing (a table of
//! targets, by alarm name then queue) and the decision, for every sample in `events/`. This is
//! all the CPU work an invocation does besides its HTTP requests. No I/O inside the loop.

// criterion_group! generates a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use queue_scaler_core::alarm::{parse_event, parse_event_bytes};
use queue_scaler_core::{decide, Backlog, Direction, Policy, Route, Routes, Target};
use std::hint::black_box;
use std::path::Path;

/// A routing table of the size a team might run: the sample alarms and their queue, among
/// other targets.
fn routes() -> Routes {
    let target = |deployment: &str| Target {
        namespace: "ml".into(),
        deployment: deployment.into(),
        policy: Policy {
            min: 1,
            max: 40,
            step: 2,
            messages_per_replica: Some(50),
        },
    };
    let mut routes: Vec<Route> = (0..6)
        .map(|i| Route {
            alarms: vec![
                format!("other-{i}-backlog-high"),
                format!("other-{i}-backlog-low"),
            ],
            queues: vec![format!("other-{i}-jobs")],
            wake_alarms: vec![],
            target: target(&format!("other-{i}")),
        })
        .collect();
    routes.push(Route {
        // Alarm lists are closed: every sample alarm is named.
        alarms: vec![
            "model-worker-backlog-high".into(),
            "model-worker-backlog-low".into(),
            "model-worker-oldest-message-age".into(),
        ],
        queues: vec!["model-jobs".into()],
        wake_alarms: vec![],
        target: target("model-worker"),
    });
    Routes::Table(routes)
}

/// The alarm events of `events/`: the heartbeat's `Scheduled Event` is no alarm (its cost is the
/// `DescribeAlarms` call, not intake), nor is the doctor's `{"action": "doctor"}`.
fn events() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut events: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("the events/ folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| {
            p.file_stem()
                .is_some_and(|s| s != "heartbeat" && s != "doctor")
        })
        .map(|p| {
            let name = p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&p).expect("a readable event");
            (name, bytes)
        })
        .collect();
    events.sort();
    events
}

fn intake(c: &mut Criterion) {
    let routes = routes();
    let mut group = c.benchmark_group("intake");
    group.throughput(Throughput::Elements(1));
    for (name, bytes) in events() {
        let direction = if name.contains("low") {
            Direction::Down
        } else {
            Direction::Up
        };
        group.bench_function(&name, |b| {
            b.iter(|| {
                let signal = parse_event_bytes(black_box(&bytes)).expect("a sample event parses");
                let target = routes
                    .resolve(&signal)
                    .expect("the sample alarms are routed");
                decide(
                    direction,
                    black_box(3),
                    Backlog::Alarm(signal.message_datapoint()),
                    signal.message_threshold(),
                    &target.policy,
                )
            })
        });
    }
    group.finish();
}

/// The same work in its three parts, for two shapes: the alarm action (typed decoding through
/// `aws_lambda_events`) and SNS (a JSON string inside the JSON).
fn intake_parts(c: &mut Criterion) {
    let routes = routes();
    let mut group = c.benchmark_group("intake_parts");
    group.throughput(Throughput::Elements(1));
    for (name, bytes) in events()
        .into_iter()
        .filter(|(name, _)| name == "alarm-high-backlog" || name == "sns-alarm-high-backlog")
    {
        group.bench_function(format!("{name}: 1 bytes to JSON value"), |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&bytes)).expect("JSON"))
        });
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        group.bench_function(format!("{name}: 2 JSON value to signal"), |b| {
            b.iter(|| parse_event(black_box(&value)).expect("a sample event parses"))
        });
        let signal = parse_event(&value).expect("a sample event parses");
        group.bench_function(format!("{name}: 3 route and decide"), |b| {
            b.iter(|| {
                let target = routes
                    .resolve(black_box(&signal))
                    .expect("the sample alarms are routed");
                decide(
                    Direction::Up,
                    black_box(3),
                    Backlog::Alarm(signal.message_datapoint()),
                    signal.message_threshold(),
                    &target.policy,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, intake, intake_parts);
criterion_main!(benches);
