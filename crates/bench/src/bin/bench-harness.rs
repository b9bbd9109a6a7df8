//! `bench-harness`: runs the whole-process benchmarks (start-up, cold and warm invocations,
//! requests by kind, memory), reads the sizes and criterion's estimates, and writes the numbers
//! section of `BENCHMARKS.md`. `make bench` builds what it needs and runs it; `--quick` runs
//! every scenario once.

use clap::Parser;
use queue_scaler_bench::measure::{self, Plan};
use queue_scaler_bench::report::{self, Machine, Report};
use queue_scaler_bench::{criterion_results, sizes, Error};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Benchmark queue-scaler's functions against a floor, on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "bench-harness")]
struct Args {
    /// The function under test: a `scale-up` binary (release, for real numbers).
    #[arg(long)]
    function: PathBuf,
    /// The floor: the `hello` binary, built with the same profile.
    #[arg(long)]
    floor: PathBuf,
    /// The event every invocation gets.
    #[arg(long, default_value = "events/alarm-high-backlog.json")]
    event: PathBuf,
    /// local-gke's state and the functions' logs go here.
    #[arg(long, default_value = "target/bench/work")]
    work_dir: PathBuf,
    /// `cargo lambda build --lambda-dir` base of the size table: DIR/{x86_64,arm64}/{bin,zip}/NAME.
    #[arg(long)]
    lambda_dir: Option<PathBuf>,
    /// criterion's output directory (`target/criterion`), for the intake and start-up parts.
    #[arg(long)]
    criterion_dir: Option<PathBuf>,
    /// Replace the numbers section (between its markers) of this file, e.g. BENCHMARKS.md.
    #[arg(long)]
    update: Option<PathBuf>,
    /// Also write the numbers section alone to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run every scenario once, with tiny counts: checks that the harness works.
    #[arg(long)]
    quick: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let mut message = format!("bench-harness: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Error> {
    let state_dir = args.work_dir.join("local-gke");
    std::fs::create_dir_all(&state_dir)
        .map_err(Error::io(format!("creating {}", state_dir.display())))?;
    let work_dir = std::fs::canonicalize(&args.work_dir)
        .map_err(Error::io(format!("resolving {}", args.work_dir.display())))?;
    // The in-process breakdown verifies local-gke's Google listener as the function does, through
    // `SSL_CERT_FILE`, which local-gke writes into its state directory. Set it before any thread
    // starts; the function processes get a clean environment of their own.
    std::env::set_var("SSL_CERT_FILE", work_dir.join("local-gke/google-ca.pem"));
    std::env::remove_var("SSL_CERT_DIR");

    let mut plan = Plan::full(args.function, args.floor, args.event, work_dir);
    if args.quick {
        plan = plan.quick();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::io("starting the async runtime"))?;
    let results = runtime.block_on(measure::run(&plan))?;
    drop(runtime);

    let sizes = args
        .lambda_dir
        .as_deref()
        .map(|dir| sizes::collect(dir, &["hello", "scale-up", "scale-down"]))
        .unwrap_or_default();
    let group = |name: &str| {
        args.criterion_dir
            .as_deref()
            .map(|dir| criterion_results::read_group(dir, name))
            .unwrap_or_default()
    };
    let (intake, intake_parts, startup_parts) =
        (group("intake"), group("intake_parts"), group("startup"));
    let machine = machine();
    let section = report::render(&Report {
        machine: &machine,
        plan: &plan,
        results: &results,
        sizes: &sizes,
        intake: &intake,
        intake_parts: &intake_parts,
        startup_parts: &startup_parts,
        quick: args.quick,
    });
    println!("{section}");
    if let Some(out) = &args.out {
        write(out, &section)?;
    }
    if let Some(doc) = &args.update {
        let text = std::fs::read_to_string(doc)
            .map_err(Error::io(format!("reading {}", doc.display())))?;
        let updated = report::splice(&text, &section).ok_or_else(|| {
            Error::Function(format!(
                "{} has no numbers section: add the lines {:?} and {:?}",
                doc.display(),
                report::BEGIN,
                report::END
            ))
        })?;
        write(doc, &updated)?;
        eprintln!("bench: numbers written to {}", doc.display());
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(Error::io(format!("creating {}", parent.display())))?;
    }
    std::fs::write(path, text).map_err(Error::io(format!("writing {}", path.display())))
}

/// What the numbers were measured on.
fn machine() -> Machine {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let field = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_owned())
    };
    let memory = field(&read("/proc/meminfo"), "MemTotal")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| format!("{:.0} GiB", kib / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "rustc unknown".into());
    Machine {
        cpu: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown CPU".into()),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        memory,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        rustc,
        date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
    }
}
