//! Checks a token exchange the way Google's Security Token Service does for a workload identity
//! pool's AWS provider (RFC 8693): grant and token types, the audience, the scopes, and the
//! subject token, a serialized AWS `GetCallerIdentity` request. That request is then verified as
//! AWS would answer it ([`super::aws_verify`]: known access key, session token, date within 15
//! minutes, SigV4 signature), since Google hands it to AWS; the caller's ARN is what AWS would
//! return. Each refusal carries
//! Google STS's OAuth2 error code and description. Pure: the caller passes the clock.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::aws_verify::{caller_arn, AwsError, Received};
use super::sigv4::Authorization;
use crate::config::AwsIdentity;
use crate::service_account::CLOUD_PLATFORM_SCOPE;

/// RFC 8693's grant type.
pub(crate) const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The only token type Google's STS issues.
pub(crate) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// A serialized, signed AWS `GetCallerIdentity` request.
pub(crate) const AWS4_REQUEST_TOKEN_TYPE: &str = "urn:ietf:params:aws:token-type:aws4_request";

/// The fields of a token exchange request, from a form or a JSON body.
#[derive(Debug, Default)]
pub(crate) struct ExchangeRequest {
    pub grant_type: Option<String>,
    pub requested_token_type: Option<String>,
    pub subject_token_type: Option<String>,
    pub audience: Option<String>,
    pub scope: Option<String>,
    pub subject_token: Option<String>,
}

impl ExchangeRequest {
    /// Reads an `application/x-www-form-urlencoded` body.
    pub(crate) fn from_form(body: &[u8]) -> Self {
        let mut request = ExchangeRequest::default();
        for (key, value) in url::form_urlencoded::parse(body) {
            if let Some(slot) = request.field(&key) {
                slot.get_or_insert_with(|| value.into_owned());
            }
        }
        request
    }

    /// Reads an `application/json` body. Google's JSON mapping takes each field in snake_case or
    /// lowerCamelCase; every field is a string (`scope` too: space-separated).
    pub(crate) fn from_json(body: &[u8]) -> Result<Self, Refusal> {
        let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
            return Err(Refusal::InvalidJson);
        };
        let mut request = ExchangeRequest::default();
        for (key, value) in object {
            let Some(slot) = request.field(&key) else {
                continue;
            };
            match value {
                Value::String(text) => *slot = Some(text),
                Value::Null => {}
                _ => return Err(Refusal::InvalidJson),
            }
        }
        Ok(request)
    }

    fn field(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "grant_type" | "grantType" => &mut self.grant_type,
            "requested_token_type" | "requestedTokenType" => &mut self.requested_token_type,
            "subject_token_type" | "subjectTokenType" => &mut self.subject_token_type,
            "audience" => &mut self.audience,
            "scope" => &mut self.scope,
            "subject_token" | "subjectToken" => &mut self.subject_token,
            _ => return None,
        })
    }
}

/// What a valid exchange must match.
pub(crate) struct Expected<'a> {
    /// The provider's full resource name.
    pub audience: &'a str,
    /// The AWS identities AWS would recognise, by access key id.
    pub identities: &'a BTreeMap<String, AwsIdentity>,
    pub now: DateTime<Utc>,
}

/// A successful exchange: who AWS says the caller is, and the scopes granted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Exchanged {
    /// The ARN `GetCallerIdentity` answers with.
    pub arn: String,
    pub scopes: Vec<String>,
}

/// Why the token exchange is refused; `Display` is the `error_description`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The body is neither a form nor a JSON object of strings.
    #[error("Invalid JSON payload received.")]
    InvalidJson,
    /// The body has another media type.
    #[error("Invalid Content-Type: the request must be application/x-www-form-urlencoded or application/json.")]
    UnsupportedMediaType,
    /// A required field is missing or empty.
    #[error("Missing required parameter: {0}.")]
    MissingParameter(&'static str),
    /// `grant_type` is not the token-exchange grant.
    #[error("Invalid value for \"grant_type\". The only supported grant type is urn:ietf:params:oauth:grant-type:token-exchange.")]
    GrantType,
    /// `requested_token_type` is not an access token.
    #[error("Invalid value of requested_token_type in request.")]
    RequestedTokenType,
    /// `subject_token_type` is not what an AWS provider takes.
    #[error("Invalid value for \"subject_token_type\". An AWS provider takes urn:ietf:params:aws:token-type:aws4_request.")]
    SubjectTokenType,
    /// The audience is not a provider's full resource name.
    #[error("Invalid value for \"audience\". This value should be the full resource name of the Identity Provider.")]
    MalformedAudience,
    /// The audience names no provider local-gke has.
    #[error("The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.")]
    UnknownProvider,
    /// No scope.
    #[error("Scope(s) must be provided.")]
    NoScope,
    /// A scope that is not a Google API scope, or no `cloud-platform`.
    #[error("The requested scope is invalid: a federated token is issued for Google API scopes and must include https://www.googleapis.com/auth/cloud-platform.")]
    InvalidScope,
    /// The subject token is not a serialized GetCallerIdentity request as Google expects it.
    #[error("AWS request has invalid format. {0}")]
    MalformedAwsRequest(String),
    /// The request names another provider than the audience.
    #[error("The AWS request's x-goog-cloud-target-resource header must be the audience, {0}.")]
    TargetResource(String),
    /// AWS would refuse the request.
    #[error("The caller's AWS credentials could not be verified: AWS STS GetCallerIdentity answered {0}")]
    Aws(AwsError),
}

impl Refusal {
    /// Google STS's OAuth2 `error` code for this refusal.
    pub(crate) fn error_code(&self) -> &'static str {
        match self {
            Refusal::InvalidJson
            | Refusal::UnsupportedMediaType
            | Refusal::MissingParameter(_)
            | Refusal::GrantType
            | Refusal::RequestedTokenType
            | Refusal::SubjectTokenType
            | Refusal::MalformedAudience
            | Refusal::NoScope => "invalid_request",
            Refusal::UnknownProvider => "invalid_target",
            Refusal::InvalidScope => "invalid_scope",
            Refusal::MalformedAwsRequest(_) | Refusal::TargetResource(_) | Refusal::Aws(_) => {
                "invalid_grant"
            }
        }
    }
}

/// Checks a token exchange in Google STS's order: request fields, audience, scope, then the
/// subject token.
pub(crate) fn check_exchange(
    request: &ExchangeRequest,
    expected: &Expected<'_>,
) -> Result<Exchanged, Refusal> {
    if required(&request.grant_type, "grant_type")? != TOKEN_EXCHANGE_GRANT {
        return Err(Refusal::GrantType);
    }
    if required(&request.requested_token_type, "requested_token_type")? != ACCESS_TOKEN_TYPE {
        return Err(Refusal::RequestedTokenType);
    }
    if required(&request.subject_token_type, "subject_token_type")? != AWS4_REQUEST_TOKEN_TYPE {
        return Err(Refusal::SubjectTokenType);
    }
    let audience = required(&request.audience, "audience")?;
    if !is_provider_name(audience) {
        return Err(Refusal::MalformedAudience);
    }
    if audience != expected.audience {
        return Err(Refusal::UnknownProvider);
    }
    let scopes: Vec<String> = request
        .scope
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return Err(Refusal::NoScope);
    }
    let google_scope = |s: &String| s.starts_with("https://www.googleapis.com/auth/");
    if !scopes.iter().all(google_scope) || !scopes.iter().any(|s| s == CLOUD_PLATFORM_SCOPE) {
        return Err(Refusal::InvalidScope);
    }
    let subject_token = required(&request.subject_token, "subject_token")?;
    let arn = check_aws_request(subject_token, expected)?;
    Ok(Exchanged { arn, scopes })
}

/// A field that must be present and not empty.
fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, Refusal> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or(Refusal::MissingParameter(name))
}

/// `//iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/{pool}/providers/{provider}`.
fn is_provider_name(audience: &str) -> bool {
    let Some(path) = audience.strip_prefix("//iam.googleapis.com/") else {
        return false;
    };
    let segments: Vec<&str> = path.split('/').collect();
    matches!(
        segments.as_slice(),
        ["projects", number, "locations", "global", "workloadIdentityPools", pool, "providers", provider]
            if !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
                && !pool.is_empty()
                && !provider.is_empty()
    )
}

/// A signed request as google-auth libraries serialize it.
#[derive(Deserialize)]
struct SerializedRequest {
    url: String,
    method: String,
    headers: Vec<SerializedHeader>,
    /// Some serializers carry the body; `GetCallerIdentity` has none.
    #[serde(default, alias = "data")]
    body: Option<String>,
}

#[derive(Deserialize)]
struct SerializedHeader {
    key: String,
    value: String,
}

/// Verifies the subject token and returns the caller's ARN, as AWS would answer it.
fn check_aws_request(subject_token: &str, expected: &Expected<'_>) -> Result<String, Refusal> {
    let malformed = |detail: &str| Refusal::MalformedAwsRequest(detail.to_owned());
    let json = query_decode(subject_token).ok_or_else(|| {
        malformed("The subject token must be the URL-encoded JSON of the signed request.")
    })?;
    let request: SerializedRequest = serde_json::from_str(&json).map_err(|_| {
        malformed(
            "The subject token must be the URL-encoded JSON of the signed request: \
             {\"url\", \"method\", \"headers\": [{\"key\", \"value\"}, ...]}.",
        )
    })?;

    let url = Url::parse(&request.url).map_err(|_| malformed("The request's url is not a URL."))?;
    let region = sts_region(&url).ok_or_else(|| {
        malformed(
            "The request must go to a regional AWS STS endpoint, \
             https://sts.{region}.amazonaws.com.",
        )
    })?;
    let mut query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    query.sort();
    let get_caller_identity = [
        ("Action".to_owned(), "GetCallerIdentity".to_owned()),
        ("Version".to_owned(), "2011-06-15".to_owned()),
    ];
    if request.method != "POST"
        || url.path() != "/"
        || query != get_caller_identity
        || request.body.as_deref().is_some_and(|body| !body.is_empty())
    {
        return Err(malformed(
            "The request must be a POST of ?Action=GetCallerIdentity&Version=2011-06-15 \
             without a body.",
        ));
    }

    let headers: Vec<(String, String)> = request
        .headers
        .into_iter()
        .map(|h| (h.key.to_ascii_lowercase(), h.value))
        .collect();
    let single = |name: &str| -> Result<&str, Refusal> {
        let mut values = headers.iter().filter(|(key, _)| key == name);
        match (values.next(), values.next()) {
            (Some((_, value)), None) => Ok(value.as_str()),
            _ => Err(Refusal::MalformedAwsRequest(format!(
                "The request must carry exactly one {name} header."
            ))),
        }
    };
    let host = single("host")?;
    if !host.eq_ignore_ascii_case(url.host_str().unwrap_or_default()) {
        return Err(malformed(
            "The host header must name the host of the request's url.",
        ));
    }
    let target = single("x-goog-cloud-target-resource")?;
    // google-auth libraries send the audience, with or without an `https:` prefix.
    if target.strip_prefix("https:").unwrap_or(target) != expected.audience {
        return Err(Refusal::TargetResource(expected.audience.to_owned()));
    }
    let amz_date = single("x-amz-date")?;
    let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| malformed("The x-amz-date header must be YYYYMMDDTHHMMSSZ."))?
        .and_utc();
    let authorization = Authorization::parse(single("authorization")?).ok_or_else(|| {
        malformed("The authorization header must be an AWS4-HMAC-SHA256 signature.")
    })?;

    let received = Received {
        method: &request.method,
        path: url.path(),
        query: url.query().unwrap_or_default(),
        headers: &headers,
        region,
        amz_date,
        signed_at,
    };
    caller_arn(&received, &authorization, expected.identities, expected.now).map_err(Refusal::Aws)
}

/// The region of `https://sts.{region}.amazonaws.com` (no port, no user info).
fn sts_region(url: &Url) -> Option<&str> {
    if url.scheme() != "https" || url.port().is_some() || !url.username().is_empty() {
        return None;
    }
    let region = url
        .host_str()?
        .strip_prefix("sts.")?
        .strip_suffix(".amazonaws.com")?;
    // `us-east-1`, `ap-southeast-2`, `us-gov-west-1`: letters, then digits last.
    let parts: Vec<&str> = region.split('-').collect();
    let valid = parts.len() >= 3
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()));
    valid.then_some(region)
}

/// Decodes a URL-encoded subject token as a query value: `%XX` escapes, and `+` for a space
/// (google-auth for Python encodes spaces as `%20`, for Go as `+`). `None` for a bad escape or
/// text that is not UTF-8.
fn query_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                decoded.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                decoded.push(b' ');
                i += 1;
            }
            byte => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Signatures are verified end to end in tests/workload_identity.rs, against requests signed by
    // the AWS SDK's own signer; these cover what needs no signature.

    const AUDIENCE: &str =
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/aws";

    fn valid_fields() -> ExchangeRequest {
        ExchangeRequest {
            grant_type: Some(TOKEN_EXCHANGE_GRANT.to_owned()),
            requested_token_type: Some(ACCESS_TOKEN_TYPE.to_owned()),
            subject_token_type: Some(AWS4_REQUEST_TOKEN_TYPE.to_owned()),
            audience: Some(AUDIENCE.to_owned()),
            scope: Some(CLOUD_PLATFORM_SCOPE.to_owned()),
            subject_token: Some("%7B%7D".to_owned()),
        }
    }

    fn refusal(request: &ExchangeRequest) -> Refusal {
        let identities = BTreeMap::new();
        let expected = Expected {
            audience: AUDIENCE,
            identities: &identities,
            now: Utc::now(),
        };
        match check_exchange(request, &expected) {
            Err(refusal) => refusal,
            Ok(exchanged) => panic!("expected a refusal, got {exchanged:?}"),
        }
    }

    #[test]
    fn request_fields_are_checked_before_the_subject_token() {
        type Change = fn(&mut ExchangeRequest);
        let cases: [(Change, Refusal); 7] = [
            (
                |r| r.grant_type = None,
                Refusal::MissingParameter("grant_type"),
            ),
            (
                |r| r.grant_type = Some("client_credentials".into()),
                Refusal::GrantType,
            ),
            (
                |r| {
                    r.requested_token_type =
                        Some("urn:ietf:params:oauth:token-type:id_token".into())
                },
                Refusal::RequestedTokenType,
            ),
            (
                |r| r.subject_token_type = Some("urn:ietf:params:oauth:token-type:jwt".into()),
                Refusal::SubjectTokenType,
            ),
            (
                |r| r.audience = Some(format!("https:{AUDIENCE}")),
                Refusal::MalformedAudience,
            ),
            (
                |r| r.audience = Some(AUDIENCE.replace("/aws", "/oidc")),
                Refusal::UnknownProvider,
            ),
            (|r| r.scope = Some(" ".into()), Refusal::NoScope),
        ];
        for (change, expected) in cases {
            let mut request = valid_fields();
            change(&mut request);
            assert_eq!(refusal(&request), expected);
        }
        let mut request = valid_fields();
        request.scope = Some("https://www.googleapis.com/auth/userinfo.email".into());
        assert_eq!(refusal(&request).error_code(), "invalid_scope");
        // All fields valid: the subject token (here `{}`) is what is refused.
        assert_eq!(refusal(&valid_fields()).error_code(), "invalid_grant");
    }

    #[test]
    fn json_fields_are_read_in_either_case_and_must_be_strings() -> Result<(), Refusal> {
        let request = ExchangeRequest::from_json(
            br#"{"grantType": "g", "subject_token": "s", "scope": "a b", "options": null}"#,
        )?;
        assert_eq!(request.grant_type.as_deref(), Some("g"));
        assert_eq!(request.subject_token.as_deref(), Some("s"));
        assert_eq!(request.scope.as_deref(), Some("a b"));
        assert!(ExchangeRequest::from_json(br#"{"scope": ["a"]}"#).is_err());
        assert!(ExchangeRequest::from_json(b"grant_type=x").is_err());
        Ok(())
    }

    #[test]
    fn only_regional_sts_endpoints_name_a_region() -> Result<(), url::ParseError> {
        let region = |url: &str| Url::parse(url).map(|u| sts_region(&u).map(str::to_owned));
        assert_eq!(
            region("https://sts.eu-west-1.amazonaws.com?a=b")?.as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region("https://sts.us-gov-west-1.amazonaws.com")?.as_deref(),
            Some("us-gov-west-1")
        );
        for url in [
            "https://sts.amazonaws.com",
            "http://sts.eu-west-1.amazonaws.com",
            "https://sts.eu-west-1.amazonaws.com:8443",
            "https://sts.eu-west-1.amazonaws.com.evil.example",
            "https://iam.eu-west-1.amazonaws.com",
            "https://sts.EU-WEST-one.amazonaws.com",
        ] {
            assert_eq!(region(url)?, None, "{url}");
        }
        Ok(())
    }

    #[test]
    fn a_subject_token_is_decoded_as_a_query_value() {
        assert_eq!(query_decode("a%2Bb+c%20d%7B").as_deref(), Some("a+b c d{"));
        assert_eq!(query_decode("%zz"), None);
        assert_eq!(query_decode("%4"), None);
    }
}
