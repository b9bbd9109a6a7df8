//! Two models on one GPU pool in the real kube-apiserver: their Deployments, the Role extended
//! to them, the pool's Lease and its grant from `infra/gke/pool-lease.yaml`, and a watch of the
//! namespace's Deployments that records every replica count the API server stored, in order.
//!
//! Does I/O: requests to the API server as its administrator.

use crate::real_kube::{collection_path, model_manifest, yaml_documents, RealKube};
use crate::scenarios::NS;
use crate::workspace_root;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// What the watch saw: after each change, the replicas of every Deployment it follows, summed.
#[derive(Debug, Clone, Default)]
pub struct Held {
    /// The sum of the watched Deployments' `spec.replicas` after each event, with its
    /// `resourceVersion`.
    pub sums: Vec<(String, i64)>,
}

impl Held {
    /// Asserts that the watch saw at least two changes a round for `rounds` rounds, and that no
    /// stored count summed above `gpus`.
    pub fn assert_never_above(&self, gpus: i64, rounds: usize) {
        assert!(
            self.sums.len() >= rounds * 2,
            "the watch saw {} changes in {rounds} rounds",
            self.sums.len()
        );
        for (version, sum) in &self.sums {
            assert!(
                *sum <= gpus,
                "at resourceVersion {version} the two models held {sum} GPUs of {gpus}"
            );
        }
    }
}

/// What [`RealKube::race_until_bookings_meet`] ran: each round's outcome, and how many bookings
/// the API server answered with 409 Conflict meanwhile.
#[derive(Debug)]
pub struct Raced<T> {
    /// The outcome of each round, in order.
    pub rounds: Vec<T>,
    /// Lease `PUT`s answered 409 during the rounds.
    pub conflicts: u64,
}

impl RealKube {
    /// Create `models` (copies of the model Deployment at one replica), add them to the Role's
    /// rules on Deployments, and apply `infra/gke/pool-lease.yaml` for `pool`; wait until the
    /// authorizer lets the service account update the Lease and read each model.
    pub async fn share_a_pool(&self, pool: &str, models: &[&str]) {
        let (_, model) = model_manifest();
        for name in models {
            let mut copy = model.clone();
            copy["metadata"]["name"] = json!(name);
            for labels in [
                "/metadata/labels",
                "/spec/selector/matchLabels",
                "/spec/template/metadata/labels",
            ] {
                copy.pointer_mut(labels).expect("the manifest has labels")
                    ["app.kubernetes.io/name"] = json!(name);
            }
            self.admin_ok(
                reqwest::Method::POST,
                &collection_path(&copy),
                Some(("application/json", copy)),
            )
            .await;
        }
        let role_path =
            format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/roles/queue-scaler");
        let mut role = self.admin_ok(reqwest::Method::GET, &role_path, None).await;
        for rule in role["rules"].as_array_mut().into_iter().flatten() {
            if let Some(names) = rule["resourceNames"].as_array_mut() {
                names.extend(models.iter().map(|m| json!(m)));
            }
        }
        self.admin_ok(
            reqwest::Method::PUT,
            &role_path,
            Some(("application/json", role)),
        )
        .await;
        let text = std::fs::read_to_string(workspace_root().join("infra/gke/pool-lease.yaml"))
            .expect("infra/gke/pool-lease.yaml")
            .replace(
                "queue-scaler@PROJECT_ID.iam.gserviceaccount.com",
                &self.var("SCALER_SERVICE_ACCOUNT"),
            )
            .replace(
                "queue-scaler-pool-gpu-pool",
                &format!("queue-scaler-pool-{pool}"),
            );
        for object in yaml_documents(&text, "infra/gke/pool-lease.yaml") {
            self.admin_ok(
                reqwest::Method::POST,
                &collection_path(&object),
                Some(("application/json", object)),
            )
            .await;
        }
        let attributes = json!({
            "namespace": NS, "verb": "update", "group": "coordination.k8s.io",
            "resource": "leases", "name": format!("queue-scaler-pool-{pool}")});
        self.wait_for_authorizer(attributes, true).await;
        // A function refused the Deployment's read reads the scale for the rest of its
        // container's life: let the authorizer see the new names first.
        for name in models {
            let attributes = json!({"namespace": NS, "verb": "get", "group": "apps",
                                    "resource": "deployments", "name": name});
            self.wait_for_authorizer(attributes, true).await;
        }
    }

    /// Forget every booking on the pool's Lease, as after the bookings' time to live.
    pub async fn clear_bookings(&self, pool: &str) {
        let path =
            format!("/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/queue-scaler-pool-{pool}");
        let mut lease = self.admin_ok(reqwest::Method::GET, &path, None).await;
        lease["metadata"]["annotations"] = json!({});
        self.admin_ok(
            reqwest::Method::PUT,
            &path,
            Some(("application/json", lease)),
        )
        .await;
    }

    /// The pool's Lease, as stored: its bookings and raise times, for a failure's message.
    pub async fn pool_lease(&self, pool: &str) -> Value {
        let path =
            format!("/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/queue-scaler-pool-{pool}");
        let lease = self.admin_ok(reqwest::Method::GET, &path, None).await;
        json!({"resourceVersion": lease["metadata"]["resourceVersion"],
               "annotations": lease["metadata"]["annotations"]})
    }

    /// How many `PUT`s of a Lease the API server has answered with 409 Conflict since it
    /// started, from its own `apiserver_request_total` metric: each is a booking that lost the
    /// compare-and-swap to another invocation's, and was read and decided again.
    pub async fn lease_conflicts(&self) -> u64 {
        let url = format!("{}/metrics", self.url);
        let text = self
            .admin
            .get(&url)
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        lease_conflicts_in(&text)
    }

    /// Run `round` (given its number) at least `rounds` times, and on until the API server has
    /// answered at least one booking with 409 Conflict ([`RealKube::lease_conflicts`]): a real
    /// API server cannot hold a read, so the race is shown to have been run, not hoped for.
    /// Fails after `max` rounds (or `rounds`, if more) without one.
    pub async fn race_until_bookings_meet<T, F, Fut>(
        &self,
        rounds: usize,
        max: usize,
        mut round: F,
    ) -> Raced<T>
    where
        F: FnMut(usize) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let before = self.lease_conflicts().await;
        let mut outcomes = Vec::new();
        loop {
            outcomes.push(round(outcomes.len()).await);
            let conflicts = self.lease_conflicts().await - before;
            if outcomes.len() >= rounds && conflicts > 0 {
                return Raced {
                    rounds: outcomes,
                    conflicts,
                };
            }
            assert!(
                outcomes.len() < max.max(rounds),
                "{} rounds, and no booking met 409 Conflict on the pool's Lease: the two raises never raced",
                outcomes.len()
            );
        }
    }

    /// Watch the Deployments `models` of the namespace from now on: every change the API server
    /// stores is recorded, in order, as the sum of their replicas. Ends when the cluster stops.
    pub async fn watch_held(&self, models: &[&str]) -> Arc<Mutex<Held>> {
        let list = self
            .admin_ok(
                reqwest::Method::GET,
                &format!("/apis/apps/v1/namespaces/{NS}/deployments"),
                None,
            )
            .await;
        let mut replicas: BTreeMap<String, i64> = BTreeMap::new();
        for item in list["items"].as_array().into_iter().flatten() {
            let name = item["metadata"]["name"].as_str().unwrap_or_default();
            if models.contains(&name) {
                replicas.insert(
                    name.to_owned(),
                    item["spec"]["replicas"].as_i64().unwrap_or(0),
                );
            }
        }
        let version = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_owned();
        let url = format!(
            "{}/apis/apps/v1/namespaces/{NS}/deployments?watch=true&resourceVersion={version}",
            self.url
        );
        let mut response = self
            .admin
            .get(&url)
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("watch: {e}"));
        assert!(
            response.status().is_success(),
            "watch: {}",
            response.status()
        );
        let held = Arc::new(Mutex::new(Held::default()));
        let record = Arc::clone(&held);
        let models: Vec<String> = models.iter().map(|m| (*m).to_owned()).collect();
        tokio::spawn(async move {
            let mut buffer = Vec::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                buffer.extend_from_slice(&chunk);
                while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                        continue;
                    };
                    let object = &event["object"];
                    let name = object["metadata"]["name"].as_str().unwrap_or_default();
                    if !models.iter().any(|m| m == name) {
                        continue;
                    }
                    replicas.insert(
                        name.to_owned(),
                        object["spec"]["replicas"].as_i64().unwrap_or(0),
                    );
                    let version = object["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or_default();
                    let sum = replicas.values().sum();
                    record
                        .lock()
                        .expect("the watch's record")
                        .sums
                        .push((version.to_owned(), sum));
                }
            }
        });
        held
    }
}

/// The functions' environment for `table`, a routing table (`SCALER_TARGETS`) in place of the
/// single target of [`crate::function_env`], with `extra` settings.
pub fn table_env(
    cluster_env: &[(String, String)],
    table: &Value,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let table = table.to_string();
    let mut settings = vec![
        ("SCALER_TARGETS", table.as_str()),
        ("TARGET_NAMESPACE", ""),
        ("TARGET_DEPLOYMENT", ""),
        ("MIN_REPLICAS", ""),
        ("MAX_REPLICAS", ""),
        ("MESSAGES_PER_REPLICA", ""),
    ];
    settings.extend_from_slice(extra);
    crate::function_env(cluster_env, &settings)
}

/// The one scale event of a model's high alarm: `alarm-high-backlog.json` named `alarm`.
pub fn high_alarm(alarm: &str) -> Value {
    let mut event = crate::event("alarm-high-backlog.json");
    event["alarmData"]["alarmName"] = json!(alarm);
    event
}

/// The sum of `apiserver_request_total` over the series of Lease `PUT`s answered 409, in the
/// API server's metrics (Prometheus text format).
fn lease_conflicts_in(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| line.starts_with("apiserver_request_total{"))
        .filter(|line| {
            ["code=\"409\"", "resource=\"leases\"", "verb=\"PUT\""]
                .iter()
                .all(|label| line.contains(label))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|count| count as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::lease_conflicts_in;

    #[test]
    fn lease_conflicts_count_only_the_lease_puts_answered_409() {
        let metrics = r#"# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 40
apiserver_request_total{code="409",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 7
apiserver_request_total{code="409",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="scale",verb="PUT",version="v1"} 3
apiserver_request_total{code="409",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="POST",version="v1"} 1
"#;
        assert_eq!(lease_conflicts_in(metrics), 7);
        assert_eq!(lease_conflicts_in(""), 0);
    }
}
