//! The Kubernetes Event (`events.k8s.io/v1`) that records one scale on its Deployment, as the
//! Horizontal Pod Autoscaler records its own: built as a plain value ([`ScaleEvent`],
//! [`create_event_request`]); [`super::KubeScaleApi`] sends it. No I/O.

use crate::error::{built, Error};
use queue_scaler_core::Target;
use serde_json::{json, Value};

/// `reportingController` of every Event the functions create.
pub(crate) const REPORTING_CONTROLLER: &str = "queue-scaler";

/// `action` of every Event the functions create.
pub(crate) const ACTION: &str = "Scale";

/// The API server refuses a longer `note`.
pub(crate) const NOTE_LIMIT: usize = 1024;

/// The API server refuses a longer `reportingInstance`.
pub(crate) const INSTANCE_LIMIT: usize = 128;

/// One scale, as the Event on the Deployment tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleEvent {
    /// Replicas before the write.
    pub from: i32,
    /// Replicas written.
    pub to: i32,
    /// Why, for people: the trigger, the backlog and its source, and `from -> to`.
    pub note: String,
    /// Which function reported it (`reportingInstance`).
    pub instance: String,
    /// The Deployment's uid, when the scale read gave it: `kubectl describe deployment` lists only
    /// the Events whose `regarding.uid` is the Deployment's.
    pub uid: Option<String>,
    /// When the write was applied.
    pub time: chrono::DateTime<chrono::Utc>,
    /// A raise refused because the target is capacity-limited (its replicas stay unready):
    /// a `Warning` Event, `CapacityLimited`, with `from` and `to` equal.
    pub limited: bool,
}

impl ScaleEvent {
    /// `ScaledUp` or `ScaledDown`; `CapacityLimited` for a raise the cluster could not place.
    pub fn reason(&self) -> &'static str {
        if self.limited {
            "CapacityLimited"
        } else if self.to > self.from {
            "ScaledUp"
        } else {
            "ScaledDown"
        }
    }

    /// A name no other Event has: the Deployment's, then the time in hex nanoseconds, as
    /// client-go's recorder names its Events.
    pub fn name(&self, target: &Target) -> String {
        let nanos = self.time.timestamp_nanos_opt().unwrap_or_default();
        format!("{}.{nanos:x}", target.deployment)
    }

    /// The `events.k8s.io/v1` Event: `eventTime` in microseconds, as the API requires (a
    /// `MicroTime`), and the old core fields (`count`, `source`, first and last timestamps)
    /// left out, which the API refuses on create.
    pub fn body(&self, target: &Target) -> Value {
        let mut regarding = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "namespace": target.namespace,
            "name": target.deployment,
        });
        if let Some(uid) = &self.uid {
            regarding["uid"] = uid.as_str().into();
        }
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": self.name(target), "namespace": target.namespace},
            "eventTime": self.time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "type": if self.limited { "Warning" } else { "Normal" },
            "reason": self.reason(),
            "action": ACTION,
            "note": truncated(&self.note, NOTE_LIMIT),
            "reportingController": REPORTING_CONTROLLER,
            "reportingInstance": truncated(&self.instance, INSTANCE_LIMIT),
            "regarding": regarding,
        })
    }
}

/// `text` cut to at most `limit` bytes, at a character boundary.
fn truncated(text: &str, limit: usize) -> &str {
    let mut end = text.len().min(limit);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The collection Events of a namespace are created in.
pub(crate) fn events_path(namespace: &str) -> String {
    format!("/apis/events.k8s.io/v1/namespaces/{namespace}/events")
}

/// `POST` the Event of one scale of `target`.
pub(crate) fn create_event_request(
    base: &str,
    target: &Target,
    event: &ScaleEvent,
) -> Result<http::Request<Vec<u8>>, Error> {
    let url = format!("{base}{}", events_path(&target.namespace));
    built(
        &url,
        http::Request::post(&url)
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(event.body(target).to_string().into_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::fixtures::test_target as target;

    fn event(from: i32, to: i32) -> ScaleEvent {
        ScaleEvent {
            from,
            to,
            note: "alarm model-worker-backlog-high: backlog 650 (live); 2 -> 7".into(),
            instance: "qs-scale-up".into(),
            uid: Some("3f6c".into()),
            time: chrono::DateTime::parse_from_rfc3339("2026-11-28T10:00:00.123456789Z")
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or_default(),
            limited: false,
        }
    }

    fn body_of(r: &http::Request<Vec<u8>>) -> Value {
        serde_json::from_slice(r.body()).unwrap_or_default()
    }

    #[test]
    fn the_event_is_posted_to_the_namespaces_events_as_json() {
        let r = create_event_request("https://10.0.0.1", &target(), &event(2, 7))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(
            r.uri(),
            "https://10.0.0.1/apis/events.k8s.io/v1/namespaces/ml/events"
        );
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["accept"], "application/json");
    }

    #[test]
    fn a_scale_up_is_a_normal_scaled_up_event_regarding_the_deployment() {
        let r = create_event_request("https://10.0.0.1", &target(), &event(2, 7))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            body_of(&r),
            json!({
                "apiVersion": "events.k8s.io/v1",
                "kind": "Event",
                "metadata": {"name": "model-worker.18ec2d27bdb10d15", "namespace": "ml"},
                "eventTime": "2026-11-28T10:00:00.123456Z",
                "type": "Normal",
                "reason": "ScaledUp",
                "action": "Scale",
                "note": "alarm model-worker-backlog-high: backlog 650 (live); 2 -> 7",
                "reportingController": "queue-scaler",
                "reportingInstance": "qs-scale-up",
                "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "ml",
                    "name": "model-worker", "uid": "3f6c"},
            })
        );
    }

    #[test]
    fn a_scale_down_is_scaled_down_and_a_deployment_without_uid_is_named_only() {
        let e = ScaleEvent {
            uid: None,
            ..event(3, 2)
        };
        let body = e.body(&target());
        assert_eq!(body["reason"], "ScaledDown");
        assert_eq!(
            body["regarding"],
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "ml", "name": "model-worker"})
        );
    }

    #[test]
    fn a_raise_the_cluster_could_not_place_is_a_capacity_limited_warning() {
        let e = ScaleEvent {
            limited: true,
            ..event(4, 4)
        };
        let body = e.body(&target());
        assert_eq!(body["type"], "Warning");
        assert_eq!(body["reason"], "CapacityLimited");
        assert_eq!(event(2, 7).body(&target())["type"], "Normal");
    }

    #[test]
    fn a_note_or_instance_too_long_for_the_api_is_cut_at_a_character_boundary() {
        let e = ScaleEvent {
            note: "é".repeat(NOTE_LIMIT),
            instance: "x".repeat(200),
            ..event(2, 3)
        };
        let body = e.body(&target());
        let note = body["note"].as_str().unwrap_or_default();
        assert!(
            note.len() <= NOTE_LIMIT && note.len() >= NOTE_LIMIT - 1,
            "{}",
            note.len()
        );
        assert_eq!(
            body["reportingInstance"].as_str().map(str::len),
            Some(INSTANCE_LIMIT)
        );
    }

    #[test]
    fn two_scales_a_moment_apart_have_different_names() {
        let a = event(2, 3);
        let b = ScaleEvent {
            time: a.time + chrono::Duration::microseconds(1),
            ..a.clone()
        };
        assert_ne!(a.name(&target()), b.name(&target()));
    }
}
