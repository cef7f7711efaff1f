//! Small statistics shared by the reports: the Wilson score interval of a proportion, and the
//! mean and spread of repeated trials.
//!
//! ```
//! use navab_core::stats::wilson_interval;
//!
//! let (low, high) = wilson_interval(8, 10);
//! assert!((low - 0.4902).abs() < 1e-4 && (high - 0.9433).abs() < 1e-4);
//! assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
//! ```

/// Mean and sample standard deviation (divisor `n − 1`) of `values`: `(0, 0)` for none, a
/// standard deviation of 0 for one.
///
/// # Complexity
/// `O(n)`.
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// z for a two-sided 95% interval: the 0.975 quantile of the standard normal.
const Z95: f64 = 1.959_963_984_540_054;

/// 95% Wilson score interval for `successes` out of `n`; `(0, 1)` when `n = 0` (nothing is
/// known). `successes` above `n` count as `n`.
///
/// Unlike the normal approximation `p ± z·sqrt(p(1−p)/n)`, it stays inside `[0, 1]` and does not
/// collapse to a point at 0% or 100%, which matters for small nations and position-bias rates
/// near 1.
///
/// # Complexity
/// `O(1)`.
pub fn wilson_interval(successes: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let successes = successes.min(n);
    let (n, p) = (n as f64, successes as f64 / n as f64);
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    // At 0% and 100% the bound is exactly 0 or 1; floating point would give 1e-16 off.
    let low = if successes == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let high = if successes as f64 == n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (low, high)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    #[test]
    fn mean_sd_is_the_sample_spread() {
        assert_eq!(mean_sd(&[]), (0.0, 0.0));
        assert_eq!(mean_sd(&[0.7]), (0.7, 0.0));
        let (mean, sd) = mean_sd(&[0.5, 0.7, 0.9]);
        assert!(
            (mean - 0.7).abs() < 1e-12 && (sd - 0.2).abs() < 1e-12,
            "{mean} {sd}"
        );
    }

    #[test]
    fn wilson_interval_matches_hand_computed_values() {
        // 8/10: p = 0.8, z² = 3.8415, denominator 1 + z²/n = 1.38415,
        // centre (0.8 + 0.19207) / 1.38415 = 0.71674,
        // half-width 1.96 · sqrt(0.016 + 0.0096037) / 1.38415 = 0.22658 → (0.4902, 0.9433).
        let (lo, hi) = wilson_interval(8, 10);
        assert!(close(lo, 0.4902) && close(hi, 0.9433), "{lo} {hi}");
        // 1/2: centre exactly 0.5, half-width 1.96 · sqrt(0.125 + 0.24009) / 2.92073 = 0.40547.
        let (lo, hi) = wilson_interval(1, 2);
        assert!(close(lo, 0.0945) && close(hi, 0.9055), "{lo} {hi}");
        // 0/20: the lower bound is 0, the upper z²/n / (1 + z²/n) = 0.19207 / 1.19207 = 0.1611.
        let (lo, hi) = wilson_interval(0, 20);
        assert!(lo == 0.0 && close(hi, 0.1611), "{lo} {hi}");
        // 10/10: mirror image of 0/10, and exactly 1 at the top.
        let (lo, hi) = wilson_interval(10, 10);
        assert!(close(lo, 0.7225) && hi == 1.0, "{lo} {hi}");
        // 37/75, the A/B observation: about ±0.11 around 0.49.
        let (lo, hi) = wilson_interval(37, 75);
        assert!(close(lo, 0.3833) && close(hi, 0.6040), "{lo} {hi}");
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
        // Exact ends at 0% and 100%.
        assert_eq!(wilson_interval(0, 10).0, 0.0);
        assert_eq!(wilson_interval(10, 10).1, 1.0);
    }
}
