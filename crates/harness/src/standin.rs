//! A small local stand-in for the AWS reads the functions make at each decision and heartbeat:
//! SQS's JSON-protocol `GetQueueUrl` and `GetQueueAttributes`, and CloudWatch's query-protocol
//! `DescribeAlarms`. The simulation serves its model's queue through it, so the functions read
//! exactly the counts the model holds in that minute; the heartbeat benchmark serves 1,000
//! queues and 2,000 alarms through it, and reads back how many requests came and how many were
//! in flight at once.
//!
//! Why not moto's SQS: its in-flight count follows visibility timeouts on the wall clock, while
//! a simulated minute passes in milliseconds, and its counts would differ from run to run; the
//! docs quote the runs byte for byte.
//!
//! What it checks, as AWS does: a POST with a SigV4 `Authorization` header whose credential
//! scope names the service (`sqs` or `monitoring`; the signature itself is not verified), SQS's
//! `x-amz-target: AmazonSQS.{Action}` with `application/x-amz-json-1.0`, a queue that exists
//! (else `QueueDoesNotExist`, as SQS answers), counts as strings. Anything else is refused.
//!
//! Does I/O: a listener on 127.0.0.1.

use crate::Error;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use queue_scaler_core::QueueCounts;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// An alarm as `DescribeAlarms` reports it: what the heartbeat reads.
#[derive(Debug, Clone, PartialEq)]
pub struct StandInAlarm {
    /// `AlarmName`.
    pub name: String,
    /// `StateValue`: `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// `AlarmActions`: the ARNs of the functions it invokes.
    pub actions: Vec<String>,
    /// The `QueueName` dimension of its metric.
    pub queue: String,
    /// `MetricName`.
    pub metric: String,
    /// `Threshold`.
    pub threshold: f64,
}

#[derive(Debug, Default)]
struct Shared {
    queues: Mutex<HashMap<String, QueueCounts>>,
    alarms: Mutex<BTreeMap<String, StandInAlarm>>,
    requests: Mutex<BTreeMap<String, u64>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    latency: Duration,
    endpoint: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The stand-in, listening; dropping it stops accepting connections.
#[derive(Debug)]
pub struct AwsStandIn {
    endpoint: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl AwsStandIn {
    /// Listen on a free port of 127.0.0.1; each answer waits `latency` first (a service's round
    /// trip; zero for the simulation).
    pub async fn start(latency: Duration) -> Result<Self, Error> {
        let fail = |e: std::io::Error| Error::MotoStart {
            detail: format!("the AWS stand-in cannot listen: {e}"),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(fail)?;
        let port = listener.local_addr().map_err(fail)?.port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let shared = Arc::new(Shared {
            latency,
            endpoint: endpoint.clone(),
            ..Shared::default()
        });
        let task = crate::proxy::serve(
            listener,
            Arc::clone(&shared),
            |shared, request| async move { counted(&shared, request).await },
        );
        Ok(AwsStandIn {
            endpoint,
            shared,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_SQS` (and `..._CLOUDWATCH`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The queue's URL, as `GetQueueUrl` answers it.
    pub fn queue_url(&self, name: &str) -> String {
        queue_url(&self.endpoint, name)
    }

    /// Create the queue `name`, or set its counts: what `GetQueueAttributes` answers from now on.
    pub fn set_queue(&self, name: &str, counts: QueueCounts) {
        lock(&self.shared.queues).insert(name.to_owned(), counts);
    }

    /// Add an alarm, or replace the one of the same name.
    pub fn put_alarm(&self, alarm: StandInAlarm) {
        lock(&self.shared.alarms).insert(alarm.name.clone(), alarm);
    }

    /// Requests answered so far, by action (`sqs:GetQueueAttributes`,
    /// `monitoring:DescribeAlarms`, ...; refused ones under `refused`).
    pub fn requests(&self) -> BTreeMap<String, u64> {
        lock(&self.shared.requests).clone()
    }

    /// The most requests it was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Forget the counts of requests and the maximum in flight.
    pub fn reset_counts(&self) {
        lock(&self.shared.requests).clear();
        self.shared.max_in_flight.store(0, Ordering::SeqCst);
    }
}

impl Drop for AwsStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn response(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

/// SQS's JSON-protocol error: `__type` and `message`, and the query-compatible code header.
fn sqs_error(
    status: StatusCode,
    code: &str,
    query_code: &str,
    message: &str,
) -> Response<Full<Bytes>> {
    let mut r = response(
        status,
        "application/x-amz-json-1.0",
        json!({ "__type": format!("com.amazonaws.sqs#{code}"), "message": message }).to_string(),
    );
    if let Ok(value) = format!("{query_code};Sender").parse() {
        r.headers_mut().insert("x-amzn-query-error", value);
    }
    r
}

/// CloudWatch's query-protocol error.
fn cloudwatch_error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    response(
        status,
        "text/xml",
        format!(
            "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><Error>\
             <Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error>\
             <RequestId>stand-in</RequestId></ErrorResponse>",
            xml_escape(message)
        ),
    )
}

fn queue_url(endpoint: &str, name: &str) -> String {
    format!("{endpoint}/{}/{name}", crate::events::ACCOUNT)
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Count the request while it is answered, then answer it.
async fn counted(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    let (action, answer) = handle(shared, request).await;
    *lock(&shared.requests).entry(action).or_default() += 1;
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    answer
}

/// The service the SigV4 credential scope names: `.../REGION/SERVICE/aws4_request`.
fn signed_service(request: &Request<Incoming>) -> Option<String> {
    let auth = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let credential = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")?
        .split(',')
        .find_map(|p| p.trim().strip_prefix("Credential="))?;
    let scope: Vec<&str> = credential.split('/').collect();
    (scope.len() == 5 && scope[4] == "aws4_request").then(|| scope[3].to_owned())
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> (String, Response<Full<Bytes>>) {
    let refused = |r| ("refused".to_owned(), r);
    if request.method() != Method::POST {
        return refused(response(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            String::new(),
        ));
    }
    let service = signed_service(&request);
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return refused(response(
                StatusCode::BAD_REQUEST,
                "text/plain",
                e.to_string(),
            ))
        }
    };
    match (service.as_deref(), target) {
        (Some("sqs"), Some(target)) => {
            let action = target
                .strip_prefix("AmazonSQS.")
                .unwrap_or(&target)
                .to_owned();
            if content_type != "application/x-amz-json-1.0" {
                let r = sqs_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameterValue",
                    "InvalidParameterValue",
                    "expected application/x-amz-json-1.0",
                );
                return refused(r);
            }
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            (format!("sqs:{action}"), sqs(shared, &action, &body))
        }
        (Some("monitoring"), None) => {
            let params: Vec<(String, String)> = url::form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let action = params
                .iter()
                .find(|(k, _)| k == "Action")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            (
                format!("monitoring:{action}"),
                cloudwatch(shared, &action, &params),
            )
        }
        (None, _) => refused(cloudwatch_error(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing a SigV4 Authorization header",
        )),
        (Some(other), _) => refused(cloudwatch_error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("the stand-in serves sqs (JSON) and monitoring (query), not {other}"),
        )),
    }
}

fn sqs(shared: &Shared, action: &str, body: &Value) -> Response<Full<Bytes>> {
    let no_queue = || {
        sqs_error(
            StatusCode::BAD_REQUEST,
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist.",
        )
    };
    let ok = |v: Value| response(StatusCode::OK, "application/x-amz-json-1.0", v.to_string());
    match action {
        "GetQueueUrl" => {
            let Some(name) = body["QueueName"].as_str() else {
                return sqs_error(
                    StatusCode::BAD_REQUEST,
                    "MissingParameter",
                    "MissingParameter",
                    "QueueName is required",
                );
            };
            if !lock(&shared.queues).contains_key(name) {
                return no_queue();
            }
            // The URL names this endpoint, as a local SQS does; the account is the simulation's.
            ok(json!({ "QueueUrl": queue_url(&shared.endpoint, name) }))
        }
        "GetQueueAttributes" => {
            let name = body["QueueUrl"]
                .as_str()
                .and_then(|u| u.rsplit('/').next())
                .unwrap_or_default();
            let Some(counts) = lock(&shared.queues).get(name).copied() else {
                return no_queue();
            };
            let all = [
                ("ApproximateNumberOfMessages", counts.visible),
                ("ApproximateNumberOfMessagesNotVisible", counts.in_flight),
                ("ApproximateNumberOfMessagesDelayed", counts.delayed),
            ];
            let wanted: Vec<&str> = body["AttributeNames"]
                .as_array()
                .map(|names| names.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let attributes: serde_json::Map<String, Value> = all
                .iter()
                .filter(|(n, _)| wanted.iter().any(|w| w == n || *w == "All"))
                .map(|(n, v)| ((*n).to_owned(), Value::String(v.to_string())))
                .collect();
            ok(json!({ "Attributes": attributes }))
        }
        other => sqs_error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            "AWS.SimpleQueueService.InvalidAction",
            &format!("the stand-in does not serve {other}"),
        ),
    }
}

fn cloudwatch(shared: &Shared, action: &str, params: &[(String, String)]) -> Response<Full<Bytes>> {
    if action != "DescribeAlarms" {
        return cloudwatch_error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("the stand-in does not serve {action}"),
        );
    }
    let names: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k.starts_with("AlarmNames.member."))
        .map(|(_, v)| v.as_str())
        .collect();
    if names.len() > 100 {
        return cloudwatch_error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "1 validation error detected: Value at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100",
        );
    }
    let alarms = lock(&shared.alarms);
    let mut members = String::new();
    for alarm in names.iter().filter_map(|n| alarms.get(*n)) {
        let actions: String = alarm
            .actions
            .iter()
            .map(|a| format!("<member>{}</member>", xml_escape(a)))
            .collect();
        let _ = write!(
            members,
            "<member><AlarmName>{}</AlarmName><StateValue>{}</StateValue>\
             <StateUpdatedTimestamp>2026-11-28T06:00:00.000Z</StateUpdatedTimestamp>\
             <ActionsEnabled>true</ActionsEnabled><AlarmActions>{actions}</AlarmActions>\
             <Namespace>AWS/SQS</Namespace><MetricName>{}</MetricName>\
             <Dimensions><member><Name>QueueName</Name><Value>{}</Value></member></Dimensions>\
             <Threshold>{}</Threshold></member>",
            xml_escape(&alarm.name),
            alarm.state,
            alarm.metric,
            xml_escape(&alarm.queue),
            alarm.threshold
        );
    }
    response(
        StatusCode::OK,
        "text/xml",
        format!(
            "<DescribeAlarmsResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
             <DescribeAlarmsResult><MetricAlarms>{members}</MetricAlarms>\
             <CompositeAlarms/></DescribeAlarmsResult>\
             <ResponseMetadata><RequestId>stand-in</RequestId></ResponseMetadata>\
             </DescribeAlarmsResponse>"
        ),
    )
}
