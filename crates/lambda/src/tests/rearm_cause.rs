//! A re-arm that fails on the network keeps its cause: the result's `rearm.detail` names the
//! connection error, not only "request to ... failed", as the heartbeat's error does.

use super::fakes::*;
use crate::report::Rearm;
use queue_scaler_core::DescribedAlarm;
use queue_scaler_io::{AlarmRearm, Error};

/// A CloudWatch that cannot be reached: every call is refused at connect.
struct Unreachable;

impl Unreachable {
    async fn error() -> Error {
        // A port that was free a moment ago: nothing listens on it now.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let source = reqwest::Client::new().post(&url).send().await.unwrap_err();
        Error::Transport { url, source }
    }
}

impl AlarmRearm for Unreachable {
    async fn set_ok(&self, _alarm: &str, _reason: &str) -> Result<(), Error> {
        Err(Unreachable::error().await)
    }
    async fn describe(&self, _names: &[&str]) -> Result<Vec<DescribedAlarm>, Error> {
        Err(Unreachable::error().await)
    }
}

#[tokio::test]
async fn a_failed_rearm_names_the_connection_error() {
    let routes = single(target(), &[], &[]);
    let s = up_scaler(routes, FakeCluster::at(2), Unreachable).with_queues(None::<FakeQueues>);
    let out = invoke_file(&s, "alarm-high-backlog.json").await.unwrap();
    assert!(out.applied, "the scaling stands");
    let Rearm::Failed(detail) = &out.rearm else {
        panic!("expected a failed re-arm, got {:?}", out.rearm);
    };
    assert!(
        detail.starts_with("request to http://127.0.0.1:"),
        "{detail}"
    );
    // What reqwest and the OS say lies beyond "failed": the cause, not only the URL.
    let cause = detail
        .split_once(" failed")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    assert!(
        cause.contains("connect") || cause.contains("refused"),
        "the cause is missing: {detail}"
    );
}
