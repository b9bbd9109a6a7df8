//! `simulate`: run the backlog burst through the real functions with re-arm on and off, then the
//! fault scenarios with the functions as they are and as they were, and beside them the
//! live-signal scenarios with the alarm's datapoint and with the live read, and two models on one
//! GPU pool with capacity off and on; write each run's timeline as CSV, the charts as SVG, and
//! print the numbers and the tables of the faults (docs/never-stuck.md) and the pool
//! (docs/simulation/pool.md).
//!
//! Usage: `simulate [OUTPUT_DIR]` (default: the workspace's `docs/simulation`). Needs
//! `moto_server` (`make venv`). Talks only to 127.0.0.1.

use queue_scaler_harness::ControlPlane;
use queue_scaler_simulation::chart::{render, Panel};
use queue_scaler_simulation::faults::{self, FaultRun};
use queue_scaler_simulation::live_signal;
use queue_scaler_simulation::model::Scenario;
use queue_scaler_simulation::pool;
use queue_scaler_simulation::timeline::Timeline;
use queue_scaler_simulation::{live, workspace_root, Error};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, contents: &str) -> Result<(), Error> {
    std::fs::write(path, contents).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

async fn rearm(control: &ControlPlane, out: &Path) -> Result<(), Error> {
    let scenario = Scenario::backlog_burst();
    let on = live::run(control, &scenario, "model-worker-rearm-on", true).await?;
    let off = live::run(control, &scenario, "model-worker-rearm-off", false).await?;

    write(&out.join("rearm-on.csv"), &on.to_csv())?;
    write(&out.join("rearm-off.csv"), &off.to_csv())?;
    let threshold = scenario.scale_up.threshold;
    let lines = |t: &Timeline| t.summary(threshold).lines(&scenario.policy);
    let (on_lines, off_lines) = (lines(&on), lines(&off));
    let svg = render(&[
        Panel {
            title: "Re-arm on (REARM_ALARM=true, the default)",
            subtitle: &on_lines,
            timeline: &on,
            threshold,
        },
        Panel {
            title: "Re-arm off (REARM_ALARM=false)",
            subtitle: &off_lines,
            timeline: &off,
            threshold,
        },
    ])?;
    write(&out.join("rearm.svg"), &svg)?;

    let invocations = |n: usize| format!("{n} invocation{}", if n == 1 { "" } else { "s" });
    let period = |p: Option<usize>| p.map_or_else(|| "never".to_owned(), |p| format!("period {p}"));
    for (name, timeline) in [("re-arm on", &on), ("re-arm off", &off)] {
        let s = timeline.summary(threshold);
        println!("{name}: {}", s.describe(&scenario.policy));
        println!(
            "  scale-up: {} ({} changed replicas, {} at max); first change: {}; max reached: {}",
            invocations(s.up.invocations),
            s.up.changes,
            s.up.at_bound,
            period(s.up.first_change),
            period(s.up.reached_bound)
        );
        println!(
            "  scale-down: {} ({} changed replicas, {} at min); first change after the peak: {}; min reached: {}",
            invocations(s.down.invocations),
            s.down.changes,
            s.down.at_bound,
            period(s.down.first_change),
            period(s.down.reached_bound)
        );
        println!(
            "  backlog: peak {}, {} periods over the threshold, drained: {}; replicas {} to {}",
            s.peak_backlog,
            s.periods_over_threshold,
            period(s.drained_at),
            s.replicas_range.0,
            s.replicas_range.1
        );
    }
    Ok(())
}

/// The file of a scenario's runs.
fn fault_csv_name(id: &str) -> String {
    format!("fault-{id}.csv")
}

async fn fault_scenarios(control: &ControlPlane, out: &Path) -> Result<(), Error> {
    let runs: Vec<FaultRun> = live::run_faults(control, faults::scenarios()).await?;
    for run in &runs {
        let mut named = vec![("new", &run.new)];
        if let Some(today) = &run.today {
            named.push(("today", today));
        }
        write(
            &out.join(fault_csv_name(run.scenario.id)),
            &Timeline::fault_csv(&named),
        )?;
    }
    write(&out.join("faults.svg"), &faults::chart(&runs)?)?;
    println!("\nfault scenarios (the table in docs/never-stuck.md):\n");
    print!("{}", faults::table(&runs));

    // Scenario 2 at every phase of its heartbeat (the template's, every 2 minutes), and 2' at
    // every phase of the 5-minute one it had before: the fault ending 0, 1, ... minutes after
    // the last heartbeat it ran into.
    for id in faults::phased() {
        heartbeat_phases(control, &runs, id, out).await?;
    }
    Ok(())
}

/// Scenario `id` at every phase of its heartbeat: its own run (the worst phase) and the runs of
/// `faults::heartbeat_phases`, one line each in `fault-{id}-phases.csv`.
async fn heartbeat_phases(
    control: &ControlPlane,
    runs: &[FaultRun],
    id: &str,
    out: &Path,
) -> Result<(), Error> {
    let base = runs
        .iter()
        .find(|r| r.scenario.id == id)
        .map(|r| r.new.clone());
    let every = base.as_ref().and_then(|t| t.heartbeat_every).unwrap_or(1);
    let phases = live::run_faults(control, faults::heartbeat_phases(id)).await?;
    let mut csv = String::from(
        "fault_start,fault_end,minutes_since_last_heartbeat,recovery_periods,recovered_by\n",
    );
    let timelines = base.iter().chain(phases.iter().map(|r| &r.new));
    for (k, timeline) in timelines.enumerate() {
        let Some(fault) = timeline.faults.first() else {
            continue;
        };
        let recovery = timeline.recovery();
        let _ = writeln!(
            csv,
            "{},{},{k},{},{}",
            fault.start,
            fault.end,
            recovery
                .and_then(|r| r.periods())
                .map_or_else(|| "none".to_owned(), |p| p.to_string()),
            recovery
                .and_then(|r| r.by)
                .map_or_else(String::new, |b| format!("{b:?}"))
        );
    }
    let file = format!("fault-{id}-phases.csv");
    write(&out.join(&file), &csv)?;
    let heartbeat = if every == 1 {
        "every minute".to_owned()
    } else {
        format!("every {every} minutes")
    };
    println!("\n{file}: {id} at each phase of the heartbeat, {heartbeat}:\n{csv}");
    Ok(())
}

async fn live_signal_scenarios(control: &ControlPlane, out: &Path) -> Result<(), Error> {
    let runs = live::run_live_signal(control, live_signal::scenarios()).await?;
    let mut tables = String::new();
    for run in &runs {
        write(
            &out.join(live_signal::csv_name(run.scenario.id)),
            &live_signal::csv(run),
        )?;
        let _ = writeln!(tables, "{}", live_signal::table(run));
    }
    println!("\nlive-signal scenarios (the tables in docs/live-signal.md):\n\n{tables}");
    Ok(())
}

/// Two models on one GPU pool, with capacity off and on (pure, instant): each run's minutes as
/// CSV and the table that docs/design.md links to.
fn gpu_pool(out: &Path) -> Result<(), Error> {
    let scenario = pool::PoolScenario::seed();
    let before = pool::simulate(&scenario, false);
    let after = pool::simulate(&scenario, true);
    write(&out.join("pool-off.csv"), &before.to_csv(&scenario))?;
    write(&out.join("pool-on.csv"), &after.to_csv(&scenario))?;
    let table = pool::table(&scenario, &before, &after);
    write(&out.join("pool.md"), &table)?;
    println!("two models on one GPU pool (docs/simulation/pool.md):\n{table}");
    Ok(())
}

async fn simulate(out: &Path) -> Result<(), Error> {
    let scratch =
        Scratch(std::env::temp_dir().join(format!("queue-scaler-simulate-{}", std::process::id())));
    let control = ControlPlane::shared(&scratch.0).await?;
    std::fs::create_dir_all(out).map_err(|source| Error::Write {
        path: out.to_owned(),
        source,
    })?;
    gpu_pool(out)?;
    rearm(control, out).await?;
    // The live-signal runs inject nothing into the control plane: they run beside the faults.
    let (faults, live) = tokio::join!(
        fault_scenarios(control, out),
        live_signal_scenarios(control, out)
    );
    faults?;
    live?;
    println!("wrote {}", out.display());
    drop(scratch);
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("docs").join("simulation"));
    match simulate(&out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simulate: {e}");
            ExitCode::FAILURE
        }
    }
}
