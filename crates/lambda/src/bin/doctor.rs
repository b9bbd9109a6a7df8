//! `make doctor`: the doctor of either function, run here against a deployment's settings (the
//! environment, as the function would get it), printed as a table. Exits 1 when a check fails.
//!
//! `doctor up|down` runs it; `doctor --render FILE` (or `-` for stdin) prints a report that a
//! deployed function returned (`make doctor-remote`).

use lambda_runtime::LambdaEvent;
use queue_scaler_core::Direction;
use queue_scaler_lambda::report::doctor::Report;
use queue_scaler_lambda::{Function, Response};
use serde_json::json;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: doctor up|down   (settings from the environment; QUEUE_SCALER_FUNCTION_ARN names the deployed function for the alarms check, {function} standing for scale-up or scale-down)\n       doctor --render FILE|-";

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
    print!("{}", report.table());
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The doctor's event, handled as the deployed function handles it; its own ARN comes from
/// `QUEUE_SCALER_FUNCTION_ARN`, since no runtime passes one.
async fn run(direction: Direction) -> Report {
    let function = Function::from_env(direction).await;
    let context = queue_scaler_lambda::context("doctor", "", Duration::from_secs(60));
    let event = LambdaEvent::new(json!({"action": "doctor"}), context);
    match function.handle(event).await {
        Ok(Response::Doctor(report)) => report,
        Ok(other) => Report::broken(direction, &format!("not a doctor's report: {other:?}")),
        Err(failure) => Report::broken(direction, &failure.message()),
    }
}

/// A report as a deployed function returned it; `cargo lambda invoke` prints it as JSON.
fn read(file: &str) -> Result<Report, String> {
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?
    };
    serde_json::from_str(&text).map_err(|e| format!("{file} is not a doctor report ({e}): {text}"))
}
