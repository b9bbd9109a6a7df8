//! The live backlog: SQS `GetQueueAttributes` for a target's queues, SigV4-signed, in SQS's JSON
//! protocol (as current AWS SDKs speak it). A queue given by name is looked up once per
//! container with `GetQueueUrl`; a queue given by URL (another account or region) is used as it
//! is, and its region is read from its host. The requests are built as plain values.

use crate::aws::{json_protocol_request, AwsClient};
use crate::error::Error;
use queue_scaler_core::hosts::{check_url, is_loopback, Service};
use queue_scaler_core::QueueCounts;
use std::future::Future;

/// The three attributes a decision reads.
pub(crate) const ATTRIBUTES: [&str; 3] = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
];

/// The live counts of a queue. The handler is tested with a fake.
pub trait QueueDepth: Send + Sync {
    /// The counts of `queue` (a name or a queue URL), read now.
    fn counts(&self, queue: &str) -> impl Future<Output = Result<QueueCounts, Error>> + Send;
}

/// A shared reader: the caller keeps a handle to it (a test inspects its fake).
impl<T: QueueDepth> QueueDepth for std::sync::Arc<T> {
    fn counts(&self, queue: &str) -> impl Future<Output = Result<QueueCounts, Error>> + Send {
        self.as_ref().counts(queue)
    }
}

impl QueueDepth for AwsClient {
    async fn counts(&self, queue: &str) -> Result<QueueCounts, Error> {
        self.queue_counts(queue).await
    }
}

impl AwsClient {
    /// The live counts of `queue`, a name in this client's account and region or a queue URL:
    /// SQS `GetQueueAttributes`, after a `GetQueueUrl` the first time a name is read.
    async fn queue_counts(&self, queue: &str) -> Result<QueueCounts, Error> {
        let url = self.queue_url(queue).await?;
        let (endpoint, region) = if self.sqs_overridden {
            (self.sqs_endpoint.clone(), self.region.clone())
        } else {
            // A queue URL's own host answers for its region, but only an SQS host of the
            // allow-list (or loopback): anything else is read at the client's own endpoint.
            match (queue_url_origin(&url), queue_url_region(&url)) {
                (Some(origin), Some(region)) => (origin, region),
                (Some(origin), None) if is_loopback_url(&url) => (origin, self.region.clone()),
                _ => (self.sqs_endpoint.clone(), self.region.clone()),
            }
        };
        let request = get_queue_attributes_request(&endpoint, &url)?;
        let body = self
            .sender
            .send(&region, "sqs", "GetQueueAttributes", request)
            .await?;
        parse_queue_attributes(&body).map_err(|detail| Error::Protocol {
            url: endpoint,
            detail,
        })
    }

    /// A queue's URL: the entry itself when it is one, else looked up by name once per
    /// container.
    async fn queue_url(&self, queue: &str) -> Result<String, Error> {
        if queue.contains("://") {
            return Ok(queue.to_owned());
        }
        let known = self
            .queue_urls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(queue)
            .cloned();
        if let Some(url) = known {
            return Ok(url);
        }
        let request = get_queue_url_request(&self.sqs_endpoint, queue)?;
        let body = self.send("sqs", "GetQueueUrl", request).await?;
        let url = parse_queue_url(&body).map_err(|detail| Error::Protocol {
            url: self.sqs_endpoint.clone(),
            detail,
        })?;
        self.queue_urls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(queue.to_owned(), url.clone());
        Ok(url)
    }
}

/// An SQS JSON-protocol request: `AmazonSQS.{action}` in `x-amz-target`, `body` as JSON.
pub fn sqs_request(
    endpoint: &str,
    action: &str,
    body: &serde_json::Value,
) -> Result<http::Request<Vec<u8>>, Error> {
    json_protocol_request(endpoint, "1.0", &format!("AmazonSQS.{action}"), body)
}

/// `GetQueueAttributes` for the three counts of the queue at `queue_url`.
pub(crate) fn get_queue_attributes_request(
    endpoint: &str,
    queue_url: &str,
) -> Result<http::Request<Vec<u8>>, Error> {
    sqs_request(
        endpoint,
        "GetQueueAttributes",
        &serde_json::json!({ "QueueUrl": queue_url, "AttributeNames": ATTRIBUTES }),
    )
}

/// `GetQueueUrl` for a queue in the client's own account and region.
pub(crate) fn get_queue_url_request(
    endpoint: &str,
    name: &str,
) -> Result<http::Request<Vec<u8>>, Error> {
    sqs_request(
        endpoint,
        "GetQueueUrl",
        &serde_json::json!({ "QueueName": name }),
    )
}

/// Read a `GetQueueAttributes` answer: `{"Attributes": {"ApproximateNumberOfMessages": "12", ...}}`
/// (the counts are strings). A missing attribute is an error, not a zero: a zero would let
/// scale-down remove busy workers.
pub(crate) fn parse_queue_attributes(body: &[u8]) -> Result<QueueCounts, String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("GetQueueAttributes answer is not JSON ({e})"))?;
    let count = |name: &str| -> Result<u64, String> {
        let value = v
            .pointer(&format!("/Attributes/{name}"))
            .ok_or_else(|| format!("GetQueueAttributes answer has no {name}"))?;
        value
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| value.as_u64())
            .ok_or_else(|| format!("GetQueueAttributes answer's {name} is not a count ({value})"))
    };
    Ok(QueueCounts {
        visible: count(ATTRIBUTES[0])?,
        in_flight: count(ATTRIBUTES[1])?,
        delayed: count(ATTRIBUTES[2])?,
    })
}

/// Read a `GetQueueUrl` answer: `{"QueueUrl": "..."}`.
pub(crate) fn parse_queue_url(body: &[u8]) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("GetQueueUrl answer is not JSON ({e})"))?;
    v.get("QueueUrl")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "GetQueueUrl answer has no QueueUrl".to_owned())
}

/// The region of an SQS queue URL's host: exactly `sqs.REGION.amazonaws.com[.cn]` or the legacy
/// `REGION.queue.amazonaws.com[.cn]`, over https; `None` for any other host (a local endpoint, or
/// a look-alike such as `sqs.us-east-1.amazonaws.com.evil.example`).
pub(crate) fn queue_url_region(queue_url: &str) -> Option<String> {
    let u = check_url(queue_url, Service::Sqs).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    if !Service::Sqs.is_host(&host) {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        ["sqs", region, ..] | [region, "queue", ..] => Some((*region).to_owned()),
        _ => None,
    }
}

/// The origin of a queue URL (`https://sqs.us-east-1.amazonaws.com`): where its own region's
/// API answers.
pub(crate) fn queue_url_origin(queue_url: &str) -> Option<String> {
    let u = url::Url::parse(queue_url).ok()?;
    Some(u.origin().ascii_serialization())
}

/// Whether a queue URL names this machine (a local stand-in).
fn is_loopback_url(queue_url: &str) -> bool {
    url::Url::parse(queue_url).is_ok_and(|u| is_loopback(&u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_queue_attributes_is_a_json_protocol_post_for_the_three_counts() {
        let r = get_queue_attributes_request(
            "https://sqs.eu-west-1.amazonaws.com",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/model-jobs",
        )
        .unwrap();
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(r.uri(), "https://sqs.eu-west-1.amazonaws.com/");
        assert_eq!(r.headers()["x-amz-target"], "AmazonSQS.GetQueueAttributes");
        assert_eq!(r.headers()["content-type"], "application/x-amz-json-1.0");
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/model-jobs",
                "AttributeNames": [
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed"
                ]
            })
        );
        let r = get_queue_url_request("https://sqs.eu-west-1.amazonaws.com", "model-jobs").unwrap();
        assert_eq!(r.headers()["x-amz-target"], "AmazonSQS.GetQueueUrl");
        assert_eq!(r.body(), br#"{"QueueName":"model-jobs"}"#);
    }

    #[test]
    fn attributes_are_counts_in_strings_and_none_may_be_missing() {
        let body = br#"{"Attributes":{"ApproximateNumberOfMessages":"600","ApproximateNumberOfMessagesNotVisible":"40","ApproximateNumberOfMessagesDelayed":"3"}}"#;
        let c = parse_queue_attributes(body).unwrap();
        assert_eq!(
            (c.visible, c.in_flight, c.delayed, c.backlog()),
            (600, 40, 3, 640)
        );
        let missing = br#"{"Attributes":{"ApproximateNumberOfMessages":"600"}}"#;
        assert!(parse_queue_attributes(missing)
            .unwrap_err()
            .contains("ApproximateNumberOfMessagesNotVisible"));
        assert!(parse_queue_attributes(br#"{"Attributes":{"ApproximateNumberOfMessages":"-1","ApproximateNumberOfMessagesNotVisible":"0","ApproximateNumberOfMessagesDelayed":"0"}}"#).is_err());
        assert!(parse_queue_attributes(b"<xml/>").is_err());
        assert_eq!(
            parse_queue_url(br#"{"QueueUrl":"https://sqs.eu-west-1.amazonaws.com/1/q"}"#).unwrap(),
            "https://sqs.eu-west-1.amazonaws.com/1/q"
        );
        assert!(parse_queue_url(b"{}").is_err());
    }

    #[test]
    fn a_queue_urls_region_and_origin_come_from_its_host() {
        let url = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs";
        assert_eq!(queue_url_region(url).as_deref(), Some("us-east-1"));
        assert_eq!(
            queue_url_origin(url).as_deref(),
            Some("https://sqs.us-east-1.amazonaws.com")
        );
        assert_eq!(
            queue_url_region("https://sqs.cn-north-1.amazonaws.com.cn/1/jobs").as_deref(),
            Some("cn-north-1")
        );
        assert_eq!(
            queue_url_region("https://eu-west-1.queue.amazonaws.com/1/jobs").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(queue_url_region("http://127.0.0.1:5000/1/jobs"), None);
        assert_eq!(
            queue_url_region("https://sqs.us-east-1.amazonaws.com.evil.example/1/jobs"),
            None
        );
        assert_eq!(
            queue_url_region("http://sqs.us-east-1.amazonaws.com/1/jobs"),
            None
        );
    }
}
