//! A log-bucketed histogram: constant memory, exact merge, bounded relative error.
//!
//! Buckets follow the bits of an IEEE-754 double: the exponent and the top 7 bits of the
//! mantissa (the layout of HdrHistogram and DDSketch, with a base-2 grid). Each octave
//! `[2^e, 2^(e+1))` is split into 128 equal buckets, so a bucket `[lo, hi)` has
//! `(hi − lo)/lo ≤ 1/128`. A quantile is reported as the midpoint of the bucket holding the
//! exact nearest-rank sample, so **its relative error is at most 1/256 ≈ 0.39 %** for values in
//! `[2^−10, 2^40)` ms (about 1 µs to 35 years). Smaller values (and exact zeros, such as the
//! wait of a request that found a free server) are counted in a zero bucket and reported as 0;
//! larger ones are clamped into the top bucket.
//!
//! Counts are integers, so merging histograms is exact and independent of order: replications
//! can be merged in any grouping and give identical bytes.

const SUB_BITS: u32 = 7;
const MIN_EXP: i64 = -10;
const MAX_EXP: i64 = 40;
const SHIFT: u32 = 52 - SUB_BITS;
const MIN_KEY: i64 = (1023 + MIN_EXP) << SUB_BITS;
const N_BUCKETS: usize = (((MAX_EXP - MIN_EXP) << SUB_BITS) + 1) as usize;

/// Guaranteed bound on the relative error of [`LogHistogram::quantile`].
pub const RELATIVE_ERROR_BOUND: f64 = 1.0 / 256.0;

#[derive(Clone, PartialEq, Eq)]
pub struct LogHistogram {
    /// A fixed length, so an index clamped below it needs no bounds check.
    counts: Box<[u64; N_BUCKETS]>,
    total: u64,
}

/// Serialized sparsely, as `(bucket, count)` pairs of the non-empty buckets, so a partial
/// result holds kilobytes, not the 51 KB of every bucket.
impl serde::Serialize for LogHistogram {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<(u32, u64)> = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (i as u32, *c))
            .collect();
        pairs.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for LogHistogram {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs = Vec::<(u32, u64)>::deserialize(d)?;
        let mut h = LogHistogram::new();
        for (i, c) in pairs {
            let slot = h
                .counts
                .get_mut(i as usize)
                .ok_or_else(|| serde::de::Error::custom(format!("bucket {i} out of range")))?;
            *slot = c;
            h.total =
                h.total.checked_add(c).ok_or_else(|| serde::de::Error::custom("count overflow"))?;
        }
        Ok(h)
    }
}

impl std::fmt::Debug for LogHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHistogram").field("total", &self.total).finish_non_exhaustive()
    }
}

impl Default for LogHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LogHistogram {
    pub fn new() -> Self {
        let counts = vec![0; N_BUCKETS].into_boxed_slice().try_into().expect("N_BUCKETS long");
        LogHistogram { counts, total: 0 }
    }

    /// NaN and everything below 2^MIN_EXP land in the zero bucket, everything from 2^MAX_EXP
    /// in the top one.
    ///
    /// Without a branch on the value: a wait is 0 for a share of requests that no branch
    /// predictor can guess. The bits as a signed integer order like the value for every
    /// non-NaN double (negative ones below zero), so clamping the key does all the cases; a
    /// NaN, which never comes, takes a branch that is always predicted.
    #[inline]
    fn index(value: f64) -> usize {
        if value.is_nan() {
            return 0;
        }
        let key = (value.to_bits() as i64) >> SHIFT;
        (key - MIN_KEY + 1).clamp(0, N_BUCKETS as i64 - 1) as usize
    }

    #[inline]
    pub fn record(&mut self, value: f64) {
        self.counts[Self::index(value)] += 1;
        self.total += 1;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn merge(&mut self, other: &LogHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
    }

    /// Midpoint of bucket `i` (0 for the zero bucket).
    fn representative(i: usize) -> f64 {
        if i == 0 {
            return 0.0;
        }
        let key = (i as i64 - 1 + MIN_KEY) as u64;
        let lo = f64::from_bits(key << SHIFT);
        let hi = f64::from_bits((key + 1) << SHIFT);
        0.5 * (lo + hi)
    }

    /// The `q`-quantile (nearest rank: the smallest value with at least `q·n` values at or below
    /// it), within [`RELATIVE_ERROR_BOUND`]. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::representative(i));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    proptest! {
        #[test]
        fn quantiles_within_bound(mut values in prop::collection::vec(0.001f64..1e9, 1..400),
                                  q in 0.0f64..1.0) {
            let mut h = LogHistogram::new();
            for v in &values { h.record(*v); }
            values.sort_by(f64::total_cmp);
            let exact = exact_quantile(&values, q);
            let got = h.quantile(q).unwrap();
            prop_assert!((got - exact).abs() <= RELATIVE_ERROR_BOUND * exact,
                "q={q} exact={exact} got={got}");
        }

        #[test]
        fn merge_equals_recording_all(a in prop::collection::vec(0.0f64..1e6, 0..100),
                                      b in prop::collection::vec(0.0f64..1e6, 0..100)) {
            let (mut ha, mut hb, mut hall) = (LogHistogram::new(), LogHistogram::new(), LogHistogram::new());
            for v in &a { ha.record(*v); hall.record(*v); }
            for v in &b { hb.record(*v); hall.record(*v); }
            ha.merge(&hb);
            prop_assert_eq!(ha, hall);
        }
    }

    #[test]
    fn bound_is_tight_at_octave_starts() {
        // The worst case: the first value of a bucket at the start of an octave.
        let mut h = LogHistogram::new();
        h.record(1.0);
        let got = h.quantile(0.5).unwrap();
        let err = (got - 1.0) / 1.0;
        assert!(err > 0.0 && err <= RELATIVE_ERROR_BOUND);
        assert!(err > 0.99 * RELATIVE_ERROR_BOUND);
    }

    #[test]
    fn zeros_and_extremes() {
        let mut h = LogHistogram::new();
        h.record(0.0);
        h.record(0.0);
        h.record(5.0);
        assert_eq!(h.quantile(0.5), Some(0.0));
        assert!((h.quantile(1.0).unwrap() - 5.0).abs() <= 5.0 * RELATIVE_ERROR_BOUND);
        h.record(f64::INFINITY);
        assert!(h.quantile(1.0).unwrap() > 1e12);
        assert_eq!(LogHistogram::new().quantile(0.5), None);
    }

    /// The branch-free index against the plain definition: NaN and everything below 2^MIN_EXP
    /// (negative values included) in bucket 0, the rest by exponent and top mantissa bits,
    /// clamped to the top bucket.
    #[test]
    fn index_is_the_plain_definition() {
        let plain = |v: f64| {
            let smallest = 2f64.powi(MIN_EXP as i32);
            if v.is_nan() || v < smallest {
                return 0;
            }
            let key = (v.to_bits() >> SHIFT) as i64;
            ((key - MIN_KEY + 1) as usize).min(N_BUCKETS - 1)
        };
        let mut values = vec![
            0.0,
            -0.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::MIN_POSITIVE / 4.0,
            f64::MAX,
            f64::MIN,
            -1.0,
        ];
        let mut x: f64 = 1e-300;
        while x < 1e300 {
            values.extend([x, -x, x.next_up(), x.next_down()]);
            x *= 1.37;
        }
        for e in [MIN_EXP - 1, MIN_EXP, MAX_EXP - 1, MAX_EXP, MAX_EXP + 1] {
            let p = 2f64.powi(e as i32);
            values.extend([p, p.next_up(), p.next_down()]);
        }
        for v in values {
            assert_eq!(LogHistogram::index(v), plain(v), "{v:e}");
        }
    }
}
