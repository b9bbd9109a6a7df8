//! One invocation as the runtime passes it: [`run`], the runtime loop, and
//! [`Function::handle`], the one way in for the binaries and every tool. It sets the deadline,
//! reads the event once, and hands it to the scaler ([`crate::scaler::Scaler::invoke`]), or, for
//! `{"action": "doctor"}`, to the doctor ([`crate::doctor`]); a function that could not start
//! answers with why ([`crate::function`]).

use crate::failure::Failure;
use crate::function::{Function, State};
use crate::log_lines::log;
use crate::report::Response;
use crate::scaler::Call;
use lambda_runtime::{service_fn, LambdaEvent};
use queue_scaler_core::alarm::{parse_invocation, Invocation};
use queue_scaler_core::Direction;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Time kept back from the Lambda deadline to report a result or an error.
const DEADLINE_MARGIN: Duration = Duration::from_millis(750);

/// Run a function: start up, then serve invocations until the runtime stops.
///
/// A configuration problem does not crash the process: every invocation returns it as a `Config`
/// error, so it shows in the invoke result and the logs, with every problem listed.
pub async fn run(direction: Direction) -> Result<(), lambda_runtime::Error> {
    crate::function::init_logging();
    let function = Arc::new(Function::from_env(direction).await);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let function = Arc::clone(&function);
        async move { function.handle(event).await }
    }))
    .await
}

impl Function {
    /// Handle one invocation as the runtime passes it: an alarm in any of its shapes, the
    /// heartbeat, or `{"action": "doctor"}`. Writes the invocation's log lines.
    pub async fn handle(&self, event: LambdaEvent<serde_json::Value>) -> Result<Response, Failure> {
        let LambdaEvent { payload, context } = event;
        let remaining = time_left(context.deadline());
        let call = Call {
            deadline: Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN),
            request_id: &context.request_id,
            function_arn: &context.invoked_function_arn,
        };
        match (&self.state, parse_invocation(&payload)) {
            (State::Ready(scaler), Ok(Invocation::Doctor)) => {
                Ok(Response::Doctor(scaler.doctor(call).await))
            }
            (State::Ready(scaler), invocation) => scaler.invoke(invocation, call).await,
            (State::Broken(broken), Ok(Invocation::Doctor)) => Ok(Response::Doctor(
                crate::report::doctor::Report::broken(self.direction, &broken.failure.message()),
            )),
            (State::Broken(broken), _) => {
                let result = Err(broken.respond(self.direction, &payload).await);
                log(self.direction, &result, call.request_id);
                result
            }
        }
    }
}

/// Time left until the invocation's deadline.
///
/// Lambda sends the deadline as milliseconds since the epoch. The runtime emulator
/// (`cargo lambda watch`) sends the timeout itself (e.g. 600000): a "deadline" less than a day
/// after the epoch is read as time from now.
fn time_left(deadline: SystemTime) -> Duration {
    time_left_at(deadline, SystemTime::now())
}

/// [`time_left`] as seen at `now`.
fn time_left_at(deadline: SystemTime, now: SystemTime) -> Duration {
    match deadline.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(relative) if relative < Duration::from_secs(86_400) => relative,
        _ => deadline.duration_since(now).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function::context;

    #[test]
    fn an_absolute_deadline_counts_from_now() {
        // A real deadline: milliseconds since the epoch, years after it.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        assert_eq!(
            time_left_at(now + Duration::from_secs(30), now),
            Duration::from_secs(30)
        );
        assert_eq!(
            time_left_at(now - Duration::from_secs(5), now),
            Duration::ZERO
        );
    }

    #[test]
    fn the_emulators_relative_deadline_is_the_time_left() {
        let left = time_left(SystemTime::UNIX_EPOCH + Duration::from_millis(600_000));
        assert_eq!(left, Duration::from_secs(600));
    }

    #[test]
    fn a_tools_context_has_its_deadline_ahead() {
        let context = context(
            "r",
            "arn:aws:lambda:r:1:function:f",
            Duration::from_secs(30),
        );
        let left = time_left(context.deadline());
        assert!(
            left > Duration::from_secs(25) && left <= Duration::from_secs(30),
            "{left:?}"
        );
    }
}
