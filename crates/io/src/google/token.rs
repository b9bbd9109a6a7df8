//! Google OAuth2 access tokens for the service account: from its key, through `gcp_auth`'s
//! service-account provider, or keyless, through Workload Identity Federation
//! (`crate::google::external`). Both cache the token, so a warm invocation makes no token request; a
//! refresh after the cluster answered 401 ignores the cache.
//!
//! The key is loaded on first use, not at start-up: a failed `GetSecretValue` is then an
//! ordinary failure of one invocation, retried with the same backoff as every other call and
//! tried again on the next invocation, instead of breaking the container for its life.
//! Every token request is bounded in time, since `gcp_auth` sets no timeout of its own.

use crate::aws::AwsClient;
use crate::error::Error;
use crate::google::external::ExternalTokens;
use crate::google::key::{Credentials, ServiceAccountKey};
use crate::http::REQUEST_TIMEOUT;
use gcp_auth::{CustomServiceAccount, TokenProvider};
use queue_scaler_core::config::KeySource;
use secrecy::{ExposeSecret, SecretString};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::RwLock;

/// Where bearer tokens come from. The handler is tested with a fake.
pub trait TokenSource: Send + Sync {
    /// A valid token, from cache when possible.
    fn token(&self) -> impl Future<Output = Result<SecretString, Error>> + Send;
    /// A new token, ignoring the cache (after a 401).
    fn refresh(&self) -> impl Future<Output = Result<SecretString, Error>> + Send;
}

/// What tokens come from once the credentials are loaded; cheap to clone (both are shared).
#[derive(Clone)]
enum Provider {
    /// A service-account key, through `gcp_auth` (it caches the token).
    Key(Arc<CustomServiceAccount>),
    /// Keyless, through Workload Identity Federation (cached by [`ExternalTokens`]).
    External(Arc<ExternalTokens>),
}

/// Loaded credentials and the provider built from them.
struct Loaded {
    key: Option<Arc<ServiceAccountKey>>,
    account: String,
    provider: Provider,
}

impl Loaded {
    fn parts(&self) -> (String, Provider) {
        (self.account.clone(), self.provider.clone())
    }
}

/// Tokens for one service account, from its key or keyless.
pub struct GoogleTokens {
    source: KeySource,
    aws: Option<AwsClient>,
    /// The container's client for Google's endpoints: keyless tokens are fetched with it.
    http: reqwest::Client,
    scopes: Vec<String>,
    loaded: RwLock<Option<Loaded>>,
}

impl std::fmt::Debug for GoogleTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleTokens")
            .field("source", &self.source)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl GoogleTokens {
    /// Tokens for the credentials at `source`, loaded on first use. `aws` reads a Secrets
    /// Manager secret and, keyless, signs the AWS identity; `http` is the container's client for
    /// Google's endpoints ([`crate::http::public_client`]), with which keyless tokens are
    /// fetched. The only constructor: every token source trusts the configured roots. No I/O
    /// here.
    pub fn lazy(
        source: KeySource,
        aws: Option<AwsClient>,
        http: reqwest::Client,
        scopes: Vec<String>,
    ) -> Self {
        GoogleTokens {
            source,
            aws,
            http,
            scopes,
            loaded: RwLock::new(None),
        }
    }

    fn key_provider(key: &ServiceAccountKey) -> Result<Arc<CustomServiceAccount>, Error> {
        CustomServiceAccount::from_json(key.json.expose_secret())
            .map(Arc::new)
            .map_err(|e| Error::Key {
                origin: key.origin.clone(),
                // gcp_auth's messages name the problem (e.g. an unparseable private key), not the key.
                detail: e.to_string(),
            })
    }

    /// Build the provider for loaded credentials.
    fn provider(&self, credentials: Credentials) -> Result<Loaded, Error> {
        match credentials {
            Credentials::Key(key) => Ok(Loaded {
                account: key.client_email.clone(),
                provider: Provider::Key(Self::key_provider(&key)?),
                key: Some(Arc::new(key)),
            }),
            Credentials::External(account) => {
                let aws = self.aws.clone().ok_or_else(|| Error::Key {
                    origin: account.origin.clone(),
                    detail: "keyless needs the function's AWS identity: AWS_REGION, AWS_ACCESS_KEY_ID and \
                             AWS_SECRET_ACCESS_KEY in the environment (Lambda sets them; the instance \
                             metadata service is never asked)"
                        .into(),
                })?;
                let tokens =
                    ExternalTokens::new(account, aws, self.http.clone(), self.scopes.clone());
                Ok(Loaded {
                    account: tokens.service_account().to_owned(),
                    key: None,
                    provider: Provider::External(Arc::new(tokens)),
                })
            }
        }
    }

    /// The account and provider; loads the credentials when this is the first use, or when the
    /// last attempt failed. With `fresh`, a key's provider is rebuilt, dropping its cached token.
    async fn current(&self, fresh: bool) -> Result<(String, Provider), Error> {
        if !fresh {
            if let Some(l) = self.loaded.read().await.as_ref() {
                return Ok(l.parts());
            }
        }
        let mut slot = self.loaded.write().await;
        match slot.as_ref() {
            Some(l) if !fresh => return Ok(l.parts()),
            Some(Loaded {
                key: Some(key),
                account,
                ..
            }) => {
                let rebuilt = Loaded {
                    account: account.clone(),
                    provider: Provider::Key(Self::key_provider(key)?),
                    key: Some(key.clone()),
                };
                *slot = Some(rebuilt);
            }
            Some(_) => {}
            None => {
                let credentials = Credentials::load(&self.source, self.aws.as_ref()).await?;
                tracing::info!(account = %credentials.account(), keyless = matches!(credentials, Credentials::External(_)), "Google credentials loaded");
                *slot = Some(self.provider(credentials)?);
            }
        }
        slot.as_ref().map(Loaded::parts).ok_or_else(|| Error::Key {
            origin: "credentials".into(),
            detail: "not loaded".into(),
        })
    }

    async fn fetch(
        &self,
        account: &str,
        provider: Provider,
        fresh: bool,
    ) -> Result<SecretString, Error> {
        let timeout = |what: &str| Error::Timeout {
            what: format!("the Google token request for {account}{what}"),
            after: REQUEST_TIMEOUT,
        };
        match provider {
            Provider::Key(provider) => {
                let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
                let token = tokio::time::timeout(REQUEST_TIMEOUT, provider.token(&scopes))
                    .await
                    .map_err(|_| timeout(""))?
                    .map_err(|source| Error::Token {
                        account: account.to_owned(),
                        source,
                    })?;
                Ok(SecretString::from(token.as_str().to_owned()))
            }
            // Two requests (exchange, then impersonation), each bounded by the client's timeout.
            Provider::External(tokens) => {
                tokio::time::timeout(2 * REQUEST_TIMEOUT, tokens.token(fresh))
                    .await
                    .map_err(|_| timeout(" (keyless)"))?
            }
        }
    }
}

impl GoogleTokens {
    /// The service account's email, and whether it is keyless; loads the credentials if needed.
    pub async fn account(&self) -> Result<(String, bool), Error> {
        let (account, provider) = self.current(false).await?;
        Ok((account, matches!(provider, Provider::External(_))))
    }
}

impl TokenSource for GoogleTokens {
    async fn token(&self) -> Result<SecretString, Error> {
        let (account, provider) = self.current(false).await?;
        self.fetch(&account, provider, false).await
    }

    async fn refresh(&self) -> Result<SecretString, Error> {
        let (account, provider) = self.current(true).await?;
        self.fetch(&account, provider, true).await
    }
}
