//! The scheduling fields of a Deployment's pod template that local-gke holds and serves:
//! `nodeSelector` and `tolerations`, in Kubernetes' JSON, with the checks kube-apiserver makes of
//! them. The admin API sets them; the cluster listener serves them in the Deployment. No I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The scheduling fields of a Deployment's pod template (`spec.template.spec`): the body of
/// `PUT /_admin/deployments/{ns}/{name}/scheduling`. Its default is what
/// `infra/gke/model-deployment.yaml` ships: select `mlonly=true`, tolerate GKE's
/// `nvidia.com/gpu` taint whatever its value and `mlonly=true:NoSchedule` exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodScheduling {
    /// `nodeSelector`: the labels a node must have.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// `tolerations`, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
}

/// A `core/v1` Toleration, as Kubernetes writes it (effects `NoSchedule`, not GKE's
/// `NO_SCHEDULE`); empty fields are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Toleration {
    /// The taint key; empty with `Exists` tolerates every taint.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// `Equal` (the default when empty) or `Exists`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operator: String,
    /// The value `Equal` compares; empty with `Exists`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`; empty tolerates every effect.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub effect: String,
}

impl Toleration {
    /// Tolerates the taint `key=value:effect` exactly.
    pub fn equal(key: &str, value: &str, effect: &str) -> Self {
        Toleration {
            key: key.to_owned(),
            operator: "Equal".to_owned(),
            value: value.to_owned(),
            effect: effect.to_owned(),
        }
    }

    /// Tolerates the taint `key` with `effect`, whatever its value.
    pub fn exists(key: &str, effect: &str) -> Self {
        Toleration {
            key: key.to_owned(),
            operator: "Exists".to_owned(),
            value: String::new(),
            effect: effect.to_owned(),
        }
    }
}

impl Default for PodScheduling {
    fn default() -> Self {
        PodScheduling {
            node_selector: BTreeMap::from([("mlonly".to_owned(), "true".to_owned())]),
            tolerations: vec![
                Toleration::exists("nvidia.com/gpu", "NoSchedule"),
                Toleration::equal("mlonly", "true", "NoSchedule"),
            ],
        }
    }
}

impl PodScheduling {
    /// What kube-apiserver's validation of a pod template refuses in these fields
    /// (`validateTolerations`, label keys); the first problem.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.node_selector.keys().any(String::is_empty) {
            return Err("nodeSelector: a key must not be empty".to_owned());
        }
        for (i, t) in self.tolerations.iter().enumerate() {
            let field = format!("tolerations[{i}]");
            match t.operator.as_str() {
                "" | "Equal" if t.key.is_empty() => {
                    return Err(format!(
                        "{field}.operator: must be Exists when `key` is empty"
                    ))
                }
                "Exists" if !t.value.is_empty() => {
                    return Err(format!(
                        "{field}.value: must be empty when `operator` is 'Exists'"
                    ))
                }
                "" | "Equal" | "Exists" => {}
                other => return Err(format!("{field}.operator: unsupported value {other:?}")),
            }
            if !matches!(
                t.effect.as_str(),
                "" | "NoSchedule" | "PreferNoSchedule" | "NoExecute"
            ) {
                return Err(format!("{field}.effect: unsupported value {:?}", t.effect));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_default_scheduling_is_the_shipped_manifests_and_is_valid() {
        let scheduling = PodScheduling::default();
        assert_eq!(scheduling.check(), Ok(()));
        assert_eq!(
            serde_json::to_value(&scheduling).unwrap_or_default(),
            json!({
                "nodeSelector": {"mlonly": "true"},
                "tolerations": [
                    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                    {"key": "mlonly", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
                ],
            })
        );
    }

    #[test]
    fn tolerations_kube_apiserver_refuses_are_refused() {
        let with = |t: Toleration| PodScheduling {
            node_selector: BTreeMap::new(),
            tolerations: vec![t],
        };
        let mut exists_with_value = Toleration::exists("k", "NoSchedule");
        exists_with_value.value = "v".to_owned();
        let mut unknown_effect = Toleration::equal("k", "v", "NO_SCHEDULE");
        let mut no_key = Toleration::equal("", "v", "NoSchedule");
        for t in [exists_with_value, unknown_effect.clone(), no_key.clone()] {
            assert!(with(t.clone()).check().is_err(), "{t:?}");
        }
        unknown_effect.effect = String::new();
        no_key.operator = "Exists".to_owned();
        no_key.value = String::new();
        for t in [unknown_effect, no_key] {
            assert_eq!(with(t.clone()).check(), Ok(()), "{t:?}");
        }
    }
}
