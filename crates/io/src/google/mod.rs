//! Google: OAuth2 access tokens for the service account, from a key or keyless.
//!
//! - [`token`]: the [`TokenSource`] trait and [`GoogleTokens`], which caches the token across
//!   warm invocations.
//! - `key`: loading the credentials (a service-account key, or a keyless `external_account`
//!   configuration) from a file, the environment, or Secrets Manager.
//! - `external`: keyless tokens through Workload Identity Federation from the function's AWS
//!   identity.
//! - [`issuer`]: whether GKE publishes the cluster's service-account issuer, as STS reads it
//!   (the doctor's check of the workers' way (a)).

mod external;
pub mod issuer;
mod key;
pub mod token;

pub use token::{GoogleTokens, TokenSource};
