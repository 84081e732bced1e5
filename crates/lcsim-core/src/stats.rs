//! Statistics shared by the engine and the calibrator: order statistics (cost bands across
//! replications, timing medians, empirical percentiles) and the standard normal's CDF (token
//! tables, lognormal fits).

/// Quantile of sorted values by linear interpolation between order statistics (Hyndman & Fan
/// type 7, the default of R and numpy). NaN for no values.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Median of unsorted values.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    quantile_sorted(&v, 0.5)
}

/// The standard normal's CDF, `P(Z ≤ z)`, to `erfc`'s full double precision.
pub fn normal_cdf(z: f64) -> f64 {
    normal_upper_tail(-z)
}

/// The standard normal's upper tail, `P(Z > z)`, accurate far into the tail (no `1 − CDF`).
pub fn normal_upper_tail(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_values() {
        // Tabulated quantiles, to the 7 digits they are given with.
        assert_eq!(normal_cdf(0.0), 0.5);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-7);
        assert!((normal_cdf(-1.644_854) - 0.05).abs() < 1e-7);
        // Far in the tail the upper tail keeps its relative precision: Q(10) = 7.6199e-24.
        assert!((normal_upper_tail(10.0) / 7.619_853_024_160_527e-24 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn interpolates_like_numpy() {
        let v = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(quantile_sorted(&v, 0.0), 1.0);
        assert_eq!(quantile_sorted(&v, 1.0), 8.0);
        assert_eq!(quantile_sorted(&v, 0.5), 3.0); // numpy.quantile([1,2,4,8], .5)
        assert!((quantile_sorted(&v, 0.95) - 7.4).abs() < 1e-12); // numpy: 7.4
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert!(quantile_sorted(&[], 0.5).is_nan());
    }
}
