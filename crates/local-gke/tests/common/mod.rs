//! Shared by the integration tests: start local-gke in-process on ephemeral ports, HTTPS clients
//! that trust only its generated CAs (and its admin API's client), JWT-bearer assertions signed
//! here, independently of the server's own checking code, and [`Scaler`], the set-up most tests
//! start from.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::error::Error;

use std::ops::Deref;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use local_gke::admin::{Listener, RecordedRequest, RequestKind};
use local_gke::{
    lease_path, scale_path, AdminClient, Config, LocalGke, CLOUD_PLATFORM_SCOPE,
    USERINFO_EMAIL_SCOPE,
};
use reqwest::{Certificate, Client, Method, StatusCode};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::Sha256;

pub type TestResult = Result<(), Box<dyn Error>>;
pub type Fallible<T> = Result<T, Box<dyn Error>>;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The scopes queue-scaler asks for.
pub fn scaler_scopes() -> String {
    format!("{CLOUD_PLATFORM_SCOPE} {USERINFO_EMAIL_SCOPE}")
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An HTTPS client that trusts only `ca_pem`.
pub fn client_trusting(ca_pem: &str) -> Fallible<Client> {
    Ok(Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(Certificate::from_pem(ca_pem.as_bytes())?)
        .build()?)
}

/// Signs `claims` as an RS256 JWT with `header`.
pub fn sign_with(key: &RsaPrivateKey, header: &Value, claims: &Value) -> String {
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let signing_input = format!("{}.{}", encode(header), encode(claims));
    let signature = SigningKey::<Sha256>::new(key.clone())
        .sign(signing_input.as_bytes())
        .to_vec();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Each logged request as (listener, method, kind, status), in order: what the request-log
/// tests compare.
pub fn summary(requests: &[RecordedRequest]) -> Vec<(Listener, &str, RequestKind, u16)> {
    requests
        .iter()
        .map(|r| (r.listener, r.method.as_str(), r.kind, r.status))
        .collect()
}

/// An object's `metadata.resourceVersion`, read as the number local-gke makes it.
pub fn resource_version(object: &Value) -> Fallible<u64> {
    Ok(object["metadata"]["resourceVersion"]
        .as_str()
        .ok_or("resourceVersion is not a string")?
        .parse()?)
}

/// A running local-gke with clients for both listeners and its admin API, and the key from its
/// key file.
pub struct Harness {
    pub gke: LocalGke,
    pub google: Client,
    pub cluster: Client,
    pub admin: AdminClient,
    pub key_file: Value,
    pub key: RsaPrivateKey,
}

impl Harness {
    /// local-gke with the command line's defaults: ml/model-worker at 2 replicas, granted to
    /// the service account's email.
    pub async fn start() -> Fallible<Self> {
        Self::start_with(Config::default()).await
    }

    /// local-gke with its defaults, whose tokens live `seconds` (set through the admin API).
    pub async fn with_token_lifetime(seconds: u64) -> Fallible<Self> {
        let harness = Self::start().await?;
        harness
            .admin
            .set_token_lifetime(Duration::from_secs(seconds))
            .await?;
        Ok(harness)
    }

    pub async fn start_with(config: Config) -> Fallible<Self> {
        let gke = LocalGke::start(config).await?;
        let key_file = gke.key_file()?;
        let pem = key_file["private_key"]
            .as_str()
            .ok_or("the key file has no private_key")?;
        let key = RsaPrivateKey::from_pkcs8_pem(pem)?;
        Ok(Harness {
            google: client_trusting(gke.google_ca_pem())?,
            cluster: client_trusting(gke.cluster_ca_pem())?,
            admin: gke.admin_client()?,
            gke,
            key_file,
            key,
        })
    }

    pub fn email(&self) -> &str {
        self.gke.service_account().email()
    }

    pub fn client_id(&self) -> &str {
        self.gke.service_account().client_id()
    }

    /// Claims that Google accepts, the way gcp_auth builds them.
    pub fn valid_claims(&self, scope: &str) -> Value {
        let iat = now();
        json!({
            "iss": self.key_file["client_email"],
            "aud": self.key_file["token_uri"],
            "iat": iat,
            "exp": iat + 3595,
            "scope": scope,
        })
    }

    /// Signs `claims` with the service account's key.
    pub fn sign(&self, claims: &Value) -> String {
        sign_with(&self.key, &json!({"alg": "RS256", "typ": "JWT"}), claims)
    }

    /// Posts a token request; returns the status and the JSON body.
    pub async fn request_token(
        &self,
        grant_type: &str,
        assertion: &str,
    ) -> Fallible<(StatusCode, Value)> {
        let response = self
            .google
            .post(self.gke.token_uri())
            .form(&[("grant_type", grant_type), ("assertion", assertion)])
            .send()
            .await?;
        Ok((response.status(), response.json().await?))
    }

    /// An access token with these scopes.
    pub async fn token(&self, scope: &str) -> Fallible<String> {
        let assertion = self.sign(&self.valid_claims(scope));
        let (status, body) = self.request_token(JWT_BEARER, &assertion).await?;
        if status != StatusCode::OK {
            return Err(format!("token request failed: {status} {body}").into());
        }
        Ok(body["access_token"]
            .as_str()
            .ok_or("no access_token")?
            .to_owned())
    }

    /// An access token with the scopes queue-scaler asks for.
    pub async fn scaler_token(&self) -> Fallible<String> {
        self.token(&scaler_scopes()).await
    }

    pub fn scale_url(&self, namespace: &str, name: &str) -> String {
        format!("{}{}", self.gke.cluster_url(), scale_path(namespace, name))
    }

    pub fn cluster_get_url(&self) -> String {
        format!("{}/v1/{}", self.gke.google_url(), self.gke.cluster_name())
    }

    /// A request to the cluster listener, with a bearer token if given and a body of a content
    /// type if given; returns the status and the JSON body.
    pub async fn cluster_request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, String)>,
    ) -> Fallible<(StatusCode, Value)> {
        let mut request = self
            .cluster
            .request(method, format!("{}{path}", self.gke.cluster_url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        let response = request.send().await?;
        Ok((response.status(), response.json().await?))
    }

    /// GETs `path` on the cluster listener with `token`; returns the status and the JSON body.
    pub async fn get_with(&self, path: &str, token: &str) -> Fallible<(StatusCode, Value)> {
        self.cluster_request(Method::GET, path, Some(token), None)
            .await
    }

    /// PUTs `body` as JSON to `path` on the cluster listener with `token`; returns the status
    /// and the JSON body.
    pub async fn put_json(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> Fallible<(StatusCode, Value)> {
        let body = ("application/json", body.to_string());
        self.cluster_request(Method::PUT, path, Some(token), Some(body))
            .await
    }

    /// GETs a deployment's scale; returns the status and the JSON body.
    pub async fn get_scale(
        &self,
        namespace: &str,
        name: &str,
        token: &str,
    ) -> Fallible<(StatusCode, Value)> {
        self.get_with(&scale_path(namespace, name), token).await
    }

    /// PUTs a Scale body; returns the status and the JSON body.
    pub async fn put_scale(
        &self,
        namespace: &str,
        name: &str,
        token: &str,
        body: &Value,
    ) -> Fallible<(StatusCode, Value)> {
        self.put_json(&scale_path(namespace, name), token, body)
            .await
    }

    /// GETs a Lease; returns the status and the JSON body.
    pub async fn get_lease(
        &self,
        namespace: &str,
        name: &str,
        token: &str,
    ) -> Fallible<(StatusCode, Value)> {
        self.get_with(&lease_path(namespace, name), token).await
    }

    /// PUTs a Lease body; returns the status and the JSON body.
    pub async fn put_lease(
        &self,
        namespace: &str,
        name: &str,
        token: &str,
        body: &Value,
    ) -> Fallible<(StatusCode, Value)> {
        self.put_json(&lease_path(namespace, name), token, body)
            .await
    }

    /// GETs the cluster (`clusters.get`) on the Google listener with `token`.
    pub async fn get_cluster(&self, token: &str) -> Fallible<reqwest::Response> {
        Ok(self
            .google
            .get(self.cluster_get_url())
            .bearer_auth(token)
            .send()
            .await?)
    }

    /// The replicas the admin API reports for a deployment.
    pub async fn replicas(&self, namespace: &str, name: &str) -> Fallible<i32> {
        Ok(self.admin.deployment(namespace, name).await?.replicas)
    }
}

/// What most tests start from: local-gke with its defaults (`ml/model-worker` at 2 replicas,
/// granted to the service account's email) and a token with the scopes queue-scaler asks for.
/// It reads as the [`Harness`] it holds.
pub struct Scaler {
    pub harness: Harness,
    pub token: String,
}

impl Deref for Scaler {
    type Target = Harness;

    fn deref(&self) -> &Harness {
        &self.harness
    }
}

impl Scaler {
    pub async fn start() -> Fallible<Self> {
        Self::on(Harness::start().await?).await
    }

    /// The scaler's token from `harness`.
    pub async fn on(harness: Harness) -> Fallible<Self> {
        let token = harness.scaler_token().await?;
        Ok(Scaler { harness, token })
    }

    /// A request to the cluster listener with the scaler's token.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Fallible<(StatusCode, Value)> {
        self.cluster_request(method, path, Some(&self.token), body)
            .await
    }

    /// GETs the scale of `ml/{name}`.
    pub async fn get(&self, name: &str) -> Fallible<(StatusCode, Value)> {
        self.get_scale("ml", name, &self.token).await
    }

    /// PUTs a Scale body to `ml/{name}`.
    pub async fn put(&self, name: &str, body: &Value) -> Fallible<(StatusCode, Value)> {
        self.put_scale("ml", name, &self.token, body).await
    }

    /// PATCHes the scale of `ml/{name}` with a body of `content_type`.
    pub async fn patch(
        &self,
        name: &str,
        content_type: &str,
        body: &Value,
    ) -> Fallible<(StatusCode, Value)> {
        let body = Some((content_type, body.to_string()));
        self.send(Method::PATCH, &scale_path("ml", name), body)
            .await
    }

    /// The replicas of `ml/{name}`, as the admin API reports them.
    pub async fn replicas_of(&self, name: &str) -> Fallible<i32> {
        self.replicas("ml", name).await
    }
}

/// A fresh directory under the system's temporary directory, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Fallible<Self> {
        let path = std::env::temp_dir().join(format!(
            "local-gke-test-{name}-{}-{}",
            std::process::id(),
            now()
        ));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
