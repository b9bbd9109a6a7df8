//! `coordination.k8s.io/v1` Leases: what is kept of each, how a body is read (as kube-apiserver
//! decodes one into a `v1.Lease`), what is validated (`pkg/apis/coordination/validation`), and
//! the compare-and-swap of a `PUT` as kube-apiserver's generic store runs it for a resource
//! whose strategy allows create on update and refuses unconditional updates
//! (`pkg/registry/coordination/lease/strategy.go`, `registry/generic/registry/store.go`). No I/O:
//! the caller supplies the resource version, uid and time a write stamps.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

/// The API group.
pub(crate) const GROUP: &str = "coordination.k8s.io";
/// The resource, as RBAC and the errors name it.
pub(crate) const RESOURCE: &str = "leases";
/// The kind.
pub(crate) const KIND: &str = "Lease";

/// Go's `time.RFC3339Micro`-style layout of `metav1.MicroTime`, as Go's parse errors quote it.
const MICRO_TIME_LAYOUT: &str = "2006-01-02T15:04:05.000000Z07:00";

/// A Lease's `spec`, field by field (`v1.LeaseSpec`); absent fields are left out, as the API
/// server leaves out nil pointers. Times are `MicroTime`s, kept as the API server writes them
/// back: UTC, six fractional digits, `Z`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LeaseSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquire_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renew_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_transitions: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_holder: Option<String>,
}

/// What a write sets, and a Lease keeps as written: its labels, annotations and spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LeaseContent {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub spec: LeaseSpec,
}

/// A Lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lease {
    pub uid: String,
    pub creation_timestamp: String,
    pub resource_version: u64,
    pub content: LeaseContent,
}

impl Lease {
    /// The `coordination.k8s.io/v1` Lease as the API server answers it.
    pub(crate) fn to_json(&self, namespace: &str, name: &str) -> Value {
        let mut metadata = json!({
            "name": name,
            "namespace": namespace,
            "uid": self.uid,
            "resourceVersion": self.resource_version.to_string(),
            "creationTimestamp": self.creation_timestamp,
        });
        if !self.content.labels.is_empty() {
            metadata["labels"] = json!(self.content.labels);
        }
        if !self.content.annotations.is_empty() {
            metadata["annotations"] = json!(self.content.annotations);
        }
        json!({
            "kind": KIND,
            "apiVersion": format!("{GROUP}/v1"),
            "metadata": metadata,
            // Not a pointer in `v1.Lease`: `{}` when empty, never left out.
            "spec": self.content.spec,
        })
    }
}

/// A Lease body, decoded: what `checkName` and the preconditions read, and the content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LeaseBody {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub resource_version: String,
    pub content: LeaseContent,
}

impl LeaseBody {
    /// Reads a JSON object as the API server decodes it into a `v1.Lease`: `null` is absent,
    /// unknown fields are dropped, and a field of the wrong type or a time not in `MicroTime`'s
    /// format is refused with Go's message (the detail of a 400 "cannot be handled as a Lease").
    pub(crate) fn decode(body: &Map<String, Value>) -> Result<Self, String> {
        let empty = Map::new();
        let metadata =
            object(body.get("metadata"), "Lease", "metadata", "v1.ObjectMeta")?.unwrap_or(&empty);
        let meta_text =
            |key: &str| text(metadata.get(key), "ObjectMeta", &format!("metadata.{key}"));
        let spec = match object(body.get("spec"), "Lease", "spec", "v1.LeaseSpec")? {
            Some(spec) => decode_spec(spec)?,
            None => LeaseSpec::default(),
        };
        Ok(LeaseBody {
            name: meta_text("name")?.unwrap_or_default(),
            namespace: meta_text("namespace")?.unwrap_or_default(),
            uid: meta_text("uid")?.unwrap_or_default(),
            resource_version: meta_text("resourceVersion")?.unwrap_or_default(),
            content: LeaseContent {
                labels: string_map(metadata.get("labels"), "metadata.labels")?,
                annotations: string_map(metadata.get("annotations"), "metadata.annotations")?,
                spec,
            },
        })
    }
}

fn decode_spec(spec: &Map<String, Value>) -> Result<LeaseSpec, String> {
    let field = |key: &str| format!("spec.{key}");
    let spec_text = |key: &str| text(spec.get(key), "LeaseSpec", &field(key));
    let spec_int32 = |key: &str| int32(spec.get(key), "LeaseSpec", &field(key));
    let time = |key: &str| match spec.get(key) {
        None | Some(Value::Null) => Ok(None),
        // `MicroTime.UnmarshalJSON` reports its own errors, without the field.
        Some(Value::String(text)) => parse_micro_time(text).map(Some),
        Some(other) => Err(format!(
            "json: cannot unmarshal {} into Go value of type string",
            json_type(other)
        )),
    };
    Ok(LeaseSpec {
        holder_identity: spec_text("holderIdentity")?,
        lease_duration_seconds: spec_int32("leaseDurationSeconds")?,
        acquire_time: time("acquireTime")?,
        renew_time: time("renewTime")?,
        lease_transitions: spec_int32("leaseTransitions")?,
        strategy: spec_text("strategy")?,
        preferred_holder: spec_text("preferredHolder")?,
    })
}

/// The name Go's `encoding/json` gives a JSON value's type in an `UnmarshalTypeError`.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Go's `UnmarshalTypeError` message.
fn type_error(value: &str, strukt: &str, field: &str, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal {value} into Go struct field {strukt}.{field} of type {go_type}"
    )
}

fn object<'a>(
    value: Option<&'a Value>,
    strukt: &str,
    field: &str,
    go_type: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(type_error(json_type(other), strukt, field, go_type)),
    }
}

fn text(value: Option<&Value>, strukt: &str, field: &str) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(type_error(json_type(other), strukt, field, "string")),
    }
}

fn int32(value: Option<&Value>, strukt: &str, field: &str) -> Result<Option<i32>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| type_error(&format!("number {number}"), strukt, field, "int32")),
        Some(other) => Err(type_error(json_type(other), strukt, field, "int32")),
    }
}

fn string_map(value: Option<&Value>, field: &str) -> Result<BTreeMap<String, String>, String> {
    let Some(map) = object(value, "ObjectMeta", field, "map[string]string")? else {
        return Ok(BTreeMap::new());
    };
    map.iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key.clone(), text.clone())),
            // A null element of a map is the element type's zero value.
            Value::Null => Ok((key.clone(), String::new())),
            other => Err(type_error(json_type(other), "ObjectMeta", field, "string")),
        })
        .collect()
}

/// Reads a `metav1.MicroTime` as Go's `time.Parse` reads it with the layout
/// `2006-01-02T15:04:05.000000Z07:00`: exactly six fractional digits, `Z` or a `±hh:mm` offset.
/// Answers the instant as the API server writes it back (in UTC), or Go's error.
pub(crate) fn parse_micro_time(text: &str) -> Result<String, String> {
    let cannot = |value: &str, element: &str| {
        format!(
            "parsing time {text:?} as {MICRO_TIME_LAYOUT:?}: cannot parse {value:?} as {element:?}"
        )
    };
    let out_of_range = |what: &str| format!("parsing time {text:?}: {what} out of range");
    // (separator before it, element, fixed width): Go's hour ("15") takes one or two digits.
    let elements: [(&str, &str, bool); 6] = [
        ("", "2006", true),
        ("-", "01", true),
        ("-", "02", true),
        ("T", "15", false),
        (":", "04", true),
        (":", "05", true),
    ];
    let mut rest = text;
    let mut numbers = [0u32; 6];
    for (index, (separator, element, fixed)) in elements.into_iter().enumerate() {
        rest = rest
            .strip_prefix(separator)
            .ok_or_else(|| cannot(rest, separator))?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let width = match (element.len(), fixed) {
            (want, true) if digits >= want => want,
            (_, false) if digits >= 1 => digits.min(2),
            _ => return Err(cannot(rest, element)),
        };
        numbers[index] = rest[..width].parse().map_err(|_| cannot(rest, element))?;
        rest = &rest[width..];
        let limit = match index {
            1 => Some((1, 12, "month")),
            3 => Some((0, 23, "hour")),
            4 => Some((0, 59, "minute")),
            5 => Some((0, 59, "second")),
            _ => None,
        };
        if let Some((low, high, what)) = limit {
            if !(low..=high).contains(&numbers[index]) {
                return Err(out_of_range(what));
            }
        }
    }
    let fraction = rest
        .strip_prefix(&['.', ','][..])
        .and_then(|after| after.get(..6))
        .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| cannot(rest, ".000000"))?;
    let micros: u32 = fraction.parse().map_err(|_| cannot(rest, ".000000"))?;
    rest = &rest[7..];
    let offset_seconds = if let Some(after) = rest.strip_prefix('Z') {
        rest = after;
        0
    } else {
        let zone = rest
            .get(..6)
            .filter(|zone| {
                let bytes = zone.as_bytes();
                matches!(bytes[0], b'+' | b'-')
                    && bytes[3] == b':'
                    && [1, 2, 4, 5].iter().all(|&i| bytes[i].is_ascii_digit())
            })
            .ok_or_else(|| cannot(rest, "Z07:00"))?;
        let hours: i32 = zone[1..3].parse().map_err(|_| cannot(rest, "Z07:00"))?;
        let minutes: i32 = zone[4..6].parse().map_err(|_| cannot(rest, "Z07:00"))?;
        if hours > 24 {
            return Err(out_of_range("time zone offset hour"));
        }
        if minutes > 60 {
            return Err(out_of_range("time zone offset minute"));
        }
        rest = &rest[6..];
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        sign * (hours * 3600 + minutes * 60)
    };
    if !rest.is_empty() {
        return Err(format!("parsing time {text:?}: extra text: {rest:?}"));
    }
    let [year, month, day, hour, minute, second] = numbers;
    let date = i32::try_from(year)
        .ok()
        .and_then(|year| chrono::NaiveDate::from_ymd_opt(year, month, day))
        .ok_or_else(|| out_of_range("day"))?;
    let time = chrono::NaiveTime::from_hms_micro_opt(hour, minute, second, micros)
        .ok_or_else(|| out_of_range("second"))?;
    let utc = date.and_time(time) - chrono::TimeDelta::seconds(i64::from(offset_seconds));
    Ok(utc.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}

/// One problem validation finds: the field and Kubernetes' `ErrorBody` (`Invalid value: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub field: &'static str,
    pub body: String,
}

/// `ValidateLeaseSpec`: a positive `leaseDurationSeconds`, a non-negative `leaseTransitions`.
fn spec_problems(spec: &LeaseSpec) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if let Some(seconds) = spec.lease_duration_seconds.filter(|s| *s <= 0) {
        problems.push(FieldError {
            field: "spec.leaseDurationSeconds",
            body: format!("Invalid value: {seconds}: must be greater than 0"),
        });
    }
    if let Some(transitions) = spec.lease_transitions.filter(|t| *t < 0) {
        problems.push(FieldError {
            field: "spec.leaseTransitions",
            body: format!("Invalid value: {transitions}: must be greater than or equal to 0"),
        });
    }
    problems
}

/// What validation finds wrong with a Lease about to be created: its name must be a DNS
/// subdomain (`ValidateObjectMeta` with `NameIsDNSSubdomain`), and its spec valid.
pub(crate) fn create_problems(name: &str, content: &LeaseContent) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if !is_dns_subdomain(name) {
        problems.push(FieldError {
            field: "metadata.name",
            body: format!(
                "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower \
                 case alphanumeric characters, '-' or '.', and must start and end with an \
                 alphanumeric character (e.g. 'example.com', regex used for validation is \
                 '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ),
        });
    }
    problems.extend(spec_problems(&content.spec));
    problems
}

/// What validation finds wrong with a Lease's update (`ValidateLeaseUpdate`).
pub(crate) fn update_problems(content: &LeaseContent) -> Vec<FieldError> {
    spec_problems(&content.spec)
}

fn is_dns_subdomain(name: &str) -> bool {
    let label = |part: &str| {
        let bytes = part.as_bytes();
        !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
    };
    name.len() <= 253 && name.split('.').all(label)
}

/// Why a `PUT` of a Lease is refused, in the order kube-apiserver finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `metadata.uid` is given and is not the stored Lease's (empty when there is none): 409.
    UidPrecondition { given: String, stored: String },
    /// There is no such Lease, and creating it is invalid: 422.
    InvalidCreate(Vec<FieldError>),
    /// There is no such Lease, and the caller may not `create` it: 403.
    CreateForbidden,
    /// An update without `metadata.resourceVersion`: 422 (leases refuse unconditional updates).
    ResourceVersionRequired,
    /// `metadata.resourceVersion` is not the stored one: 409.
    Stale,
    /// The update is invalid: 422.
    InvalidUpdate(Vec<FieldError>),
}

/// What a successful write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Created,
    Updated,
}

/// What a write stamps: the next resource version and, for a new Lease, its uid and creation
/// time (unused when the Lease exists).
#[derive(Debug, Clone)]
pub(crate) struct Stamp {
    pub resource_version: u64,
    pub uid: String,
    pub now: String,
}

/// Every Lease, by namespace and name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Leases(BTreeMap<(String, String), Lease>);

impl Leases {
    pub(crate) fn get(&self, namespace: &str, name: &str) -> Option<&Lease> {
        self.0.get(&(namespace.to_owned(), name.to_owned()))
    }

    /// Creates the Lease or replaces its content, unconditionally, as an operator would: a
    /// new resource version; uid and creation time kept if it exists.
    pub(crate) fn replace(
        &mut self,
        namespace: &str,
        name: &str,
        content: LeaseContent,
        stamp: Stamp,
    ) -> (&Lease, Written) {
        let key = (namespace.to_owned(), name.to_owned());
        let written = if self.0.contains_key(&key) {
            Written::Updated
        } else {
            Written::Created
        };
        let lease = self.0.entry(key).or_insert_with(|| Lease {
            uid: stamp.uid,
            creation_timestamp: stamp.now,
            resource_version: stamp.resource_version,
            content: LeaseContent::default(),
        });
        lease.resource_version = stamp.resource_version;
        lease.content = content;
        (lease, written)
    }

    /// A `PUT`, as kube-apiserver's store runs it for Leases: the uid precondition; then, for a
    /// Lease that does not exist, create on update (validated, then only if `may_create`); for
    /// one that does, the resourceVersion must be given and be the stored one (compare and
    /// swap), then the update validated. The body's name and namespace are the caller's to check.
    pub(crate) fn update(
        &mut self,
        namespace: &str,
        name: &str,
        body: LeaseBody,
        may_create: bool,
        stamp: Stamp,
    ) -> Result<(&Lease, Written), Refusal> {
        let key = (namespace.to_owned(), name.to_owned());
        let stored = self.0.get(&key);
        if !body.uid.is_empty() {
            let stored_uid = stored.map(|lease| lease.uid.as_str()).unwrap_or_default();
            if body.uid != stored_uid {
                return Err(Refusal::UidPrecondition {
                    given: body.uid,
                    stored: stored_uid.to_owned(),
                });
            }
        }
        let Some(stored) = stored else {
            let problems = create_problems(name, &body.content);
            if !problems.is_empty() {
                return Err(Refusal::InvalidCreate(problems));
            }
            if !may_create {
                return Err(Refusal::CreateForbidden);
            }
            return Ok(self.replace(namespace, name, body.content, stamp));
        };
        if body.resource_version.is_empty() {
            return Err(Refusal::ResourceVersionRequired);
        }
        if body.resource_version != stored.resource_version.to_string() {
            return Err(Refusal::Stale);
        }
        let problems = update_problems(&body.content);
        if !problems.is_empty() {
            return Err(Refusal::InvalidUpdate(problems));
        }
        Ok(self.replace(namespace, name, body.content, stamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(resource_version: u64) -> Stamp {
        Stamp {
            resource_version,
            uid: format!("uid-{resource_version}"),
            now: "2025-01-01T00:00:00Z".to_owned(),
        }
    }

    fn held_by(holder: &str) -> LeaseContent {
        LeaseContent {
            spec: LeaseSpec {
                holder_identity: Some(holder.to_owned()),
                lease_duration_seconds: Some(30),
                ..LeaseSpec::default()
            },
            ..LeaseContent::default()
        }
    }

    fn body(resource_version: &str, content: LeaseContent) -> LeaseBody {
        LeaseBody {
            name: "gpu-pool".to_owned(),
            namespace: "ml".to_owned(),
            resource_version: resource_version.to_owned(),
            content,
            ..LeaseBody::default()
        }
    }

    fn leases_with_one() -> Leases {
        let mut leases = Leases::default();
        leases.replace("ml", "gpu-pool", held_by("a"), stamp(10));
        leases
    }

    #[test]
    fn an_update_at_the_stored_version_swaps_the_content_and_keeps_uid_and_creation() {
        let mut leases = leases_with_one();
        let (lease, written) = leases
            .update("ml", "gpu-pool", body("10", held_by("b")), false, stamp(11))
            .expect("the stored version");
        assert_eq!(written, Written::Updated);
        assert_eq!(lease.resource_version, 11);
        assert_eq!(lease.uid, "uid-10");
        assert_eq!(lease.content, held_by("b"));
    }

    #[test]
    fn an_update_at_another_version_or_none_is_refused_and_changes_nothing() {
        let mut leases = leases_with_one();
        for (version, refusal) in [
            ("9", Refusal::Stale),
            ("11", Refusal::Stale),
            ("ten", Refusal::Stale),
            ("", Refusal::ResourceVersionRequired),
        ] {
            let refused = leases.update(
                "ml",
                "gpu-pool",
                body(version, held_by("b")),
                true,
                stamp(12),
            );
            assert_eq!(refused.err(), Some(refusal), "{version:?}");
        }
        let lease = leases.get("ml", "gpu-pool").expect("still there");
        assert_eq!(
            (lease.resource_version, &lease.content),
            (10, &held_by("a"))
        );
    }

    #[test]
    fn a_uid_precondition_is_checked_before_anything_else() {
        let mut leases = leases_with_one();
        let other_uid = LeaseBody {
            uid: "someone-else".to_owned(),
            ..body("", held_by("b"))
        };
        assert_eq!(
            leases
                .update("ml", "gpu-pool", other_uid.clone(), true, stamp(11))
                .err(),
            Some(Refusal::UidPrecondition {
                given: "someone-else".to_owned(),
                stored: "uid-10".to_owned()
            })
        );
        assert_eq!(
            leases
                .update("ml", "absent", other_uid, true, stamp(11))
                .err(),
            Some(Refusal::UidPrecondition {
                given: "someone-else".to_owned(),
                stored: String::new()
            })
        );
        let same_uid = LeaseBody {
            uid: "uid-10".to_owned(),
            ..body("10", held_by("b"))
        };
        assert!(leases
            .update("ml", "gpu-pool", same_uid, false, stamp(11))
            .is_ok());
    }

    #[test]
    fn a_put_of_an_absent_lease_creates_it_only_when_the_caller_may_create() {
        let mut leases = Leases::default();
        assert_eq!(
            leases
                .update("ml", "gpu-pool", body("", held_by("a")), false, stamp(5))
                .err(),
            Some(Refusal::CreateForbidden)
        );
        assert!(leases.get("ml", "gpu-pool").is_none());
        // A stale version is no precondition of a create.
        let (lease, written) = leases
            .update("ml", "gpu-pool", body("3", held_by("a")), true, stamp(5))
            .expect("created");
        assert_eq!(written, Written::Created);
        assert_eq!((lease.resource_version, lease.uid.as_str()), (5, "uid-5"));
    }

    #[test]
    fn an_invalid_spec_is_refused_with_every_problem() {
        let mut leases = leases_with_one();
        let mut content = held_by("b");
        content.spec.lease_duration_seconds = Some(0);
        content.spec.lease_transitions = Some(-1);
        let Err(Refusal::InvalidUpdate(problems)) = leases.update(
            "ml",
            "gpu-pool",
            body("10", content.clone()),
            false,
            stamp(11),
        ) else {
            panic!("expected an invalid update");
        };
        let fields: Vec<&str> = problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            ["spec.leaseDurationSeconds", "spec.leaseTransitions"]
        );
        assert_eq!(problems[0].body, "Invalid value: 0: must be greater than 0");
        // Validation comes before authorization of a create.
        let refused = leases.update("ml", "Not_A_Name", body("", content), false, stamp(11));
        assert!(
            matches!(refused, Err(Refusal::InvalidCreate(ref p)) if p.len() == 3),
            "{refused:?}"
        );
    }

    #[test]
    fn a_body_is_read_as_a_v1_lease_with_gos_errors_for_wrong_types() {
        let decode = |body: Value| LeaseBody::decode(body.as_object().expect("an object"));
        let lease = decode(json!({
            "metadata": {"name": "gpu-pool", "resourceVersion": "7", "annotations": {"a": "b"},
                         "labels": null, "finalizers": ["x"]},
            "spec": {"holderIdentity": "scaler", "leaseDurationSeconds": 15,
                     "renewTime": "2025-03-04T05:06:07.123456+01:00", "unknown": true},
        }))
        .expect("a valid Lease");
        assert_eq!(lease.resource_version, "7");
        assert_eq!(
            lease.content.annotations.get("a").map(String::as_str),
            Some("b")
        );
        assert_eq!(
            lease.content.spec.renew_time.as_deref(),
            Some("2025-03-04T04:06:07.123456Z")
        );
        for (body, message) in [
            (
                json!({"spec": {"holderIdentity": 3}}),
                "json: cannot unmarshal number into Go struct field LeaseSpec.spec.holderIdentity of type string",
            ),
            (
                json!({"spec": {"leaseDurationSeconds": 1.5}}),
                "json: cannot unmarshal number 1.5 into Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32",
            ),
            (
                json!({"spec": []}),
                "json: cannot unmarshal array into Go struct field Lease.spec of type v1.LeaseSpec",
            ),
            (
                json!({"metadata": {"resourceVersion": 7}}),
                "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.resourceVersion of type string",
            ),
            (
                json!({"spec": {"renewTime": 7}}),
                "json: cannot unmarshal number into Go value of type string",
            ),
        ] {
            assert_eq!(decode(body.clone()).err().as_deref(), Some(message), "{body}");
        }
    }

    #[test]
    fn a_micro_time_needs_exactly_six_fractional_digits_as_go_parses_it() {
        assert_eq!(
            parse_micro_time("2025-01-02T03:04:05.000006Z").as_deref(),
            Ok("2025-01-02T03:04:05.000006Z")
        );
        assert_eq!(
            parse_micro_time("2025-01-01T00:30:00.000000+01:00").as_deref(),
            Ok("2024-12-31T23:30:00.000000Z")
        );
        let layout = "as \"2006-01-02T15:04:05.000000Z07:00\"";
        for (text, error) in [
            (
                "2025-01-02T03:04:05Z",
                format!("parsing time \"2025-01-02T03:04:05Z\" {layout}: cannot parse \"Z\" as \".000000\""),
            ),
            (
                "2025-01-02T03:04:05.123456789Z",
                format!("parsing time \"2025-01-02T03:04:05.123456789Z\" {layout}: cannot parse \"789Z\" as \"Z07:00\""),
            ),
            (
                "2025-01-02 03:04:05.000000Z",
                format!("parsing time \"2025-01-02 03:04:05.000000Z\" {layout}: cannot parse \" 03:04:05.000000Z\" as \"T\""),
            ),
            (
                "2025-13-02T03:04:05.000000Z",
                "parsing time \"2025-13-02T03:04:05.000000Z\": month out of range".to_owned(),
            ),
            (
                "2025-02-30T03:04:05.000000Z",
                "parsing time \"2025-02-30T03:04:05.000000Z\": day out of range".to_owned(),
            ),
            (
                "2025-02-03T03:04:05.000000Zjunk",
                "parsing time \"2025-02-03T03:04:05.000000Zjunk\": extra text: \"junk\"".to_owned(),
            ),
        ] {
            assert_eq!(parse_micro_time(text), Err(error), "{text}");
        }
    }

    #[test]
    fn a_lease_is_served_with_its_metadata_and_an_empty_spec_when_none_was_written() {
        let mut leases = Leases::default();
        let (lease, _) = leases.replace("ml", "gpu-pool", LeaseContent::default(), stamp(3));
        assert_eq!(
            lease.to_json("ml", "gpu-pool"),
            json!({
                "kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
                "metadata": {"name": "gpu-pool", "namespace": "ml", "uid": "uid-3",
                             "resourceVersion": "3", "creationTimestamp": "2025-01-01T00:00:00Z"},
                "spec": {}
            })
        );
    }
}
