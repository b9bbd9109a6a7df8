//! The `local-gke` command line: flags, their defaults, and how they become a [`Config`].
//! Reads the `--cluster-ca-file`; nothing else.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use url::Url;

use crate::config::{Config, DeploymentSeed, ExternalCluster, Grant};
use crate::Error;

/// A local stand-in for Google's token endpoint, the GKE API and a Kubernetes API server.
///
/// Writes DIR/sa-key.json, DIR/google-ca.pem, DIR/cluster-ca.pem and DIR/env, prints
/// "local-gke ready: env written to DIR/env" and serves until SIGTERM or SIGINT.
#[derive(Debug, Parser)]
#[command(name = "local-gke", version)]
pub struct Args {
    /// Where to write the key file, the CA certificates and the env file.
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,

    /// The Google Cloud project of the cluster and the service account.
    #[arg(long, default_value = "demo-project")]
    pub project: String,

    /// The cluster's location.
    #[arg(long, default_value = "europe-west4")]
    pub location: String,

    /// The cluster's name.
    #[arg(long, default_value = "gpu-cluster")]
    pub cluster: String,

    /// A deployment the Kubernetes API holds (repeatable; default ml/model-worker=2).
    #[arg(long = "deployment", value_name = "NS/NAME=REPLICAS")]
    pub deployments: Vec<DeploymentSeed>,

    /// Who may scale what; IDENTITY is an email or a numeric id (repeatable; default: the
    /// service account's email may scale every --deployment).
    #[arg(long = "grant", value_name = "IDENTITY=NS/NAME")]
    pub grants: Vec<Grant>,

    /// The expires_in, in seconds, of issued access tokens.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub token_lifetime: u64,

    /// Advertise this cluster (e.g. a real kube-apiserver) in clusters.get instead of ours.
    #[arg(long, value_name = "URL", requires = "cluster_ca_file")]
    pub cluster_endpoint: Option<Url>,

    /// The PEM CA certificate of --cluster-endpoint.
    #[arg(long, value_name = "PATH", requires = "cluster_endpoint")]
    pub cluster_ca_file: Option<PathBuf>,
}

impl Args {
    /// Checks the flags and reads the external cluster's CA file, if any.
    pub fn into_config(self) -> Result<Config, Error> {
        let defaults = Config::default();
        let external_cluster = match (self.cluster_endpoint, self.cluster_ca_file) {
            (Some(endpoint), Some(ca_file)) => {
                if endpoint.scheme() != "https" || endpoint.host_str().is_none() {
                    return Err(Error::ClusterEndpoint(endpoint.to_string()));
                }
                let ca_pem = std::fs::read_to_string(&ca_file).map_err(|source| Error::File {
                    path: ca_file,
                    source,
                })?;
                Some(ExternalCluster { endpoint, ca_pem })
            }
            _ => None,
        };
        Ok(Config {
            project: self.project,
            location: self.location,
            cluster: self.cluster,
            deployments: if self.deployments.is_empty() {
                defaults.deployments
            } else {
                self.deployments
            },
            grants: self.grants,
            token_lifetime: Duration::from_secs(self.token_lifetime),
            external_cluster,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(["local-gke"].iter().chain(args))
    }

    #[test]
    fn defaults_hold_one_model_worker_in_demo_project() -> Result<(), Box<dyn std::error::Error>> {
        let config = parse(&["--state-dir", "s"])?.into_config()?;
        assert_eq!(config.project, "demo-project");
        assert_eq!(config.location, "europe-west4");
        assert_eq!(config.cluster, "gpu-cluster");
        assert_eq!(config.deployments, Config::default().deployments);
        assert!(config.grants.is_empty());
        assert_eq!(config.token_lifetime, Duration::from_secs(3600));
        assert!(config.external_cluster.is_none());
        Ok(())
    }

    #[test]
    fn deployments_and_grants_repeat() -> Result<(), Box<dyn std::error::Error>> {
        let config = parse(&[
            "--state-dir=s",
            "--deployment=ml/a=1",
            "--deployment=ml/b=0",
            "--grant=someone@example.com=ml/a",
        ])?
        .into_config()?;
        assert_eq!(config.deployments.len(), 2);
        assert_eq!(config.grants.len(), 1);
        Ok(())
    }

    #[test]
    fn a_cluster_endpoint_needs_its_ca_file() {
        assert!(parse(&["--state-dir=s", "--cluster-endpoint=https://127.0.0.1:6443"]).is_err());
    }

    #[test]
    fn a_malformed_deployment_is_refused() {
        assert!(parse(&["--state-dir=s", "--deployment=model-worker"]).is_err());
    }
}
