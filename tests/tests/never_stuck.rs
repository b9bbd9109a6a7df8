//! The loop never gets stuck: the release binaries under `cargo lambda watch`, against the local
//! control plane and, for the alarms and the key secret, a local AWS API (moto). Each test
//! checks what the *next* event will find after something went wrong:
//!
//! - a failed scaling still re-arms its alarm, and so does a function whose configuration is
//!   invalid, so the alarm's next evaluation is the retry;
//! - the heartbeat acts on the function's alarms that are in ALARM, and on nothing else;
//! - a key secret that could not be read at first is read by the next invocation of the same
//!   process;
//! - a write whose answer was lost is not applied twice;
//! - a discovered endpoint that stops answering is discovered again;
//! - zero replicas only when the queue is empty, and a wake alarm brings one back.

use local_gke::admin::Fault;
use local_gke::{scale_path, ExternalCluster};
use queue_scaler_core::AlarmState;
use queue_scaler_harness::moto::{CloudWatch, MotoServer};
use queue_scaler_tests::scenarios::assert_no_secrets;
use queue_scaler_tests::{
    assert_fields, aws_env, event, function_arn, function_env, moto, put_alarm, start_local_gke,
    ClusterUnderTest, ControlPlane, Functions, REGION,
};
use serde_json::{json, Value};

/// The alarms the sample events name.
const HIGH: &str = "model-worker-backlog-high";
const LOW: &str = "model-worker-backlog-low";

fn env(stack: &ControlPlane, moto: &MotoServer, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let aws = aws_env(moto);
    let mut all: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // These tests put alarms into ALARM by hand just before the heartbeat, and no alarm invokes
    // anything by itself here: the heartbeat acts on them at once (its grace is tested in
    // live_signal.rs).
    all.push(("HEARTBEAT_GRACE_SECONDS", "0"));
    all.extend_from_slice(extra);
    function_env(stack.env(), &all)
}

/// Create a metric alarm on the queue whose action invokes `function_arn`, and put it in
/// `state` with `backlog` as its newest datapoint, as CloudWatch leaves it when it fires.
async fn alarm(
    cw: &CloudWatch,
    name: &str,
    function_arn: &str,
    state: AlarmState,
    backlog: Option<f64>,
) {
    put_alarm(cw, name, function_arn, true).await;
    // moto creates alarms in OK; set every state explicitly.
    let data = backlog.map(|b| {
        json!({"version": "1.0", "recentDatapoints": [b], "threshold": 100.0}).to_string()
    });
    cw.set_alarm_state_with_data(name, state, "Threshold Crossed", data.as_deref())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

async fn state(cw: &CloudWatch, name: &str) -> AlarmState {
    cw.state(name).await.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_scaling_still_rearms_its_alarm() {
    let stack = start_local_gke(|_| {}).await;
    let moto = moto().await;
    let cw = moto.cloudwatch(REGION);
    let functions = Functions::start(&env(&stack, &moto, &[])).await;
    let arn = function_arn(&functions, "scale-up").await;
    alarm(&cw, HIGH, &arn, AlarmState::Alarm, Some(640.0)).await;
    // The control plane answers 503 for longer than the retries last.
    assert!(stack.fail_next("ml", "model-worker", 50, 503).await);

    let (error_type, message) = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .err();
    assert_eq!(error_type, "Retryable", "{message}");
    assert!(message.contains("set back to OK"), "{message}");
    assert_eq!(
        state(&cw, HIGH).await,
        AlarmState::Ok,
        "re-armed after the failure"
    );
    assert_eq!(stack.replicas("ml", "model-worker").await, 2);

    // When the alarm fires again and the control plane is back, it scales.
    stack.admin().clear_faults().await.expect("faults cleared");
    let out = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .ok();
    assert_fields(&out, &[("from", json!(2)), ("to", json!(4))]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_configuration_still_rearms_the_alarm_that_invoked_it() {
    let stack = start_local_gke(|_| {}).await;
    let moto = moto().await;
    let cw = moto.cloudwatch(REGION);
    // MAX_REPLICAS is required.
    let functions = Functions::start(&env(&stack, &moto, &[("MAX_REPLICAS", "")])).await;
    let (error_type, message) = functions
        .invoke_file("scale-up", "heartbeat.json")
        .await
        .err();
    assert_eq!(error_type, "Config", "{message}");
    alarm(
        &cw,
        HIGH,
        "arn:aws:lambda:eu-west-1:123456789012:function:scale-up",
        AlarmState::Alarm,
        Some(640.0),
    )
    .await;

    let (error_type, message) = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .err();
    assert_eq!(error_type, "Config", "{message}");
    assert!(message.contains("MAX_REPLICAS"), "{message}");
    assert!(message.contains("set back to OK"), "{message}");
    assert_eq!(state(&cw, HIGH).await, AlarmState::Ok);
    assert_eq!(
        stack.replicas("ml", "model-worker").await,
        2,
        "nothing written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_heartbeat_acts_on_its_alarms_in_alarm_and_on_nothing_else() {
    let stack = start_local_gke(|_| {}).await;
    let moto = moto().await;
    let cw = moto.cloudwatch(REGION);
    let names = format!("{HIGH},high-ok,high-insufficient,{LOW},high-gone");
    let functions = Functions::start(&env(&stack, &moto, &[("TARGET_ALARMS", &names)])).await;
    let up = function_arn(&functions, "scale-up").await;
    // The emulator hands every function the same placeholder ARN, so the other function is an
    // ARN of its own here, as on AWS.
    let down = "arn:aws:lambda:eu-west-1:123456789012:function:queue-scaler-scale-down";
    assert_ne!(up, down);

    alarm(&cw, HIGH, &up, AlarmState::Alarm, Some(640.0)).await;
    alarm(&cw, "high-ok", &up, AlarmState::Ok, Some(3.0)).await;
    alarm(
        &cw,
        "high-insufficient",
        &up,
        AlarmState::InsufficientData,
        None,
    )
    .await;
    // In ALARM, but it invokes the other function.
    alarm(&cw, LOW, down, AlarmState::Alarm, Some(0.0)).await;

    let report = functions
        .invoke_file("scale-up", "heartbeat.json")
        .await
        .ok();
    let checked: Vec<(String, String)> = report["alarms"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"))
        .iter()
        .map(|a| {
            (
                a["alarm"].as_str().unwrap_or_default().to_owned(),
                a["checked"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        (HIGH, "acted"),
        ("high-ok", "not_in_alarm"),
        ("high-insufficient", "not_in_alarm"),
        (LOW, "not_this_function"),
        ("high-gone", "missing"),
    ]
    .iter()
    .map(|(a, c)| ((*a).to_owned(), (*c).to_owned()))
    .collect();
    assert_eq!(checked, expected, "{report}");
    let acted = &report["alarms"][0]["outcome"];
    // 640 messages at 100 per replica want 7; the target's max is 4.
    assert_eq!(
        (acted["from"].clone(), acted["to"].clone()),
        (json!(2), json!(4)),
        "{report}"
    );
    assert_eq!(stack.replicas("ml", "model-worker").await, 4);
    assert_eq!(state(&cw, HIGH).await, AlarmState::Ok, "re-armed");
    assert_eq!(
        state(&cw, LOW).await,
        AlarmState::Alarm,
        "the other function's alarm is left alone"
    );
    assert_eq!(state(&cw, "high-ok").await, AlarmState::Ok);
    assert_eq!(
        state(&cw, "high-insufficient").await,
        AlarmState::InsufficientData
    );

    // A second heartbeat finds nothing in ALARM and writes nothing.
    let report = functions
        .invoke_file("scale-up", "heartbeat.json")
        .await
        .ok();
    assert_eq!(report["alarms"][0]["checked"], "not_in_alarm", "{report}");
    assert_eq!(stack.replicas("ml", "model-worker").await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_secret_that_could_not_be_read_is_read_by_the_next_invocation() {
    let stack = start_local_gke(|_| {}).await;
    let moto = moto().await;
    let key_file = stack.var("GOOGLE_APPLICATION_CREDENTIALS");
    let key = std::fs::read_to_string(&key_file).unwrap_or_else(|e| panic!("{key_file}: {e}"));
    let functions = Functions::start(&env(
        &stack,
        &moto,
        &[
            ("GOOGLE_APPLICATION_CREDENTIALS", ""),
            ("GCP_SERVICE_ACCOUNT_KEY_SECRET", "queue-scaler-key"),
            ("REARM_ALARM", "false"),
        ],
    ))
    .await;

    // The secret does not exist yet: the invocation fails, naming it.
    let (error_type, message) = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .err();
    assert_eq!(error_type, "NonRetryable", "{message}");
    assert!(
        message.contains("GetSecretValue") && message.contains("ResourceNotFound"),
        "{message}"
    );
    assert_no_secrets(&message, stack.env());

    moto.secrets(REGION)
        .create_secret("queue-scaler-key", &key)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // The same process reads it now: start-up failures are not kept.
    let out: Value = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .ok();
    assert_eq!(out["applied"], true, "{out}");
    assert_eq!(stack.replicas("ml", "model-worker").await, 4);
    // The key came from the secret: neither it nor a token reached the output.
    assert_no_secrets(&functions.log(), stack.env());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_whose_answer_was_lost_is_not_applied_twice() {
    let stack = start_local_gke(|_| {}).await;
    let functions = Functions::start(&function_env(stack.env(), &[])).await;
    let lost_answer = Fault {
        method: Some("PUT".to_owned()),
        apply_then_drop: true,
        ..Fault::new(&scale_path("ml", "model-worker"))
    };
    stack
        .admin()
        .add_fault(&lost_answer)
        .await
        .expect("fault injected");
    // No datapoint: one step, 2 -> 3.
    let out = functions
        .invoke_file("scale-up", "alarm-set-by-set-alarm-state.json")
        .await
        .ok();
    assert_fields(
        &out,
        &[
            ("from", json!(2)),
            ("to", json!(3)),
            ("applied", json!(true)),
        ],
    );
    assert!(
        out["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("answer was lost"),
        "{out}"
    );
    assert_eq!(
        stack.replicas("ml", "model-worker").await,
        3,
        "one step, not two"
    );
}

/// How many discovery requests local-gke logged since its log was last taken (taking it).
async fn discoveries(stack: &ControlPlane) -> usize {
    stack
        .take_requests()
        .await
        .iter()
        .filter(|k| *k == "discovery")
        .count()
}

/// A TCP proxy on a port of its own, to the cluster listener: an endpoint that can go away.
async fn proxy_to(target: String) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("an address").port();
    // The connections live in the task's own set, so aborting the task closes them too, as a
    // control plane that moved would.
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            connections.spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_discovered_endpoint_that_stops_answering_is_discovered_again() {
    let stack = start_local_gke(|_| {}).await;
    let cluster = url::Url::parse(stack.gke().cluster_url()).expect("cluster URL");
    let target = format!(
        "{}:{}",
        cluster.host_str().unwrap_or_default(),
        cluster.port().unwrap_or(443)
    );
    let advertise = |port: u16| ExternalCluster {
        endpoint: url::Url::parse(&format!("https://127.0.0.1:{port}")).expect("URL"),
        ca_pem: stack.gke().cluster_ca_pem().to_owned(),
    };
    let (first, first_task) = proxy_to(target.clone()).await;
    stack.gke().set_external_cluster(advertise(first));
    let functions = Functions::start(&function_env(stack.env(), &[])).await;
    let out = functions
        .invoke_file("scale-up", "alarm-set-by-set-alarm-state.json")
        .await
        .ok();
    assert_eq!(out["to"], 3, "{out}");
    assert_eq!(discoveries(&stack).await, 1);

    // The control plane moves: the old address refuses connections, GKE reports the new one.
    first_task.abort();
    let _ = first_task.await;
    let (second, _second_task) = proxy_to(target).await;
    stack.gke().set_external_cluster(advertise(second));
    let out = functions
        .invoke_file("scale-up", "alarm-set-by-set-alarm-state.json")
        .await
        .ok();
    assert_fields(&out, &[("from", json!(3)), ("to", json!(4))]);
    assert_eq!(discoveries(&stack).await, 1, "discovered once more");
}

#[tokio::test(flavor = "multi_thread")]
async fn zero_replicas_only_when_the_queue_is_empty_and_a_wake_alarm_brings_one_back() {
    let stack = start_local_gke(|_| {}).await;
    let functions = Functions::start(&function_env(
        stack.env(),
        &[
            ("MIN_REPLICAS", "0"),
            ("MESSAGES_PER_REPLICA", ""),
            // Alarm lists are closed: both alarms this test fires are named.
            ("TARGET_ALARMS", &format!("{HIGH},{LOW}")),
            ("TARGET_WAKE_ALARMS", "model-worker-backlog-wake"),
        ],
    ))
    .await;
    stack.set_replicas("ml", "model-worker", 1).await;

    // 3 messages still wait: keep one replica.
    let out = functions
        .invoke_file("scale-down", "alarm-low-backlog.json")
        .await
        .ok();
    assert_fields(&out, &[("to", json!(1)), ("applied", json!(false))]);
    // The queue is empty: zero.
    let mut empty = event("alarm-low-backlog.json");
    empty["alarmData"]["state"]["reasonData"] =
        json!({"version": "1.0", "queryDate": "2026-11-28T13:05:10.512+0000", "startDate": "2026-11-28T13:03:00.000+0000",
               "statistic": "Maximum", "period": 60, "recentDatapoints": [0.0], "threshold": 10.0,
               "evaluatedDatapoints": [{"timestamp": "2026-11-28T13:04:00.000+0000", "sampleCount": 1.0, "value": 0.0}]})
        .to_string()
        .into();
    let out = functions.invoke("scale-down", &empty).await.ok();
    assert_fields(&out, &[("to", json!(0)), ("applied", json!(true))]);
    assert_eq!(stack.replicas("ml", "model-worker").await, 0);

    // Messages arrive at zero replicas: the wake alarm brings one back.
    let mut wake = event("alarm-high-backlog.json");
    wake["alarmData"]["alarmName"] = "model-worker-backlog-wake".into();
    let out = functions.invoke("scale-up", &wake).await.ok();
    assert_fields(&out, &[("from", json!(0)), ("to", json!(1))]);
    // Once a replica runs, the wake alarm leaves scaling to the backlog alarm.
    let out = functions.invoke("scale-up", &wake).await.ok();
    assert_fields(&out, &[("from", json!(1)), ("applied", json!(false))]);
    assert_eq!(stack.replicas("ml", "model-worker").await, 1);
}
