//! The local control plane: `local-gke` in-process (Google's token endpoint, the GKE API and a
//! Kubernetes API, over TLS on 127.0.0.1), with its state directory written (the key file, the
//! keyless credential configuration, both CAs, the `env` file), and its admin API.
//!
//! Started one of two ways, by what the caller's functions are:
//! - [`ControlPlane::start`]: one per test or benchmark, for functions that run as processes
//!   (the release binaries under `cargo lambda watch`, or the benchmark's), each told where the
//!   CA is by its own environment. Dropped with the caller's runtime.
//! - [`ControlPlane::shared`]: one per process, for functions that run in this process (the
//!   simulation, the heartbeat benchmark). Google's endpoints are verified against the system
//!   roots, which `gcp_auth` and `reqwest` load from `SSL_CERT_FILE` when a client is built; that
//!   is process-wide, so the shared control plane runs on a thread and runtime of its own (it
//!   outlives each test's runtime) and points `SSL_CERT_FILE` at its Google CA before any
//!   function is built. Each run adds its own deployment.
//!
//! Does I/O: a thread, sockets, files (the state directory), the process environment.

use crate::Error;
use local_gke::admin::{AdminGrant, Fault, RequestKind};
use local_gke::{scale_path, AdminClient, AdminError, Config, LocalGke};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::sync::{oneshot, OnceCell};

/// A running local-gke, its state directory and its admin API.
pub struct ControlPlane {
    gke: LocalGke,
    dir: PathBuf,
    /// The temporary directory [`ControlPlane::start`] made, removed when the plane is dropped.
    _temporary: Option<tempfile::TempDir>,
    env: Vec<(String, String)>,
    admin: AdminClient,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The env file names the key's file, not the key; names only all the same.
        let names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ControlPlane")
            .field("dir", &self.dir)
            .field("env", &names)
            .field("admin_url", &self.admin.url())
            .finish_non_exhaustive()
    }
}

static SHARED: OnceCell<ControlPlane> = OnceCell::const_new();

fn fail(detail: impl std::fmt::Display) -> Error {
    Error::ControlPlane {
        detail: detail.to_string(),
    }
}

/// An error with its causes: [`Error`] is shown by its message alone.
fn with_causes(error: &dyn std::error::Error) -> Error {
    let mut detail = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        detail.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    fail(detail)
}

fn admin_failed(error: AdminError) -> Error {
    with_causes(&error)
}

/// Whether the admin client keeps idle connections.
#[derive(Debug, Clone, Copy)]
enum Callers {
    /// One runtime calls: pooled connections are reused.
    OneRuntime,
    /// Callers come from different runtimes (one per test), and a pooled connection dies with
    /// the runtime that opened it: keep none.
    ManyRuntimes,
}

impl ControlPlane {
    /// Start local-gke with its defaults (`ml/model-worker` at 2 replicas, the service account
    /// granted on it) changed by `tweak`, its state directory in a new temporary directory.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Result<ControlPlane, Error> {
        let temporary =
            tempfile::tempdir().map_err(|e| fail(format!("a temporary directory: {e}")))?;
        let dir = temporary.path().to_owned();
        let mut plane = ControlPlane::start_in(&dir, tweak).await?;
        plane._temporary = Some(temporary);
        Ok(plane)
    }

    /// [`ControlPlane::start`], with the state directory at `dir` (created if missing), which
    /// outlives it.
    pub async fn start_in(
        dir: &Path,
        tweak: impl FnOnce(&mut Config),
    ) -> Result<ControlPlane, Error> {
        let mut config = Config::default();
        tweak(&mut config);
        ControlPlane::serve(config, dir, Callers::OneRuntime).await
    }

    /// The process's control plane, started on first use with no deployment, its state
    /// directory under `dir`; `SSL_CERT_FILE` names its Google CA from then on (see the module
    /// docs). Runs that inject faults into it must not overlap.
    pub async fn shared(dir: &Path) -> Result<&'static ControlPlane, Error> {
        SHARED.get_or_try_init(|| start_shared(dir)).await
    }

    async fn serve(config: Config, dir: &Path, callers: Callers) -> Result<ControlPlane, Error> {
        let gke = LocalGke::start(config).await.map_err(|e| with_causes(&e))?;
        let env_file = gke.write_state_dir(dir).map_err(|e| with_causes(&e))?;
        let dir = env_file.parent().unwrap_or(dir).to_owned();
        let env = gke
            .env(&dir)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let admin = match callers {
            Callers::OneRuntime => gke.admin_client(),
            Callers::ManyRuntimes => {
                AdminClient::without_idle_connections(&gke.admin_url(), gke.google_ca_pem())
            }
        }
        .map_err(admin_failed)?;
        Ok(ControlPlane {
            gke,
            dir,
            _temporary: None,
            env,
            admin,
        })
    }

    /// The in-process local-gke.
    pub fn gke(&self) -> &LocalGke {
        &self.gke
    }

    /// Its admin API: replicas, faults, grants, the request log...
    pub fn admin(&self) -> &AdminClient {
        &self.admin
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the `env` file says: the variables that point a function at the control plane
    /// (`GKE_CLUSTER`, `GKE_API_URL`, `GKE_ENDPOINT`, `GOOGLE_APPLICATION_CREDENTIALS`,
    /// `SSL_CERT_FILE`, the keyless configuration...).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The variables that point a scaler at the cluster with the service account's key, as a
    /// deployment names its cluster: `GKE_CLUSTER`, `GKE_API_URL` (discovery through the GKE
    /// API), `GOOGLE_APPLICATION_CREDENTIALS` and `SSL_CERT_FILE` (local-gke's Google CA).
    pub fn key_env(&self) -> Vec<(String, String)> {
        let keep = [
            "GKE_CLUSTER",
            "GKE_API_URL",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "SSL_CERT_FILE",
        ];
        self.env
            .iter()
            .filter(|(k, _)| keep.contains(&k.as_str()))
            .cloned()
            .collect()
    }

    /// One variable of the `env` file, or a panic that names it: the variables are local-gke's
    /// own, so a missing one is a mistake in the caller.
    pub fn var(&self, name: &str) -> String {
        self.get(name)
            .unwrap_or_else(|| panic!("{name} is not in local-gke's env file"))
            .to_owned()
    }

    /// One variable of the `env` file, if it is there.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The service account's key file.
    pub fn key_file(&self) -> Option<PathBuf> {
        self.get("GOOGLE_APPLICATION_CREDENTIALS")
            .map(PathBuf::from)
    }

    /// The CA file that Google's endpoints (here: local-gke) are verified against.
    pub fn google_ca_file(&self) -> Option<PathBuf> {
        self.get("SSL_CERT_FILE").map(PathBuf::from)
    }

    /// Create (or reset) a deployment with `replicas`, which the service account may scale.
    pub async fn add_deployment(
        &self,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> Result<(), Error> {
        self.set_deployment_replicas(namespace, name, replicas)
            .await?;
        let grant = AdminGrant::new(self.gke.service_account().email(), namespace, name);
        self.admin
            .set_grant(&grant)
            .await
            .map(drop)
            .map_err(admin_failed)
    }

    /// Set a deployment's replicas, as an operator would.
    pub async fn set_deployment_replicas(
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
    pub async fn deployment_replicas(&self, namespace: &str, name: &str) -> Result<i32, Error> {
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

    /// Clear every pending fault, of every deployment.
    pub async fn clear_faults(&self) -> Result<(), Error> {
        self.admin.clear_faults().await.map_err(admin_failed)
    }

    /// Forget the requests logged so far.
    pub async fn clear_requests(&self) -> Result<(), Error> {
        self.admin.clear_requests().await.map_err(admin_failed)
    }

    /// The requests logged since the last [`Self::clear_requests`], counted by kind (`token`,
    /// `discovery`, `scale_get`, `scale_put`, ...).
    pub async fn request_counts(&self) -> Result<BTreeMap<String, u64>, Error> {
        let log = self.admin.requests().await.map_err(admin_failed)?;
        let mut counts = BTreeMap::new();
        for request in log {
            *counts.entry(request.kind.name().to_owned()).or_insert(0) += 1;
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

/// [`ControlPlane::shared`]'s start: local-gke served on a thread and runtime of its own until
/// the process ends, then `SSL_CERT_FILE` set.
async fn start_shared(dir: &Path) -> Result<ControlPlane, Error> {
    let dir = dir.join(format!("local-gke-{}", std::process::id()));
    let (tx, rx) = oneshot::channel::<Result<ControlPlane, Error>>();
    let state_dir = dir.clone();
    std::thread::Builder::new()
        .name("local-gke".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(fail(e)));
                    return;
                }
            };
            runtime.block_on(async move {
                let config = Config {
                    deployments: Vec::new(),
                    ..Config::default()
                };
                let started = ControlPlane::serve(config, &state_dir, Callers::ManyRuntimes).await;
                if tx.send(started).is_ok() {
                    // Its listeners run on this runtime: serve until the process ends.
                    std::future::pending::<()>().await;
                }
            });
        })
        .map_err(fail)?;
    let plane = rx
        .await
        .map_err(|_| fail("local-gke's thread ended before it served"))??;
    if let Some(ca) = plane.google_ca_file() {
        // Before any function (and so any gcp_auth or reqwest client) is built; see the module
        // docs.
        std::env::set_var("SSL_CERT_FILE", ca);
    }
    Ok(plane)
}
