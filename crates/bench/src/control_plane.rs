//! The control plane the functions talk to: local-gke, started in-process (Google's token
//! endpoint, the GKE API's `clusters.get` and the Kubernetes scale subresource, each over TLS on
//! 127.0.0.1), and its request log read through the admin API and counted by kind.
//! I/O: local-gke's listeners, its state directory, and admin requests.

use crate::Error;
use local_gke::{AdminClient, LocalGke};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The deployment the functions scale (local-gke's default seed).
pub const NAMESPACE: &str = "ml";
/// See [`NAMESPACE`].
pub const DEPLOYMENT: &str = "model-worker";

/// How the function gets its Google token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// A service-account key file: one JWT-bearer token request.
    Key,
    /// Keyless, through Workload Identity Federation from the AWS identity: an STS exchange and
    /// an impersonation (`generateAccessToken`).
    Keyless,
}

/// A running local-gke with its state directory written.
#[derive(Debug)]
pub struct ControlPlane {
    gke: LocalGke,
    admin: AdminClient,
    dir: PathBuf,
}

impl ControlPlane {
    /// Start local-gke with its defaults (`ml/model-worker` at 2 replicas, granted to the
    /// service account) and write its key file and CA certificates into `dir`.
    pub async fn start(dir: &Path) -> Result<ControlPlane, Error> {
        let gke = LocalGke::start(local_gke::Config::default())
            .await
            .map_err(Error::LocalGke)?;
        let env_file = gke.write_state_dir(dir).map_err(Error::LocalGke)?;
        let dir = env_file.parent().unwrap_or(dir).to_owned();
        let admin = gke.admin_client().map_err(Error::Admin)?;
        Ok(ControlPlane { gke, admin, dir })
    }

    /// The in-process local-gke.
    pub fn gke(&self) -> &LocalGke {
        &self.gke
    }

    fn local_env(&self, name: &str) -> Option<String> {
        self.gke
            .env(&self.dir)
            .into_iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The key file local-gke wrote.
    pub fn key_file(&self) -> Option<PathBuf> {
        self.local_env("GOOGLE_APPLICATION_CREDENTIALS")
            .map(PathBuf::from)
    }

    /// The CA file that Google's endpoints (here: local-gke) are verified against.
    pub fn google_ca_file(&self) -> Option<PathBuf> {
        self.local_env("SSL_CERT_FILE").map(PathBuf::from)
    }

    /// The scaler's configuration: discover the cluster through the GKE API, one target with
    /// room to scale up a step on every invocation, re-arm on (against `cloudwatch_url`), and
    /// the credentials for `auth`: the key file, or the `external_account` configuration with
    /// the AWS identity local-gke binds to the service account, as Lambda sets it from the
    /// execution role. `trust_local_ca` sets `SSL_CERT_FILE` to local-gke's CA; without it the
    /// function loads the system's roots, as it does on AWS Lambda, and can start but not reach
    /// local-gke.
    pub fn scaler_env(
        &self,
        cloudwatch_url: &str,
        trust_local_ca: bool,
        auth: Auth,
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("GKE_CLUSTER", self.gke.cluster_name()),
            ("GKE_API_URL", self.gke.google_url().to_owned()),
            ("TARGET_NAMESPACE", NAMESPACE.to_owned()),
            ("TARGET_DEPLOYMENT", DEPLOYMENT.to_owned()),
            ("MIN_REPLICAS", "1".to_owned()),
            ("MAX_REPLICAS", "1000000".to_owned()),
            ("SCALE_STEP", "1".to_owned()),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch_url.to_owned()),
            // No SQS here: the control plane refuses SQS's requests at once (404), so each
            // invocation measures the alarm's path plus one refused queue read.
            ("AWS_ENDPOINT_URL_SQS", self.gke.google_url().to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let credentials: [(&str, Option<String>); 4] = match auth {
            Auth::Key => [
                (
                    "GOOGLE_APPLICATION_CREDENTIALS",
                    self.key_file().map(|p| p.display().to_string()),
                ),
                ("AWS_ACCESS_KEY_ID", Some("AKIDBENCHMARK".to_owned())),
                ("AWS_SECRET_ACCESS_KEY", Some("bench-secret".to_owned())),
                ("AWS_SESSION_TOKEN", Some("bench-session".to_owned())),
            ],
            Auth::Keyless => [
                (
                    "GCP_CREDENTIAL_CONFIG",
                    Some(self.gke.credential_config().to_string()),
                ),
                (
                    "AWS_ACCESS_KEY_ID",
                    self.local_env("LOCAL_GKE_AWS_ACCESS_KEY_ID"),
                ),
                (
                    "AWS_SECRET_ACCESS_KEY",
                    self.local_env("LOCAL_GKE_AWS_SECRET_ACCESS_KEY"),
                ),
                (
                    "AWS_SESSION_TOKEN",
                    self.local_env("LOCAL_GKE_AWS_SESSION_TOKEN"),
                ),
            ],
        };
        env.extend(
            credentials
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.unwrap_or_default())),
        );
        if trust_local_ca {
            if let Some(ca) = self.google_ca_file() {
                env.push(("SSL_CERT_FILE".into(), ca.display().to_string()));
            }
        }
        env
    }

    /// Forget the requests logged so far.
    pub async fn clear_requests(&self) -> Result<(), Error> {
        self.admin.clear_requests().await.map_err(Error::Admin)
    }

    /// The requests logged since the last [`Self::clear_requests`], counted by kind (`token`,
    /// `discovery`, `scale_get`, `scale_put`, ...).
    pub async fn request_counts(&self) -> Result<BTreeMap<String, u64>, Error> {
        let log = self.admin.requests().await.map_err(Error::Admin)?;
        let mut counts = BTreeMap::new();
        for request in log {
            *counts.entry(request.kind.name().to_owned()).or_insert(0) += 1;
        }
        Ok(counts)
    }
}
