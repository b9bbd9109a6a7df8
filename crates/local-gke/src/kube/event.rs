//! Events on the cluster listener: `POST /apis/events.k8s.io/v1/namespaces/{ns}/events`, with
//! bearer authentication, the Role's Events rule (`create` on `events` in `events.k8s.io` in the
//! namespace, any name), and the checks kube-apiserver makes of an `events.k8s.io/v1` Event
//! (k8s.io/kubernetes `pkg/apis/core/validation/events.go`). The Events are kept in the shared
//! state for the admin API to list. No I/O beyond the shared state.

use hyper::StatusCode;
use serde_json::Value;

use super::request_info::ResourceRequest;
use super::review::decode;
use super::status::Status;
use crate::app::App;
use crate::http::{json_response, Request, Response};
use crate::model::rbac::Attributes;

const GROUP: &str = "events.k8s.io";
const KIND: &str = "Event";

/// The longest `reason`, `action` and `reportingInstance` the API server takes.
const FIELD_LIMIT: usize = 128;
/// The longest `note`.
const NOTE_LIMIT: usize = 1024;

/// Creates an Event in `namespace`: 401 without a live token, 403 without the Events rule, 400
/// for a body that is not an Event of this namespace, 422 for one kube-apiserver would refuse,
/// 409 for a name taken; else 201 with the Event as stored.
pub(crate) fn create(app: &App, request: &Request, namespace: &str) -> Result<Response, Status> {
    let identity = app
        .bearer_identity(request)
        .ok_or_else(Status::unauthorized)?;
    let attributes = Attributes {
        verb: "create",
        group: GROUP,
        namespace,
        resource: "events",
        ..Attributes::default()
    };
    if !app.state.authorization().allows(&identity, &attributes) {
        return Err(Status::forbidden_resource(
            &identity,
            &ResourceRequest {
                verb: "create",
                group: GROUP,
                namespace: Some(namespace),
                resource: "events",
                name: None,
                subresource: None,
            },
        ));
    }
    let event = decode(request, KIND, GROUP)?;
    check(&event, namespace)?;
    let stored = app
        .state
        .cluster()
        .create_event(namespace, event)
        .map_err(|name| Status::already_exists(GROUP, "events", &name))?;
    Ok(json_response(StatusCode::CREATED, &stored))
}

/// What kube-apiserver checks of an `events.k8s.io/v1` Event on create; the first problem.
fn check(event: &Value, namespace: &str) -> Result<(), Status> {
    let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str).unwrap_or("");
    let invalid = |field: &str, body: String| Err(Status::invalid(KIND, GROUP, field, &body));
    let given_namespace = text("/metadata/namespace");
    if !given_namespace.is_empty() && given_namespace != namespace {
        return Err(Status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
                .to_owned(),
        ));
    }
    if text("/metadata/name").is_empty() && text("/metadata/generateName").is_empty() {
        return invalid(
            "metadata.name",
            "Required value: name or generateName is required".to_owned(),
        );
    }
    let time = text("/eventTime");
    if time.is_empty() {
        return invalid("eventTime", "Required value".to_owned());
    }
    if !is_micro_time(time) {
        return Err(Status::bad_request(format!(
            "{KIND} in version \"v1\" cannot be handled as a {KIND}: parsing time {time:?} as \
             \"2006-01-02T15:04:05.000000Z07:00\": cannot parse"
        )));
    }
    let kind = text("/type");
    if kind != "Normal" && kind != "Warning" {
        return invalid(
            "type",
            format!("Invalid value: \"\": has invalid value: {kind}"),
        );
    }
    for field in [
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
    ] {
        let value = text(&format!("/{field}"));
        if value.is_empty() {
            return invalid(field, "Required value".to_owned());
        }
        if field != "reportingController" && value.len() > FIELD_LIMIT {
            return invalid(
                field,
                format!("Too long: must have at most {FIELD_LIMIT} bytes"),
            );
        }
    }
    if text("/note").len() > NOTE_LIMIT {
        return invalid(
            "note",
            format!("Too long: must have at most {NOTE_LIMIT} bytes"),
        );
    }
    let regarding = text("/regarding/namespace");
    if regarding != namespace {
        return invalid(
            "regarding.namespace",
            format!("Invalid value: {regarding:?}: does not match event.namespace"),
        );
    }
    for field in [
        "deprecatedFirstTimestamp",
        "deprecatedLastTimestamp",
        "deprecatedCount",
        "deprecatedSource",
    ] {
        if event.get(field).is_some_and(|v| !v.is_null()) {
            return invalid(field, "Invalid value: \"\": needs to be unset".to_owned());
        }
    }
    Ok(())
}

/// A `MicroTime` as the API server parses it: RFC 3339 with exactly six fractional digits.
fn is_micro_time(text: &str) -> bool {
    let Some((_, fraction)) = text.split_once('.') else {
        return false;
    };
    let digits = fraction.chars().take_while(char::is_ascii_digit).count();
    digits == 6 && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "w.1", "namespace": "ml"},
            "eventTime": "2026-11-28T10:00:00.123456Z",
            "type": "Normal", "reason": "ScaledUp", "action": "Scale", "note": "2 -> 3",
            "reportingController": "queue-scaler", "reportingInstance": "scale-up",
            "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "ml", "name": "w"},
        })
    }

    fn refused(mut change: impl FnMut(&mut Value)) -> Value {
        let mut e = event();
        change(&mut e);
        let status = check(&e, "ml").expect_err("refused");
        serde_json::to_value(status).unwrap_or_default()
    }

    #[test]
    fn an_event_as_the_functions_send_it_is_accepted() {
        assert!(check(&event(), "ml").is_ok());
    }

    #[test]
    fn an_event_time_without_microseconds_cannot_be_decoded() {
        for time in ["2026-11-28T10:00:00Z", "2026-11-28T10:00:00.123Z"] {
            let status = refused(|e| e["eventTime"] = time.into());
            assert_eq!(status["code"], 400, "{time}");
        }
    }

    #[test]
    fn missing_or_invalid_fields_are_invalid_with_their_field() {
        let cases: [(&str, Value); 6] = [
            ("eventTime", Value::Null),
            ("type", "Fine".into()),
            ("reportingController", Value::Null),
            ("reportingInstance", "".into()),
            ("action", Value::Null),
            ("note", "x".repeat(NOTE_LIMIT + 1).into()),
        ];
        for (field, value) in cases {
            let status = refused(|e| e[field] = value.clone());
            assert_eq!(status["code"], 422, "{field}");
            assert_eq!(status["details"]["causes"][0]["field"], field);
        }
        let status = refused(|e| e["regarding"]["namespace"] = "other".into());
        assert_eq!(status["code"], 422);
        let status = refused(|e| e["deprecatedCount"] = 1.into());
        assert_eq!(status["code"], 422);
    }

    #[test]
    fn an_event_for_another_namespace_is_a_bad_request() {
        let status = refused(|e| e["metadata"]["namespace"] = "other".into());
        assert_eq!(status["code"], 400);
    }
}
