//! The I/O of queue-scaler, each kind behind a narrow trait so the handler can be tested with
//! fakes:
//!
//! - [`google`]: Google OAuth2 access tokens for the service account, from a key or keyless
//!   ([`TokenSource`]).
//! - [`kube`]: the cluster's endpoint and CA (given, or discovered through the GKE API) and the
//!   Kubernetes `scale` subresource ([`ScaleApi`]), and the doctor's read-only questions
//!   ([`ClusterProbe`]).
//! - [`aws`]: SigV4-signed calls to AWS without the SDK: CloudWatch `SetAlarmState` and
//!   `DescribeAlarms` ([`AlarmRearm`]), Secrets Manager `GetSecretValue`, and SQS
//!   `GetQueueAttributes`, the live counts of a target's queues ([`QueueDepth`]).
//! - `roots`: the roots public endpoints are verified against, read once per container.
//! - [`http`]: sending: the timeouts, the client for public endpoints, the one place requests
//!   are sent (the bearer token marked sensitive, the answer's size capped).
//! - [`backoff`]: bounded retries with jitter that stop before the Lambda deadline.
//! - `error`: one error type for all of it, each with its [`ErrorClass`].

#![deny(unreachable_pub)]

pub mod aws;
pub mod backoff;
mod error;
pub mod google;
pub mod http;
pub mod kube;
mod roots;

pub use aws::cloudwatch::AlarmRearm;
pub use aws::sqs::QueueDepth;
pub use error::{Error, ErrorClass, KubeStatus, KubeVerb};
pub use google::{GoogleTokens, TokenSource};
pub use kube::{ClusterProbe, KubeScaleApi, Lease, Probed, ScaleApi, ScaleEvent};
pub use roots::PublicRoots;
