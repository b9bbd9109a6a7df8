//! Why an invocation failed, typed: each variant keeps the error it came from, so its class is a
//! `match` and its message (with the re-arm sentence) is rendered here only, where the runtime's
//! diagnostic is built.

use crate::error_text::chain;
use crate::report::{Heartbeat, Rearm};
use lambda_runtime::Diagnostic;
use queue_scaler_core::{AlarmSignal, ConfigError, ErrorClass, IntakeError, RouteError};
use queue_scaler_io::Error as IoError;
use std::sync::Arc;

/// The sentence a failure's message ends with, saying what became of the re-arm.
fn sentence(rearm: &Rearm) -> String {
    match rearm {
        Rearm::Done => ". The alarm was set back to OK: its next evaluation tries again while the backlog persists".into(),
        Rearm::Failed(why) => format!(
            ". Setting the alarm back to OK failed too ({why}); the heartbeat acts on it while it stays in ALARM"
        ),
        Rearm::Disabled | Rearm::NotNeeded => String::new(),
    }
}

/// An invocation that failed, as the runtime reports it: the error type is [`Failure::class`],
/// the message is this value's `Display`, which never holds a key or token.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The event was refused: none of the shapes the functions take, or malformed.
    #[error("{}", chain(.0))]
    Intake(#[from] IntakeError),
    /// The configuration is invalid; every problem is listed.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Start-up could not build a client it needs.
    #[error("{}", chain(.0))]
    Startup(IoError),
    /// The alarm leads to no target.
    #[error("alarm {alarm:?}: {source}")]
    Route {
        /// The alarm that fired.
        alarm: String,
        /// Why it has no route.
        source: RouteError,
    },
    /// Reading or writing the target's scale failed.
    #[error("alarm {alarm:?}, target {target}: {}{}", chain(.source), sentence(.rearm))]
    Scale {
        /// The alarm that fired.
        alarm: String,
        /// `namespace/name`.
        target: String,
        /// What failed.
        source: Box<IoError>,
        /// What became of the re-arm that followed.
        rearm: Rearm,
    },
    /// Scale-up's heartbeat could not read or scale one target.
    #[error("target {target}: {}", chain(.source))]
    Reconcile {
        /// `namespace/name`.
        target: String,
        /// What failed.
        source: IoError,
    },
    /// The heartbeat could not read the alarms it checks.
    #[error("heartbeat: DescribeAlarms failed: {}", chain(.0))]
    DescribeAlarms(IoError),
    /// Some of the heartbeat's alarms or targets failed; the others were acted on.
    #[error(
        "heartbeat: {} of {checked} {} failed: {}",
        .failures.len(),
        if *.targets { "alarm(s) and target(s)" } else { "alarm(s)" },
        .failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Heartbeat {
        /// Each failure, in the order the alarms and targets were checked.
        failures: Vec<Failure>,
        /// Alarms and targets checked.
        checked: usize,
        /// Whether targets were checked too (scale-up).
        targets: bool,
        /// What the heartbeat did, failures included: its log lines are written from it.
        report: Box<Heartbeat>,
    },
    /// Re-arm is on, but the AWS settings it needs are not (configuration checks this first).
    #[error("REARM_ALARM is on but AWS_REGION or the AWS credentials are missing")]
    RearmWithoutAws,
    /// `{"action": "doctor"}` reached a handler without the deployed clients.
    #[error("the doctor runs in the deployed function only")]
    DoctorElsewhere,
    /// The function could not start; every invocation reports why, after re-arming its alarm.
    #[error("{cause}{}", sentence(.rearm))]
    Broken {
        /// Why start-up failed.
        cause: Arc<Failure>,
        /// The alarm that invoked it, when the event was one.
        signal: Option<Box<AlarmSignal>>,
        /// What became of the re-arm of that alarm.
        rearm: Rearm,
    },
}

impl Failure {
    /// Retryable, NonRetryable or Config: the error type Lambda reports.
    pub fn class(&self) -> ErrorClass {
        match self {
            Failure::Intake(e) => e.class(),
            Failure::Config(e) => e.class(),
            Failure::Route { source, .. } => source.class(),
            Failure::Scale { source, .. } => source.class(),
            Failure::Startup(e)
            | Failure::Reconcile { source: e, .. }
            | Failure::DescribeAlarms(e) => e.class(),
            Failure::Heartbeat { failures, .. } => failures
                .first()
                .map_or(ErrorClass::Retryable, Failure::class),
            Failure::DoctorElsewhere => ErrorClass::NonRetryable,
            Failure::RearmWithoutAws => ErrorClass::Config,
            Failure::Broken { cause, .. } => cause.class(),
        }
    }

    /// The message, as the runtime reports it.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The target the failure is about, when it is known.
    pub(crate) fn target(&self) -> Option<&str> {
        match self {
            Failure::Scale { target, .. } | Failure::Reconcile { target, .. } => Some(target),
            _ => None,
        }
    }

    /// The alarm the failure is about and the state it moved to, when it is known.
    pub(crate) fn alarm(&self) -> Option<(&str, String)> {
        match self {
            // Only an alarm in ALARM is routed and scaled.
            Failure::Route { alarm, .. } | Failure::Scale { alarm, .. } => {
                Some((alarm, queue_scaler_core::AlarmState::Alarm.to_string()))
            }
            Failure::Broken {
                signal: Some(s), ..
            } => Some((&s.alarm, s.state.to_string())),
            _ => None,
        }
    }
}

impl From<Failure> for Diagnostic {
    fn from(f: Failure) -> Self {
        Diagnostic {
            error_type: f.class().to_string(),
            error_message: f.message(),
        }
    }
}
