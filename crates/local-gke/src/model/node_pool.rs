//! The node pools `clusters.get` reports, in the GKE API's own JSON (`container/v1`: `NodePool`,
//! `NodeConfig`, `NodeTaint`, `AcceleratorConfig`, `NodePoolAutoscaling`). As the API (proto3
//! JSON) does, empty lists and maps, zero counts, `false` and an unspecified effect are left out,
//! and the 64-bit `acceleratorCount` is a string. No I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The name of the default GPU node pool.
pub const DEFAULT_NODE_POOL: &str = "gpu-pool";
/// The key of the default pool's own taint and label (`mlonly=true`).
pub const MLONLY_KEY: &str = "mlonly";
/// The key of the taint GKE itself puts on a GPU pool (`nvidia.com/gpu=present:NO_SCHEDULE`).
pub const GKE_GPU_TAINT_KEY: &str = "nvidia.com/gpu";

/// A node pool: `NodePool` in the GKE API, with the fields `clusters.get` returns that matter here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePool {
    /// The pool's name, unique in the cluster.
    pub name: String,
    /// What every node of the pool gets.
    #[serde(default)]
    pub config: NodeConfig,
    /// The cluster autoscaler's settings; absent when it is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<NodePoolAutoscaling>,
}

/// `NodeConfig`: the taints, Kubernetes labels and accelerators of every node of a pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeConfig {
    /// `taints`, in order. Nothing stops a key and effect from appearing twice here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<NodeTaint>,
    /// `labels`: the Kubernetes labels of the nodes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `accelerators`: the GPUs attached to each node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accelerators: Vec<AcceleratorConfig>,
}

/// `NodeTaint`: a Kubernetes taint, with the API's enum for its effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeTaint {
    /// The taint's key.
    #[serde(default)]
    pub key: String,
    /// The taint's value (left out when empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// The taint's effect.
    #[serde(default, skip_serializing_if = "TaintEffect::is_unspecified")]
    pub effect: TaintEffect,
}

impl NodeTaint {
    /// A taint with this key, value and effect.
    pub fn new(key: &str, value: &str, effect: TaintEffect) -> Self {
        NodeTaint {
            key: key.to_owned(),
            value: value.to_owned(),
            effect,
        }
    }
}

/// `NodeTaint.Effect`, spelt as the API spells it (`NO_SCHEDULE`, not Kubernetes' `NoSchedule`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaintEffect {
    /// `EFFECT_UNSPECIFIED`.
    #[default]
    EffectUnspecified,
    /// `NO_SCHEDULE`.
    NoSchedule,
    /// `PREFER_NO_SCHEDULE`.
    PreferNoSchedule,
    /// `NO_EXECUTE`.
    NoExecute,
}

impl TaintEffect {
    fn is_unspecified(&self) -> bool {
        *self == TaintEffect::EffectUnspecified
    }
}

/// `AcceleratorConfig`: how many accelerators of which type each node has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceleratorConfig {
    /// `acceleratorCount`: an int64, which the API's JSON writes as a string (`"1"`). Read from
    /// a string or a number.
    #[serde(
        default,
        serialize_with = "int64_as_string",
        deserialize_with = "int64_from_string_or_number",
        skip_serializing_if = "is_zero"
    )]
    pub accelerator_count: i64,
    /// `acceleratorType`, e.g. `nvidia-tesla-t4`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub accelerator_type: String,
}

/// `NodePoolAutoscaling`: the pool's node count limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePoolAutoscaling {
    /// Whether the cluster autoscaler manages the pool.
    #[serde(default, skip_serializing_if = "is_false")]
    pub enabled: bool,
    /// The fewest nodes (per zone).
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub min_node_count: i32,
    /// The most nodes (per zone).
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub max_node_count: i32,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

fn is_zero_i32(value: &i32) -> bool {
    *value == 0
}

fn int64_as_string<S: Serializer>(value: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

fn int64_from_string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int64 {
        Number(i64),
        Text(String),
    }
    match Int64::deserialize(deserializer)? {
        Int64::Number(n) => Ok(n),
        Int64::Text(text) => text.parse().map_err(serde::de::Error::custom),
    }
}

impl NodePool {
    /// The default GPU pool, as GKE reports a pool created with one NVIDIA T4 per node, the
    /// `mlonly=true` taint and label, and autoscaling from 2 to 4 nodes, in a cluster that has
    /// other (non-GPU) pools: GKE then adds its own `nvidia.com/gpu=present:NO_SCHEDULE` taint,
    /// and lists it first among the pool's `config.taints`.
    pub fn default_gpu_pool() -> Self {
        NodePool {
            name: DEFAULT_NODE_POOL.to_owned(),
            config: NodeConfig {
                taints: vec![
                    NodeTaint::new(GKE_GPU_TAINT_KEY, "present", TaintEffect::NoSchedule),
                    NodeTaint::new(MLONLY_KEY, "true", TaintEffect::NoSchedule),
                ],
                labels: BTreeMap::from([(MLONLY_KEY.to_owned(), "true".to_owned())]),
                accelerators: vec![AcceleratorConfig {
                    accelerator_count: 1,
                    accelerator_type: "nvidia-tesla-t4".to_owned(),
                }],
            },
            autoscaling: Some(NodePoolAutoscaling {
                enabled: true,
                min_node_count: 2,
                max_node_count: 4,
            }),
        }
    }
}

/// Why a list of node pools cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidNodePools(String);

impl fmt::Display for InvalidNodePools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidNodePools {}

/// Checks what GKE itself guarantees of a cluster's pools: each has a name, no two share one,
/// and autoscaling limits are in order. Taints are not checked: a duplicated or missing taint
/// is exactly what a test may want to serve.
pub fn validate_node_pools(pools: &[NodePool]) -> Result<(), InvalidNodePools> {
    let mut names = BTreeSet::new();
    for pool in pools {
        if pool.name.is_empty() {
            return Err(InvalidNodePools("a node pool needs a name".to_owned()));
        }
        if !names.insert(pool.name.as_str()) {
            return Err(InvalidNodePools(format!(
                "two node pools are named {:?}",
                pool.name
            )));
        }
        if let Some(autoscaling) = &pool.autoscaling {
            if autoscaling.min_node_count < 0
                || autoscaling.max_node_count < autoscaling.min_node_count
            {
                return Err(InvalidNodePools(format!(
                    "node pool {:?}: autoscaling needs 0 <= minNodeCount <= maxNodeCount",
                    pool.name
                )));
            }
        }
        if pool
            .config
            .accelerators
            .iter()
            .any(|a| a.accelerator_count < 0)
        {
            return Err(InvalidNodePools(format!(
                "node pool {:?}: acceleratorCount must not be negative",
                pool.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_default_pool_reads_as_gke_writes_it() {
        let pool = serde_json::to_value(NodePool::default_gpu_pool()).expect("serializable");
        assert_eq!(
            pool,
            json!({
                "name": "gpu-pool",
                "config": {
                    "taints": [
                        {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"},
                        {"key": "mlonly", "value": "true", "effect": "NO_SCHEDULE"}
                    ],
                    "labels": {"mlonly": "true"},
                    "accelerators": [{"acceleratorCount": "1", "acceleratorType": "nvidia-tesla-t4"}]
                },
                "autoscaling": {"enabled": true, "minNodeCount": 2, "maxNodeCount": 4}
            })
        );
    }

    #[test]
    fn empty_fields_are_left_out_and_counts_read_from_numbers_or_strings() {
        let pool: NodePool = serde_json::from_value(json!({
            "name": "p",
            "config": {"accelerators": [{"acceleratorCount": 2, "acceleratorType": "t"}]}
        }))
        .expect("a valid pool");
        assert_eq!(pool.config.accelerators[0].accelerator_count, 2);
        assert_eq!(
            serde_json::to_value(&pool).expect("serializable"),
            json!({"name": "p", "config": {"accelerators": [{"acceleratorCount": "2", "acceleratorType": "t"}]}})
        );
        let pool: NodePool = serde_json::from_value(json!({
            "name": "p",
            "config": {"accelerators": [{"acceleratorCount": "3"}]}
        }))
        .expect("a valid pool");
        assert_eq!(pool.config.accelerators[0].accelerator_count, 3);
    }

    #[test]
    fn an_unknown_effect_or_field_is_refused() {
        for pool in [
            json!({"name": "p", "config": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}),
            json!({"name": "p", "config": {"taint": []}}),
        ] {
            assert!(
                serde_json::from_value::<NodePool>(pool.clone()).is_err(),
                "{pool}"
            );
        }
    }

    #[test]
    fn pools_need_distinct_names_and_ordered_limits() {
        let pool = NodePool::default_gpu_pool();
        assert!(validate_node_pools(std::slice::from_ref(&pool)).is_ok());
        assert!(validate_node_pools(&[pool.clone(), pool.clone()]).is_err());
        let mut unnamed = pool.clone();
        unnamed.name.clear();
        assert!(validate_node_pools(&[unnamed]).is_err());
        let mut inverted = pool;
        inverted.autoscaling = Some(NodePoolAutoscaling {
            enabled: true,
            min_node_count: 5,
            max_node_count: 1,
        });
        assert!(validate_node_pools(&[inverted]).is_err());
        let mut duplicated_taint = NodePool::default_gpu_pool();
        duplicated_taint.config.taints.push(NodeTaint::new(
            MLONLY_KEY,
            "true",
            TaintEffect::NoSchedule,
        ));
        assert!(validate_node_pools(&[duplicated_taint]).is_ok());
    }
}
