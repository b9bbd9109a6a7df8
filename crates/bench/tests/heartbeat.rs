//! The heartbeat benchmark's loop on a small fleet: 100 targets of one queue, and 25 of four.
//! Checks the requests it makes, to AWS and to the cluster, and the most in flight; no time.

use queue_scaler_bench::heartbeat::{measure, Fleet};
use queue_scaler_harness::ControlPlane;
use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn the_heartbeat_batches_describe_alarms_and_keeps_at_most_64_requests_in_flight() {
    let control = ControlPlane::shared(Path::new(env!("CARGO_TARGET_TMPDIR")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for fleet in [
        Fleet {
            targets: 100,
            queues_per_target: 1,
            latency: Duration::from_millis(5),
        },
        Fleet {
            targets: 25,
            queues_per_target: 4,
            latency: Duration::from_millis(5),
        },
    ] {
        let n = measure(control, fleet)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let queues = u64::try_from(fleet.queues()).unwrap();
        let batches = u64::try_from((2 * fleet.targets).div_ceil(100)).unwrap();
        let count =
            |b: &queue_scaler_bench::heartbeat::Beat, k: &str| b.aws.get(k).copied().unwrap_or(0);
        for (beat, urls) in [(&n.cold, queues), (&n.warm, 0)] {
            assert_eq!(
                count(beat, "monitoring:DescribeAlarms"),
                batches,
                "{beat:?}"
            );
            assert_eq!(count(beat, "sqs:GetQueueAttributes"), queues, "{beat:?}");
            assert_eq!(
                count(beat, "sqs:GetQueueUrl"),
                urls,
                "looked up once: {beat:?}"
            );
            assert_eq!(beat.aws_requests(), batches + queues + urls, "{beat:?}");
            assert!(beat.aws_max_in_flight <= 64, "{beat:?}");
            assert!(
                beat.aws_max_in_flight > 1,
                "the reads run in parallel: {beat:?}"
            );
            assert_eq!(
                (beat.targets, beat.alarms),
                (fleet.targets, 2 * fleet.targets)
            );
        }
        // The cluster: a new container asks `clusters.get` once (where the cluster is, and its
        // node pools, in one answer) and reads each Deployment once, placing the targets and
        // deciding each from that read; a warm one reads each Deployment once.
        let targets = u64::try_from(fleet.targets).unwrap();
        let cluster = |b: &queue_scaler_bench::heartbeat::Beat, k: &str| {
            b.cluster.get(k).copied().unwrap_or(0)
        };
        assert_eq!(cluster(&n.cold, "discovery"), 1, "{:?}", n.cold.cluster);
        assert_eq!(cluster(&n.warm, "discovery"), 0, "{:?}", n.warm.cluster);
        for beat in [&n.cold, &n.warm] {
            assert_eq!(
                cluster(beat, "deployment_get"),
                targets,
                "one read per target: {:?}",
                beat.cluster
            );
        }
        assert_eq!(
            n.cold.raised,
            fleet.targets.div_ceil(10),
            "every tenth is raised"
        );
        assert_eq!(n.warm.raised, 0, "and then has what it needs");
    }
}
