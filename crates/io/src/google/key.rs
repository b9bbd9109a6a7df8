//! Loading the Google credentials: a service-account key or (keyless) an `external_account`
//! configuration, from a file, from the environment, or from an AWS Secrets Manager secret. They
//! are checked before use, and a key is never printed.

use crate::aws::AwsClient;
use crate::error::Error;
use crate::google::external::ExternalAccount;
use queue_scaler_core::config::KeySource;
use queue_scaler_core::hosts::{check_url, Service};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// A service-account key, checked.
pub(crate) struct ServiceAccountKey {
    /// The key JSON, as given.
    pub(crate) json: SecretString,
    /// The account's email, which GKE's RBAC sees.
    pub(crate) client_email: String,
    /// Where the key came from, for errors.
    pub(crate) origin: String,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("origin", &self.origin)
            .field("json", &"..")
            .finish()
    }
}

#[derive(Deserialize)]
struct KeyFields {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<serde::de::IgnoredAny>,
    token_uri: Option<String>,
}

impl ServiceAccountKey {
    /// Check that `json` is a Google service-account key with the fields a token request needs.
    pub(crate) fn parse(json: SecretString, origin: &str) -> Result<Self, Error> {
        let bad = |detail: &str| Error::Key {
            origin: origin.to_owned(),
            detail: detail.to_owned(),
        };
        let fields: KeyFields = serde_json::from_str(json.expose_secret()).map_err(|e| {
            bad(&format!(
                "not JSON at line {} column {}",
                e.line(),
                e.column()
            ))
        })?;
        if fields.kind.as_deref() != Some("service_account") {
            return Err(bad("\"type\" is not \"service_account\"; create a key with `gcloud iam service-accounts keys create`"));
        }
        let client_email = fields
            .client_email
            .filter(|e| e.contains('@'))
            .ok_or_else(|| bad("no client_email"))?;
        if fields.private_key.is_none() {
            return Err(bad("no private_key"));
        }
        // The signed assertion goes to the key's token_uri: only Google's (or a local stand-in).
        match fields.token_uri.as_deref() {
            Some(u) => {
                if let Err(e) = check_url(u, Service::GoogleOAuth2) {
                    return Err(bad(&format!("token_uri: {e}")));
                }
            }
            None => return Err(bad("token_uri is missing")),
        }
        Ok(ServiceAccountKey {
            json,
            client_email,
            origin: origin.to_owned(),
        })
    }
}

/// The Google credentials a function uses: a service-account key, or (keyless) an AWS-sourced
/// `external_account` configuration.
#[derive(Debug)]
pub(crate) enum Credentials {
    /// A service-account key.
    Key(ServiceAccountKey),
    /// Workload Identity Federation from the function's AWS identity.
    External(ExternalAccount),
}

impl Credentials {
    /// Tell the two apart by `"type"`, and check the one it is.
    pub(crate) fn parse(json: SecretString, origin: &str) -> Result<Self, Error> {
        #[derive(Deserialize)]
        struct Kind {
            #[serde(rename = "type")]
            kind: Option<String>,
        }
        let kind = serde_json::from_str::<Kind>(json.expose_secret())
            .ok()
            .and_then(|k| k.kind);
        match kind.as_deref() {
            Some("external_account") => {
                ExternalAccount::parse(json.expose_secret(), origin).map(Credentials::External)
            }
            Some("service_account") | None => {
                ServiceAccountKey::parse(json, origin).map(Credentials::Key)
            }
            Some(other) => Err(Error::Key {
                origin: origin.to_owned(),
                detail: format!(
                    "\"type\" is {other:?}: expected \"external_account\" (keyless, from \
                     `gcloud iam workload-identity-pools create-cred-config --aws`) or \"service_account\" (a key)"
                ),
            }),
        }
    }

    /// Load the credentials from wherever the configuration says.
    pub(crate) async fn load(source: &KeySource, aws: Option<&AwsClient>) -> Result<Self, Error> {
        match source {
            KeySource::File(path) => {
                let origin = format!("GOOGLE_APPLICATION_CREDENTIALS ({})", path.display());
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| Error::Key {
                        origin: origin.clone(),
                        detail: format!("cannot read the file: {e}"),
                    })?;
                Self::parse(SecretString::from(text), &origin)
            }
            KeySource::Inline(json) => Self::parse(json.clone(), "GCP_SERVICE_ACCOUNT_KEY"),
            KeySource::CredentialConfig(json) => {
                ExternalAccount::parse(json, "GCP_CREDENTIAL_CONFIG").map(Credentials::External)
            }
            KeySource::SecretsManager(id) => {
                let origin = format!("GCP_SERVICE_ACCOUNT_KEY_SECRET ({id})");
                let aws = aws.ok_or_else(|| Error::Key {
                    origin: origin.clone(),
                    detail: "AWS region and credentials are needed to read the secret".into(),
                })?;
                let json = aws.get_secret_string(id).await?;
                Self::parse(json, &origin)
            }
        }
    }

    /// The service account's email.
    pub(crate) fn account(&self) -> &str {
        match self {
            Credentials::Key(key) => &key.client_email,
            Credentials::External(account) => &account.service_account,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_without_service_account_type_is_refused_without_echoing_it() {
        let json = r#"{"type":"authorized_user","client_secret":"HUSH","refresh_token":"HUSH"}"#;
        let err = ServiceAccountKey::parse(
            SecretString::from(json.to_owned()),
            "GCP_SERVICE_ACCOUNT_KEY",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("service_account") && !msg.contains("HUSH"),
            "{msg}"
        );
    }

    #[test]
    fn a_key_that_is_not_json_reports_where_not_what() {
        let err = ServiceAccountKey::parse(
            SecretString::from("-----BEGIN PRIVATE KEY----- HUSH".to_owned()),
            "X",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("not JSON at line 1") && !msg.contains("HUSH"),
            "{msg}"
        );
    }

    #[test]
    fn a_complete_key_is_accepted_and_debug_hides_it() {
        let json = r#"{"type":"service_account","client_email":"s@p.iam.gserviceaccount.com","private_key":"HUSH","token_uri":"https://oauth2.googleapis.com/token"}"#;
        let key = ServiceAccountKey::parse(SecretString::from(json.to_owned()), "X").unwrap();
        assert_eq!(key.client_email, "s@p.iam.gserviceaccount.com");
        assert!(!format!("{key:?}").contains("HUSH"));
    }
}
