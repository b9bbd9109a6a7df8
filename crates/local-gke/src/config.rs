//! What a local-gke instance serves: the cluster's name, the deployments it holds, who may scale
//! them, the Leases it holds and who may use them, how long tokens live, and the workload identity
//! pool (its AWS provider, the AWS identities it recognises and who may impersonate the service
//! account). Parsing of the command-line forms lives here too. No I/O.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

use crate::model::node_pool::NodePool;

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
    /// The `coordination.k8s.io/v1` Leases the Kubernetes API holds at start, with an empty
    /// spec. Default: none.
    pub leases: Vec<LeaseSeed>,
    /// Who may use which Lease. Empty: the service account's email may `get` and `update` every
    /// seeded Lease.
    pub lease_grants: Vec<LeaseGrant>,
    /// The node pools `clusters.get` reports. Default: [`NodePool::default_gpu_pool`].
    pub node_pools: Vec<NodePool>,
    /// The `expires_in` of issued access tokens.
    pub token_lifetime: Duration,
    /// Advertise this cluster in `clusters.get` instead of our own Kubernetes API.
    pub external_cluster: Option<ExternalCluster>,
    /// Keyless access: the workload identity pool and provider that Google's STS exchanges
    /// signed AWS requests for, and who may then impersonate the service account.
    pub workload_identity: WorkloadIdentity,
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
            leases: Vec::new(),
            lease_grants: Vec::new(),
            node_pools: vec![NodePool::default_gpu_pool()],
            token_lifetime: Duration::from_secs(3600),
            external_cluster: None,
            workload_identity: WorkloadIdentity::default(),
        }
    }
}

/// The project number of the default workload identity pool's project.
pub const DEFAULT_PROJECT_NUMBER: &str = "424242424242";
/// The default workload identity pool.
pub const DEFAULT_POOL: &str = "queue-scaler";
/// The default AWS provider in that pool.
pub const DEFAULT_PROVIDER: &str = "aws";

/// The default test AWS identity's access key id (AWS's documentation example, for a session).
pub const TEST_AWS_ACCESS_KEY_ID: &str = "ASIAIOSFODNN7EXAMPLE";
/// The default test AWS identity's secret access key (AWS's documentation example).
pub const TEST_AWS_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// The default test AWS identity's session token. It holds `+`, `/` and `=`, so a client that
/// does not encode the subject token as Google expects is caught.
pub const TEST_AWS_SESSION_TOKEN: &str =
    "IQoJb3JpZ2luX2VjEXAMPLE/local+gke/session+token/for+queue/scaler==";
/// The default test AWS identity: the `scale-up` function's execution role, as a Lambda
/// function's credentials make `GetCallerIdentity` answer (the session is the function's name).
pub const TEST_AWS_ROLE_ARN: &str =
    "arn:aws:sts::123456789012:assumed-role/queue-scaler-scale-up/queue-scaler-scale-up";

/// A workload identity pool with one AWS provider, the AWS identities whose signed
/// `GetCallerIdentity` requests it accepts, and the members that hold
/// `roles/iam.workloadIdentityUser` on the service account.
#[derive(Debug, Clone)]
pub struct WorkloadIdentity {
    /// The number (not the id) of the pool's project, as the audience names it.
    pub project_number: String,
    /// The pool's id.
    pub pool: String,
    /// The AWS provider's id.
    pub provider: String,
    /// The AWS identities that a signed request may come from (what AWS would verify).
    pub aws_identities: Vec<AwsIdentity>,
    /// Who may impersonate the service account (`roles/iam.workloadIdentityUser`), in any form
    /// [`WorkloadIdentity::member`] reads. Empty: the role of every identity in `aws_identities`.
    pub users: Vec<String>,
}

impl Default for WorkloadIdentity {
    fn default() -> Self {
        WorkloadIdentity {
            project_number: DEFAULT_PROJECT_NUMBER.to_owned(),
            pool: DEFAULT_POOL.to_owned(),
            provider: DEFAULT_PROVIDER.to_owned(),
            aws_identities: vec![AwsIdentity::test_default()],
            users: Vec::new(),
        }
    }
}

impl WorkloadIdentity {
    /// `//iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P`.
    pub fn pool_name(&self) -> String {
        format!(
            "//iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/{}",
            self.project_number, self.pool
        )
    }

    /// The provider's full resource name, the `audience` of a token exchange:
    /// `//iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/V`.
    pub fn audience(&self) -> String {
        format!("{}/providers/{}", self.pool_name(), self.provider)
    }

    /// Reads an IAM member for `roles/iam.workloadIdentityUser`, in its canonical form:
    ///
    /// - `principal://iam.googleapis.com/…/subject/ARN` and `principalSet://iam.googleapis.com/…`
    ///   as they are;
    /// - an `attribute.aws_role` value (`arn:aws:sts::ACCOUNT:assumed-role/ROLE`), an assumed-role
    ///   ARN with its session, or an IAM role ARN (`arn:aws:iam::ACCOUNT:role/[PATH/]ROLE`): the
    ///   pool's `principalSet://…/attribute.aws_role/arn:aws:sts::ACCOUNT:assumed-role/ROLE`.
    pub fn member(&self, text: &str) -> Result<String, ParseError> {
        let invalid = || ParseError::Member(text.to_owned());
        if text.starts_with("principal://iam.googleapis.com/")
            || text.starts_with("principalSet://iam.googleapis.com/")
        {
            return Ok(text.to_owned());
        }
        let role = aws_role_of_role_arn(text).ok_or_else(invalid)?;
        Ok(self.aws_role_member(&role))
    }

    /// The members a federated identity with this `GetCallerIdentity` ARN belongs to: its subject
    /// (`google.subject` is the ARN), its `attribute.aws_role`, and the whole pool.
    pub fn members_of(&self, arn: &str) -> Vec<String> {
        let pool = self.pool_name();
        vec![
            format!("principal:{pool}/subject/{arn}"),
            self.aws_role_member(&aws_role_of(arn)),
            format!("principalSet:{pool}/*"),
        ]
    }

    fn aws_role_member(&self, aws_role: &str) -> String {
        format!(
            "principalSet:{}/attribute.aws_role/{aws_role}",
            self.pool_name()
        )
    }

    /// The members bound at start: `users`, or the roles of all `aws_identities` when empty.
    pub fn initial_members(&self) -> Result<Vec<String>, ParseError> {
        if self.users.is_empty() {
            return Ok(self
                .aws_identities
                .iter()
                .map(|identity| self.aws_role_member(&aws_role_of(&identity.arn)))
                .collect());
        }
        self.users.iter().map(|user| self.member(user)).collect()
    }
}

/// `attribute.aws_role` as Google's default mapping for AWS providers derives it from the ARN
/// `GetCallerIdentity` answers: an assumed role without its session
/// (`arn:aws:sts::ACCOUNT:assumed-role/ROLE`), any other ARN as it is.
pub fn aws_role_of(arn: &str) -> String {
    match arn.split_once("assumed-role/") {
        Some((account, rest)) => {
            let role = rest.split('/').next().unwrap_or_default();
            format!("{account}assumed-role/{role}")
        }
        None => arn.to_owned(),
    }
}

/// The `attribute.aws_role` of a role given as an assumed-role ARN (with or without its session)
/// or as an IAM role ARN; `None` for anything else.
fn aws_role_of_role_arn(text: &str) -> Option<String> {
    let mut parts = text.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let valid_account = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    if !partition.starts_with("aws") || !valid_account {
        return None;
    }
    let role = match (service, resource.split_once('/')) {
        ("sts", Some(("assumed-role", rest))) => rest.split('/').next(),
        ("iam", Some(("role", path_and_name))) => path_and_name.rsplit('/').next(),
        _ => None,
    }
    .filter(|role| !role.is_empty())?;
    Some(format!(
        "arn:{partition}:sts::{account}:assumed-role/{role}"
    ))
}

/// An AWS identity local-gke recognises in a signed `GetCallerIdentity` request, as AWS would:
/// its credentials, and the ARN `GetCallerIdentity` answers with.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AwsIdentity {
    /// The access key id, in the signature's `Credential`.
    pub access_key_id: String,
    /// The secret access key that signs.
    pub secret_access_key: String,
    /// The session token of temporary credentials (a Lambda function's always have one); the
    /// request must then carry it in `x-amz-security-token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// The caller's ARN, e.g. `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub arn: String,
}

impl fmt::Debug for AwsIdentity {
    // The secret and the session token are credentials: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsIdentity")
            .field("access_key_id", &self.access_key_id)
            .field("arn", &self.arn)
            .finish_non_exhaustive()
    }
}

impl AwsIdentity {
    /// The default test identity: [`TEST_AWS_ACCESS_KEY_ID`], [`TEST_AWS_SECRET_ACCESS_KEY`],
    /// [`TEST_AWS_SESSION_TOKEN`], [`TEST_AWS_ROLE_ARN`].
    pub fn test_default() -> Self {
        AwsIdentity {
            access_key_id: TEST_AWS_ACCESS_KEY_ID.to_owned(),
            secret_access_key: TEST_AWS_SECRET_ACCESS_KEY.to_owned(),
            session_token: Some(TEST_AWS_SESSION_TOKEN.to_owned()),
            arn: TEST_AWS_ROLE_ARN.to_owned(),
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

/// Permission for one identity to get, update and patch one deployment's scale (as a Role with
/// `resourceNames: [NAME]` and its RoleBinding would give it): `IDENTITY=NS/NAME`, where the
/// identity is an email or a numeric account id. The admin API can widen or narrow the verbs and
/// resources of a grant.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// An email or a numeric id, as the Kubernetes API sees the caller.
    pub identity: String,
    /// The deployment's namespace.
    pub namespace: String,
    /// The deployment's name.
    pub deployment: String,
}

/// A `coordination.k8s.io/v1` Lease held at start, with an empty spec: `NS/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSeed {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
}

/// Permission for one identity to use one named Lease, as a Role rule with
/// `apiGroups: ["coordination.k8s.io"]`, `resources: ["leases"]`, `resourceNames: [LEASE]` and
/// `verbs` would give it (bound to the identity as a User): the body of `POST` and `DELETE
/// /_admin/lease-grants`, and `IDENTITY=NS/NAME` on the command line. `verbs` left out means
/// `get` and `update` (what a compare and swap needs); answers always fill them in, sorted.
///
/// ```
/// # use local_gke::LeaseGrant;
/// let cas = LeaseGrant::new("scaler@p.iam.gserviceaccount.com", "ml", "gpu-pool");
/// let read_only = cas.clone().verbs(["get"]);
/// let may_create_by_put = cas.verbs(["get", "update", "create"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseGrant {
    /// An email or a numeric id, as the Kubernetes API sees the caller.
    pub identity: String,
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub lease: String,
    /// Kubernetes verbs (`get`, `update`, `create`, ... or `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbs: Option<Vec<String>>,
}

impl LeaseGrant {
    /// The default grant: `get` and `update` on the Lease.
    pub fn new(identity: &str, namespace: &str, lease: &str) -> Self {
        LeaseGrant {
            identity: identity.to_owned(),
            namespace: namespace.to_owned(),
            lease: lease.to_owned(),
            verbs: None,
        }
    }

    /// The same grant with these verbs.
    pub fn verbs<const N: usize>(self, verbs: [&str; N]) -> Self {
        LeaseGrant {
            verbs: Some(verbs.map(str::to_owned).to_vec()),
            ..self
        }
    }
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
    /// Not `NS/NAME`.
    #[error("expected NS/NAME, got {0:?}")]
    Lease(String),
    /// Not `ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]=ARN`.
    #[error("expected ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]=arn:…, got {0:?}")]
    AwsIdentity(String),
    /// Not an IAM member, an assumed-role ARN or an IAM role ARN.
    #[error("expected principal://…, principalSet://…, arn:aws:sts::ACCOUNT:assumed-role/ROLE or arn:aws:iam::ACCOUNT:role/ROLE, got {0:?}")]
    Member(String),
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

impl FromStr for LeaseSeed {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (namespace, name) =
            namespace_and_name(text).ok_or_else(|| ParseError::Lease(text.to_owned()))?;
        Ok(LeaseSeed { namespace, name })
    }
}

impl FromStr for LeaseGrant {
    type Err = ParseError;

    /// `IDENTITY=NS/NAME`, as a deployment's [`Grant`]: the default verbs.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Grant {
            identity,
            namespace,
            deployment,
        } = text.parse()?;
        Ok(LeaseGrant::new(&identity, &namespace, &deployment))
    }
}

impl FromStr for AwsIdentity {
    type Err = ParseError;

    /// `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]=ARN`. Keys and session tokens hold no
    /// `:`, and the ARN starts with `arn:`, so the first `=arn:` ends the credentials.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseError::AwsIdentity(text.to_owned());
        let at = text.find("=arn:").ok_or_else(invalid)?;
        let (credentials, arn) = (&text[..at], &text[at + 1..]);
        let parts: Vec<&str> = credentials.split(':').collect();
        let (access_key_id, secret_access_key, session_token) = match parts.as_slice() {
            [key, secret] => (*key, *secret, None),
            [key, secret, token] => (*key, *secret, Some(*token)),
            _ => return Err(invalid()),
        };
        if access_key_id.is_empty()
            || secret_access_key.is_empty()
            || session_token.is_some_and(str::is_empty)
        {
            return Err(invalid());
        }
        Ok(AwsIdentity {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            session_token: session_token.map(str::to_owned),
            arn: arn.to_owned(),
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
    fn a_lease_seed_is_a_namespace_and_a_name_and_a_lease_grant_reads_as_a_grant() {
        assert_eq!(
            "ml/gpu-pool".parse(),
            Ok(LeaseSeed {
                namespace: "ml".to_owned(),
                name: "gpu-pool".to_owned()
            })
        );
        for text in ["gpu-pool", "ml/", "/gpu-pool", "ml/a/b"] {
            assert!(text.parse::<LeaseSeed>().is_err(), "{text}");
        }
        assert_eq!(
            "scaler@p.iam.gserviceaccount.com=ml/gpu-pool".parse(),
            Ok(LeaseGrant::new(
                "scaler@p.iam.gserviceaccount.com",
                "ml",
                "gpu-pool"
            ))
        );
        assert!("=ml/gpu-pool".parse::<LeaseGrant>().is_err());
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

    #[test]
    fn the_audience_is_the_providers_full_resource_name() {
        assert_eq!(
            WorkloadIdentity::default().audience(),
            "//iam.googleapis.com/projects/424242424242/locations/global/workloadIdentityPools/queue-scaler/providers/aws"
        );
    }

    #[test]
    fn aws_role_drops_the_session_of_an_assumed_role_as_googles_default_mapping_does() {
        assert_eq!(
            aws_role_of(TEST_AWS_ROLE_ARN),
            "arn:aws:sts::123456789012:assumed-role/queue-scaler-scale-up"
        );
        assert_eq!(
            aws_role_of("arn:aws:iam::123456789012:user/alice"),
            "arn:aws:iam::123456789012:user/alice"
        );
    }

    #[test]
    fn a_member_is_read_from_a_role_arn_in_any_of_its_forms() -> Result<(), ParseError> {
        let pool = WorkloadIdentity::default();
        let expected = format!(
            "principalSet:{}/attribute.aws_role/arn:aws:sts::123456789012:assumed-role/scaler",
            pool.pool_name()
        );
        for text in [
            "arn:aws:sts::123456789012:assumed-role/scaler",
            "arn:aws:sts::123456789012:assumed-role/scaler/session",
            "arn:aws:iam::123456789012:role/scaler",
            "arn:aws:iam::123456789012:role/service-role/scaler",
        ] {
            assert_eq!(pool.member(text)?, expected, "{text}");
        }
        let subject = format!("principal:{}/subject/{TEST_AWS_ROLE_ARN}", pool.pool_name());
        assert_eq!(pool.member(&subject)?, subject);
        for text in [
            "scaler",
            "arn:aws:iam::123456789012:user/alice",
            "arn:aws:sts::12345:assumed-role/scaler",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert!(pool.member(text).is_err(), "{text}");
        }
        Ok(())
    }

    #[test]
    fn an_identity_belongs_to_its_subject_its_role_and_the_pool() -> Result<(), ParseError> {
        let pool = WorkloadIdentity::default();
        let members = pool.members_of(TEST_AWS_ROLE_ARN);
        assert!(
            members.contains(&pool.member("arn:aws:iam::123456789012:role/queue-scaler-scale-up")?)
        );
        assert!(!members
            .contains(&pool.member("arn:aws:iam::123456789012:role/queue-scaler-scale-down")?));
        assert_eq!(pool.initial_members()?, vec![members[1].clone()]);
        Ok(())
    }

    #[test]
    fn an_aws_identity_reads_credentials_then_the_arn() {
        let identity: AwsIdentity =
            "AKID:se/cr+et:to+k/en===arn:aws:sts::123456789012:assumed-role/r/s"
                .parse()
                .expect("valid identity");
        assert_eq!(identity.access_key_id, "AKID");
        assert_eq!(identity.secret_access_key, "se/cr+et");
        assert_eq!(identity.session_token.as_deref(), Some("to+k/en=="));
        assert_eq!(identity.arn, "arn:aws:sts::123456789012:assumed-role/r/s");
        let identity: AwsIdentity = "AKID:secret=arn:aws:iam::123456789012:user/alice"
            .parse()
            .expect("valid identity");
        assert_eq!(identity.session_token, None);
        for text in [
            "AKID=arn:aws:x",
            "AKID:secret",
            ":secret=arn:aws:x",
            "AKID::=arn:aws:x",
            "AKID:secret:token:more=arn:aws:x",
        ] {
            assert!(text.parse::<AwsIdentity>().is_err(), "{text}");
        }
    }

    #[test]
    fn an_aws_identitys_debug_shows_no_secret() {
        let debug = format!("{:?}", AwsIdentity::test_default());
        assert!(!debug.contains(TEST_AWS_SECRET_ACCESS_KEY));
        assert!(!debug.contains(TEST_AWS_SESSION_TOKEN));
        assert!(debug.contains(TEST_AWS_ACCESS_KEY_ID));
    }
}
