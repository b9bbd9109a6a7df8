//! The doctor's report: every check of a deployment, with its status and fix, as a function
//! returns it and as a table (`make doctor`). The checks themselves are the crate's `doctor`
//! module.

use queue_scaler_core::Direction;
use serde::{Deserialize, Serialize};

/// The doctor's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Whether no check failed.
    pub ok: bool,
    /// `up` or `down`.
    pub direction: Direction,
    /// Every check, in order.
    pub checks: Vec<Check>,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// `pass`, `warn`, `fail` or `skip`.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// For a failure or a warning: what to change, and where.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As it should be.
    Pass,
    /// Scaling works, but something it records is lost: see `fix`. `ok` stays true.
    Warn,
    /// Not as it should be: see `fix`.
    Fail,
    /// Could not be checked from here: see `detail`.
    Skip,
}

impl Report {
    /// An empty report: no check yet, so ok.
    pub(crate) fn new(direction: Direction) -> Self {
        Report {
            ok: true,
            direction,
            checks: Vec::new(),
        }
    }

    pub(crate) fn pass(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, Status::Pass, detail, None);
    }

    pub(crate) fn skip(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, Status::Skip, detail, None);
    }

    pub(crate) fn warn(
        &mut self,
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.push(name, Status::Warn, detail, Some(fix.into()));
    }

    pub(crate) fn fail(
        &mut self,
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.ok = false;
        self.push(name, Status::Fail, detail, Some(fix.into()));
    }

    pub(crate) fn push(
        &mut self,
        name: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
        fix: Option<String>,
    ) {
        self.checks.push(Check {
            name: name.into(),
            status,
            detail: detail.into(),
            fix,
        });
    }

    /// A readable table: one line per check, its fix below it. The same for a report made here
    /// and one a deployed function returned.
    pub fn table(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = format!(
            "queue-scaler doctor, scale-{}: {}\n",
            self.direction,
            if self.ok { "OK" } else { "PROBLEMS FOUND" }
        );
        for c in &self.checks {
            let status = match c.status {
                Status::Pass => "PASS",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
                Status::Skip => "SKIP",
            };
            out.push_str(&format!("{status}  {:width$}  {}\n", c.name, c.detail));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("      {:width$}  fix: {fix}\n", ""));
            }
        }
        out
    }

    /// The report of a function that could not start, saying why (`problem`).
    pub fn broken(direction: Direction, problem: &str) -> Self {
        let mut report = Report::new(direction);
        report.fail(
            "configuration",
            problem.to_owned(),
            "set the settings named above in the function's environment (README.md, Configuration)",
        );
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_makes_the_report_not_ok_and_carries_its_fix() {
        let mut r = Report::new(Direction::Up);
        r.pass("configuration", "fine");
        r.skip("node pool", "no GKE API");
        assert!(r.ok);
        r.warn("ml/w: events", "refused", "grant create on events");
        assert!(r.ok, "a warning leaves the report ok");
        assert!(r.table().contains("WARN  ml/w: events"), "{}", r.table());
        assert!(r.table().contains("fix: grant create on events"));
        r.fail("identity", "a number", "add userinfo.email");
        assert!(!r.ok);
        let v = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(v["checks"][2]["status"], "warn");
        assert_eq!(v["checks"][3]["status"], "fail");
        assert_eq!(v["checks"][3]["fix"], "add userinfo.email");
        assert!(v["checks"][0].get("fix").is_none());
    }
}
