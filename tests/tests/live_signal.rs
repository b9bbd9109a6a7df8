//! The live signal end to end: the release binaries under `cargo lambda watch`, against the
//! local control plane and moto's SQS and CloudWatch. Every decision reads the queue now; the
//! alarm's datapoint (a minute or more old, maybe not a count) stands in only when that read
//! fails, and the result says which.

use queue_scaler_core::AlarmState;
use queue_scaler_harness::moto::{MotoServer, Sqs};
use queue_scaler_tests::{
    aws_env, function_arn, function_env, moto, put_alarm, start_local_gke, ClusterUnderTest,
    ControlPlane, Functions, REGION,
};
use serde_json::{json, Value};

/// The functions against `stack` and `moto`, their single target reading `queues`, with `extra`.
async fn functions(
    stack: &ControlPlane,
    moto: &MotoServer,
    queues: &str,
    extra: &[(&str, &str)],
) -> Functions {
    let aws = aws_env(moto);
    let mut all: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(&[
        ("TARGET_QUEUES", queues),
        ("MAX_REPLICAS", "8"),
        // No alarm exists in moto for the alarm paths: nothing to re-arm.
        ("REARM_ALARM", "false"),
    ]);
    all.extend_from_slice(extra);
    Functions::start(&function_env(stack.env(), &all)).await
}

async fn queue(sqs: &Sqs, name: &str, messages: usize) -> String {
    let url = sqs
        .create_queue(name)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqs.send(&url, messages)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    url
}

fn fields(out: &Value, names: &[&str]) -> Vec<Value> {
    names.iter().map(|n| out[*n].clone()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_alarm_decides_from_the_queue_as_it_is_now() {
    let stack = start_local_gke(|_| {}).await;
    let moto = moto().await;
    let sqs = moto.sqs(REGION);
    let url = queue(&sqs, "model-jobs", 150).await;
    let functions = functions(&stack, &moto, "model-jobs", &[]).await;

    // A live backlog overrides a stale datapoint: the alarm says 640, the queue holds 150.
    let out = functions
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .ok();
    assert_eq!(
        fields(
            &out,
            &[
                "from",
                "to",
                "applied",
                "source",
                "visible",
                "in_flight",
                "datapoint"
            ]
        ),
        [
            json!(2),
            json!(2),
            json!(false),
            json!("live"),
            json!(150),
            json!(0),
            json!(640.0)
        ],
        "{out}"
    );

    // An age alarm (900 seconds) with a count from the queue: 350 messages need 4 replicas.
    sqs.send(&url, 200).await.unwrap_or_else(|e| panic!("{e}"));
    let out = functions
        .invoke_file("scale-up", "alarm-age-of-oldest-message.json")
        .await
        .ok();
    assert_eq!(
        fields(&out, &["from", "to", "source", "backlog"]),
        [json!(2), json!(4), json!("live"), json!(350.0)],
        "{out}"
    );
    assert_eq!(stack.replicas("ml", "model-worker").await, 4);

    // No scale-down during a live burst: the low alarm's datapoint was 3, the queue holds 350.
    let out = functions
        .invoke_file("scale-down", "alarm-low-backlog.json")
        .await
        .ok();
    assert_eq!(fields(&out, &["from", "to"]), [json!(4), json!(4)], "{out}");

    // In-flight work keeps its replicas: workers hold all 350, nothing is visible.
    let held = sqs
        .receive(&url, 350, 600)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(held, 350);
    let out = functions
        .invoke_file("scale-down", "alarm-low-backlog.json")
        .await
        .ok();
    assert_eq!(
        fields(&out, &["from", "to", "visible", "in_flight"]),
        [json!(4), json!(4), json!(0), json!(350)],
        "{out}"
    );

    // Once the queue is empty, scale-down takes its step.
    sqs.purge(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let out = functions
        .invoke_file("scale-down", "alarm-low-backlog.json")
        .await
        .ok();
    assert_eq!(fields(&out, &["from", "to"]), [json!(4), json!(3)], "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_queues_add_up_and_a_failed_read_falls_back_to_the_datapoint() {
    let stack = start_local_gke(|_| {}).await;
    let moto = moto().await;
    let sqs = moto.sqs(REGION);
    queue(&sqs, "text-jobs", 150).await;
    queue(&sqs, "text-jobs-priority", 250).await;
    let both = functions(&stack, &moto, "text-jobs,text-jobs-priority", &[]).await;
    let out = both
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .ok();
    assert_eq!(
        fields(&out, &["from", "to", "backlog", "visible", "source"]),
        [json!(2), json!(4), json!(400.0), json!(400), json!("live")],
        "{out}"
    );
    drop(both);

    // A queue that does not exist: SQS refuses, the alarm's 640 decides, and the result says so.
    let missing = functions(&stack, &moto, "no-such-queue", &[]).await;
    let out = missing
        .invoke_file("scale-up", "alarm-high-backlog.json")
        .await
        .ok();
    assert_eq!(
        fields(&out, &["from", "to", "source", "visible"]),
        [json!(4), json!(7), json!("alarm"), Value::Null],
        "{out}"
    );
    let reason = out["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no-such-queue"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_heartbeat_wakes_a_target_at_zero_and_leaves_a_fresh_alarm_alone() {
    let stack = start_local_gke(|_| {}).await;
    stack.set_replicas("ml", "model-worker", 0).await;
    let moto = moto().await;
    let sqs = moto.sqs(REGION);
    queue(&sqs, "model-jobs", 3).await;
    let high = "model-worker-backlog-high";
    let functions = functions(
        &stack,
        &moto,
        "model-jobs",
        &[
            ("MIN_REPLICAS", "0"),
            ("MESSAGES_PER_REPLICA", ""),
            ("REARM_ALARM", "true"),
            ("TARGET_ALARMS", high),
        ],
    )
    .await;

    // No alarm has seen the queue wake (its metrics would arrive up to 15 minutes late): the
    // heartbeat reads the queue and wakes the target.
    let report = functions
        .invoke_file("scale-up", "heartbeat.json")
        .await
        .ok();
    assert_eq!(stack.replicas("ml", "model-worker").await, 1, "{report}");
    assert_eq!(
        fields(&report["targets"][0], &["from", "to", "applied", "source"]),
        [json!(0), json!(1), json!(true), json!("live")],
        "{report}"
    );

    // The high alarm has just gone to ALARM, on its way to invoking scale-up itself: the
    // heartbeat leaves it to that invocation, so the two never step twice.
    let arn = function_arn(&functions, "scale-up").await;
    let cw = moto.cloudwatch(REGION);
    put_alarm(&cw, high, &arn, true).await;
    cw.set_alarm_state(high, AlarmState::Alarm, "Threshold Crossed")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let report = functions
        .invoke_file("scale-up", "heartbeat.json")
        .await
        .ok();
    assert_eq!(report["alarms"][0]["checked"], "grace", "{report}");
    assert_eq!(stack.replicas("ml", "model-worker").await, 1);
    assert_eq!(
        cw.state(high).await.unwrap_or_else(|e| panic!("{e}")),
        AlarmState::Alarm,
        "left in ALARM for its own invocation"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_doctor_reads_each_targets_queues_and_names_one_it_cannot_read() {
    let stack = start_local_gke(|_| {}).await;
    let moto = moto().await;
    let sqs = moto.sqs(REGION);
    queue(&sqs, "model-jobs", 42).await;
    let doctor = json!({"action": "doctor"});
    let readable = functions(&stack, &moto, "model-jobs", &[]).await;
    let report = readable.invoke("scale-up", &doctor).await.ok();
    let check = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "queues of ml/model-worker"))
        .cloned()
        .unwrap_or_else(|| panic!("no queue check in {report}"));
    assert_eq!(check["status"], "pass", "{report}");
    let detail = check["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("model-jobs: 42 visible, 0 in flight"),
        "{detail}"
    );
    drop(readable);

    let missing = functions(&stack, &moto, "model-jobz", &[]).await;
    let report = missing.invoke("scale-up", &doctor).await.ok();
    let check = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "queues of ml/model-worker"))
        .cloned()
        .unwrap_or_else(|| panic!("no queue check in {report}"));
    assert_eq!(check["status"], "fail", "{report}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("model-jobz"),
        "{check}"
    );
    assert!(
        check["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("TARGET_QUEUES"),
        "{check}"
    );
    assert_eq!(report["ok"], false, "{report}");
}
