//! The routing table, `SCALER_TARGETS`: inline JSON, or the path of a JSON file in the
//! deployment package when it does not fit in Lambda's environment.

use super::checks::{check_alarm_names, check_name, check_queues, policy};
use super::Checked;
use crate::config::pools::PoolClaim;
use crate::config::problem::Problems;
use crate::config::raw::RawTargets;
use crate::config::workers::WorkerClaim;
use crate::policy::{Route, Routes, Target};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Lambda's limit on a function's environment: 4 KB for all variables together, names included.
const LAMBDA_ENVIRONMENT_BYTES: usize = 4096;
/// An inline table at least this long is near that limit, which may be why it is cut or invalid.
const NEAR_LAMBDA_ENVIRONMENT_BYTES: usize = 3 * 1024;
/// Where a table too large for the environment goes: a file in the deployment package.
const TABLE_IN_THE_PACKAGE: &str =
    "a table that does not fit in the environment belongs in a file in \
     the deployment package, beside bootstrap, which Lambda unpacks to /var/task: \
     `make deploy SCALER_TARGETS_FILE=targets.json` ships it as /var/task/targets.json, and \
     SCALER_TARGETS=/var/task/targets.json names it";

/// One row of `SCALER_TARGETS`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    #[serde(default)]
    alarms: Vec<String>,
    #[serde(default)]
    queues: Vec<String>,
    #[serde(default)]
    wake_alarms: Vec<String>,
    namespace: String,
    deployment: String,
    #[serde(default)]
    min_replicas: Option<i64>,
    max_replicas: i64,
    #[serde(default)]
    scale_step: Option<i64>,
    #[serde(default)]
    messages_per_replica: Option<i64>,
    #[serde(default)]
    pool: Option<String>,
    #[serde(default)]
    gpus_per_replica: Option<i64>,
    #[serde(default)]
    pool_gpus: Option<i64>,
    #[serde(default)]
    worker_role: Option<String>,
}

/// The routing table, `SCALER_TARGETS`: given as JSON, or the path of a file holding it.
pub(super) fn table(
    raw: RawTargets,
    read_file: &dyn Fn(&Path) -> std::io::Result<String>,
    problems: &mut Problems,
) -> Option<Checked> {
    for setting in [
        &raw.namespace,
        &raw.deployment,
        &raw.min_replicas,
        &raw.max_replicas,
        &raw.scale_step,
        &raw.messages_per_replica,
        &raw.alarms,
        &raw.wake_alarms,
        &raw.queues,
        &raw.pool,
        &raw.gpus_per_replica,
        &raw.pool_gpus,
        &raw.worker_role,
    ] {
        if setting.value.is_some() {
            problems.add(
                setting.name,
                "cannot be combined with SCALER_TARGETS; put it in the table's entries",
            );
        }
    }
    let table = raw.table.value?;
    let inline = table.starts_with('[') || table.starts_with('{');
    if inline && table.len() > LAMBDA_ENVIRONMENT_BYTES {
        problems.add(
            "SCALER_TARGETS",
            format!(
                "is {} bytes of JSON, more than the 4 KB ({LAMBDA_ENVIRONMENT_BYTES} bytes) Lambda \
                 allows for all environment variables together: {TABLE_IN_THE_PACKAGE}",
                table.len()
            ),
        );
        return None;
    }
    // An inline table near the limit that does not parse may have been cut to fit.
    let near_limit = inline && table.len() >= NEAR_LAMBDA_ENVIRONMENT_BYTES;
    let text = if inline {
        table
    } else {
        match read_file(Path::new(&table)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.add(
                    "SCALER_TARGETS",
                    format!(
                        "names no file ({table:?}: {e}); {TABLE_IN_THE_PACKAGE} (a JSON value \
                         starts with '[')"
                    ),
                );
                return None;
            }
            Err(e) => {
                problems.add(
                    "SCALER_TARGETS",
                    format!("is neither a JSON array nor a readable file ({table:?}: {e})"),
                );
                return None;
            }
        }
    };
    let rows: Vec<RawRoute> = match serde_json::from_str(&text) {
        Ok(rows) => rows,
        Err(e) => {
            problems.add(
                "SCALER_TARGETS",
                format!(
                    "is not a valid routing table ({e}); expected a JSON array of \
                     {{\"alarms\": [..], \"queues\": [..], \"namespace\", \"deployment\", \"max_replicas\", ...}}{}",
                    if near_limit {
                        format!(
                            "; at {} bytes it is near Lambda's 4 KB limit on the environment, \
                             which may have cut it: {TABLE_IN_THE_PACKAGE}",
                            text.len()
                        )
                    } else {
                        String::new()
                    }
                ),
            );
            return None;
        }
    };
    if rows.is_empty() {
        problems.add(
            "SCALER_TARGETS",
            "is an empty table: add at least one target",
        );
        return None;
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut routes = Vec::new();
    let mut claims = Vec::new();
    let mut workers = Vec::new();
    let mut all_ok = true;
    for (i, row) in rows.into_iter().enumerate() {
        let at = format!("SCALER_TARGETS[{i}]");
        let before = problems.len();
        check_name(
            problems,
            &format!("{at}.namespace"),
            &row.namespace,
            63,
            false,
        );
        check_name(
            problems,
            &format!("{at}.deployment"),
            &row.deployment,
            253,
            true,
        );
        if row.alarms.is_empty() && row.queues.is_empty() && row.wake_alarms.is_empty() {
            problems.add(
                &at,
                "lists no alarms and no queues, so nothing can reach it",
            );
        }
        check_alarm_names(problems, &at, &row.alarms, &row.wake_alarms);
        check_queues(problems, &format!("{at}.queues"), &row.queues);
        let queue_names: Vec<String> = row
            .queues
            .iter()
            .map(|q| crate::policy::queue_name(q).to_owned())
            .collect();
        for (kind, names) in [
            ("alarm", &row.alarms),
            ("queue", &queue_names),
            ("alarm", &row.wake_alarms),
        ] {
            for name in names {
                if let Some(first) = seen.insert(format!("{kind} {name}"), i) {
                    problems.add(
                        &at,
                        format!("{kind} {name:?} is already routed by SCALER_TARGETS[{first}]"),
                    );
                }
            }
        }
        let names = [
            "min_replicas",
            "max_replicas",
            "scale_step",
            "messages_per_replica",
        ]
        .map(|n| format!("{at}.{n}"));
        let policy = policy(
            problems,
            names,
            row.min_replicas,
            Some(row.max_replicas),
            row.scale_step,
            row.messages_per_replica,
        );
        match policy {
            Some(policy) if problems.len() == before => {
                workers.push(WorkerClaim {
                    at: format!("{at}.worker_role"),
                    role: row.worker_role,
                });
                claims.push(PoolClaim {
                    at: at.clone(),
                    pool: row.pool,
                    gpus_per_replica: row.gpus_per_replica,
                    pool_gpus: row.pool_gpus,
                });
                routes.push(Route {
                    alarms: row.alarms,
                    queues: row.queues,
                    wake_alarms: row.wake_alarms,
                    target: Target {
                        namespace: row.namespace,
                        deployment: row.deployment,
                        policy,
                    },
                });
            }
            _ => all_ok = false,
        }
    }
    all_ok.then_some((Routes::Table(routes), claims, workers))
}
