//! What a local-gke instance serves: the cluster's name, the deployments it holds, who may scale
//! them and how long tokens live. Parsing of the command-line forms lives here too. No I/O.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

/// Everything [`crate::LocalGke::start`] needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Google Cloud project that owns the cluster and the service account.
    pub project: String,
    /// The cluster's location (a region or a zone).
    pub location: String,
    /// The cluster's name.
    pub cluster: String,
    /// The deployments the Kubernetes API holds at start.
    pub deployments: Vec<DeploymentSeed>,
    /// Who may scale what. Empty: the service account's email may scale every seeded deployment.
    pub grants: Vec<Grant>,
    /// The `expires_in` of issued access tokens.
    pub token_lifetime: Duration,
    /// Advertise this cluster in `clusters.get` instead of our own Kubernetes API.
    pub external_cluster: Option<ExternalCluster>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            project: "demo-project".to_owned(),
            location: "europe-west4".to_owned(),
            cluster: "gpu-cluster".to_owned(),
            deployments: vec![DeploymentSeed {
                namespace: "ml".to_owned(),
                name: "model-worker".to_owned(),
                replicas: 2,
            }],
            grants: Vec::new(),
            token_lifetime: Duration::from_secs(3600),
            external_cluster: None,
        }
    }
}

/// A deployment and its replica count at start: `NS/NAME=REPLICAS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentSeed {
    /// The deployment's namespace.
    pub namespace: String,
    /// The deployment's name.
    pub name: String,
    /// Its replicas at start.
    pub replicas: i32,
}

/// Permission for one identity to get, update and patch one deployment's scale:
/// `IDENTITY=NS/NAME`, where the identity is an email or a numeric account id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    /// An email or a numeric id, as the Kubernetes API sees the caller.
    pub identity: String,
    /// The deployment's namespace.
    pub namespace: String,
    /// The deployment's name.
    pub deployment: String,
}

/// A cluster outside local-gke (for example a real kube-apiserver) to advertise in `clusters.get`.
#[derive(Clone)]
pub struct ExternalCluster {
    /// Its HTTPS URL.
    pub endpoint: Url,
    /// Its CA certificate, PEM.
    pub ca_pem: String,
}

impl fmt::Debug for ExternalCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalCluster")
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

impl ExternalCluster {
    /// The endpoint as GKE reports it: host, and port only when it is not 443.
    pub fn advertised_endpoint(&self) -> String {
        let host = self.endpoint.host_str().unwrap_or_default();
        match self.endpoint.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }
}

/// A command-line value that does not have the expected form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Not `NS/NAME=REPLICAS`.
    #[error("expected NS/NAME=REPLICAS, got {0:?}")]
    Deployment(String),
    /// Not `IDENTITY=NS/NAME`.
    #[error("expected IDENTITY=NS/NAME, got {0:?}")]
    Grant(String),
}

/// Splits `NS/NAME` into its two non-empty parts.
fn namespace_and_name(text: &str) -> Option<(String, String)> {
    let (namespace, name) = text.split_once('/')?;
    let valid = |part: &str| !part.is_empty() && !part.contains('/');
    (valid(namespace) && valid(name)).then(|| (namespace.to_owned(), name.to_owned()))
}

impl FromStr for DeploymentSeed {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseError::Deployment(text.to_owned());
        let (target, replicas) = text.split_once('=').ok_or_else(invalid)?;
        let (namespace, name) = namespace_and_name(target).ok_or_else(invalid)?;
        let replicas = replicas
            .parse::<i32>()
            .ok()
            .filter(|r| *r >= 0)
            .ok_or_else(invalid)?;
        Ok(DeploymentSeed {
            namespace,
            name,
            replicas,
        })
    }
}

impl FromStr for Grant {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseError::Grant(text.to_owned());
        // Split at the last '=', so the identity may not contain one but could contain '/'.
        let (identity, target) = text.rsplit_once('=').ok_or_else(invalid)?;
        let (namespace, deployment) = namespace_and_name(target).ok_or_else(invalid)?;
        if identity.is_empty() {
            return Err(invalid());
        }
        Ok(Grant {
            identity: identity.to_owned(),
            namespace,
            deployment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_seed_reads_namespace_name_and_replicas() {
        assert_eq!(
            "ml/model-worker=3".parse(),
            Ok(DeploymentSeed {
                namespace: "ml".to_owned(),
                name: "model-worker".to_owned(),
                replicas: 3
            })
        );
    }

    #[test]
    fn a_deployment_seed_without_namespace_or_with_negative_replicas_is_refused() {
        for text in [
            "model-worker=3",
            "ml/=3",
            "ml/a/b=1",
            "ml/w=-1",
            "ml/w",
            "ml/w=x",
        ] {
            assert!(text.parse::<DeploymentSeed>().is_err(), "{text}");
        }
    }

    #[test]
    fn a_grant_reads_an_email_or_a_numeric_identity() {
        let grant: Grant = "scaler@p.iam.gserviceaccount.com=ml/model-worker"
            .parse()
            .expect("valid grant");
        assert_eq!(grant.identity, "scaler@p.iam.gserviceaccount.com");
        assert_eq!(grant.namespace, "ml");
        assert_eq!(grant.deployment, "model-worker");
        let grant: Grant = "123456789012345678901=ml/w".parse().expect("valid grant");
        assert_eq!(grant.identity, "123456789012345678901");
    }

    #[test]
    fn a_grant_without_identity_or_target_is_refused() {
        for text in ["=ml/w", "someone", "someone=ml", "someone=/w"] {
            assert!(text.parse::<Grant>().is_err(), "{text}");
        }
    }

    #[test]
    fn an_external_endpoint_is_advertised_without_scheme_and_default_port() {
        let cluster = |url: &str| ExternalCluster {
            endpoint: Url::parse(url).expect("valid url"),
            ca_pem: String::new(),
        };
        assert_eq!(
            cluster("https://127.0.0.1:6443").advertised_endpoint(),
            "127.0.0.1:6443"
        );
        assert_eq!(
            cluster("https://127.0.0.2").advertised_endpoint(),
            "127.0.0.2"
        );
    }
}
