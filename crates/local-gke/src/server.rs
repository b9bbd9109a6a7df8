//! Runs local-gke: generates its keys, binds the two HTTPS listeners on 127.0.0.1, serves each
//! connection (HTTP/2 or HTTP/1.1), applies injected faults, routes each request to the handlers
//! of what it is for ([`crate::google`], [`crate::federation`] and [`crate::admin`] on the google
//! listener, [`crate::kube`] on the cluster listener) and records it. The state directory
//! is written by [`crate::state_dir`]. This is where the I/O is, with the state directory.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use crate::app::{AdvertisedCluster, App};
use crate::config::{AwsIdentity, Config, ExternalCluster, Grant, LeaseGrant, WorkloadIdentity};
use crate::http::{json_response, Request, Response};
use crate::model::issuer::IssuerDocuments;
use crate::model::lease::LeaseContent;
use crate::model::request_log::Listener;
use crate::service_account::ServiceAccount;
use crate::state::{Authorization, Cluster, Credentials, Shared};
use crate::tls::ServingTls;
use crate::{admin, federation, google, id_token, kube, Error};

/// The largest request body read; scale bodies and assertions are a few kilobytes.
const MAX_BODY_BYTES: usize = 1 << 20;

/// A running local-gke. Dropping it stops both listeners and their connections.
pub struct LocalGke {
    app: Arc<App>,
    cluster_url: String,
    google_ca_pem: String,
    cluster_ca_pem: String,
    tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for LocalGke {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalGke")
            .field("google_url", &self.app.google_url)
            .field("cluster_url", &self.cluster_url)
            .field("service_account", &self.app.service_account)
            .finish_non_exhaustive()
    }
}

impl Drop for LocalGke {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl LocalGke {
    /// Generates the service account and both CAs, binds both listeners on 127.0.0.1 with
    /// ports the OS chooses, and starts serving. Connections are accepted once this returns.
    ///
    /// Generating the RSA key takes a noticeable moment; it runs on the calling thread.
    pub async fn start(config: Config) -> Result<Self, Error> {
        let service_account = ServiceAccount::generate(&config.project)?;
        let google_tls = ServingTls::generate("local-gke google CA", &["127.0.0.1", "localhost"])?;
        let cluster_tls = ServingTls::generate("local-gke cluster CA", &["127.0.0.1"])?;

        let bind = |listener: &'static str| async move {
            let socket = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|source| Error::Bind { listener, source })?;
            let address = socket
                .local_addr()
                .map_err(|source| Error::Bind { listener, source })?;
            Ok::<(TcpListener, SocketAddr), Error>((socket, address))
        };
        let (google_socket, google_address) = bind("google").await?;
        let (cluster_socket, cluster_address) = bind("cluster").await?;

        let advertised = match &config.external_cluster {
            Some(external) => AdvertisedCluster::external(external),
            None => AdvertisedCluster {
                url: format!("https://{cluster_address}"),
                endpoint: cluster_address.to_string(),
                ca_pem: cluster_tls.ca_pem.clone(),
            },
        };

        let members = config
            .workload_identity
            .initial_members()
            .map_err(Error::WorkloadIdentityUser)?;
        let mut credentials = Credentials::new(config.token_lifetime);
        for identity in &config.workload_identity.aws_identities {
            credentials.add_aws_identity(identity.clone());
        }
        for member in members {
            credentials.add_workload_identity_user(member);
        }
        let mut cluster = Cluster::default();
        let mut authorization = Authorization::default();
        for seed in &config.deployments {
            cluster.set_replicas(&seed.namespace, &seed.name, seed.replicas);
        }
        if config.grants.is_empty() {
            for seed in &config.deployments {
                authorization.grant(Grant {
                    identity: service_account.email().to_owned(),
                    namespace: seed.namespace.clone(),
                    deployment: seed.name.clone(),
                });
            }
        }
        for grant in &config.grants {
            authorization.grant(grant.clone());
        }
        for seed in &config.leases {
            cluster.put_lease(&seed.namespace, &seed.name, LeaseContent::default());
        }
        if config.lease_grants.is_empty() {
            for seed in &config.leases {
                let email = service_account.email();
                authorization.grant_lease(&LeaseGrant::new(email, &seed.namespace, &seed.name));
            }
        }
        for grant in &config.lease_grants {
            authorization.grant_lease(grant);
        }
        crate::model::node_pool::validate_node_pools(&config.node_pools)
            .map_err(Error::NodePools)?;
        cluster.set_node_pools(config.node_pools.clone());

        let app = Arc::new(App::new(
            config,
            service_account,
            Shared::new(credentials, authorization, cluster),
            format!("https://{google_address}"),
            advertised,
        ));
        let tasks = vec![
            tokio::spawn(serve(
                google_socket,
                google_tls.acceptor,
                app.clone(),
                Listener::Google,
            )),
            tokio::spawn(serve(
                cluster_socket,
                cluster_tls.acceptor,
                app.clone(),
                Listener::Cluster,
            )),
        ];
        Ok(LocalGke {
            app,
            cluster_url: format!("https://{cluster_address}"),
            google_ca_pem: google_tls.ca_pem,
            cluster_ca_pem: cluster_tls.ca_pem,
            tasks,
        })
    }

    /// The google listener: `https://127.0.0.1:GPORT` (the token endpoint, the GKE API, the
    /// TokenReview webhook and the admin API).
    pub fn google_url(&self) -> &str {
        &self.app.google_url
    }

    /// The cluster listener, our Kubernetes API: `https://127.0.0.1:KPORT`.
    pub fn cluster_url(&self) -> &str {
        &self.cluster_url
    }

    /// The token endpoint, `token_uri` in the key file.
    pub fn token_uri(&self) -> String {
        self.app.token_uri()
    }

    /// The admin API's base URL.
    pub fn admin_url(&self) -> String {
        format!("{}/_admin", self.app.google_url)
    }

    /// A client of this local-gke's admin API.
    #[cfg(feature = "admin-client")]
    pub fn admin_client(&self) -> Result<admin::AdminClient, admin::AdminError> {
        admin::AdminClient::new(&self.admin_url(), self.google_ca_pem())
    }

    /// The GKE metadata server's identity endpoint (`.../service-accounts/default/identity`),
    /// which takes `audience` and `format` and the header [`crate::POD_ADDRESS_HEADER`].
    pub fn metadata_identity_url(&self) -> String {
        format!("{}{}", self.app.google_url, id_token::IDENTITY_PATH)
    }

    /// Google's keys for its ID tokens, `https://www.googleapis.com/oauth2/v3/certs` here.
    pub fn google_certs_url(&self) -> String {
        format!("{}{}", self.app.google_url, id_token::CERTS_PATH)
    }

    /// `https://accounts.google.com/.well-known/openid-configuration` here.
    pub fn google_discovery_url(&self) -> String {
        format!("{}{}", self.app.google_url, id_token::DISCOVERY_PATH)
    }

    /// The TokenReview webhook's URL.
    pub fn token_review_url(&self) -> String {
        format!("{}/tokenreview", self.app.google_url)
    }

    /// Google STS's token exchange endpoint, `token_url` in the credential configuration.
    pub fn sts_url(&self) -> String {
        format!("{}/v1/token", self.app.google_url)
    }

    /// IAM Credentials' `generateAccessToken` for the service account,
    /// `service_account_impersonation_url` in the credential configuration.
    pub fn impersonation_url(&self) -> String {
        format!(
            "{}/v1/projects/-/serviceAccounts/{}:generateAccessToken",
            self.app.google_url,
            self.app.service_account.email()
        )
    }

    /// The workload identity pool, its provider and the AWS identities configured at start.
    pub fn workload_identity(&self) -> &WorkloadIdentity {
        &self.app.config.workload_identity
    }

    /// The provider's full resource name: the `audience` of a token exchange and the
    /// `x-goog-cloud-target-resource` of the signed AWS request.
    pub fn workload_identity_audience(&self) -> String {
        self.app.config.workload_identity.audience()
    }

    /// The first AWS identity configured at start (by default the test identity), whose
    /// credentials the `env` file hands out.
    pub fn aws_identity(&self) -> Option<&AwsIdentity> {
        self.app.config.workload_identity.aws_identities.first()
    }

    /// `projects/P/locations/L/clusters/C`.
    pub fn cluster_name(&self) -> String {
        let config = &self.app.config;
        format!(
            "projects/{}/locations/{}/clusters/{}",
            config.project, config.location, config.cluster
        )
    }

    /// The CA (PEM) of the google listener.
    pub fn google_ca_pem(&self) -> &str {
        &self.google_ca_pem
    }

    /// The CA (PEM) of the cluster listener.
    pub fn cluster_ca_pem(&self) -> &str {
        &self.cluster_ca_pem
    }

    /// Advertise `external` in `clusters.get`, and in the `env` file written after this, from now
    /// on. A real kube-apiserver needs the TokenReview webhook's URL to start, so it can only be
    /// advertised once local-gke runs.
    pub fn set_external_cluster(&self, external: ExternalCluster) {
        self.app.set_advertised(&external);
    }

    /// Publish the cluster issuer's documents on the GKE API from now on (`None`: publish
    /// none, a 404, as for a cluster whose issuer Google does not serve).
    pub fn publish_issuer(&self, documents: Option<IssuerDocuments>) {
        self.app.state.cluster().set_issuer(documents);
    }

    /// The service account whose key is handed out.
    pub fn service_account(&self) -> &ServiceAccount {
        &self.app.service_account
    }

    /// The service account key file, as Google would let you download it.
    pub fn key_file(&self) -> Result<serde_json::Value, Error> {
        self.app.service_account.key_file(&self.app.google_url)
    }

    /// The cluster `clusters.get` reports now, which the `env` file names.
    pub(crate) fn advertised(&self) -> AdvertisedCluster {
        self.app.advertised()
    }
}

/// Accepts connections until the task is aborted; aborting it drops, and so ends, every
/// connection it started.
async fn serve(socket: TcpListener, tls: TlsAcceptor, app: Arc<App>, listener: Listener) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = socket.accept() => match accepted {
                Ok((stream, _)) => {
                    // As a real API server (Go sets it on every TCP connection): without it,
                    // small TLS records wait on delayed ACKs, about 40 ms each.
                    if let Err(error) = stream.set_nodelay(true) {
                        warn!(listener = listener.name(), %error, "could not set TCP_NODELAY");
                    }
                    connections.spawn(serve_connection(stream, tls.clone(), app.clone(), listener));
                }
                Err(error) => {
                    warn!(listener = listener.name(), %error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, tls: TlsAcceptor, app: Arc<App>, listener: Listener) {
    let stream = match tls.accept(stream).await {
        Ok(stream) => stream,
        Err(error) => {
            debug!(listener = listener.name(), %error, "TLS handshake failed");
            return;
        }
    };
    let service = service_fn(move |request| handle(app.clone(), listener, request));
    if let Err(error) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        debug!(listener = listener.name(), %error, "connection closed");
    }
}

/// Returned by the service to make hyper close the connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
struct DroppedConnection;

async fn handle(
    app: Arc<App>,
    listener: Listener,
    request: hyper::Request<Incoming>,
) -> Result<Response, DroppedConnection> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);

    let taken = app.state.instruments().take_fault(&method, &path);
    let apply_then_drop = taken.as_ref().is_some_and(|(f, _)| f.apply_then_drop);
    let mut held = None;
    if let Some((fault, barrier)) = taken {
        held = barrier;
        if let Some(delay) = fault.delay_ms {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if fault.drop {
            warn!(listener = listener.name(), %method, path, "dropping the connection (injected fault)");
            app.record(listener, &method, &path, 0);
            return Err(DroppedConnection);
        }
        if let Some(code) = fault.status.and_then(|s| StatusCode::from_u16(s).ok()) {
            let response = match listener {
                Listener::Google => google::injected_fault(code),
                Listener::Cluster => kube::injected_fault(code),
            };
            app.record(listener, &method, &path, code.as_u16());
            return Ok(response);
        }
    }

    let (parts, body) = request.into_parts();
    let response = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(body) => {
            let request = Request {
                method: method.clone(),
                path: path.clone(),
                query,
                headers: parts.headers,
                body: body.to_bytes(),
            };
            match listener {
                Listener::Google => google_listener(&app, &request),
                Listener::Cluster => kube::handle(&app, &request),
            }
        }
        Err(error) => json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &serde_json::json!({"error": format!("could not read the request body: {error}")}),
        ),
    };
    if let Some(barrier) = held {
        // Served, then held until the fault's other requests are served too (or for at most
        // HOLD_AT_MOST): no caller gets its answer, so none can write, before every held read
        // has read.
        let _ = tokio::time::timeout(crate::model::fault::HOLD_AT_MOST, barrier.wait()).await;
    }
    if apply_then_drop {
        warn!(listener = listener.name(), %method, path, status = response.status().as_u16(),
            "served, then dropping the connection before the answer (injected fault)");
        app.record(listener, &method, &path, 0);
        return Err(DroppedConnection);
    }
    app.record(listener, &method, &path, response.status().as_u16());
    Ok(response)
}

/// The google listener's routes: keyless access (STS's exchange and IAM Credentials'
/// `generateAccessToken`), the admin API, Google ID tokens (the metadata server's identity
/// endpoint, Google's discovery document and keys), and Google's own endpoints for everything
/// else.
fn google_listener(app: &App, request: &Request) -> Response {
    let segments = request.segments();
    match (&request.method, segments.as_slice()) {
        (&Method::POST, ["v1", "token"]) => federation::sts_token(app, request),
        (&Method::POST, ["v1", "projects", _, "serviceAccounts", name]) => {
            federation::generate_access_token(app, request, name)
        }
        (_, ["_admin", rest @ ..]) => admin::handle(app, request, rest),
        _ => id_token::handle(app, request).unwrap_or_else(|| google::handle(app, request)),
    }
}
