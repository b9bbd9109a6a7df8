//! SigV4-signed calls to the AWS APIs queue-scaler uses, without the AWS SDK: [`AwsClient`]
//! here; each API in its own module, which adds its calls to it:
//!
//! - [`cloudwatch`]: `SetAlarmState` and `DescribeAlarms` (query protocol), behind
//!   [`cloudwatch::AlarmRearm`].
//! - [`iam`]: `GetRole` (query protocol), the doctor's read of a worker role's trust.
//! - [`secrets`]: Secrets Manager `GetSecretValue` (JSON protocol).
//! - [`sqs`]: SQS `GetQueueAttributes` and `GetQueueUrl` (JSON protocol), behind
//!   [`sqs::QueueDepth`].
//!
//! The requests are built as plain values; `signer` signs them (with `aws-sigv4`, the SDK's
//! own signer) and sends them.
//!
//! Credentials come from the Lambda environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`), read once by the configuration.

use crate::error::{built, Error};
use aws_credential_types::Credentials;
use queue_scaler_core::config::AwsSettings;
use secrecy::ExposeSecret;
use signer::AwsSender;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub mod cloudwatch;
pub mod iam;
mod query;
pub mod secrets;
mod signer;
pub mod sqs;

/// A client for AWS APIs in one region.
#[derive(Clone)]
pub struct AwsClient {
    /// Signs with the function's credentials and sends.
    sender: AwsSender,
    region: String,
    cloudwatch_endpoint: String,
    secretsmanager_endpoint: String,
    /// The regional SQS endpoint, or `AWS_ENDPOINT_URL_SQS`.
    sqs_endpoint: String,
    /// Whether `sqs_endpoint` is an override: then every queue, given by URL too, is read there.
    sqs_overridden: bool,
    /// `AWS_ENDPOINT_URL_IAM`; else the partition's ([`iam::iam_endpoint`]).
    iam_endpoint: Option<String>,
    /// Queue URLs looked up by name with `GetQueueUrl`, kept for the container's life.
    queue_urls: Arc<Mutex<HashMap<String, String>>>,
}

impl std::fmt::Debug for AwsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsClient")
            .field("region", &self.region)
            .field("cloudwatch_endpoint", &self.cloudwatch_endpoint)
            .field("secretsmanager_endpoint", &self.secretsmanager_endpoint)
            .field("sqs_endpoint", &self.sqs_endpoint)
            .finish_non_exhaustive()
    }
}

impl AwsClient {
    /// Build a client from checked settings on the container's shared HTTPS client; `None` when
    /// region or credentials are missing (configuration reports that when AWS is needed).
    pub fn new(settings: &AwsSettings, http: reqwest::Client) -> Option<Self> {
        let region = settings.region.clone()?;
        let credentials = Credentials::new(
            settings.access_key_id.clone()?,
            settings
                .secret_access_key
                .as_ref()?
                .expose_secret()
                .to_owned(),
            settings
                .session_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            None,
            "environment",
        );
        let suffix = dns_suffix(&region);
        Some(AwsClient {
            cloudwatch_endpoint: settings
                .cloudwatch_endpoint
                .clone()
                .unwrap_or_else(|| format!("https://monitoring.{region}.{suffix}")),
            secretsmanager_endpoint: settings
                .secretsmanager_endpoint
                .clone()
                .unwrap_or_else(|| format!("https://secretsmanager.{region}.{suffix}")),
            sqs_endpoint: settings
                .sqs_endpoint
                .clone()
                .unwrap_or_else(|| format!("https://sqs.{region}.{suffix}")),
            sqs_overridden: settings.sqs_endpoint.is_some(),
            iam_endpoint: settings.iam_endpoint.clone(),
            queue_urls: Arc::default(),
            sender: AwsSender::new(http, credentials),
            region,
        })
    }

    /// The region requests are signed for.
    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    /// Sign `request` for `service` in this client's region with SigV4 and the function's
    /// credentials, without sending it: keyless signs the `GetCallerIdentity` request that
    /// Google sends, never this client. Requests are built as plain values
    /// ([`cloudwatch::cloudwatch_query_request`], [`secrets::secretsmanager_request`],
    /// [`sqs::sqs_request`]).
    pub fn sign_request(
        &self,
        service: &str,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Request<Vec<u8>>, Error> {
        self.sender.sign(&self.region, service, request)
    }

    /// Sign and send `request` to `service` in this client's region.
    async fn send(
        &self,
        service: &'static str,
        action: &'static str,
        request: http::Request<Vec<u8>>,
    ) -> Result<Vec<u8>, Error> {
        self.sender
            .send(&self.region, service, action, request)
            .await
    }
}

/// The DNS suffix of a region's endpoints: AWS China's regions (`cn-*`) are under
/// `amazonaws.com.cn`, every other commercial and GovCloud region under `amazonaws.com`.
pub(crate) fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// An AWS JSON-protocol request (`application/x-amz-json-{version}`): a POST to the endpoint's
/// root with the operation in `x-amz-target` and `body` as JSON.
pub(crate) fn json_protocol_request(
    endpoint: &str,
    version: &str,
    target: &str,
    body: &serde_json::Value,
) -> Result<http::Request<Vec<u8>>, Error> {
    let url = format!("{endpoint}/");
    built(
        &url,
        http::Request::post(&url)
            .header("content-type", format!("application/x-amz-json-{version}"))
            .header("x-amz-target", target)
            .body(body.to_string().into_bytes()),
    )
}

/// A client with AWS's documentation example credentials and a session token, in eu-west-1
/// (tests of every module that signs).
#[cfg(test)]
pub(crate) fn example_client() -> AwsClient {
    use secrecy::SecretString;
    let settings = AwsSettings {
        region: Some("eu-west-1".into()),
        access_key_id: Some("AKIDEXAMPLE".into()),
        secret_access_key: Some(SecretString::from(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
        )),
        session_token: Some(SecretString::from("SESSIONTOKEN".to_owned())),
        ..AwsSettings::default()
    };
    AwsClient::new(&settings, reqwest::Client::new()).unwrap_or_else(|| panic!("complete settings"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn endpoints_follow_the_regions_partition() {
        assert_eq!(dns_suffix("eu-west-1"), "amazonaws.com");
        assert_eq!(dns_suffix("us-gov-west-1"), "amazonaws.com");
        assert_eq!(dns_suffix("cn-northwest-1"), "amazonaws.com.cn");
        let settings = AwsSettings {
            region: Some("cn-north-1".into()),
            access_key_id: Some("AKID".into()),
            secret_access_key: Some(SecretString::from("s".to_owned())),
            ..AwsSettings::default()
        };
        let client = AwsClient::new(&settings, reqwest::Client::new()).unwrap();
        assert_eq!(
            client.cloudwatch_endpoint,
            "https://monitoring.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            client.sqs_endpoint,
            "https://sqs.cn-north-1.amazonaws.com.cn"
        );
    }
}
