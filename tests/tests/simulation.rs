//! The whole loop, simulated: the backlog burst of `Scenario::backlog_burst` (quiet, then ten
//! minutes of arrivals that would take the backlog from 0 to 600 at the starting replicas, then
//! quiet while the workers drain it) through the model of the two alarms, invoking the real
//! scale-up and scale-down handlers in-process against the local control plane whenever an alarm
//! changes to ALARM, with the alarms kept in moto, where the functions re-arm them.
//!
//! Each run starts its own moto server; both share the process's control plane, each with its
//! own deployment. The timelines must also match the ones committed in `docs/simulation/`, which
//! `docs/rearm.md` quotes: `make simulate` writes them.

use queue_scaler_core::Policy;
use queue_scaler_simulation::control_plane;
use queue_scaler_simulation::live;
use queue_scaler_simulation::model::Scenario;
use queue_scaler_simulation::timeline::{Summary, Timeline};
use std::path::Path;

async fn run(deployment: &str, rearm: bool) -> (Scenario, Timeline, Summary) {
    let control = control_plane::shared(Path::new(env!("CARGO_TARGET_TMPDIR")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let scenario = Scenario::backlog_burst();
    let timeline = live::run(control, &scenario, deployment, rearm)
        .await
        .unwrap_or_else(|e| panic!("the run with re-arm {rearm} fails: {e}"));
    let summary = timeline.summary(scenario.scale_up.threshold);
    eprintln!(
        "re-arm {}: {}",
        if rearm { "on" } else { "off" },
        summary.describe(&scenario.policy)
    );
    (scenario, timeline, summary)
}

fn assert_within_bounds(timeline: &Timeline, policy: &Policy) {
    for row in &timeline.rows {
        assert!(
            (policy.min..=policy.max).contains(&row.replicas),
            "period {}: {} replicas is outside {}..={}",
            row.period,
            row.replicas,
            policy.min,
            policy.max
        );
    }
}

fn assert_matches_docs(timeline: &Timeline, file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/simulation")
        .join(file);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == timeline.to_csv(),
        "docs/simulation/{file} differs from this run: run `make simulate` and review the change \
         (docs/rearm.md quotes its numbers)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_rearm_replicas_climb_to_max_while_the_backlog_stays_high_and_return_to_min_after_it_drains(
) {
    let (scenario, timeline, s) = run("model-worker-rearm-on", true).await;
    let policy = scenario.policy;
    assert_within_bounds(&timeline, &policy);

    let reached_max = s.up.reached_bound.expect("scale-up reaches max");
    let high_until = timeline
        .rows
        .iter()
        .rposition(|r| r.visible as f64 > scenario.scale_up.threshold)
        .expect("the backlog goes over the threshold");
    assert!(
        reached_max <= high_until,
        "max is reached in period {reached_max}, while the backlog is still high (until period {high_until})"
    );
    assert_eq!(
        s.up.invocations_to_bound,
        usize::try_from(policy.max - policy.min).unwrap(),
        "one step of 1 per invocation, one invocation per period while the alarm breaches"
    );
    assert_eq!(s.up.periods_to_bound(), Some(6));
    assert!(
        timeline.rows[s.up.first_change.unwrap()..=reached_max]
            .iter()
            .all(|r| r.scale_up.invocation.is_some_and(|i| i.rearmed)),
        "every period from the first step to max invokes scale-up, each time re-armed in moto"
    );

    let drained = s.drained_at.expect("the backlog drains");
    let reached_min = s.down.reached_bound.expect("scale-down reaches min");
    assert!(s.down.first_change.unwrap() > drained);
    assert_eq!(s.down.invocations_to_bound, 6);
    assert_eq!(s.down.periods_to_bound(), Some(6));
    assert!(timeline.rows[reached_min..]
        .iter()
        .all(|r| r.replicas == policy.min));
    assert_eq!(s.replicas_range, (policy.min, policy.max));
    assert!(
        s.down.at_bound > 0,
        "at min the scale-down alarm keeps firing: the cost of re-arm at a bound"
    );

    assert_matches_docs(&timeline, "rearm-on.csv");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_rearm_scale_up_stalls_after_one_step() {
    let (scenario, timeline, s) = run("model-worker-rearm-off", false).await;
    let policy = scenario.policy;
    assert_within_bounds(&timeline, &policy);

    assert_eq!(
        s.up.invocations, 1,
        "the alarm stays in ALARM and never fires again"
    );
    assert_eq!(s.replicas_range, (policy.min, policy.min + policy.step));
    assert!(s.up.reached_bound.is_none());
    let first = s.up.first_change.expect("scale-up acts once");
    let still_alarm = timeline.rows[first..]
        .iter()
        .take_while(|r| r.scale_up.state == queue_scaler_core::AlarmState::Alarm)
        .count();
    assert!(
        still_alarm >= 10,
        "the alarm stays in ALARM for {still_alarm} periods without another invocation"
    );
    assert!(
        s.periods_over_threshold > 10,
        "the backlog stays over the threshold for {} periods",
        s.periods_over_threshold
    );
    assert_eq!(timeline.rows.last().unwrap().replicas, policy.min);

    assert_matches_docs(&timeline, "rearm-off.csv");
}
