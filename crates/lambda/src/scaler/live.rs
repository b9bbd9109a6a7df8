//! The live read: a target's queues read now (`GetQueueAttributes`, in parallel, within
//! [`LIVE_READ_BUDGET`]), and what the decision saw of the backlog ([`Seen`]): the live count, or
//! the alarm's datapoint standing in when the read cannot be made or fails.

use super::Scaler;
use crate::error_text::chain;
use futures_util::stream::{self, StreamExt as _};
use queue_scaler_core::{Backlog, QueueCounts};
use queue_scaler_io::backoff::with_backoff;
use queue_scaler_io::{AlarmRearm, QueueDepth, ScaleApi};
use std::time::Duration;
use tokio::time::Instant;

/// The most time the live read of a target's queues may take, retries included: past it the
/// alarm's datapoint stands in, and scaling keeps the rest of the invocation's time.
pub(crate) const LIVE_READ_BUDGET: Duration = Duration::from_secs(4);

/// Queues of one target read at once.
pub(crate) const QUEUES_IN_FLIGHT: usize = 4;

/// What a decision saw of the backlog: the number it decides from, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Seen {
    /// The number, live or the alarm's.
    pub(crate) backlog: Backlog,
    /// The live counts summed over the target's queues, when the read succeeded.
    pub(crate) counts: Option<QueueCounts>,
    /// Why the live read did not stand, when it did not.
    pub(crate) fallback: Option<String>,
}

impl<K: ScaleApi, R: AlarmRearm, Q: QueueDepth> Scaler<K, R, Q> {
    /// The live backlog of `queues`, read in parallel under `deadline` (and at most
    /// [`LIVE_READ_BUDGET`]); when there is none to read, no reader, or a read fails, the
    /// alarm's `datapoint` stands in and [`Seen::fallback`] says why.
    pub(crate) async fn read_backlog(
        &self,
        queues: &[&str],
        datapoint: Option<f64>,
        deadline: Instant,
    ) -> Seen {
        let fallback = |why: String| Seen {
            backlog: Backlog::Alarm(datapoint),
            counts: None,
            fallback: Some(why),
        };
        if queues.is_empty() {
            return fallback(
                "no queue to read (set TARGET_QUEUES, or \"queues\" in SCALER_TARGETS)".into(),
            );
        }
        let Some(reader) = &self.queues else {
            return fallback(
                "no AWS access to read the queues (AWS_REGION and credentials)".into(),
            );
        };
        let deadline = deadline.min(Instant::now() + LIVE_READ_BUDGET);
        let reads = stream::iter(queues.iter().map(|queue| async move {
            with_backoff("reading the queue", self.backoff, deadline, || {
                reader.counts(queue)
            })
            .await
            .map_err(|e| (queue, e))
        }))
        .buffer_unordered(QUEUES_IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
        let mut total = QueueCounts::default();
        for read in reads {
            match read {
                Ok(counts) => total = total + counts,
                Err((queue, e)) => {
                    let error = chain(&e);
                    tracing::warn!(queue = %queue, error = %error, "live read failed; the alarm's datapoint stands in");
                    return fallback(format!("reading queue {queue} failed ({error})"));
                }
            }
        }
        Seen {
            backlog: Backlog::Live(total.backlog()),
            counts: Some(total),
            fallback: None,
        }
    }
}
