//! The Lease that serialises raises on a shared GPU pool (`coordination.k8s.io/v1`): requests
//! built as plain values (`get_lease_request`, `put_lease_request`); [`ScaleApi`] sends them
//! (`get_lease`, `put_lease`). A `PUT` carries the `resourceVersion` that was read, so of two
//! raises that book at once, one meets 409 Conflict and reads again.
//!
//! [`ScaleApi`]: super::ScaleApi

use crate::error::{built, json_request, kube_refusal, Error, KubeVerb};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A `coordination.k8s.io/v1` Lease, as far as queue-scaler reads and writes it: its metadata
/// (the `resourceVersion` a write must match, the annotations that hold the bookings) and its
/// `spec`, kept as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// `coordination.k8s.io/v1`.
    pub api_version: String,
    /// `Lease`.
    pub kind: String,
    /// Name, namespace, version, annotations.
    pub metadata: LeaseMeta,
    /// As the server sent it; a write sets `holderIdentity` and `renewTime`.
    #[serde(default)]
    pub spec: serde_json::Value,
}

/// The part of a Lease's `ObjectMeta` a write needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseMeta {
    /// The Lease's name.
    pub name: String,
    /// Its namespace.
    #[serde(default)]
    pub namespace: String,
    /// The version read; a write with an older one gets 409 Conflict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// Annotations; the bookings live in one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The path of a Lease.
pub(crate) fn lease_path(namespace: &str, name: &str) -> String {
    format!("/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}")
}

/// `GET` a Lease.
pub(crate) fn get_lease_request(
    base: &str,
    namespace: &str,
    name: &str,
) -> Result<http::Request<Vec<u8>>, Error> {
    let url = format!("{base}{}", lease_path(namespace, name));
    built(
        &url,
        http::Request::get(&url)
            .header("accept", "application/json")
            .body(Vec::new()),
    )
}

/// `PUT` a Lease with the `resourceVersion` it was read at, `fieldManager=queue-scaler`.
pub(crate) fn put_lease_request(
    base: &str,
    lease: &Lease,
) -> Result<http::Request<Vec<u8>>, Error> {
    let url = format!(
        "{base}{}?fieldManager=queue-scaler",
        lease_path(&lease.metadata.namespace, &lease.metadata.name)
    );
    json_request(http::Method::PUT, &url, lease)
}

/// Turn an answer into a Lease, or an error carrying its `Status` (`verb` is
/// [`KubeVerb::GetLease`] or [`KubeVerb::UpdateLease`]; the target is `namespace/name` of the
/// Lease).
pub(crate) fn parse_lease(
    verb: KubeVerb,
    target: &str,
    status: u16,
    body: &[u8],
    url: &str,
) -> Result<Lease, Error> {
    if (200..300).contains(&status) {
        return serde_json::from_slice(body).map_err(|e| Error::Protocol {
            url: url.to_owned(),
            detail: format!("not a Lease ({e})"),
        });
    }
    Err(kube_refusal(verb, target.to_owned(), status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: &str = r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"queue-scaler-pool-gpu","namespace":"ml","uid":"u","resourceVersion":"7","annotations":{"queue-scaler.io/bookings":"{}"}},"spec":{"holderIdentity":"scale-up"}}"#;

    #[test]
    fn a_lease_is_read_and_written_back_with_the_version_it_was_read_at() {
        let lease: Lease = serde_json::from_str(LEASE).unwrap();
        let r = put_lease_request("https://10.0.0.1", &lease).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.method(), http::Method::PUT);
        assert_eq!(
            r.uri(),
            "https://10.0.0.1/apis/coordination.k8s.io/v1/namespaces/ml/leases/queue-scaler-pool-gpu?fieldManager=queue-scaler"
        );
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["metadata"]["resourceVersion"], "7");
        assert_eq!(
            body["metadata"]["annotations"]["queue-scaler.io/bookings"],
            "{}"
        );
        let g = get_lease_request("https://10.0.0.1", "ml", "queue-scaler-pool-gpu").unwrap();
        assert_eq!(g.method(), http::Method::GET);
    }

    #[test]
    fn a_conflict_is_a_kube_error_with_its_code() {
        let err = parse_lease(
            KubeVerb::UpdateLease,
            "ml/l",
            409,
            b"{\"reason\":\"Conflict\"}",
            "u",
        )
        .unwrap_err();
        assert_eq!(err.kube_code(), Some(409));
    }
}
