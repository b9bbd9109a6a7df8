//! What the handlers share: the configuration, the service account, the state, the google
//! listener's URL, the cluster `clusters.get` advertises, Google's ID-token key and the pods the
//! metadata server knows. Every handler module depends on this
//! one; it depends on none of them. No I/O beyond the shared state.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use hyper::Method;
use tracing::info;

use crate::config::{Config, ExternalCluster};
use crate::http::Request;
use crate::id_token_key::IdTokenKey;
use crate::model::pod_identity::PodIdentities;
use crate::model::request_log::{Listener, RecordedRequest, RequestKind};
use crate::service_account::ServiceAccount;
use crate::state::Shared;

/// What the handlers share.
pub(crate) struct App {
    pub config: Config,
    pub service_account: ServiceAccount,
    pub state: Shared,
    /// `https://127.0.0.1:GPORT`.
    pub google_url: String,
    /// The key Google's ID tokens are signed with.
    pub id_token_key: IdTokenKey,
    /// The pods the metadata server knows, and the Google accounts their service accounts act as.
    pod_identities: Mutex<PodIdentities>,
    /// The cluster that `clusters.get` reports: our own cluster listener, or an external one.
    /// It can change while serving ([`crate::LocalGke::set_external_cluster`]).
    advertised: RwLock<AdvertisedCluster>,
}

/// The cluster `clusters.get` reports.
#[derive(Debug, Clone)]
pub(crate) struct AdvertisedCluster {
    /// `https://host[:port]`, as the `env` file gives it.
    pub url: String,
    /// `host[:port]`, no scheme, as GKE reports it.
    pub endpoint: String,
    /// The CA certificate, PEM.
    pub ca_pem: String,
}

impl AdvertisedCluster {
    pub(crate) fn external(external: &ExternalCluster) -> Self {
        AdvertisedCluster {
            url: external.endpoint.as_str().trim_end_matches('/').to_owned(),
            endpoint: external.advertised_endpoint(),
            ca_pem: external.ca_pem.clone(),
        }
    }
}

impl App {
    pub(crate) fn new(
        config: Config,
        service_account: ServiceAccount,
        state: Shared,
        google_url: String,
        advertised: AdvertisedCluster,
    ) -> Self {
        App {
            config,
            service_account,
            state,
            google_url,
            id_token_key: IdTokenKey::default(),
            pod_identities: Mutex::default(),
            advertised: RwLock::new(advertised),
        }
    }

    /// The pods the metadata server knows, and the bindings of their service accounts.
    pub(crate) fn pod_identities(&self) -> MutexGuard<'_, PodIdentities> {
        self.pod_identities
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn token_uri(&self) -> String {
        format!("{}/token", self.google_url)
    }

    /// The cluster `clusters.get` reports now.
    pub(crate) fn advertised(&self) -> AdvertisedCluster {
        self.advertised
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Advertise `external` from now on.
    pub(crate) fn set_advertised(&self, external: &ExternalCluster) {
        *self
            .advertised
            .write()
            .unwrap_or_else(PoisonError::into_inner) = AdvertisedCluster::external(external);
    }

    /// The identity (an email or a numeric id) that the request's bearer token stands for, if it
    /// is a live access token issued here.
    pub(crate) fn bearer_identity(&self, request: &Request) -> Option<String> {
        let token = request.bearer_token()?;
        self.state
            .credentials()
            .live_token(token)
            .ok()
            .map(|issued| issued.identity.clone())
    }

    /// Logs a request and adds it to the request log.
    pub(crate) fn record(&self, listener: Listener, method: &Method, path: &str, status: u16) {
        info!(listener = listener.name(), %method, path, status, "request");
        // The admin API is how tests read the log; recording it would only add noise.
        if listener == Listener::Google && (path == "/_admin" || path.starts_with("/_admin/")) {
            return;
        }
        self.state.instruments().record(RecordedRequest {
            listener,
            method: method.to_string(),
            path: path.to_owned(),
            status,
            kind: RequestKind::of(listener, method, path),
        });
    }
}
