//! The AWS settings: region, credentials (Lambda sets them from the execution role) and the
//! endpoint overrides of tests and the demo, checked into [`AwsSettings`]. Which other settings
//! need AWS (re-arm, a key in Secrets Manager, keyless) decides whether region and credentials
//! are required.

use super::credentials::KeySource;
use super::problem::Problems;
use super::raw::{RawAws, RawConfig, Setting};
use crate::hosts::is_loopback;
use secrecy::SecretString;
use std::fmt;

/// AWS access for re-arming alarms and reading the key secret.
#[derive(Clone, Default)]
pub struct AwsSettings {
    /// `AWS_REGION` (Lambda sets it), or `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// `AWS_ACCESS_KEY_ID` (Lambda sets it from the execution role).
    pub access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<SecretString>,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: Option<SecretString>,
    /// `AWS_ENDPOINT_URL_CLOUDWATCH` or `AWS_ENDPOINT_URL`: tests and the demo only.
    pub cloudwatch_endpoint: Option<String>,
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER` or `AWS_ENDPOINT_URL`: tests and the demo only.
    pub secretsmanager_endpoint: Option<String>,
    /// `AWS_ENDPOINT_URL_SQS` or `AWS_ENDPOINT_URL`: tests and the demo only.
    pub sqs_endpoint: Option<String>,
    /// `AWS_ENDPOINT_URL_IAM` or `AWS_ENDPOINT_URL`: tests only (the doctor's `iam:GetRole`).
    pub iam_endpoint: Option<String>,
}

impl fmt::Debug for AwsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsSettings")
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id.as_ref().map(|_| ".."))
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| ".."),
            )
            .field("session_token", &self.session_token.as_ref().map(|_| ".."))
            .field("cloudwatch_endpoint", &self.cloudwatch_endpoint)
            .field("secretsmanager_endpoint", &self.secretsmanager_endpoint)
            .field("sqs_endpoint", &self.sqs_endpoint)
            .field("iam_endpoint", &self.iam_endpoint)
            .finish()
    }
}

impl AwsSettings {
    /// The AWS settings alone, and whether re-arm is on (`REARM_ALARM`, `true` unless it says
    /// `false`), read even when the rest of the configuration is invalid: a function whose
    /// configuration is broken can still re-arm the alarm that invoked it.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> (AwsSettings, bool) {
        let raw = RawConfig::read(&lookup);
        // Problems are not reported here: `Config::from_lookup` reports them all.
        let mut problems = Problems::default();
        let rearm = problems.bool(&raw.rearm_alarm, true);
        (check(raw.aws, false, None, &mut problems), rearm)
    }
}

/// Check the AWS settings. Region and credentials are required when `rearm` is on or `key`
/// needs AWS (a Secrets Manager secret, or keyless). The live queue read uses them when they are
/// there (Lambda always sets them); without them a decision falls back to the alarm's datapoint
/// and says why.
pub(super) fn check(
    raw: RawAws,
    rearm: bool,
    key: Option<&KeySource>,
    problems: &mut Problems,
) -> AwsSettings {
    let aws = AwsSettings {
        region: raw.region.value,
        access_key_id: raw.access_key_id.value,
        secret_access_key: raw.secret_access_key.value.map(SecretString::from),
        session_token: raw.session_token.value.map(SecretString::from),
        cloudwatch_endpoint: endpoint(raw.cloudwatch_endpoint, problems),
        secretsmanager_endpoint: endpoint(raw.secretsmanager_endpoint, problems),
        sqs_endpoint: endpoint(raw.sqs_endpoint, problems),
        iam_endpoint: endpoint(raw.iam_endpoint, problems),
    };
    // The ISO partitions' endpoints are under other domains that the functions do not build.
    if let Some(region) = aws.region.as_deref().filter(|r| r.starts_with("us-iso")) {
        problems.add(
            "AWS_REGION",
            format!("{region:?} is in an AWS ISO partition, which queue-scaler does not support (the aws, aws-cn and aws-us-gov partitions are supported)"),
        );
    }
    let why = match key {
        Some(KeySource::SecretsManager(_)) => Some("GCP_SERVICE_ACCOUNT_KEY_SECRET"),
        Some(KeySource::CredentialConfig(_)) => {
            Some("GCP_CREDENTIAL_CONFIG (keyless signs with the function's AWS identity)")
        }
        _ if rearm => Some("REARM_ALARM"),
        _ => None,
    };
    if let Some(why) = why {
        if aws.region.is_none() {
            problems.add(
                "AWS_REGION",
                format!(
                    "is required by {why} (Lambda sets it; elsewhere set it, or REARM_ALARM=false)"
                ),
            );
        }
        if aws.access_key_id.is_none() || aws.secret_access_key.is_none() {
            problems.add(
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
                format!("are required by {why} (Lambda sets them from the execution role)"),
            );
        }
    }
    aws
}

/// An endpoint override: `https://`, or plain `http://` only to this machine.
pub(super) fn endpoint(setting: Setting, problems: &mut Problems) -> Option<String> {
    let v = setting.value?;
    match url::Url::parse(&v) {
        Ok(u) if u.scheme() == "https" => Some(v.trim_end_matches('/').to_owned()),
        // Plain HTTP only to this machine (a local test server): a mistaken production
        // setting would send signed requests, and a key secret's answer, in clear.
        Ok(u) if u.scheme() == "http" && is_loopback(&u) => {
            Some(v.trim_end_matches('/').to_owned())
        }
        Ok(u) if u.scheme() == "http" => {
            problems.add(
                setting.name,
                format!("{v:?} is plain http:// to another host; use https:// (http:// is allowed only for 127.0.0.1, ::1 or localhost)"),
            );
            None
        }
        _ => {
            problems.add(setting.name, format!("{v:?} is not an http(s) URL"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{base, load, settings, with};

    #[test]
    fn aws_endpoint_overrides_take_plain_http_only_to_this_machine() {
        for (url, ok) in [
            ("http://127.0.0.1:5000", true),
            ("http://localhost:5000", true),
            ("http://[::1]:5000", true),
            ("https://monitoring.example.com", true),
            ("http://monitoring.example.com", false),
            ("http://10.0.0.5:5000", false),
        ] {
            let r = load(&with(base(), &[("AWS_ENDPOINT_URL_CLOUDWATCH", url)]));
            assert_eq!(r.is_ok(), ok, "{url}: {r:?}");
            if let Err(e) = r {
                assert_eq!(settings(&e), ["AWS_ENDPOINT_URL_CLOUDWATCH"]);
                assert!(e.to_string().contains("only for 127.0.0.1"), "{e}");
            }
        }
    }

    #[test]
    fn an_iso_partition_region_is_refused_at_start_up() {
        let err = load(&with(base(), &[("AWS_REGION", "us-isob-east-1")])).unwrap_err();
        assert_eq!(settings(&err), ["AWS_REGION"]);
        assert!(err.to_string().contains("ISO partition"), "{err}");
        assert!(load(&with(base(), &[("AWS_REGION", "cn-north-1")])).is_ok());
    }

    #[test]
    fn a_keyless_configuration_needs_the_functions_aws_identity() {
        let keyless = with(
            base(),
            &[
                ("GOOGLE_APPLICATION_CREDENTIALS", ""),
                ("GCP_CREDENTIAL_CONFIG", r#"{"type":"external_account"}"#),
            ],
        );
        let err = load(&keyless).unwrap_err();
        assert_eq!(
            settings(&err),
            ["AWS_REGION", "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"],
            "{err}"
        );
        assert!(err.to_string().contains("keyless"), "{err}");
        let c = load(&with(
            keyless,
            &[
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ACCESS_KEY_ID", "AKID"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ],
        ))
        .unwrap();
        assert!(matches!(c.key, KeySource::CredentialConfig(_)));
        let both = with(base(), &[("GCP_CREDENTIAL_CONFIG", "{}")]);
        assert!(settings(&load(&both).unwrap_err())[0].contains("GCP_CREDENTIAL_CONFIG"));
    }

    #[test]
    fn secret_key_source_needs_aws_credentials_and_region() {
        let err = load(&with(
            base(),
            &[
                ("GOOGLE_APPLICATION_CREDENTIALS", ""),
                (
                    "GCP_SERVICE_ACCOUNT_KEY_SECRET",
                    "arn:aws:secretsmanager:eu-west-1:1:secret:k",
                ),
            ],
        ))
        .unwrap_err();
        assert_eq!(
            settings(&err),
            ["AWS_REGION", "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"],
            "{err}"
        );
    }
}
