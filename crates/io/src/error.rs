//! The one error type of the I/O crate, with the retry class the Lambda runtime reports
//! ([`ErrorClass`], defined in `queue-scaler-core` beside the core's own errors, re-exported here).

pub use queue_scaler_core::ErrorClass;

/// A Kubernetes `Status` error body, as the API server sends it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct KubeStatus {
    /// HTTP status code.
    #[serde(default)]
    pub code: u16,
    /// Machine-readable reason, e.g. `Forbidden`, `Conflict`.
    #[serde(default)]
    pub reason: String,
    /// The server's message.
    #[serde(default)]
    pub message: String,
}

/// Everything that can go wrong talking to Google, the cluster or AWS.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service-account key could not be read or is not a service-account key.
    #[error("service-account key from {origin} is unusable: {detail}")]
    Key {
        /// Where the key came from (the setting).
        origin: String,
        /// What is wrong.
        detail: String,
    },
    /// `gcp_auth` could not get an access token from the token endpoint.
    #[error("could not get a Google access token for {account}")]
    Token {
        /// The service account's email.
        account: String,
        /// The underlying failure.
        #[source]
        source: gcp_auth::Error,
    },
    /// The GKE API refused or failed `clusters.get`.
    #[error("GKE API clusters.get for {cluster} answered {status}: {message}")]
    Discovery {
        /// The cluster path.
        cluster: String,
        /// HTTP status.
        status: u16,
        /// The API's message, with what to check.
        message: String,
    },
    /// Google refused a step of Workload Identity Federation (keyless).
    #[error("Workload Identity Federation: {step} answered {status}: {message}{}", if hint.is_empty() { String::new() } else { format!(". Fix: {hint}") })]
    Federation {
        /// The step that was refused.
        step: FederationStep,
        /// HTTP status.
        status: u16,
        /// Google's error code and message.
        message: String,
        /// What to fix.
        hint: &'static str,
    },
    /// The cluster CA could not be used.
    #[error("cluster CA is unusable: {0}")]
    ClusterCa(String),
    /// HTTPS to public endpoints (Google's and AWS's APIs, a GKE DNS endpoint without a CA) is
    /// unusable: no root certificate could be read, or the client could not be built.
    #[error("HTTPS to Google's and AWS's APIs is unusable: {0}. Fix: install the system's CA certificates, or set SSL_CERT_FILE to a PEM bundle of the roots to trust (or SSL_CERT_DIR to a folder of them)")]
    PublicTls(String),
    /// The Kubernetes API answered with a `Status` error.
    #[error("Kubernetes API refused {verb} on {target}: {} {} ({}){}", status.code, status.reason, status.message, hint(*verb, status))]
    Kube {
        /// What was asked.
        verb: KubeVerb,
        /// `namespace/name`.
        target: String,
        /// The server's `Status`.
        status: KubeStatus,
    },
    /// The request never got an HTTP answer: connection, TLS or timeout.
    #[error("request to {url} failed{}", tls_hint(source))]
    Transport {
        /// Where it went (no query string, no token).
        url: String,
        /// The failure.
        #[source]
        source: reqwest::Error,
    },
    /// An answer arrived but could not be understood.
    #[error("unexpected answer from {url}: {detail}")]
    Protocol {
        /// Where it came from.
        url: String,
        /// What was wrong with it.
        detail: String,
    },
    /// An AWS API (CloudWatch, Secrets Manager) refused the call.
    #[error("AWS {service} {action} answered {status}: {message}")]
    Aws {
        /// `monitoring` or `secretsmanager`.
        service: &'static str,
        /// The API action.
        action: &'static str,
        /// HTTP status.
        status: u16,
        /// The error code and message AWS gave.
        message: String,
    },
    /// A request could not be built (a URL or header from the configuration is not valid there).
    #[error("cannot build the request to {url}: {detail}")]
    Request {
        /// The URL it was for.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// The request could not be signed for AWS.
    #[error("could not sign the AWS request: {0}")]
    Signing(String),
    /// A call got no answer in time (the token endpoint, which has no timeout of its own).
    #[error("{what} got no answer within {}s", after.as_secs())]
    Timeout {
        /// What was being done.
        what: String,
        /// How long it waited.
        after: std::time::Duration,
    },
    /// Retries ran out of time before the Lambda deadline.
    #[error("gave up {what} after {attempts} attempt(s), to return before the Lambda deadline")]
    OutOfTime {
        /// What was being done.
        what: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        #[source]
        last: Box<Error>,
    },
}

/// The error of an answer about `target` (`namespace/name` of any object) that is not a
/// success, with the `Status` it carries.
pub(crate) fn kube_refusal(verb: KubeVerb, target: String, status: u16, body: &[u8]) -> Error {
    let mut parsed: KubeStatus = serde_json::from_slice(body).unwrap_or_else(|_| KubeStatus {
        code: status,
        reason: String::new(),
        message: String::from_utf8_lossy(body).chars().take(300).collect(),
    });
    parsed.code = status;
    Error::Kube {
        verb,
        target,
        status: parsed,
    }
}

/// What was asked of the Kubernetes API when it answered with a refusal ([`Error::Kube`]): the
/// hint of the error, and a caller's branch, go by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeVerb {
    /// `get` of a Deployment, or of its scale.
    Get,
    /// `update` of a Deployment's scale.
    Update,
    /// `get` of a pool's Lease.
    GetLease,
    /// `update` of a pool's Lease.
    UpdateLease,
    /// `create` of an Event.
    CreateEvent,
}

impl KubeVerb {
    /// As the error message says it.
    pub fn as_str(self) -> &'static str {
        match self {
            KubeVerb::Get => "get",
            KubeVerb::Update => "update",
            KubeVerb::GetLease => "get lease",
            KubeVerb::UpdateLease => "update lease",
            KubeVerb::CreateEvent => "create event",
        }
    }
}

impl std::fmt::Display for KubeVerb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The steps of Workload Identity Federation that call Google (keyless).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FederationStep {
    /// The token exchange at Google's STS.
    Exchange,
    /// `generateAccessToken`.
    Impersonation,
}

impl std::fmt::Display for FederationStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FederationStep::Exchange => "the token exchange at Google STS",
            FederationStep::Impersonation => {
                "impersonating the service account (generateAccessToken)"
            }
        })
    }
}

fn hint(verb: KubeVerb, status: &KubeStatus) -> &'static str {
    if verb == KubeVerb::CreateEvent {
        return match status.code {
            403 => ". Grant the service account create on events in API group events.k8s.io in this namespace (the second rule of infra/gke/rbac.yaml), or set KUBE_EVENTS=false",
            _ => "",
        };
    }
    if matches!(verb, KubeVerb::GetLease | KubeVerb::UpdateLease) {
        return match status.code {
            403 => ". Grant the service account get and update on the pool's Lease (the Lease rule of infra/gke/rbac.yaml, resourceNames queue-scaler-pool-POOL)",
            404 => ". Create the pool's Lease, queue-scaler-pool-POOL, in the namespace of the pool's first target (infra/gke/pool-lease.yaml)",
            _ => "",
        };
    }
    match status.code {
        401 => ". The cluster did not accept the Google token: check the service account exists and the token has the userinfo.email scope",
        403 if status.message.contains("User \"") && status.message.chars().filter(char::is_ascii_digit).count() > 15 && !status.message.contains('@') => {
            ". The cluster saw the service account as a numeric id, not its email: the token lacks the https://www.googleapis.com/auth/userinfo.email scope"
        }
        403 => ". Check the name first (TARGET_NAMESPACE/TARGET_DEPLOYMENT, or SCALER_TARGETS): RBAC names each Deployment, so a misspelt one is refused like a missing grant. If the name is right, check that infra/gke/rbac.yaml grants get and update on deployments/scale for it to the service account's email",
        404 => ". Check TARGET_NAMESPACE/TARGET_DEPLOYMENT (or SCALER_TARGETS) name an existing Deployment",
        _ => "",
    }
}

fn tls_hint(e: &reqwest::Error) -> &'static str {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        if text.contains("certificate")
            || text.contains("UnknownIssuer")
            || text.contains("invalid peer")
        {
            return " (TLS verification failed: check GKE_CA_CERT is this cluster's CA, or that SSL_CERT_FILE trusts the Google endpoints)";
        }
        source = s.source();
    }
    ""
}

impl Error {
    /// The retry class docs/design.md assigns to this failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Key { .. } | Error::ClusterCa(_) | Error::PublicTls(_) => ErrorClass::Config,
            Error::Token { .. }
            | Error::Transport { .. }
            | Error::Timeout { .. }
            | Error::OutOfTime { .. } => ErrorClass::Retryable,
            Error::Discovery { status, .. }
            | Error::Aws { status, .. }
            | Error::Federation { status, .. } => status_class(*status),
            Error::Kube { status, .. } => status_class(status.code),
            Error::Protocol { .. } => ErrorClass::Retryable,
            Error::Signing(_) | Error::Request { .. } => ErrorClass::Config,
        }
    }

    /// Whether a retry with backoff may help: 429, 5xx, transport failures, and token endpoint
    /// failures (`gcp_auth` does not say which status the endpoint gave, so every one is retried
    /// within the deadline, like any other call).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::Token { .. } | Error::Timeout { .. } => true,
            Error::Kube { status, .. } => status.code == 429 || status.code >= 500,
            Error::Discovery { status, .. }
            | Error::Aws { status, .. }
            | Error::Federation { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// Whether the request may have reached the server although no answer came: a transport
    /// failure after the connection was made (a timeout, a reset, a lost body). A write that
    /// failed so may have been applied; read again before writing again.
    pub(crate) fn may_have_applied(&self) -> bool {
        match self {
            Error::Transport { source, .. } => !source.is_connect(),
            Error::OutOfTime { last, .. } => last.may_have_applied(),
            _ => false,
        }
    }

    /// Whether the call got no answer at all (nothing listening, DNS, a firewall, a timeout),
    /// rather than a refusal: the address, not the request, is what to check.
    pub fn got_no_answer(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::Timeout { .. } => true,
            Error::OutOfTime { last, .. } => last.got_no_answer(),
            // gcp_auth (the key path) boxes the HTTP client's error of its token request.
            Error::Token { source, .. } => connection_failed(source),
            _ => false,
        }
    }

    /// Whether the connection itself failed (refused, unreachable, TLS verification): the
    /// request never reached the server. For a discovered cluster, its endpoint or CA may have
    /// rotated.
    pub(crate) fn is_connect(&self) -> bool {
        match self {
            Error::Transport { source, .. } => source.is_connect(),
            _ => false,
        }
    }

    /// The Kubernetes status code, if this is a Kubernetes error.
    pub fn kube_code(&self) -> Option<u16> {
        match self {
            Error::Kube { status, .. } => Some(status.code),
            _ => None,
        }
    }
}

fn status_class(code: u16) -> ErrorClass {
    if code == 409 || code == 429 || code >= 500 || code == 408 {
        ErrorClass::Retryable
    } else {
        ErrorClass::NonRetryable
    }
}

/// Turn an `http` builder's failure into [`Error::Request`].
/// A request to `url` whose body is `body` as JSON (`accept` and `content-type` JSON); a body
/// that cannot be written or a request that cannot be built is [`Error::Request`].
pub(crate) fn json_request(
    method: http::Method,
    url: &str,
    body: &impl serde::Serialize,
) -> Result<http::Request<Vec<u8>>, Error> {
    let body = serde_json::to_vec(body).map_err(|e| Error::Request {
        url: url.to_owned(),
        detail: e.to_string(),
    })?;
    built(
        url,
        http::Request::builder()
            .method(method)
            .uri(url)
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(body),
    )
}

pub(crate) fn built(
    url: &str,
    request: Result<http::Request<Vec<u8>>, http::Error>,
) -> Result<http::Request<Vec<u8>>, Error> {
    request.map_err(|e| Error::Request {
        url: url.to_owned(),
        detail: e.to_string(),
    })
}

/// Whether `error`, or an error it was caused by, is the HTTP client's failure to connect
/// (hyper-util's, which gcp_auth's token request uses): the error's type says so, not its text.
fn connection_failed(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some_and(hyper_util::client::legacy::Error::is_connect)
        {
            return true;
        }
        next = e.source();
    }
    false
}
