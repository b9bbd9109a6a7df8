//! Sending a request that was built as a plain value: the one place that turns an
//! `http::Request` into a reqwest call, adds the bearer token (marked sensitive, so it is never
//! printed), and reads the answer. Does I/O.

use crate::error::Error;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// An answer: its status and body, and the URL it came from (for errors; no token in it).
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// The request URL.
    pub url: String,
}

/// Send `request` with `client`, with `token` as a bearer token and `timeout` instead of the
/// client's, where given.
pub async fn send(
    client: &reqwest::Client,
    request: http::Request<Vec<u8>>,
    token: Option<&SecretString>,
    timeout: Option<Duration>,
) -> Result<Answer, Error> {
    let url = request.uri().to_string();
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
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
