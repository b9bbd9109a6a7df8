//! Sending: the timeouts, the container's one client for public endpoints, and the one place a
//! request leaves. AWS's signing is `aws::signer`'s; the retries around it all are
//! [`crate::backoff`]'s.
//!
//! - [`public_client`]: the HTTPS client for Google's and AWS's APIs, trusting the roots the
//!   container reads once ([`PublicRoots`]).
//! - `send`: the one place that turns a request built as a plain value (`http::Request`) into
//!   a reqwest call, adds the bearer token (marked sensitive, so it is never printed), and reads
//!   the answer, at most `MAX_ANSWER_BYTES` of it. Does I/O.

use crate::error::Error;
use crate::roots::PublicRoots;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// Timeout for one HTTP request; the retry loop bounds the whole by the Lambda deadline.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Timeout for a connection to be made (TCP and TLS), within [`REQUEST_TIMEOUT`].
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The container's one client for public endpoints (the GKE API, AWS), trusting `roots` (the
/// system's, or `SSL_CERT_FILE`), which the container reads once. Plain `http://` is refused by
/// configuration for Google's endpoints and allowed only for the AWS endpoint overrides used by
/// tests.
pub fn public_client(roots: &PublicRoots) -> Result<reqwest::Client, Error> {
    roots
        .client_builder()?
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::PublicTls(format!("cannot build the client: {e}")))
}

/// An answer: its status and body, and the URL it came from (for errors; no token in it).
#[derive(Debug)]
pub(crate) struct Answer {
    /// The HTTP status.
    pub(crate) status: u16,
    /// The body.
    pub(crate) body: Vec<u8>,
    /// The request URL.
    pub(crate) url: String,
}

/// Send `request` with `client`, with `token` as a bearer token and `timeout` instead of the
/// client's, where given.
pub(crate) async fn send(
    client: &reqwest::Client,
    request: http::Request<Vec<u8>>,
    token: Option<&SecretString>,
    timeout: Option<Duration>,
) -> Result<Answer, Error> {
    let url = request.uri().to_string();
    // Nothing leaves in plain text but to this machine (the local stand-ins): a signed request
    // or a token over http:// elsewhere is refused before it is sent.
    if request.uri().scheme_str() != Some("https") {
        let loopback =
            url::Url::parse(&url).is_ok_and(|u| queue_scaler_core::hosts::is_loopback(&u));
        if !loopback {
            return Err(Error::Request {
                url,
                detail: "plain http:// is sent only to 127.0.0.1, ::1 or localhost; use https://"
                    .into(),
            });
        }
    }
    let transport = |source| Error::Transport {
        url: url.clone(),
        source,
    };
    let mut request = reqwest::Request::try_from(request).map_err(transport)?;
    if let Some(token) = token {
        let mut value = http::HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| Error::Protocol {
            url: url.clone(),
            detail: "the access token is not a valid header value".into(),
        })?;
        value.set_sensitive(true);
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, value);
    }
    if timeout.is_some() {
        *request.timeout_mut() = timeout;
    }
    let mut response = client.execute(request).await.map_err(transport)?;
    let status = response.status().as_u16();
    // Read at most MAX_ANSWER_BYTES: every answer the functions expect is a few KiB.
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(Error::Protocol {
                url,
                detail: format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, body, url })
}

/// The largest answer read: a `Scale`, a `Status`, a token, `clusters.get` (with node pools)
/// or a `DescribeAlarms` page are all far smaller.
pub(crate) const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
