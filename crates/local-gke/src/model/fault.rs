//! A fault to inject into requests: what the admin API takes (`POST /_admin/faults`) and the
//! server applies before a handler sees the request. No I/O.

use hyper::Method;
use serde::{Deserialize, Serialize};

/// A failure to inject into the next `count` requests for `path` (and `method`, if given): the
/// body of `POST /_admin/faults`, and its answer.
///
/// ```
/// # use local_gke::admin::Fault;
/// let path = local_gke::scale_path("ml", "model-worker");
/// let two_unavailable_writes = Fault {
///     method: Some("PUT".to_owned()),
///     count: 2,
///     status: Some(503),
///     ..Fault::new(&path)
/// };
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The exact request path, without the query.
    pub path: String,
    /// Only requests with this method; any method when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// How many requests to fail.
    #[serde(default = "one")]
    pub count: u32,
    /// Answer with this status instead of serving the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Wait this long first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Close the connection without answering.
    #[serde(default)]
    pub drop: bool,
    /// Serve the request (a write is applied), then close the connection without sending the
    /// answer: a write whose answer was lost.
    #[serde(default)]
    pub apply_then_drop: bool,
    /// Serve each of the `count` requests, but hold its answer until all `count` have been
    /// served (at most 20 s): callers that race read the same state, and none can act on its
    /// answer before the others have read, whatever the machine's load.
    #[serde(default)]
    pub hold: bool,
}

/// How long a held request waits for the others of its fault before it is served anyway.
pub(crate) const HOLD_AT_MOST: std::time::Duration = std::time::Duration::from_secs(20);

fn one() -> u32 {
    1
}

impl Fault {
    /// The next request to `path`, by any method, once, with nothing injected yet: set a
    /// `status`, a `delay_ms`, `drop`, `apply_then_drop` or `hold` (local-gke refuses a fault
    /// without).
    pub fn new(path: &str) -> Self {
        Fault {
            path: path.to_owned(),
            method: None,
            count: 1,
            status: None,
            delay_ms: None,
            drop: false,
            apply_then_drop: false,
            hold: false,
        }
    }

    /// The next `count` requests to `path` by `method`, each answered only once all `count`
    /// have been served.
    pub fn hold(path: &str, method: &str, count: u32) -> Self {
        Fault {
            method: Some(method.to_owned()),
            count,
            hold: true,
            ..Fault::new(path)
        }
    }

    /// The next `count` requests to `path`, by any method, answered with `status`.
    pub fn status(path: &str, count: u32, status: u16) -> Self {
        Fault {
            count,
            status: Some(status),
            ..Fault::new(path)
        }
    }

    /// Whether the fault still applies to this request.
    pub(crate) fn matches(&self, method: &Method, path: &str) -> bool {
        self.count > 0
            && self.path == path
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
    }
}
