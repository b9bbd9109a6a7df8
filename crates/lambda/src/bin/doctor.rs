//! `make doctor`: the doctor of either function, run here against a deployment's settings (the
//! environment, as the function would get it), printed as a table. Exits 1 when a check fails.
//!
//! `doctor up|down` runs it; `doctor --render FILE` (or `-` for stdin) prints a report that a
//! deployed function returned (`make doctor-remote`).

use queue_scaler_core::Direction;
use queue_scaler_lambda::doctor::Report;
use queue_scaler_lambda::scaler::Call;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: doctor up|down   (settings from the environment; QUEUE_SCALER_FUNCTION_ARN names the deployed function for the alarms check)\n       doctor --render FILE|-";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let report = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--render", file] => match read(file) {
            Ok(report) => report,
            Err(e) => {
                eprintln!("doctor: {e}");
                return ExitCode::from(2);
            }
        },
        ["up"] => run(Direction::Up).await,
        ["down"] => run(Direction::Down).await,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    print!("{}", table(&report));
    if report["ok"].as_bool() == Some(true) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run(direction: Direction) -> serde_json::Value {
    let arn = std::env::var("QUEUE_SCALER_FUNCTION_ARN").unwrap_or_default();
    let report = match queue_scaler_lambda::startup(direction).await {
        Ok(scaler) => {
            let call = Call {
                deadline: tokio::time::Instant::now() + Duration::from_secs(60),
                request_id: "doctor",
                function_arn: &arn,
            };
            scaler.doctor(call).await
        }
        Err(failure) => Report::broken(direction, &failure),
    };
    serde_json::to_value(report).unwrap_or_default()
}

/// A report as a deployed function returned it; `cargo lambda invoke` prints it as JSON.
fn read(file: &str) -> Result<serde_json::Value, String> {
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{file} is not JSON ({e}): {text}"))?;
    if value.get("checks").is_none() {
        return Err(format!("{file} is not a doctor report: {text}"));
    }
    Ok(value)
}

/// The table, from the JSON (so a report from a deployed function prints the same way).
fn table(report: &serde_json::Value) -> String {
    match serde_json::from_value::<RenderedReport>(report.clone()) {
        Ok(r) => r.to_string(),
        Err(e) => format!("not a doctor report ({e}): {report}\n"),
    }
}

#[derive(serde::Deserialize)]
struct RenderedReport {
    ok: bool,
    direction: String,
    checks: Vec<RenderedCheck>,
}

#[derive(serde::Deserialize)]
struct RenderedCheck {
    name: String,
    status: String,
    detail: String,
    fix: Option<String>,
}

impl std::fmt::Display for RenderedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        writeln!(
            f,
            "queue-scaler doctor, scale-{}: {}",
            self.direction,
            if self.ok { "OK" } else { "PROBLEMS FOUND" }
        )?;
        for c in &self.checks {
            writeln!(
                f,
                "{:4}  {:width$}  {}",
                c.status.to_uppercase(),
                c.name,
                c.detail
            )?;
            if let Some(fix) = &c.fix {
                writeln!(f, "      {:width$}  fix: {fix}", "")?;
            }
        }
        Ok(())
    }
}
