//! Configuration: read once at start-up from a lookup function (the environment, in Lambda) into a
//! checked [`Config`]. Every problem is collected and reported together, each naming its setting.
//!
//! Pure: the caller passes the lookup and, for `SCALER_TARGETS` given as a path, a file reader.

use crate::policy::Policy;
use crate::route::{Route, Routes, Target};
use base64::Engine as _;
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The default base URL of the GKE API.
pub const DEFAULT_GKE_API_URL: &str = "https://container.googleapis.com";

/// Where the cluster's HTTPS endpoint and CA come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterSource {
    /// Read both from the GKE API's `clusters.get`, once per container.
    Discover {
        /// `projects/P/locations/L/clusters/C`.
        cluster: String,
        /// Base URL of the GKE API.
        api_url: String,
    },
    /// Given directly.
    Direct(Endpoint),
}

/// A cluster endpoint, checked: HTTPS, no path, and a CA wherever the host is an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://host[:port]`, without a trailing slash.
    pub url: String,
    /// The cluster CA in PEM. When present it is the only trusted root.
    pub ca_pem: Option<String>,
}

impl Endpoint {
    /// Check an endpoint as GKE or a user gives it: `https://host[:port]`, or a bare `host[:port]`
    /// (GKE's `endpoint` field is a bare IP). `ca` is PEM or base64 of PEM, as GKE returns it.
    pub fn parse(endpoint: &str, ca: Option<&str>) -> Result<Self, String> {
        let raw = endpoint.trim();
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("https://{raw}")
        };
        let url =
            url::Url::parse(&with_scheme).map_err(|e| format!("{raw:?} is not a URL ({e})"))?;
        if url.scheme() != "https" {
            return Err(format!(
                "{raw:?} must use https://; queue-scaler never talks to a cluster in plain text"
            ));
        }
        if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
            return Err(format!(
                "{raw:?} must be https://host[:port], without a path, query or user"
            ));
        }
        let host = url.host().ok_or_else(|| format!("{raw:?} has no host"))?;
        let is_ip = !matches!(host, url::Host::Domain(_));
        let ca_pem = ca.map(decode_ca).transpose()?;
        if is_ip && ca_pem.is_none() {
            return Err(format!(
                "{raw:?} is an IP address, which needs the cluster CA: set GKE_CA_CERT \
                 (masterAuth.clusterCaCertificate from `gcloud container clusters describe`)"
            ));
        }
        Ok(Endpoint {
            url: with_scheme.trim_end_matches('/').to_owned(),
            ca_pem,
        })
    }
}

/// Accept a CA as PEM or as base64 of PEM (GKE's `masterAuth.clusterCaCertificate`).
fn decode_ca(ca: &str) -> Result<String, String> {
    let ca = ca.trim();
    let pem = if ca.starts_with("-----BEGIN") {
        ca.to_owned()
    } else {
        let compact: String = ca.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| format!("is neither PEM nor base64 of PEM ({e})"))?;
        String::from_utf8(bytes).map_err(|_| "is base64, but not of PEM text".to_owned())?
    };
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned());
    }
    Ok(pem.trim().to_owned())
}

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
            .finish()
    }
}

impl AwsSettings {
    /// The AWS settings alone, and whether re-arm is on (`REARM_ALARM`, `true` unless it says
    /// `false`), read even when the rest of the configuration is invalid: a function whose
    /// configuration is broken can still re-arm the alarm that invoked it.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> (AwsSettings, bool) {
        let mut r = Reader {
            lookup: &lookup,
            problems: Vec::new(),
        };
        let rearm = r.bool("REARM_ALARM", true);
        (Config::aws(&mut r, false, None), rearm)
    }
}

/// Everything a function needs, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// How to reach the cluster.
    pub cluster: ClusterSource,
    /// Where the Google key comes from.
    pub key: KeySource,
    /// What each alarm scales.
    pub routes: Routes,
    /// `DRY_RUN`: decide and report, write nothing.
    pub dry_run: bool,
    /// `REARM_ALARM`: set the alarm back to OK after acting.
    pub rearm_alarm: bool,
    /// AWS access for re-arm and Secrets Manager.
    pub aws: AwsSettings,
    /// `GCP_TOKEN_SCOPES`: the OAuth2 scopes of the Google token.
    pub token_scopes: Vec<String>,
}

/// The scopes GKE needs: `cloud-platform` for the GKE API, and `userinfo.email` so that GKE sees
/// the account's email (which RBAC bindings name) rather than its numeric id.
pub const DEFAULT_TOKEN_SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
];

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The setting, e.g. `MAX_REPLICAS` or `SCALER_TARGETS[1].namespace`.
    pub setting: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Every problem found in the configuration, reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in the order the settings were read.
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "invalid configuration ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, p) in self.problems.iter().enumerate() {
            let sep = if i == 0 { " " } else { "; " };
            write!(f, "{sep}{}: {}", p.setting, p.message)?;
        }
        Ok(())
    }
}

/// One row of `SCALER_TARGETS`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    #[serde(default)]
    alarms: Vec<String>,
    #[serde(default)]
    queues: Vec<String>,
    #[serde(default)]
    wake_alarms: Vec<String>,
    namespace: String,
    deployment: String,
    #[serde(default)]
    min_replicas: Option<i64>,
    max_replicas: i64,
    #[serde(default)]
    scale_step: Option<i64>,
    #[serde(default)]
    messages_per_replica: Option<i64>,
}

/// Collects problems while reading.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<ConfigProblem>,
}

impl Reader<'_> {
    /// A set, non-blank value.
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn problem(&mut self, setting: impl Into<String>, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            setting: setting.into(),
            message: message.into(),
        });
    }

    fn bool(&mut self, name: &str, default: bool) -> bool {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => default,
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => true,
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => false,
            Some(v) => {
                self.problem(name, format!("{v:?} is not a boolean; use true or false"));
                default
            }
        }
    }

    fn int(&mut self, name: &str) -> Option<i64> {
        let v = self.get(name)?;
        match v.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.problem(name, format!("{v:?} is not a whole number"));
                None
            }
        }
    }
}

/// Check a policy's numbers; `at` prefixes setting names (empty for the single-target variables).
fn policy(
    r: &mut Reader<'_>,
    names: [String; 4],
    min: Option<i64>,
    max: Option<i64>,
    step: Option<i64>,
    mpr: Option<i64>,
) -> Option<Policy> {
    let [min_n, max_n, step_n, mpr_n] = names;
    let mut in_range = |name: &str, v: Option<i64>, lowest: i64| -> Result<Option<i32>, ()> {
        match v {
            None => Ok(None),
            Some(n) if n < lowest || n > i64::from(i32::MAX) => {
                r.problem(
                    name,
                    format!(
                        "{n} is out of range: it must be from {lowest} to {}",
                        i32::MAX
                    ),
                );
                Err(())
            }
            Some(n) => Ok(Some(n as i32)),
        }
    };
    let min = in_range(&min_n, min, 0);
    let max = in_range(&max_n, max, 0);
    let step = in_range(&step_n, step, 1);
    let mpr = in_range(&mpr_n, mpr, 1);
    if let Ok(None) = max {
        r.problem(
            &max_n,
            "is required: the most replicas queue-scaler may set",
        );
    }
    // Check min against max whenever both are usable, so it is reported beside other problems.
    if let (Ok(min), Ok(Some(max))) = (min, max) {
        let min = min.unwrap_or(1);
        if min > max {
            r.problem(
                format!("{min_n}/{max_n}"),
                format!("min {min} is greater than max {max}"),
            );
            return None;
        }
    }
    let (Ok(min), Ok(Some(max)), Ok(step), Ok(mpr)) = (min, max, step, mpr) else {
        return None;
    };
    let min = min.unwrap_or(1);
    Some(Policy {
        min,
        max,
        step: step.unwrap_or(1),
        messages_per_replica: mpr,
    })
}

/// Whether a URL's host is this machine.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A comma-separated list of alarm names (`TARGET_ALARMS`, `TARGET_WAKE_ALARMS`).
fn alarm_list(r: &Reader<'_>, name: &str) -> Vec<String> {
    r.get(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// CloudWatch alarm names: 1 to 255 characters, no control characters; a wake alarm is not also
/// a backlog alarm of the same target.
fn check_alarm_names(r: &mut Reader<'_>, at: &str, alarms: &[String], wake: &[String]) {
    for name in alarms.iter().chain(wake) {
        if name.trim().is_empty()
            || name.chars().count() > 255
            || name.chars().any(char::is_control)
        {
            r.problem(
                at,
                format!("{name:?} is not a CloudWatch alarm name (1 to 255 characters, no control characters)"),
            );
        }
    }
    if let Some(both) = wake.iter().find(|w| alarms.contains(w)) {
        r.problem(
            at,
            format!("alarm {both:?} is listed both as a backlog alarm and as a wake alarm; a wake alarm only brings the target up from zero, so list it once"),
        );
    }
}

/// Kubernetes names go into the request path: accept only DNS-1123 names.
fn check_name(r: &mut Reader<'_>, setting: &str, value: &str, max_len: usize, dots: bool) {
    let ok = !value.is_empty()
        && value.len() <= max_len
        && value.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.')
        })
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && value
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if !ok {
        r.problem(
            setting,
            format!(
                "{value:?} is not a valid Kubernetes name: lowercase letters, digits and '-'{}, \
                 starting and ending with a letter or digit, at most {max_len} characters",
                if dots { " or '.'" } else { "" }
            ),
        );
    }
}

impl Config {
    /// Read and check the configuration. `lookup` returns a variable's value; `read_file` reads
    /// `SCALER_TARGETS` when it names a file.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        read_file: impl Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Config, ConfigError> {
        let mut r = Reader {
            lookup: &lookup,
            problems: Vec::new(),
        };
        let cluster = Self::cluster(&mut r);
        let key = Self::key(&mut r);
        let routes = Self::routes(&mut r, &read_file);
        let dry_run = r.bool("DRY_RUN", false);
        let rearm_alarm = r.bool("REARM_ALARM", true);
        let aws = Self::aws(&mut r, rearm_alarm, key.as_ref());
        let token_scopes = Self::token_scopes(&mut r);
        match (cluster, key, routes) {
            (Some(cluster), Some(key), Some(routes)) if r.problems.is_empty() => Ok(Config {
                cluster,
                key,
                routes,
                dry_run,
                rearm_alarm,
                aws,
                token_scopes,
            }),
            _ => Err(ConfigError {
                problems: r.problems,
            }),
        }
    }

    fn token_scopes(r: &mut Reader<'_>) -> Vec<String> {
        let Some(v) = r.get("GCP_TOKEN_SCOPES") else {
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
            r.problem(
                "GCP_TOKEN_SCOPES",
                format!(
                    "{bad:?} is not a Google OAuth2 scope (https://www.googleapis.com/auth/...)"
                ),
            );
        }
        scopes
    }

    fn cluster(r: &mut Reader<'_>) -> Option<ClusterSource> {
        let cluster = r.get("GKE_CLUSTER");
        let endpoint = r.get("GKE_ENDPOINT");
        let ca = r.get("GKE_CA_CERT");
        let api_url = r
            .get("GKE_API_URL")
            .unwrap_or_else(|| DEFAULT_GKE_API_URL.to_owned());
        match (cluster, endpoint) {
            (Some(_), Some(_)) => {
                r.problem("GKE_CLUSTER/GKE_ENDPOINT", "set one of them, not both");
                None
            }
            (None, None) => {
                r.problem(
                    "GKE_CLUSTER",
                    "is required (projects/P/locations/L/clusters/C), unless GKE_ENDPOINT and GKE_CA_CERT are set",
                );
                None
            }
            (Some(cluster), None) => {
                let parts: Vec<&str> = cluster.split('/').collect();
                let well_formed = parts.len() == 6
                    && parts[0] == "projects"
                    && parts[2] == "locations"
                    && parts[4] == "clusters"
                    && [parts[1], parts[3], parts[5]].iter().all(|p| {
                        !p.is_empty()
                            && p.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    });
                if !well_formed {
                    r.problem(
                        "GKE_CLUSTER",
                        format!(
                            "{cluster:?} is not projects/PROJECT/locations/LOCATION/clusters/NAME"
                        ),
                    );
                }
                if ca.is_some() {
                    r.problem("GKE_CA_CERT", "is only used with GKE_ENDPOINT; with GKE_CLUSTER the CA is read from the GKE API");
                }
                match url::Url::parse(&api_url) {
                    Ok(u) if u.scheme() == "https" => {}
                    _ => r.problem("GKE_API_URL", format!("{api_url:?} is not an https:// URL")),
                }
                well_formed.then(|| ClusterSource::Discover {
                    cluster,
                    api_url: api_url.trim_end_matches('/').to_owned(),
                })
            }
            (None, Some(endpoint)) => match Endpoint::parse(&endpoint, ca.as_deref()) {
                Ok(e) => Some(ClusterSource::Direct(e)),
                Err(message) => {
                    let setting = if message.starts_with("is neither")
                        || message.starts_with("holds no")
                        || message.starts_with("is base64")
                    {
                        "GKE_CA_CERT"
                    } else {
                        "GKE_ENDPOINT"
                    };
                    r.problem(setting, message);
                    None
                }
            },
        }
    }

    fn key(r: &mut Reader<'_>) -> Option<KeySource> {
        let file = r
            .get("GOOGLE_APPLICATION_CREDENTIALS")
            .map(|p| KeySource::File(PathBuf::from(p)));
        let inline = r
            .get("GCP_SERVICE_ACCOUNT_KEY")
            .map(|k| KeySource::Inline(SecretString::from(k)));
        let config = r
            .get("GCP_CREDENTIAL_CONFIG")
            .map(KeySource::CredentialConfig);
        let secret = r
            .get("GCP_SERVICE_ACCOUNT_KEY_SECRET")
            .map(KeySource::SecretsManager);
        let mut given: Vec<KeySource> = [file, config, inline, secret]
            .into_iter()
            .flatten()
            .collect();
        match given.len() {
            1 => given.pop(),
            0 => {
                r.problem(
                    "GCP_CREDENTIAL_CONFIG",
                    "no Google credentials: set GCP_CREDENTIAL_CONFIG (keyless: the external_account \
                     configuration JSON), GOOGLE_APPLICATION_CREDENTIALS (a file holding it or a key), \
                     GCP_SERVICE_ACCOUNT_KEY (the key JSON) or GCP_SERVICE_ACCOUNT_KEY_SECRET (a Secrets Manager secret holding either)",
                );
                None
            }
            _ => {
                r.problem(
                    "GOOGLE_APPLICATION_CREDENTIALS/GCP_CREDENTIAL_CONFIG/GCP_SERVICE_ACCOUNT_KEY/GCP_SERVICE_ACCOUNT_KEY_SECRET",
                    "set exactly one of them",
                );
                None
            }
        }
    }

    fn routes(
        r: &mut Reader<'_>,
        read_file: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Option<Routes> {
        let table = r.get("SCALER_TARGETS");
        let single_vars = [
            "TARGET_NAMESPACE",
            "TARGET_DEPLOYMENT",
            "MIN_REPLICAS",
            "MAX_REPLICAS",
            "SCALE_STEP",
            "MESSAGES_PER_REPLICA",
            "TARGET_ALARMS",
            "TARGET_WAKE_ALARMS",
        ];
        let Some(table) = table else {
            let namespace = r.get("TARGET_NAMESPACE");
            let deployment = r.get("TARGET_DEPLOYMENT");
            if namespace.is_none() {
                r.problem("TARGET_NAMESPACE", "is required (or give SCALER_TARGETS)");
            }
            if deployment.is_none() {
                r.problem("TARGET_DEPLOYMENT", "is required (or give SCALER_TARGETS)");
            }
            if let Some(ns) = &namespace {
                check_name(r, "TARGET_NAMESPACE", ns, 63, false);
            }
            if let Some(d) = &deployment {
                check_name(r, "TARGET_DEPLOYMENT", d, 253, true);
            }
            let (min, max, step, mpr) = (
                r.int("MIN_REPLICAS"),
                r.int("MAX_REPLICAS"),
                r.int("SCALE_STEP"),
                r.int("MESSAGES_PER_REPLICA"),
            );
            let names = [
                "MIN_REPLICAS",
                "MAX_REPLICAS",
                "SCALE_STEP",
                "MESSAGES_PER_REPLICA",
            ]
            .map(String::from);
            let policy = policy(r, names, min, max, step, mpr);
            let alarms = alarm_list(r, "TARGET_ALARMS");
            let wake_alarms = alarm_list(r, "TARGET_WAKE_ALARMS");
            check_alarm_names(r, "TARGET_ALARMS/TARGET_WAKE_ALARMS", &alarms, &wake_alarms);
            return Some(Routes::Single(Route {
                alarms,
                queues: Vec::new(),
                wake_alarms,
                target: Target {
                    namespace: namespace?,
                    deployment: deployment?,
                    policy: policy?,
                },
            }));
        };
        for var in single_vars {
            if r.get(var).is_some() {
                r.problem(
                    var,
                    "cannot be combined with SCALER_TARGETS; put it in the table's entries",
                );
            }
        }
        let text = if table.starts_with('[') || table.starts_with('{') {
            table
        } else {
            match read_file(Path::new(&table)) {
                Ok(text) => text,
                Err(e) => {
                    r.problem(
                        "SCALER_TARGETS",
                        format!("is neither a JSON array nor a readable file ({table:?}: {e})"),
                    );
                    return None;
                }
            }
        };
        let raw: Vec<RawRoute> = match serde_json::from_str(&text) {
            Ok(raw) => raw,
            Err(e) => {
                r.problem(
                    "SCALER_TARGETS",
                    format!(
                        "is not a valid routing table ({e}); expected a JSON array of \
                         {{\"alarms\": [..], \"queues\": [..], \"namespace\", \"deployment\", \"max_replicas\", ...}}"
                    ),
                );
                return None;
            }
        };
        if raw.is_empty() {
            r.problem(
                "SCALER_TARGETS",
                "is an empty table: add at least one target",
            );
            return None;
        }
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut routes = Vec::new();
        let mut all_ok = true;
        for (i, row) in raw.into_iter().enumerate() {
            let at = format!("SCALER_TARGETS[{i}]");
            let before = r.problems.len();
            check_name(r, &format!("{at}.namespace"), &row.namespace, 63, false);
            check_name(r, &format!("{at}.deployment"), &row.deployment, 253, true);
            if row.alarms.is_empty() && row.queues.is_empty() && row.wake_alarms.is_empty() {
                r.problem(
                    &at,
                    "lists no alarms and no queues, so nothing can reach it",
                );
            }
            check_alarm_names(r, &at, &row.alarms, &row.wake_alarms);
            for (kind, names) in [
                ("alarm", &row.alarms),
                ("queue", &row.queues),
                ("alarm", &row.wake_alarms),
            ] {
                for name in names {
                    if let Some(first) = seen.insert(format!("{kind} {name}"), i) {
                        r.problem(
                            &at,
                            format!("{kind} {name:?} is already routed by SCALER_TARGETS[{first}]"),
                        );
                    }
                }
            }
            let names = [
                "min_replicas",
                "max_replicas",
                "scale_step",
                "messages_per_replica",
            ]
            .map(|n| format!("{at}.{n}"));
            let policy = policy(
                r,
                names,
                row.min_replicas,
                Some(row.max_replicas),
                row.scale_step,
                row.messages_per_replica,
            );
            match policy {
                Some(policy) if r.problems.len() == before => routes.push(Route {
                    alarms: row.alarms,
                    queues: row.queues,
                    wake_alarms: row.wake_alarms,
                    target: Target {
                        namespace: row.namespace,
                        deployment: row.deployment,
                        policy,
                    },
                }),
                _ => all_ok = false,
            }
        }
        all_ok.then_some(Routes::Table(routes))
    }

    fn aws(r: &mut Reader<'_>, rearm: bool, key: Option<&KeySource>) -> AwsSettings {
        let endpoint = |r: &mut Reader<'_>, name: &str| -> Option<String> {
            let v = r.get(name).or_else(|| r.get("AWS_ENDPOINT_URL"))?;
            match url::Url::parse(&v) {
                Ok(u) if u.scheme() == "https" => Some(v.trim_end_matches('/').to_owned()),
                // Plain HTTP only to this machine (a local test server): a mistaken production
                // setting would send signed requests, and a key secret's answer, in clear.
                Ok(u) if u.scheme() == "http" && is_loopback(&u) => {
                    Some(v.trim_end_matches('/').to_owned())
                }
                Ok(u) if u.scheme() == "http" => {
                    r.problem(
                        name,
                        format!("{v:?} is plain http:// to another host; use https:// (http:// is allowed only for 127.0.0.1, ::1 or localhost)"),
                    );
                    None
                }
                _ => {
                    r.problem(name, format!("{v:?} is not an http(s) URL"));
                    None
                }
            }
        };
        let aws = AwsSettings {
            region: r.get("AWS_REGION").or_else(|| r.get("AWS_DEFAULT_REGION")),
            access_key_id: r.get("AWS_ACCESS_KEY_ID"),
            secret_access_key: r.get("AWS_SECRET_ACCESS_KEY").map(SecretString::from),
            session_token: r.get("AWS_SESSION_TOKEN").map(SecretString::from),
            cloudwatch_endpoint: endpoint(r, "AWS_ENDPOINT_URL_CLOUDWATCH"),
            secretsmanager_endpoint: endpoint(r, "AWS_ENDPOINT_URL_SECRETS_MANAGER"),
        };
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
                r.problem("AWS_REGION", format!("is required by {why} (Lambda sets it; elsewhere set it, or REARM_ALARM=false)"));
            }
            if aws.access_key_id.is_none() || aws.secret_access_key.is_none() {
                r.problem(
                    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
                    format!("are required by {why} (Lambda sets them from the execution role)"),
                );
            }
        }
        aws
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(
            |k| map.get(k).cloned(),
            |p| {
                if p == Path::new("/etc/targets.json") {
                    Ok(
                        r#"[{"queues":["q"],"namespace":"ml","deployment":"m","max_replicas":3}]"#
                            .into(),
                    )
                } else {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "No such file or directory",
                    ))
                }
            },
        )
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "GKE_CLUSTER",
                "projects/p/locations/europe-west4/clusters/gpu",
            ),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/key.json"),
            ("TARGET_NAMESPACE", "ml"),
            ("TARGET_DEPLOYMENT", "model-worker"),
            ("MIN_REPLICAS", "2"),
            ("MAX_REPLICAS", "4"),
            ("REARM_ALARM", "false"),
        ]
    }

    fn with(
        mut vars: Vec<(&'static str, &'static str)>,
        extra: &[(&'static str, &'static str)],
    ) -> Vec<(&'static str, &'static str)> {
        for (k, v) in extra {
            vars.retain(|(name, _)| name != k);
            if !v.is_empty() {
                vars.push((k, v));
            }
        }
        vars
    }

    fn settings(err: &ConfigError) -> Vec<&str> {
        err.problems.iter().map(|p| p.setting.as_str()).collect()
    }

    #[test]
    fn the_single_target_names_its_alarms_and_wake_alarms() {
        let c = load(&with(
            base(),
            &[
                ("TARGET_ALARMS", " qs-backlog-high , qs-backlog-wake,"),
                ("TARGET_WAKE_ALARMS", "qs-backlog-wake"),
            ],
        ));
        // Listing an alarm as both is refused, naming both settings.
        let err = c.unwrap_err();
        assert_eq!(
            settings(&err),
            ["TARGET_ALARMS/TARGET_WAKE_ALARMS"],
            "{err}"
        );
        let c = load(&with(
            base(),
            &[
                ("TARGET_ALARMS", "qs-backlog-high"),
                ("TARGET_WAKE_ALARMS", "qs-backlog-wake"),
            ],
        ))
        .unwrap();
        assert_eq!(
            c.routes.alarm_names(),
            ["qs-backlog-high", "qs-backlog-wake"]
        );
        assert!(c.routes.is_wake("qs-backlog-wake"));
        let err = load(&with(
            base(),
            &[
                ("SCALER_TARGETS", "/etc/targets.json"),
                ("TARGET_ALARMS", "a"),
            ],
        ))
        .unwrap_err();
        assert!(settings(&err).contains(&"TARGET_ALARMS"), "{err}");
    }

    #[test]
    fn a_table_row_may_name_wake_alarms_once() {
        let table = r#"[{"alarms":["a-high"],"wake_alarms":["a-wake"],"namespace":"ml","deployment":"a","min_replicas":0,"max_replicas":2},
                        {"wake_alarms":["a-wake"],"namespace":"ml","deployment":"b","max_replicas":2}]"#;
        let vars: Vec<(&str, &str)> = base()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("TARGET_") && !k.ends_with("_REPLICAS"))
            .collect();
        let err = load(&with(vars.clone(), &[("SCALER_TARGETS", table)])).unwrap_err();
        assert_eq!(settings(&err), ["SCALER_TARGETS[1]"], "{err}");
        assert!(
            err.to_string()
                .contains("already routed by SCALER_TARGETS[0]"),
            "{err}"
        );
        let table = r#"[{"alarms":["a-high"],"wake_alarms":["a-wake"],"namespace":"ml","deployment":"a","min_replicas":0,"max_replicas":2}]"#;
        let c = load(&with(vars, &[("SCALER_TARGETS", table)])).unwrap();
        assert!(c.routes.is_wake("a-wake"));
    }

    #[test]
    fn a_minimal_single_target_configuration_loads_with_defaults() {
        let c = load(&base()).unwrap();
        assert!(!c.dry_run);
        assert!(!c.rearm_alarm);
        let Routes::Single(route) = &c.routes else {
            panic!("single target expected")
        };
        let t = &route.target;
        assert!(route.alarms.is_empty() && route.wake_alarms.is_empty());
        assert_eq!(
            t.policy,
            Policy {
                min: 2,
                max: 4,
                step: 1,
                messages_per_replica: None
            }
        );
        assert_eq!(
            c.cluster,
            ClusterSource::Discover {
                cluster: "projects/p/locations/europe-west4/clusters/gpu".into(),
                api_url: DEFAULT_GKE_API_URL.into()
            }
        );
    }

    #[test]
    fn every_policy_problem_is_reported_together() {
        let err = load(&with(
            base(),
            &[
                ("MIN_REPLICAS", "-1"),
                ("SCALE_STEP", "0"),
                ("MESSAGES_PER_REPLICA", "0"),
            ],
        ))
        .unwrap_err();
        assert_eq!(
            settings(&err),
            ["MIN_REPLICAS", "SCALE_STEP", "MESSAGES_PER_REPLICA"],
            "{err}"
        );
    }

    #[test]
    fn min_above_max_is_refused() {
        let err = load(&with(base(), &[("MIN_REPLICAS", "5")])).unwrap_err();
        assert_eq!(settings(&err), ["MIN_REPLICAS/MAX_REPLICAS"]);
        assert!(
            err.to_string().contains("min 5 is greater than max 4"),
            "{err}"
        );
    }

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
    fn problems_in_different_settings_are_all_listed() {
        let err = load(&[("DRY_RUN", "maybe"), ("MAX_REPLICAS", "lots")]).unwrap_err();
        let s = settings(&err);
        for want in [
            "GKE_CLUSTER",
            "GCP_CREDENTIAL_CONFIG",
            "TARGET_NAMESPACE",
            "TARGET_DEPLOYMENT",
            "MAX_REPLICAS",
            "DRY_RUN",
        ] {
            assert!(s.contains(&want), "{want} missing from {s:?}");
        }
    }

    #[test]
    fn endpoint_must_be_https_and_an_ip_needs_a_ca() {
        let no_cluster = with(base(), &[("GKE_CLUSTER", "")]);
        let err = load(&with(
            no_cluster.clone(),
            &[("GKE_ENDPOINT", "http://10.0.0.1")],
        ))
        .unwrap_err();
        assert!(err.to_string().contains("must use https://"), "{err}");
        let err = load(&with(no_cluster.clone(), &[("GKE_ENDPOINT", "34.1.2.3")])).unwrap_err();
        assert!(err.to_string().contains("needs the cluster CA"), "{err}");
        let c = load(&with(
            no_cluster.clone(),
            &[("GKE_ENDPOINT", "34.1.2.3"), ("GKE_CA_CERT", CA_PEM)],
        ))
        .unwrap();
        assert_eq!(
            c.cluster,
            ClusterSource::Direct(Endpoint {
                url: "https://34.1.2.3".into(),
                ca_pem: Some(CA_PEM.trim().into())
            })
        );
        // A DNS endpoint uses public roots.
        let c = load(&with(
            no_cluster,
            &[("GKE_ENDPOINT", "https://gke-abc.europe-west4.gke.goog")],
        ))
        .unwrap();
        assert!(matches!(
            c.cluster,
            ClusterSource::Direct(Endpoint { ca_pem: None, .. })
        ));
    }

    #[test]
    fn ca_is_accepted_as_base64_of_pem_as_gke_returns_it() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(CA_PEM);
        let vars = with(
            base(),
            &[
                ("GKE_CLUSTER", ""),
                ("GKE_ENDPOINT", "https://127.0.0.1:6443"),
                ("GKE_CA_CERT", &*Box::leak(b64.into_boxed_str())),
            ],
        );
        let c = load(&vars).unwrap();
        assert!(
            matches!(c.cluster, ClusterSource::Direct(Endpoint { ca_pem: Some(ref p), .. }) if p == CA_PEM.trim())
        );
        let err = load(&with(vars, &[("GKE_CA_CERT", "bm90IGEgY2VydA==")])).unwrap_err();
        assert_eq!(settings(&err), ["GKE_CA_CERT"], "{err}");
    }

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

    #[test]
    fn kubernetes_names_that_could_escape_the_path_are_refused() {
        let err = load(&with(
            base(),
            &[
                ("TARGET_DEPLOYMENT", "../secrets"),
                ("TARGET_NAMESPACE", "ML"),
            ],
        ))
        .unwrap_err();
        assert_eq!(
            settings(&err),
            ["TARGET_NAMESPACE", "TARGET_DEPLOYMENT"],
            "{err}"
        );
    }

    #[test]
    fn routing_table_loads_from_json_or_a_file() {
        let table = r#"[{"alarms":["a-high","a-low"],"queues":["a-jobs"],"namespace":"ml","deployment":"model-a","min_replicas":2,"max_replicas":8,"messages_per_replica":50},
                        {"queues":["b-jobs"],"namespace":"ml","deployment":"model-b","max_replicas":4,"scale_step":2}]"#;
        let vars: Vec<_> = base()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("TARGET") && !k.ends_with("REPLICAS"))
            .collect();
        let c = load(&with(vars.clone(), &[("SCALER_TARGETS", table)])).unwrap();
        let Routes::Table(routes) = &c.routes else {
            panic!("table expected")
        };
        assert_eq!(routes.len(), 2);
        assert_eq!(
            routes[1].target.policy,
            Policy {
                min: 1,
                max: 4,
                step: 2,
                messages_per_replica: None
            }
        );
        let c = load(&with(
            vars.clone(),
            &[("SCALER_TARGETS", "/etc/targets.json")],
        ))
        .unwrap();
        assert_eq!(c.routes.targets()[0].deployment, "m");
        let err = load(&with(vars, &[("SCALER_TARGETS", "/nope.json")])).unwrap_err();
        assert!(err.to_string().contains("No such file"), "{err}");
    }

    #[test]
    fn routing_table_problems_name_the_row() {
        let table = r#"[{"alarms":["x"],"namespace":"ml","deployment":"a","max_replicas":2,"min_replicas":3},
                        {"alarms":["x"],"namespace":"ml","deployment":"b","max_replicas":2},
                        {"namespace":"ml","deployment":"c","max_replicas":2}]"#;
        let vars: Vec<_> = base()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("TARGET") && !k.ends_with("REPLICAS"))
            .collect();
        let err = load(&with(vars, &[("SCALER_TARGETS", table)])).unwrap_err();
        assert_eq!(
            settings(&err),
            [
                "SCALER_TARGETS[0].min_replicas/SCALER_TARGETS[0].max_replicas",
                "SCALER_TARGETS[1]",
                "SCALER_TARGETS[2]"
            ],
            "{err}"
        );
    }

    #[test]
    fn routing_table_with_single_target_variables_is_ambiguous() {
        let err = load(&with(base(), &[("SCALER_TARGETS", "[]")])).unwrap_err();
        assert!(settings(&err).contains(&"TARGET_NAMESPACE"), "{err}");
    }

    #[test]
    fn unknown_fields_in_the_table_are_refused() {
        let vars: Vec<_> = base()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("TARGET") && !k.ends_with("REPLICAS"))
            .collect();
        let err = load(&with(
            vars,
            &[(
                "SCALER_TARGETS",
                r#"[{"alarms":["x"],"namespace":"ml","deployment":"a","max_replica":2}]"#,
            )],
        ))
        .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
