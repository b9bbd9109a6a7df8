//! CloudWatch, in its query protocol: `SetAlarmState` (re-arm) and `DescribeAlarms` (the
//! heartbeat, the doctor), the function's alarms behind [`AlarmRearm`]. Requests are built as
//! plain values (`set_alarm_state_request`, [`cloudwatch_query_request`]); answers are read
//! by `parse_describe_alarms`.

use crate::aws::query::query_request;
use crate::aws::AwsClient;
use crate::error::Error;
use queue_scaler_core::DescribedAlarm;
use std::future::Future;

/// The function's alarms: re-arm (after acting on an ALARM, set the alarm back to OK) and, for
/// the heartbeat, reading them. A CloudWatch alarm invokes its action once per state change, so
/// without re-arm a backlog that persists would never invoke the function again; with it, the
/// next evaluation moves the alarm to ALARM again. The handler is tested with a fake.
pub trait AlarmRearm: Send + Sync {
    /// Move `alarm` to OK, saying why.
    fn set_ok(&self, alarm: &str, reason: &str) -> impl Future<Output = Result<(), Error>> + Send;
    /// `DescribeAlarms` for `names`; names that do not exist are absent from the answer.
    fn describe(
        &self,
        names: &[&str],
    ) -> impl Future<Output = Result<Vec<DescribedAlarm>, Error>> + Send;
}

impl AlarmRearm for AwsClient {
    /// CloudWatch `SetAlarmState`: move `alarm` to `OK` with `reason`.
    async fn set_ok(&self, alarm: &str, reason: &str) -> Result<(), Error> {
        let request = set_alarm_state_request(&self.cloudwatch_endpoint, alarm, "OK", reason)?;
        self.send("monitoring", "SetAlarmState", request)
            .await
            .map(drop)
    }

    /// CloudWatch `DescribeAlarms` for `names` (metric alarms): what the heartbeat needs of
    /// each. Names that do not exist are simply absent from the answer.
    async fn describe(&self, names: &[&str]) -> Result<Vec<DescribedAlarm>, Error> {
        let mut alarms = Vec::new();
        // The API takes at most 100 names per call; with names given it does not page.
        for chunk in names.chunks(100) {
            let keys: Vec<String> = (1..=chunk.len())
                .map(|i| format!("AlarmNames.member.{i}"))
                .collect();
            let mut params: Vec<(&str, &str)> = keys
                .iter()
                .map(String::as_str)
                .zip(chunk.iter().copied())
                .collect();
            params.push(("AlarmTypes.member.1", "MetricAlarm"));
            let body = self.cloudwatch_query("DescribeAlarms", &params).await?;
            alarms.extend(
                parse_describe_alarms(&body).map_err(|detail| Error::Protocol {
                    url: self.cloudwatch_endpoint.clone(),
                    detail,
                })?,
            );
        }
        Ok(alarms)
    }
}

impl AwsClient {
    /// A CloudWatch query-protocol action, signed: the answer's XML body.
    async fn cloudwatch_query(
        &self,
        action: &'static str,
        params: &[(&str, &str)],
    ) -> Result<Vec<u8>, Error> {
        let request = cloudwatch_query_request(&self.cloudwatch_endpoint, action, params)?;
        self.send("monitoring", action, request).await
    }
}

/// A CloudWatch query-protocol request (API version 2010-08-01).
pub fn cloudwatch_query_request(
    endpoint: &str,
    action: &str,
    params: &[(&str, &str)],
) -> Result<http::Request<Vec<u8>>, Error> {
    query_request(endpoint, "2010-08-01", action, params)
}

/// Read a `DescribeAlarms` answer: each `MetricAlarms` member's name, state, reason data,
/// actions and `QueueName` dimensions (of its metric, or of each metric of a metric-math alarm).
pub(crate) fn parse_describe_alarms(body: &[u8]) -> Result<Vec<DescribedAlarm>, String> {
    let text =
        std::str::from_utf8(body).map_err(|_| "DescribeAlarms answer is not UTF-8".to_owned())?;
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| format!("DescribeAlarms answer is not XML ({e})"))?;
    fn named<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
        node.children().find(|c| c.has_tag_name(name))
    }
    fn text_of(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
        named(node, name).and_then(|c| c.text()).map(str::to_owned)
    }
    let Some(list) = doc.descendants().find(|n| n.has_tag_name("MetricAlarms")) else {
        return Err("DescribeAlarms answer has no MetricAlarms".into());
    };
    let mut alarms = Vec::new();
    for member in list.children().filter(|c| c.has_tag_name("member")) {
        let actions = named(member, "AlarmActions")
            .into_iter()
            .flat_map(|a| a.children().filter(|c| c.has_tag_name("member")))
            .filter_map(|m| m.text().map(str::to_owned))
            .collect();
        // `Dimensions` of the alarm's metric, or of `Metrics[].MetricStat.Metric`.
        let queues = member
            .descendants()
            .filter(|n| n.has_tag_name("Dimensions"))
            .flat_map(|d| d.children().filter(|c| c.has_tag_name("member")))
            .filter(|m| text_of(*m, "Name").as_deref() == Some("QueueName"))
            .filter_map(|m| text_of(m, "Value"))
            .collect();
        alarms.push(DescribedAlarm {
            name: text_of(member, "AlarmName")
                .ok_or_else(|| "a DescribeAlarms member has no AlarmName".to_owned())?,
            state: text_of(member, "StateValue").unwrap_or_default(),
            state_reason_data: text_of(member, "StateReasonData"),
            state_updated: text_of(member, "StateUpdatedTimestamp"),
            actions,
            // Absent means enabled, as CloudWatch's default.
            actions_enabled: text_of(member, "ActionsEnabled").as_deref() != Some("false"),
            queues,
            threshold: text_of(member, "Threshold").and_then(|t| t.parse().ok()),
            // `MetricName` of the alarm's metric, or of each metric of a metric-math alarm.
            metrics: member
                .descendants()
                .filter(|n| n.has_tag_name("MetricName"))
                .filter_map(|n| n.text().map(str::to_owned))
                .collect(),
        });
    }
    Ok(alarms)
}

/// The CloudWatch query-protocol request for `SetAlarmState`.
pub(crate) fn set_alarm_state_request(
    endpoint: &str,
    alarm: &str,
    state: &str,
    reason: &str,
) -> Result<http::Request<Vec<u8>>, Error> {
    // StateReason is limited to 1023 characters by the API.
    let reason: String = reason.chars().take(1023).collect();
    cloudwatch_query_request(
        endpoint,
        "SetAlarmState",
        &[
            ("AlarmName", alarm),
            ("StateValue", state),
            ("StateReason", &reason),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::example_client;

    #[test]
    fn set_alarm_state_is_a_form_post_with_every_field() {
        let r = set_alarm_state_request(
            "https://monitoring.eu-west-1.amazonaws.com",
            "q-high",
            "OK",
            "scaled ml/m 2 -> 3",
        )
        .unwrap();
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(r.uri(), "https://monitoring.eu-west-1.amazonaws.com/");
        assert_eq!(
            r.headers()["content-type"],
            "application/x-www-form-urlencoded; charset=utf-8"
        );
        let body = String::from_utf8(r.body().clone()).unwrap();
        assert_eq!(
            body,
            "Action=SetAlarmState&Version=2010-08-01&AlarmName=q-high&StateValue=OK&StateReason=scaled+ml%2Fm+2+-%3E+3"
        );
    }

    #[test]
    fn long_reasons_are_cut_to_the_api_limit() {
        let r = set_alarm_state_request("https://x", "a", "OK", &"x".repeat(5000)).unwrap();
        let body = String::from_utf8(r.body().clone()).unwrap();
        assert!(body.ends_with(&format!("StateReason={}", "x".repeat(1023))));
    }

    #[test]
    fn signing_adds_sigv4_headers_for_the_region_and_service() {
        let client = example_client();
        let signed = client
            .sign_request(
                "monitoring",
                set_alarm_state_request("https://x", "a", "OK", "r").unwrap(),
            )
            .unwrap();
        let auth = signed.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        assert!(
            auth.contains("/eu-west-1/monitoring/aws4_request"),
            "{auth}"
        );
        assert_eq!(signed.headers()["x-amz-security-token"], "SESSIONTOKEN");
        assert!(!format!("{client:?}").contains("wJalr"));
    }

    #[test]
    fn describe_alarms_answers_keep_state_reason_actions_and_queue() {
        // The shape CloudWatch sends (trimmed), for a plain and a metric-math alarm.
        let xml = br#"<DescribeAlarmsResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <DescribeAlarmsResult>
    <MetricAlarms>
      <member>
        <AlarmName>qs-backlog-high</AlarmName>
        <AlarmArn>arn:aws:cloudwatch:eu-west-1:1:alarm:qs-backlog-high</AlarmArn>
        <StateValue>ALARM</StateValue>
        <StateReasonData>{"version":"1.0","recentDatapoints":[640.0],"threshold":100.0}</StateReasonData>
        <StateUpdatedTimestamp>2026-11-30T12:04:00.000Z</StateUpdatedTimestamp>
        <AlarmActions><member>arn:aws:lambda:eu-west-1:1:function:qs-scale-up</member></AlarmActions>
        <MetricName>ApproximateNumberOfMessagesVisible</MetricName>
        <Threshold>100.0</Threshold>
        <Dimensions><member><Name>QueueName</Name><Value>jobs</Value></member></Dimensions>
      </member>
      <member>
        <AlarmName>qs-backlog-low</AlarmName>
        <StateValue>OK</StateValue>
        <ActionsEnabled>false</ActionsEnabled>
        <AlarmActions/>
        <Metrics>
          <member><Id>visible</Id><MetricStat><Metric><Dimensions><member><Name>QueueName</Name><Value>jobs</Value></member></Dimensions></Metric></MetricStat></member>
          <member><Id>inflight</Id><MetricStat><Metric><Dimensions><member><Name>QueueName</Name><Value>jobs</Value></member></Dimensions></Metric></MetricStat></member>
        </Metrics>
      </member>
    </MetricAlarms>
  </DescribeAlarmsResult>
</DescribeAlarmsResponse>"#;
        let alarms = parse_describe_alarms(xml).unwrap();
        assert_eq!(alarms.len(), 2);
        assert_eq!(alarms[0].name, "qs-backlog-high");
        assert_eq!(alarms[0].state, "ALARM");
        assert!(alarms[0]
            .state_reason_data
            .as_deref()
            .unwrap()
            .contains("640.0"));
        assert_eq!(
            alarms[0].actions,
            ["arn:aws:lambda:eu-west-1:1:function:qs-scale-up"]
        );
        assert_eq!(alarms[0].queues, ["jobs"]);
        assert_eq!(alarms[0].threshold, Some(100.0));
        assert_eq!(alarms[0].metrics, ["ApproximateNumberOfMessagesVisible"]);
        assert_eq!(
            (alarms[1].state.as_str(), alarms[1].queues.len()),
            ("OK", 2)
        );
        assert!(alarms[1].actions.is_empty());
        assert!(alarms[0].actions_enabled && !alarms[1].actions_enabled);
        assert!(parse_describe_alarms(b"<html>").is_err());
        assert!(parse_describe_alarms(b"<DescribeAlarmsResponse/>").is_err());
    }
}
