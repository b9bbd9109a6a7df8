//! How a failure is to be treated: the [`ErrorClass`] each error of queue-scaler carries through
//! its `class()` method, the core's ([`IntakeError`](crate::IntakeError),
//! [`RouteError`](crate::RouteError), [`ConfigError`](crate::ConfigError)) and the I/O crate's
//! alike. The Lambda runtime reports it as the error's type.

use std::fmt;

/// How the Lambda runtime should treat a failure, reported as the error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ErrorClass {
    /// A passing fault: Lambda retries the event, then sends it to the dead-letter queue.
    Retryable,
    /// The same event fails the same way again: something must be fixed first.
    NonRetryable,
    /// The function's configuration is wrong.
    Config,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::Retryable => "Retryable",
            ErrorClass::NonRetryable => "NonRetryable",
            ErrorClass::Config => "Config",
        })
    }
}
