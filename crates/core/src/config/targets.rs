//! The routing settings: a table (`SCALER_TARGETS`, JSON or the path of a JSON file), or one
//! target for every alarm (`TARGET_NAMESPACE`, `TARGET_DEPLOYMENT`, `MIN_REPLICAS`, ...),
//! checked into [`Routes`]: Kubernetes names, alarm names, and each target's [`Policy`].

use super::problem::Problems;
use super::raw::{RawTargets, Setting};
use crate::policy::Policy;
use crate::route::{Route, Routes, Target};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Lambda's limit on a function's environment: 4 KB for all variables together, names included.
const LAMBDA_ENVIRONMENT_BYTES: usize = 4096;
/// An inline table at least this long is near that limit, which may be why it is cut or invalid.
const NEAR_LAMBDA_ENVIRONMENT_BYTES: usize = 3 * 1024;
/// Where a table too large for the environment goes: a file in the deployment package.
const TABLE_IN_THE_PACKAGE: &str =
    "a table that does not fit in the environment belongs in a file in \
     the deployment package, beside bootstrap, which Lambda unpacks to /var/task: \
     `make deploy SCALER_TARGETS_FILE=targets.json` ships it as /var/task/targets.json, and \
     SCALER_TARGETS=/var/task/targets.json names it";

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

/// Check the routing settings: the table when `SCALER_TARGETS` is set, else the single target.
/// `read_file` reads `SCALER_TARGETS` when it names a file.
pub(super) fn check(
    raw: RawTargets,
    read_file: &dyn Fn(&Path) -> std::io::Result<String>,
    problems: &mut Problems,
) -> Option<Routes> {
    match &raw.table.value {
        None => single(raw, problems),
        Some(_) => table(raw, read_file, problems),
    }
}

/// One target for every alarm, from the single-target variables.
fn single(raw: RawTargets, problems: &mut Problems) -> Option<Routes> {
    let namespace = raw.namespace.value;
    let deployment = raw.deployment.value;
    if namespace.is_none() {
        problems.add(raw.namespace.name, "is required (or give SCALER_TARGETS)");
    }
    if deployment.is_none() {
        problems.add(raw.deployment.name, "is required (or give SCALER_TARGETS)");
    }
    if let Some(ns) = &namespace {
        check_name(problems, raw.namespace.name, ns, 63, false);
    }
    if let Some(d) = &deployment {
        check_name(problems, raw.deployment.name, d, 253, true);
    }
    let numbers = [
        &raw.min_replicas,
        &raw.max_replicas,
        &raw.scale_step,
        &raw.messages_per_replica,
    ];
    let [min, max, step, mpr] = numbers.map(|s| problems.int(s));
    let names = numbers.map(|s| s.name.to_owned());
    let policy = policy(problems, names, min, max, step, mpr);
    let alarms = alarm_list(&raw.alarms);
    let wake_alarms = alarm_list(&raw.wake_alarms);
    let queues = alarm_list(&raw.queues);
    check_queues(problems, raw.queues.name, &queues);
    check_alarm_names(
        problems,
        &format!("{}/{}", raw.alarms.name, raw.wake_alarms.name),
        &alarms,
        &wake_alarms,
    );
    Some(Routes::Single(Route {
        alarms,
        queues,
        wake_alarms,
        target: Target {
            namespace: namespace?,
            deployment: deployment?,
            policy: policy?,
        },
    }))
}

/// The routing table, `SCALER_TARGETS`: given as JSON, or the path of a file holding it.
fn table(
    raw: RawTargets,
    read_file: &dyn Fn(&Path) -> std::io::Result<String>,
    problems: &mut Problems,
) -> Option<Routes> {
    for setting in [
        &raw.namespace,
        &raw.deployment,
        &raw.min_replicas,
        &raw.max_replicas,
        &raw.scale_step,
        &raw.messages_per_replica,
        &raw.alarms,
        &raw.wake_alarms,
        &raw.queues,
    ] {
        if setting.value.is_some() {
            problems.add(
                setting.name,
                "cannot be combined with SCALER_TARGETS; put it in the table's entries",
            );
        }
    }
    let table = raw.table.value?;
    let inline = table.starts_with('[') || table.starts_with('{');
    if inline && table.len() > LAMBDA_ENVIRONMENT_BYTES {
        problems.add(
            "SCALER_TARGETS",
            format!(
                "is {} bytes of JSON, more than the 4 KB ({LAMBDA_ENVIRONMENT_BYTES} bytes) Lambda \
                 allows for all environment variables together: {TABLE_IN_THE_PACKAGE}",
                table.len()
            ),
        );
        return None;
    }
    // An inline table near the limit that does not parse may have been cut to fit.
    let near_limit = inline && table.len() >= NEAR_LAMBDA_ENVIRONMENT_BYTES;
    let text = if inline {
        table
    } else {
        match read_file(Path::new(&table)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.add(
                    "SCALER_TARGETS",
                    format!(
                        "names no file ({table:?}: {e}); {TABLE_IN_THE_PACKAGE} (a JSON value \
                         starts with '[')"
                    ),
                );
                return None;
            }
            Err(e) => {
                problems.add(
                    "SCALER_TARGETS",
                    format!("is neither a JSON array nor a readable file ({table:?}: {e})"),
                );
                return None;
            }
        }
    };
    let rows: Vec<RawRoute> = match serde_json::from_str(&text) {
        Ok(rows) => rows,
        Err(e) => {
            problems.add(
                "SCALER_TARGETS",
                format!(
                    "is not a valid routing table ({e}); expected a JSON array of \
                     {{\"alarms\": [..], \"queues\": [..], \"namespace\", \"deployment\", \"max_replicas\", ...}}{}",
                    if near_limit {
                        format!(
                            "; at {} bytes it is near Lambda's 4 KB limit on the environment, \
                             which may have cut it: {TABLE_IN_THE_PACKAGE}",
                            text.len()
                        )
                    } else {
                        String::new()
                    }
                ),
            );
            return None;
        }
    };
    if rows.is_empty() {
        problems.add(
            "SCALER_TARGETS",
            "is an empty table: add at least one target",
        );
        return None;
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut routes = Vec::new();
    let mut all_ok = true;
    for (i, row) in rows.into_iter().enumerate() {
        let at = format!("SCALER_TARGETS[{i}]");
        let before = problems.len();
        check_name(
            problems,
            &format!("{at}.namespace"),
            &row.namespace,
            63,
            false,
        );
        check_name(
            problems,
            &format!("{at}.deployment"),
            &row.deployment,
            253,
            true,
        );
        if row.alarms.is_empty() && row.queues.is_empty() && row.wake_alarms.is_empty() {
            problems.add(
                &at,
                "lists no alarms and no queues, so nothing can reach it",
            );
        }
        check_alarm_names(problems, &at, &row.alarms, &row.wake_alarms);
        check_queues(problems, &format!("{at}.queues"), &row.queues);
        let queue_names: Vec<String> = row
            .queues
            .iter()
            .map(|q| crate::route::queue_name(q).to_owned())
            .collect();
        for (kind, names) in [
            ("alarm", &row.alarms),
            ("queue", &queue_names),
            ("alarm", &row.wake_alarms),
        ] {
            for name in names {
                if let Some(first) = seen.insert(format!("{kind} {name}"), i) {
                    problems.add(
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
            problems,
            names,
            row.min_replicas,
            Some(row.max_replicas),
            row.scale_step,
            row.messages_per_replica,
        );
        match policy {
            Some(policy) if problems.len() == before => routes.push(Route {
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

/// Check a policy's numbers; `names` are the settings they came from (min, max, step, messages
/// per replica), which the problems name.
fn policy(
    problems: &mut Problems,
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
                problems.add(
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
        problems.add(
            &max_n,
            "is required: the most replicas queue-scaler may set",
        );
    }
    // Check min against max whenever both are usable, so it is reported beside other problems.
    if let (Ok(min), Ok(Some(max))) = (min, max) {
        let min = min.unwrap_or(1);
        if min > max {
            problems.add(
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

/// SQS queue entries: a name (1 to 80 letters, digits, `-` or `_`, `.fifo` allowed at the end),
/// or a queue URL `https://HOST/ACCOUNT/NAME` (plain `http://` only to this machine, for tests).
fn check_queues(problems: &mut Problems, at: &str, queues: &[String]) {
    fn is_name(name: &str) -> bool {
        let base = name.strip_suffix(".fifo").unwrap_or(name);
        (1..=80).contains(&name.len())
            && base
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !base.is_empty()
    }
    for entry in queues {
        let ok = if entry.contains("://") {
            match url::Url::parse(entry) {
                Ok(u) => {
                    let scheme_ok = u.scheme() == "https"
                        || (u.scheme() == "http" && super::aws::is_loopback(&u));
                    let segments: Vec<&str> =
                        u.path_segments().map(Iterator::collect).unwrap_or_default();
                    scheme_ok
                        && u.query().is_none()
                        && matches!(segments.as_slice(), [account, name] if !account.is_empty() && is_name(name))
                }
                Err(_) => false,
            }
        } else {
            is_name(entry)
        };
        if !ok {
            problems.add(
                at,
                format!(
                    "{entry:?} is neither an SQS queue name (1 to 80 letters, digits, '-' or '_', \
                     optionally ending in .fifo) nor a queue URL https://sqs.REGION.amazonaws.com/ACCOUNT/NAME"
                ),
            );
        }
    }
}

/// A comma-separated list of alarm names (`TARGET_ALARMS`, `TARGET_WAKE_ALARMS`), or of queues
/// (`TARGET_QUEUES`).
fn alarm_list(setting: &Setting) -> Vec<String> {
    setting
        .value
        .as_ref()
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
fn check_alarm_names(problems: &mut Problems, at: &str, alarms: &[String], wake: &[String]) {
    for name in alarms.iter().chain(wake) {
        if name.trim().is_empty()
            || name.chars().count() > 255
            || name.chars().any(char::is_control)
        {
            problems.add(
                at,
                format!("{name:?} is not a CloudWatch alarm name (1 to 255 characters, no control characters)"),
            );
        }
    }
    if let Some(both) = wake.iter().find(|w| alarms.contains(w)) {
        problems.add(
            at,
            format!("alarm {both:?} is listed both as a backlog alarm and as a wake alarm; a wake alarm only brings the target up from zero, so list it once"),
        );
    }
}

/// Kubernetes names go into the request path: accept only DNS-1123 names.
fn check_name(problems: &mut Problems, setting: &str, value: &str, max_len: usize, dots: bool) {
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
        problems.add(
            setting,
            format!(
                "{value:?} is not a valid Kubernetes name: lowercase letters, digits and '-'{}, \
                 starting and ending with a letter or digit, at most {max_len} characters",
                if dots { " or '.'" } else { "" }
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{base, load, settings, with};

    #[test]
    fn target_queues_are_names_or_queue_urls() {
        let queues = "text-jobs, https://sqs.us-east-1.amazonaws.com/123456789012/other.fifo";
        let aws = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ];
        let c = load(&with(with(base(), &aws), &[("TARGET_QUEUES", queues)])).unwrap();
        assert_eq!(
            c.routes.routes()[0].queues,
            [
                "text-jobs",
                "https://sqs.us-east-1.amazonaws.com/123456789012/other.fifo"
            ]
        );
        for bad in [
            "jobs/../x",
            "http://sqs.eu-west-1.amazonaws.com/1/jobs",
            "https://sqs.eu-west-1.amazonaws.com/jobs",
            // 81 characters: one more than SQS allows.
            "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
            "has space",
        ] {
            let err = load(&with(with(base(), &aws), &[("TARGET_QUEUES", bad)])).unwrap_err();
            assert_eq!(settings(&err), ["TARGET_QUEUES"], "{bad}: {err}");
        }
        // In a table, a URL routes by its queue's name, once.
        let table = r#"[{"queues":["jobs"],"namespace":"ml","deployment":"a","max_replicas":3},
                        {"queues":["https://sqs.eu-west-1.amazonaws.com/1/jobs"],"namespace":"ml","deployment":"b","max_replicas":3}]"#;
        let mut vars: Vec<(&str, &str)> = base()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("TARGET_") && !k.ends_with("_REPLICAS"))
            .collect();
        vars.extend(aws);
        vars.push(("SCALER_TARGETS", table));
        let err = load(&vars).unwrap_err();
        assert!(err.to_string().contains("already routed"), "{err}");
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
    fn a_table_too_large_for_lambdas_environment_says_where_the_file_goes() {
        let vars: Vec<_> = base()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("TARGET") && !k.ends_with("REPLICAS"))
            .collect();
        let row = |i: usize| {
            format!(
                r#"{{"alarms":["model-{i}-backlog-high","model-{i}-backlog-low"],"queues":["model-{i}-jobs"],"namespace":"ml","deployment":"model-{i}","max_replicas":4}}"#
            )
        };
        // About twenty targets no longer fit in Lambda's 4 KB of environment.
        // The test settings are 'static, as the environment is.
        let big: &'static str =
            format!("[{}]", (0..30).map(row).collect::<Vec<_>>().join(",")).leak();
        assert!(big.len() > 4096, "{}", big.len());
        let err = load(&with(vars.clone(), &[("SCALER_TARGETS", big)])).unwrap_err();
        assert_eq!(settings(&err), ["SCALER_TARGETS"], "{err}");
        for says in [
            &format!("is {} bytes of JSON", big.len()),
            "4 KB",
            "SCALER_TARGETS_FILE",
            "SCALER_TARGETS=/var/task/targets.json",
        ] {
            assert!(err.to_string().contains(says), "{says:?} not in: {err}");
        }
        // Near the limit and cut short: the error says the limit may be why.
        let cut = &big[..3500];
        let err = load(&with(vars.clone(), &[("SCALER_TARGETS", cut)])).unwrap_err();
        assert!(
            err.to_string().contains("is not a valid routing table")
                && err.to_string().contains("near Lambda's 4 KB limit")
                && err.to_string().contains("/var/task/targets.json"),
            "{err}"
        );
        // A short invalid table is only invalid.
        let err = load(&with(vars.clone(), &[("SCALER_TARGETS", "[{")])).unwrap_err();
        assert!(!err.to_string().contains("4 KB"), "{err}");
        // The file is not where SCALER_TARGETS says: where it must be.
        let err = load(&with(
            vars.clone(),
            &[("SCALER_TARGETS", "/var/task/targets.json")],
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("names no file")
                && err.to_string().contains("No such file")
                && err.to_string().contains("beside bootstrap")
                && err.to_string().contains("SCALER_TARGETS_FILE"),
            "{err}"
        );
        // A file that is there loads, whatever its size.
        let c = load(&with(vars, &[("SCALER_TARGETS", "/etc/targets.json")])).unwrap();
        assert_eq!(c.routes.targets().len(), 1);
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
