//! The GPU pool settings: `TARGET_POOL`, `TARGET_GPUS_PER_REPLICA` and `TARGET_POOL_GPUS` for
//! the single target, or a table entry's `pool`, `gpus_per_replica` and `pool_gpus`, checked
//! into [`Pools`]: a valid node pool name, whole numbers of at least 1, one pool size per pool,
//! and mins that fit in it together.

use super::problem::Problems;
use crate::capacity::{PoolEntry, Pools};
use crate::policy::Routes;

/// What one target's settings say of its pool, before the checks; `at` names the setting (or
/// the table entry) that problems name.
pub(super) struct PoolClaim {
    pub(super) at: String,
    pub(super) pool: Option<String>,
    pub(super) gpus_per_replica: Option<i64>,
    pub(super) pool_gpus: Option<i64>,
}

/// The most GPUs one replica may ask for: a node has at most 16 (a2-megagpu-16g).
const MAX_GPUS_PER_REPLICA: i64 = 16;

/// Check the claims of `routes`' targets (one per route, in order) into [`Pools`].
pub(super) fn check(claims: Vec<PoolClaim>, routes: &Routes, problems: &mut Problems) -> Pools {
    let mut entries = Vec::new();
    for (claim, route) in claims.into_iter().zip(routes.routes()) {
        let Some(pool) = claim.pool else {
            if claim.gpus_per_replica.is_some() || claim.pool_gpus.is_some() {
                problems.add(
                    &claim.at,
                    "gpus_per_replica and pool_gpus need a pool (TARGET_POOL, or the entry's \"pool\"): the GKE node pool the Deployment runs on",
                );
            }
            continue;
        };
        if !is_pool_name(&pool) {
            problems.add(
                &claim.at,
                format!("pool {pool:?} is not a GKE node pool name (1 to 40 lowercase letters, digits or '-', starting with a letter)"),
            );
            continue;
        }
        let gpus_per_replica = match claim.gpus_per_replica {
            None => 1,
            Some(n) if (1..=MAX_GPUS_PER_REPLICA).contains(&n) => n.unsigned_abs() as u32,
            Some(n) => {
                problems.add(
                    &claim.at,
                    format!("gpus_per_replica {n} is not between 1 and {MAX_GPUS_PER_REPLICA}"),
                );
                continue;
            }
        };
        let pool_gpus = match claim.pool_gpus {
            None => None,
            Some(n) if n >= 1 => Some(n.unsigned_abs()),
            Some(n) => {
                problems.add(&claim.at, format!("pool_gpus {n} is not at least 1"));
                continue;
            }
        };
        entries.push((
            claim.at,
            route.target.policy.min,
            PoolEntry {
                target: route.target.to_string(),
                pool,
                gpus_per_replica,
                pool_gpus,
            },
        ));
    }
    // One size per pool, and mins that fit in it.
    let mut pools: Vec<&str> = entries.iter().map(|(_, _, e)| e.pool.as_str()).collect();
    pools.dedup();
    pools.sort_unstable();
    pools.dedup();
    for pool in pools {
        let members: Vec<_> = entries.iter().filter(|(_, _, e)| e.pool == pool).collect();
        let sizes: Vec<u64> = members.iter().filter_map(|(_, _, e)| e.pool_gpus).collect();
        if sizes.windows(2).any(|w| w[0] != w[1]) {
            problems.add(
                &members[0].0,
                format!("the entries of pool {pool:?} give different pool_gpus ({sizes:?}): give it once, or the same everywhere"),
            );
            continue;
        }
        if let Some(&gpus) = sizes.first() {
            let mins: u64 = members
                .iter()
                .map(|(_, min, e)| u64::from(min.unsigned_abs()) * u64::from(e.gpus_per_replica))
                .sum();
            if mins > gpus {
                problems.add(
                    &members[0].0,
                    format!(
                        "the mins of pool {pool:?}'s targets need {mins} GPUs together, more than its {gpus}: lower a min_replicas, or size the pool"
                    ),
                );
            }
        }
    }
    Pools::new(entries.into_iter().map(|(_, _, e)| e).collect())
}

/// A GKE node pool name: 1 to 40 lowercase letters, digits or `-`, starting with a letter.
fn is_pool_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{base, load, with};

    fn table(json: &str) -> Result<crate::Config, crate::ConfigError> {
        let vars: Vec<(&str, &str)> = base()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("TARGET_") && !k.ends_with("_REPLICAS"))
            .chain([("SCALER_TARGETS", json)])
            .collect();
        load(&vars)
    }

    const TWO_MODELS: &str = r#"[
      {"alarms": ["text-high"], "queues": ["text-jobs"], "namespace": "ml", "deployment": "text-model",
       "min_replicas": 1, "max_replicas": 4, "messages_per_replica": 100, "pool": "gpu-pool", "pool_gpus": 4},
      {"alarms": ["image-high"], "queues": ["image-jobs"], "namespace": "ml", "deployment": "image-model",
       "min_replicas": 0, "max_replicas": 4, "messages_per_replica": 50, "pool": "gpu-pool", "gpus_per_replica": 1}
    ]"#;

    #[test]
    fn two_models_on_one_pool_share_it_and_its_lease() {
        let config = table(TWO_MODELS).unwrap_or_else(|e| panic!("{e}"));
        let members = config.pools.members("gpu-pool");
        assert_eq!(members.len(), 2);
        assert_eq!(config.pools.configured_gpus("gpu-pool"), Some(4));
        assert_eq!(
            config.pools.lease("gpu-pool"),
            Some(("ml".to_owned(), "queue-scaler-pool-gpu-pool".to_owned()))
        );
    }

    #[test]
    fn mins_that_do_not_fit_the_pool_are_refused_naming_the_numbers() {
        let json = TWO_MODELS
            .replace("\"min_replicas\": 1", "\"min_replicas\": 3")
            .replace("\"min_replicas\": 0", "\"min_replicas\": 2");
        let err = table(&json).unwrap_err().to_string();
        assert!(
            err.contains("need 5 GPUs") && err.contains("its 4"),
            "{err}"
        );
    }

    #[test]
    fn pool_settings_are_checked_each_with_its_name() {
        for (json_from, json_to, says) in [
            (
                "\"pool\": \"gpu-pool\", \"pool_gpus\": 4",
                "\"pool_gpus\": 4",
                "need a pool",
            ),
            (
                "\"pool\": \"gpu-pool\", \"pool_gpus\": 4",
                "\"pool\": \"GPU_Pool\"",
                "not a GKE node pool name",
            ),
            (
                "\"gpus_per_replica\": 1",
                "\"gpus_per_replica\": 0",
                "not between 1 and 16",
            ),
            (
                "\"gpus_per_replica\": 1",
                "\"gpus_per_replica\": 1, \"pool_gpus\": 8",
                "different pool_gpus",
            ),
        ] {
            let json = TWO_MODELS.replacen(json_from, json_to, 1);
            assert_ne!(json, TWO_MODELS, "{json_from}");
            let err = table(&json).unwrap_err().to_string();
            assert!(
                err.contains(says) && err.contains("SCALER_TARGETS["),
                "{says}: {err}"
            );
        }
        let err = load(&with(base(), &[("TARGET_POOL_GPUS", "4")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TARGET_POOL") && err.contains("need a pool"),
            "{err}"
        );
        let single = load(&with(
            base(),
            &[("TARGET_POOL", "gpu-pool"), ("TARGET_POOL_GPUS", "4")],
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(single.pools.configured_gpus("gpu-pool"), Some(4));
    }

    #[test]
    fn the_wait_before_capacity_limited_defaults_to_fifteen_minutes_and_is_checked() {
        let default = load(&base()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(default.pools.pending_seconds, 900);
        let set = load(&with(base(), &[("CAPACITY_PENDING_SECONDS", "120")]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.pools.pending_seconds, 120);
        for bad in ["0", "-5", "soon", "86401"] {
            let err = load(&with(base(), &[("CAPACITY_PENDING_SECONDS", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("CAPACITY_PENDING_SECONDS"), "{bad}: {err}");
        }
    }

    #[test]
    fn without_a_pool_capacity_is_off() {
        assert!(load(&base())
            .unwrap_or_else(|e| panic!("{e}"))
            .pools
            .is_empty());
    }
}
