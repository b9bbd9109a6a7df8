//! The routing settings: a table (`SCALER_TARGETS`, JSON or the path of a JSON file), or one
//! target for every alarm (`TARGET_NAMESPACE`, `TARGET_DEPLOYMENT`, `MIN_REPLICAS`, ...),
//! checked into [`Routes`]: Kubernetes names, alarm names, and each target's [`Policy`].
//!
//! Here the single target; `table` reads and checks the table, and `checks` holds the checks
//! both share (names, queues, alarms, the policy's numbers).
//!
//! [`Policy`]: crate::policy::Policy

mod checks;
mod table;
#[cfg(test)]
mod tests;

use super::pools::PoolClaim;
use super::problem::Problems;
use super::raw::RawTargets;
use super::workers::WorkerClaim;
use crate::policy::{Route, Routes, Target};
use checks::{alarm_list, check_alarm_names, check_name, check_queues, policy};
use std::path::Path;

/// Check the routing settings: the table when `SCALER_TARGETS` is set, else the single target.
/// `read_file` reads `SCALER_TARGETS` when it names a file. With the routes, what each route's
/// settings say of its GPU pool and its worker role, one claim each per route, for
/// `config::pools` and `config::workers` to check.
pub(super) fn check(
    raw: RawTargets,
    read_file: &dyn Fn(&Path) -> std::io::Result<String>,
    problems: &mut Problems,
) -> Option<Checked> {
    match &raw.table.value {
        None => single(raw, problems),
        Some(_) => table::table(raw, read_file, problems),
    }
}

/// The routes, and per route what its settings say of its pool and of its worker role.
pub(super) type Checked = (Routes, Vec<PoolClaim>, Vec<WorkerClaim>);

/// One target for every alarm, from the single-target variables.
fn single(raw: RawTargets, problems: &mut Problems) -> Option<Checked> {
    let claim = PoolClaim {
        at: format!(
            "{}/{}/{}",
            raw.pool.name, raw.gpus_per_replica.name, raw.pool_gpus.name
        ),
        pool: raw.pool.value.clone(),
        gpus_per_replica: problems.int(&raw.gpus_per_replica),
        pool_gpus: problems.int(&raw.pool_gpus),
    };
    let worker = WorkerClaim {
        at: raw.worker_role.name.to_owned(),
        role: raw.worker_role.value.clone(),
    };
    let namespace = raw.namespace.value;
    let deployment = raw.deployment.value;
    if namespace.is_none() {
        problems.add(raw.namespace.name, "is required (or give SCALER_TARGETS)");
    }
    if deployment.is_none() {
        problems.add(raw.deployment.name, "is required (or give SCALER_TARGETS)");
    }
    if let Some(ns) = &namespace {
        check_name(problems, raw.namespace.name, ns, 63, false);
    }
    if let Some(d) = &deployment {
        check_name(problems, raw.deployment.name, d, 253, true);
    }
    let numbers = [
        &raw.min_replicas,
        &raw.max_replicas,
        &raw.scale_step,
        &raw.messages_per_replica,
    ];
    let [min, max, step, mpr] = numbers.map(|s| problems.int(s));
    let names = numbers.map(|s| s.name.to_owned());
    let policy = policy(problems, names, min, max, step, mpr);
    let alarms = alarm_list(&raw.alarms);
    let wake_alarms = alarm_list(&raw.wake_alarms);
    let queues = alarm_list(&raw.queues);
    check_queues(problems, raw.queues.name, &queues);
    check_alarm_names(
        problems,
        &format!("{}/{}", raw.alarms.name, raw.wake_alarms.name),
        &alarms,
        &wake_alarms,
    );
    let route = Route {
        alarms,
        queues,
        wake_alarms,
        target: Target {
            namespace: namespace?,
            deployment: deployment?,
            policy: policy?,
        },
    };
    Some((Routes::Single(route), vec![claim], vec![worker]))
}
