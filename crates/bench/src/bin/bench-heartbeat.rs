//! `bench-heartbeat`: scale-up's heartbeat over 1,000 targets (and over the same 1,000 queues
//! four to a target), against local-gke and the AWS stand-in; prints the table and, with
//! `--update FILE`, writes it between the heartbeat markers of `BENCHMARKS.md`.
//!
//! Usage: `bench-heartbeat [--update BENCHMARKS.md]`. Talks only to 127.0.0.1.

use queue_scaler_bench::heartbeat::{self, Fleet};
use queue_scaler_bench::report::splice_between;
use queue_scaler_harness::ControlPlane;
use std::path::PathBuf;
use std::process::ExitCode;

async fn run(update: Option<PathBuf>) -> Result<(), String> {
    let scratch = std::env::temp_dir().join(format!(
        "queue-scaler-bench-heartbeat-{}",
        std::process::id()
    ));
    let control = ControlPlane::shared(&scratch)
        .await
        .map_err(|e| e.to_string())?;
    let mut runs = Vec::new();
    for fleet in [Fleet::issue(), Fleet::four_queues_each()] {
        runs.push(
            heartbeat::measure(control, fleet)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let section = heartbeat::section(&runs);
    println!("{section}");
    let _ = std::fs::remove_dir_all(&scratch);
    if let Some(path) = update {
        let doc = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let new = splice_between(&doc, heartbeat::BEGIN, heartbeat::END, &section)
            .ok_or_else(|| format!("{} has no heartbeat markers", path.display()))?;
        std::fs::write(&path, new).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut update = None;
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--update", Some(path)) => update = Some(PathBuf::from(path)),
            _ => {
                eprintln!("usage: bench-heartbeat [--update BENCHMARKS.md]");
                return ExitCode::from(2);
            }
        }
    }
    match run(update).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-heartbeat: {e}");
            ExitCode::FAILURE
        }
    }
}
