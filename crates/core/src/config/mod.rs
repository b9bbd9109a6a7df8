//! Configuration: read once at start-up from a lookup function (the environment, in Lambda) into a
//! checked [`Config`]. Every problem is collected and reported together, each naming its setting.
//!
//! In two stages:
//!
//! 1. `raw`: every setting is read from the lookup, in one place, as the text it was given.
//! 2. Each topic checks its settings into typed values, noting every problem it finds:
//!    - `cluster`: `GKE_CLUSTER`, or `GKE_ENDPOINT` and `GKE_CA_CERT`, into a [`ClusterSource`]
//!      (the type lives with the cluster, in [`crate::cluster`]);
//!    - `credentials`: the Google credentials into a [`KeySource`], and `GCP_TOKEN_SCOPES`;
//!    - `targets`: `SCALER_TARGETS`, or the single target's variables, into [`Routes`];
//!    - `pools` and `workers`: each target's GPU pool and worker role, from the same settings;
//!    - `aws`: region, credentials and endpoint overrides into [`AwsSettings`].
//!
//! `early` reads what is needed before, or without, a checked configuration: [`Logging`], and
//! whether the environment names the CA roots ([`roots_from_environment`]).
//!
//! `problem` holds [`ConfigProblem`], [`ConfigError`], and the checks the topics share.
//!
//! Pure: the caller passes the lookup and, for `SCALER_TARGETS` given as a path, a file reader.

mod aws;
mod cluster;
mod credentials;
mod early;
mod pools;
mod problem;
mod raw;
mod targets;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
mod workers;

pub use aws::AwsSettings;
pub use credentials::{KeySource, DEFAULT_TOKEN_SCOPES};
pub use early::{roots_from_environment, Logging};
pub use problem::{ConfigError, ConfigProblem};

use crate::cluster::ClusterSource;
use crate::policy::Routes;
use problem::Problems;
use raw::RawConfig;
use std::path::Path;

/// Everything a function needs, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// How to reach the cluster.
    pub cluster: ClusterSource,
    /// Where the Google key comes from.
    pub key: KeySource,
    /// What each alarm scales.
    pub routes: Routes,
    /// Which targets share which GPU node pool; empty: capacity is off.
    pub pools: crate::capacity::Pools,
    /// Each target's worker role, where one is given (`TARGET_WORKER_ROLE`, `worker_role`):
    /// the doctor checks it.
    pub worker_roles: crate::worker::WorkerRoles,
    /// `DRY_RUN`: decide and report, write nothing.
    pub dry_run: bool,
    /// `REARM_ALARM`: set the alarm back to OK after acting.
    pub rearm_alarm: bool,
    /// `KUBE_EVENTS`: record a Kubernetes Event on the Deployment after each write.
    pub kube_events: bool,
    /// `AWS_LAMBDA_FUNCTION_NAME`, set by Lambda: who reports the Events.
    pub function_name: Option<String>,
    /// `QUEUE_SCALER_FUNCTION_ARN`: the function's own ARN where the runtime passes none (the
    /// emulator, the doctor run from a shell), `{function}` standing for `scale-up` or
    /// `scale-down`, so one environment serves both.
    pub function_arn: Option<String>,
    /// AWS access for re-arm and Secrets Manager.
    pub aws: AwsSettings,
    /// `GCP_TOKEN_SCOPES`: the OAuth2 scopes of the Google token.
    pub token_scopes: Vec<String>,
    /// `HEARTBEAT_GRACE_SECONDS`: the heartbeat leaves an alarm whose state changed more
    /// recently than this to its own invocation.
    pub heartbeat_grace: std::time::Duration,
}

impl Config {
    /// Read and check the configuration. `lookup` returns a variable's value; `read_file` reads
    /// `SCALER_TARGETS` when it names a file.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        read_file: impl Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Config, ConfigError> {
        let raw = RawConfig::read(&lookup);
        // Checked in this order, which is the order the problems are listed in.
        let mut problems = Problems::default();
        let cluster = cluster::check(raw.cluster, &mut problems);
        let key = credentials::key(&raw.credentials, &read_file, &mut problems);
        let routes = targets::check(raw.targets, &read_file, &mut problems).map(
            |(routes, claims, workers)| {
                let pools = pools::check(claims, &routes, &mut problems);
                let workers = workers::check(workers, &routes, &mut problems);
                (routes, pools, workers)
            },
        );
        let dry_run = problems.bool(&raw.dry_run, false);
        let rearm_alarm = problems.bool(&raw.rearm_alarm, true);
        let kube_events = problems.bool(&raw.kube_events, true);
        let rebalance = problems.bool(&raw.pool_rebalance, true);
        let aws = aws::check(raw.aws, rearm_alarm, key.as_ref(), &mut problems);
        let token_scopes = credentials::token_scopes(&raw.credentials.token_scopes, &mut problems);
        let capacity_pending = match problems.int(&raw.capacity_pending) {
            None => crate::capacity::DEFAULT_PENDING_SECONDS,
            Some(s) if (1..=86_400).contains(&s) => s.unsigned_abs(),
            Some(s) => {
                problems.add(
                    raw.capacity_pending.name,
                    format!("{s} is not between 1 and 86400 seconds"),
                );
                crate::capacity::DEFAULT_PENDING_SECONDS
            }
        };
        let heartbeat_grace = match problems.int(&raw.heartbeat_grace) {
            None => 60,
            Some(s) if (0..=3600).contains(&s) => s.unsigned_abs(),
            Some(s) => {
                problems.add(
                    raw.heartbeat_grace.name,
                    format!("{s} is not between 0 and 3600 seconds"),
                );
                60
            }
        };
        let function_arn = raw.function_arn.value.clone().filter(|v| !v.is_empty());
        if let Some(arn) = &function_arn {
            if !is_function_arn(arn) {
                problems.add(
                    raw.function_arn.name,
                    format!("{arn:?} is not a Lambda function ARN: arn:aws:lambda:REGION:ACCOUNT:function:NAME, with {{function}} standing for scale-up or scale-down"),
                );
            }
        }
        match (cluster, key, routes) {
            (Some(cluster), Some(key), Some((routes, pools, worker_roles)))
                if problems.is_empty() =>
            {
                Ok(Config {
                    cluster,
                    key,
                    routes,
                    pools: pools
                        .with_rebalance(rebalance)
                        .with_pending_seconds(capacity_pending),
                    worker_roles,
                    dry_run,
                    rearm_alarm,
                    kube_events,
                    function_name: raw.function_name.value,
                    function_arn,
                    aws,
                    token_scopes,
                    heartbeat_grace: std::time::Duration::from_secs(heartbeat_grace),
                })
            }
            _ => Err(problems.into_error()),
        }
    }
}

/// `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME` (`{function}` may stand in the name).
fn is_function_arn(arn: &str) -> bool {
    matches!(
        arn.split(':').collect::<Vec<_>>().as_slice(),
        ["arn", partition, "lambda", region, account, "function", name, ..]
            if partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && !name.is_empty()
    )
}
