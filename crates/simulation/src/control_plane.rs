//! The local control plane (`local-gke`: Google's token endpoint, the GKE API and the Kubernetes
//! scale API, over TLS) for functions that run in this process.
//!
//! Google's endpoints are verified against the system roots, which `gcp_auth` and `reqwest` load
//! from `SSL_CERT_FILE` when a client is built. That is process-wide, so there is one control
//! plane per process: started on first use on a thread and runtime of its own (so it outlives
//! each test's runtime), with `SSL_CERT_FILE` set to its Google CA before any function is built.
//! Each run adds its own deployment.
//!
//! Does I/O: a thread, sockets, one file (the CA), the process environment.

use crate::Error;
use local_gke::{Config as GkeConfig, LocalGke};
use serde_json::{json, Value};
use std::path::Path;
use tokio::sync::{oneshot, OnceCell};

/// The running control plane, as the functions and the runner see it.
pub struct ControlPlane {
    env: Vec<(String, String)>,
    admin_url: String,
    account: String,
    admin: reqwest::Client,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The environment holds the service-account key: names only.
        let names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ControlPlane")
            .field("env", &names)
            .field("admin_url", &self.admin_url)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

static SHARED: OnceCell<ControlPlane> = OnceCell::const_new();

/// What the control plane's thread hands back once it serves.
struct Started {
    cluster: String,
    google_url: String,
    admin_url: String,
    google_ca_pem: String,
    key_json: String,
    account: String,
}

/// The process's control plane, started on first use. `ca_dir` holds its Google CA, which
/// `SSL_CERT_FILE` points at from then on.
pub async fn shared(ca_dir: &Path) -> Result<&'static ControlPlane, Error> {
    SHARED.get_or_try_init(|| start(ca_dir)).await
}

fn fail(detail: impl std::fmt::Display) -> Error {
    Error::ControlPlane {
        detail: detail.to_string(),
    }
}

async fn start(ca_dir: &Path) -> Result<ControlPlane, Error> {
    let (tx, rx) = oneshot::channel::<Result<Started, String>>();
    std::thread::Builder::new()
        .name("local-gke".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            };
            runtime.block_on(async move {
                let config = GkeConfig {
                    deployments: Vec::new(),
                    ..GkeConfig::default()
                };
                let gke = match LocalGke::start(config).await {
                    Ok(gke) => gke,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let key = match gke.key_file() {
                    Ok(key) => key,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let started = Started {
                    cluster: gke.cluster_name(),
                    google_url: gke.google_url().to_owned(),
                    admin_url: gke.admin_url(),
                    google_ca_pem: gke.google_ca_pem().to_owned(),
                    key_json: key.to_string(),
                    account: gke.service_account().email().to_owned(),
                };
                if tx.send(Ok(started)).is_ok() {
                    // Serve until the process ends.
                    std::future::pending::<()>().await;
                }
                drop(gke);
            });
        })
        .map_err(fail)?;
    let started = rx
        .await
        .map_err(|_| fail("local-gke's thread ended before it served"))?
        .map_err(fail)?;

    std::fs::create_dir_all(ca_dir).map_err(|e| fail(format!("{}: {e}", ca_dir.display())))?;
    let ca_file = ca_dir.join(format!("local-gke-google-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, &started.google_ca_pem)
        .map_err(|e| fail(format!("{}: {e}", ca_file.display())))?;
    // Before any function (and so any gcp_auth or reqwest client) is built; see the module docs.
    std::env::set_var("SSL_CERT_FILE", &ca_file);

    let ca = reqwest::Certificate::from_pem(started.google_ca_pem.as_bytes()).map_err(fail)?;
    // Callers come from different runtimes (one per test), and a pooled connection dies with
    // the runtime that opened it: keep no idle connections.
    let admin = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .build()
        .map_err(fail)?;
    Ok(ControlPlane {
        env: vec![
            ("GKE_CLUSTER".into(), started.cluster),
            ("GKE_API_URL".into(), started.google_url),
            ("GCP_SERVICE_ACCOUNT_KEY".into(), started.key_json),
        ],
        admin_url: started.admin_url,
        account: started.account,
        admin,
    })
}

impl ControlPlane {
    /// The variables that point a function at the cluster: `GKE_CLUSTER`, `GKE_API_URL` and the
    /// service-account key.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Error> {
        let url = format!("{}{path}", self.admin_url);
        let mut request = self.admin.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| fail(format!("{url}: {e}")))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(fail(format!("{url}: {status} {text}")));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Create (or reset) a deployment with `replicas`, which the service account may scale.
    pub async fn add_deployment(
        &self,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> Result<(), Error> {
        self.set_replicas(namespace, name, replicas).await?;
        self.admin(
            reqwest::Method::POST,
            "/grants",
            Some(json!({"identity": self.account, "namespace": namespace, "deployment": name})),
        )
        .await
        .map(drop)
    }

    /// Set a deployment's replicas, as an operator would.
    pub async fn set_replicas(
        &self,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> Result<(), Error> {
        self.admin(
            reqwest::Method::PUT,
            &format!("/deployments/{namespace}/{name}"),
            Some(json!({ "replicas": replicas })),
        )
        .await
        .map(drop)
    }

    /// A deployment's replicas.
    pub async fn replicas(&self, namespace: &str, name: &str) -> Result<i32, Error> {
        let body = self
            .admin(
                reqwest::Method::GET,
                &format!("/deployments/{namespace}/{name}"),
                None,
            )
            .await?;
        body["replicas"]
            .as_i64()
            .and_then(|r| i32::try_from(r).ok())
            .ok_or_else(|| fail(format!("no replicas in {body}")))
    }

    /// The path of a deployment's scale subresource on the cluster listener.
    pub fn scale_path(namespace: &str, name: &str) -> String {
        format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale")
    }

    /// Inject a fault (the admin API's `POST /faults` body: `path`, `method`, `count`,
    /// `status`, `delay_ms`, `drop`, `apply_then_drop`).
    pub async fn add_fault(&self, fault: Value) -> Result<(), Error> {
        self.admin(reqwest::Method::POST, "/faults", Some(fault))
            .await
            .map(drop)
    }

    /// Clear every pending fault, of every deployment: runs that inject faults into the
    /// process's control plane must not overlap.
    pub async fn clear_faults(&self) -> Result<(), Error> {
        self.admin(reqwest::Method::DELETE, "/faults", None)
            .await
            .map(drop)
    }

    /// Clear the request log.
    pub async fn clear_requests(&self) -> Result<(), Error> {
        self.admin(reqwest::Method::DELETE, "/requests", None)
            .await
            .map(drop)
    }

    /// The statuses of the writes (`PUT`) of a deployment's scale in the request log, in order;
    /// 0 is a request whose connection was dropped.
    pub async fn scale_writes(&self, namespace: &str, name: &str) -> Result<Vec<u16>, Error> {
        let path = Self::scale_path(namespace, name);
        let body = self.admin(reqwest::Method::GET, "/requests", None).await?;
        let requests = body["requests"]
            .as_array()
            .ok_or_else(|| fail(format!("no requests in {body}")))?;
        Ok(requests
            .iter()
            .filter(|r| r["path"] == path.as_str() && r["kind"] == "scale_put")
            .filter_map(|r| r["status"].as_u64())
            .filter_map(|s| u16::try_from(s).ok())
            .collect())
    }
}
