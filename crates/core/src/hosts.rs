//! Where a signed request or a token may go: the allow-list of hosts, and the rule that a queue
//! taken from an event is a name, never an address. Pure: every URL the functions sign for, or
//! send a token to, is checked here, at start-up for what the configuration names and before
//! use for what a credential file or an AWS answer names.
//!
//! - SQS: `sqs.<region>.amazonaws.com` or `<region>.queue.amazonaws.com` (and `.com.cn`);
//! - STS: `sts.<region>.amazonaws.com` (and `.com.cn`);
//! - Google: `sts.googleapis.com`, `iamcredentials.googleapis.com`, `oauth2.googleapis.com`,
//!   `container.googleapis.com`, each only for its own role;
//! - always `https`. Loopback (127.0.0.0/8, ::1, `localhost`) is the one exception, for the
//!   local stand-ins, over `http` too; never for a value taken from an event.

use std::fmt;

/// What a URL is for, each with its own hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// An SQS queue URL or API endpoint.
    Sqs,
    /// AWS STS, where the keyless path's `GetCallerIdentity` is signed for.
    AwsSts,
    /// Google's STS (`token_url` of an `external_account` configuration).
    GoogleSts,
    /// Google's IAM credentials API (`service_account_impersonation_url`).
    GoogleIamCredentials,
    /// Google's OAuth2 token endpoint (a service-account key's `token_uri`).
    GoogleOAuth2,
    /// The GKE API (`GKE_API_URL`).
    GkeApi,
}

impl Service {
    /// The hosts this service may be reached at, as the error names them.
    pub fn allowed(self) -> &'static str {
        match self {
            Service::Sqs => {
                "sqs.REGION.amazonaws.com or REGION.queue.amazonaws.com (.com.cn in China)"
            }
            Service::AwsSts => "sts.REGION.amazonaws.com (.com.cn in China)",
            Service::GoogleSts => "sts.googleapis.com",
            Service::GoogleIamCredentials => "iamcredentials.googleapis.com",
            Service::GoogleOAuth2 => "oauth2.googleapis.com",
            Service::GkeApi => "container.googleapis.com",
        }
    }

    /// Whether `host` (lower case, no port) is one of this service's. `{region}` stands for a
    /// region in a template (an `external_account`'s verification URL).
    pub fn is_host(self, host: &str) -> bool {
        let labels: Vec<&str> = host.split('.').collect();
        let aws = |rest: &[&str]| matches!(rest, ["amazonaws", "com"] | ["amazonaws", "com", "cn"]);
        match self {
            Service::Sqs => match labels.as_slice() {
                ["sqs", region, rest @ ..] => is_region(region) && aws(rest),
                [region, "queue", rest @ ..] => is_region(region) && aws(rest),
                _ => false,
            },
            Service::AwsSts => match labels.as_slice() {
                ["sts", region, rest @ ..] => {
                    (is_region(region) || *region == "{region}") && aws(rest)
                }
                _ => false,
            },
            Service::GoogleSts => host == "sts.googleapis.com",
            Service::GoogleIamCredentials => host == "iamcredentials.googleapis.com",
            Service::GoogleOAuth2 => host == "oauth2.googleapis.com",
            Service::GkeApi => host == "container.googleapis.com",
        }
    }
}

/// An AWS region name as it stands in a host: `us-east-1`, `cn-north-1`, `us-gov-west-1`.
pub(crate) fn is_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Why a URL may not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// Not a URL at all.
    #[error("{url:?} is not a URL")]
    NotUrl {
        /// The value given.
        url: String,
    },
    /// A scheme other than `https` (plain `http` only to loopback).
    #[error(
        "{url:?} is not https:// (plain http:// is allowed only to 127.0.0.1, ::1 or localhost)"
    )]
    NotHttps {
        /// The value given.
        url: String,
    },
    /// A host that is not the service's.
    #[error("{url:?} names host {host:?}, which is not {}; queue-scaler signs for and sends tokens only to those hosts (and loopback, for local stand-ins)", service.allowed())]
    NotAllowed {
        /// The value given.
        url: String,
        /// Its host.
        host: String,
        /// What it was for.
        service: Service,
    },
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.allowed())
    }
}

/// Whether a URL's host is this machine: 127.0.0.0/8, ::1 or `localhost`.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Check that `raw` may be used for `service`: `https` to one of its hosts, or loopback (a
/// local stand-in, `http` allowed). Userinfo in the URL is refused: it would hide the host.
pub fn check_url(raw: &str, service: Service) -> Result<url::Url, HostError> {
    // `{region}` is not a valid host label for the parser: read the template with a region in
    // its place, and check the placeholder's host by its text.
    let parsed =
        url::Url::parse(&raw.replace("{region}", "region-placeholder-1")).map_err(|_| {
            HostError::NotUrl {
                url: raw.to_owned(),
            }
        })?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(HostError::NotUrl {
            url: raw.to_owned(),
        });
    }
    if is_loopback(&parsed) && matches!(parsed.scheme(), "http" | "https") {
        return Ok(parsed);
    }
    if parsed.scheme() != "https" {
        return Err(HostError::NotHttps {
            url: raw.to_owned(),
        });
    }
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) => d
            .to_ascii_lowercase()
            .replace("region-placeholder-1", "{region}"),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    if service.is_host(&host) {
        Ok(parsed)
    } else {
        Err(HostError::NotAllowed {
            url: raw.to_owned(),
            host,
            service,
        })
    }
}

/// Whether `name` follows SQS's naming rules: 1 to 80 letters, digits, `-` or `_`, optionally
/// ending in `.fifo`. A queue an event names must be one: never a URL, never a path.
pub(crate) fn is_queue_name(name: &str) -> bool {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    (1..=80).contains(&name.len())
        && !base.is_empty()
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_services_own_hosts_over_https_are_allowed() {
        let cases: &[(&str, Service, bool)] = &[
            ("https://sqs.us-east-1.amazonaws.com/1/q", Service::Sqs, true),
            ("https://eu-west-1.queue.amazonaws.com/1/q", Service::Sqs, true),
            ("https://sqs.cn-north-1.amazonaws.com.cn/1/q", Service::Sqs, true),
            ("https://sqs.us-gov-west-1.amazonaws.com/1/q", Service::Sqs, true),
            ("https://SQS.US-EAST-1.AMAZONAWS.COM/1/q", Service::Sqs, true),
            // Look-alikes: a suffix, a prefix, another service, plain http.
            ("https://sqs.us-east-1.amazonaws.com.evil.example/1/q", Service::Sqs, false),
            ("https://evil.example/sqs.us-east-1.amazonaws.com/1/q", Service::Sqs, false),
            ("https://x.sqs.us-east-1.amazonaws.com/1/q", Service::Sqs, false),
            ("https://sqs.us-east-1.amazonaws.co/1/q", Service::Sqs, false),
            ("https://sts.us-east-1.amazonaws.com/1/q", Service::Sqs, false),
            ("http://sqs.us-east-1.amazonaws.com/1/q", Service::Sqs, false),
            ("http://192.0.2.2:8080/1/q", Service::Sqs, false),
            ("https://user@sqs.us-east-1.amazonaws.com/1/q", Service::Sqs, false),
            ("https://sqs.evil.amazonaws.com/1/q", Service::Sqs, false),
            // Loopback, for the local stand-ins.
            ("http://127.0.0.1:5000/1/q", Service::Sqs, true),
            ("http://localhost:5000/1/q", Service::Sqs, true),
            ("http://[::1]:5000/1/q", Service::Sqs, true),
            (
                "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
                Service::AwsSts,
                true,
            ),
            ("https://sts.eu-west-1.amazonaws.com", Service::AwsSts, true),
            ("https://sts.{region}.evil.example", Service::AwsSts, false),
            ("https://sts.googleapis.com/v1/token", Service::GoogleSts, true),
            ("https://sts.googleapis.com.evil.example/v1/token", Service::GoogleSts, false),
            ("https://oauth2.googleapis.com/token", Service::GoogleSts, false),
            (
                "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken",
                Service::GoogleIamCredentials,
                true,
            ),
            ("https://evil.example/v1/x", Service::GoogleIamCredentials, false),
            ("https://oauth2.googleapis.com/token", Service::GoogleOAuth2, true),
            ("https://www.googleapis.com/oauth2/v4/token", Service::GoogleOAuth2, false),
            ("https://container.googleapis.com", Service::GkeApi, true),
            ("https://container.example.com", Service::GkeApi, false),
            ("https://127.0.0.1:8443", Service::GkeApi, true),
            ("not a url", Service::GkeApi, false),
        ];
        for (url, service, ok) in cases {
            assert_eq!(
                check_url(url, *service).is_ok(),
                *ok,
                "{url} for {service:?}: {:?}",
                check_url(url, *service)
            );
        }
    }

    #[test]
    fn a_refusal_names_the_host_and_what_is_allowed() {
        let err = check_url(
            "https://sqs.us-east-1.amazonaws.com.evil.example/1/q",
            Service::Sqs,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("\"sqs.us-east-1.amazonaws.com.evil.example\""),
            "{err}"
        );
        assert!(err.contains("sqs.REGION.amazonaws.com"), "{err}");
    }

    #[test]
    fn queue_names_are_names_never_addresses() {
        for ok in ["jobs", "text-jobs", "a_b-C9", "jobs.fifo", &"q".repeat(80)] {
            assert!(is_queue_name(ok), "{ok}");
        }
        for bad in [
            "",
            "http://192.0.2.2:8080/1/q",
            "https://sqs.us-east-1.amazonaws.com/1/q",
            "1/q",
            "../q",
            "q q",
            ".fifo",
            "127.0.0.1",
            &"q".repeat(81),
        ] {
            assert!(!is_queue_name(bad), "{bad}");
        }
    }
}
