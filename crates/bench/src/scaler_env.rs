//! The functions' configuration against the control plane (`queue_scaler_harness`'s local-gke,
//! started in-process): the target, the step, the re-arm endpoint, and the credentials for key or
//! keyless access.
//!
//! Pure: reads the control plane's variables only.

use queue_scaler_harness::ControlPlane;

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

/// The scaler's configuration: discover the cluster through the GKE API, one target with
/// room to scale up a step on every invocation, re-arm on (against `cloudwatch_url`), and
/// the credentials for `auth`: the key file, or the `external_account` configuration with
/// the AWS identity local-gke binds to the service account, as Lambda sets it from the
/// execution role. `trust_local_ca` sets `SSL_CERT_FILE` to local-gke's CA; without it the
/// function loads the system's roots, as it does on AWS Lambda, and can start but not reach
/// local-gke.
pub fn scaler_env(
    plane: &ControlPlane,
    cloudwatch_url: &str,
    trust_local_ca: bool,
    auth: Auth,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("GKE_CLUSTER", plane.gke().cluster_name()),
        ("GKE_API_URL", plane.gke().google_url().to_owned()),
        ("TARGET_NAMESPACE", NAMESPACE.to_owned()),
        ("TARGET_DEPLOYMENT", DEPLOYMENT.to_owned()),
        ("MIN_REPLICAS", "1".to_owned()),
        ("MAX_REPLICAS", "1000000".to_owned()),
        ("SCALE_STEP", "1".to_owned()),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch_url.to_owned()),
        // No SQS here: the control plane refuses SQS's requests at once (404), so each
        // invocation measures the alarm's path plus one refused queue read.
        ("AWS_ENDPOINT_URL_SQS", plane.gke().google_url().to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let credentials: [(&str, Option<String>); 4] = match auth {
        Auth::Key => [
            (
                "GOOGLE_APPLICATION_CREDENTIALS",
                plane.key_file().map(|p| p.display().to_string()),
            ),
            ("AWS_ACCESS_KEY_ID", Some("AKIDBENCHMARK".to_owned())),
            ("AWS_SECRET_ACCESS_KEY", Some("bench-secret".to_owned())),
            ("AWS_SESSION_TOKEN", Some("bench-session".to_owned())),
        ],
        Auth::Keyless => [
            (
                "GCP_CREDENTIAL_CONFIG",
                Some(plane.gke().credential_config().to_string()),
            ),
            (
                "AWS_ACCESS_KEY_ID",
                plane.get("LOCAL_GKE_AWS_ACCESS_KEY_ID").map(str::to_owned),
            ),
            (
                "AWS_SECRET_ACCESS_KEY",
                plane
                    .get("LOCAL_GKE_AWS_SECRET_ACCESS_KEY")
                    .map(str::to_owned),
            ),
            (
                "AWS_SESSION_TOKEN",
                plane.get("LOCAL_GKE_AWS_SESSION_TOKEN").map(str::to_owned),
            ),
        ],
    };
    env.extend(
        credentials
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.unwrap_or_default())),
    );
    if trust_local_ca {
        if let Some(ca) = plane.google_ca_file() {
            env.push(("SSL_CERT_FILE".into(), ca.display().to_string()));
        }
    }
    env
}
