//! SigV4-signed calls to the AWS APIs queue-scaler uses, without the AWS SDK:
//! CloudWatch `SetAlarmState` and `DescribeAlarms` (query protocol), Secrets Manager
//! `GetSecretValue` (JSON protocol), and SQS ([`sqs`]). The signer is `aws-sigv4`, the SDK's own; the requests are built as plain values.
//!
//! Credentials come from the Lambda environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`), read once by the configuration.

use crate::error::{built, Error};
use crate::http::{send, AWS_TIMEOUT};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use queue_scaler_core::config::AwsSettings;
use queue_scaler_core::DescribedAlarm;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

pub mod sqs;

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
    async fn set_ok(&self, alarm: &str, reason: &str) -> Result<(), Error> {
        self.set_alarm_ok(alarm, reason).await
    }

    async fn describe(&self, names: &[&str]) -> Result<Vec<DescribedAlarm>, Error> {
        self.describe_alarms(names).await
    }
}

/// A client for AWS APIs in one region.
#[derive(Clone)]
pub struct AwsClient {
    http: reqwest::Client,
    region: String,
    credentials: Credentials,
    cloudwatch_endpoint: String,
    secretsmanager_endpoint: String,
    /// The regional SQS endpoint, or `AWS_ENDPOINT_URL_SQS`.
    sqs_endpoint: String,
    /// Whether `sqs_endpoint` is an override: then every queue, given by URL too, is read there.
    sqs_overridden: bool,
    /// Queue URLs looked up by name with `GetQueueUrl`, kept for the container's life.
    queue_urls: Arc<Mutex<HashMap<String, String>>>,
}

impl std::fmt::Debug for AwsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsClient")
            .field("region", &self.region)
            .field("cloudwatch_endpoint", &self.cloudwatch_endpoint)
            .field("secretsmanager_endpoint", &self.secretsmanager_endpoint)
            .field("sqs_endpoint", &self.sqs_endpoint)
            .finish_non_exhaustive()
    }
}

impl AwsClient {
    /// Build a client from checked settings on the container's shared HTTPS client; `None` when
    /// region or credentials are missing (configuration reports that when AWS is needed).
    pub fn new(settings: &AwsSettings, http: reqwest::Client) -> Option<Self> {
        let region = settings.region.clone()?;
        let credentials = Credentials::new(
            settings.access_key_id.clone()?,
            settings
                .secret_access_key
                .as_ref()?
                .expose_secret()
                .to_owned(),
            settings
                .session_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            None,
            "environment",
        );
        let suffix = dns_suffix(&region);
        Some(AwsClient {
            cloudwatch_endpoint: settings
                .cloudwatch_endpoint
                .clone()
                .unwrap_or_else(|| format!("https://monitoring.{region}.{suffix}")),
            secretsmanager_endpoint: settings
                .secretsmanager_endpoint
                .clone()
                .unwrap_or_else(|| format!("https://secretsmanager.{region}.{suffix}")),
            sqs_endpoint: settings
                .sqs_endpoint
                .clone()
                .unwrap_or_else(|| format!("https://sqs.{region}.{suffix}")),
            sqs_overridden: settings.sqs_endpoint.is_some(),
            queue_urls: Arc::default(),
            http,
            region,
            credentials,
        })
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Sign `request` for `service` in this client's region with SigV4 and the function's
    /// credentials, without sending it: keyless signs the `GetCallerIdentity` request that
    /// Google sends, never this client. Requests are built as plain values
    /// ([`cloudwatch_query_request`], [`secretsmanager_request`], [`sqs::sqs_request`]).
    pub fn sign_request(
        &self,
        service: &str,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Request<Vec<u8>>, Error> {
        self.sign(service, request)
    }

    fn sign(
        &self,
        service: &str,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Request<Vec<u8>>, Error> {
        self.sign_in(&self.region, service, request)
    }

    /// Sign for `region`, which is this client's except for a queue URL of another region.
    fn sign_in(
        &self,
        region: &str,
        service: &str,
        mut request: http::Request<Vec<u8>>,
    ) -> Result<http::Request<Vec<u8>>, Error> {
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Error::Signing(e.to_string()))?
            .into();
        let headers = request
            .headers()
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.as_str(),
                    v.to_str().map_err(|e| Error::Signing(e.to_string()))?,
                ))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.uri().to_string(),
            headers.into_iter(),
            SignableBody::Bytes(request.body()),
        )
        .map_err(|e| Error::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Error::Signing(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }

    async fn send(
        &self,
        service: &'static str,
        action: &'static str,
        request: http::Request<Vec<u8>>,
    ) -> Result<Vec<u8>, Error> {
        self.send_in(&self.region, service, action, request).await
    }

    async fn send_in(
        &self,
        region: &str,
        service: &'static str,
        action: &'static str,
        request: http::Request<Vec<u8>>,
    ) -> Result<Vec<u8>, Error> {
        let signed = self.sign_in(region, service, request)?;
        let answer = send(&self.http, signed, None, Some(AWS_TIMEOUT)).await?;
        let (status, body) = (answer.status, answer.body);
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(Error::Aws {
                service,
                action,
                status,
                message: aws_error_message(&body),
            })
        }
    }

    /// CloudWatch `SetAlarmState`: move `alarm` to `OK` with `reason`.
    pub async fn set_alarm_ok(&self, alarm: &str, reason: &str) -> Result<(), Error> {
        let request = set_alarm_state_request(&self.cloudwatch_endpoint, alarm, "OK", reason)?;
        self.send("monitoring", "SetAlarmState", request)
            .await
            .map(drop)
    }

    /// CloudWatch `DescribeAlarms` for `names` (metric alarms): what the heartbeat needs of
    /// each. Names that do not exist are simply absent from the answer.
    pub async fn describe_alarms(&self, names: &[&str]) -> Result<Vec<DescribedAlarm>, Error> {
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

    /// A CloudWatch query-protocol action, signed: the answer's XML body.
    async fn cloudwatch_query(
        &self,
        action: &'static str,
        params: &[(&str, &str)],
    ) -> Result<Vec<u8>, Error> {
        let request = cloudwatch_query_request(&self.cloudwatch_endpoint, action, params)?;
        self.send("monitoring", action, request).await
    }

    /// Secrets Manager `GetSecretValue`: the secret's string (a key kept there).
    pub(crate) async fn get_secret_string(&self, secret_id: &str) -> Result<SecretString, Error> {
        let request = get_secret_value_request(&self.secretsmanager_endpoint, secret_id)?;
        let body = self
            .send("secretsmanager", "GetSecretValue", request)
            .await?;
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::Protocol {
                url: self.secretsmanager_endpoint.clone(),
                detail: format!("GetSecretValue answer is not JSON ({e})"),
            })?;
        match value.get("SecretString").and_then(|s| s.as_str()) {
            Some(s) => Ok(SecretString::from(s.to_owned())),
            None => Err(Error::Key {
                origin: format!("GCP_SERVICE_ACCOUNT_KEY_SECRET ({secret_id})"),
                detail: "the secret has no SecretString; store the key JSON as a string secret"
                    .into(),
            }),
        }
    }
}

/// The DNS suffix of a region's endpoints: AWS China's regions (`cn-*`) are under
/// `amazonaws.com.cn`, every other commercial and GovCloud region under `amazonaws.com`.
pub fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// A CloudWatch query-protocol request: `Action`, `Version` and `params`, form-encoded.
pub fn cloudwatch_query_request(
    endpoint: &str,
    action: &str,
    params: &[(&str, &str)],
) -> Result<http::Request<Vec<u8>>, Error> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action)
        .append_pair("Version", "2010-08-01");
    for (k, v) in params {
        form.append_pair(k, v);
    }
    let url = format!("{endpoint}/");
    built(
        &url,
        http::Request::post(&url)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(form.finish().into_bytes()),
    )
}

/// Read a `DescribeAlarms` answer: each `MetricAlarms` member's name, state, reason data,
/// actions and `QueueName` dimensions (of its metric, or of each metric of a metric-math alarm).
pub fn parse_describe_alarms(body: &[u8]) -> Result<Vec<DescribedAlarm>, String> {
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
pub fn set_alarm_state_request(
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

/// The Secrets Manager JSON-protocol request for `GetSecretValue`.
pub fn get_secret_value_request(
    endpoint: &str,
    secret_id: &str,
) -> Result<http::Request<Vec<u8>>, Error> {
    secretsmanager_request(
        endpoint,
        "GetSecretValue",
        &serde_json::json!({ "SecretId": secret_id }),
    )
}

/// A Secrets Manager JSON-protocol request: `action` in `x-amz-target`, `body` as JSON.
pub fn secretsmanager_request(
    endpoint: &str,
    action: &str,
    body: &serde_json::Value,
) -> Result<http::Request<Vec<u8>>, Error> {
    json_protocol_request(endpoint, "1.1", &format!("secretsmanager.{action}"), body)
}

/// An AWS JSON-protocol request (`application/x-amz-json-{version}`): a POST to the endpoint's
/// root with the operation in `x-amz-target` and `body` as JSON.
pub(crate) fn json_protocol_request(
    endpoint: &str,
    version: &str,
    target: &str,
    body: &serde_json::Value,
) -> Result<http::Request<Vec<u8>>, Error> {
    let url = format!("{endpoint}/");
    built(
        &url,
        http::Request::post(&url)
            .header("content-type", format!("application/x-amz-json-{version}"))
            .header("x-amz-target", target)
            .body(body.to_string().into_bytes()),
    )
}

/// AWS error bodies are XML (query protocol) or JSON; keep the code and message, nothing else.
fn aws_error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        let code = v
            .get("__type")
            .or_else(|| v.get("code"))
            .and_then(|c| c.as_str())
            .unwrap_or("");
        let msg = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(|c| c.as_str())
            .unwrap_or("");
        return format!("{code} {msg}").trim().to_owned();
    }
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find('<')? + start;
        Some(text[start..end].to_owned())
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        _ => text.chars().take(200).collect(),
    }
}

/// A client with AWS's documentation example credentials and a session token, in eu-west-1
/// (tests of every module that signs).
#[cfg(test)]
pub(crate) fn example_client() -> AwsClient {
    let settings = AwsSettings {
        region: Some("eu-west-1".into()),
        access_key_id: Some("AKIDEXAMPLE".into()),
        secret_access_key: Some(SecretString::from(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
        )),
        session_token: Some(SecretString::from("SESSIONTOKEN".to_owned())),
        ..AwsSettings::default()
    };
    AwsClient::new(&settings, reqwest::Client::new()).unwrap_or_else(|| panic!("complete settings"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn get_secret_value_names_the_target_and_the_secret() {
        let r = get_secret_value_request(
            "https://secretsmanager.eu-west-1.amazonaws.com",
            "arn:aws:secretsmanager:eu-west-1:1:secret:k",
        )
        .unwrap();
        assert_eq!(r.headers()["x-amz-target"], "secretsmanager.GetSecretValue");
        assert_eq!(r.headers()["content-type"], "application/x-amz-json-1.1");
        assert_eq!(
            r.body(),
            br#"{"SecretId":"arn:aws:secretsmanager:eu-west-1:1:secret:k"}"#
        );
    }

    #[test]
    fn signing_adds_sigv4_headers_for_the_region_and_service() {
        let client = example_client();
        let signed = client
            .sign(
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

    #[test]
    fn endpoints_follow_the_regions_partition() {
        assert_eq!(dns_suffix("eu-west-1"), "amazonaws.com");
        assert_eq!(dns_suffix("us-gov-west-1"), "amazonaws.com");
        assert_eq!(dns_suffix("cn-northwest-1"), "amazonaws.com.cn");
        let settings = AwsSettings {
            region: Some("cn-north-1".into()),
            access_key_id: Some("AKID".into()),
            secret_access_key: Some(SecretString::from("s".to_owned())),
            ..AwsSettings::default()
        };
        let client = AwsClient::new(&settings, reqwest::Client::new()).unwrap();
        assert_eq!(
            client.cloudwatch_endpoint,
            "https://monitoring.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            client.sqs_endpoint,
            "https://sqs.cn-north-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn aws_errors_keep_code_and_message() {
        let xml = b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed</Message></Error></ErrorResponse>";
        assert_eq!(aws_error_message(xml), "AccessDenied: not allowed");
        let json = br#"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#;
        assert_eq!(
            aws_error_message(json),
            "ResourceNotFoundException Secrets Manager can't find the specified secret."
        );
    }
}
