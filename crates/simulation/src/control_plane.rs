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
use local_gke::admin::{AdminGrant, Fault, RequestKind};
use local_gke::{scale_path, AdminClient, AdminError, Config as GkeConfig, LocalGke};
use std::path::Path;
use tokio::sync::{oneshot, OnceCell};

/// The running control plane, as the functions and the runner see it.
pub struct ControlPlane {
    env: Vec<(String, String)>,
    account: String,
    admin: AdminClient,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The environment holds the service-account key: names only.
        let names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ControlPlane")
            .field("env", &names)
            .field("admin_url", &self.admin.url())
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

/// An admin API error, with its causes: [`Error`] is shown by its message alone.
fn admin_failed(error: AdminError) -> Error {
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        detail.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    fail(detail)
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

    // Callers come from different runtimes (one per test), and a pooled connection dies with
    // the runtime that opened it: keep no idle connections.
    let admin = AdminClient::without_idle_connections(&started.admin_url, &started.google_ca_pem)
        .map_err(admin_failed)?;
    Ok(ControlPlane {
        env: vec![
            ("GKE_CLUSTER".into(), started.cluster),
            ("GKE_API_URL".into(), started.google_url),
            ("GCP_SERVICE_ACCOUNT_KEY".into(), started.key_json),
            // What the process's own environment says: the functions read it from their lookup.
            ("SSL_CERT_FILE".into(), ca_file.display().to_string()),
        ],
        account: started.account,
        admin,
    })
}

impl ControlPlane {
    /// The variables that point a function at the cluster: `GKE_CLUSTER`, `GKE_API_URL`, the
    /// service-account key, and `SSL_CERT_FILE` (local-gke's CA).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Create (or reset) a deployment with `replicas`, which the service account may scale.
    pub async fn add_deployment(
        &self,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> Result<(), Error> {
        self.set_replicas(namespace, name, replicas).await?;
        let grant = AdminGrant::new(&self.account, namespace, name);
        self.admin
            .set_grant(&grant)
            .await
            .map(drop)
            .map_err(admin_failed)
    }

    /// Set a deployment's replicas, as an operator would.
    pub async fn set_replicas(
        &self,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> Result<(), Error> {
        self.admin
            .set_replicas(namespace, name, replicas)
            .await
            .map(drop)
            .map_err(admin_failed)
    }

    /// A deployment's replicas.
    pub async fn replicas(&self, namespace: &str, name: &str) -> Result<i32, Error> {
        self.admin
            .deployment(namespace, name)
            .await
            .map(|deployment| deployment.replicas)
            .map_err(admin_failed)
    }

    /// Inject a fault.
    pub async fn add_fault(&self, fault: &Fault) -> Result<(), Error> {
        self.admin
            .add_fault(fault)
            .await
            .map(drop)
            .map_err(admin_failed)
    }

    /// Clear every pending fault, of every deployment: runs that inject faults into the
    /// process's control plane must not overlap.
    pub async fn clear_faults(&self) -> Result<(), Error> {
        self.admin.clear_faults().await.map_err(admin_failed)
    }

    /// Clear the request log.
    pub async fn clear_requests(&self) -> Result<(), Error> {
        self.admin.clear_requests().await.map_err(admin_failed)
    }

    /// The requests in the log, counted by kind (`ScaleGet`, `ScalePut`, ...).
    pub async fn request_counts(&self) -> Result<std::collections::BTreeMap<String, usize>, Error> {
        let requests = self.admin.requests().await.map_err(admin_failed)?;
        let mut counts = std::collections::BTreeMap::new();
        for r in requests {
            *counts.entry(format!("{:?}", r.kind)).or_default() += 1;
        }
        Ok(counts)
    }

    /// The statuses of the writes (`PUT`) of a deployment's scale in the request log, in order;
    /// 0 is a request whose connection was dropped.
    pub async fn scale_writes(&self, namespace: &str, name: &str) -> Result<Vec<u16>, Error> {
        let path = scale_path(namespace, name);
        let requests = self.admin.requests().await.map_err(admin_failed)?;
        Ok(requests
            .into_iter()
            .filter(|r| r.path == path && r.kind == RequestKind::ScalePut)
            .map(|r| r.status)
            .collect())
    }
}
