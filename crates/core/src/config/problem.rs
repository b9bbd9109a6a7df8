//! What checking finds: each [`ConfigProblem`] names its setting, and a [`ConfigError`] reports
//! them all at once. [`Problems`] collects them while the topics are checked, and holds the
//! checks every topic shares (booleans, whole numbers).

use super::raw::Setting;
use crate::error::ErrorClass;
use std::fmt;

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The setting, e.g. `MAX_REPLICAS` or `SCALER_TARGETS[1].namespace`.
    pub setting: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Every problem found in the configuration, reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in the order the settings were read.
    pub(crate) problems: Vec<ConfigProblem>,
}

impl ConfigError {
    /// Always [`ErrorClass::Config`]: the function's configuration must be fixed.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Config
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "invalid configuration ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, p) in self.problems.iter().enumerate() {
            let sep = if i == 0 { " " } else { "; " };
            write!(f, "{sep}{}: {}", p.setting, p.message)?;
        }
        Ok(())
    }
}

/// Collects problems while the settings are checked, in the order they are found.
#[derive(Default)]
pub(super) struct Problems {
    found: Vec<ConfigProblem>,
}

impl Problems {
    /// Note a problem with `setting`.
    pub(super) fn add(&mut self, setting: impl Into<String>, message: impl Into<String>) {
        self.found.push(ConfigProblem {
            setting: setting.into(),
            message: message.into(),
        });
    }

    /// How many problems were found so far.
    pub(super) fn len(&self) -> usize {
        self.found.len()
    }

    /// Whether none was found.
    pub(super) fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// All of them, as the error.
    pub(super) fn into_error(self) -> ConfigError {
        ConfigError {
            problems: self.found,
        }
    }

    /// A boolean setting: `default` when unset.
    pub(super) fn bool(&mut self, setting: &Setting, default: bool) -> bool {
        match setting.value.as_ref().map(|v| v.to_ascii_lowercase()) {
            None => default,
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => true,
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => false,
            Some(v) => {
                self.add(
                    setting.name,
                    format!("{v:?} is not a boolean; use true or false"),
                );
                default
            }
        }
    }

    /// A whole-number setting, when set.
    pub(super) fn int(&mut self, setting: &Setting) -> Option<i64> {
        let v = setting.value.as_ref()?;
        match v.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.add(setting.name, format!("{v:?} is not a whole number"));
                None
            }
        }
    }
}
