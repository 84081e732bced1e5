//! Fitting: ordinary least squares for the latency model, maximum-likelihood lognormal for
//! round-trip times, and the statistics that say how good each fit is.

use lcsim_core::stats::normal_cdf;

/// Result of a least-squares fit `y ≈ Σ coefᵢ·xᵢ`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearFit {
    pub coef: Vec<f64>,
    /// Coefficient of determination `1 − SS_res/SS_tot` (1 when `y` is constant and fitted).
    pub r2: f64,
    /// Largest `|y − ŷ| / y` over the points.
    pub max_rel_residual: f64,
}

/// Least squares by the normal equations (the models here have at most 3 coefficients).
/// Column 0 is the intercept; a column without variation (e.g. one batch size measured) is
/// left out and gets coefficient 0.
pub fn least_squares(rows: &[Vec<f64>], y: &[f64]) -> LinearFit {
    let p = rows.first().map_or(0, Vec::len);
    let varies = |j: usize| j == 0 || rows.iter().any(|r| (r[j] - rows[0][j]).abs() > 0.0);
    let cols: Vec<usize> = (0..p).filter(|&j| varies(j)).collect();
    let k = cols.len();
    // A·β = b with A = XᵀX, b = Xᵀy.
    let mut a = vec![vec![0.0; k + 1]; k];
    for (r, &yi) in rows.iter().zip(y) {
        for (i, &ci) in cols.iter().enumerate() {
            for (j, &cj) in cols.iter().enumerate() {
                a[i][j] += r[ci] * r[cj];
            }
            a[i][k] += r[ci] * yi;
        }
    }
    // Gauss–Jordan elimination with partial pivoting; a column whose pivot vanishes relative to
    // the largest diagonal entry depends linearly on the others and gets coefficient 0.
    let scale = (0..k).map(|i| a[i][i].abs()).fold(0.0, f64::max);
    let mut dependent = vec![false; k];
    for col in 0..k {
        let pivot =
            (col..k).max_by(|&x, &z| a[x][col].abs().total_cmp(&a[z][col].abs())).unwrap_or(col);
        a.swap(col, pivot);
        let d = a[col][col];
        if d.abs() <= 1e-10 * scale {
            dependent[col] = true;
            continue;
        }
        let pivot_row = a[col].clone();
        for (row, r) in a.iter_mut().enumerate() {
            if row != col {
                let f = r[col] / d;
                for (x, p) in r.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    let mut coef = vec![0.0; p];
    for (i, &ci) in cols.iter().enumerate() {
        coef[ci] = if dependent[i] { 0.0 } else { a[i][k] / a[i][i] };
    }
    let predict = |r: &Vec<f64>| r.iter().zip(&coef).map(|(x, c)| x * c).sum::<f64>();
    let mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
    let ss_tot: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    let ss_res: f64 = rows.iter().zip(y).map(|(r, v)| (v - predict(r)).powi(2)).sum();
    let max_rel_residual =
        rows.iter().zip(y).map(|(r, v)| ((v - predict(r)) / v).abs()).fold(0.0, f64::max);
    let r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else if ss_res == 0.0 {
        1.0
    } else {
        0.0
    };
    LinearFit { coef, r2, max_rel_residual }
}

/// Maximum-likelihood lognormal fit: `μ`, `σ` are the mean and standard deviation (divisor
/// `n`) of the logs; `ks` the Kolmogorov–Smirnov distance to the samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LognormalFit {
    pub mu: f64,
    pub sigma: f64,
    pub ks: f64,
}

impl LognormalFit {
    pub fn median(&self) -> f64 {
        self.mu.exp()
    }

    pub fn p95(&self) -> f64 {
        (self.mu + lcsim_core::dist::Z95 * self.sigma).exp()
    }
}

/// `None` for fewer than two positive samples.
pub fn fit_lognormal(samples: &[f64]) -> Option<LognormalFit> {
    let logs: Vec<f64> = samples.iter().filter(|x| **x > 0.0).map(|x| x.ln()).collect();
    if logs.len() < 2 {
        return None;
    }
    let n = logs.len() as f64;
    let mu = logs.iter().sum::<f64>() / n;
    let sigma = (logs.iter().map(|l| (l - mu).powi(2)).sum::<f64>() / n).sqrt().max(1e-9);
    let mut sorted = logs;
    sorted.sort_by(f64::total_cmp);
    let ks = sorted
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let f = normal_cdf((l - mu) / sigma);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max);
    Some(LognormalFit { mu, sigma, ks })
}

pub use lcsim_core::stats::{median, quantile_sorted};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_plane_is_recovered() {
        let rows: Vec<Vec<f64>> =
            [(1.0, 128.0), (4.0, 128.0), (8.0, 512.0), (16.0, 1024.0), (2.0, 64.0)]
                .iter()
                .map(|&(b, c)| vec![1.0, b, c])
                .collect();
        let y: Vec<f64> = rows.iter().map(|r| 5.0 + 0.3 * r[1] + 0.01 * r[2]).collect();
        let f = least_squares(&rows, &y);
        for (got, want) in f.coef.iter().zip([5.0, 0.3, 0.01]) {
            assert!((got - want).abs() < 1e-9, "{:?}", f.coef);
        }
        assert!((f.r2 - 1.0).abs() < 1e-12 && f.max_rel_residual < 1e-12);
    }

    #[test]
    fn constant_column_gets_zero() {
        let rows = vec![vec![1.0, 1.0, 10.0], vec![1.0, 1.0, 20.0], vec![1.0, 1.0, 40.0]];
        let f = least_squares(&rows, &[3.0, 5.0, 9.0]);
        assert_eq!(f.coef[1], 0.0);
        assert!((f.coef[0] - 1.0).abs() < 1e-9 && (f.coef[2] - 0.2).abs() < 1e-9);
    }

    #[test]
    fn dependent_column_gets_zero() {
        // batch is always 1, so batch·context equals context.
        let rows: Vec<Vec<f64>> =
            [32.0, 128.0, 256.0].iter().map(|&c| vec![1.0, 1.0, c, c]).collect();
        let f = least_squares(&rows, &[4.32, 5.28, 6.56]);
        assert!((f.coef[2] + f.coef[3] - 0.01).abs() < 1e-9, "{:?}", f.coef);
        assert!(f.coef[2] == 0.0 || f.coef[3] == 0.0);
        assert!(f.r2 > 0.999_999);
    }

    #[test]
    fn lognormal_fit_of_exact_quantiles() {
        // Samples at the (i + 0.5)/n quantiles of lognormal(ln 40, 0.3).
        let n = 400;
        let samples: Vec<f64> = (0..n)
            .map(|i| {
                let p = (i as f64 + 0.5) / n as f64;
                // invert by bisection on the CDF
                let (mut lo, mut hi) = (-8.0, 8.0);
                for _ in 0..100 {
                    let mid = 0.5 * (lo + hi);
                    if normal_cdf(mid) < p { lo = mid } else { hi = mid }
                }
                (40f64.ln() + 0.3 * lo).exp()
            })
            .collect();
        let f = fit_lognormal(&samples).unwrap();
        assert!((f.median() - 40.0).abs() < 0.01, "{f:?}");
        assert!((f.sigma - 0.3).abs() < 0.005, "{f:?}");
        assert!(f.ks < 0.01, "{f:?}");
    }
}
