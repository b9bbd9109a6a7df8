//! The heartbeat, the function's other event: every minute it reads the alarms the routes
//! name and acts on each one still in ALARM as if it had just fired, catching a failed re-arm or
//! a dropped event; scale-up's then reads every target's queues and wakes or raises a target
//! below what its live backlog needs. Its log lines are written from its report
//! (`log_lines::log`).

use super::scale::Trigger;
use super::{Call, Scaler};
use crate::error_text::chain;
use crate::failure::Failure;
use crate::report::{AlarmCheck, Checked, Heartbeat, TargetCheck};
use futures_util::stream::{self, StreamExt as _};
use queue_scaler_core::alarm::signal_from_described;
use queue_scaler_core::{decide_reconcile, AlarmState, Backlog, Decision, Direction, Route};
use queue_scaler_io::backoff::with_backoff;
use queue_scaler_io::kube::scale::Scale;
use queue_scaler_io::{AlarmRearm, QueueDepth, ScaleApi};
use tokio::time::Instant;

/// Targets scale-up's heartbeat reconciles at once; with [`super::live::QUEUES_IN_FLIGHT`] (the queues of one
/// target read at once) per target it keeps at most 64 requests in flight.
pub(crate) const TARGETS_IN_FLIGHT: usize = 16;

impl<K: ScaleApi, R: AlarmRearm, Q: QueueDepth> Scaler<K, R, Q> {
    /// The heartbeat: read the alarms the routes name, keep those whose actions invoke this
    /// function, and act on each one in ALARM as if it had just fired (re-arm included), unless
    /// its state changed less than [`super::HEARTBEAT_GRACE`] ago (its own invocation acts on it).
    /// Scale-up's heartbeat then reads every target's queues and wakes or raises a target below
    /// what its live backlog needs ([`decide_reconcile`]). Fails when reading the alarms fails
    /// or any action does.
    pub(crate) async fn heartbeat(&self, call: Call<'_>) -> Result<Heartbeat, Failure> {
        let mut report = Heartbeat {
            heartbeat: true,
            direction: self.direction,
            function: self.own_arn(call.function_arn),
            alarms: Vec::new(),
            targets: Vec::new(),
            note: None,
        };
        let mut failures = self.heartbeat_alarms(call, &mut report).await?;
        if self.direction == Direction::Up {
            let acted: Vec<Option<String>> = report
                .alarms
                .iter()
                .filter(|a| matches!(a.checked, Checked::Acted | Checked::Failed))
                .map(|a| match &a.outcome {
                    Some(outcome) => outcome.target.clone(),
                    None => a.target.clone(),
                })
                .collect();
            let (targets, failed) = self.reconcile(call, &acted).await;
            report.targets = targets;
            failures.extend(failed);
        }
        if failures.is_empty() {
            return Ok(report);
        }
        Err(Failure::Heartbeat {
            failures,
            checked: report.alarms.len() + report.targets.len(),
            targets: !report.targets.is_empty(),
            report: Box::new(report),
        })
    }

    /// The heartbeat's alarms: each one the routes name, checked and acted on when in ALARM.
    /// Fails only when they cannot be read; each action's failure is in `failures`.
    async fn heartbeat_alarms(
        &self,
        call: Call<'_>,
        report: &mut Heartbeat,
    ) -> Result<Vec<Failure>, Failure> {
        let mut failures = Vec::new();
        let names = self.routes.alarm_names();
        let Some(alarms) = &self.rearm else {
            report.note = Some(
                "REARM_ALARM=false: the heartbeat reads no alarms, since acting would leave them in ALARM"
                    .into(),
            );
            return Ok(failures);
        };
        if names.is_empty() {
            report.note = Some(
                "no alarms named: set TARGET_ALARMS (or \"alarms\" in SCALER_TARGETS) so the heartbeat can check them"
                    .into(),
            );
            return Ok(failures);
        }
        let described = with_backoff("reading the alarms", self.backoff, call.deadline, || {
            alarms.describe(&names)
        })
        .await
        .map_err(Failure::DescribeAlarms)?;
        let now = chrono::Utc::now();
        for name in &names {
            let Some(alarm) = described.iter().find(|a| a.name == *name) else {
                report
                    .alarms
                    .push(AlarmCheck::new(name, None, Checked::Missing));
                continue;
            };
            let state = Some(alarm.state.as_str());
            if !alarm.actions_enabled {
                report
                    .alarms
                    .push(AlarmCheck::new(name, state, Checked::ActionsDisabled));
                continue;
            }
            // The function's own ARN, as the report names it.
            if !alarm.invokes(&report.function) {
                report
                    .alarms
                    .push(AlarmCheck::new(name, state, Checked::NotThisFunction));
                continue;
            }
            let signal = match signal_from_described(alarm) {
                Ok(s) => s,
                Err(e) => {
                    let failure = Failure::from(e);
                    report.alarms.push(failed(name, state, &failure));
                    failures.push(failure);
                    continue;
                }
            };
            if signal.state != AlarmState::Alarm {
                report
                    .alarms
                    .push(AlarmCheck::new(name, state, Checked::NotInAlarm));
                continue;
            }
            let fresh = signal
                .time
                .is_some_and(|changed| (now - changed).to_std().unwrap_or_default() < self.grace);
            if fresh {
                report
                    .alarms
                    .push(AlarmCheck::new(name, state, Checked::Grace));
                continue;
            }
            match self.alarm(&signal, call.deadline).await {
                Ok(outcome) => report.alarms.push(AlarmCheck::acted(outcome)),
                Err(failure) => {
                    report.alarms.push(failed(name, state, &failure));
                    failures.push(failure);
                }
            }
        }
        Ok(failures)
    }

    /// Scale-up's heartbeat over every target that has queues of its own: read them, and wake
    /// or raise the target when its live backlog needs more ([`decide_reconcile`]). A target an
    /// alarm acted on in this heartbeat (`acted`) is left alone. At most
    /// [`TARGETS_IN_FLIGHT`] targets at once.
    async fn reconcile(
        &self,
        call: Call<'_>,
        acted: &[Option<String>],
    ) -> (Vec<TargetCheck>, Vec<Failure>) {
        // Placed first: where a new container places its targets now, each target is then
        // decided from the Deployment placing it read (a write still meets 409 Conflict if the
        // Deployment changed since), not read a second time.
        let pools_kept = self.node_pools.read().await.is_some();
        let (placed, mut reads) = self.place(None, call.deadline).await;
        if self.pools.rebalance && !placed.is_empty() && pools_kept {
            // The pools' sizes afresh, once for the beat; each target's rebalance reads them. A
            // new container's placement has just read them.
            let _ = self.refresh_node_pools().await;
        }
        let routes: Vec<(&Route, Option<Scale>)> = self
            .routes
            .routes()
            .iter()
            .filter(|route| {
                let name = route.target.to_string();
                !route.queues.is_empty() && !acted.iter().any(|t| t.as_deref() == Some(&name))
            })
            .map(|route| (route, reads.remove(&route.target.to_string())))
            .collect();
        let mut checked: Vec<(TargetCheck, Option<Failure>)> = stream::iter(routes)
            .map(|(route, read)| self.reconcile_target(route, read, call.deadline))
            .buffer_unordered(TARGETS_IN_FLIGHT)
            .collect()
            .await;
        checked.sort_by(|a, b| a.0.target.cmp(&b.0.target));
        let (checks, failures): (Vec<TargetCheck>, Vec<Option<Failure>>) =
            checked.into_iter().unzip();
        (checks, failures.into_iter().flatten().collect())
    }

    /// One target of [`Scaler::reconcile`]. Its queues must be read live: the heartbeat never
    /// scales from an alarm's old datapoint. `read`: its Deployment, where placing the targets
    /// has just read it.
    async fn reconcile_target(
        &self,
        route: &Route,
        read: Option<Scale>,
        deadline: Instant,
    ) -> (TargetCheck, Option<Failure>) {
        let target = &route.target;
        let seen = self
            .read_backlog(&route.live_queues(None), None, deadline)
            .await;
        let mut check = TargetCheck::new(target, &seen.backlog, seen.counts, self.dry_run);
        let Backlog::Live(live) = seen.backlog else {
            check.reason = format!(
                "{}; the heartbeat scales only from a live read",
                seen.fallback.as_deref().unwrap_or("no live backlog")
            );
            return (check, None);
        };
        // A donor on a short pool gives up one step while another target waits below its share.
        let donor = match self.rebalance(target, deadline).await {
            Ok(donor) => donor,
            Err(source) => {
                check.error = Some(chain(&source));
                let failure = Failure::Reconcile {
                    target: target.to_string(),
                    source,
                };
                return (check, Some(failure));
            }
        };
        match self
            .scale_from(
                target,
                deadline,
                (Trigger::Heartbeat, &seen),
                read.map(Ok),
                |current| match &donor {
                    Some((to, reason)) if *to < current => Decision {
                        desired: *to,
                        reason: reason.clone(),
                    },
                    _ => decide_reconcile(current, live, &target.policy),
                },
            )
            .await
        {
            Ok(step) => (
                TargetCheck {
                    from: Some(step.from),
                    to: Some(step.to),
                    applied: step.applied,
                    reason: step.reason,
                    event: step.event,
                    capacity: step.capacity.map(Box::new),
                    paused: step.paused,
                    ..check
                },
                None,
            ),
            Err(source) => {
                check.error = Some(chain(&source));
                let failure = Failure::Reconcile {
                    target: target.to_string(),
                    source,
                };
                (check, Some(failure))
            }
        }
    }
}

/// An alarm the heartbeat failed to act on, as its report shows it.
fn failed(name: &str, state: Option<&str>, failure: &Failure) -> AlarmCheck {
    AlarmCheck::failed(
        name,
        state,
        failure.target(),
        failure.class(),
        failure.message(),
    )
}
