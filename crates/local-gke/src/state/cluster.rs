//! The cluster: its Deployments and Leases (kept by [`crate::model::lease`]), the Events created
//! in it, the one resource-version counter every write of any of them takes, and what the GKE API
//! reports of it: its node pools (whose GPUs the Deployments' pods are placed on) and its
//! issuer's published documents. The scale subresource, the Deployment read, Leases, Events,
//! `clusters.get` and the admin API read and write it. No I/O.

use std::collections::BTreeMap;
use std::fmt;

use rand::Rng;

use super::random_text;
use crate::model::gpu_pool::{place, Demand};
use crate::model::issuer::IssuerDocuments;
use crate::model::lease::{Lease, LeaseBody, LeaseContent, Leases, Refusal, Stamp, Written};
use crate::model::node_pool::NodePool;
use crate::model::scheduling::PodScheduling;

/// How many Events are kept: a long simulation creates one per write.
pub(crate) const EVENTS_KEPT: usize = 10_000;

/// A deployment as its scale subresource and the Deployment object show it.
#[derive(Debug, Clone)]
pub(crate) struct Deployment {
    pub replicas: i32,
    pub resource_version: u64,
    /// `metadata.generation`: 1 at creation, one more for each change of its spec.
    pub generation: i64,
    pub uid: String,
    pub creation_timestamp: String,
    /// The scheduling fields of its pod template.
    pub scheduling: PodScheduling,
    /// Its pods' `nvidia.com/gpu` limit, as the shipped manifest's: 1.
    pub gpus_per_replica: u32,
    /// Its pods the GPU pool runs (bound and Ready); the rest of `replicas` are Pending.
    pub running: u32,
    /// When its oldest Pending pod was created (a resource version), if one is.
    pub waiting_since: Option<u64>,
}

impl Deployment {
    /// Its pods waiting for a GPU.
    pub(crate) fn pending(&self) -> u32 {
        self.replicas
            .max(0)
            .unsigned_abs()
            .saturating_sub(self.running)
    }
}

/// The cluster's objects and what the GKE API reports of it.
pub(crate) struct Cluster {
    deployments: BTreeMap<(String, String), Deployment>,
    leases: Leases,
    /// The resource version of the last write of any object, deployment, Lease or Event.
    last_resource_version: u64,
    /// The Events created, oldest first, at most [`EVENTS_KEPT`].
    events: Vec<serde_json::Value>,
    node_pools: Vec<NodePool>,
    /// The cluster issuer's documents the GKE API publishes, when it does.
    issuer: Option<IssuerDocuments>,
}

impl fmt::Debug for Cluster {
    // Events can be many: show how many there are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("deployments", &self.deployments)
            .field("leases", &self.leases)
            .field("last_resource_version", &self.last_resource_version)
            .field("events", &self.events.len())
            .field("node_pools", &self.node_pools)
            .field("issuer", &self.issuer.is_some())
            .finish()
    }
}

impl Default for Cluster {
    /// An empty cluster: no object, no node pool, no published issuer.
    fn default() -> Self {
        Cluster {
            deployments: BTreeMap::new(),
            leases: Leases::default(),
            // Real resource versions are etcd revisions: large, and shared by all objects.
            last_resource_version: 1000,
            events: Vec::new(),
            node_pools: Vec::new(),
            issuer: None,
        }
    }
}

impl Cluster {
    pub(crate) fn deployment(&self, namespace: &str, name: &str) -> Option<&Deployment> {
        self.deployments
            .get(&(namespace.to_owned(), name.to_owned()))
    }

    /// Sets a deployment's replicas, creating it if absent (with the shipped manifest's
    /// scheduling), and gives it a new resource version.
    pub(crate) fn set_replicas(
        &mut self,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> &Deployment {
        self.last_resource_version += 1;
        let resource_version = self.last_resource_version;
        let deployment = self
            .deployments
            .entry((namespace.to_owned(), name.to_owned()))
            .or_insert_with(|| Deployment {
                replicas,
                resource_version,
                generation: 1,
                uid: random_uid(),
                creation_timestamp: chrono::Utc::now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                scheduling: PodScheduling::default(),
                gpus_per_replica: 1,
                running: 0,
                waiting_since: None,
            });
        if deployment.replicas != replicas {
            deployment.generation += 1;
        }
        deployment.replicas = replicas;
        deployment.resource_version = resource_version;
        self.reschedule();
        let key = (namespace.to_owned(), name.to_owned());
        &self.deployments[&key]
    }

    /// The GPUs of the cluster's GPU pool: its most nodes times the GPUs on each, for the first
    /// pool with accelerators; `None` without one.
    fn pool_gpus(&self) -> Option<u64> {
        let pool = self
            .node_pools
            .iter()
            .find(|p| !p.config.accelerators.is_empty())?;
        let per_node: i64 = pool
            .config
            .accelerators
            .iter()
            .map(|a| a.accelerator_count)
            .sum();
        let nodes = pool.autoscaling.as_ref().map_or(1, |a| a.max_node_count);
        u64::try_from(per_node.max(0))
            .ok()
            .map(|g| g * u64::try_from(nodes.max(0)).unwrap_or(0))
    }

    /// Place every Deployment's pods on the GPU pool again, after a change of replicas or of the
    /// pool ([`crate::model::gpu_pool::place`]).
    fn reschedule(&mut self) {
        let demand = self
            .deployments
            .iter()
            .map(|(key, d)| {
                let want = Demand {
                    replicas: d.replicas.max(0).unsigned_abs(),
                    gpus_per_replica: d.gpus_per_replica,
                    running: d.running,
                    waiting_since: d.waiting_since,
                };
                (key.clone(), want)
            })
            .collect();
        let placed = place(self.pool_gpus(), &demand);
        let now = self.last_resource_version;
        for (key, d) in &mut self.deployments {
            d.running = placed.get(key).copied().unwrap_or(0);
            d.waiting_since = match (d.pending(), d.waiting_since) {
                (0, _) => None,
                (_, Some(since)) => Some(since),
                (_, None) => Some(now),
            };
        }
    }

    /// Replaces the scheduling fields of an existing deployment's pod template, a change of its
    /// spec: a new resource version and generation. `None` when there is no such deployment.
    pub(crate) fn set_scheduling(
        &mut self,
        namespace: &str,
        name: &str,
        scheduling: PodScheduling,
    ) -> Option<&Deployment> {
        let deployment = self
            .deployments
            .get_mut(&(namespace.to_owned(), name.to_owned()))?;
        self.last_resource_version += 1;
        deployment.resource_version = self.last_resource_version;
        deployment.generation += 1;
        deployment.scheduling = scheduling;
        Some(deployment)
    }

    pub(crate) fn lease(&self, namespace: &str, name: &str) -> Option<&Lease> {
        self.leases.get(namespace, name)
    }

    /// What the next write stamps: the next resource version, a new uid and the time.
    fn stamp(&self) -> Stamp {
        Stamp {
            resource_version: self.last_resource_version + 1,
            uid: random_uid(),
            now: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    /// Creates a Lease or replaces its content, unconditionally (the admin API's write), with a
    /// new resource version.
    pub(crate) fn put_lease(
        &mut self,
        namespace: &str,
        name: &str,
        content: LeaseContent,
    ) -> (&Lease, Written) {
        let stamp = self.stamp();
        self.last_resource_version = stamp.resource_version;
        self.leases.replace(namespace, name, content, stamp)
    }

    /// A Kubernetes `PUT` of a Lease: its compare and swap, or its create on update when there is
    /// none and `may_create`. A write takes the next resource version; a refusal takes none.
    pub(crate) fn update_lease(
        &mut self,
        namespace: &str,
        name: &str,
        body: LeaseBody,
        may_create: bool,
    ) -> Result<(&Lease, Written), Refusal> {
        let stamp = self.stamp();
        let next = stamp.resource_version;
        let written = self
            .leases
            .update(namespace, name, body, may_create, stamp)?;
        self.last_resource_version = next;
        Ok(written)
    }

    /// Creates an Event in `namespace`, as the API server stores it: its name (from
    /// `generateName` when it has none), a uid, a resource version and a creation time. Keeps at
    /// most [`EVENTS_KEPT`], dropping the oldest. `Err` with the name when one of that name exists.
    pub(crate) fn create_event(
        &mut self,
        namespace: &str,
        mut event: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let meta = &event["metadata"];
        let name = match meta["name"].as_str().filter(|n| !n.is_empty()) {
            Some(name) => name.to_owned(),
            None => format!(
                "{}{}",
                meta["generateName"].as_str().unwrap_or_default(),
                random_text(5).to_ascii_lowercase()
            ),
        };
        let exists = self.events.iter().any(|e| {
            e["metadata"]["namespace"] == namespace && e["metadata"]["name"] == name.as_str()
        });
        if exists {
            return Err(name);
        }
        self.last_resource_version += 1;
        let meta = &mut event["metadata"];
        meta["name"] = name.into();
        meta["namespace"] = namespace.into();
        meta["uid"] = random_uid().into();
        meta["resourceVersion"] = self.last_resource_version.to_string().into();
        meta["creationTimestamp"] = chrono::Utc::now()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .into();
        if self.events.len() >= EVENTS_KEPT {
            self.events.remove(0);
        }
        self.events.push(event.clone());
        Ok(event)
    }

    /// The Events created, oldest first.
    pub(crate) fn events(&self) -> &[serde_json::Value] {
        &self.events
    }

    /// Forgets every Event.
    pub(crate) fn clear_events(&mut self) {
        self.events.clear();
    }

    pub(crate) fn node_pools(&self) -> &[NodePool] {
        &self.node_pools
    }

    /// What the GKE API publishes of the cluster's issuer: nothing, or these documents.
    pub(crate) fn issuer(&self) -> Option<&IssuerDocuments> {
        self.issuer.as_ref()
    }

    pub(crate) fn set_issuer(&mut self, documents: Option<IssuerDocuments>) {
        self.issuer = documents;
    }

    pub(crate) fn set_node_pools(&mut self, pools: Vec<NodePool>) {
        self.node_pools = pools;
        self.reschedule();
    }
}

/// A random (version 4) UUID, as Kubernetes gives every object.
fn random_uid() -> String {
    let bits: u128 = rand::rng().random();
    let bits = (bits & !(0xF_u128 << 76)) | (0x4_u128 << 76);
    let bits = (bits & !(0x3_u128 << 62)) | (0x2_u128 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_takes_a_new_resource_version_from_one_counter() {
        let mut state = Cluster::default();
        let a = state.set_replicas("ml", "a", 1).resource_version;
        let b = state.set_replicas("ml", "b", 1).resource_version;
        let a2 = state.set_replicas("ml", "a", 2).resource_version;
        assert!(a < b && b < a2);
    }

    #[test]
    fn lease_and_deployment_writes_share_one_resource_version_counter() {
        let mut state = Cluster::default();
        let deployment = state.set_replicas("ml", "w", 1).resource_version;
        let (lease, _) = state.put_lease("ml", "gpu-pool", LeaseContent::default());
        let created = lease.resource_version;
        let body = LeaseBody {
            name: "gpu-pool".to_owned(),
            resource_version: created.to_string(),
            ..LeaseBody::default()
        };
        let stale = LeaseBody {
            resource_version: deployment.to_string(),
            ..body.clone()
        };
        assert_eq!(
            state.update_lease("ml", "gpu-pool", stale, false).err(),
            Some(Refusal::Stale)
        );
        let (lease, written) = state
            .update_lease("ml", "gpu-pool", body, false)
            .expect("at the stored version");
        assert_eq!(written, Written::Updated);
        let updated = lease.resource_version;
        let after = state.set_replicas("ml", "w", 2).resource_version;
        // The refused write took no version.
        assert_eq!(
            [deployment + 1, created + 1, updated + 1],
            [created, updated, after]
        );
    }

    #[test]
    fn uids_look_like_version_4_uuids() {
        let uid = random_uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
    }
}
