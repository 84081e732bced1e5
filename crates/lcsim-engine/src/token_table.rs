//! Token counts from a rounded lognormal in one table lookup.
//!
//! A lognormal token model (`prompt_tokens = { dist = "lognormal", … }`) gives each request
//! `max(1, round(x))` tokens for a lognormal `x`. Drawing `x` costs a normal deviate and an
//! `exp`, twice per request, which was a fifth of the continuous-batching engine's time. The
//! count, though, is a discrete distribution: count `n` has probability
//! `P(n − ½ ≤ x < n + ½)` (and count 1 also takes `x < ½`). This module draws that distribution
//! directly with Walker's alias method: one 64-bit random number picks a bucket and decides
//! between the bucket's own count and its alias.
//!
//! **Exactness.** The buckets hold counts `1..=N`, where `N` leaves at most [`TAIL_MASS`] of the
//! probability above it, plus one tail bucket. A draw that lands in the tail bucket draws the
//! normal deviate exactly from its tail beyond `N + ½` (Marsaglia's tail method, or rejection
//! when the tail starts below one standard deviation), so the counts' distribution is the
//! rounded lognormal's to the precision of `erfc` and of the 64-bit thresholds; there is no
//! truncation. The draws are not the same numbers as drawing `x` itself: the generator is
//! consumed differently.
//!
//! **Cost.** Tables are built once per `(mu, sigma)` and shared ([`lognormal`]); a table of a
//! few thousand buckets of 16 bytes stays in the L2 cache.

use std::sync::{Arc, Mutex};

use lcsim_core::stats::normal_upper_tail;

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use crate::random::token_count;

/// Probability left above the largest count the table holds (drawn from the exact tail).
pub const TAIL_MASS: f64 = 1e-4;
/// At most this many buckets (the tail beyond is still exact).
const MAX_BUCKETS: usize = 1 << 16;

/// One bucket: its own count is kept when the draw's low 64 bits are below `keep_below`, else
/// the count is `alias`'s. A bucket whose own probability fills it is its own alias.
#[derive(Debug, Clone, Copy)]
#[repr(align(16))]
struct Bucket {
    keep_below: u64,
    alias: u32,
}

/// The distribution of `max(1, round(exp(mu + sigma·z)))` for a standard normal `z`, ready
/// to draw from.
#[derive(Debug)]
pub struct TokenTable {
    /// Bucket `i < tail` is the count `i + 1`; bucket `tail` is every count above `tail`.
    buckets: Box<[Bucket]>,
    tail: u32,
    mu: f64,
    sigma: f64,
    /// The standard normal deviate at which the tail starts: `(ln(tail + ½) − mu) / sigma`.
    tail_z: f64,
}

impl TokenTable {
    /// The table of `max(1, round(exp(mu + sigma·z)))`. `sigma` must be positive: with 0 a
    /// count's bounds can sit exactly at `exp(mu)`, where `z` is 0/0 (the caller samples
    /// such a degenerate lognormal directly).
    pub fn lognormal(mu: f64, sigma: f64) -> TokenTable {
        assert!(sigma > 0.0, "a token table needs sigma > 0, got {sigma}");
        let z = |x: f64| (x.ln() - mu) / sigma;
        // P(count = n) = Q(z(n − ½)) − Q(z(n + ½)), with Q(z(½)) read as 1 for n = 1.
        let mut probabilities = Vec::new();
        let mut below = 1.0;
        loop {
            let n = probabilities.len() + 1;
            let above = normal_upper_tail(z(n as f64 + 0.5));
            probabilities.push(below - above);
            below = above;
            if above <= TAIL_MASS || probabilities.len() + 1 >= MAX_BUCKETS {
                break;
            }
        }
        let tail = probabilities.len() as u32;
        probabilities.push(below);
        TokenTable {
            buckets: alias_buckets(&probabilities),
            tail,
            mu,
            sigma,
            tail_z: z(f64::from(tail) + 0.5),
        }
    }

    /// One token count.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        let wide = u128::from(rng.next_u64()) * self.buckets.len() as u128;
        // The high word is uniform over the buckets, the low one over [0, 2⁶⁴) within it.
        let i = (wide >> 64) as usize;
        let bucket = self.buckets[i];
        let j = if (wide as u64) < bucket.keep_below { i as u32 } else { bucket.alias };
        if j < self.tail { j + 1 } else { self.sample_tail(rng) }
    }

    /// A count above the table: `z` drawn from the standard normal's tail beyond `tail_z`.
    #[cold]
    fn sample_tail<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        let a = self.tail_z;
        let z = if a < 1.0 {
            // At least 16 % of draws are accepted.
            loop {
                let z: f64 = rng.sample(StandardNormal);
                if z >= a {
                    break z;
                }
            }
        } else {
            // Marsaglia (1964): a + x for x ~ Exp(a), kept with probability exp(−x²/2).
            loop {
                let x = -(1.0 - rng.random::<f64>()).ln() / a;
                let y = -(1.0 - rng.random::<f64>()).ln();
                if 2.0 * y > x * x {
                    break a + x;
                }
            }
        };
        // x ≥ tail + ½ rounds above the table (a last-bit rounding of exp cannot pull it in).
        token_count((self.mu + self.sigma * z).exp()).max(self.tail + 1)
    }
}

/// Vose's construction of Walker's alias table for `probabilities` (summing to 1 up to
/// rounding): bucket `i` keeps itself with probability `K·pᵢ` and gives the rest to one alias.
fn alias_buckets(probabilities: &[f64]) -> Box<[Bucket]> {
    let k = probabilities.len();
    let total: f64 = probabilities.iter().sum();
    let mut scaled: Vec<f64> = probabilities.iter().map(|p| p * k as f64 / total).collect();
    let mut buckets: Vec<Bucket> =
        (0..k).map(|i| Bucket { keep_below: 0, alias: i as u32 }).collect();
    let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..k).partition(|&i| scaled[i] < 1.0);
    while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
        small.pop();
        buckets[s] = Bucket { keep_below: fraction_to_u64(scaled[s]), alias: l as u32 };
        scaled[l] -= 1.0 - scaled[s];
        if scaled[l] < 1.0 {
            large.pop();
            small.push(l);
        }
    }
    // What is left is full up to rounding: each is its own alias, so either branch keeps it.
    for i in small.into_iter().chain(large) {
        buckets[i] = Bucket { keep_below: u64::MAX, alias: i as u32 };
    }
    buckets.into_boxed_slice()
}

/// `q · 2⁶⁴` for `q` in [0, 1), saturating.
fn fraction_to_u64(q: f64) -> u64 {
    // `as` saturates: 2⁶⁴ and above give u64::MAX, negatives and NaN give 0.
    (q * 18_446_744_073_709_551_616.0) as u64
}

/// The shared table for `(mu, sigma)`: built on first use and kept for the process (a pure
/// function of its two parameters, which every window and replication of a run shares).
pub fn lognormal(mu: f64, sigma: f64) -> Arc<TokenTable> {
    type Memo = Vec<((u64, u64), Arc<TokenTable>)>;
    static TABLES: Mutex<Memo> = Mutex::new(Vec::new());
    let key = (mu.to_bits(), sigma.to_bits());
    let mut tables = TABLES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, table)) = tables.iter().find(|(k, _)| *k == key) {
        return table.clone();
    }
    let table = Arc::new(TokenTable::lognormal(mu, sigma));
    tables.push((key, table.clone()));
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SimRng;
    use rand::SeedableRng;
    use std::collections::HashMap;
    use std::f64::consts::SQRT_2;

    /// P(count = n) computed independently: the lognormal's CDF at n ± ½ from `erf`.
    fn pmf(mu: f64, sigma: f64, n: u32) -> f64 {
        let cdf = |x: f64| {
            if x <= 0.0 { 0.0 } else { 0.5 * (1.0 + libm::erf((x.ln() - mu) / (sigma * SQRT_2))) }
        };
        let lo = if n == 1 { 0.0 } else { f64::from(n) - 0.5 };
        cdf(f64::from(n) + 0.5) - cdf(lo)
    }

    /// The alias table reproduces the probabilities it was built from: each count's share of
    /// the 2⁶⁴ · K equally likely (bucket, low word) pairs.
    #[test]
    fn table_holds_the_rounded_lognormal() {
        for (mu, sigma) in [(4.729, 0.8326), (5.48, 0.8326), (0.3, 0.2), (2.0, 2.5)] {
            let t = TokenTable::lognormal(mu, sigma);
            let k = t.buckets.len();
            let mut mass = vec![0.0; k];
            for (i, b) in t.buckets.iter().enumerate() {
                let keep = b.keep_below as f64 / 18_446_744_073_709_551_616.0;
                mass[i] += keep / k as f64;
                mass[b.alias as usize] += (1.0 - keep) / k as f64;
            }
            for n in 1..=t.tail {
                let p = pmf(mu, sigma, n);
                assert!((mass[n as usize - 1] - p).abs() <= 1e-12, "mu {mu} sigma {sigma} n {n}");
            }
            let tail = 1.0 - (1..=t.tail).map(|n| pmf(mu, sigma, n)).sum::<f64>();
            assert!((mass[t.tail as usize] - tail).abs() <= 1e-12);
            assert!(tail <= TAIL_MASS * (1.0 + 1e-9) || t.buckets.len() == MAX_BUCKETS);
        }
    }

    /// Chi-square of `seen` (counts of `draws` draws) against `p(n)` for `n ≥ first`: the cells
    /// that expect at least 20 draws, then the pooled rest. Returns the statistic and its
    /// degrees of freedom.
    fn chi2(
        seen: &HashMap<u32, f64>,
        draws: f64,
        first: u32,
        p: impl Fn(u32) -> f64,
    ) -> (f64, f64) {
        let (mut chi2, mut cells) = (0.0, 0.0);
        let (mut rest_seen, mut rest_p) = (draws, 1.0);
        for n in first.. {
            let e = p(n) * draws;
            if e < 20.0 && n > first + 2 {
                break;
            }
            let o = seen.get(&n).copied().unwrap_or(0.0);
            chi2 += (o - e) * (o - e) / e;
            cells += 1.0;
            rest_seen -= o;
            rest_p -= p(n);
        }
        let e = rest_p * draws;
        (chi2 + (rest_seen - e) * (rest_seen - e) / e, cells)
    }

    /// The statistic's mean is its degrees of freedom `d` and its standard deviation `√(2d)`;
    /// 5 of them bound it.
    fn assert_fits((chi2, d): (f64, f64)) {
        assert!(chi2 <= d + 5.0 * (2.0 * d).sqrt(), "chi2 {chi2} over {d} degrees of freedom");
    }

    /// Drawn counts against the probabilities, and counts above the table with the tail's mass.
    #[test]
    fn draws_follow_the_rounded_lognormal() {
        for (mu, sigma) in [(1.0, 0.6), (0.0, 20.0)] {
            let t = TokenTable::lognormal(mu, sigma);
            let draws = 400_000.0;
            let mut rng = SimRng::seed_from_u64(3);
            let mut seen = HashMap::<u32, f64>::new();
            for _ in 0..draws as u32 {
                *seen.entry(t.sample(&mut rng)).or_default() += 1.0;
            }
            assert_fits(chi2(&seen, draws, 1, |n| pmf(mu, sigma, n)));
            let above: f64 = seen.iter().filter(|(n, _)| **n > t.tail).map(|(_, c)| c).sum();
            let tail_p = normal_upper_tail(t.tail_z);
            let se = (tail_p * (1.0 - tail_p) * draws).sqrt();
            assert!((above - tail_p * draws).abs() <= 5.0 * se + 1.0);
        }
    }

    /// The tail sampler alone against the counts' distribution given that they exceed the
    /// table: a tail beyond 3.7 standard deviations (Marsaglia's method) and, with the table at
    /// its size limit, one from 0.55 (rejection).
    #[test]
    fn tail_draws_follow_the_conditional_distribution() {
        for (mu, sigma) in [(1.0, 0.6), (0.0, 20.0)] {
            let t = TokenTable::lognormal(mu, sigma);
            let tail_p = normal_upper_tail(t.tail_z);
            let draws = 200_000.0;
            let mut rng = SimRng::seed_from_u64(5);
            let mut seen = HashMap::<u32, f64>::new();
            for _ in 0..draws as u32 {
                *seen.entry(t.sample_tail(&mut rng)).or_default() += 1.0;
            }
            assert!(seen.keys().all(|&n| n > t.tail));
            assert_fits(chi2(&seen, draws, t.tail + 1, |n| pmf(mu, sigma, n) / tail_p));
        }
    }
}
