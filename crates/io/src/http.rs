//! Sending: the timeouts, the container's one client for public endpoints, the one place a
//! request leaves, AWS's signing, and the retries around it all.
//!
//! - [`public_client`]: the HTTPS client for Google's and AWS's APIs, trusting the roots the
//!   container reads once ([`PublicRoots`]).
//! - [`send`]: the one place that turns a request built as a plain value (`http::Request`) into
//!   a reqwest call, adds the bearer token (marked sensitive, so it is never printed), and reads
//!   the answer, at most [`MAX_ANSWER_BYTES`] of it. Does I/O.
//! - `AwsSender`: an AWS request signed with SigV4 (`aws-sigv4`, the SDK's own signer) and
//!   the function's credentials, sent, and an error answer read into [`Error::Aws`].
//! - [`with_backoff`] and [`write_with_backoff`]: bounded retries with exponential backoff and
//!   full jitter, stopping early enough to return before the Lambda deadline. Only
//!   [`Error::is_transient`] failures are retried; a write's retries also say whether an
//!   answer was lost ([`WriteFailed`]).

use crate::error::Error;
use crate::roots::PublicRoots;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use secrecy::{ExposeSecret, SecretString};
use std::future::Future;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Timeout for one HTTP request; the retry loop bounds the whole by the Lambda deadline.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Timeout for a connection to be made (TCP and TLS), within [`REQUEST_TIMEOUT`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Timeout for one AWS call: AWS answers within a few seconds or not at all, so the rest of the
/// Lambda's time is kept for what comes after.
pub const AWS_TIMEOUT: Duration = Duration::from_secs(5);

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
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// AWS's side of sending: SigV4 with the function's credentials, then [`send`].
#[derive(Clone)]
pub(crate) struct AwsSender {
    http: reqwest::Client,
    credentials: Credentials,
}

impl AwsSender {
    /// Send with `http`, signing with `credentials`.
    pub(crate) fn new(http: reqwest::Client, credentials: Credentials) -> Self {
        AwsSender { http, credentials }
    }

    /// Sign `request` for `service` in `region` (the client's, or a queue URL's own), without
    /// sending it.
    pub(crate) fn sign(
        &self,
        region: &str,
        service: &str,
        mut request: http::Request<Vec<u8>>,
    ) -> Result<http::Request<Vec<u8>>, Error> {
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Error::Signing(e.to_string()))?
            .into();
        let headers = request
            .headers()
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.as_str(),
                    v.to_str().map_err(|e| Error::Signing(e.to_string()))?,
                ))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.uri().to_string(),
            headers.into_iter(),
            SignableBody::Bytes(request.body()),
        )
        .map_err(|e| Error::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Error::Signing(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }

    /// Sign `request` for `service` in `region` and send it within [`AWS_TIMEOUT`]: the body of a
    /// 2xx answer, else [`Error::Aws`] naming `action`, with AWS's code and message.
    pub(crate) async fn send(
        &self,
        region: &str,
        service: &'static str,
        action: &'static str,
        request: http::Request<Vec<u8>>,
    ) -> Result<Vec<u8>, Error> {
        let signed = self.sign(region, service, request)?;
        let answer = send(&self.http, signed, None, Some(AWS_TIMEOUT)).await?;
        let (status, body) = (answer.status, answer.body);
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(Error::Aws {
                service,
                action,
                status,
                message: aws_error_message(&body),
            })
        }
    }
}

/// AWS error bodies are XML (query protocol) or JSON; keep the code and message, nothing else.
fn aws_error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        let code = v
            .get("__type")
            .or_else(|| v.get("code"))
            .and_then(|c| c.as_str())
            .unwrap_or("");
        let msg = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(|c| c.as_str())
            .unwrap_or("");
        return format!("{code} {msg}").trim().to_owned();
    }
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find('<')? + start;
        Some(text[start..end].to_owned())
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        _ => text.chars().take(200).collect(),
    }
}

/// How hard to retry.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first delay's upper bound; it doubles each time.
    pub base: Duration,
    /// The largest delay.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
        }
    }
}

impl Backoff {
    /// The delay before retry number `n` (1-based): uniform in `0..=min(cap, base * 2^(n-1))`.
    pub fn delay(&self, n: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(n.saturating_sub(1)))
            .min(self.cap);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::random_range(0..=millis))
    }
}

/// Run `op` until it succeeds, fails for good, runs out of attempts, or the next delay would
/// pass `deadline`. `what` names the operation in the error.
pub async fn with_backoff<T, F, Fut>(
    what: &str,
    backoff: Backoff,
    deadline: Instant,
    op: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    write_with_backoff(what, backoff, deadline, op)
        .await
        .map_err(|failed| failed.last)
}

/// How a write retried by [`write_with_backoff`] failed.
#[derive(Debug)]
pub struct WriteFailed {
    /// The last attempt's error.
    pub last: Error,
    /// Whether any attempt's answer was lost ([`Error::may_have_applied`]): the write may have
    /// been applied even though the last attempt says otherwise (a resent write meets 409 when
    /// the first one was applied).
    pub lost: bool,
}

/// [`with_backoff`] for a write: on failure it says, beside the last error, whether an earlier
/// attempt's answer was lost, so the caller reads again before deciding anything.
pub async fn write_with_backoff<T, F, Fut>(
    what: &str,
    backoff: Backoff,
    deadline: Instant,
    mut op: F,
) -> Result<T, WriteFailed>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut attempt = 0;
    let mut lost = false;
    let failed = |last: Error, lost: bool| WriteFailed {
        lost: lost || last.may_have_applied(),
        last,
    };
    loop {
        attempt += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let result = match tokio::time::timeout(remaining, op()).await {
            Ok(r) => r,
            Err(_) => {
                let last = Error::OutOfTime {
                    what: what.to_owned(),
                    attempts: attempt,
                    last: Box::new(Error::Protocol {
                        url: what.to_owned(),
                        detail: "no answer before the deadline".into(),
                    }),
                };
                return Err(failed(last, lost));
            }
        };
        let err = match result {
            Ok(v) => return Ok(v),
            Err(e) if !e.is_transient() => return Err(failed(e, lost)),
            Err(e) => e,
        };
        lost |= err.may_have_applied();
        let delay = backoff.delay(attempt);
        if attempt >= backoff.attempts {
            return Err(failed(err, lost));
        }
        if Instant::now() + delay >= deadline {
            let last = Error::OutOfTime {
                what: what.to_owned(),
                attempts: attempt,
                last: Box::new(err),
            };
            return Err(failed(last, lost));
        }
        tracing::warn!(what, attempt, delay_ms = delay.as_millis() as u64, error = %err, "transient failure, retrying");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::KubeStatus;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn kube(code: u16) -> Error {
        Error::Kube {
            verb: crate::error::KubeVerb::Get,
            target: "ml/m".into(),
            status: KubeStatus {
                code,
                reason: "X".into(),
                message: "m".into(),
            },
        }
    }

    #[test]
    fn delays_grow_and_stay_under_the_cap() {
        let b = Backoff::default();
        for n in 1..20 {
            assert!(b.delay(n) <= b.cap);
        }
        assert!(b.delay(1) <= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let deadline = Instant::now() + Duration::from_secs(30);
        let got = with_backoff("get scale", Backoff::default(), deadline, || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(kube(503))
            } else {
                Ok(7)
            }
        })
        .await
        .unwrap();
        assert_eq!((got, calls.load(Ordering::SeqCst)), (7, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_are_not_retried() {
        let calls = AtomicU32::new(0);
        let deadline = Instant::now() + Duration::from_secs(30);
        let err = with_backoff("get scale", Backoff::default(), deadline, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(kube(403))
        })
        .await
        .unwrap_err();
        assert_eq!(
            (err.kube_code(), calls.load(Ordering::SeqCst)),
            (Some(403), 1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_before_the_deadline() {
        let backoff = Backoff {
            attempts: 100,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(1),
        };
        let deadline = Instant::now() + Duration::from_millis(1500);
        let err = with_backoff("put scale", backoff, deadline, || async {
            Err::<(), _>(kube(503))
        })
        .await
        .unwrap_err();
        assert!(matches!(err, Error::OutOfTime { .. }), "{err}");
        assert!(Instant::now() < deadline);
    }

    #[test]
    fn aws_errors_keep_code_and_message() {
        let xml = b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed</Message></Error></ErrorResponse>";
        assert_eq!(aws_error_message(xml), "AccessDenied: not allowed");
        let json = br#"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#;
        assert_eq!(
            aws_error_message(json),
            "ResourceNotFoundException Secrets Manager can't find the specified secret."
        );
    }
}
