//! Keyless access through Workload Identity Federation: a GetCallerIdentity request signed with
//! the AWS SDK's own signer is exchanged at STS for a federated token, which impersonates the
//! service account; the impersonated token scales like a key-issued one. Every refusal has
//! Google's error shape and issues nothing.

mod common;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use common::{Fallible, Harness, TempDir, TestResult};
use local_gke::admin::{Fault, RequestKind};
use local_gke::config::{
    TEST_AWS_ACCESS_KEY_ID, TEST_AWS_ROLE_ARN, TEST_AWS_SECRET_ACCESS_KEY, TEST_AWS_SESSION_TOKEN,
};
use local_gke::{
    AwsIdentity, Config, WorkloadIdentity, CLOUD_PLATFORM_SCOPE, USERINFO_EMAIL_SCOPE,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const AWS4_REQUEST: &str = "urn:ietf:params:aws:token-type:aws4_request";
const REGION: &str = "eu-west-1";

/// A GetCallerIdentity request to sign, as the functions build it.
struct AwsRequest {
    identity: AwsIdentity,
    /// The region the signature is scoped to.
    signing_region: String,
    /// The region of the endpoint in the url and the host header.
    endpoint_region: String,
    target_resource: String,
    /// Whether `x-goog-cloud-target-resource` is signed (google-auth for Python adds it after).
    sign_target_resource: bool,
    time: SystemTime,
}

impl AwsRequest {
    fn new(harness: &Harness) -> Self {
        AwsRequest {
            identity: AwsIdentity::test_default(),
            signing_region: REGION.to_owned(),
            endpoint_region: REGION.to_owned(),
            target_resource: harness.gke.workload_identity_audience(),
            sign_target_resource: true,
            time: SystemTime::now(),
        }
    }

    fn url(&self) -> String {
        format!(
            "https://sts.{}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            self.endpoint_region
        )
    }

    /// Signs the request with aws-sigv4 and serializes it as google-auth does:
    /// `{"url", "method", "headers": [{"key", "value"}, ...]}`, headers sorted by name.
    fn serialized(&self) -> Fallible<Value> {
        let url = self.url();
        let host = format!("sts.{}.amazonaws.com", self.endpoint_region);
        let mut headers = vec![("host".to_owned(), host)];
        let target = (
            "x-goog-cloud-target-resource".to_owned(),
            self.target_resource.clone(),
        );
        if self.sign_target_resource {
            headers.push(target.clone());
        }
        let identity = Credentials::new(
            &self.identity.access_key_id,
            &self.identity.secret_access_key,
            self.identity.session_token.clone(),
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.signing_region)
            .name("sts")
            .time(self.time)
            .settings(SigningSettings::default())
            .build()?
            .into();
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(b""),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        for (name, value) in instructions.headers() {
            let name = if name.eq_ignore_ascii_case("authorization") {
                "Authorization".to_owned()
            } else {
                name.to_owned()
            };
            headers.push((name, value.to_owned()));
        }
        if !self.sign_target_resource {
            headers.push(target);
        }
        headers.sort();
        let headers: Vec<Value> = headers
            .into_iter()
            .map(|(key, value)| json!({"key": key, "value": value}))
            .collect();
        Ok(json!({"url": url, "method": "POST", "headers": headers}))
    }

    /// The subject token, URL-encoded as google-auth for Go encodes it (spaces as `+`).
    fn subject_token(&self) -> Fallible<String> {
        Ok(go_encode(&self.serialized()?))
    }
}

/// `url.QueryEscape` of the JSON, as google-auth for Go encodes the subject token.
fn go_encode(serialized: &Value) -> String {
    url::form_urlencoded::byte_serialize(serialized.to_string().as_bytes()).collect()
}

/// `urllib.parse.quote` of the JSON, as google-auth for Python encodes it (spaces as `%20`).
fn python_encode(serialized: &Value) -> String {
    serialized
        .to_string()
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Sets the value of the serialized request's header `name` (case-insensitive).
fn set_header(serialized: &mut Value, name: &str, value: &str) -> TestResult {
    let headers = serialized["headers"].as_array_mut().ok_or("no headers")?;
    let header = headers
        .iter_mut()
        .find(|h| {
            h["key"]
                .as_str()
                .is_some_and(|k| k.eq_ignore_ascii_case(name))
        })
        .ok_or_else(|| format!("no {name} header"))?;
    header["value"] = json!(value);
    Ok(())
}

fn header<'a>(serialized: &'a Value, name: &str) -> Fallible<&'a str> {
    serialized["headers"]
        .as_array()
        .ok_or("no headers")?
        .iter()
        .find(|h| {
            h["key"]
                .as_str()
                .is_some_and(|k| k.eq_ignore_ascii_case(name))
        })
        .and_then(|h| h["value"].as_str())
        .ok_or_else(|| format!("no {name} header").into())
}

/// The form fields of a valid exchange of `subject_token`.
fn exchange_fields(harness: &Harness, subject_token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", TOKEN_EXCHANGE.to_owned()),
        ("requested_token_type", ACCESS_TOKEN.to_owned()),
        ("subject_token_type", AWS4_REQUEST.to_owned()),
        ("audience", harness.gke.workload_identity_audience()),
        ("scope", CLOUD_PLATFORM_SCOPE.to_owned()),
        ("subject_token", subject_token.to_owned()),
    ]
}

/// local-gke with its defaults, and the form fields of a valid exchange of a request signed by
/// the test identity: what the refusal tests change one thing of.
async fn start_with_a_valid_exchange() -> Fallible<(Harness, Vec<(&'static str, String)>)> {
    let harness = Harness::start().await?;
    let fields = exchange_fields(&harness, &AwsRequest::new(&harness).subject_token()?);
    Ok((harness, fields))
}

/// Replaces (or, with `None`, removes) one field.
fn with(
    mut fields: Vec<(&'static str, String)>,
    name: &'static str,
    value: Option<&str>,
) -> Vec<(&'static str, String)> {
    fields.retain(|(key, _)| *key != name);
    if let Some(value) = value {
        fields.push((name, value.to_owned()));
    }
    fields
}

/// POSTs a form to the STS endpoint.
async fn exchange(
    harness: &Harness,
    fields: &[(&'static str, String)],
) -> Fallible<(StatusCode, Value)> {
    let response = harness
        .google
        .post(harness.gke.sts_url())
        .form(fields)
        .send()
        .await?;
    Ok((response.status(), response.json().await?))
}

/// POSTs the form of a valid exchange of `subject_token` to the STS endpoint.
async fn exchange_subject(harness: &Harness, subject_token: &str) -> Fallible<(StatusCode, Value)> {
    exchange(harness, &exchange_fields(harness, subject_token)).await
}

/// Asserts that the STS endpoint refuses the exchange of `fields` as [`assert_sts_refusal`]
/// checks: 400, `error`, a description containing `description`, and no token.
async fn assert_exchange_refused(
    harness: &Harness,
    fields: &[(&'static str, String)],
    error: &str,
    description: &str,
) -> TestResult {
    let (status, body) = exchange(harness, fields).await?;
    assert_sts_refusal(status, &body, error, description);
    Ok(())
}

/// Asserts that the STS endpoint refuses an otherwise valid exchange of `subject_token` as
/// [`assert_sts_refusal`] checks: 400, `invalid_grant`, a description containing `description`,
/// and no token.
async fn assert_grant_refused(
    harness: &Harness,
    subject_token: &str,
    description: &str,
) -> TestResult {
    let fields = exchange_fields(harness, subject_token);
    assert_exchange_refused(harness, &fields, "invalid_grant", description).await
}

/// A federated token for a request signed by the test identity.
async fn federated_token(harness: &Harness) -> Fallible<String> {
    let subject_token = AwsRequest::new(harness).subject_token()?;
    let (status, body) = exchange(harness, &exchange_fields(harness, &subject_token)).await?;
    if status != StatusCode::OK {
        return Err(format!("exchange failed: {status} {body}").into());
    }
    Ok(body["access_token"]
        .as_str()
        .ok_or("no access_token")?
        .to_owned())
}

/// Calls generateAccessToken for `email` with `bearer`.
async fn impersonate_account(
    harness: &Harness,
    email: &str,
    bearer: &str,
    body: &Value,
) -> Fallible<(StatusCode, Value)> {
    let url = format!(
        "{}/v1/projects/-/serviceAccounts/{email}:generateAccessToken",
        harness.gke.google_url()
    );
    let response = harness
        .google
        .post(url)
        .bearer_auth(bearer)
        .json(body)
        .send()
        .await?;
    Ok((response.status(), response.json().await?))
}

async fn impersonate(
    harness: &Harness,
    bearer: &str,
    body: &Value,
) -> Fallible<(StatusCode, Value)> {
    impersonate_account(harness, harness.email(), bearer, body).await
}

fn scaler_scopes() -> Value {
    json!({"scope": [CLOUD_PLATFORM_SCOPE, USERINFO_EMAIL_SCOPE]})
}

/// Asserts a Google STS refusal: 400, `error`, a description containing `description`, and no
/// token.
fn assert_sts_refusal(status: StatusCode, body: &Value, error: &str, description: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let text = body["error_description"].as_str().unwrap_or_default();
    assert!(text.contains(description), "{text:?} lacks {description:?}");
    assert!(body.get("access_token").is_none(), "{body}");
}

/// Asserts a Google API refusal: `{"error": {"code", "message", "status"}}`, and no token.
fn assert_google_error(status: StatusCode, body: &Value, code: StatusCode, google_status: &str) {
    assert_eq!(status, code, "{body}");
    assert_eq!(body["error"]["code"], code.as_u16(), "{body}");
    assert_eq!(body["error"]["status"], google_status, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body.get("accessToken").is_none(), "{body}");
}

async fn review(harness: &Harness, token: &str) -> Fallible<Value> {
    let response = harness
        .google
        .post(harness.gke.token_review_url())
        .json(&json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }))
        .send()
        .await?;
    Ok(response.json().await?)
}

async fn get_cluster(harness: &Harness, token: &str) -> Fallible<StatusCode> {
    Ok(harness.get_cluster(token).await?.status())
}

#[tokio::test]
async fn a_signed_aws_request_is_exchanged_impersonates_and_scales() -> TestResult {
    let harness = Harness::start().await?;
    let subject_token = AwsRequest::new(&harness).subject_token()?;
    let (status, body) = exchange_subject(&harness, &subject_token).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let federated = body["access_token"].as_str().ok_or("no access_token")?;

    // The federated token itself opens neither the cluster, nor the GKE API, nor TokenReview.
    let (status, _) = harness.get_scale("ml", "model-worker", federated).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get_cluster(&harness, federated).await?,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        review(&harness, federated).await?["status"]["authenticated"],
        false
    );

    let (status, body) = impersonate(&harness, federated, &scaler_scopes()).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expire_time =
        chrono::DateTime::parse_from_rfc3339(body["expireTime"].as_str().ok_or("no expireTime")?)?;
    let lives = expire_time.timestamp() - common::now();
    assert!((3590..=3600).contains(&lives), "expires in {lives} s");
    let token = body["accessToken"].as_str().ok_or("no accessToken")?;

    // It is the service account's email to the GKE API, the cluster and TokenReview.
    assert_eq!(get_cluster(&harness, token).await?, StatusCode::OK);
    let (status, scale) = harness.get_scale("ml", "model-worker", token).await?;
    assert_eq!(status, StatusCode::OK, "{scale}");
    let mut scale = scale;
    scale["spec"]["replicas"] = json!(5);
    let (status, body) = harness
        .put_scale("ml", "model-worker", token, &scale)
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(harness.replicas("ml", "model-worker").await?, 5);
    let answer = review(&harness, token).await?;
    assert_eq!(answer["status"]["authenticated"], true);
    assert_eq!(answer["status"]["user"]["username"], harness.email());

    // Both steps are in the request log under their own kinds.
    let kinds: Vec<RequestKind> = harness
        .admin
        .requests()
        .await?
        .into_iter()
        .map(|r| r.kind)
        .collect();
    for kind in [RequestKind::StsToken, RequestKind::GenerateAccessToken] {
        let count = kinds.iter().filter(|k| **k == kind).count();
        assert_eq!(count, 1, "{kind:?} in {kinds:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_json_exchange_of_a_python_encoded_token_is_accepted() -> TestResult {
    let harness = Harness::start().await?;
    let mut request = AwsRequest::new(&harness);
    // google-auth for Python signs without the target resource header and adds it afterwards.
    request.sign_target_resource = false;
    let serialized = request.serialized()?;
    assert!(!header(&serialized, "authorization")?.contains("x-goog-cloud-target-resource"));
    let response = harness
        .google
        .post(harness.gke.sts_url())
        .json(&json!({
            "grantType": TOKEN_EXCHANGE,
            "requestedTokenType": ACCESS_TOKEN,
            "subjectTokenType": AWS4_REQUEST,
            "audience": harness.gke.workload_identity_audience(),
            "scope": format!("{CLOUD_PLATFORM_SCOPE} {USERINFO_EMAIL_SCOPE}"),
            "subjectToken": python_encode(&serialized),
        }))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string());
    Ok(())
}

#[tokio::test]
async fn an_impersonated_token_without_userinfo_email_is_the_numeric_id() -> TestResult {
    let harness = Harness::start().await?;
    let federated = federated_token(&harness).await?;
    let (status, body) = impersonate(
        &harness,
        &federated,
        &json!({"scope": [CLOUD_PLATFORM_SCOPE], "lifetime": "600s"}),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["accessToken"].as_str().ok_or("no accessToken")?;
    let answer = review(&harness, token).await?;
    assert_eq!(answer["status"]["user"]["username"], harness.client_id());
    // The grant is the email's, so the numeric id may not scale.
    let (status, _) = harness.get_scale("ml", "model-worker", token).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let expire_time =
        chrono::DateTime::parse_from_rfc3339(body["expireTime"].as_str().ok_or("no expireTime")?)?;
    let lives = expire_time.timestamp() - common::now();
    assert!((590..=600).contains(&lives), "expires in {lives} s");
    Ok(())
}

#[tokio::test]
async fn the_env_file_and_credential_configuration_lead_to_a_token() -> TestResult {
    let harness = Harness::start().await?;
    let dir = TempDir::new("keyless")?;
    let env_path = harness.gke.write_state_dir(&dir.0)?;
    let env: std::collections::HashMap<String, String> = std::fs::read_to_string(env_path)?
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let config: Value = serde_json::from_str(&std::fs::read_to_string(
        &env["LOCAL_GKE_CREDENTIAL_CONFIG"],
    )?)?;
    assert_eq!(config["subject_token_type"], AWS4_REQUEST);
    assert_eq!(config["credential_source"]["environment_id"], "aws1");
    let verification_url = config["credential_source"]["regional_cred_verification_url"]
        .as_str()
        .ok_or("no regional_cred_verification_url")?;
    assert_eq!(
        verification_url.replace("{region}", REGION),
        AwsRequest::new(&harness).url()
    );

    let mut request = AwsRequest::new(&harness);
    request.identity = AwsIdentity {
        access_key_id: env["LOCAL_GKE_AWS_ACCESS_KEY_ID"].clone(),
        secret_access_key: env["LOCAL_GKE_AWS_SECRET_ACCESS_KEY"].clone(),
        session_token: Some(env["LOCAL_GKE_AWS_SESSION_TOKEN"].clone()),
        arn: env["LOCAL_GKE_AWS_ROLE_ARN"].clone(),
    };
    request.target_resource = config["audience"].as_str().ok_or("no audience")?.to_owned();
    let mut fields = exchange_fields(&harness, &request.subject_token()?);
    fields = with(fields, "audience", Some(&request.target_resource));
    let response = harness
        .google
        .post(config["token_url"].as_str().ok_or("no token_url")?)
        .form(&fields)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await?;
    let federated = body["access_token"].as_str().ok_or("no access_token")?;
    let response = harness
        .google
        .post(
            config["service_account_impersonation_url"]
                .as_str()
                .ok_or("no service_account_impersonation_url")?,
        )
        .bearer_auth(federated)
        .json(&scaler_scopes())
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(env["LOCAL_GKE_AWS_ROLE_ARN"], TEST_AWS_ROLE_ARN);
    Ok(())
}

// --- STS refusals -------------------------------------------------------------------------

#[tokio::test]
async fn another_grant_type_is_an_invalid_request() -> TestResult {
    let (harness, fields) = start_with_a_valid_exchange().await?;
    assert_exchange_refused(
        &harness,
        &with(fields.clone(), "grant_type", Some("client_credentials")),
        "invalid_request",
        "grant_type",
    )
    .await?;
    assert_exchange_refused(
        &harness,
        &with(fields, "grant_type", None),
        "invalid_request",
        "grant_type",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn another_subject_or_requested_token_type_is_an_invalid_request() -> TestResult {
    let (harness, fields) = start_with_a_valid_exchange().await?;
    let jwt = "urn:ietf:params:oauth:token-type:jwt";
    assert_exchange_refused(
        &harness,
        &with(fields.clone(), "subject_token_type", Some(jwt)),
        "invalid_request",
        "subject_token_type",
    )
    .await?;
    assert_exchange_refused(
        &harness,
        &with(fields, "requested_token_type", Some(jwt)),
        "invalid_request",
        "Invalid value of requested_token_type in request.",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn an_audience_for_another_provider_is_an_invalid_target() -> TestResult {
    let (harness, fields) = start_with_a_valid_exchange().await?;
    let other = WorkloadIdentity {
        provider: "other".to_owned(),
        ..WorkloadIdentity::default()
    }
    .audience();
    assert_exchange_refused(
        &harness,
        &with(fields.clone(), "audience", Some(&other)),
        "invalid_target",
        "The target service indicated by the \"audience\" parameters is invalid. This might \
         either be because the pool or provider is disabled or deleted or because it doesn't exist.",
    )
    .await?;
    // Not a provider's full resource name at all: Google asks for `//iam.googleapis.com/…`.
    let https = format!("https:{}", harness.gke.workload_identity_audience());
    assert_exchange_refused(
        &harness,
        &with(fields, "audience", Some(&https)),
        "invalid_request",
        "Invalid value for \"audience\"",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_target_resource_header_for_another_provider_is_refused() -> TestResult {
    let harness = Harness::start().await?;
    let mut request = AwsRequest::new(&harness);
    request.target_resource = WorkloadIdentity {
        pool: "other".to_owned(),
        ..WorkloadIdentity::default()
    }
    .audience();
    // Signed as it stands: only the target resource is wrong.
    assert_grant_refused(
        &harness,
        &request.subject_token()?,
        "x-goog-cloud-target-resource",
    )
    .await?;
    // Without the header at all.
    let mut serialized = AwsRequest::new(&harness).serialized()?;
    serialized["headers"]
        .as_array_mut()
        .ok_or("no headers")?
        .retain(|h| h["key"] != "x-goog-cloud-target-resource");
    assert_grant_refused(
        &harness,
        &go_encode(&serialized),
        "x-goog-cloud-target-resource",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_request_signed_more_than_15_minutes_ago_or_ahead_is_refused() -> TestResult {
    let harness = Harness::start().await?;
    let mut request = AwsRequest::new(&harness);
    request.time = SystemTime::now() - Duration::from_secs(16 * 60);
    assert_grant_refused(&harness, &request.subject_token()?, "Signature expired").await?;
    request.time = SystemTime::now() + Duration::from_secs(16 * 60);
    assert_grant_refused(
        &harness,
        &request.subject_token()?,
        "Signature not yet current",
    )
    .await?;
    // 14 minutes is within AWS's window.
    request.time = SystemTime::now() - Duration::from_secs(14 * 60);
    let (status, body) = exchange_subject(&harness, &request.subject_token()?).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}

#[tokio::test]
async fn a_signature_changed_in_one_character_or_made_with_another_secret_is_refused() -> TestResult
{
    let harness = Harness::start().await?;
    let mut serialized = AwsRequest::new(&harness).serialized()?;
    let authorization = header(&serialized, "authorization")?.to_owned();
    let last = authorization.chars().last().ok_or("empty authorization")?;
    let flipped = if last == '0' { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &authorization[..authorization.len() - 1]);
    set_header(&mut serialized, "authorization", &tampered)?;
    assert_grant_refused(&harness, &go_encode(&serialized), "SignatureDoesNotMatch").await?;

    // A signed header changed after signing breaks the signature too.
    let mut serialized = AwsRequest::new(&harness).serialized()?;
    let date = header(&serialized, "x-amz-date")?.to_owned();
    let earlier = format!(
        "{}{}",
        &date[..date.len() - 2],
        if date.ends_with("0Z") { "1Z" } else { "0Z" }
    );
    set_header(&mut serialized, "x-amz-date", &earlier)?;
    assert_grant_refused(&harness, &go_encode(&serialized), "SignatureDoesNotMatch").await?;

    let mut request = AwsRequest::new(&harness);
    request.identity.secret_access_key = TEST_AWS_SECRET_ACCESS_KEY.replace('K', "L");
    assert_grant_refused(
        &harness,
        &request.subject_token()?,
        "The request signature we calculated does not match",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_request_for_another_region_or_endpoint_is_refused() -> TestResult {
    let harness = Harness::start().await?;
    // Signed for one region, sent to another's endpoint.
    let mut request = AwsRequest::new(&harness);
    request.signing_region = "us-east-1".to_owned();
    assert_grant_refused(
        &harness,
        &request.subject_token()?,
        "Credential should be scoped to a valid region",
    )
    .await?;

    // A host header that disagrees with the url.
    let mut serialized = AwsRequest::new(&harness).serialized()?;
    set_header(&mut serialized, "host", "sts.us-east-1.amazonaws.com")?;
    assert_grant_refused(&harness, &go_encode(&serialized), "host header").await?;

    // The global endpoint, and another service's.
    for url in [
        "https://sts.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        "https://iam.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
    ] {
        let mut serialized = AwsRequest::new(&harness).serialized()?;
        serialized["url"] = json!(url);
        assert_grant_refused(
            &harness,
            &go_encode(&serialized),
            "regional AWS STS endpoint",
        )
        .await?;
    }

    // Another action.
    let mut serialized = AwsRequest::new(&harness).serialized()?;
    serialized["url"] = json!(format!(
        "https://sts.{REGION}.amazonaws.com?Action=AssumeRole&Version=2011-06-15"
    ));
    assert_grant_refused(&harness, &go_encode(&serialized), "GetCallerIdentity").await?;
    Ok(())
}

#[tokio::test]
async fn an_unknown_access_key_or_a_wrong_session_token_is_refused() -> TestResult {
    let harness = Harness::start().await?;
    let mut request = AwsRequest::new(&harness);
    request.identity.access_key_id = "ASIAUNKNOWNKEY000000".to_owned();
    assert_grant_refused(&harness, &request.subject_token()?, "InvalidClientTokenId").await?;

    let mut request = AwsRequest::new(&harness);
    request.identity.session_token = Some(format!("{TEST_AWS_SESSION_TOKEN}x"));
    assert_grant_refused(&harness, &request.subject_token()?, "InvalidClientTokenId").await?;

    let mut request = AwsRequest::new(&harness);
    request.identity.session_token = None;
    assert_grant_refused(&harness, &request.subject_token()?, "InvalidClientTokenId").await?;
    Ok(())
}

#[tokio::test]
async fn a_subject_token_that_is_not_encoded_json_is_refused() -> TestResult {
    let harness = Harness::start().await?;
    let serialized = AwsRequest::new(&harness).serialized()?;
    // Not URL-encoded: the session token's `+` signs would be read as spaces.
    assert_grant_refused(&harness, &serialized.to_string(), "InvalidClientTokenId").await?;
    assert_grant_refused(&harness, "not json", "AWS request has invalid format.").await?;
    Ok(())
}

#[tokio::test]
async fn missing_or_insufficient_scopes_are_refused() -> TestResult {
    let (harness, fields) = start_with_a_valid_exchange().await?;
    assert_exchange_refused(
        &harness,
        &with(fields.clone(), "scope", None),
        "invalid_request",
        "Scope(s) must be provided.",
    )
    .await?;
    assert_exchange_refused(
        &harness,
        &with(fields, "scope", Some(USERINFO_EMAIL_SCOPE)),
        "invalid_scope",
        CLOUD_PLATFORM_SCOPE,
    )
    .await?;

    // generateAccessToken needs scopes too.
    let federated = federated_token(&harness).await?;
    for body in [json!({}), json!({"scope": []}), json!({"scope": "x"})] {
        let (status, answer) = impersonate(&harness, &federated, &body).await?;
        assert_google_error(status, &answer, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    }
    let (status, answer) = impersonate(
        &harness,
        &federated,
        &json!({"scope": [CLOUD_PLATFORM_SCOPE], "lifetime": "7200s"}),
    )
    .await?;
    assert_google_error(status, &answer, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    Ok(())
}

// --- generateAccessToken refusals ---------------------------------------------------------

#[tokio::test]
async fn a_role_not_bound_to_the_service_account_is_denied_until_bound() -> TestResult {
    let harness = Harness::start().await?;
    let scale_down = AwsIdentity {
        access_key_id: "ASIASCALEDOWN0000000".to_owned(),
        secret_access_key: "scale-down-secret-access-key-000000000000".to_owned(),
        session_token: Some("scale-down-session".to_owned()),
        arn:
            "arn:aws:sts::123456789012:assumed-role/queue-scaler-scale-down/queue-scaler-scale-down"
                .to_owned(),
    };
    let added = harness.admin.add_aws_identity(&scale_down).await?;
    assert_eq!(added.arn, scale_down.arn);
    let mut request = AwsRequest::new(&harness);
    request.identity = scale_down;
    let (status, body) = exchange_subject(&harness, &request.subject_token()?).await?;
    assert_eq!(
        status,
        StatusCode::OK,
        "the exchange itself succeeds: {body}"
    );
    let federated = body["access_token"].as_str().ok_or("no access_token")?;

    let (status, body) = impersonate(&harness, federated, &scaler_scopes()).await?;
    assert_google_error(status, &body, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    assert_eq!(
        body["error"]["message"],
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
    );
    assert_eq!(
        body["error"]["details"][0]["reason"],
        "IAM_PERMISSION_DENIED"
    );
    assert_eq!(
        body["error"]["details"][0]["metadata"]["permission"],
        "iam.serviceAccounts.getAccessToken"
    );

    // Bound by its role (as principalSet://…/attribute.aws_role/…), it may.
    let member = harness
        .admin
        .add_workload_identity_user("arn:aws:iam::123456789012:role/queue-scaler-scale-down")
        .await?;
    assert_eq!(
        member,
        format!(
            "principalSet:{}/attribute.aws_role/arn:aws:sts::123456789012:assumed-role/queue-scaler-scale-down",
            harness.gke.workload_identity().pool_name()
        )
    );
    let (status, body) = impersonate(&harness, federated, &scaler_scopes()).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}

#[tokio::test]
async fn explicit_bindings_replace_the_default_binding() -> TestResult {
    let harness = Harness::start_with(Config {
        workload_identity: WorkloadIdentity {
            users: vec!["arn:aws:iam::123456789012:role/someone-else".to_owned()],
            ..WorkloadIdentity::default()
        },
        ..Config::default()
    })
    .await?;
    let federated = federated_token(&harness).await?;
    let (status, body) = impersonate(&harness, &federated, &scaler_scopes()).await?;
    assert_google_error(status, &body, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    Ok(())
}

#[tokio::test]
async fn a_garbage_expired_or_non_federated_bearer_is_refused() -> TestResult {
    let harness = Harness::start().await?;
    for bearer in ["garbage", "ya29.d.not-issued-here"] {
        let (status, body) = impersonate(&harness, bearer, &scaler_scopes()).await?;
        assert_google_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    let response = harness
        .google
        .post(harness.gke.impersonation_url())
        .json(&scaler_scopes())
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The service account's own access token may not mint tokens for it.
    let token = harness.scaler_token().await?;
    let (status, body) = impersonate(&harness, &token, &scaler_scopes()).await?;
    assert_google_error(status, &body, StatusCode::FORBIDDEN, "PERMISSION_DENIED");

    harness
        .admin
        .set_token_lifetime(Duration::from_secs(1))
        .await?;
    let federated = federated_token(&harness).await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = impersonate(&harness, &federated, &scaler_scopes()).await?;
    assert_google_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    Ok(())
}

#[tokio::test]
async fn an_impersonated_token_expires_with_the_token_lifetime() -> TestResult {
    let harness = Harness::start().await?;
    let federated = federated_token(&harness).await?;
    harness
        .admin
        .set_token_lifetime(Duration::from_secs(1))
        .await?;
    let (status, body) = impersonate(&harness, &federated, &scaler_scopes()).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["accessToken"].as_str().ok_or("no accessToken")?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = harness.get_scale("ml", "model-worker", token).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn an_unknown_service_account_is_not_found() -> TestResult {
    let harness = Harness::start().await?;
    let federated = federated_token(&harness).await?;
    let other = "someone@demo-project.iam.gserviceaccount.com";
    let (status, body) = impersonate_account(&harness, other, &federated, &scaler_scopes()).await?;
    assert_google_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(
        body["error"]["message"],
        format!("Not found; Gaia id not found for email {other}")
    );
    // The account's own email, percent-encoded, is found.
    let encoded = harness.email().replace('@', "%40");
    let (status, body) =
        impersonate_account(&harness, &encoded, &federated, &scaler_scopes()).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}

#[tokio::test]
async fn faults_apply_to_the_exchange_and_impersonation_paths() -> TestResult {
    let harness = Harness::start().await?;
    let impersonation_path = url::Url::parse(&harness.gke.impersonation_url())?
        .path()
        .to_owned();
    for path in ["/v1/token", impersonation_path.as_str()] {
        harness
            .admin
            .add_fault(&Fault::status(path, 1, 503))
            .await?;
    }
    let fields = exchange_fields(&harness, &AwsRequest::new(&harness).subject_token()?);
    let (status, body) = exchange(&harness, &fields).await?;
    assert_google_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
    );
    let federated = federated_token(&harness).await?;
    let (status, body) = impersonate(&harness, &federated, &scaler_scopes()).await?;
    assert_google_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
    );
    let (status, body) = impersonate(&harness, &federated, &scaler_scopes()).await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    let statuses: Vec<(RequestKind, u16)> = harness
        .admin
        .requests()
        .await?
        .into_iter()
        .map(|r| (r.kind, r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (RequestKind::StsToken, 503),
            (RequestKind::StsToken, 200),
            (RequestKind::GenerateAccessToken, 503),
            (RequestKind::GenerateAccessToken, 200),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn configured_aws_identities_and_pool_are_used() -> TestResult {
    let identity = AwsIdentity {
        access_key_id: "AKIACONFIGURED000000".to_owned(),
        secret_access_key: "configured-secret".to_owned(),
        session_token: None,
        arn: "arn:aws:sts::210987654321:assumed-role/custom/custom".to_owned(),
    };
    let harness = Harness::start_with(Config {
        workload_identity: WorkloadIdentity {
            project_number: "99".to_owned(),
            pool: "p".to_owned(),
            provider: "v".to_owned(),
            aws_identities: vec![identity.clone()],
            users: Vec::new(),
        },
        ..Config::default()
    })
    .await?;
    assert_eq!(
        harness.gke.workload_identity_audience(),
        "//iam.googleapis.com/projects/99/locations/global/workloadIdentityPools/p/providers/v"
    );
    let mut request = AwsRequest::new(&harness);
    request.identity = identity;
    let (status, body) = exchange_subject(&harness, &request.subject_token()?).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let federated = body["access_token"].as_str().ok_or("no access_token")?;
    let (status, body) = impersonate(&harness, federated, &scaler_scopes()).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The default test identity is not configured here.
    let mut request = AwsRequest::new(&harness);
    request.identity.access_key_id = TEST_AWS_ACCESS_KEY_ID.to_owned();
    assert_grant_refused(&harness, &request.subject_token()?, "InvalidClientTokenId").await?;
    Ok(())
}
