//! The Google credentials: exactly one of `GCP_CREDENTIAL_CONFIG` (keyless),
//! `GOOGLE_APPLICATION_CREDENTIALS`, `GCP_SERVICE_ACCOUNT_KEY` or
//! `GCP_SERVICE_ACCOUNT_KEY_SECRET`, checked into a [`KeySource`]; and the token's scopes
//! (`GCP_TOKEN_SCOPES`).

use super::problem::Problems;
use super::raw::{RawCredentials, Setting};
use crate::hosts::{check_url, Service};
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

/// Check the credential settings: exactly one source. A keyless configuration, given inline or
/// as a file, has its URLs checked against the allow-list now, at start-up.
pub(super) fn key(
    raw: &RawCredentials,
    read_file: &impl Fn(&std::path::Path) -> std::io::Result<String>,
    problems: &mut Problems,
) -> Option<KeySource> {
    if let Some(json) = &raw.credential_config.value {
        check_external_account_urls(raw.credential_config.name, json, problems);
    }
    if let Some(path) = &raw.file.value {
        // A file that cannot be read yet is the first invocation's to report, as before.
        if let Ok(json) = read_file(std::path::Path::new(path)) {
            check_external_account_urls(raw.file.name, &json, problems);
        }
    }
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

/// The URLs of an `external_account` configuration, each on the allow-list for its role
/// (Google's STS, IAM credentials, AWS STS for the signed `GetCallerIdentity`): whoever can
/// change the configuration must not choose where the signed request or the token goes. A JSON
/// that is not an `external_account` (a key) is checked when it is loaded.
pub(super) fn check_external_account_urls(
    setting: &'static str,
    json: &str,
    problems: &mut Problems,
) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return;
    };
    if v.get("type").and_then(serde_json::Value::as_str) != Some("external_account") {
        return;
    }
    let fields = [
        ("token_url", "/token_url", Service::GoogleSts),
        (
            "service_account_impersonation_url",
            "/service_account_impersonation_url",
            Service::GoogleIamCredentials,
        ),
        (
            "credential_source.regional_cred_verification_url",
            "/credential_source/regional_cred_verification_url",
            Service::AwsSts,
        ),
    ];
    for (name, pointer, service) in fields {
        if let Some(url) = v.pointer(pointer).and_then(serde_json::Value::as_str) {
            if let Err(e) = check_url(url, service) {
                problems.add(setting, format!("{name}: {e}"));
            }
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

#[cfg(test)]
mod allow_list_tests {
    use crate::config::test_support::{base, load, with};

    const CONFIG: &str = r#"{"type":"external_account",
      "audience":"//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/aws",
      "subject_token_type":"urn:ietf:params:aws:token-type:aws4_request",
      "service_account_impersonation_url":"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/s@p.iam.gserviceaccount.com:generateAccessToken",
      "token_url":"https://sts.googleapis.com/v1/token",
      "credential_source":{"environment_id":"aws1","regional_cred_verification_url":"https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"}}"#;

    fn load_keyless(config: &str) -> Result<crate::Config, crate::ConfigError> {
        let mut vars: Vec<(&str, &str)> = base()
            .into_iter()
            .filter(|(k, _)| *k != "GOOGLE_APPLICATION_CREDENTIALS")
            .collect();
        vars.extend([
            ("GCP_CREDENTIAL_CONFIG", config),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]);
        load(&vars)
    }

    #[test]
    fn a_keyless_configuration_on_the_allow_list_is_accepted() {
        if let Err(e) = load_keyless(CONFIG) {
            panic!("{e}");
        }
    }

    #[test]
    fn a_keyless_configuration_naming_another_host_is_a_config_problem_at_start_up() {
        for (good, bad) in [
            (
                "https://sts.googleapis.com/v1/token",
                "https://attacker.example/v1/token",
            ),
            (
                "https://iamcredentials.googleapis.com/",
                "https://iamcredentials.googleapis.com.attacker.example/",
            ),
            (
                "https://sts.{region}.amazonaws.com?",
                "https://attacker.example/{region}?",
            ),
        ] {
            let config = CONFIG.replace(good, bad);
            assert_ne!(config, CONFIG);
            let err = load_keyless(&config).unwrap_err().to_string();
            assert!(
                err.contains("GCP_CREDENTIAL_CONFIG") && err.contains("attacker.example"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_gke_api_url_and_a_queue_url_must_be_their_services_hosts() {
        for (setting, value) in [
            (
                "GKE_API_URL",
                "https://container.googleapis.com.attacker.example",
            ),
            (
                "TARGET_QUEUES",
                "https://sqs.us-east-1.amazonaws.com.attacker.example/1/q",
            ),
            ("TARGET_QUEUES", "http://192.0.2.2:8080/1/q"),
        ] {
            let err = load(&with(base(), &[(setting, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(setting), "{setting}={value}: {err}");
        }
        assert!(load(&with(base(), &[("GKE_API_URL", "https://127.0.0.1:8443")])).is_ok());
        assert!(load(&with(
            base(),
            &[(
                "TARGET_QUEUES",
                "https://sqs.eu-west-1.amazonaws.com/123456789012/q"
            )]
        ))
        .is_ok());
    }
}
