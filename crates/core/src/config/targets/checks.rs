//! The checks the single target and the table share: the policy's numbers, SQS queue entries,
//! CloudWatch alarm names and Kubernetes names, each problem naming its setting.

use crate::config::problem::Problems;
use crate::config::raw::Setting;
use crate::hosts::{check_url, is_queue_name, Service};
use crate::policy::Policy;

/// Check a policy's numbers; `names` are the settings they came from (min, max, step, messages
/// per replica), which the problems name.
pub(super) fn policy(
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
/// or a queue URL `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` on an allow-listed SQS host
/// (plain `http://` only to this machine, for tests): a signed request goes nowhere else.
pub(super) fn check_queues(problems: &mut Problems, at: &str, queues: &[String]) {
    for entry in queues {
        if !entry.contains("://") {
            if !is_queue_name(entry) {
                problems.add(
                    at,
                    format!(
                        "{entry:?} is neither an SQS queue name (1 to 80 letters, digits, '-' or '_', \
                         optionally ending in .fifo) nor a queue URL https://sqs.REGION.amazonaws.com/ACCOUNT/NAME"
                    ),
                );
            }
            continue;
        }
        match check_url(entry, Service::Sqs) {
            Ok(u) => {
                let segments: Vec<&str> =
                    u.path_segments().map(Iterator::collect).unwrap_or_default();
                let shaped = u.query().is_none()
                    && matches!(segments.as_slice(), [account, name] if !account.is_empty() && is_queue_name(name));
                if !shaped {
                    problems.add(
                        at,
                        format!("{entry:?} is not a queue URL https://sqs.REGION.amazonaws.com/ACCOUNT/NAME"),
                    );
                }
            }
            Err(e) => problems.add(at, e.to_string()),
        }
    }
}

/// A comma-separated list of alarm names (`TARGET_ALARMS`, `TARGET_WAKE_ALARMS`), or of queues
/// (`TARGET_QUEUES`).
pub(super) fn alarm_list(setting: &Setting) -> Vec<String> {
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
pub(super) fn check_alarm_names(
    problems: &mut Problems,
    at: &str,
    alarms: &[String],
    wake: &[String],
) {
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
pub(super) fn check_name(
    problems: &mut Problems,
    setting: &str,
    value: &str,
    max_len: usize,
    dots: bool,
) {
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
