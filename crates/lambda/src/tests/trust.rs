//! What an event may not choose, against the fakes: an alarm outside a closed alarm list, or
//! from another account or region, is refused with nothing read, written or re-armed; a queue
//! an event names as an address never reaches the queue reader.

use super::fakes::*;
use crate::failure::Failure;
use queue_scaler_core::{Direction, ErrorClass, Routes};
use std::sync::Arc;

/// A scaler whose single target lists its alarms; alarms and queues shared with the test.
fn listed(
    cluster: FakeCluster,
    alarms: Arc<FakeAlarms>,
    queues: Arc<FakeQueues>,
) -> crate::scaler::Scaler<FakeCluster, Shared, Arc<FakeQueues>> {
    let routes: Routes = single(target(), &["model-worker-backlog-high"], &[]);
    crate::scaler::Scaler::new(Direction::Up, routes, false, cluster, Some(Shared(alarms)))
        .with_queues(Some(queues))
}

fn with_alarm_name(mut event: serde_json::Value, name: &str) -> serde_json::Value {
    event["alarmData"]["alarmName"] = name.into();
    event["alarmArn"] = format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}").into();
    event
}

#[tokio::test]
async fn an_alarm_outside_the_list_is_refused_with_no_read_no_write_and_no_rearm() {
    let cluster = FakeCluster::at(2);
    let alarms = Arc::new(FakeAlarms::default());
    let queues = Arc::new(FakeQueues::with(&[("model-jobs", 900, 0, 0)]));
    let s = listed(cluster.clone(), Arc::clone(&alarms), Arc::clone(&queues));
    let event = with_alarm_name(event("alarm-high-backlog.json"), "someone-elses-alarm");
    let err = invoke_at(&s, &event, soon()).await.unwrap_err();
    assert!(
        matches!(err, Failure::Route { .. }) && err.class() == ErrorClass::NonRetryable,
        "{err}"
    );
    assert!(err.to_string().contains("\"someone-elses-alarm\""), "{err}");
    assert!(cluster.calls().is_empty(), "{:?}", cluster.calls());
    assert!(queues.reads().is_empty(), "{:?}", queues.reads());
    assert!(
        alarms.rearmed.lock().unwrap().is_empty(),
        "re-armed an alarm it may not act on"
    );

    // The listed alarm acts, and is re-armed.
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert_eq!((out.from, out.to), (Some(2), Some(8)));
    assert_eq!(alarms.rearmed.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_alarm_of_another_account_or_region_is_refused_with_nothing_done() {
    for (account, region) in [("999999999999", "eu-west-1"), ("123456789012", "us-east-1")] {
        let cluster = FakeCluster::at(2);
        let alarms = Arc::new(FakeAlarms::default());
        let queues = Arc::new(FakeQueues::with(&[("model-jobs", 900, 0, 0)]));
        let s = listed(cluster.clone(), Arc::clone(&alarms), Arc::clone(&queues));
        let mut event = event("alarm-high-backlog.json");
        event["alarmArn"] =
            format!("arn:aws:cloudwatch:{region}:{account}:alarm:model-worker-backlog-high").into();
        let err = invoke_at(&s, &event, soon()).await.unwrap_err();
        assert_eq!(err.class(), ErrorClass::NonRetryable, "{err}");
        let message = err.to_string();
        assert!(
            message.contains(account) && message.contains(region),
            "{message}"
        );
        assert!(cluster.calls().is_empty(), "{:?}", cluster.calls());
        assert!(queues.reads().is_empty());
        assert!(alarms.rearmed.lock().unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_queue_named_as_an_address_never_reaches_the_queue_reader() {
    let cluster = FakeCluster::at(2);
    let alarms = Arc::new(FakeAlarms::default());
    let queues = Arc::new(FakeQueues::with(&[("model-jobs", 900, 0, 0)]));
    let s = listed(cluster.clone(), Arc::clone(&alarms), Arc::clone(&queues));
    let mut event = event("alarm-high-backlog.json");
    event["alarmData"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]
        ["QueueName"] = "http://192.0.2.2:8080/1/q".into();
    let err = invoke_at(&s, &event, soon()).await.unwrap_err();
    assert!(matches!(err, Failure::Intake(_)), "{err}");
    assert!(
        err.to_string().contains("http://192.0.2.2:8080/1/q"),
        "{err}"
    );
    assert!(queues.reads().is_empty() && cluster.calls().is_empty());
}
