//! The `local-gke` binary: parses the command line, starts both listeners, writes the state
//! directory, prints the ready line, and serves until SIGTERM or SIGINT.

use std::error::Error as _;
use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser;
use local_gke::cli::Args;
use local_gke::{Error, LocalGke};
use tokio::signal::unix::{signal, SignalKind};
use tracing::info;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let mut message = format!("local-gke: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Error> {
    let state_dir = args.state_dir.clone();
    let local_gke = LocalGke::start(args.into_config()?).await?;
    local_gke.write_state_dir(&state_dir)?;
    info!(
        google = local_gke.google_url(),
        cluster = local_gke.cluster_url(),
        service_account = local_gke.service_account().email(),
        "listening"
    );
    // Stdout is line-buffered, so this line is out as soon as it is printed.
    println!(
        "local-gke ready: env written to {}",
        state_dir.join("env").display()
    );
    wait_for_shutdown_signal().await.map_err(Error::Signal)?;
    info!("shutting down");
    drop(local_gke);
    Ok(())
}

async fn wait_for_shutdown_signal() -> std::io::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}
