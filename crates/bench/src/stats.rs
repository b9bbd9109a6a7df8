//! Medians and spread of repeated measurements. No I/O.

use std::time::Duration;

/// A set of samples summarised: median, p10/p90 and min/max. Values are in the unit the caller
/// chose (milliseconds for times, KiB for memory).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    /// The median.
    pub median: f64,
    /// The 10th percentile (nearest rank).
    pub p10: f64,
    /// The 90th percentile (nearest rank).
    pub p90: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
}

impl Summary {
    /// Summarise `samples`; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        // Nearest rank: the smallest sample with at least p of the samples at or below it.
        let rank = |p: f64| sorted[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        Some(Summary {
            n,
            median,
            p10: rank(0.10),
            p90: rank(0.90),
            min: sorted[0],
            max: sorted[n - 1],
        })
    }

    /// Summarise durations in milliseconds.
    pub fn of_millis(samples: &[Duration]) -> Option<Summary> {
        let ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        Self::of(&ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_sample() {
        let s = Summary::of(&[5.0, 1.0, 3.0]).expect("samples");
        assert_eq!((s.n, s.median, s.min, s.max), (3, 3.0, 1.0, 5.0));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let s = Summary::of(&[4.0, 1.0, 2.0, 3.0]).expect("samples");
        assert_eq!(s.median, 2.5);
    }

    #[test]
    fn percentiles_are_nearest_rank_samples() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Summary::of(&samples).expect("samples");
        assert_eq!((s.p10, s.p90), (10.0, 90.0));
        let one = Summary::of(&[7.0]).expect("samples");
        assert_eq!((one.p10, one.median, one.p90), (7.0, 7.0, 7.0));
    }

    #[test]
    fn no_samples_give_no_summary() {
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn durations_are_summarised_in_milliseconds() {
        let s = Summary::of_millis(&[Duration::from_micros(1500)]).expect("samples");
        assert_eq!(s.median, 1.5);
    }
}
