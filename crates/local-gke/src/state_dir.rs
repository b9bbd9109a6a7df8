//! The state directory local-gke writes for the processes it serves: the service account's key
//! file, the keyless credential configuration, both CA certificates, a kubeconfig for the
//! TokenReview webhook, and the `env` file that points a scaler at all of it. Does I/O: files.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::{Error, LocalGke};

impl LocalGke {
    /// The `external_account` credential configuration for keyless access, as
    /// `gcloud iam workload-identity-pools create-cred-config --aws --service-account=EMAIL`
    /// writes it, with local-gke's STS and IAM Credentials endpoints. Its `credential_source`
    /// names the instance metadata service's URLs, as gcloud writes them; AWS credentials and
    /// region must come from the environment instead.
    pub fn credential_config(&self) -> serde_json::Value {
        serde_json::json!({
            "universe_domain": "googleapis.com",
            "type": "external_account",
            "audience": self.workload_identity_audience(),
            "subject_token_type": crate::federation::sts::AWS4_REQUEST_TOKEN_TYPE,
            "token_url": self.sts_url(),
            "credential_source": {
                "environment_id": "aws1",
                "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
                "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
                "regional_cred_verification_url":
                    "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            },
            "service_account_impersonation_url": self.impersonation_url(),
        })
    }

    /// The `env` file's variables, for a state directory at `dir` (an absolute path).
    pub fn env(&self, dir: &Path) -> Vec<(&'static str, String)> {
        let account = self.service_account();
        let advertised = self.advertised();
        let path = |file: &str| dir.join(file).display().to_string();
        let mut env = vec![
            ("GKE_CLUSTER", self.cluster_name()),
            ("GKE_API_URL", self.google_url().to_owned()),
            ("GKE_ENDPOINT", advertised.url),
            ("GKE_CA_CERT", STANDARD.encode(advertised.ca_pem)),
            ("GOOGLE_APPLICATION_CREDENTIALS", path(KEY_FILE)),
            ("SSL_CERT_FILE", path(GOOGLE_CA_FILE)),
            ("LOCAL_GKE_ADMIN_URL", self.admin_url()),
            ("LOCAL_GKE_TOKENREVIEW_URL", self.token_review_url()),
            (
                "LOCAL_GKE_TOKENREVIEW_KUBECONFIG",
                path(TOKEN_REVIEW_KUBECONFIG_FILE),
            ),
            ("SCALER_SERVICE_ACCOUNT", account.email().to_owned()),
            ("SCALER_SERVICE_ACCOUNT_ID", account.client_id().to_owned()),
            ("LOCAL_GKE_CREDENTIAL_CONFIG", path(CREDENTIAL_CONFIG_FILE)),
            ("LOCAL_GKE_STS_URL", self.sts_url()),
            ("LOCAL_GKE_IMPERSONATION_URL", self.impersonation_url()),
            ("LOCAL_GKE_WIF_AUDIENCE", self.workload_identity_audience()),
        ];
        if let Some(identity) = self.aws_identity() {
            env.push((
                "LOCAL_GKE_AWS_ACCESS_KEY_ID",
                identity.access_key_id.clone(),
            ));
            env.push((
                "LOCAL_GKE_AWS_SECRET_ACCESS_KEY",
                identity.secret_access_key.clone(),
            ));
            if let Some(token) = &identity.session_token {
                env.push(("LOCAL_GKE_AWS_SESSION_TOKEN", token.clone()));
            }
            env.push(("LOCAL_GKE_AWS_ROLE_ARN", identity.arn.clone()));
        }
        env
    }

    /// Writes the key file, the keyless credential configuration, both CA certificates, a
    /// kubeconfig for the TokenReview webhook and, last, the `env` file into `dir` (created if
    /// missing). Returns the `env` file's path.
    pub fn write_state_dir(&self, dir: &Path) -> Result<PathBuf, Error> {
        let file_error = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::File { path, source }
        };
        fs::create_dir_all(dir).map_err(file_error(dir))?;
        let dir = fs::canonicalize(dir).map_err(file_error(dir))?;

        // `{:#}` is serde_json's pretty printing.
        let key_file = format!("{:#}\n", self.key_file()?);
        write_file(&dir.join(KEY_FILE), &key_file, true)?;
        let credential_config = format!("{:#}\n", self.credential_config());
        write_file(&dir.join(CREDENTIAL_CONFIG_FILE), &credential_config, false)?;
        write_file(&dir.join(GOOGLE_CA_FILE), self.google_ca_pem(), false)?;
        write_file(&dir.join(CLUSTER_CA_FILE), self.cluster_ca_pem(), false)?;
        write_file(
            &dir.join(TOKEN_REVIEW_KUBECONFIG_FILE),
            &self.token_review_kubeconfig(&dir.join(GOOGLE_CA_FILE)),
            false,
        )?;

        let env: String = self
            .env(&dir)
            .into_iter()
            .map(|(key, value)| format!("{key}={value}\n"))
            .collect();
        // Write, then rename, so whoever waits for the env file never reads half of it.
        let env_path = dir.join(ENV_FILE);
        let partial = dir.join(".env.partial");
        write_file(&partial, &env, false)?;
        fs::rename(&partial, &env_path).map_err(file_error(&env_path))?;
        Ok(env_path)
    }

    /// A kubeconfig that points a kube-apiserver's `--authentication-token-webhook-config-file`
    /// at the TokenReview webhook.
    fn token_review_kubeconfig(&self, ca_file: &Path) -> String {
        format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: local-gke\n  \
               cluster:\n    \
                 server: {server}\n    \
                 certificate-authority: {ca}\n\
             users:\n\
             - name: kube-apiserver\n  \
               user: {{}}\n\
             contexts:\n\
             - name: webhook\n  \
               context:\n    \
                 cluster: local-gke\n    \
                 user: kube-apiserver\n\
             current-context: webhook\n",
            server = self.token_review_url(),
            ca = ca_file.display(),
        )
    }
}

const KEY_FILE: &str = "sa-key.json";
const CREDENTIAL_CONFIG_FILE: &str = "credential-config.json";
const GOOGLE_CA_FILE: &str = "google-ca.pem";
const CLUSTER_CA_FILE: &str = "cluster-ca.pem";
const TOKEN_REVIEW_KUBECONFIG_FILE: &str = "tokenreview-kubeconfig.yaml";
const ENV_FILE: &str = "env";

/// Writes `contents` to `path`; a `secret` file is readable by its owner only.
fn write_file(path: &Path, contents: &str, secret: bool) -> Result<(), Error> {
    let error = |source| Error::File {
        path: path.to_owned(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(error)?;
    file.write_all(contents.as_bytes()).map_err(error)
}
