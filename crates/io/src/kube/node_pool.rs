//! A GKE node pool as `clusters.get` tells it ([`NodePool`]): its size (the autoscaling limits,
//! the locations, the GPUs on each node), its labels and its taints, parsed from GKE's JSON. The
//! functions read its size; the doctor its labels and taints. No I/O.

use crate::error::Error;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A GKE node pool, as `clusters.get` tells it: the part the functions and the doctor read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodePool {
    /// The pool's name.
    pub name: String,
    /// Its nodes' configuration.
    pub config: NodeConfig,
    /// Its autoscaling limits.
    pub(crate) autoscaling: Autoscaling,
    /// Its nodes in each location, when it does not autoscale.
    pub(crate) initial_node_count: u32,
    /// The zones its nodes are in.
    pub(crate) locations: Vec<String>,
}

/// A node pool's `autoscaling`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Autoscaling {
    /// Whether the cluster autoscaler sizes the pool.
    pub(crate) enabled: bool,
    /// The most nodes in each location (0: not set).
    pub(crate) max_node_count: u32,
    /// The most nodes in all locations (0: not set).
    pub(crate) total_max_node_count: u32,
}

impl NodePool {
    /// The fields that say how many GPUs the pool can run, for
    /// [`queue_scaler_core::capacity::pool_gpus`].
    pub fn size(&self) -> queue_scaler_core::capacity::NodePoolSize {
        use queue_scaler_core::capacity::{NodePoolSize, PoolAccelerator, PoolAutoscaling};
        let set = |n: u32| (n > 0).then_some(n);
        NodePoolSize {
            autoscaling: self.autoscaling.enabled.then(|| PoolAutoscaling {
                total_max_node_count: set(self.autoscaling.total_max_node_count),
                max_node_count: set(self.autoscaling.max_node_count),
            }),
            initial_node_count: self.initial_node_count,
            locations: u32::try_from(self.locations.len()).unwrap_or(u32::MAX),
            accelerators: self
                .config
                .accelerators
                .iter()
                .map(|a| PoolAccelerator {
                    count: a.accelerator_count.0,
                    max_shared_clients_per_gpu: a
                        .gpu_sharing_config
                        .as_ref()
                        .and_then(|g| set(g.max_shared_clients_per_gpu.0)),
                })
                .collect(),
        }
    }

    /// Whether every key of a pod's `nodeSelector` matches the pool's node labels, counting
    /// the label GKE puts on each node of a pool (`cloud.google.com/gke-nodepool`).
    pub fn selected_by(&self, node_selector: &BTreeMap<String, String>) -> bool {
        node_selector.iter().all(|(key, value)| {
            (key == GKE_NODEPOOL_LABEL && *value == self.name)
                || self.config.labels.get(key) == Some(value)
        })
    }
}

/// The label GKE puts on every node of a node pool, valued with the pool's name.
pub(crate) const GKE_NODEPOOL_LABEL: &str = "cloud.google.com/gke-nodepool";

/// A count GKE's JSON gives as a string (`"1"`, an int64) or a number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Count(pub(crate) u32);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let n = match &value {
            serde_json::Value::String(s) => s.trim().parse::<u32>().ok(),
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        };
        n.map(Count)
            .ok_or_else(|| serde::de::Error::custom(format!("not a count: {value}")))
    }
}

/// An accelerator's `gpuSharingConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct GpuSharing {
    /// How many containers share one GPU.
    pub(crate) max_shared_clients_per_gpu: Count,
}

/// A node pool's `config`: its accelerators, labels and taints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NodeConfig {
    /// The accelerators (GPUs) each node has.
    pub accelerators: Vec<Accelerator>,
    /// The Kubernetes labels of its nodes.
    pub labels: BTreeMap<String, String>,
    /// The taints of its nodes.
    pub taints: Vec<NodeTaint>,
}

/// One accelerator type of a node pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Accelerator {
    /// E.g. `nvidia-l4`.
    pub(crate) accelerator_type: String,
    /// GPUs of this type on each node.
    pub(crate) accelerator_count: Count,
    /// GPU sharing (time-sharing, MPS), when on.
    pub(crate) gpu_sharing_config: Option<GpuSharing>,
}

/// A node pool's taint, as GKE writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NodeTaint {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// GKE's spelling: `NO_SCHEDULE`, `PREFER_NO_SCHEDULE`, `NO_EXECUTE`.
    pub effect: String,
}

/// The node pools of a `clusters.get` answer.
pub fn parse_node_pools(body: &[u8], url: &str) -> Result<Vec<NodePool>, Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Cluster {
        #[serde(default)]
        node_pools: Vec<NodePool>,
    }
    serde_json::from_slice::<Cluster>(body)
        .map(|c| c.node_pools)
        .map_err(|e| Error::Protocol {
            url: url.to_owned(),
            detail: format!("clusters.get answer is not a Cluster with node pools ({e})"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use queue_scaler_core::capacity::{pool_gpus, PoolGpus};

    #[test]
    fn node_pools_keep_their_accelerators_labels_and_taints() {
        let body = br#"{"name":"c","endpoint":"10.0.0.1","nodePools":[
            {"name":"default","config":{"machineType":"e2-small"}},
            {"name":"gpu","config":{"accelerators":[{"acceleratorCount":"1","acceleratorType":"nvidia-l4"}],
              "labels":{"mlonly":"true"},
              "taints":[{"key":"mlonly","value":"true","effect":"NO_SCHEDULE"}]}}]}"#;
        let pools = parse_node_pools(body, "u").unwrap();
        assert_eq!(pools.len(), 2);
        assert!(pools[0].config.accelerators.is_empty());
        assert_eq!(
            pools[1].config.accelerators[0].accelerator_type,
            "nvidia-l4"
        );
        assert_eq!(pools[1].config.labels["mlonly"], "true");
        assert_eq!(
            pools[1].config.taints,
            [NodeTaint {
                key: "mlonly".into(),
                value: "true".into(),
                effect: "NO_SCHEDULE".into()
            }]
        );
        assert!(parse_node_pools(br#"{"endpoint":"x"}"#, "u")
            .unwrap()
            .is_empty());
        let err = parse_node_pools(b"<html>", "u").unwrap_err();
        assert_eq!(err.class(), crate::error::ErrorClass::Retryable, "{err}");
    }

    #[test]
    fn the_seed_pool_reads_as_four_gpus_and_is_selected_by_its_labels() {
        // GKE's answer for the seed team's pool: 2 to 4 nodes in one zone, one L4 each.
        let body = br#"{"nodePools":[{"name":"gpu-pool","initialNodeCount":2,
            "locations":["europe-west4-a"],
            "autoscaling":{"enabled":true,"minNodeCount":2,"maxNodeCount":4},
            "config":{"accelerators":[{"acceleratorCount":"1","acceleratorType":"nvidia-l4"}],
              "labels":{"mlonly":"true"}}},
            {"name":"shared","initialNodeCount":1,"locations":["a","b"],
             "autoscaling":{"enabled":true,"totalMaxNodeCount":3},
             "config":{"accelerators":[{"acceleratorCount":2,"acceleratorType":"nvidia-l4",
               "gpuSharingConfig":{"gpuSharingStrategy":"TIME_SHARING","maxSharedClientsPerGpu":"4"}}]}}]}"#;
        let pools = parse_node_pools(body, "u").unwrap();
        assert_eq!(pool_gpus(&pools[0].size()), PoolGpus::Gpus(4));
        assert_eq!(pool_gpus(&pools[1].size()), PoolGpus::Gpus(24));
        let selector = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(pools[0].selected_by(&selector(&[("mlonly", "true")])));
        assert!(pools[0].selected_by(&selector(&[(GKE_NODEPOOL_LABEL, "gpu-pool")])));
        assert!(!pools[1].selected_by(&selector(&[("mlonly", "true")])));
        assert!(!pools[0].selected_by(&selector(&[("mlonly", "true"), ("zone", "x")])));
    }
}
