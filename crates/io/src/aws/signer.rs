//! AWS's side of sending: a request built as a plain value, signed with SigV4 (`aws-sigv4`, the
//! SDK's own signer) and the function's credentials, sent through [`crate::http::send`], and an
//! error answer read into [`Error::Aws`] (AWS's code and message, nothing else).

use crate::error::Error;
use crate::http::send;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use std::time::{Duration, SystemTime};

/// Timeout for one AWS call: AWS answers within a few seconds or not at all, so the rest of the
/// Lambda's time is kept for what comes after.
pub(crate) const AWS_TIMEOUT: Duration = Duration::from_secs(5);

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

#[cfg(test)]
mod tests {
    use super::*;

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
