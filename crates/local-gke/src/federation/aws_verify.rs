//! What AWS STS itself checks of a signed `GetCallerIdentity` request before it answers with the
//! caller's ARN: the credential scope, the access key and its session token, the clock (15
//! minutes either way) and the SigV4 signature. Google STS hands the request to AWS; local-gke
//! answers as AWS would, with AWS's error codes and messages. Pure: the caller passes the clock.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

use super::sigv4::{self, Authorization, SignedRequest};
use crate::config::AwsIdentity;

/// How far the request's `x-amz-date` may be from now, either way, as AWS allows.
const MAX_CLOCK_SKEW_MINUTES: i64 = 15;

/// A signed request as AWS receives it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received<'a> {
    pub method: &'a str,
    /// The path as sent.
    pub path: &'a str,
    /// The query as sent, without `?`.
    pub query: &'a str,
    /// Every header, name in lower case.
    pub headers: &'a [(String, String)],
    /// The region of the endpoint it went to.
    pub region: &'a str,
    /// `x-amz-date`, as sent.
    pub amz_date: &'a str,
    /// `x-amz-date`, read.
    pub signed_at: DateTime<Utc>,
}

/// What AWS answers a `GetCallerIdentity` request it refuses: its error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AwsError {
    pub code: &'static str,
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl AwsError {
    pub(crate) fn signature_does_not_match(message: impl Into<String>) -> Self {
        AwsError {
            code: "SignatureDoesNotMatch",
            message: message.into(),
        }
    }

    pub(crate) fn invalid_client_token_id() -> Self {
        AwsError {
            code: "InvalidClientTokenId",
            message: "The security token included in the request is invalid.".to_owned(),
        }
    }
}

/// The ARN `GetCallerIdentity` answers a request signed by one of `identities`, or AWS's refusal.
pub(crate) fn caller_arn(
    received: &Received<'_>,
    authorization: &Authorization<'_>,
    identities: &BTreeMap<String, AwsIdentity>,
    now: DateTime<Utc>,
) -> Result<String, AwsError> {
    let identity = check_before_signature(received, authorization, identities, now)?;
    let canonical = sigv4::canonical_request(&SignedRequest {
        method: received.method,
        path: received.path,
        query: received.query,
        headers: received.headers,
        signed_headers: &authorization.signed_headers,
        payload: b"",
    });
    let to_sign = sigv4::string_to_sign(received.amz_date, &authorization.scope(), &canonical);
    let key = sigv4::signing_key(&identity.secret_access_key, authorization);
    if !sigv4::verify(&key, &to_sign, authorization.signature) {
        return Err(AwsError::signature_does_not_match(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
        ));
    }
    Ok(identity.arn.clone())
}

/// What AWS STS checks before the signature itself: the credential scope, the access key, the
/// session token and the clock.
fn check_before_signature<'i>(
    received: &Received<'_>,
    authorization: &Authorization<'_>,
    identities: &'i BTreeMap<String, AwsIdentity>,
    now: DateTime<Utc>,
) -> Result<&'i AwsIdentity, AwsError> {
    let Received {
        headers,
        amz_date,
        signed_at,
        region,
        ..
    } = *received;
    let refuse = |message: String| Err(AwsError::signature_does_not_match(message));
    if authorization.service != "sts" {
        return refuse(format!(
            "Credential should be scoped to correct service: 'sts'. (the scope names '{}')",
            authorization.service
        ));
    }
    if authorization.region != region {
        return refuse(format!(
            "Credential should be scoped to a valid region. (the scope names '{}', the endpoint \
             is in '{region}')",
            authorization.region
        ));
    }
    if authorization.terminator != "aws4_request" {
        return refuse(
            "Credential should be scoped with a valid terminator: 'aws4_request'.".to_owned(),
        );
    }
    if !authorization.signed_headers.contains(&"host") {
        return refuse(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        );
    }
    let Some(identity) = identities.get(authorization.access_key_id) else {
        return Err(AwsError::invalid_client_token_id());
    };
    let tokens: Vec<&str> = headers
        .iter()
        .filter(|(key, _)| key == "x-amz-security-token")
        .map(|(_, value)| value.as_str())
        .collect();
    let token_matches = match (&identity.session_token, tokens.as_slice()) {
        (None, []) => true,
        (Some(expected_token), [token]) => token == expected_token,
        _ => false,
    };
    if !token_matches {
        return Err(AwsError::invalid_client_token_id());
    }
    let skew = TimeDelta::minutes(MAX_CLOCK_SKEW_MINUTES);
    let format = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let now_text = format(now);
    if signed_at < now - skew {
        return refuse(format!(
            "Signature expired: {amz_date} is now earlier than {} ({now_text} - 15 min.)",
            format(now - skew)
        ));
    }
    if signed_at > now + skew {
        return refuse(format!(
            "Signature not yet current: {amz_date} is still later than {} ({now_text} + 15 min.)",
            format(now + skew)
        ));
    }
    if authorization.date != &amz_date[..8] {
        return refuse(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '{}' != '{}', from '{amz_date}'.",
            authorization.date,
            &amz_date[..8]
        ));
    }
    Ok(identity)
}
