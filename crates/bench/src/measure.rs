//! The scenarios `bench-harness` runs, each repeated so that medians and spread can be given:
//!
//! 1. start-up of the floor (`hello`) and of `scale-up`, interleaved, from spawn to the first
//!    request for an event; `scale-up` as on AWS Lambda (system roots) with a key and keyless,
//!    and with a key and `SSL_CERT_FILE` pointing at one CA;
//! 2. cold and warm invocations: a fresh process per run, the event, then the same event again,
//!    with local-gke's requests counted by kind per invocation; with a key and keyless;
//! 3. memory: one process through a cold and `memory_warm` warm invocations;
//! 4. the in-process breakdown of a cold invocation.
//!
//! I/O: processes, local-gke, files under the work directory.

use crate::breakdown;
use crate::function::{Memory, Session};
use crate::scaler_env::{scaler_env, Auth};
use crate::Error;
use queue_scaler_harness::ControlPlane;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to run and how often.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The function under test (`scale-up`, release build).
    pub function: PathBuf,
    /// The floor (`hello`, same profile).
    pub floor: PathBuf,
    /// The event each invocation gets.
    pub event: PathBuf,
    /// Where local-gke's state and the functions' logs go.
    pub work_dir: PathBuf,
    /// Start-up runs per variant.
    pub startup_runs: usize,
    /// Fresh processes for cold invocations.
    pub cold_runs: usize,
    /// Warm invocations after each cold one.
    pub warm_per_run: usize,
    /// Warm invocations in the memory run.
    pub memory_warm: usize,
    /// Runs of the in-process breakdown.
    pub breakdown_runs: usize,
}

impl Plan {
    /// The counts `make bench` uses.
    pub fn full(function: PathBuf, floor: PathBuf, event: PathBuf, work_dir: PathBuf) -> Plan {
        Plan {
            function,
            floor,
            event,
            work_dir,
            startup_runs: 40,
            cold_runs: 15,
            warm_per_run: 20,
            memory_warm: 1000,
            breakdown_runs: 15,
        }
    }

    /// Every scenario once, as the smoke test runs it.
    pub fn quick(self) -> Plan {
        Plan {
            startup_runs: 1,
            cold_runs: 1,
            warm_per_run: 2,
            memory_warm: 3,
            breakdown_runs: 1,
            ..self
        }
    }
}

/// HTTP requests by kind (local-gke's kinds, plus `rearm` for CloudWatch `SetAlarmState`).
pub type Requests = BTreeMap<String, u64>;

/// Memory of one process through a cold and many warm invocations.
///
/// Growth is read between the second-to-last checkpoint (100 warm invocations in a full run)
/// and the end: by then every cache and connection pool is filled.
#[derive(Debug, Clone)]
pub struct MemoryTrace {
    /// When it first asked for an event.
    pub started: Memory,
    /// After the cold invocation.
    pub cold: Memory,
    /// After 10 and 100 warm invocations (when that many ran), and after all of them:
    /// `(invocations so far, memory)`. The last one is the end.
    pub checkpoints: Vec<(usize, Memory)>,
    /// How many warm invocations ran.
    pub warm_count: usize,
    /// Their latencies.
    pub warm_latencies: Vec<Duration>,
    /// Requests over all warm invocations.
    pub warm_requests: Requests,
}

/// Every number the harness measured.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// Start-up of the floor.
    pub startup_floor: Vec<Duration>,
    /// Start-up of `scale-up` with a key and the system's roots, as on AWS Lambda.
    pub startup_system_roots: Vec<Duration>,
    /// Start-up of `scale-up` keyless with the system's roots, as on AWS Lambda.
    pub startup_keyless: Vec<Duration>,
    /// Start-up of `scale-up` with `SSL_CERT_FILE` naming one CA.
    pub startup_one_ca: Vec<Duration>,
    /// Memory of the floor once started, per run.
    pub started_floor: Vec<Memory>,
    /// Memory of `scale-up` (system roots) once started, per run.
    pub started_system_roots: Vec<Memory>,
    /// Memory of `scale-up` (keyless, system roots) once started, per run.
    pub started_keyless: Vec<Memory>,
    /// Memory of `scale-up` (one CA) once started, per run.
    pub started_one_ca: Vec<Memory>,
    /// Memory of `scale-up` after its cold invocation, per run.
    pub after_cold: Vec<Memory>,
    /// Memory of the floor after its cold invocation, per run.
    pub floor_after_cold: Vec<Memory>,
    /// `scale-up`'s first invocation per process.
    pub cold: Vec<Duration>,
    /// `scale-up`'s later invocations, after each cold one.
    pub warm: Vec<Duration>,
    /// The floor's first invocation per process.
    pub floor_cold: Vec<Duration>,
    /// The floor's later invocations.
    pub floor_warm: Vec<Duration>,
    /// Requests of each cold invocation, one map per run.
    pub cold_requests: Vec<Requests>,
    /// Requests of the first warm invocation, one map per run.
    pub warm_requests: Vec<Requests>,
    /// `scale-up`'s first invocation per process, keyless.
    pub cold_keyless: Vec<Duration>,
    /// `scale-up`'s later invocations, keyless.
    pub warm_keyless: Vec<Duration>,
    /// Requests of each keyless cold invocation.
    pub cold_keyless_requests: Vec<Requests>,
    /// Requests of the first keyless warm invocation, one map per run.
    pub warm_keyless_requests: Vec<Requests>,
    /// `scale-up` through a cold and many warm invocations.
    pub memory: Option<MemoryTrace>,
    /// The floor through the same.
    pub floor_memory: Option<MemoryTrace>,
    /// The in-process breakdown, one entry per run.
    pub breakdown: Vec<breakdown::Run>,
}

/// Run the plan against a local-gke started here.
pub async fn run(plan: &Plan) -> Result<Results, Error> {
    let logs = plan.work_dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(Error::io(format!("creating {}", logs.display())))?;
    let event = std::fs::read(&plan.event)
        .map_err(Error::io(format!("reading {}", plan.event.display())))?;
    let plane = ControlPlane::start_in(&plan.work_dir.join("local-gke"), |_| {}).await?;
    let mut results = Results::default();

    eprintln!("bench: start-up, {} runs per variant", plan.startup_runs);
    for _ in 0..plan.startup_runs {
        let log = logs.join("startup-hello.log");
        let (took, memory) =
            startup(Session::spawn(&plan.floor, "hello", &[], &log).await?).await?;
        results.startup_floor.push(took);
        results.started_floor.push(memory);
        let log = logs.join("startup-scale-up.log");
        let (took, memory) =
            startup(spawn_scaler(&plane, &plan.function, false, Auth::Key, &log).await?).await?;
        results.startup_system_roots.push(took);
        results.started_system_roots.push(memory);
        let log = logs.join("startup-scale-up-keyless.log");
        let (took, memory) =
            startup(spawn_scaler(&plane, &plan.function, false, Auth::Keyless, &log).await?)
                .await?;
        results.startup_keyless.push(took);
        results.started_keyless.push(memory);
        let log = logs.join("startup-scale-up-one-ca.log");
        let (took, memory) =
            startup(spawn_scaler(&plane, &plan.function, true, Auth::Key, &log).await?).await?;
        results.startup_one_ca.push(took);
        results.started_one_ca.push(memory);
    }

    eprintln!(
        "bench: cold and warm invocations, {} processes, {} warm each",
        plan.cold_runs, plan.warm_per_run
    );
    for _ in 0..plan.cold_runs {
        let key = cold_then_warm(&plane, plan, Auth::Key, &logs, &event).await?;
        results.cold.push(key.cold);
        results.cold_requests.push(key.cold_requests);
        results.after_cold.push(key.after_cold);
        results.warm.extend(key.warm);
        results.warm_requests.push(key.first_warm_requests);
        let keyless = cold_then_warm(&plane, plan, Auth::Keyless, &logs, &event).await?;
        results.cold_keyless.push(keyless.cold);
        results.cold_keyless_requests.push(keyless.cold_requests);
        results.warm_keyless.extend(keyless.warm);
        results
            .warm_keyless_requests
            .push(keyless.first_warm_requests);

        let mut floor =
            Session::spawn(&plan.floor, "hello", &[], &logs.join("invoke-hello.log")).await?;
        floor.startup().await?;
        results.floor_cold.push(floor.invoke(&event).await?.latency);
        results.floor_after_cold.push(floor.memory()?);
        for _ in 0..plan.warm_per_run {
            results.floor_warm.push(floor.invoke(&event).await?.latency);
        }
        floor.stop().await?;
    }

    eprintln!(
        "bench: memory through 1 cold and {} warm invocations",
        plan.memory_warm
    );
    let session = spawn_scaler(
        &plane,
        &plan.function,
        true,
        Auth::Key,
        &logs.join("memory-scale-up.log"),
    )
    .await?;
    results.memory = Some(memory_trace(&plane, session, &event, plan.memory_warm, true).await?);
    let floor = Session::spawn(&plan.floor, "hello", &[], &logs.join("memory-hello.log")).await?;
    results.floor_memory =
        Some(memory_trace(&plane, floor, &event, plan.memory_warm, false).await?);

    eprintln!("bench: in-process breakdown, {} runs", plan.breakdown_runs);
    for _ in 0..plan.breakdown_runs {
        results.breakdown.push(breakdown::run_once(&plane).await?);
    }
    Ok(results)
}

async fn spawn_scaler(
    plane: &ControlPlane,
    binary: &Path,
    trust_local_ca: bool,
    auth: Auth,
    log: &Path,
) -> Result<Session, Error> {
    // Re-arm goes to the CloudWatch stub on the session's own Runtime API listener.
    Session::spawn_with(binary, "scale-up", log, |api| {
        scaler_env(plane, &api.cloudwatch_url(), trust_local_ca, auth)
    })
    .await
}

/// One fresh process: its cold invocation, then `plan.warm_per_run` warm ones.
struct ColdThenWarm {
    cold: Duration,
    cold_requests: Requests,
    after_cold: Memory,
    warm: Vec<Duration>,
    first_warm_requests: Requests,
}

async fn cold_then_warm(
    plane: &ControlPlane,
    plan: &Plan,
    auth: Auth,
    logs: &Path,
    event: &[u8],
) -> Result<ColdThenWarm, Error> {
    let log = logs.join(match auth {
        Auth::Key => "invoke-scale-up.log",
        Auth::Keyless => "invoke-scale-up-keyless.log",
    });
    let mut session = spawn_scaler(plane, &plan.function, true, auth, &log).await?;
    session.startup().await?;
    let (cold, cold_requests) = counted(plane, &mut session, event).await?;
    let after_cold = session.memory()?;
    let mut warm = Vec::with_capacity(plan.warm_per_run);
    let mut first_warm_requests = Requests::new();
    for i in 0..plan.warm_per_run {
        let (latency, requests) = counted(plane, &mut session, event).await?;
        warm.push(latency);
        if i == 0 {
            first_warm_requests = requests;
        }
    }
    session.stop().await?;
    Ok(ColdThenWarm {
        cold,
        cold_requests,
        after_cold,
        warm,
        first_warm_requests,
    })
}

/// Start-up time and memory once started, then stop.
async fn startup(mut session: Session) -> Result<(Duration, Memory), Error> {
    let took = session.startup().await?;
    let memory = session.memory()?;
    session.stop().await?;
    Ok((took, memory))
}

/// One invocation with the requests it made: local-gke's log, and re-arm calls.
async fn counted(
    plane: &ControlPlane,
    session: &mut Session,
    event: &[u8],
) -> Result<(Duration, Requests), Error> {
    plane.clear_requests().await?;
    let rearms = session.api().rearms();
    let outcome = session.invoke(event).await?;
    let mut requests = plane.request_counts().await?;
    let rearmed = session.api().rearms() - rearms;
    if rearmed > 0 {
        requests.insert("rearm".into(), rearmed);
    }
    Ok((outcome.latency, requests))
}

async fn memory_trace(
    plane: &ControlPlane,
    mut session: Session,
    event: &[u8],
    warm: usize,
    count_requests: bool,
) -> Result<MemoryTrace, Error> {
    session.startup().await?;
    let started = session.memory()?;
    session.invoke(event).await?;
    let cold = session.memory()?;
    let mut checkpoints = Vec::new();
    let mut warm_latencies = Vec::with_capacity(warm);
    if count_requests {
        plane.clear_requests().await?;
    }
    let rearms = session.api().rearms();
    for i in 0..warm {
        warm_latencies.push(session.invoke(event).await?.latency);
        if matches!(i + 1, 10 | 100) || i + 1 == warm {
            checkpoints.push((i + 1, session.memory()?));
        }
    }
    let mut warm_requests = if count_requests {
        plane.request_counts().await?
    } else {
        Requests::new()
    };
    let rearmed = session.api().rearms() - rearms;
    if rearmed > 0 {
        warm_requests.insert("rearm".into(), rearmed);
    }
    session.stop().await?;
    Ok(MemoryTrace {
        started,
        cold,
        checkpoints,
        warm_count: warm,
        warm_latencies,
        warm_requests,
    })
}
