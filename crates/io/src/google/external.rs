//! Keyless: a Google access token for the service account from the function's own AWS identity,
//! through Workload Identity Federation. The configuration is the `external_account` file that
//! `gcloud iam workload-identity-pools create-cred-config ... --aws --service-account=EMAIL`
//! writes. Three steps, each built as a plain value first:
//!
//! 1. [`subject_token`]: an STS `GetCallerIdentity` request for the function's region, signed
//!    with SigV4 by the credentials in the environment, carrying the
//!    `x-goog-cloud-target-resource` header (the audience), serialized as Google expects. It is
//!    never sent to AWS; Google sends it.
//! 2. [`sts_request`]: the RFC 8693 token exchange at the configuration's `token_url`, for a
//!    federated access token.
//! 3. [`impersonation_request`]: IAM Credentials `generateAccessToken` for the service account,
//!    with the configured scopes (`userinfo.email` included), so GKE sees its email.
//!
//! The instance metadata service is never called: region and credentials come from the
//! environment, as Lambda sets them, whatever URLs the configuration names for them.
//! The subject token, the federated token and the access token are secrets: never printed.

use crate::aws::AwsClient;
use crate::error::{Error, FederationStep};
use crate::http::{send, Answer};
use queue_scaler_core::hosts::{check_url, Service};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// `subject_token_type` of an AWS-sourced configuration.
pub(crate) const AWS_SUBJECT_TOKEN_TYPE: &str = "urn:ietf:params:aws:token-type:aws4_request";
/// The STS URL `gcloud` writes, with `{region}` in place of the region.
pub(crate) const DEFAULT_VERIFICATION_URL: &str =
    "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
/// How long before its expiry a cached token is replaced.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// The lifetime asked of `generateAccessToken`.
const LIFETIME_SECONDS: u64 = 3600;

#[derive(Deserialize)]
struct RawConfig {
    #[serde(rename = "type")]
    kind: Option<String>,
    audience: Option<String>,
    subject_token_type: Option<String>,
    token_url: Option<String>,
    service_account_impersonation_url: Option<String>,
    credential_source: Option<RawSource>,
}

#[derive(Deserialize)]
struct RawSource {
    environment_id: Option<String>,
    regional_cred_verification_url: Option<String>,
}

/// A checked `external_account` configuration for AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExternalAccount {
    /// The pool provider: `//iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/R`.
    pub(crate) audience: String,
    /// Google's STS token endpoint.
    pub(crate) token_url: String,
    /// `.../serviceAccounts/EMAIL:generateAccessToken`.
    pub(crate) impersonation_url: String,
    /// The service account's email, read from the impersonation URL.
    pub(crate) service_account: String,
    /// The GetCallerIdentity URL, with `{region}` in place of the region.
    pub(crate) verification_url: String,
    /// Where the configuration came from, for errors.
    pub(crate) origin: String,
}

impl ExternalAccount {
    /// Check an `external_account` configuration for AWS. `origin` names the setting.
    pub(crate) fn parse(json: &str, origin: &str) -> Result<Self, Error> {
        let bad = |detail: String| Error::Key {
            origin: origin.to_owned(),
            detail,
        };
        let raw: RawConfig = serde_json::from_str(json).map_err(|e| {
            bad(format!(
                "not JSON at line {} column {}",
                e.line(),
                e.column()
            ))
        })?;
        if raw.kind.as_deref() != Some("external_account") {
            return Err(bad("\"type\" is not \"external_account\"".into()));
        }
        // Every URL is allow-listed: whoever can change this file must not choose where the
        // signed GetCallerIdentity or the federated token goes.
        let https =
            |name: &str, value: Option<String>, service: Service| -> Result<String, Error> {
                match value {
                    Some(v) => check_url(&v, service)
                        .map(|_| v)
                        .map_err(|e| bad(format!("{name}: {e}"))),
                    None => Err(bad(format!("{name} is missing"))),
                }
            };
        let audience = raw
            .audience
            .filter(|a| a.starts_with("//iam.googleapis.com/") && a.contains("/providers/"))
            .ok_or_else(|| {
                bad("audience is missing or not //iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/POOL/providers/PROVIDER".into())
            })?;
        if raw.subject_token_type.as_deref() != Some(AWS_SUBJECT_TOKEN_TYPE) {
            return Err(bad(format!(
                "subject_token_type is not {AWS_SUBJECT_TOKEN_TYPE:?}: only AWS-sourced configurations \
                 (create-cred-config --aws) are supported"
            )));
        }
        let source = raw
            .credential_source
            .ok_or_else(|| bad("credential_source is missing".into()))?;
        if !source
            .environment_id
            .as_deref()
            .is_some_and(|id| id.starts_with("aws"))
        {
            return Err(bad(
                "credential_source.environment_id is not \"aws1\": only AWS-sourced configurations are supported".into(),
            ));
        }
        let verification_url = https(
            "credential_source.regional_cred_verification_url",
            Some(
                source
                    .regional_cred_verification_url
                    .unwrap_or_else(|| DEFAULT_VERIFICATION_URL.to_owned()),
            ),
            Service::AwsSts,
        )?;
        let token_url = https("token_url", raw.token_url, Service::GoogleSts)?;
        if raw.service_account_impersonation_url.is_none() {
            return Err(bad("service_account_impersonation_url is missing: create the configuration with \
                 --service-account=EMAIL, so GKE sees the service account's email and its RBAC applies"
                .into()));
        }
        let impersonation_url = https(
            "service_account_impersonation_url",
            raw.service_account_impersonation_url,
            Service::GoogleIamCredentials,
        )?;
        let service_account = impersonation_url
            .rsplit_once("/serviceAccounts/")
            .and_then(|(_, rest)| rest.strip_suffix(":generateAccessToken"))
            .filter(|email| email.contains('@'))
            .ok_or_else(|| {
                bad(format!(
                    "service_account_impersonation_url {impersonation_url:?} does not end in \
                     /serviceAccounts/EMAIL:generateAccessToken"
                ))
            })?
            .to_owned();
        Ok(ExternalAccount {
            audience,
            token_url,
            impersonation_url,
            service_account,
            verification_url,
            origin: origin.to_owned(),
        })
    }

    /// The GetCallerIdentity URL for `region`.
    pub(crate) fn verification_url_for(&self, region: &str) -> String {
        self.verification_url.replace("{region}", region)
    }
}

/// Step 1: the signed `GetCallerIdentity` request, serialized as Google's STS expects it: the
/// URL-encoded JSON of `{"url", "method": "POST", "headers": [{"key", "value"}, ...]}`.
pub(crate) fn subject_token(
    account: &ExternalAccount,
    aws: &AwsClient,
) -> Result<SecretString, Error> {
    let url = account.verification_url_for(aws.region());
    let parsed = url::Url::parse(&url).map_err(|e| Error::Key {
        origin: account.origin.clone(),
        detail: format!("the GetCallerIdentity URL {url:?} is not a URL ({e})"),
    })?;
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let request = http::Request::post(&url)
        .header("host", &host)
        .header("x-goog-cloud-target-resource", &account.audience)
        .body(Vec::new())
        .map_err(|e| Error::Signing(e.to_string()))?;
    let signed = aws.sign_request("sts", request)?;
    let headers: Vec<serde_json::Value> = signed
        .headers()
        .iter()
        .map(|(name, value)| {
            let key = match name.as_str() {
                // Google's libraries send these two capitalised; the signature ignores case.
                "authorization" => "Authorization",
                other => other,
            };
            serde_json::json!({"key": key, "value": value.to_str().unwrap_or_default()})
        })
        .collect();
    let serialized = serde_json::json!({"url": url, "method": "POST", "headers": headers});
    let encoded: String =
        url::form_urlencoded::byte_serialize(serialized.to_string().as_bytes()).collect();
    Ok(SecretString::from(encoded))
}

/// Step 2: the token exchange (RFC 8693) at Google's STS.
pub(crate) fn sts_request(
    account: &ExternalAccount,
    subject_token: &SecretString,
) -> Result<http::Request<Vec<u8>>, Error> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        )
        .append_pair("audience", &account.audience)
        .append_pair("scope", "https://www.googleapis.com/auth/cloud-platform")
        .append_pair(
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        )
        .append_pair("subject_token_type", AWS_SUBJECT_TOKEN_TYPE)
        .append_pair("subject_token", subject_token.expose_secret())
        .finish();
    http::Request::post(&account.token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body.into_bytes())
        .map_err(|e| Error::Signing(e.to_string()))
}

/// Step 3: `generateAccessToken` for the service account, with `scopes`. The federated token
/// goes in as the bearer token when it is sent.
pub(crate) fn impersonation_request(
    account: &ExternalAccount,
    scopes: &[String],
) -> Result<http::Request<Vec<u8>>, Error> {
    let body = serde_json::json!({"scope": scopes, "lifetime": format!("{LIFETIME_SECONDS}s")})
        .to_string();
    http::Request::post(&account.impersonation_url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(body.into_bytes())
        .map_err(|e| Error::Signing(e.to_string()))
}

#[derive(Deserialize)]
struct StsAnswer {
    access_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImpersonationAnswer {
    access_token: String,
    expire_time: String,
}

/// What to fix after a refusal, by step and answer.
fn hint(step: FederationStep, status: u16, body: &str) -> &'static str {
    match step {
        FederationStep::Exchange if body.contains("invalid_target") => {
            "the audience names no enabled workload identity pool provider: check the pool and its AWS provider exist and the audience in the credential configuration is theirs (infra/gke/service-account.sh keyless)"
        }
        FederationStep::Exchange if status == 400 || status == 401 || status == 403 => {
            "Google could not verify the signed AWS identity: check the provider's AWS account id matches this account, that AWS_REGION is the function's region, and the function's clock"
        }
        FederationStep::Impersonation if status == 403 => {
            "the AWS role is not allowed to impersonate the service account: grant roles/iam.workloadIdentityUser (or iam.serviceAccountTokenCreator) on it to principalSet://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/POOL/attribute.aws_role/arn:aws:sts::ACCOUNT:assumed-role/ROLE for the function's execution role (infra/gke/service-account.sh keyless)"
        }
        FederationStep::Impersonation if status == 404 => {
            "the service account in service_account_impersonation_url does not exist"
        }
        FederationStep::Impersonation if status == 401 => "the federated token was refused",
        _ => "",
    }
}

/// Google's message in an error answer: `error_description` (STS) or `error.message` (IAM).
fn google_message(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let sts = [
        v.get("error").and_then(|e| e.as_str()),
        v.get("error_description").and_then(|e| e.as_str()),
    ];
    if let [Some(code), description] = sts {
        return format!("{code}: {}", description.unwrap_or_default());
    }
    if let Some(message) = v.pointer("/error/message").and_then(|m| m.as_str()) {
        let status = v
            .pointer("/error/status")
            .and_then(|s| s.as_str())
            .unwrap_or_default();
        return format!("{status} {message}").trim().to_owned();
    }
    String::from_utf8_lossy(body).chars().take(200).collect()
}

fn refused(step: FederationStep, answer: &Answer) -> Error {
    let message = google_message(&answer.body);
    Error::Federation {
        step,
        status: answer.status,
        hint: hint(step, answer.status, &message),
        message,
    }
}

/// Tokens from the AWS identity, cached until shortly before they expire.
pub(crate) struct ExternalTokens {
    account: ExternalAccount,
    aws: AwsClient,
    http: reqwest::Client,
    scopes: Vec<String>,
    cached: Mutex<Option<(SecretString, Instant)>>,
}

impl std::fmt::Debug for ExternalTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalTokens")
            .field("account", &self.account)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl ExternalTokens {
    /// Tokens for `account`, signed with `aws`'s credentials, fetched over `http`.
    pub(crate) fn new(
        account: ExternalAccount,
        aws: AwsClient,
        http: reqwest::Client,
        scopes: Vec<String>,
    ) -> Self {
        ExternalTokens {
            account,
            aws,
            http,
            scopes,
            cached: Mutex::new(None),
        }
    }

    /// The service account's email.
    pub(crate) fn service_account(&self) -> &str {
        &self.account.service_account
    }

    /// A token: the cached one while it has more than a few minutes left, else a new one.
    pub(crate) async fn token(&self, fresh: bool) -> Result<SecretString, Error> {
        let mut cached = self.cached.lock().await;
        if let Some((token, expiry)) = cached.as_ref() {
            if !fresh && Instant::now() + REFRESH_MARGIN < *expiry {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = self.fetch().await?;
        *cached = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    async fn fetch(&self) -> Result<(SecretString, Duration), Error> {
        let subject = subject_token(&self.account, &self.aws)?;
        let answer = send(
            &self.http,
            sts_request(&self.account, &subject)?,
            None,
            None,
        )
        .await?;
        if answer.status != 200 {
            return Err(refused(FederationStep::Exchange, &answer));
        }
        let federated: StsAnswer =
            serde_json::from_slice(&answer.body).map_err(|e| Error::Protocol {
                url: answer.url.clone(),
                detail: format!("the token exchange answer has no access_token ({e})"),
            })?;
        let federated = SecretString::from(federated.access_token);
        let request = impersonation_request(&self.account, &self.scopes)?;
        let answer = send(&self.http, request, Some(&federated), None).await?;
        if answer.status != 200 {
            return Err(refused(FederationStep::Impersonation, &answer));
        }
        let token: ImpersonationAnswer =
            serde_json::from_slice(&answer.body).map_err(|e| Error::Protocol {
                url: answer.url.clone(),
                detail: format!("the generateAccessToken answer has no accessToken ({e})"),
            })?;
        let lifetime = chrono::DateTime::parse_from_rfc3339(&token.expire_time)
            .ok()
            .and_then(|t| {
                let at = SystemTime::from(t.with_timezone(&chrono::Utc));
                at.duration_since(SystemTime::now()).ok()
            })
            .unwrap_or(Duration::from_secs(LIFETIME_SECONDS));
        Ok((SecretString::from(token.access_token), lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::example_client;

    const CONFIG: &str = r#"{
      "universe_domain": "googleapis.com",
      "type": "external_account",
      "audience": "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/queue-scaler/providers/aws",
      "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
      "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/queue-scaler@p.iam.gserviceaccount.com:generateAccessToken",
      "token_url": "https://sts.googleapis.com/v1/token",
      "credential_source": {
        "environment_id": "aws1",
        "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
        "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
        "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        "imdsv2_session_token_url": "http://169.254.169.254/latest/api/token"
      }
    }"#;

    #[test]
    fn gclouds_configuration_is_read_and_its_imds_urls_are_ignored() {
        let account = ExternalAccount::parse(CONFIG, "GCP_CREDENTIAL_CONFIG")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            account.service_account,
            "queue-scaler@p.iam.gserviceaccount.com"
        );
        assert_eq!(
            account.verification_url_for("eu-west-1"),
            "https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
        );
        assert!(!format!("{account:?}").contains("169.254"));
    }

    #[test]
    fn a_configuration_whose_urls_name_another_host_is_refused_naming_the_field_and_host() {
        let cases = [
            (
                "https://sts.googleapis.com/v1/token",
                "https://sts.googleapis.com.evil.example/v1/token",
                "token_url",
            ),
            (
                "https://iamcredentials.googleapis.com/",
                "https://evil.example/",
                "service_account_impersonation_url",
            ),
            (
                "https://sts.{region}.amazonaws.com?",
                "https://sts.{region}.amazonaws.com.evil.example?",
                "regional_cred_verification_url",
            ),
            (
                "https://sts.googleapis.com/v1/token",
                "http://sts.googleapis.com/v1/token",
                "token_url",
            ),
        ];
        for (good, bad, field) in cases {
            let config = CONFIG.replace(good, bad);
            assert_ne!(config, CONFIG, "{good} is in the sample");
            let err =
                ExternalAccount::parse(&config, "GCP_SERVICE_ACCOUNT_KEY_SECRET (s)").unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains(field) && msg.contains("GCP_SERVICE_ACCOUNT_KEY_SECRET"),
                "{msg}"
            );
            assert_eq!(err.class(), crate::error::ErrorClass::Config, "{msg}");
        }
    }

    #[test]
    fn a_key_whose_token_uri_is_not_googles_is_refused() {
        for uri in [
            "https://oauth2.googleapis.com.evil.example/token",
            "http://oauth2.googleapis.com/token",
        ] {
            let json = format!(
                r#"{{"type":"service_account","client_email":"s@p.iam.gserviceaccount.com","private_key":"HUSH","token_uri":"{uri}"}}"#
            );
            let err = crate::google::key::ServiceAccountKey::parse(SecretString::from(json), "X")
                .unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("token_uri") && !msg.contains("HUSH"), "{msg}");
        }
    }

    #[test]
    fn a_configuration_without_impersonation_or_of_another_source_is_refused_saying_why() {
        let no_impersonation = CONFIG.replace("service_account_impersonation_url", "x");
        let err = ExternalAccount::parse(&no_impersonation, "GCP_CREDENTIAL_CONFIG").unwrap_err();
        assert!(err.to_string().contains("--service-account=EMAIL"), "{err}");
        let azure = CONFIG.replace("aws4_request", "jwt");
        let err = ExternalAccount::parse(&azure, "GCP_CREDENTIAL_CONFIG").unwrap_err();
        assert!(err.to_string().contains("--aws"), "{err}");
        let wrong_type = CONFIG.replace("\"external_account\"", "\"service_account\"");
        assert!(ExternalAccount::parse(&wrong_type, "X").is_err());
    }

    #[test]
    fn the_subject_token_is_a_signed_get_caller_identity_for_the_region_and_audience() {
        let account = ExternalAccount::parse(CONFIG, "X").unwrap_or_else(|e| panic!("{e}"));
        let token = subject_token(&account, &example_client()).unwrap_or_else(|e| panic!("{e}"));
        let decoded: String =
            url::form_urlencoded::parse(format!("t={}", token.expose_secret()).as_bytes())
                .map(|(_, v)| v.into_owned())
                .collect();
        let v: serde_json::Value =
            serde_json::from_str(&decoded).unwrap_or_else(|e| panic!("{e}: {decoded}"));
        assert_eq!(v["method"], "POST");
        assert_eq!(
            v["url"],
            "https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
        );
        let header = |name: &str| {
            v["headers"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|h| {
                    h["key"]
                        .as_str()
                        .is_some_and(|k| k.eq_ignore_ascii_case(name))
                })
                .map(|h| h["value"].as_str().unwrap_or_default().to_owned())
        };
        assert_eq!(
            header("host").as_deref(),
            Some("sts.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            header("x-goog-cloud-target-resource").as_deref(),
            Some(account.audience.as_str())
        );
        assert_eq!(
            header("x-amz-security-token").as_deref(),
            Some("SESSIONTOKEN")
        );
        let auth = header("authorization").unwrap_or_default();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
                && auth.contains("/eu-west-1/sts/aws4_request"),
            "{auth}"
        );
        assert!(
            auth.contains("x-goog-cloud-target-resource"),
            "the audience header is signed: {auth}"
        );
        assert!(header("x-amz-date").is_some());
    }

    #[test]
    fn the_exchange_and_impersonation_requests_carry_what_google_checks() {
        let account = ExternalAccount::parse(CONFIG, "X").unwrap_or_else(|e| panic!("{e}"));
        let r = sts_request(&account, &SecretString::from("SUBJECT".to_owned()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.uri(), "https://sts.googleapis.com/v1/token");
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(r.body()).into_owned().collect();
        assert_eq!(
            form["grant_type"],
            "urn:ietf:params:oauth:grant-type:token-exchange"
        );
        assert_eq!(form["subject_token_type"], AWS_SUBJECT_TOKEN_TYPE);
        assert_eq!(
            form["requested_token_type"],
            "urn:ietf:params:oauth:token-type:access_token"
        );
        assert_eq!(form["audience"], account.audience);
        assert_eq!(form["subject_token"], "SUBJECT");
        let scopes = vec![
            "https://www.googleapis.com/auth/cloud-platform".to_owned(),
            "https://www.googleapis.com/auth/userinfo.email".to_owned(),
        ];
        let r = impersonation_request(&account, &scopes).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.uri().to_string().ends_with(
            "/serviceAccounts/queue-scaler@p.iam.gserviceaccount.com:generateAccessToken"
        ));
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap_or_default();
        assert_eq!(body["scope"], serde_json::json!(scopes));
    }

    #[test]
    fn refusals_name_the_step_and_the_fix() {
        let answer = |status, body: &str| Answer {
            status,
            body: body.as_bytes().to_vec(),
            url: "u".into(),
        };
        let e = refused(
            FederationStep::Exchange,
            &answer(
                400,
                r#"{"error":"invalid_target","error_description":"The target service indicated by the \"audience\" parameters is invalid."}"#,
            ),
        );
        let msg = e.to_string();
        assert!(
            msg.contains("token exchange")
                && msg.contains("invalid_target")
                && msg.contains("pool"),
            "{msg}"
        );
        assert_eq!(e.class(), crate::error::ErrorClass::NonRetryable);
        let e = refused(
            FederationStep::Impersonation,
            &answer(
                403,
                r#"{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).","status":"PERMISSION_DENIED"}}"#,
            ),
        );
        let msg = e.to_string();
        assert!(
            msg.contains("generateAccessToken")
                && msg.contains("workloadIdentityUser")
                && msg.contains("PERMISSION_DENIED"),
            "{msg}"
        );
        let e = refused(FederationStep::Exchange, &answer(503, "{}"));
        assert!(e.is_transient());
    }
}
