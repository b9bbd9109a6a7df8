//! Nothing an event or a credential file names chooses where a signed request or a token goes
//! (docs/design.md, "Security"). The release binaries under `cargo lambda watch`, against the
//! local control plane:
//!
//! - an SNS alarm whose `QueueName` is an address (here a listener on this machine, which a
//!   value from an event may never name even so) is refused with `NonRetryable`, and the
//!   listener sees no connection: no signed `GetQueueAttributes` left, and nothing was written;
//! - an alarm from another account is refused the same way;
//! - a keyless configuration whose URLs name a host outside the allow-list is a `Config` error
//!   at start-up that names the setting and the host.

use queue_scaler_tests::{
    event, function_env, keyless, start_local_gke, ClusterUnderTest, ControlPlane, Functions,
};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A listener on this machine that counts the connections it is offered.
struct Listener {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Listener {
    async fn start() -> Listener {
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port on loopback");
        let port = socket.local_addr().expect("its address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((_stream, _)) = socket.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
        Listener { port, accepted }
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// The SNS sample event, its `QueueName` dimension set to `queue` and its alarm ARN's account
/// to `account`.
fn sns_event(queue: &str, account: &str) -> Value {
    let mut event = event("sns-alarm-high-backlog.json");
    let message = event["Records"][0]["Sns"]["Message"]
        .as_str()
        .expect("the SNS sample carries its alarm as a string");
    let mut message: Value = serde_json::from_str(message).expect("the alarm is JSON");
    message["Trigger"]["Dimensions"][0]["value"] = Value::from(queue);
    message["AlarmArn"] = Value::from(format!(
        "arn:aws:cloudwatch:eu-west-1:{account}:alarm:model-worker-backlog-high"
    ));
    message["AWSAccountId"] = Value::from(account);
    event["Records"][0]["Sns"]["Message"] = Value::from(message.to_string());
    event
}

/// The functions' environment with no queue configured (the event's `QueueName` is the one the
/// decision would read, the README's default) and no SQS endpoint override, so a queue URL would
/// be read at its own host, as in the review's probe; the function's ARN in account
/// 123456789012.
fn env_without_queues(stack: &ControlPlane) -> Vec<(String, String)> {
    let mut env = function_env(
        &keyless(stack.env()),
        &[(
            "QUEUE_SCALER_FUNCTION_ARN",
            "arn:aws:lambda:eu-west-1:123456789012:function:qs-{function}",
        )],
    );
    env.retain(|(k, _)| k != "AWS_ENDPOINT_URL_SQS" && k != "TARGET_QUEUES");
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_that_names_an_address_for_its_queue_sends_nothing_and_says_why() {
    let stack = start_local_gke(|_| {}).await;
    let listener = Listener::start().await;
    let functions = Functions::start(&env_without_queues(&stack)).await;
    let before = stack.replicas("ml", "model-worker").await;
    stack.take_requests().await;

    let address = format!("http://127.0.0.1:{}/123456789012/q", listener.port);
    let (kind, message) = functions
        .invoke("scale-up", &sns_event(&address, "123456789012"))
        .await
        .err();
    assert_eq!(kind, "NonRetryable", "{message}");
    assert!(
        message.contains("\"model-worker-backlog-high\"") && message.contains(&address),
        "the error names the alarm and the value: {message}"
    );
    assert_eq!(listener.connections(), 0, "a request reached the listener");
    let requests = stack.take_requests().await;
    assert!(
        !requests
            .iter()
            .any(|k| k.starts_with("scale_") || k == "deployment_get"),
        "nothing is read or written for a refused event: {requests:?}"
    );
    assert_eq!(stack.replicas("ml", "model-worker").await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_of_another_account_is_refused_and_nothing_is_written() {
    let stack = start_local_gke(|_| {}).await;
    // SQS is the listener here: a live read would show as a connection.
    let listener = Listener::start().await;
    let sqs = format!("http://127.0.0.1:{}", listener.port);
    let mut env = env_without_queues(&stack);
    env.push(("AWS_ENDPOINT_URL_SQS".to_owned(), sqs));
    let functions = Functions::start(&env).await;
    let before = stack.replicas("ml", "model-worker").await;
    stack.take_requests().await;

    let (kind, message) = functions
        .invoke("scale-up", &sns_event("model-jobs", "999999999999"))
        .await
        .err();
    assert_eq!(kind, "NonRetryable", "{message}");
    assert!(
        message.contains("999999999999") && message.contains("123456789012"),
        "the error names both accounts: {message}"
    );
    assert_eq!(listener.connections(), 0, "the queue was read");
    let requests = stack.take_requests().await;
    assert!(
        !requests
            .iter()
            .any(|k| k.starts_with("scale_") || k == "deployment_get"),
        "{requests:?}"
    );
    assert_eq!(stack.replicas("ml", "model-worker").await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keyless_configuration_naming_another_host_fails_at_start_up_as_config() {
    let stack = start_local_gke(|_| {}).await;
    let env = keyless(stack.env());
    let config = env
        .iter()
        .find(|(k, _)| k == "GCP_CREDENTIAL_CONFIG")
        .map(|(_, v)| v.clone())
        .unwrap();
    let cases = [
        ("/token_url", "https://sts.googleapis.com.evil.example/v1/token"),
        (
            "/service_account_impersonation_url",
            "https://evil.example/v1/projects/-/serviceAccounts/queue-scaler@p.iam.gserviceaccount.com:generateAccessToken",
        ),
        (
            "/credential_source/regional_cred_verification_url",
            "https://sts.{region}.amazonaws.com.evil.example?Action=GetCallerIdentity&Version=2011-06-15",
        ),
    ];
    for (pointer, url) in cases {
        let mut bad: Value = serde_json::from_str(&config).unwrap();
        *bad.pointer_mut(pointer).unwrap() = Value::from(url);
        let bad = bad.to_string();
        let functions = Functions::start(&function_env(
            &env,
            &[("GCP_CREDENTIAL_CONFIG", bad.as_str())],
        ))
        .await;
        stack.take_requests().await;
        let (kind, message) = functions
            .invoke_file("scale-up", "alarm-high-backlog.json")
            .await
            .err();
        assert_eq!(kind, "Config", "{pointer}: {message}");
        assert!(
            message.contains("GCP_CREDENTIAL_CONFIG") && message.contains("evil.example"),
            "{pointer}: the error names the setting and the host: {message}"
        );
        let requests = stack.take_requests().await;
        assert!(
            requests.is_empty(),
            "{pointer}: nothing is sent for a refused configuration: {requests:?}"
        );
    }
}
