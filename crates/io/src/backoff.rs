//! Bounded retries with exponential backoff and full jitter, stopping early enough to return
//! before the Lambda deadline. Only `Error::is_transient` failures are retried; a write's
//! retries also say whether an answer was lost ([`WriteFailed`]).

use crate::error::Error;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How hard to retry.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first delay's upper bound; it doubles each time.
    pub base: Duration,
    /// The largest delay.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
        }
    }
}

impl Backoff {
    /// The delay before retry number `n` (1-based): uniform in `0..=min(cap, base * 2^(n-1))`.
    pub(crate) fn delay(&self, n: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(n.saturating_sub(1)))
            .min(self.cap);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::random_range(0..=millis))
    }
}

/// Run `op` until it succeeds, fails for good, runs out of attempts, or the next delay would
/// pass `deadline`. `what` names the operation in the error.
pub async fn with_backoff<T, F, Fut>(
    what: &str,
    backoff: Backoff,
    deadline: Instant,
    op: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    write_with_backoff(what, backoff, deadline, op)
        .await
        .map_err(|failed| failed.last)
}

/// How a write retried by [`write_with_backoff`] failed.
#[derive(Debug)]
pub struct WriteFailed {
    /// The last attempt's error.
    pub last: Error,
    /// Whether any attempt's answer was lost (`Error::may_have_applied`): the write may have
    /// been applied even though the last attempt says otherwise (a resent write meets 409 when
    /// the first one was applied).
    pub lost: bool,
}

/// [`with_backoff`] for a write: on failure it says, beside the last error, whether an earlier
/// attempt's answer was lost, so the caller reads again before deciding anything.
pub async fn write_with_backoff<T, F, Fut>(
    what: &str,
    backoff: Backoff,
    deadline: Instant,
    mut op: F,
) -> Result<T, WriteFailed>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut attempt = 0;
    let mut lost = false;
    let failed = |last: Error, lost: bool| WriteFailed {
        lost: lost || last.may_have_applied(),
        last,
    };
    loop {
        attempt += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let result = match tokio::time::timeout(remaining, op()).await {
            Ok(r) => r,
            Err(_) => {
                let last = Error::OutOfTime {
                    what: what.to_owned(),
                    attempts: attempt,
                    last: Box::new(Error::Protocol {
                        url: what.to_owned(),
                        detail: "no answer before the deadline".into(),
                    }),
                };
                return Err(failed(last, lost));
            }
        };
        let err = match result {
            Ok(v) => return Ok(v),
            Err(e) if !e.is_transient() => return Err(failed(e, lost)),
            Err(e) => e,
        };
        lost |= err.may_have_applied();
        let delay = backoff.delay(attempt);
        if attempt >= backoff.attempts {
            return Err(failed(err, lost));
        }
        if Instant::now() + delay >= deadline {
            let last = Error::OutOfTime {
                what: what.to_owned(),
                attempts: attempt,
                last: Box::new(err),
            };
            return Err(failed(last, lost));
        }
        tracing::warn!(what, attempt, delay_ms = delay.as_millis() as u64, error = %err, "transient failure, retrying");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::KubeStatus;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn kube(code: u16) -> Error {
        Error::Kube {
            verb: crate::error::KubeVerb::Get,
            target: "ml/m".into(),
            status: KubeStatus {
                code,
                reason: "X".into(),
                message: "m".into(),
            },
        }
    }

    #[test]
    fn delays_grow_and_stay_under_the_cap() {
        let b = Backoff::default();
        for n in 1..20 {
            assert!(b.delay(n) <= b.cap);
        }
        assert!(b.delay(1) <= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let deadline = Instant::now() + Duration::from_secs(30);
        let got = with_backoff("get scale", Backoff::default(), deadline, || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(kube(503))
            } else {
                Ok(7)
            }
        })
        .await
        .unwrap();
        assert_eq!((got, calls.load(Ordering::SeqCst)), (7, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_are_not_retried() {
        let calls = AtomicU32::new(0);
        let deadline = Instant::now() + Duration::from_secs(30);
        let err = with_backoff("get scale", Backoff::default(), deadline, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(kube(403))
        })
        .await
        .unwrap_err();
        assert_eq!(
            (err.kube_code(), calls.load(Ordering::SeqCst)),
            (Some(403), 1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_before_the_deadline() {
        let backoff = Backoff {
            attempts: 100,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(1),
        };
        let deadline = Instant::now() + Duration::from_millis(1500);
        let err = with_backoff("put scale", backoff, deadline, || async {
            Err::<(), _>(kube(503))
        })
        .await
        .unwrap_err();
        assert!(matches!(err, Error::OutOfTime { .. }), "{err}");
        assert!(Instant::now() < deadline);
    }
}
