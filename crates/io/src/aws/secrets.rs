//! Secrets Manager, in its JSON protocol: `GetSecretValue`, for a service-account key kept
//! there. The request is built as a plain value (`get_secret_value_request`).

use crate::aws::{json_protocol_request, AwsClient};
use crate::error::Error;
use secrecy::SecretString;

impl AwsClient {
    /// Secrets Manager `GetSecretValue`: the secret's string (a key kept there).
    pub(crate) async fn get_secret_string(&self, secret_id: &str) -> Result<SecretString, Error> {
        let request = get_secret_value_request(&self.secretsmanager_endpoint, secret_id)?;
        let body = self
            .send("secretsmanager", "GetSecretValue", request)
            .await?;
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::Protocol {
                url: self.secretsmanager_endpoint.clone(),
                detail: format!("GetSecretValue answer is not JSON ({e})"),
            })?;
        match value.get("SecretString").and_then(|s| s.as_str()) {
            Some(s) => Ok(SecretString::from(s.to_owned())),
            None => Err(Error::Key {
                origin: format!("GCP_SERVICE_ACCOUNT_KEY_SECRET ({secret_id})"),
                detail: "the secret has no SecretString; store the key JSON as a string secret"
                    .into(),
            }),
        }
    }
}

/// The Secrets Manager JSON-protocol request for `GetSecretValue`.
pub(crate) fn get_secret_value_request(
    endpoint: &str,
    secret_id: &str,
) -> Result<http::Request<Vec<u8>>, Error> {
    secretsmanager_request(
        endpoint,
        "GetSecretValue",
        &serde_json::json!({ "SecretId": secret_id }),
    )
}

/// A Secrets Manager JSON-protocol request: `action` in `x-amz-target`, `body` as JSON.
pub fn secretsmanager_request(
    endpoint: &str,
    action: &str,
    body: &serde_json::Value,
) -> Result<http::Request<Vec<u8>>, Error> {
    json_protocol_request(endpoint, "1.1", &format!("secretsmanager.{action}"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_secret_value_names_the_target_and_the_secret() {
        let r = get_secret_value_request(
            "https://secretsmanager.eu-west-1.amazonaws.com",
            "arn:aws:secretsmanager:eu-west-1:1:secret:k",
        )
        .unwrap();
        assert_eq!(r.headers()["x-amz-target"], "secretsmanager.GetSecretValue");
        assert_eq!(r.headers()["content-type"], "application/x-amz-json-1.1");
        assert_eq!(
            r.body(),
            br#"{"SecretId":"arn:aws:secretsmanager:eu-west-1:1:secret:k"}"#
        );
    }
}
