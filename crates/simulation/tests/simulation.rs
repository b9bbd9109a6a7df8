//! The whole loop, simulated: the backlog burst of `Scenario::backlog_burst` (quiet, then ten
//! minutes of arrivals that would take the backlog from 0 to 600 at the starting replicas, then
//! quiet while the workers drain it) through the model of the two alarms, invoking the real
//! scale-up and scale-down handlers in-process against the local control plane whenever an alarm
//! changes to ALARM, with the alarms kept in moto, where the functions re-arm them.
//!
//! Then the fault scenarios (`docs/never-stuck.md`): the same loop with the heartbeat, the wake
//! alarm of a min-0 target and a fault injected, each run with the functions as they are and as
//! they were; checked for recovery within the bound the runs found, where the replicas end, the
//! zero rule, and one step for a lost answer.
//!
//! Each run starts its own moto server; all share the process's control plane, each with its
//! own deployment. The live-signal scenarios (`docs/live-signal.md`) run the loop with SQS's
//! metrics late, and the functions once with the alarm's datapoint only and once reading the
//! queue live; checked against the targets. The timelines must also match the ones committed in `docs/simulation/`, which
//! `docs/rearm.md` quotes, and the table of the faults in `docs/never-stuck.md` must be the one these runs give:
//! `make simulate` writes them.

use queue_scaler_core::{AlarmState, Policy};
use queue_scaler_harness::{workspace_root, ControlPlane};
use queue_scaler_simulation::faults::{self, FaultRun};
use queue_scaler_simulation::live;
use queue_scaler_simulation::live_signal::{self, Measure};
use queue_scaler_simulation::model::{FaultKind, Scenario};
use queue_scaler_simulation::timeline::{RecoveredBy, Summary, Timeline};
use std::path::Path;

async fn run(deployment: &str, rearm: bool) -> (Scenario, Timeline, Summary) {
    let control = ControlPlane::shared(Path::new(env!("CARGO_TARGET_TMPDIR")))
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
    assert_file_is(file, &timeline.to_csv(), "docs/rearm.md quotes its numbers");
}

fn assert_file_is(file: &str, contents: &str, why: &str) {
    let path = workspace_root().join("docs/simulation").join(file);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == contents,
        "docs/simulation/{file} differs from this run: run `make simulate` and review the change \
         ({why})"
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

/// Where a fault run's replicas must end: back at min with the queue empty.
fn assert_ends_at_min_with_the_queue_empty(id: &str, timeline: &Timeline) {
    let last = timeline.rows.last().expect("the run has periods");
    assert_eq!(
        (last.replicas, last.backlog()),
        (timeline.policy.min, 0),
        "{id}: replicas and messages at the end"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_every_fault_the_loop_recovers_and_the_docs_show_these_runs() {
    let control = ControlPlane::shared(Path::new(env!("CARGO_TARGET_TMPDIR")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let runs: Vec<FaultRun> = live::run_faults(control, faults::scenarios())
        .await
        .unwrap_or_else(|e| panic!("a fault scenario fails: {e}"));
    let table = faults::table(&runs);
    eprintln!("{table}");

    for run in &runs {
        let id = run.scenario.id;
        let fault = run.new.faults[0];
        let new = run.new.fault_summary().expect("a run with a fault");
        let periods = new
            .recovery
            .periods()
            .unwrap_or_else(|| panic!("{id}: the loop does not recover: {new:?}"));
        let policy = run.new.policy;
        assert!(
            run.new
                .rows
                .iter()
                .all(|r| (policy.min..=policy.max).contains(&r.replicas)),
            "{id}: replicas stay within min and max"
        );
        let today = run.today.as_ref().and_then(Timeline::fault_summary);
        match fault.kind {
            FaultKind::SetAlarmStateRefused => {
                // Only the heartbeat can act on an alarm left in ALARM: the bound is its interval.
                let every = run.new.heartbeat_every.expect("a heartbeat");
                assert!(
                    periods <= every,
                    "{id}: recovery in {periods} periods, more than the heartbeat's {every}"
                );
                if every <= 2 {
                    assert!(
                        periods <= 2,
                        "{id}: a heartbeat every {every} minutes meets the goal of 2 periods"
                    );
                } else {
                    // The template's default before (every 5 minutes), kept as the evidence why
                    // it changed: at the worst phase it misses the goal.
                    assert!(
                        periods > 2,
                        "{id}: a heartbeat every {every} minutes recovers in {periods} periods"
                    );
                    assert_eq!(
                        new.recovery.by,
                        Some(RecoveredBy::Heartbeat),
                        "{id}: with the backlog still high at the fault's end, the heartbeat recovers"
                    );
                }
                let stuck = run.new.rows[fault.start..fault.end]
                    .iter()
                    .filter(|r| r.scale_up.end == AlarmState::Alarm)
                    .count();
                assert!(
                    stuck > 0,
                    "{id}: the refused re-arm leaves the alarm in ALARM"
                );
            }
            _ => assert_eq!(
                periods, 1,
                "{id}: the first evaluation after the fault acts (the goal is 2)"
            ),
        }
        match fault.kind {
            FaultKind::MessagesAtZero => {
                let first = run
                    .new
                    .first_serving(fault.start)
                    .expect("a replica starts");
                assert!(
                    first < fault.start + 2,
                    "{id}: one replica within 2 periods of the messages (period {first})"
                );
                assert_eq!(
                    run.new.zero_while_waiting(),
                    Vec::<usize>::new(),
                    "{id}: zero replicas only when visible plus in flight is 0"
                );
                let last = run.new.rows.last().unwrap();
                assert_eq!(
                    (last.replicas, last.backlog()),
                    (0, 0),
                    "{id}: back to 0, drained"
                );
                let before = faults::first_zero_before_the_rule(&run.new);
                assert!(
                    before.is_some_and(|(_, _, backlog)| backlog > 0),
                    "{id}: the old rule would have stranded messages"
                );
                let today = today.expect("today's run");
                assert_eq!(
                    today.recovery.at, None,
                    "{id}: today nothing starts a replica"
                );
                assert_eq!((today.final_replicas, today.final_backlog), (0, 5));
            }
            FaultKind::LostAnswer => {
                assert_ends_at_min_with_the_queue_empty(id, &run.new);
                let lost = run.new.rows[fault.start]
                    .scale_up
                    .invocation
                    .expect("scale-up acts in the period of the lost answer");
                assert_eq!(
                    (lost.writes, lost.to - lost.from),
                    (1, policy.step),
                    "{id}: one write, one step: {lost:?}"
                );
                let old = run.today.as_ref().unwrap().rows[fault.start]
                    .scale_up
                    .invocation
                    .unwrap();
                assert_eq!(
                    (old.writes, old.to - old.from),
                    (2, 2 * policy.step),
                    "{id}: today, two writes and two steps: {old:?}"
                );
            }
            _ => {
                assert_ends_at_min_with_the_queue_empty(id, &run.new);
                if let Some(today) = today {
                    assert!(
                        today.recovery.periods().is_none_or(|p| p > 2),
                        "{id}: today the alarm stays in ALARM after the fault: {today:?}"
                    );
                    let drained = new.drained_at.expect("the backlog drains");
                    assert!(
                        today.drained_at.is_none_or(|p| p > drained),
                        "{id}: today the backlog drains later: {today:?}"
                    );
                }
            }
        }

        let mut named = vec![("new", &run.new)];
        if let Some(today) = &run.today {
            named.push(("today", today));
        }
        assert_file_is(
            &format!("fault-{id}.csv"),
            &Timeline::fault_csv(&named),
            "docs/never-stuck.md's table quotes its numbers",
        );
    }
    assert_file_is(
        "faults.svg",
        &faults::chart(&runs).unwrap_or_else(|e| panic!("{e}")),
        "docs/never-stuck.md shows the chart",
    );
    let readme = std::fs::read_to_string(workspace_root().join("docs/never-stuck.md"))
        .expect("docs/never-stuck.md");
    assert!(
        readme.contains(&table),
        "the table of the fault scenarios in docs/never-stuck.md differs from these runs: run \
         `make simulate` and paste its table into docs/never-stuck.md:\n{table}"
    );
}

/// The fault scenarios run at the template's heartbeat: `HeartbeatSchedule`'s default,
/// `rate(N minutes)` with the alarms' 60 s periods, is N periods.
#[test]
fn the_fault_scenarios_run_at_the_templates_heartbeat() {
    let template = std::fs::read_to_string(workspace_root().join("infra/aws/template.yaml"))
        .expect("infra/aws/template.yaml");
    let default = template
        .split("\n  HeartbeatSchedule:\n")
        .nth(1)
        .and_then(|block| {
            block
                .lines()
                .find_map(|l| l.trim().strip_prefix("Default: "))
        })
        .expect("HeartbeatSchedule has a default");
    let every = queue_scaler_simulation::model::HEARTBEAT_EVERY;
    let minutes = if every == 1 {
        "rate(1 minute)".to_owned()
    } else {
        format!("rate({every} minutes)")
    };
    assert_eq!(
        default, minutes,
        "the simulation's heartbeat is the template's"
    );
    for s in faults::scenarios()
        .iter()
        .filter(|s| s.variant_of.is_none())
    {
        assert_eq!(s.scenario.heartbeat_every, Some(every), "{}", s.id);
        assert_eq!(s.scenario.period_seconds, 60, "{}", s.id);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reading_the_queue_live_meets_the_targets_and_the_docs_show_these_runs() {
    let control = ControlPlane::shared(Path::new(env!("CARGO_TARGET_TMPDIR")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let runs = live::run_live_signal(control, live_signal::scenarios())
        .await
        .unwrap_or_else(|e| panic!("a live-signal scenario fails: {e}"));
    let doc = std::fs::read_to_string(workspace_root().join("docs/live-signal.md"))
        .expect("docs/live-signal.md");
    for run in &runs {
        let s = &run.scenario;
        let (before, after) = (
            s.measure.of(&run.before, &s.scenario),
            s.measure.of(&run.after, &s.scenario),
        );
        eprintln!("{}: before {before:?}, after {after:?}", s.id);
        match s.measure {
            Measure::FirstNewReplica => {
                assert!(
                    after.is_some_and(|m| m <= 2),
                    "{}: the first new replica at most 2 minutes after the first message: {after:?}",
                    s.id
                );
                assert!(
                    before.is_none_or(|m| m >= 15),
                    "{}: with the alarm alone, 15 minutes or more: {before:?}",
                    s.id
                );
            }
            Measure::RemovedDuringBurst | Measure::RemovedWhileBusy => {
                assert_eq!(after, Some(0), "{}: no replica removed", s.id);
                assert!(
                    before.is_some_and(|m| m > 0),
                    "{}: with the alarm alone, replicas are removed: {before:?}",
                    s.id
                );
            }
        }
        for timeline in [&run.before, &run.after] {
            assert_within_bounds(timeline, &timeline.policy);
        }
        assert_file_is(
            &live_signal::csv_name(s.id),
            &live_signal::csv(run),
            "docs/live-signal.md quotes its numbers",
        );
        let table = live_signal::table(run);
        assert!(
            doc.contains(&table),
            "the table of {} in docs/live-signal.md differs from these runs: run `make simulate` \
             and paste its tables into docs/live-signal.md:\n{table}",
            s.id
        );
    }
}
