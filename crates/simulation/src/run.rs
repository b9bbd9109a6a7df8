//! The loop of a run: each period the queue advances with the replicas the cluster holds, each
//! alarm takes the state the CloudWatch API reports (the functions may have re-armed it) and is
//! evaluated, and a change to ALARM invokes that alarm's function with the event CloudWatch
//! would send.
//!
//! The loop does no I/O itself: it goes through [`Environment`], which is the local control plane,
//! moto and the real handlers in [`crate::live`], and an in-memory stand-in in this module's tests.

use crate::event::Firing;
use crate::model::{Scenario, Simulation};
use crate::timeline::{AlarmCell, Invocation, Row, Timeline};
use crate::Error;
use queue_scaler_core::{AlarmState, Direction};
use serde_json::Value;
use std::future::Future;

/// The region the simulated alarms and functions live in.
pub const REGION: &str = "eu-west-1";

/// What a run talks to: the cluster, the alarms' state store, and the two functions.
pub trait Environment {
    /// Replicas the deployment has now.
    fn replicas(&mut self) -> impl Future<Output = Result<i32, Error>>;
    /// The alarm's state as the CloudWatch API reports it now.
    fn alarm_state(
        &mut self,
        direction: Direction,
    ) -> impl Future<Output = Result<AlarmState, Error>>;
    /// Record the outcome of an evaluation, as CloudWatch does.
    fn set_alarm_state(
        &mut self,
        direction: Direction,
        state: AlarmState,
        reason: &str,
    ) -> impl Future<Output = Result<(), Error>>;
    /// Invoke the function of `direction` with an alarm event; `Invocation::rearmed` is filled in
    /// by the loop.
    fn invoke(
        &mut self,
        direction: Direction,
        period: usize,
        event: &Value,
    ) -> impl Future<Output = Result<Invocation, Error>>;
}

/// Run `scenario` through `env`. `rearm` is only recorded: the functions' `REARM_ALARM` decides.
pub async fn run<E: Environment>(
    scenario: &Scenario,
    rearm: bool,
    env: &mut E,
) -> Result<Timeline, Error> {
    let mut sim = Simulation::new(scenario.clone());
    let mut rows = Vec::with_capacity(scenario.periods);
    for period in 0..scenario.periods {
        let replicas_now = env.replicas().await?;
        let (sample, ready_replicas) = sim.advance(replicas_now);
        let mut cells = Vec::with_capacity(2);
        for direction in [Direction::Up, Direction::Down] {
            let state = env.alarm_state(direction).await?;
            let alarm = sim.alarm_mut(direction);
            alarm.set_state(state);
            let Some(transition) = alarm.evaluate() else {
                cells.push(AlarmCell {
                    state,
                    invocation: None,
                });
                continue;
            };
            let firing = Firing {
                spec: alarm.spec(),
                previous: transition.from,
                window: alarm.window(),
                at: scenario.period_end(period),
                period_seconds: scenario.period_seconds,
                queue: &scenario.queue,
                region: REGION,
            };
            let reason = match transition.to {
                AlarmState::Alarm => firing.reason(),
                _ => format!("Threshold not crossed in period {period}."),
            };
            let event = firing.event();
            env.set_alarm_state(direction, transition.to, &reason)
                .await?;
            let invocation = if transition.to == AlarmState::Alarm {
                let mut invocation = env.invoke(direction, period, &event).await?;
                let after = env.alarm_state(direction).await?;
                invocation.rearmed = after == AlarmState::Ok;
                Some(invocation)
            } else {
                None
            };
            cells.push(AlarmCell {
                state: transition.to,
                invocation,
            });
        }
        let replicas = env.replicas().await?;
        rows.push(Row {
            period,
            arrivals: sample.arrivals,
            visible: sample.visible,
            in_flight: sample.in_flight,
            ready_replicas,
            replicas,
            scale_up: cells[0],
            scale_down: cells[1],
        });
    }
    Ok(Timeline {
        rearm,
        policy: scenario.policy,
        rows,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use queue_scaler_core::alarm::parse_event;
    use queue_scaler_core::decide;

    /// The functions as `decide` and an alarm store in memory: the loop without any I/O.
    pub(crate) struct InMemory {
        pub scenario: Scenario,
        pub rearm: bool,
        pub replicas: i32,
        pub states: [AlarmState; 2],
    }

    impl InMemory {
        pub(crate) fn new(scenario: &Scenario, rearm: bool) -> Self {
            InMemory {
                replicas: scenario.policy.min,
                scenario: scenario.clone(),
                rearm,
                states: [AlarmState::InsufficientData; 2],
            }
        }
    }

    fn slot(direction: Direction) -> usize {
        match direction {
            Direction::Up => 0,
            Direction::Down => 1,
        }
    }

    impl Environment for InMemory {
        async fn replicas(&mut self) -> Result<i32, Error> {
            Ok(self.replicas)
        }

        async fn alarm_state(&mut self, direction: Direction) -> Result<AlarmState, Error> {
            Ok(self.states[slot(direction)])
        }

        async fn set_alarm_state(
            &mut self,
            direction: Direction,
            state: AlarmState,
            _reason: &str,
        ) -> Result<(), Error> {
            self.states[slot(direction)] = state;
            Ok(())
        }

        async fn invoke(
            &mut self,
            direction: Direction,
            _period: usize,
            event: &Value,
        ) -> Result<Invocation, Error> {
            let signal = parse_event(event).map_err(|e| Error::Invocation {
                direction,
                period: 0,
                message: e.to_string(),
            })?;
            assert_eq!(signal.alarm, self.scenario.alarm(direction).name);
            let from = self.replicas;
            let to = decide(direction, from, signal.backlog, &self.scenario.policy).desired;
            self.replicas = to;
            if self.rearm {
                self.states[slot(direction)] = AlarmState::Ok;
            }
            Ok(Invocation {
                from,
                to,
                applied: from != to,
                rearmed: false,
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
}
