//! The account and region the stand-ins answer for, the ARN Lambda gives a function there, and
//! the heartbeat's event: what AWS would send, shaped as `events/heartbeat.json`.
//!
//! Pure: no I/O.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The account the stand-ins' alarms, queues and functions live in.
pub const ACCOUNT: &str = "123456789012";

/// The region the tools run the functions in, unless a test says otherwise.
pub const REGION: &str = "eu-west-1";

/// The ARN of a function called `name` in `region`, as an alarm's action names it and as Lambda
/// passes it to the function (`invoked_function_arn`, unqualified when invoked without a
/// qualifier).
pub fn function_arn(region: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{name}")
}

/// The heartbeat's event: EventBridge's `Scheduled Event` for the rule, as in
/// `events/heartbeat.json`, at `at`.
pub fn heartbeat_event(at: DateTime<Utc>, region: &str) -> Value {
    json!({
        "version": "0",
        "id": format!("heartbeat-{}", at.timestamp()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": region,
        "resources": [format!("arn:aws:events:{region}:{ACCOUNT}:rule/queue-scaler-heartbeat")],
        "detail": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use queue_scaler_core::alarm::{parse_invocation, Invocation};

    #[test]
    fn the_heartbeat_event_is_a_scheduled_event_the_functions_recognise() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 13, 5, 0).unwrap();
        let event = heartbeat_event(at, REGION);
        assert!(matches!(
            parse_invocation(&event),
            Ok(Invocation::Heartbeat { .. })
        ));
        assert_eq!(event["time"], "2026-11-28T13:05:00Z");
        assert_eq!(
            event["resources"][0],
            "arn:aws:events:eu-west-1:123456789012:rule/queue-scaler-heartbeat"
        );
    }
}
