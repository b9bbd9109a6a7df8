//! Google OAuth2 access tokens for the service account, through `gcp_auth`'s service-account
//! provider. `gcp_auth` caches the token, so a warm invocation makes no token request; the
//! provider is rebuilt only to force a refresh after the cluster answered 401.

use crate::error::Error;
use crate::key::ServiceAccountKey;
use gcp_auth::{CustomServiceAccount, TokenProvider};
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
    /// The identity tokens are for, for messages.
    fn account(&self) -> &str;
}

/// Tokens for one service account.
pub struct GoogleTokens {
    key: ServiceAccountKey,
    scopes: Vec<String>,
    provider: RwLock<Arc<CustomServiceAccount>>,
}

impl std::fmt::Debug for GoogleTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleTokens")
            .field("account", &self.key.client_email)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl GoogleTokens {
    /// Build the provider once, at start-up. Fails if the private key cannot sign.
    pub fn new(key: ServiceAccountKey, scopes: Vec<String>) -> Result<Self, Error> {
        let provider = Self::provider(&key)?;
        Ok(GoogleTokens {
            key,
            scopes,
            provider: RwLock::new(provider),
        })
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

    async fn fetch(&self, provider: Arc<CustomServiceAccount>) -> Result<SecretString, Error> {
        let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        let token = provider
            .token(&scopes)
            .await
            .map_err(|source| Error::Token {
                account: self.key.client_email.clone(),
                source,
            })?;
        Ok(SecretString::from(token.as_str().to_owned()))
    }
}

impl TokenSource for GoogleTokens {
    async fn token(&self) -> Result<SecretString, Error> {
        let provider = self.provider.read().await.clone();
        self.fetch(provider).await
    }

    async fn refresh(&self) -> Result<SecretString, Error> {
        let fresh = Self::provider(&self.key)?;
        *self.provider.write().await = fresh.clone();
        self.fetch(fresh).await
    }

    fn account(&self) -> &str {
        &self.key.client_email
    }
}
