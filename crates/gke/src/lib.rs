//! The I/O of queue-scaler, behind narrow traits so the handler can be tested with fakes:
//!
//! - [`token`]: Google OAuth2 access tokens for a service account ([`TokenSource`], cached by
//!   `gcp_auth` across warm invocations).
//! - [`key`]: loading the credentials (a service-account key, or a keyless `external_account`
//!   configuration) from a file, the environment, or Secrets Manager.
//! - [`external`]: keyless tokens through Workload Identity Federation from the function's AWS
//!   identity.
//! - [`cluster`]: the cluster's endpoint and CA, given or discovered through the GKE API, and the
//!   HTTPS client that trusts only that CA.
//! - [`scale`]: the Kubernetes `deployments/{name}/scale` subresource ([`ScaleApi`]); requests are
//!   built as plain values first.
//! - [`aws`]: SigV4-signed calls to AWS (CloudWatch `SetAlarmState`, Secrets Manager
//!   `GetSecretValue`) without the SDK.
//! - [`send`]: the one place requests are sent, with the bearer token marked sensitive.
//! - [`retry`]: bounded backoff with jitter that stops before the Lambda deadline.

pub mod aws;
pub mod cluster;
pub mod error;
pub mod external;
pub mod key;
pub mod retry;
pub mod scale;
pub mod send;
pub mod token;

pub use error::{Error, ErrorClass, KubeStatus};
pub use scale::{KubeScaleApi, Scale, ScaleApi};
pub use token::{GoogleTokens, TokenSource};
