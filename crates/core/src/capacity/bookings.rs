//! What a pool's Lease records: for each target, the replicas its last raise booked and when.
//! Two raises on one pool, run at once, each book before they write, with a compare-and-swap on
//! the Lease: the second sees the first's booking, so the pool is never overbooked. A booking
//! counts for [`BOOKING_TTL`] after it was made (a write follows it within the invocation);
//! after that what the target holds in the cluster is the truth again. Pure.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The Lease annotation that holds the bookings, as JSON.
pub const BOOKINGS_ANNOTATION: &str = "queue-scaler.io/bookings";

/// The Lease annotation that records, for each target, when its last raise was booked (and
/// written just after), as JSON: kept past the bookings' time to live, since the API server does
/// not time a write to the `scale` subresource in `managedFields`. A target whose replicas stay
/// unready that long after it is capacity-limited.
pub const RAISED_ANNOTATION: &str = "queue-scaler.io/raised";

/// When each target's last raise was booked, by target (`namespace/name`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Raised(BTreeMap<String, DateTime<Utc>>);

impl Raised {
    /// Read the annotation's JSON; an absent or unreadable one records nothing.
    pub fn parse(annotation: Option<&str>) -> Raised {
        annotation
            .and_then(|a| serde_json::from_str(a).ok())
            .unwrap_or_default()
    }

    /// The annotation's JSON.
    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Record that `target`'s raise was booked at `at`.
    pub fn record(&mut self, target: &str, at: DateTime<Utc>) {
        self.0.insert(target.to_owned(), at);
    }

    /// When `target`'s last raise was booked, if one was.
    pub fn at(&self, target: &str) -> Option<DateTime<Utc>> {
        self.0.get(target).copied()
    }
}

/// How long a booking counts: past it, a raise whose write never came no longer holds GPUs.
pub(crate) const BOOKING_TTL: Duration = Duration::seconds(120);

/// One target's booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// The replicas the raise set.
    pub replicas: u32,
    /// When it was booked.
    pub at: DateTime<Utc>,
}

/// The bookings of one pool, by target (`namespace/name`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bookings(BTreeMap<String, Booking>);

impl Bookings {
    /// Read the annotation's JSON; an absent, empty or unreadable one is no booking (the
    /// cluster's replicas then decide alone, as before any booking).
    pub fn parse(annotation: Option<&str>) -> Bookings {
        annotation
            .and_then(|a| serde_json::from_str(a).ok())
            .unwrap_or_default()
    }

    /// The annotation's JSON.
    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// What `target` counts as holding at `now`: what the cluster says it holds, or its booking
    /// while that is fresh and larger.
    pub fn holds(&self, target: &str, in_cluster: u32, now: DateTime<Utc>) -> u32 {
        match self.0.get(target) {
            Some(b) if now - b.at < BOOKING_TTL && b.at <= now + BOOKING_TTL => {
                in_cluster.max(b.replicas)
            }
            _ => in_cluster,
        }
    }

    /// Book `replicas` for `target` at `now`, and drop the bookings that no longer count.
    pub fn book(&mut self, target: &str, replicas: u32, now: DateTime<Utc>) {
        self.0.retain(|_, b| now - b.at < BOOKING_TTL);
        self.0
            .insert(target.to_owned(), Booking { replicas, at: now });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn a_fresh_booking_holds_gpus_until_the_write_shows_in_the_cluster() {
        let mut b = Bookings::default();
        b.book("ml/text-model", 3, at(0));
        assert_eq!(b.holds("ml/text-model", 1, at(5)), 3);
        assert_eq!(
            b.holds("ml/text-model", 4, at(5)),
            4,
            "the cluster's larger count wins"
        );
        assert_eq!(b.holds("ml/image-model", 2, at(5)), 2);
    }

    #[test]
    fn a_booking_whose_write_never_came_stops_counting_after_its_ttl() {
        let mut b = Bookings::default();
        b.book("ml/text-model", 3, at(0));
        assert_eq!(b.holds("ml/text-model", 1, at(121)), 1);
        b.book("ml/image-model", 1, at(200));
        assert!(
            !b.0.contains_key("ml/text-model"),
            "expired bookings are dropped"
        );
    }

    #[test]
    fn the_raise_times_round_trip_and_garbage_records_nothing() {
        let mut r = Raised::default();
        r.record("ml/text-model", at(7));
        assert_eq!(r.at("ml/text-model"), Some(at(7)));
        assert_eq!(r.at("ml/image-model"), None);
        assert_eq!(Raised::parse(Some(&r.to_annotation())), r);
        assert_eq!(Raised::parse(Some("[1, 2]")), Raised::default());
    }

    #[test]
    fn the_annotation_round_trips_and_garbage_is_no_booking() {
        let mut b = Bookings::default();
        b.book("ml/text-model", 3, at(0));
        assert_eq!(Bookings::parse(Some(&b.to_annotation())), b);
        assert_eq!(Bookings::parse(Some("not json")), Bookings::default());
        assert_eq!(Bookings::parse(None), Bookings::default());
    }
}
