//! `simulate`: run the backlog burst through the real functions with re-arm on and off, write
//! each run's timeline as CSV and both runs as one SVG chart, and print the numbers.
//!
//! Usage: `simulate [OUTPUT_DIR]` (default: the workspace's `docs/simulation`). Needs
//! `moto_server` (`make venv`). Talks only to 127.0.0.1.

use queue_scaler_simulation::chart::{render, Panel};
use queue_scaler_simulation::model::Scenario;
use queue_scaler_simulation::timeline::Timeline;
use queue_scaler_simulation::{control_plane, live, workspace_root, Error};
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

async fn simulate(out: &Path) -> Result<(), Error> {
    let scratch =
        Scratch(std::env::temp_dir().join(format!("queue-scaler-simulate-{}", std::process::id())));
    let control = control_plane::shared(&scratch.0).await?;
    let scenario = Scenario::backlog_burst();
    let on = live::run(control, &scenario, "model-worker-rearm-on", true).await?;
    let off = live::run(control, &scenario, "model-worker-rearm-off", false).await?;

    std::fs::create_dir_all(out).map_err(|source| Error::Write {
        path: out.to_owned(),
        source,
    })?;
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
    ]);
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
