//! Random streams and samplers.
//!
//! **Determinism:** every random number of a run comes from a stream named by
//! `(seed, replication, stream)`: stream 0 draws the arrivals (and token counts) of a
//! replication, stream `1 + k` the service and network times of deployment `k`. The three
//! numbers are mixed with SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number
//! generators", OOPSLA 2014) into the seed of a Xoshiro256++ generator (Blackman & Vigna 2018).
//! Nothing depends on which thread runs a replication, and adding a deployment leaves the
//! arrivals and the other deployments' draws unchanged (common random numbers).

use std::sync::Arc;

use lcsim_core::Dist;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::{Distribution, Exp1, Gamma, StandardNormal};

pub type SimRng = Xoshiro256PlusPlus;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Every random stream of a replication, in one table, so that no two draw from the same
/// generator by accident. The ids are fixed: changing one changes every result that uses it.
///
/// | stream | id |
/// |---|---|
/// | arrivals of the stationary run's window | 0 |
/// | deployment `k` in that window | 1 + k |
/// | arrivals of month `m`'s window | (m + 1)·2³² |
/// | deployment `k` in month `m`'s window | (m + 1)·2³² + 1 + k |
/// | monthly traffic levels and price drifts | 2⁶⁴ − 1 |
/// | failure and release processes ([`Component`]) | just below 2⁶⁴ − 16 |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamId {
    /// A window's arrivals: the stationary run's (`None`) or month `m`'s.
    Arrivals(Option<u32>),
    /// Deployment `k`'s own draws (service times, round trips, backoff) in that window.
    Deployment(Option<u32>, usize),
    /// A horizon replication's monthly traffic levels and price drifts.
    Noise,
    /// A failure or lifecycle process, shared by every deployment.
    Component(Component),
}

impl StreamId {
    pub fn id(self) -> u64 {
        let window = |month: Option<u32>| month.map_or(0, |m| (u64::from(m) + 1) << 32);
        const BASE: u64 = u64::MAX - 16;
        match self {
            StreamId::Arrivals(month) => window(month),
            StreamId::Deployment(month, k) => window(month) + 1 + k as u64,
            StreamId::Noise => u64::MAX,
            StreamId::Component(c) => match c {
                Component::SitePower => BASE - 1,
                Component::Provider => BASE - 2,
                Component::Releases => BASE - 3,
                Component::Device(i) => BASE - (1 << 20) - u64::from(i),
                Component::Zone(z) => BASE - (2 << 20) - u64::from(z),
            },
        }
    }
}

/// Which random stream each failure process draws from: one per component, shared by every
/// deployment of the scenario (common random numbers). Two deployments with the same failure
/// settings see the same outages, so "with and without a UPS" or "one zone or three" differ
/// only by what the option changes, not by luck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    SitePower,
    Provider,
    /// Device `i` of a local deployment.
    Device(u32),
    /// Zone `z` of a cloud deployment.
    Zone(u32),
    /// Release times (Poisson cadence) and failed updates.
    Releases,
}

impl Component {
    /// Its stream id ([`StreamId::Component`]).
    pub fn stream(self) -> u64 {
        StreamId::Component(self).id()
    }
}

/// The generator of stream `stream` of replication `replication`.
pub fn stream(seed: u64, replication: u64, stream: u64) -> SimRng {
    let h = splitmix64(splitmix64(splitmix64(seed) ^ replication) ^ stream);
    SimRng::seed_from_u64(h)
}

/// One standard exponential draw: `rand_distr`'s ziggurat [`Exp1`], forced inline.
///
/// `rng.sample(Exp1)` is a call the compiler keeps out of line, which stores and reloads the
/// generator's state on every draw (about 55 instructions, half of them the call); inlined into
/// a loop that keeps the state in registers, a draw costs about 25. Same numbers either way.
#[inline(always)]
pub fn exp1<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    <Exp1 as Distribution<f64>>::sample(&Exp1, rng)
}

/// A [`Dist`] ready to draw from.
#[derive(Debug, Clone)]
pub enum Sampler {
    Fixed(f64),
    Exponential { mean: f64 },
    LogNormal { mu: f64, sigma: f64 },
    Gamma(Gamma<f64>),
    Empirical(Arc<[f64]>),
}

impl Sampler {
    pub fn new(dist: &Dist) -> Self {
        match dist {
            Dist::Fixed(v) => Sampler::Fixed(*v),
            Dist::Exponential { mean } => Sampler::Exponential { mean: *mean },
            Dist::LogNormal { mu, sigma } => Sampler::LogNormal { mu: *mu, sigma: *sigma },
            Dist::Gamma { shape, scale } => Sampler::Gamma(
                Gamma::new(*shape, *scale).expect("validated: shape and scale are positive"),
            ),
            Dist::Empirical(values) => Sampler::Empirical(values.clone()),
        }
    }

    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            Sampler::Fixed(v) => *v,
            Sampler::Exponential { mean } => mean * exp1(rng),
            Sampler::LogNormal { mu, sigma } => {
                let z: f64 = rng.sample(StandardNormal);
                (mu + sigma * z).exp()
            }
            Sampler::Gamma(g) => g.sample(rng),
            Sampler::Empirical(values) => values[rng.random_range(0..values.len())],
        }
    }
}

/// Token counts: at least 1, rounded to the nearest integer (halves away from zero), NaN → 0.
///
/// Equal to `x.round().clamp(1.0, u32::MAX as f64) as u32`, without `round`, which is a
/// library call on baseline x86-64 and ran twice per request: below 2³², `x − trunc(x)` is
/// exact, so comparing it with ½ rounds exactly.
#[inline]
pub fn token_count(x: f64) -> u32 {
    if x.is_nan() {
        return 0;
    }
    if x >= f64::from(u32::MAX) {
        return u32::MAX;
    }
    let t = x as i64;
    let rounded = t + i64::from(x - t as f64 >= 0.5);
    rounded.clamp(1, i64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::{Component, StreamId};

    /// No two streams of a replication share an id, for up to 1,000 deployments, 1,200 months,
    /// 100,000 devices and 1,000 zones.
    #[test]
    fn stream_ids_never_collide() {
        let mut ids = std::collections::HashSet::new();
        let mut add = |s: StreamId| assert!(ids.insert(s.id()), "{s:?} collides");
        for month in std::iter::once(None).chain((0..1200).map(Some)) {
            add(StreamId::Arrivals(month));
            for k in 0..1000 {
                add(StreamId::Deployment(month, k));
            }
        }
        add(StreamId::Noise);
        for c in [Component::SitePower, Component::Provider, Component::Releases] {
            add(StreamId::Component(c));
        }
        for i in 0..100_000 {
            add(StreamId::Component(Component::Device(i)));
        }
        for z in 0..1000 {
            add(StreamId::Component(Component::Zone(z)));
        }
    }

    #[test]
    fn token_count_rounds_like_round() {
        let reference = |x: f64| x.round().clamp(1.0, f64::from(u32::MAX)) as u32;
        let mut values = vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -0.5,
            0.0,
            0.49999999999999994,
            0.5,
            1.5,
            2.5,
            4294967294.5,
            4294967295.0,
            1e300,
        ];
        let mut x: f64 = 1e-3;
        while x < 1e10 {
            values.extend([
                x,
                x.next_up(),
                x.next_down(),
                x.floor() + 0.5,
                (x.floor() + 0.5).next_down(),
            ]);
            x *= 1.0137;
        }
        for v in values {
            assert_eq!(super::token_count(v), reference(v), "{v}");
        }
    }

    use super::*;

    #[test]
    fn streams_differ_and_repeat() {
        let a: u64 = stream(7, 0, 0).random();
        let b: u64 = stream(7, 1, 0).random();
        let c: u64 = stream(7, 0, 1).random();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, stream(7, 0, 0).random::<u64>());
    }

    #[test]
    fn sample_means_match_dist_means() {
        let dists = [
            Dist::Exponential { mean: 3.0 },
            Dist::LogNormal { mu: 1.0, sigma: 0.5 },
            Dist::Gamma { shape: 0.5, scale: 4.0 },
            Dist::Empirical(vec![1.0, 2.0, 6.0].into()),
            Dist::Fixed(2.5),
        ];
        let mut rng = stream(1, 0, 0);
        for d in dists {
            let s = Sampler::new(&d);
            let n = 200_000;
            let xs: Vec<f64> = (0..n).map(|_| s.sample(&mut rng)).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = d.second_moment() - d.mean().powi(2);
            let se = (var / n as f64).sqrt();
            assert!((mean - d.mean()).abs() <= 4.0 * se + 1e-12, "{d:?}: {mean} vs {}", d.mean());
        }
    }
}
