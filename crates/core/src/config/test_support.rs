//! What the configuration tests of every topic share: a base single-target configuration, and
//! loading one from a list of variables.

use super::{Config, ConfigError};
use std::collections::HashMap;
use std::path::Path;

/// A PEM certificate, as far as the checks look.
pub(super) const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/// Load a configuration from `vars`; `/etc/targets.json` is the one file that can be read.
pub(super) fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
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

/// A valid single-target configuration.
pub(super) fn base() -> Vec<(&'static str, &'static str)> {
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

/// `vars` with `extra` set over them; an empty value unsets the variable.
pub(super) fn with(
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

/// The settings the problems name, in order.
pub(super) fn settings(err: &ConfigError) -> Vec<&str> {
    err.problems.iter().map(|p| p.setting.as_str()).collect()
}
