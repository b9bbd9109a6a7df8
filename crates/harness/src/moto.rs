//! A real CloudWatch API on 127.0.0.1: `moto_server` (from the project's `.venv`, installed by
//! `make venv`), started on a free port and stopped when its [`MotoServer`] guard is dropped,
//! also when a test panics. And clients for the calls the tests and the simulation make to it
//! (`PutMetricAlarm` with actions, `SetAlarmState` with reason data, `DescribeAlarms`; SQS queues
//! and messages; a Secrets Manager secret): each request built with the functions' own request
//! builders and signed by their own signer ([`AwsClient::sign_request`]), then sent here.
//!
//! moto keeps its state per region, and takes the region from the SigV4 credential scope of
//! each request: an alarm created with a client for one region is not found with another's.
//!
//! Does I/O: a child process and HTTP on 127.0.0.1.

use crate::Error;
use queue_scaler_core::config::AwsSettings;
use queue_scaler_core::AlarmState;
use queue_scaler_io::aws::cloudwatch::cloudwatch_query_request;
use queue_scaler_io::aws::iam::iam_query_request;
use queue_scaler_io::aws::secrets::secretsmanager_request;
use queue_scaler_io::aws::sqs::sqs_request;
use queue_scaler_io::aws::AwsClient;
use secrecy::SecretString;
use serde_json::Value;
use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that names the `moto_server` executable.
pub const MOTO_SERVER_VAR: &str = "MOTO_SERVER";

/// The access key moto is called with; moto accepts any.
pub const ACCESS_KEY_ID: &str = "AKIDQUEUESCALERTEST";
/// The matching secret.
pub const SECRET_ACCESS_KEY: &str = "queue-scaler-test-secret";

/// How long moto may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where `moto_server` is: `MOTO_SERVER` when set, else the project's `.venv`. Fails, saying how
/// to install it, when the file is not there.
pub fn locate(var: Option<OsString>, root: &Path) -> Result<PathBuf, Error> {
    let path = match var {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => root.join(".venv").join("bin").join("moto_server"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::MotoMissing { path })
    }
}

/// A running `moto_server`; dropping it stops the process.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    endpoint: String,
}

impl MotoServer {
    /// Start `moto_server` (found by [`locate`]) on a free port of 127.0.0.1 and wait until it
    /// answers.
    pub async fn start() -> Result<Self, Error> {
        let program = locate(std::env::var_os(MOTO_SERVER_VAR), &crate::workspace_root())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| Error::MotoStart {
                detail: format!("no free port: {e}"),
            })?;
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::MotoStart {
                detail: format!("cannot run {}: {e}", program.display()),
            })?;
        let mut server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        server.wait_until_ready().await?;
        Ok(server)
    }

    async fn wait_until_ready(&mut self) -> Result<(), Error> {
        let http = reqwest::Client::new();
        let url = format!("{}/moto-api/", self.endpoint);
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::MotoStart {
                    detail: format!("moto_server exited with {status} before answering"),
                });
            }
            if let Ok(response) = http.get(&url).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(Error::MotoStart {
                    detail: format!("no answer from {url} in {START_TIMEOUT:?}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_CLOUDWATCH`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A CloudWatch client for `region`.
    pub fn cloudwatch(&self, region: &str) -> CloudWatch {
        CloudWatch::new(&self.endpoint, region)
    }

    /// An SQS client for `region`.
    pub fn sqs(&self, region: &str) -> Sqs {
        Sqs::new(&self.endpoint, region)
    }

    /// An IAM client (IAM is global: it signs for us-east-1).
    pub fn iam(&self) -> Iam {
        Iam {
            api: Signed::new(&self.endpoint, "us-east-1", "iam"),
        }
    }

    /// A Secrets Manager client for `region`.
    pub fn secrets(&self, region: &str) -> SecretsManager {
        SecretsManager::new(&self.endpoint, region)
    }
}

/// The functions' own SigV4 signer, for one service and region, and a client that sends what it
/// signed to the API at `endpoint`.
#[derive(Debug, Clone)]
struct Signed {
    aws: AwsClient,
    http: reqwest::Client,
    endpoint: String,
    service: &'static str,
}

impl Signed {
    fn new(endpoint: &str, region: &str, service: &'static str) -> Self {
        Signed::as_holder(
            endpoint,
            region,
            service,
            &Credentials {
                access_key_id: ACCESS_KEY_ID.to_owned(),
                secret_access_key: SECRET_ACCESS_KEY.to_owned(),
                session_token: None,
            },
        )
    }

    /// Signing with `credentials` (a worker's, from STS) instead of the test account's.
    fn as_holder(
        endpoint: &str,
        region: &str,
        service: &'static str,
        credentials: &Credentials,
    ) -> Self {
        let settings = AwsSettings {
            region: Some(region.to_owned()),
            access_key_id: Some(credentials.access_key_id.clone()),
            secret_access_key: Some(SecretString::from(credentials.secret_access_key.clone())),
            session_token: credentials.session_token.clone().map(SecretString::from),
            ..AwsSettings::default()
        };
        let http = reqwest::Client::new();
        Signed {
            aws: AwsClient::new(&settings, http.clone()).expect("region and credentials are set"),
            http,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            service,
        }
    }

    /// Sign `request` and send it: the answer's body, or what went wrong (its status and body).
    async fn send(
        &self,
        request: Result<http::Request<Vec<u8>>, queue_scaler_io::Error>,
    ) -> Result<Vec<u8>, String> {
        let signed = request
            .and_then(|r| self.aws.sign_request(self.service, r))
            .map_err(|e| e.to_string())?;
        let request = reqwest::Request::try_from(signed).map_err(|e| e.to_string())?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(format!(
                "answered {status}: {}",
                String::from_utf8_lossy(&body)
            ))
        }
    }
}

/// Secrets Manager's JSON protocol, signed for one region: a key secret the functions read.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    api: Signed,
}

impl SecretsManager {
    /// A client for the Secrets Manager API at `endpoint`, signing for `region`.
    pub fn new(endpoint: &str, region: &str) -> Self {
        SecretsManager {
            api: Signed::new(endpoint, region, "secretsmanager"),
        }
    }

    /// `CreateSecret`: a string secret `name` holding `value`.
    pub async fn create_secret(&self, name: &str, value: &str) -> Result<(), Error> {
        let body = serde_json::json!({ "Name": name, "SecretString": value });
        self.api
            .send(secretsmanager_request(
                &self.api.endpoint,
                "CreateSecret",
                &body,
            ))
            .await
            .map(drop)
            .map_err(|detail| Error::SecretsManager {
                action: "CreateSecret",
                detail,
            })
    }
}

/// IAM's query protocol, signed: the worker roles the doctor reads.
#[derive(Debug, Clone)]
pub struct Iam {
    api: Signed,
}

impl Iam {
    /// `CreateRole`: the role `name` with the trust policy `trust`; its ARN.
    pub async fn create_role(&self, name: &str, trust: &Value) -> Result<String, Error> {
        let body = self
            .call(
                "CreateRole",
                &[
                    ("RoleName", name),
                    ("AssumeRolePolicyDocument", &trust.to_string()),
                ],
            )
            .await?;
        let arn = body
            .split_once("<Arn>")
            .and_then(|(_, rest)| rest.split_once("</Arn>"))
            .map(|(arn, _)| arn.trim().to_owned());
        arn.ok_or_else(|| Error::Iam {
            action: "CreateRole",
            detail: format!("no Arn in {body}"),
        })
    }

    /// `UpdateAssumeRolePolicy`: give the role `name` the trust policy `trust`.
    pub async fn set_trust(&self, name: &str, trust: &Value) -> Result<(), Error> {
        self.call(
            "UpdateAssumeRolePolicy",
            &[("RoleName", name), ("PolicyDocument", &trust.to_string())],
        )
        .await
        .map(drop)
    }

    /// `DeleteRole`.
    pub async fn delete_role(&self, name: &str) -> Result<(), Error> {
        self.call("DeleteRole", &[("RoleName", name)])
            .await
            .map(drop)
    }

    async fn call(&self, action: &'static str, params: &[(&str, &str)]) -> Result<String, Error> {
        let request = iam_query_request(&self.api.endpoint, action, params);
        let body = self
            .api
            .send(request)
            .await
            .map_err(|detail| Error::Iam { action, detail })?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

/// AWS credentials: an access key, its secret and, for temporary ones, the session token.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `AccessKeyId`.
    pub access_key_id: String,
    /// `SecretAccessKey`.
    pub secret_access_key: String,
    /// `SessionToken`, of temporary credentials.
    pub session_token: Option<String>,
}

/// STS `AssumeRoleWithWebIdentity` at `endpoint`: `token` exchanged for temporary credentials of
/// `role_arn`, as a worker's SDK does (an unsigned request: the token is the proof). moto checks
/// neither the token nor the role's trust; what it gives is credentials to sign with.
pub async fn assume_role_with_web_identity(
    endpoint: &str,
    role_arn: &str,
    token: &str,
) -> Result<Credentials, Error> {
    let fail = |detail: String| Error::Sts { detail };
    let response = reqwest::Client::new()
        .post(format!("{}/", endpoint.trim_end_matches('/')))
        .form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role_arn),
            ("RoleSessionName", "model-worker"),
            ("WebIdentityToken", token),
        ])
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| fail(e.to_string()))?;
    if !status.is_success() {
        return Err(fail(format!("answered {status}: {body}")));
    }
    let field = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = start + body[start..].find(&format!("</{name}>"))?;
        Some(body[start..end].to_owned())
    };
    match (field("AccessKeyId"), field("SecretAccessKey")) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
            access_key_id,
            secret_access_key,
            session_token: field("SessionToken"),
        }),
        _ => Err(fail(format!("no credentials in {body}"))),
    }
}

/// SQS's JSON protocol, signed for one region: the queues the functions read live.
#[derive(Debug, Clone)]
pub struct Sqs {
    api: Signed,
}

impl Sqs {
    /// A client for the SQS API at `endpoint`, signing for `region`.
    pub fn new(endpoint: &str, region: &str) -> Self {
        Sqs {
            api: Signed::new(endpoint, region, "sqs"),
        }
    }

    /// A client that signs with `credentials`, as a worker does with what STS gave it.
    pub fn as_holder(endpoint: &str, region: &str, credentials: &Credentials) -> Self {
        Sqs {
            api: Signed::as_holder(endpoint, region, "sqs", credentials),
        }
    }

    /// Take one message as a worker does: receive it, then delete it by its receipt handle. Its
    /// body, or `None` when the queue has none visible.
    pub async fn take_one(&self, url: &str) -> Result<Option<String>, Error> {
        let answer = self
            .call(
                "ReceiveMessage",
                serde_json::json!({ "QueueUrl": url, "MaxNumberOfMessages": 1 }),
            )
            .await?;
        let Some(message) = answer["Messages"].as_array().and_then(|m| m.first()) else {
            return Ok(None);
        };
        let handle = message["ReceiptHandle"].as_str().unwrap_or_default();
        self.call(
            "DeleteMessage",
            serde_json::json!({ "QueueUrl": url, "ReceiptHandle": handle }),
        )
        .await?;
        Ok(message["Body"].as_str().map(str::to_owned))
    }

    async fn call(&self, action: &'static str, body: Value) -> Result<Value, Error> {
        let answer = self
            .api
            .send(sqs_request(&self.api.endpoint, action, &body))
            .await
            .map_err(|detail| Error::Sqs { action, detail })?;
        Ok(serde_json::from_slice(&answer).unwrap_or(Value::Null))
    }

    /// `CreateQueue`: the queue's URL.
    pub async fn create_queue(&self, name: &str) -> Result<String, Error> {
        let answer = self
            .call("CreateQueue", serde_json::json!({ "QueueName": name }))
            .await?;
        answer["QueueUrl"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Sqs {
                action: "CreateQueue",
                detail: format!("no QueueUrl in {answer}"),
            })
    }

    /// Put `count` messages on the queue at `url` (`SendMessageBatch`, ten at a time).
    pub async fn send(&self, url: &str, count: usize) -> Result<(), Error> {
        let mut left = count;
        while left > 0 {
            let n = left.min(10);
            let entries: Vec<Value> = (0..n)
                .map(|i| serde_json::json!({ "Id": format!("m{i}"), "MessageBody": "job" }))
                .collect();
            self.call(
                "SendMessageBatch",
                serde_json::json!({ "QueueUrl": url, "Entries": entries }),
            )
            .await?;
            left -= n;
        }
        Ok(())
    }

    /// Receive up to `count` messages without deleting them, as busy workers do: they stay in
    /// flight for `visibility_seconds`. How many were received.
    pub async fn receive(
        &self,
        url: &str,
        count: usize,
        visibility_seconds: u32,
    ) -> Result<usize, Error> {
        let mut received = 0;
        while received < count {
            let answer = self
                .call(
                    "ReceiveMessage",
                    serde_json::json!({
                        "QueueUrl": url,
                        "MaxNumberOfMessages": (count - received).min(10),
                        "VisibilityTimeout": visibility_seconds,
                    }),
                )
                .await?;
            let n = answer["Messages"].as_array().map_or(0, Vec::len);
            if n == 0 {
                break;
            }
            received += n;
        }
        Ok(received)
    }

    /// The queue's visible and in-flight messages (`GetQueueAttributes`).
    pub async fn counts(&self, url: &str) -> Result<(u64, u64), Error> {
        let answer = self
            .call(
                "GetQueueAttributes",
                serde_json::json!({
                    "QueueUrl": url,
                    "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                }),
            )
            .await?;
        let count = |name: &str| {
            answer["Attributes"][name]
                .as_str()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        Ok((
            count("ApproximateNumberOfMessages"),
            count("ApproximateNumberOfMessagesNotVisible"),
        ))
    }

    /// `PurgeQueue`: the queue drains.
    pub async fn purge(&self, url: &str) -> Result<(), Error> {
        self.call("PurgeQueue", serde_json::json!({ "QueueUrl": url }))
            .await
            .map(drop)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An alarm as `DescribeAlarms` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmStatus {
    /// `StateValue`.
    pub state: AlarmState,
    /// `StateReason`.
    pub reason: String,
    /// `AlarmArn`, which names the region.
    pub arn: String,
}

/// CloudWatch's query protocol, signed for one region.
#[derive(Debug, Clone)]
pub struct CloudWatch {
    api: Signed,
    region: String,
}

impl CloudWatch {
    /// A client for the CloudWatch API at `endpoint`, signing for `region`.
    pub fn new(endpoint: &str, region: &str) -> Self {
        CloudWatch {
            api: Signed::new(endpoint, region, "monitoring"),
            region: region.to_owned(),
        }
    }

    /// `SetAlarmState`.
    pub async fn set_alarm_state(
        &self,
        alarm: &str,
        state: AlarmState,
        reason: &str,
    ) -> Result<(), Error> {
        self.set_alarm_state_with_data(alarm, state, reason, None)
            .await
    }

    /// `SetAlarmState` with `StateReasonData` (JSON), as CloudWatch records an evaluation: the
    /// heartbeat reads the newest datapoint from it.
    pub async fn set_alarm_state_with_data(
        &self,
        alarm: &str,
        state: AlarmState,
        reason: &str,
        reason_data: Option<&str>,
    ) -> Result<(), Error> {
        let state = state.to_string();
        let reason: String = reason.chars().take(1023).collect();
        let mut params = vec![
            ("AlarmName", alarm),
            ("StateValue", state.as_str()),
            ("StateReason", reason.as_str()),
        ];
        if let Some(data) = reason_data {
            params.push(("StateReasonData", data));
        }
        self.call("SetAlarmState", &params).await.map(drop)
    }

    /// `DescribeAlarms` for one alarm; `None` when this region has no such alarm.
    pub async fn alarm(&self, alarm: &str) -> Result<Option<AlarmStatus>, Error> {
        let body = self
            .call("DescribeAlarms", &[("AlarmNames.member.1", alarm)])
            .await?;
        let fail = |detail: String| Error::CloudWatch {
            action: "DescribeAlarms",
            detail,
        };
        let Some(member) = first_metric_alarm(&body).map_err(fail)? else {
            return Ok(None);
        };
        let state = match member.state.as_deref() {
            Some("OK") => AlarmState::Ok,
            Some("ALARM") => AlarmState::Alarm,
            Some("INSUFFICIENT_DATA") => AlarmState::InsufficientData,
            other => return Err(fail(format!("unexpected StateValue {other:?}"))),
        };
        Ok(Some(AlarmStatus {
            state,
            reason: member.reason.unwrap_or_default(),
            arn: member.arn.unwrap_or_default(),
        }))
    }

    /// The state of an alarm that must exist.
    pub async fn state(&self, alarm: &str) -> Result<AlarmState, Error> {
        match self.alarm(alarm).await? {
            Some(status) => Ok(status.state),
            None => Err(Error::CloudWatch {
                action: "DescribeAlarms",
                detail: format!("no alarm {alarm:?} in {}", self.region),
            }),
        }
    }

    /// Any CloudWatch query action with its parameters: the answer's XML. For alarms with
    /// actions and reason data that the model's own calls do not set.
    pub async fn query(
        &self,
        action: &'static str,
        params: &[(&str, &str)],
    ) -> Result<String, Error> {
        self.call(action, params).await
    }

    async fn call(&self, action: &'static str, params: &[(&str, &str)]) -> Result<String, Error> {
        let request = cloudwatch_query_request(&self.api.endpoint, action, params);
        let body = self
            .api
            .send(request)
            .await
            .map_err(|detail| Error::CloudWatch { action, detail })?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

/// The fields of a `DescribeAlarms` member that the model reads, as text.
#[derive(Debug, Default, PartialEq, Eq)]
struct Member {
    state: Option<String>,
    reason: Option<String>,
    arn: Option<String>,
}

/// The first member of `MetricAlarms` in a `DescribeAlarms` answer; `None` when there is none.
/// Its `AlarmActions` and metrics hold members of their own, so the XML is parsed, not searched.
fn first_metric_alarm(xml: &str) -> Result<Option<Member>, String> {
    let doc =
        roxmltree::Document::parse(xml).map_err(|e| format!("the answer is not XML ({e})"))?;
    let Some(alarms) = doc.descendants().find(|n| n.has_tag_name("MetricAlarms")) else {
        return Err("the answer has no MetricAlarms".into());
    };
    let Some(member) = alarms.children().find(|c| c.has_tag_name("member")) else {
        return Ok(None);
    };
    let text = |name: &str| {
        member
            .children()
            .find(|c| c.has_tag_name(name))
            .map(|c| c.text().unwrap_or_default().to_owned())
    };
    Ok(Some(Member {
        state: text("StateValue"),
        reason: text("StateReason"),
        arn: text("AlarmArn"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moto_server_is_taken_from_the_variable_when_set() {
        let here = std::env::current_exe().unwrap();
        let found = locate(
            Some(here.clone().into_os_string()),
            Path::new("/nonexistent"),
        )
        .unwrap();
        assert_eq!(found, here);
    }

    #[test]
    fn a_missing_moto_server_says_to_run_make_venv() {
        let err = locate(None, Path::new("/nonexistent")).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("make venv"), "{message}");
        assert!(message.contains(".venv/bin/moto_server"), "{message}");
    }

    #[test]
    fn describe_alarms_answers_are_read_past_the_members_of_alarm_actions() {
        let xml = "<DescribeAlarmsResult><MetricAlarms><member><AlarmName>a</AlarmName>\
                   <AlarmActions><member>arn:aws:lambda:eu-west-1:1:function:f</member></AlarmActions>\
                   <StateValue>OK</StateValue><StateReason>up: 2 -&gt; 3</StateReason>\
                   </member></MetricAlarms></DescribeAlarmsResult>";
        let member = first_metric_alarm(xml).unwrap().unwrap();
        assert_eq!(member.state.as_deref(), Some("OK"));
        assert_eq!(member.reason.as_deref(), Some("up: 2 -> 3"));
        assert_eq!(
            first_metric_alarm("<DescribeAlarmsResult><MetricAlarms/></DescribeAlarmsResult>"),
            Ok(None)
        );
        assert!(first_metric_alarm("<DescribeAlarmsResult/>").is_err());
    }
}
