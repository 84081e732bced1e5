//! Order statistics shared by the engine (cost bands across replications) and the calibrator
//! (timing medians, empirical percentiles).

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

#[cfg(test)]
mod tests {
    use super::*;

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
