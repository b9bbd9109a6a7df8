//! The admin's instruments: the faults injected into requests to come (with the barrier of a
//! `hold`), and the log of the requests served. The server takes a fault before serving each
//! request and records it after; the admin API adds and clears faults and reads and clears the
//! log. No I/O.

use std::fmt;
use std::sync::Arc;

use hyper::Method;

use crate::model::fault::Fault;
use crate::model::request_log::RecordedRequest;

/// Pending faults and the request log.
#[derive(Default)]
pub(crate) struct Instruments {
    /// Each pending fault, and the barrier its held requests meet at (`hold`).
    faults: Vec<(Fault, Option<Arc<tokio::sync::Barrier>>)>,
    requests: Vec<RecordedRequest>,
}

impl fmt::Debug for Instruments {
    // The log can be long: show how many requests it holds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instruments")
            .field("faults", &self.faults)
            .field("requests", &self.requests.len())
            .finish()
    }
}

impl Instruments {
    pub(crate) fn add_fault(&mut self, fault: Fault) {
        let barrier = fault
            .hold
            .then(|| Arc::new(tokio::sync::Barrier::new(fault.count as usize)));
        self.faults.push((fault, barrier));
    }

    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Takes one use of the first fault that matches this request, if any, with the barrier
    /// its held requests meet at.
    pub(crate) fn take_fault(
        &mut self,
        method: &Method,
        path: &str,
    ) -> Option<(Fault, Option<Arc<tokio::sync::Barrier>>)> {
        let index = self
            .faults
            .iter()
            .position(|(f, _)| f.matches(method, path))?;
        let (fault, barrier) = &mut self.faults[index];
        fault.count -= 1;
        let taken = (fault.clone(), barrier.clone());
        if fault.count == 0 {
            self.faults.remove(index);
        }
        Some(taken)
    }

    pub(crate) fn record(&mut self, request: RecordedRequest) {
        self.requests.push(request);
    }

    pub(crate) fn requests(&self) -> &[RecordedRequest] {
        &self.requests
    }

    pub(crate) fn clear_requests(&mut self) {
        self.requests.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(path: &str, method: Option<&str>, count: u32) -> Fault {
        Fault {
            method: method.map(str::to_owned),
            ..Fault::status(path, count, 503)
        }
    }

    #[test]
    fn a_fault_is_used_up_after_its_count() {
        let mut state = Instruments::default();
        state.add_fault(fault("/token", None, 2));
        assert!(state.take_fault(&Method::POST, "/token").is_some());
        assert!(state.take_fault(&Method::POST, "/token").is_some());
        assert!(state.take_fault(&Method::POST, "/token").is_none());
    }

    #[test]
    fn a_fault_matches_only_its_path_and_method() {
        let mut state = Instruments::default();
        state.add_fault(fault("/a", Some("put"), 1));
        assert!(state.take_fault(&Method::GET, "/a").is_none());
        assert!(state.take_fault(&Method::PUT, "/b").is_none());
        assert!(state.take_fault(&Method::PUT, "/a").is_some());
    }
}
