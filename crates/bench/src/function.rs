//! One function process under the harness's Runtime API: spawned with a clean Lambda-like
//! environment, timed from spawn to its first request for an event, invoked, measured through
//! `/proc/PID/status`, and killed. I/O: a child process, its log file and `/proc`.

use crate::runtime_api::{Arrival, Outcome, RuntimeApi};
use crate::Error;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// How long a function may take to start or to answer one event before the harness gives up.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The environment AWS Lambda gives every function, less credentials; `api` is the Runtime API.
pub fn lambda_env(api: &RuntimeApi, name: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", api.host_port()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".to_owned()),
        ("AWS_REGION", "eu-west-1".to_owned()),
        ("AWS_DEFAULT_REGION", "eu-west-1".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("TZ", ":UTC".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Resident memory of a process, from `/proc/PID/status`, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmHWM`: the peak resident set so far.
    pub peak_kib: u64,
    /// `VmRSS`: the resident set now.
    pub rss_kib: u64,
    /// `RssAnon`: the part of it that is heap and stacks (0 where the kernel does not say).
    pub anon_kib: u64,
    /// `RssFile`: the part that is mapped files, mostly the binary's code.
    pub file_kib: u64,
}

impl Memory {
    /// Read `VmHWM` and `VmRSS` from the text of `/proc/PID/status`.
    pub fn parse(status: &str) -> Option<Memory> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        };
        Some(Memory {
            peak_kib: field("VmHWM:")?,
            rss_kib: field("VmRSS:")?,
            anon_kib: field("RssAnon:").unwrap_or(0),
            file_kib: field("RssFile:").unwrap_or(0),
        })
    }
}

/// A running function process and its Runtime API.
#[derive(Debug)]
pub struct Session {
    api: RuntimeApi,
    child: Child,
    spawned: Instant,
    log: PathBuf,
}

impl Session {
    /// Start a Runtime API, then spawn `binary` with only the Lambda environment and `env`, its
    /// output going to `log`. The process is killed when the session is dropped.
    pub async fn spawn(
        binary: &Path,
        name: &str,
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Session, Error> {
        Self::spawn_with(binary, name, log, |_| env.to_vec()).await
    }

    /// [`Self::spawn`], with an environment that may name the session's Runtime API listener
    /// (which also serves the CloudWatch stub).
    pub async fn spawn_with(
        binary: &Path,
        name: &str,
        log: &Path,
        env: impl FnOnce(&RuntimeApi) -> Vec<(String, String)>,
    ) -> Result<Session, Error> {
        let api = RuntimeApi::start().await?;
        let env = env(&api);
        let out =
            std::fs::File::create(log).map_err(Error::io(format!("creating {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(Error::io(format!("opening {}", log.display())))?;
        let mut command = Command::new(binary);
        command
            .env_clear()
            .envs(lambda_env(&api, name))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let spawned = Instant::now();
        let child = command
            .spawn()
            .map_err(Error::io(format!("starting {}", binary.display())))?;
        Ok(Session {
            api,
            child,
            spawned,
            log: log.to_owned(),
        })
    }

    /// The Runtime API, for its CloudWatch counter and address.
    pub fn api(&self) -> &RuntimeApi {
        &self.api
    }

    /// Wait until the function asks for its next event; return when that was.
    async fn ready(&mut self) -> Result<Instant, Error> {
        let log = self.log.display().to_string();
        tokio::select! {
            arrival = self.api.next_arrival() => match arrival {
                Some(Arrival::Next(at)) => Ok(at),
                Some(Arrival::InitError(body)) => Err(Error::Function(format!(
                    "the function reported an init error: {body} (log: {log})"
                ))),
                None => Err(Error::Function("the Runtime API stopped".into())),
            },
            status = self.child.wait() => Err(Error::Function(match status {
                Ok(status) => format!("the function exited ({status}); see {log}"),
                Err(e) => format!("the function could not be waited for ({e}); see {log}"),
            })),
            () = tokio::time::sleep(TIMEOUT) => Err(Error::Function(format!(
                "the function did not ask for an event within {TIMEOUT:?}; see {log}"
            ))),
        }
    }

    /// Start-up: from spawning the process to its first `GET .../invocation/next`.
    pub async fn startup(&mut self) -> Result<Duration, Error> {
        let at = self.ready().await?;
        Ok(at - self.spawned)
    }

    /// Hand out `event`, wait for the result, then for the function to ask for the next event,
    /// so that measurements in between see it idle. A function error is an error here.
    pub async fn invoke(&mut self, event: &[u8]) -> Result<Outcome, Error> {
        let reply = self.api.queue(event.to_vec());
        let log = self.log.display().to_string();
        let outcome = tokio::select! {
            outcome = reply => outcome.map_err(|_| Error::Function("the Runtime API dropped an event".into()))?,
            status = self.child.wait() => return Err(Error::Function(format!(
                "the function exited during an invocation ({}); see {log}",
                status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string())
            ))),
            () = tokio::time::sleep(TIMEOUT) => return Err(Error::Function(format!(
                "no result within {TIMEOUT:?}; see {log}"
            ))),
        };
        if !outcome.ok {
            return Err(Error::Function(format!(
                "the function returned an error: {} (log: {log})",
                String::from_utf8_lossy(&outcome.body)
            )));
        }
        self.ready().await?;
        Ok(outcome)
    }

    /// The process's memory now.
    pub fn memory(&self) -> Result<Memory, Error> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| Error::Function("the function has exited".into()))?;
        let path = format!("/proc/{pid}/status");
        let status =
            std::fs::read_to_string(&path).map_err(Error::io(format!("reading {path}")))?;
        Memory::parse(&status).ok_or_else(|| Error::Function(format!("{path} has no VmHWM/VmRSS")))
    }

    /// Kill the process and wait for it.
    pub async fn stop(mut self) -> Result<(), Error> {
        self.child
            .kill()
            .await
            .map_err(Error::io("stopping the function"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_from_proc_status() {
        let status = "Name:\tscale-up\nVmPeak:\t  12345 kB\nVmHWM:\t    9000 kB\n\
                      VmRSS:\t    8500 kB\nRssAnon:\t    3000 kB\nRssFile:\t    5500 kB\n";
        assert_eq!(
            Memory::parse(status),
            Some(Memory {
                peak_kib: 9000,
                rss_kib: 8500,
                anon_kib: 3000,
                file_kib: 5500,
            })
        );
        assert_eq!(Memory::parse("Name:\tx\n"), None);
    }
}
