//! Google OAuth2 access tokens for the service account, through `gcp_auth`'s service-account
//! provider. `gcp_auth` caches the token, so a warm invocation makes no token request; the
//! provider is rebuilt only to force a refresh after the cluster answered 401.
//!
//! The key is loaded on first use, not at start-up: a failed `GetSecretValue` is then an
//! ordinary failure of one invocation, retried with the same backoff as every other call and
//! tried again on the next invocation, instead of breaking the container for its life.
//! Every token request is bounded in time, since `gcp_auth` sets no timeout of its own.

use crate::aws::AwsClient;
use crate::cluster::REQUEST_TIMEOUT;
use crate::error::Error;
use crate::key::ServiceAccountKey;
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

/// A loaded key and the provider built from it.
struct Loaded {
    key: Arc<ServiceAccountKey>,
    provider: Arc<CustomServiceAccount>,
}

/// Tokens for one service account.
pub struct GoogleTokens {
    source: KeySource,
    aws: Option<AwsClient>,
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
    /// Tokens for a key that is already loaded. Fails if the private key cannot sign.
    pub fn new(key: ServiceAccountKey, scopes: Vec<String>) -> Result<Self, Error> {
        let provider = Self::provider(&key)?;
        let source = KeySource::Inline(key.json.clone());
        Ok(GoogleTokens {
            source,
            aws: None,
            scopes,
            loaded: RwLock::new(Some(Loaded {
                key: Arc::new(key),
                provider,
            })),
        })
    }

    /// Tokens for the key at `source`, loaded on first use (`aws` reads a Secrets Manager
    /// secret). No I/O here.
    pub fn lazy(source: KeySource, aws: Option<AwsClient>, scopes: Vec<String>) -> Self {
        GoogleTokens {
            source,
            aws,
            scopes,
            loaded: RwLock::new(None),
        }
    }

    fn provider(key: &ServiceAccountKey) -> Result<Arc<CustomServiceAccount>, Error> {
        CustomServiceAccount::from_json(key.json.expose_secret())
            .map(Arc::new)
            .map_err(|e| Error::Key {
                origin: key.origin.clone(),
                // gcp_auth's messages name the problem (e.g. an unparseable private key), not the key.
                detail: e.to_string(),
            })
    }

    /// The loaded key and provider; loads them when this is the first use, or when the last
    /// attempt failed. With `fresh`, the provider is rebuilt, dropping its cached token.
    async fn current(
        &self,
        fresh: bool,
    ) -> Result<(Arc<ServiceAccountKey>, Arc<CustomServiceAccount>), Error> {
        if !fresh {
            if let Some(l) = self.loaded.read().await.as_ref() {
                return Ok((l.key.clone(), l.provider.clone()));
            }
        }
        let mut slot = self.loaded.write().await;
        let key = match slot.as_ref() {
            Some(l) if !fresh => return Ok((l.key.clone(), l.provider.clone())),
            Some(l) => l.key.clone(),
            None => {
                let key = Arc::new(ServiceAccountKey::load(&self.source, self.aws.as_ref()).await?);
                tracing::info!(account = %key.client_email, "service-account key loaded");
                key
            }
        };
        let provider = Self::provider(&key)?;
        *slot = Some(Loaded {
            key: key.clone(),
            provider: provider.clone(),
        });
        Ok((key, provider))
    }

    async fn fetch(
        &self,
        key: &ServiceAccountKey,
        provider: Arc<CustomServiceAccount>,
    ) -> Result<SecretString, Error> {
        let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        let token = tokio::time::timeout(REQUEST_TIMEOUT, provider.token(&scopes))
            .await
            .map_err(|_| Error::Timeout {
                what: format!("the Google token request for {}", key.client_email),
                after: REQUEST_TIMEOUT,
            })?
            .map_err(|source| Error::Token {
                account: key.client_email.clone(),
                source,
            })?;
        Ok(SecretString::from(token.as_str().to_owned()))
    }
}

impl TokenSource for GoogleTokens {
    async fn token(&self) -> Result<SecretString, Error> {
        let (key, provider) = self.current(false).await?;
        self.fetch(&key, provider).await
    }

    async fn refresh(&self) -> Result<SecretString, Error> {
        let (key, provider) = self.current(true).await?;
        self.fetch(&key, provider).await
    }
}
