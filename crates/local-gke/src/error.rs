//! The ways starting local-gke can fail. Requests never fail this way: a handler always answers
//! with an HTTP error, as the real services do.

use std::io;
use std::path::PathBuf;

/// A failure to start local-gke or to write its state directory.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A CA or serving certificate could not be generated.
    #[error("could not generate a TLS certificate")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the generated certificate or key.
    #[error("could not configure TLS")]
    Tls(#[from] tokio_rustls::rustls::Error),
    /// The service account's RSA key could not be generated.
    #[error("could not generate the service account key")]
    KeyGeneration(#[from] rsa::Error),
    /// The service account's RSA key could not be encoded as PKCS#8 PEM.
    #[error("could not encode the service account key")]
    KeyEncoding(#[from] rsa::pkcs8::Error),
    /// A listener could not be bound on 127.0.0.1.
    #[error("could not listen for the {listener} listener")]
    Bind {
        /// Which listener: `google` or `cluster`.
        listener: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file could not be read or written.
    #[error("could not access {}", path.display())]
    File {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The process could not subscribe to SIGTERM and SIGINT.
    #[error("could not listen for SIGTERM and SIGINT")]
    Signal(#[source] io::Error),
    /// A workload identity user is not an IAM member or a role ARN.
    #[error("invalid workload identity user")]
    WorkloadIdentityUser(#[source] crate::config::ParseError),
    /// `--cluster-endpoint` is not an `https://` URL with a host.
    #[error("--cluster-endpoint must be an https:// URL with a host, got {0:?}")]
    ClusterEndpoint(String),
    /// The configured node pools are not a cluster's (no name, a name twice, limits out of order).
    #[error("invalid node pools")]
    NodePools(#[source] crate::model::node_pool::InvalidNodePools),
}
