//! The Google credentials: exactly one of `GCP_CREDENTIAL_CONFIG` (keyless),
//! `GOOGLE_APPLICATION_CREDENTIALS`, `GCP_SERVICE_ACCOUNT_KEY` or
//! `GCP_SERVICE_ACCOUNT_KEY_SECRET`, checked into a [`KeySource`]; and the token's scopes
//! (`GCP_TOKEN_SCOPES`).

use super::problem::Problems;
use super::raw::{RawCredentials, Setting};
use secrecy::SecretString;
use std::fmt;
use std::path::PathBuf;

/// Where the Google credentials come from: a service-account key, or (keyless) an
/// `external_account` configuration; a file or a secret may hold either, told apart by `type`.
#[derive(Clone)]
pub enum KeySource {
    /// `GOOGLE_APPLICATION_CREDENTIALS`: a key file or an `external_account` file.
    File(PathBuf),
    /// `GCP_SERVICE_ACCOUNT_KEY`: the key JSON itself.
    Inline(SecretString),
    /// `GCP_CREDENTIAL_CONFIG`: the `external_account` configuration JSON itself.
    CredentialConfig(String),
    /// `GCP_SERVICE_ACCOUNT_KEY_SECRET`: an AWS Secrets Manager secret id or ARN.
    SecretsManager(String),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(p) => f.debug_tuple("File").field(p).finish(),
            KeySource::Inline(_) => f.write_str("Inline(..)"),
            KeySource::CredentialConfig(_) => f.write_str("CredentialConfig(..)"),
            KeySource::SecretsManager(id) => f.debug_tuple("SecretsManager").field(id).finish(),
        }
    }
}

/// The scopes GKE needs: `cloud-platform` for the GKE API, and `userinfo.email` so that GKE sees
/// the account's email (which RBAC bindings name) rather than its numeric id.
pub const DEFAULT_TOKEN_SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
];

/// Check the credential settings: exactly one source.
pub(super) fn key(raw: &RawCredentials, problems: &mut Problems) -> Option<KeySource> {
    let file = raw
        .file
        .value
        .clone()
        .map(|p| KeySource::File(PathBuf::from(p)));
    let inline = raw
        .inline_key
        .value
        .clone()
        .map(|k| KeySource::Inline(SecretString::from(k)));
    let config = raw
        .credential_config
        .value
        .clone()
        .map(KeySource::CredentialConfig);
    let secret = raw.key_secret.value.clone().map(KeySource::SecretsManager);
    let mut given: Vec<KeySource> = [file, config, inline, secret]
        .into_iter()
        .flatten()
        .collect();
    match given.len() {
        1 => given.pop(),
        0 => {
            problems.add(
                "GCP_CREDENTIAL_CONFIG",
                "no Google credentials: set GCP_CREDENTIAL_CONFIG (keyless: the external_account \
                 configuration JSON), GOOGLE_APPLICATION_CREDENTIALS (a file holding it or a key), \
                 GCP_SERVICE_ACCOUNT_KEY (the key JSON) or GCP_SERVICE_ACCOUNT_KEY_SECRET (a Secrets Manager secret holding either)",
            );
            None
        }
        _ => {
            problems.add(
                "GOOGLE_APPLICATION_CREDENTIALS/GCP_CREDENTIAL_CONFIG/GCP_SERVICE_ACCOUNT_KEY/GCP_SERVICE_ACCOUNT_KEY_SECRET",
                "set exactly one of them",
            );
            None
        }
    }
}

/// Check `GCP_TOKEN_SCOPES`: Google OAuth2 scopes, separated by spaces or commas; the default
/// is [`DEFAULT_TOKEN_SCOPES`].
pub(super) fn token_scopes(setting: &Setting, problems: &mut Problems) -> Vec<String> {
    let Some(v) = &setting.value else {
        return DEFAULT_TOKEN_SCOPES.map(String::from).to_vec();
    };
    let scopes: Vec<String> = v
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if let Some(bad) = scopes
        .iter()
        .find(|s| !s.starts_with("https://www.googleapis.com/auth/"))
    {
        problems.add(
            setting.name,
            format!("{bad:?} is not a Google OAuth2 scope (https://www.googleapis.com/auth/...)"),
        );
    }
    scopes
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{base, load, with};

    #[test]
    fn exactly_one_key_source_is_allowed() {
        let err = load(&with(base(), &[("GCP_SERVICE_ACCOUNT_KEY", "{}")])).unwrap_err();
        assert!(err.to_string().contains("set exactly one"), "{err}");
    }

    #[test]
    fn inline_key_never_shows_in_debug_output() {
        let c = load(&with(
            base(),
            &[
                ("GOOGLE_APPLICATION_CREDENTIALS", ""),
                ("GCP_SERVICE_ACCOUNT_KEY", "{\"private_key\":\"TOPSECRET\"}"),
            ],
        ))
        .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("TOPSECRET"), "{debug}");
    }
}
