//! The `local-gke` command line: flags, their defaults, and how they become a [`Config`].
//! Reads the `--cluster-ca-file`; nothing else.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use url::Url;

use crate::config::{
    AwsIdentity, Config, DeploymentSeed, ExternalCluster, Grant, LeaseGrant, LeaseSeed,
    WorkloadIdentity, DEFAULT_POOL, DEFAULT_PROJECT_NUMBER, DEFAULT_PROVIDER,
};
use crate::Error;

/// A local stand-in for Google's token endpoint, the GKE API and a Kubernetes API server.
///
/// Writes DIR/sa-key.json, DIR/credential-config.json, DIR/google-ca.pem, DIR/cluster-ca.pem
/// and DIR/env, prints "local-gke ready: env written to DIR/env" and serves until SIGTERM or
/// SIGINT.
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

    /// A coordination.k8s.io/v1 Lease the Kubernetes API holds, with an empty spec
    /// (repeatable; default none).
    #[arg(long = "lease", value_name = "NS/NAME")]
    pub leases: Vec<LeaseSeed>,

    /// Who may get and update which Lease; IDENTITY is an email or a numeric id (repeatable;
    /// default: the service account's email may get and update every --lease).
    #[arg(long = "lease-grant", value_name = "IDENTITY=NS/NAME")]
    pub lease_grants: Vec<LeaseGrant>,

    /// The expires_in, in seconds, of issued access tokens.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub token_lifetime: u64,

    /// Advertise this cluster (e.g. a real kube-apiserver) in clusters.get instead of ours.
    #[arg(long, value_name = "URL", requires = "cluster_ca_file")]
    pub cluster_endpoint: Option<Url>,

    /// The PEM CA certificate of --cluster-endpoint.
    #[arg(long, value_name = "PATH", requires = "cluster_endpoint")]
    pub cluster_ca_file: Option<PathBuf>,

    /// The project number of the workload identity pool (keyless access).
    #[arg(long, value_name = "N", default_value = DEFAULT_PROJECT_NUMBER,
          value_parser = parse_project_number)]
    pub project_number: String,

    /// The workload identity pool's id.
    #[arg(long, value_name = "ID", default_value = DEFAULT_POOL)]
    pub identity_pool: String,

    /// The pool's AWS provider's id.
    #[arg(long, value_name = "ID", default_value = DEFAULT_PROVIDER)]
    pub identity_provider: String,

    /// An AWS identity whose signed GetCallerIdentity requests the provider accepts: its
    /// credentials and the ARN AWS answers with (repeatable; default: the test identity).
    #[arg(
        long = "aws-identity",
        value_name = "KEY_ID:SECRET[:SESSION_TOKEN]=ARN"
    )]
    pub aws_identities: Vec<AwsIdentity>,

    /// A member granted roles/iam.workloadIdentityUser on the service account: an IAM member
    /// (principal://…, principalSet://…) or a role ARN (repeatable; default: the role of every
    /// --aws-identity).
    #[arg(long = "workload-identity-user", value_name = "MEMBER")]
    pub workload_identity_users: Vec<String>,
}

fn parse_project_number(text: &str) -> Result<String, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err("a project number is digits only".to_owned())
    }
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
            leases: self.leases,
            lease_grants: self.lease_grants,
            node_pools: defaults.node_pools,
            token_lifetime: Duration::from_secs(self.token_lifetime),
            external_cluster,
            workload_identity: WorkloadIdentity {
                project_number: self.project_number,
                pool: self.identity_pool,
                provider: self.identity_provider,
                aws_identities: if self.aws_identities.is_empty() {
                    defaults.workload_identity.aws_identities
                } else {
                    self.aws_identities
                },
                users: self.workload_identity_users,
            },
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
        assert!(config.leases.is_empty() && config.lease_grants.is_empty());
        assert_eq!(config.token_lifetime, Duration::from_secs(3600));
        assert!(config.external_cluster.is_none());
        let defaults = WorkloadIdentity::default();
        let wif = &config.workload_identity;
        assert_eq!(wif.audience(), defaults.audience());
        assert_eq!(wif.aws_identities, defaults.aws_identities);
        assert!(wif.users.is_empty());
        Ok(())
    }

    #[test]
    fn the_workload_identity_pool_and_its_identities_are_flags(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let config = parse(&[
            "--state-dir=s",
            "--project-number=7",
            "--identity-pool=pool",
            "--identity-provider=prov",
            "--aws-identity=AKID:secret=arn:aws:sts::123456789012:assumed-role/a/a",
            "--aws-identity=AKID2:secret:token==arn:aws:sts::123456789012:assumed-role/b/b",
            "--workload-identity-user=arn:aws:iam::123456789012:role/a",
        ])?
        .into_config()?;
        let wif = &config.workload_identity;
        assert_eq!(
            wif.audience(),
            "//iam.googleapis.com/projects/7/locations/global/workloadIdentityPools/pool/providers/prov"
        );
        assert_eq!(wif.aws_identities.len(), 2);
        assert_eq!(
            wif.aws_identities[1].session_token.as_deref(),
            Some("token=")
        );
        assert_eq!(wif.users, ["arn:aws:iam::123456789012:role/a"]);
        assert!(parse(&["--state-dir=s", "--project-number=demo"]).is_err());
        assert!(parse(&["--state-dir=s", "--aws-identity=AKID"]).is_err());
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
    fn leases_and_lease_grants_repeat() -> Result<(), Box<dyn std::error::Error>> {
        let config = parse(&[
            "--state-dir=s",
            "--lease=ml/gpu-pool",
            "--lease=ml/cpu-pool",
            "--lease-grant=someone@example.com=ml/gpu-pool",
        ])?
        .into_config()?;
        assert_eq!(config.leases.len(), 2);
        assert_eq!(
            config.lease_grants,
            [LeaseGrant::new("someone@example.com", "ml", "gpu-pool")]
        );
        assert!(parse(&["--state-dir=s", "--lease=gpu-pool"]).is_err());
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
