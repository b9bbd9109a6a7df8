//! The loop of a run: each period the faults of the scenario take effect or end, the queue
//! advances with the replicas the cluster holds, each alarm takes the state the CloudWatch API
//! reports (the functions may have re-armed it) and is evaluated, and a change to ALARM invokes
//! that alarm's function with the event CloudWatch would send. When the heartbeat is due, each
//! function is then invoked with the heartbeat's event.
//!
//! The loop does no I/O itself: it goes through [`Environment`], which is the local control plane,
//! moto and the real handlers in [`crate::live`], and an in-memory stand-in in this module's tests.

use crate::event::Firing;
use crate::model::{AlarmKind, QueueSample, Scenario, Simulation};
use crate::timeline::{AlarmCell, Beat, Invocation, Row, Timeline};
use crate::Error;
use queue_scaler_core::{AlarmState, Direction};
use queue_scaler_harness::events::{heartbeat_event, REGION};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;

/// What a run talks to: the cluster, the alarms' state store, and the functions.
pub trait Environment {
    /// A period begins: faults that start now take effect, faults that end now stop.
    fn begin_period(&mut self, period: usize) -> impl Future<Output = Result<(), Error>>;
    /// Replicas the deployment has now.
    fn replicas(&mut self) -> impl Future<Output = Result<i32, Error>>;
    /// The queue as the period left it: what a live read of SQS answers from now on.
    fn queue(&mut self, sample: &QueueSample) -> impl Future<Output = Result<(), Error>>;
    /// The alarm's state as the CloudWatch API reports it now.
    fn alarm_state(&mut self, kind: AlarmKind) -> impl Future<Output = Result<AlarmState, Error>>;
    /// Record the outcome of an evaluation, as CloudWatch does: the state, its reason and, for
    /// ALARM, the reason data (the datapoints) the heartbeat reads back.
    fn set_alarm_state(
        &mut self,
        kind: AlarmKind,
        state: AlarmState,
        reason: &str,
        reason_data: Option<&str>,
    ) -> impl Future<Output = Result<(), Error>>;
    /// Invoke the function of `kind`'s alarm with its event. A failed invocation is recorded in
    /// the result, not returned as an error; `Invocation::rearmed` is filled in by the loop.
    fn invoke(
        &mut self,
        kind: AlarmKind,
        period: usize,
        event: &Value,
    ) -> impl Future<Output = Result<Invocation, Error>>;
    /// Invoke the function of `direction` with the heartbeat's event. `Invocation::rearmed` is
    /// filled in by the loop.
    fn heartbeat(
        &mut self,
        direction: Direction,
        period: usize,
        event: &Value,
    ) -> impl Future<Output = Result<Beat, Error>>;
}

/// Run `scenario` through `env`. `rearm` is only recorded: the functions' `REARM_ALARM` decides.
pub async fn run<E: Environment>(
    scenario: &Scenario,
    rearm: bool,
    env: &mut E,
) -> Result<Timeline, Error> {
    let mut sim = Simulation::new(scenario.clone());
    let kinds = scenario.alarm_kinds();
    let mut states: HashMap<AlarmKind, AlarmState> = HashMap::new();
    for kind in &kinds {
        states.insert(*kind, env.alarm_state(*kind).await?);
    }
    let mut rows = Vec::with_capacity(scenario.periods);
    for period in 0..scenario.periods {
        env.begin_period(period).await?;
        let replicas_now = env.replicas().await?;
        let (sample, ready_replicas) = sim.advance(replicas_now);
        env.queue(&sample).await?;
        let mut cells: HashMap<AlarmKind, AlarmCell> = HashMap::new();
        for kind in &kinds {
            let kind = *kind;
            let state = states
                .get(&kind)
                .copied()
                .unwrap_or(AlarmState::InsufficientData);
            let Some(alarm) = sim.alarm_mut(kind) else {
                continue;
            };
            alarm.set_state(state);
            let Some(transition) = alarm.evaluate() else {
                cells.insert(
                    kind,
                    AlarmCell {
                        state,
                        invocation: None,
                        end: state,
                    },
                );
                continue;
            };
            let window = alarm.window();
            let firing = Firing {
                spec: alarm.spec(),
                previous: transition.from,
                window: &window,
                at: scenario.period_end(period),
                period_seconds: scenario.period_seconds,
                queue: &scenario.queue,
                region: REGION,
            };
            let (reason, reason_data) = match transition.to {
                AlarmState::Alarm => (firing.reason(), Some(firing.reason_data().to_string())),
                _ => (format!("Threshold not crossed in period {period}."), None),
            };
            let event = firing.event();
            env.set_alarm_state(kind, transition.to, &reason, reason_data.as_deref())
                .await?;
            let (invocation, end) = if transition.to == AlarmState::Alarm {
                let mut invocation = env.invoke(kind, period, &event).await?;
                let after = env.alarm_state(kind).await?;
                invocation.rearmed = after == AlarmState::Ok;
                (Some(invocation), after)
            } else {
                (None, transition.to)
            };
            states.insert(kind, end);
            cells.insert(
                kind,
                AlarmCell {
                    state: transition.to,
                    invocation,
                    end,
                },
            );
        }
        let mut heartbeat = [None, None];
        if scenario.heartbeat_due(period) {
            let event = heartbeat_event(scenario.period_end(period), REGION);
            for (slot, direction) in [Direction::Up, Direction::Down].into_iter().enumerate() {
                let mut beat = env.heartbeat(direction, period, &event).await?;
                let mut left_in_alarm = false;
                for kind in kinds.iter().filter(|k| k.direction() == direction) {
                    let after = env.alarm_state(*kind).await?;
                    left_in_alarm |= after == AlarmState::Alarm;
                    states.insert(*kind, after);
                    if let Some(cell) = cells.get_mut(kind) {
                        cell.end = after;
                    }
                }
                beat.invocation.rearmed = beat.acted > 0 && !left_in_alarm;
                heartbeat[slot] = Some(beat);
            }
        }
        let replicas = env.replicas().await?;
        let cell = |kind: AlarmKind| cells.get(&kind).copied();
        let quiet = AlarmCell {
            state: AlarmState::InsufficientData,
            invocation: None,
            end: AlarmState::InsufficientData,
        };
        rows.push(Row {
            period,
            arrivals: sample.arrivals,
            visible: sample.visible,
            in_flight: sample.in_flight,
            interrupted: sample.interrupted,
            ready_replicas,
            replicas,
            scale_up: cell(AlarmKind::High).unwrap_or(quiet),
            scale_down: cell(AlarmKind::Low).unwrap_or(quiet),
            wake: cell(AlarmKind::Wake),
            heartbeat,
            fault: scenario.faults.iter().any(|f| f.active(period)),
        });
    }
    Ok(Timeline {
        rearm,
        policy: scenario.policy,
        rows,
        faults: scenario.faults.clone(),
        heartbeat_every: scenario.heartbeat_every,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use queue_scaler_core::alarm::parse_event;
    use queue_scaler_core::{decide, Backlog};

    /// The functions as `decide` and an alarm store in memory: the loop without any I/O. The
    /// heartbeat acts on the alarms of its function that are in ALARM, with the datapoint each
    /// was last set with.
    pub(crate) struct InMemory {
        pub scenario: Scenario,
        pub rearm: bool,
        pub replicas: i32,
        pub states: HashMap<AlarmKind, (AlarmState, Option<f64>)>,
    }

    impl InMemory {
        pub(crate) fn new(scenario: &Scenario, rearm: bool) -> Self {
            InMemory {
                replicas: scenario.starting_replicas(),
                scenario: scenario.clone(),
                rearm,
                states: HashMap::new(),
            }
        }

        fn act(&mut self, kind: AlarmKind, backlog: Option<f64>) -> Invocation {
            let from = self.replicas;
            let policy = &self.scenario.policy;
            let to = match kind {
                AlarmKind::Wake => {
                    queue_scaler_core::decide_wake(from, Backlog::Alarm(backlog), policy).desired
                }
                _ => {
                    decide(
                        kind.direction(),
                        from,
                        Backlog::Alarm(backlog),
                        None,
                        policy,
                    )
                    .desired
                }
            };
            self.replicas = to;
            let idle_wake = kind == AlarmKind::Wake && from > 0;
            if self.rearm && !idle_wake {
                self.states.insert(kind, (AlarmState::Ok, None));
            }
            Invocation::done(from, to, false)
        }
    }

    impl Environment for InMemory {
        async fn begin_period(&mut self, _period: usize) -> Result<(), Error> {
            Ok(())
        }

        async fn replicas(&mut self) -> Result<i32, Error> {
            Ok(self.replicas)
        }

        async fn queue(&mut self, _sample: &QueueSample) -> Result<(), Error> {
            Ok(())
        }

        async fn alarm_state(&mut self, kind: AlarmKind) -> Result<AlarmState, Error> {
            Ok(self
                .states
                .get(&kind)
                .map_or(AlarmState::InsufficientData, |s| s.0))
        }

        async fn set_alarm_state(
            &mut self,
            kind: AlarmKind,
            state: AlarmState,
            _reason: &str,
            reason_data: Option<&str>,
        ) -> Result<(), Error> {
            let backlog = reason_data
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
                .and_then(|d| d["recentDatapoints"].as_array()?.last()?.as_f64());
            self.states.insert(kind, (state, backlog));
            Ok(())
        }

        async fn invoke(
            &mut self,
            kind: AlarmKind,
            _period: usize,
            event: &Value,
        ) -> Result<Invocation, Error> {
            let signal = parse_event(event).map_err(|e| Error::Invocation {
                direction: kind.direction(),
                period: 0,
                message: e.to_string(),
            })?;
            let spec = self
                .scenario
                .alarm_spec(kind)
                .expect("the scenario has the alarm");
            assert_eq!(signal.alarm, spec.name);
            Ok(self.act(kind, signal.datapoint))
        }

        async fn heartbeat(
            &mut self,
            direction: Direction,
            _period: usize,
            _event: &Value,
        ) -> Result<Beat, Error> {
            let from = self.replicas;
            let mut acted = 0;
            for kind in self.scenario.alarm_kinds() {
                if kind.direction() != direction {
                    continue;
                }
                if let Some((AlarmState::Alarm, backlog)) = self.states.get(&kind).copied() {
                    acted += 1;
                    self.act(kind, backlog);
                }
            }
            Ok(Beat {
                acted,
                invocation: Invocation::done(from, self.replicas, false),
            })
        }
    }

    pub(crate) fn run_in_memory(scenario: &Scenario, rearm: bool) -> Timeline {
        let mut env = InMemory::new(scenario, rearm);
        let future = run(scenario, rearm, &mut env);
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
            .unwrap()
    }

    #[test]
    fn with_rearm_replicas_climb_to_max_and_return_to_min() {
        let scenario = Scenario::backlog_burst();
        let timeline = run_in_memory(&scenario, true);
        let s = timeline.summary(scenario.scale_up.threshold);
        assert_eq!(s.replicas_range, (2, 8));
        assert!(s.up.reached_bound.is_some(), "{s:?}");
        assert!(s.down.reached_bound.is_some(), "{s:?}");
        assert_eq!(timeline.rows.last().unwrap().replicas, 2);
    }

    #[test]
    fn without_rearm_scale_up_stalls_after_one_step() {
        let scenario = Scenario::backlog_burst();
        let timeline = run_in_memory(&scenario, false);
        let s = timeline.summary(scenario.scale_up.threshold);
        assert_eq!(s.up.invocations, 1, "{s:?}");
        assert_eq!(s.replicas_range, (2, 3));
        assert!(s.up.reached_bound.is_none());
    }

    #[test]
    fn an_invocation_is_recorded_as_rearmed_only_when_the_alarm_is_ok_afterwards() {
        let scenario = Scenario::backlog_burst();
        for rearm in [true, false] {
            let timeline = run_in_memory(&scenario, rearm);
            let invocations: Vec<Invocation> = timeline
                .rows
                .iter()
                .flat_map(|r| [r.scale_up.invocation, r.scale_down.invocation])
                .flatten()
                .collect();
            assert!(!invocations.is_empty());
            assert!(invocations.iter().all(|i| i.rearmed == rearm));
        }
    }

    #[test]
    fn at_zero_the_wake_alarm_brings_one_replica_and_scale_down_waits_for_an_empty_queue() {
        let scenario = Scenario::min_zero();
        let timeline = run_in_memory(&scenario, true);
        let arrival = scenario.arrivals.iter().position(|a| *a > 0).unwrap();
        let woke = timeline.rows[arrival].wake.unwrap();
        assert_eq!(woke.invocation.map(|i| (i.from, i.to)), Some((0, 1)));
        assert_eq!(timeline.first_serving(0), Some(arrival));
        assert!(timeline.zero_while_waiting().is_empty());
        let last = timeline.rows.last().unwrap();
        assert_eq!((last.replicas, last.backlog()), (0, 0));
        assert!(
            timeline.rows[arrival + 1..].iter().any(|r| r
                .wake
                .is_some_and(|w| w.end == AlarmState::Alarm && r.replicas > 0)),
            "a wake alarm that finds a replica running is left in ALARM"
        );
    }

    #[test]
    fn the_heartbeat_runs_every_n_periods_at_the_end_of_the_period() {
        let scenario = Scenario::sustained_load();
        let timeline = run_in_memory(&scenario, true);
        let beats: Vec<usize> = timeline
            .rows
            .iter()
            .filter(|r| r.heartbeat.iter().all(Option::is_some))
            .map(|r| r.period)
            .collect();
        let every = scenario.heartbeat_every.expect("a heartbeat");
        assert_eq!(every, crate::model::HEARTBEAT_EVERY);
        assert_eq!(beats.first(), Some(&(every - 1)));
        assert!(beats.windows(2).all(|w| w[1] - w[0] == every));
        assert_eq!(beats.len(), scenario.periods / every);
    }
}
