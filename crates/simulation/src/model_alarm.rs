//! The model's alarms created in a real CloudWatch API (moto): `PutMetricAlarm` with the
//! model's metric (one metric, or visible plus in flight as metric math), comparison, threshold
//! and windows, on the run's queue, optionally with the functions as its actions.
//!
//! Does I/O: HTTP to moto, through the harness's signed client.

use crate::model::{AlarmSpec, Metric};
use crate::Error;
use queue_scaler_harness::moto::CloudWatch;

/// `PutMetricAlarm` for a model alarm on `queue` (its period in seconds), without actions.
pub async fn put_metric_alarm(
    cloudwatch: &CloudWatch,
    spec: &AlarmSpec,
    queue: &str,
    period_seconds: u32,
) -> Result<(), Error> {
    put_metric_alarm_invoking(cloudwatch, spec, queue, period_seconds, &[]).await
}

/// `PutMetricAlarm` for a model alarm on `queue` whose `AlarmActions` are `actions` (the
/// ARNs of the functions it invokes, which the heartbeat checks).
pub async fn put_metric_alarm_invoking(
    cloudwatch: &CloudWatch,
    spec: &AlarmSpec,
    queue: &str,
    period_seconds: u32,
    actions: &[String],
) -> Result<(), Error> {
    let period = period_seconds.to_string();
    let evaluation_periods = spec.evaluation_periods.to_string();
    let datapoints_to_alarm = spec.datapoints_to_alarm.to_string();
    let threshold = spec.threshold.to_string();
    let mut params = vec![
        ("AlarmName", spec.name.as_str()),
        ("ComparisonOperator", spec.comparison.api_name()),
        ("EvaluationPeriods", &evaluation_periods),
        ("DatapointsToAlarm", &datapoints_to_alarm),
        ("Threshold", &threshold),
        ("TreatMissingData", "notBreaching"),
    ];
    let metric = |n: usize, id: &'static str, name: &'static str, ret: &'static str| {
        let p = format!("Metrics.member.{n}");
        vec![
            (format!("{p}.Id"), id.to_owned()),
            (format!("{p}.ReturnData"), ret.to_owned()),
            (format!("{p}.MetricStat.Metric.Namespace"), "AWS/SQS".into()),
            (format!("{p}.MetricStat.Metric.MetricName"), name.into()),
            (
                format!("{p}.MetricStat.Metric.Dimensions.member.1.Name"),
                "QueueName".into(),
            ),
            (
                format!("{p}.MetricStat.Metric.Dimensions.member.1.Value"),
                queue.to_owned(),
            ),
            (format!("{p}.MetricStat.Period"), period.clone()),
            (format!("{p}.MetricStat.Stat"), "Maximum".into()),
        ]
    };
    let owned: Vec<(String, String)> = match spec.metric {
        Metric::Visible => vec![
            ("Namespace".into(), "AWS/SQS".into()),
            (
                "MetricName".into(),
                "ApproximateNumberOfMessagesVisible".into(),
            ),
            ("Dimensions.member.1.Name".into(), "QueueName".into()),
            ("Dimensions.member.1.Value".into(), queue.to_owned()),
            ("Period".into(), period.clone()),
            ("Statistic".into(), "Maximum".into()),
        ],
        Metric::VisiblePlusInFlight => {
            let mut m = vec![
                ("Metrics.member.1.Id".to_owned(), "backlog".to_owned()),
                (
                    "Metrics.member.1.Expression".to_owned(),
                    "visible + inflight".to_owned(),
                ),
                ("Metrics.member.1.ReturnData".to_owned(), "true".to_owned()),
            ];
            m.extend(metric(
                2,
                "visible",
                "ApproximateNumberOfMessagesVisible",
                "false",
            ));
            m.extend(metric(
                3,
                "inflight",
                "ApproximateNumberOfMessagesNotVisible",
                "false",
            ));
            m
        }
    };
    params.extend(owned.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let action_keys: Vec<String> = (1..=actions.len())
        .map(|i| format!("AlarmActions.member.{i}"))
        .collect();
    params.extend(
        action_keys
            .iter()
            .map(String::as_str)
            .zip(actions.iter().map(String::as_str)),
    );
    cloudwatch
        .query("PutMetricAlarm", &params)
        .await
        .map(drop)?;
    Ok(())
}
