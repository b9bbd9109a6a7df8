//! The GPU pool in a real cluster that schedules: kube-scheduler and kube-controller-manager run
//! beside the real kube-apiserver (`KUBE_SCHEDULING=1` of `scripts/kube-up.sh`), so a
//! Deployment's replicas become ReplicaSets and pods, and the real scheduler decides which pods
//! fit on the pool's nodes.
//!
//! No kubelet runs here. Where one would act, this module does, and says so:
//! - [`RealKube::add_gpu_nodes`] creates the Node objects of the pool (capacity `nvidia.com/gpu`,
//!   the pool's labels and taints) and removes the `node.kubernetes.io/not-ready` taint that the
//!   API server's admission puts on a new Node, as the node-lifecycle controller does once the
//!   kubelet reports Ready (that controller is not run: Nodes without a kubelet would go NotReady);
//! - [`Kubelet`] marks each pod the scheduler bound Running and Ready, and removes each pod being
//!   deleted [`DRAIN`] after it saw it go, as the kubelet confirms a pod's end on its node once its
//!   worker has finished its message (until then the pod holds its GPU).
//!
//! Does I/O: requests to the API server as its administrator.

use crate::real_kube::RealKube;
use crate::scenarios::NS;
use serde_json::{json, Value};
use std::time::Duration;

/// The taints of the team's GPU pool: GKE's on GPU nodes, and the team's own.
pub const POOL_TAINTS: [(&str, &str); 2] = [("nvidia.com/gpu", "present"), ("mlonly", "true")];

/// How often the kubelet stand-in looks at the pods.
const KUBELET_PERIOD: Duration = Duration::from_millis(200);

/// How long a deleted pod's worker takes to finish its message, here.
pub const DRAIN: Duration = Duration::from_secs(1);

/// What a Deployment's pods are doing: bound and Ready, or waiting for a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pods {
    /// Bound to a node (and marked Ready by the kubelet stand-in).
    pub running: usize,
    /// Not bound: the scheduler found no node with room.
    pub pending: usize,
}

/// The kubelet stand-in; stops when dropped.
#[derive(Debug)]
pub struct Kubelet {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RealKube {
    /// Create `count` Nodes of node pool `pool`, each with `gpus` GPUs, labelled as GKE labels a
    /// pool's nodes (`cloud.google.com/gke-nodepool`) and as the team's pool is (`mlonly: "true"`,
    /// which the model Deployment selects), tainted as it is, and Ready; then remove the
    /// not-ready taint admission added (see the module's note).
    pub async fn add_gpu_nodes(&self, pool: &str, count: usize, gpus: u32) {
        let taints: Vec<Value> = POOL_TAINTS
            .iter()
            .map(|(key, value)| json!({"key": key, "value": value, "effect": "NoSchedule"}))
            .collect();
        for i in 0..count {
            let name = format!("{pool}-{i}");
            let resources = json!({"cpu": "16", "memory": "64Gi", "pods": "110",
                                   "nvidia.com/gpu": gpus.to_string()});
            let node = json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {
                    "cloud.google.com/gke-nodepool": pool, "mlonly": "true",
                    "kubernetes.io/hostname": name}},
                "spec": {"taints": taints},
                "status": {"capacity": resources, "allocatable": resources,
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                    "message": "a Node object of the tests: no kubelet runs"}]},
            });
            self.admin_ok(
                reqwest::Method::POST,
                "/api/v1/nodes",
                Some(("application/json", node)),
            )
            .await;
            let path = format!("/api/v1/nodes/{name}");
            let mut node = self.admin_ok(reqwest::Method::GET, &path, None).await;
            node["spec"]["taints"] = json!(taints);
            self.admin_ok(
                reqwest::Method::PUT,
                &path,
                Some(("application/json", node)),
            )
            .await;
        }
    }

    /// Start the kubelet stand-in (see the module's note).
    pub fn run_kubelet(&self) -> Kubelet {
        let admin = self.admin.clone();
        let url = self.url.clone();
        let token = self.admin_token.clone();
        let task = tokio::spawn(async move {
            let mut draining = std::collections::HashMap::new();
            loop {
                kubelet_pass(&admin, &url, &token, &mut draining).await;
                tokio::time::sleep(KUBELET_PERIOD).await;
            }
        });
        Kubelet { task }
    }

    /// The pods of Deployment `name` (label `app.kubernetes.io/name`), not being deleted.
    pub async fn pods(&self, name: &str) -> Pods {
        let list = self.pod_list(name).await;
        let mut pods = Pods::default();
        for pod in &list {
            if !pod["metadata"]["deletionTimestamp"].is_null() {
                continue;
            }
            if pod["spec"]["nodeName"].is_string() {
                pods.running += 1;
            } else {
                pods.pending += 1;
            }
        }
        pods
    }

    /// Why the scheduler left a pod of `name` Pending: its `PodScheduled` condition's message.
    pub async fn unschedulable_reason(&self, name: &str) -> Option<String> {
        let list = self.pod_list(name).await;
        list.iter()
            .flat_map(|pod| pod["status"]["conditions"].as_array().into_iter().flatten())
            .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
            .and_then(|c| c["message"].as_str().map(str::to_owned))
    }

    /// The pods of Deployment `name`, by its label `app.kubernetes.io/name`.
    async fn pod_list(&self, name: &str) -> Vec<Value> {
        let path =
            format!("/api/v1/namespaces/{NS}/pods?labelSelector=app.kubernetes.io%2Fname%3D{name}");
        let list = self.admin_ok(reqwest::Method::GET, &path, None).await;
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// Wait until `check` holds of Deployment `name`'s pods, up to `within`; panics with what
    /// was last seen.
    pub async fn wait_for_pods(&self, name: &str, within: Duration, check: impl Fn(Pods) -> bool) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let pods = self.pods(name).await;
            if check(pods) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name}: pods {pods:?} after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Set (or, with `None`, remove) an annotation of Deployment `name`.
    pub async fn annotate(&self, name: &str, key: &str, value: Option<&str>) {
        let patch = json!({"metadata": {"annotations": {key: value}}});
        let (status, body) = self
            .admin_request(
                reqwest::Method::PATCH,
                &local_gke::deployment_path(NS, name),
                Some(("application/merge-patch+json", patch)),
            )
            .await;
        assert_eq!(status, 200, "annotate {name}: {body}");
    }
}

/// One look at the pods, as a kubelet on each node would act on its own. `draining`: when each
/// pod being deleted was first seen so.
async fn kubelet_pass(
    admin: &reqwest::Client,
    url: &str,
    token: &str,
    draining: &mut std::collections::HashMap<String, tokio::time::Instant>,
) {
    let Ok(response) = admin
        .get(format!("{url}/api/v1/namespaces/{NS}/pods"))
        .bearer_auth(token)
        .send()
        .await
    else {
        return;
    };
    let Ok(list) = response.json::<Value>().await else {
        return;
    };
    for pod in list["items"].as_array().into_iter().flatten() {
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let path = format!("{url}/api/v1/namespaces/{NS}/pods/{name}");
        if !pod["metadata"]["deletionTimestamp"].is_null() {
            // Its worker finishes its message, then the kubelet removes the pod.
            let since = *draining
                .entry(name.to_owned())
                .or_insert_with(tokio::time::Instant::now);
            if since.elapsed() < DRAIN {
                continue;
            }
            let _ = admin
                .delete(&path)
                .bearer_auth(token)
                .json(
                    &json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}),
                )
                .send()
                .await;
            continue;
        }
        let bound = pod["spec"]["nodeName"].is_string();
        let ready = pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        if bound && !ready {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let status = json!({"status": {"phase": "Running", "startTime": now, "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                {"type": "Ready", "status": "True", "lastTransitionTime": now}]}});
            let _ = admin
                .patch(format!("{path}/status"))
                .bearer_auth(token)
                .header("content-type", "application/merge-patch+json")
                .body(status.to_string())
                .send()
                .await;
        }
    }
}
