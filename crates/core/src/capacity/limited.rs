//! Capacity-limited: replicas the pool could not place. A pod that does not fit stays Pending,
//! so a target whose ready replicas stay below its spec long after a scale write is not raised.

use chrono::{DateTime, TimeDelta, Utc};

/// Whether a target is capacity-limited: `ready_replicas < spec_replicas` for longer than
/// `pending_seconds` (`CAPACITY_PENDING_SECONDS`) after `last_scale_write`, the time of
/// queue-scaler's last write to the scale (from `managedFields`).
///
/// With no known write time there is nothing to measure from: not limited. A write time in the
/// future (clock skew) is not limited either.
pub fn capacity_limited(
    ready_replicas: u32,
    spec_replicas: u32,
    last_scale_write: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    pending_seconds: u64,
) -> bool {
    let Some(written) = last_scale_write else {
        return false;
    };
    if ready_replicas >= spec_replicas {
        return false;
    }
    // A wait too long for a TimeDelta (hundreds of millions of years) never runs out.
    let Some(wait) = i64::try_from(pending_seconds)
        .ok()
        .and_then(TimeDelta::try_seconds)
    else {
        return false;
    };
    now.signed_duration_since(written) > wait
}
