//! Who a pod is to the GKE metadata server (GKE Workload Identity): the Kubernetes service account
//! each pod runs as, found by the pod's IP address as the metadata server finds it by the
//! request's source address, and the Google service account each Kubernetes service account acts
//! as, what the annotation `iam.gke.io/gcp-service-account` together with
//! `roles/iam.workloadIdentityUser` on the Google account grant. Plain data, no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The header of a request to the metadata server that stands for its source address: the IP of
/// the pod asking (every request to local-gke comes from 127.0.0.1). A pod set at that address
/// with `PUT /_admin/pods/{ip}` is the one served.
pub const POD_ADDRESS_HEADER: &str = "x-local-gke-pod-ip";

/// A Kubernetes service account bound to a Google service account: the body of `POST
/// /_admin/workload-identity-bindings`, and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountBinding {
    /// The Kubernetes service account's namespace.
    pub namespace: String,
    /// The Kubernetes service account's name.
    pub service_account: String,
    /// The Google service account's email, `NAME@PROJECT.iam.gserviceaccount.com`.
    pub google_service_account: String,
    /// The Google service account's unique id (its numeric `uniqueId`): the `sub` and `azp` of
    /// its ID tokens.
    pub unique_id: String,
}

impl ServiceAccountBinding {
    /// What Google would refuse of it: an empty name, an email that is no service account's, a
    /// unique id that is not digits.
    pub fn check(&self) -> Result<(), String> {
        if self.namespace.is_empty() || self.service_account.is_empty() {
            return Err("namespace and service_account must not be empty".to_owned());
        }
        let Some((name, domain)) = self.google_service_account.split_once('@') else {
            return Err(format!(
                "google_service_account {:?} is not an email",
                self.google_service_account
            ));
        };
        if name.is_empty() || !domain.ends_with(".iam.gserviceaccount.com") {
            return Err(format!(
                "google_service_account {:?} is not a service account's email \
                 (NAME@PROJECT.iam.gserviceaccount.com)",
                self.google_service_account
            ));
        }
        if self.unique_id.is_empty() || !self.unique_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "unique_id {:?} must be the account's numeric unique id",
                self.unique_id
            ));
        }
        Ok(())
    }
}

/// A pod as the metadata server sees it: the body of `PUT /_admin/pods/{ip}`, and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodIdentity {
    /// The pod's namespace.
    pub namespace: String,
    /// The Kubernetes service account it runs as (`spec.serviceAccountName`).
    pub service_account: String,
}

/// The pods the metadata server knows by IP, and the bindings of their service accounts.
#[derive(Debug, Default)]
pub(crate) struct PodIdentities {
    pods: BTreeMap<String, PodIdentity>,
    bindings: BTreeMap<(String, String), ServiceAccountBinding>,
}

impl PodIdentities {
    /// The pod at `ip` runs as `pod.namespace/pod.service_account` from now on.
    pub(crate) fn set_pod(&mut self, ip: &str, pod: PodIdentity) {
        self.pods.insert(ip.to_owned(), pod);
    }

    /// The pod at `ip`, if one runs there.
    pub(crate) fn pod(&self, ip: &str) -> Option<&PodIdentity> {
        self.pods.get(ip)
    }

    /// Binds a Kubernetes service account to a Google one, replacing its binding.
    pub(crate) fn bind(&mut self, binding: ServiceAccountBinding) {
        let key = (binding.namespace.clone(), binding.service_account.clone());
        self.bindings.insert(key, binding);
    }

    /// The Google service account `namespace/service_account` acts as, if it is bound.
    pub(crate) fn binding(
        &self,
        namespace: &str,
        service_account: &str,
    ) -> Option<&ServiceAccountBinding> {
        self.bindings
            .get(&(namespace.to_owned(), service_account.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(email: &str, id: &str) -> ServiceAccountBinding {
        ServiceAccountBinding {
            namespace: "ml".to_owned(),
            service_account: "model-worker".to_owned(),
            google_service_account: email.to_owned(),
            unique_id: id.to_owned(),
        }
    }

    #[test]
    fn a_binding_names_a_service_account_by_email_and_numeric_id() {
        let email = "model-worker@demo-project.iam.gserviceaccount.com";
        assert_eq!(binding(email, "112233").check(), Ok(()));
        assert!(binding("model-worker@gmail.com", "112233").check().is_err());
        assert!(binding("model-worker", "112233").check().is_err());
        assert!(binding(email, "").check().is_err());
        assert!(binding(email, "11a").check().is_err());
    }

    #[test]
    fn a_pod_is_found_by_ip_and_its_account_by_namespace_and_name() {
        let mut identities = PodIdentities::default();
        let pod = PodIdentity {
            namespace: "ml".to_owned(),
            service_account: "model-worker".to_owned(),
        };
        identities.set_pod("10.4.0.7", pod.clone());
        assert_eq!(identities.pod("10.4.0.7"), Some(&pod));
        assert_eq!(identities.pod("10.4.0.8"), None);
        let email = "model-worker@demo-project.iam.gserviceaccount.com";
        identities.bind(binding(email, "1"));
        identities.bind(binding(email, "2"));
        assert_eq!(
            identities
                .binding("ml", "model-worker")
                .map(|b| b.unique_id.as_str()),
            Some("2"),
            "a new binding replaces the old"
        );
        assert_eq!(identities.binding("batch", "model-worker"), None);
    }
}
