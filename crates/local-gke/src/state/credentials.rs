//! Google's side of who may call: the access tokens the token endpoint and `generateAccessToken`
//! issue and how long they live, the federated tokens Google STS's exchange issues, the AWS
//! identities signed requests may come from and the members bound as workload identity users.
//! The token endpoint, STS, IAM Credentials, TokenReview and every bearer check read it. No I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use super::random_text;
use crate::config::AwsIdentity;

/// An access token local-gke issued.
#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    /// Who the token is, as GKE sees it: an email or a numeric id.
    pub identity: String,
    /// The scopes it was granted.
    pub scopes: Vec<String>,
    /// When it stops working.
    pub expires_at: Instant,
}

/// A federated token Google's STS exchange issued for a signed AWS request. It only lets its
/// holder impersonate a service account it is bound to: no cluster or Google API accepts it.
#[derive(Debug, Clone)]
pub(crate) struct FederatedToken {
    /// The ARN AWS answered `GetCallerIdentity` with (`google.subject`).
    pub arn: String,
    /// The scopes it was granted.
    pub scopes: Vec<String>,
    /// When it stops working.
    pub expires_at: Instant,
}

/// Why a bearer token is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    /// local-gke never issued it.
    Unknown,
    /// It was issued but its lifetime is over.
    Expired,
}

/// The tokens issued and the identities recognised.
pub(crate) struct Credentials {
    token_lifetime: Duration,
    tokens: HashMap<String, IssuedToken>,
    federated_tokens: HashMap<String, FederatedToken>,
    aws_identities: BTreeMap<String, AwsIdentity>,
    workload_identity_users: BTreeSet<String>,
}

impl fmt::Debug for Credentials {
    // Tokens are credentials: show how many there are, not what they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("token_lifetime", &self.token_lifetime)
            .field("tokens", &self.tokens.len())
            .field("federated_tokens", &self.federated_tokens.len())
            .field(
                "aws_identities",
                &self.aws_identities.values().collect::<Vec<_>>(),
            )
            .field("workload_identity_users", &self.workload_identity_users)
            .finish()
    }
}

impl Credentials {
    /// No token issued, no identity recognised; tokens will live `token_lifetime`.
    pub(crate) fn new(token_lifetime: Duration) -> Self {
        Credentials {
            token_lifetime,
            tokens: HashMap::new(),
            federated_tokens: HashMap::new(),
            aws_identities: BTreeMap::new(),
            workload_identity_users: BTreeSet::new(),
        }
    }

    pub(crate) fn token_lifetime(&self) -> Duration {
        self.token_lifetime
    }

    pub(crate) fn set_token_lifetime(&mut self, lifetime: Duration) {
        self.token_lifetime = lifetime;
    }

    /// Revokes every access token and federated token issued so far, live or not: a bearer
    /// that presents one is refused from now on. Answers how many access tokens were live.
    pub(crate) fn revoke_tokens(&mut self) -> usize {
        let now = Instant::now();
        let live = self.tokens.values().filter(|t| t.expires_at > now).count();
        self.tokens.clear();
        self.federated_tokens.clear();
        live
    }

    /// Issues a new access token for `identity` that lives for the current token lifetime.
    pub(crate) fn issue_token(&mut self, identity: &str, scopes: Vec<String>) -> String {
        self.issue_token_for(identity, scopes, self.token_lifetime)
    }

    /// Issues a new access token for `identity` that lives for `lifetime`.
    pub(crate) fn issue_token_for(
        &mut self,
        identity: &str,
        scopes: Vec<String>,
        lifetime: Duration,
    ) -> String {
        let token = format!("ya29.{}", random_text(120));
        self.tokens.insert(
            token.clone(),
            IssuedToken {
                identity: identity.to_owned(),
                scopes,
                expires_at: Instant::now() + lifetime,
            },
        );
        token
    }

    /// The token's grant, if it was issued here and has not expired.
    pub(crate) fn live_token(&self, token: &str) -> Result<&IssuedToken, TokenProblem> {
        let issued = self.tokens.get(token).ok_or(TokenProblem::Unknown)?;
        if Instant::now() >= issued.expires_at {
            return Err(TokenProblem::Expired);
        }
        Ok(issued)
    }

    /// Issues a federated token for the AWS caller `arn` that lives for the current token
    /// lifetime.
    pub(crate) fn issue_federated_token(&mut self, arn: &str, scopes: Vec<String>) -> String {
        // Google's federated tokens are opaque, like its access tokens.
        let token = format!("ya29.d.{}", random_text(120));
        self.federated_tokens.insert(
            token.clone(),
            FederatedToken {
                arn: arn.to_owned(),
                scopes,
                expires_at: Instant::now() + self.token_lifetime,
            },
        );
        token
    }

    /// The federated token's grant, if it was issued here and has not expired.
    pub(crate) fn live_federated_token(
        &self,
        token: &str,
    ) -> Result<&FederatedToken, TokenProblem> {
        let issued = self
            .federated_tokens
            .get(token)
            .ok_or(TokenProblem::Unknown)?;
        if Instant::now() >= issued.expires_at {
            return Err(TokenProblem::Expired);
        }
        Ok(issued)
    }

    /// Recognise `identity`'s signed requests from now on (replacing one with its access key).
    pub(crate) fn add_aws_identity(&mut self, identity: AwsIdentity) {
        self.aws_identities
            .insert(identity.access_key_id.clone(), identity);
    }

    /// The AWS identities signed requests may come from, by access key id.
    pub(crate) fn aws_identities(&self) -> &BTreeMap<String, AwsIdentity> {
        &self.aws_identities
    }

    /// Grant `member` `roles/iam.workloadIdentityUser` on the service account.
    pub(crate) fn add_workload_identity_user(&mut self, member: String) {
        self.workload_identity_users.insert(member);
    }

    /// Whether any of `members` holds `roles/iam.workloadIdentityUser` on the service account.
    pub(crate) fn is_workload_identity_user(&self, members: &[String]) -> bool {
        members
            .iter()
            .any(|member| self.workload_identity_users.contains(member))
    }
}
