//! criterion's estimates, read back from its output directory (`target/criterion`) so that the
//! numbers section of `BENCHMARKS.md` carries them too. I/O: reads criterion's JSON files.

use std::path::Path;

/// One benchmark's time per iteration, in nanoseconds: criterion's median and the 95%
/// confidence interval of that median.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The benchmark's id within its group.
    pub id: String,
    /// Median time per iteration.
    pub median_ns: f64,
    /// Lower bound of the median's 95% confidence interval.
    pub low_ns: f64,
    /// Upper bound.
    pub high_ns: f64,
}

/// Every benchmark of `group` found under `dir`, sorted by id; empty when none ran.
pub fn read_group(dir: &Path, group: &str) -> Vec<Estimate> {
    let Ok(entries) = std::fs::read_dir(dir.join(group)) else {
        return Vec::new();
    };
    let mut estimates: Vec<Estimate> = entries
        .flatten()
        .filter_map(|entry| {
            let new = entry.path().join("new");
            let text = std::fs::read_to_string(new.join("estimates.json")).ok()?;
            // The directory name is the id made safe for a file name; benchmark.json has it whole.
            let id = std::fs::read_to_string(new.join("benchmark.json"))
                .ok()
                .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
                .and_then(|b| b["function_id"].as_str().map(str::to_owned))
                .unwrap_or_else(|| entry.file_name().to_string_lossy().into_owned());
            parse(&id, &text)
        })
        .collect();
    estimates.sort_by(|a, b| a.id.cmp(&b.id));
    estimates
}

/// Read the median out of an `estimates.json`.
pub fn parse(id: &str, estimates_json: &str) -> Option<Estimate> {
    let value: serde_json::Value = serde_json::from_str(estimates_json).ok()?;
    let median = &value["median"];
    Some(Estimate {
        id: id.to_owned(),
        median_ns: median["point_estimate"].as_f64()?,
        low_ns: median["confidence_interval"]["lower_bound"].as_f64()?,
        high_ns: median["confidence_interval"]["upper_bound"].as_f64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_and_its_interval_are_read_from_estimates_json() {
        let json = r#"{"mean":{"point_estimate":2.0},"median":{"confidence_interval":
            {"confidence_level":0.95,"lower_bound":900.0,"upper_bound":1100.0},
            "point_estimate":1000.0,"standard_error":5.0}}"#;
        assert_eq!(
            parse("sns", json),
            Some(Estimate {
                id: "sns".into(),
                median_ns: 1000.0,
                low_ns: 900.0,
                high_ns: 1100.0
            })
        );
        assert_eq!(parse("x", "{}"), None);
    }
}
