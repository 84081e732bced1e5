//! Failure timelines: when each device, site, zone or provider is down.
//!
//! A replication draws one timeline per deployment with `[deployment.failures]`, covering the
//! whole run (every month of a horizon), so outages fall where they fall and the months'
//! windows, downtime and repair costs all see the same events. Each component (site power,
//! provider, device `i`, zone `z`) draws from its own stream, shared across deployments
//! ([`Component`]). Every
//! component is an alternating renewal process, started in equilibrium: down at time 0 with
//! its long-run probability `mean_down / (mean_up + mean_down)`, the first period drawn afresh
//! (exact for exponential periods).
//!
//! * **Local:** each device fails after its time to failure (exponential or Weibull, mean
//!   MTBF) and is repaired after an exponential time (mean MTTR). Power outages hit the whole
//!   site; a UPS bridges the first `ups_runtime` of each, so an outage of length `d` takes the
//!   devices down for `max(0, d − ups_runtime)`. The deployment is *down* (refuses requests)
//!   when every device is down; fewer devices up means less capacity.
//! * **Cloud:** `zones` independent zones; the endpoint serves from one zone. When it fails and
//!   another zone is up, traffic moves there after `failover_delay` (requests fail meanwhile);
//!   when none is up, the endpoint is down until the first zone recovers, plus the delay.
//!   Provider-wide outages take everything down. With no failover delay the endpoint is down
//!   exactly when all zones are (probability `pⁿ`, [`lcsim_core::theory::all_down`]).

use lcsim_core::lifecycle::{Cadence, Federated, Updates};
use lcsim_core::reliability::{Failures, Lifetime, Outage};
use rand::RngExt;
use rand_distr::{Distribution, Exp1, Weibull};

pub use crate::random::Component;
use crate::random::{Sampler, SimRng};

/// Sorted, disjoint, non-empty `[start, end)` intervals in milliseconds.
pub type Intervals = Vec<(f64, f64)>;

/// Whether `t` lies in one of `iv`.
#[inline]
pub fn contains(iv: &[(f64, f64)], t: f64) -> bool {
    if iv.is_empty() {
        return false;
    }
    let i = iv.partition_point(|&(_, end)| end <= t);
    i < iv.len() && iv[i].0 <= t
}

/// The first time at or after `t` outside `iv`.
#[inline]
pub fn next_up(iv: &[(f64, f64)], t: f64) -> f64 {
    if iv.is_empty() {
        return t;
    }
    let i = iv.partition_point(|&(_, end)| end <= t);
    if i < iv.len() && iv[i].0 <= t { iv[i].1 } else { t }
}

/// Sorts and merges overlapping or touching intervals.
pub fn normalize(mut iv: Intervals) -> Intervals {
    iv.retain(|&(a, b)| b > a);
    iv.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut out: Intervals = Vec::with_capacity(iv.len());
    for (a, b) in iv {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

pub fn union(a: &[(f64, f64)], b: &[(f64, f64)]) -> Intervals {
    normalize(a.iter().chain(b).copied().collect())
}

pub fn intersection(a: &[(f64, f64)], b: &[(f64, f64)]) -> Intervals {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if hi > lo {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 { i += 1 } else { j += 1 }
    }
    out
}

/// The parts of `a` outside `b` (both sorted and disjoint).
pub fn difference(a: &[(f64, f64)], b: &[(f64, f64)]) -> Intervals {
    let mut out = Vec::new();
    let mut j = 0;
    for &(mut lo, hi) in a {
        while j < b.len() && b[j].1 <= lo {
            j += 1;
        }
        let mut k = j;
        while k < b.len() && b[k].0 < hi {
            if b[k].0 > lo {
                out.push((lo, b[k].0));
            }
            lo = lo.max(b[k].1);
            k += 1;
        }
        if hi > lo {
            out.push((lo, hi));
        }
    }
    out
}

/// Total length of `iv` inside `[from, to)`.
pub fn measure(iv: &[(f64, f64)], from: f64, to: f64) -> f64 {
    iv.iter().fold(0.0, |sum, &(a, b)| sum + (b.min(to) - a.max(from)).max(0.0))
}

/// `iv` moved by `-offset` (into a window's clock), dropping intervals that end before 0.
pub fn shifted(iv: &[(f64, f64)], offset: f64) -> Intervals {
    iv.iter().filter(|&&(_, b)| b > offset).map(|&(a, b)| (a - offset, b - offset)).collect()
}

/// One deployment's failure timeline over a replication.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Local: out-of-service intervals of each device (failures, site power, update
    /// roll-outs, training that serves nothing).
    pub devices: Vec<Intervals>,
    /// Local: failure times of each device (each one is a repair to pay for).
    pub failures: Vec<Vec<f64>>,
    /// Cloud: when the endpoint refuses requests (zones, failover, provider).
    pub endpoint: Intervals,
    /// Release times (local and cloud).
    pub releases: Vec<f64>,
    /// Local: each device's update roll-out (and rollback) intervals.
    pub updates: Vec<Intervals>,
    /// Local: each device's training intervals (busy with federated learning).
    pub training: Vec<Intervals>,
    /// Inference speed while training: 0 = out of service (then `training` is in `devices`).
    pub training_speed: f64,
    /// Failed (rolled back) device updates.
    pub failed_updates: Vec<f64>,
}

impl Timeline {
    /// When the deployment cannot serve at all with its first `devices` devices.
    pub fn down(&self, devices: usize) -> Intervals {
        if self.devices.is_empty() {
            return self.endpoint.clone();
        }
        let mut iter = self.devices.iter().take(devices.max(1));
        let first = iter.next().cloned().unwrap_or_default();
        iter.fold(first, |acc, d| intersection(&acc, d))
    }

    /// Device failures of the first `devices` devices in `[from, to)`.
    pub fn failures_in(&self, devices: usize, from: f64, to: f64) -> usize {
        self.failures
            .iter()
            .take(devices)
            .map(|f| f.iter().filter(|&&t| t >= from && t < to).count())
            .sum()
    }
}

/// An alternating up/down process on `[0, horizon)`: returns the down intervals and the
/// times the component went down (not counting a start in the down state).
fn alternating(
    rng: &mut SimRng,
    horizon: f64,
    mean_up: f64,
    mean_down: f64,
    mut up: impl FnMut(&mut SimRng) -> f64,
    mut down: impl FnMut(&mut SimRng) -> f64,
) -> (Intervals, Vec<f64>) {
    let mut intervals = Vec::new();
    let mut failures = Vec::new();
    let p_down = mean_down / (mean_up + mean_down);
    let mut t = 0.0;
    if rng.random::<f64>() < p_down {
        let d = down(rng);
        intervals.push((0.0, d));
        t = d;
    }
    while t < horizon {
        t += up(rng);
        if t >= horizon {
            break;
        }
        let d = down(rng);
        intervals.push((t, t + d));
        failures.push(t);
        t += d;
    }
    (intervals, failures)
}

fn exponential(mean: f64) -> impl FnMut(&mut SimRng) -> f64 {
    move |rng| {
        let e: f64 = rng.sample(Exp1);
        mean * e
    }
}

fn outage_process(rng: &mut SimRng, horizon: f64, o: &Outage) -> Intervals {
    let duration = Sampler::new(&o.duration_ms);
    alternating(
        rng,
        horizon,
        1.0 / o.rate_per_ms,
        o.duration_ms.mean(),
        exponential(1.0 / o.rate_per_ms),
        |r| duration.sample(r),
    )
    .0
}

/// Times `(k + ½) · period` in `[0, horizon)`.
pub fn periodic(period: f64, horizon: f64) -> Vec<f64> {
    (0..).map(|k| (k as f64 + 0.5) * period).take_while(|&t| t < horizon).collect()
}

/// How many of `(k + ½) · period` fall in `[from, to)`.
pub fn periodic_in(period: f64, from: f64, to: f64) -> usize {
    let first = (from / period - 0.5).ceil().max(0.0);
    let last = (to / period - 0.5).ceil().max(0.0);
    (last - first).max(0.0) as usize
}

/// Adds model releases (with their device-by-device roll-outs) and federated-learning rounds
/// to a timeline. `devices`: the most devices the deployment can have (roll-outs go through
/// them in order); `fleet`: its devices at the start (training rounds rotate over them).
pub fn maintenance(
    timeline: &mut Timeline,
    updates: Option<&Updates>,
    federated: Option<&Federated>,
    (devices, fleet): (u32, u32),
    horizon: f64,
    rng: impl Fn(Component) -> SimRng,
) {
    let n = devices as usize;
    timeline.devices.resize(n, Vec::new());
    timeline.failures.resize(n, Vec::new());
    timeline.updates = vec![Vec::new(); n];
    timeline.training = vec![Vec::new(); n];
    let mut draws = rng(Component::Releases);
    if let Some(cadence) = updates.and_then(Updates::cadence) {
        timeline.releases = match cadence {
            Cadence::Every { interval_ms } => periodic(interval_ms, horizon),
            Cadence::Poisson { rate_per_ms } => {
                let mut t = 0.0;
                let mut out = Vec::new();
                loop {
                    let e: f64 = draws.sample(Exp1);
                    t += e / rate_per_ms;
                    if t >= horizon {
                        break out;
                    }
                    out.push(t);
                }
            }
        };
    }
    if let Some(Updates::Local { rollout_ms, failure_probability, rollback_ms, .. }) = updates {
        for &r in &timeline.releases {
            // Rolling: one device after another.
            let mut t = r;
            for i in 0..n {
                let failed =
                    *failure_probability > 0.0 && draws.random::<f64>() < *failure_probability;
                let out = rollout_ms + if failed { *rollback_ms } else { 0.0 };
                if failed {
                    timeline.failed_updates.push(t);
                }
                if out > 0.0 {
                    timeline.updates[i].push((t, t + out));
                }
                t += out;
            }
        }
    }
    if let Some(f) = federated {
        let fleet = fleet.max(1) as usize;
        let k = ((f.share_of_devices * fleet as f64).round() as usize).min(fleet);
        for (j, start) in periodic(f.round_ms, horizon).into_iter().enumerate() {
            for m in 0..k {
                let i = (j * k + m) % fleet;
                timeline.training[i].push((start, start + f.busy_ms));
            }
        }
        timeline.training_speed = f.inference_speed;
    }
    for i in 0..n {
        let mut extra = std::mem::take(&mut timeline.updates[i]);
        extra = normalize(extra);
        timeline.updates[i] = extra.clone();
        timeline.training[i] = normalize(std::mem::take(&mut timeline.training[i]));
        if timeline.training_speed == 0.0 {
            extra = union(&extra, &timeline.training[i]);
        }
        timeline.devices[i] = union(&timeline.devices[i], &extra);
    }
}

/// Draws the timeline of a deployment with `devices` devices (the most it will ever have);
/// `rng` gives each component's generator.
pub fn draw(
    failures: &Failures,
    devices: u32,
    horizon: f64,
    rng: impl Fn(Component) -> SimRng,
) -> Timeline {
    match failures {
        Failures::Local { devices: device_failures, power, ups_runtime_ms } => {
            let site: Intervals = match power {
                None => Vec::new(),
                Some(o) => normalize(
                    outage_process(&mut rng(Component::SitePower), horizon, o)
                        .into_iter()
                        .map(|(a, b)| (a + ups_runtime_ms, b))
                        .collect(),
                ),
            };
            let mut timeline = Timeline::default();
            for i in 0..devices {
                let rng = &mut rng(Component::Device(i));
                let (down, failed) = match device_failures {
                    None => (Vec::new(), Vec::new()),
                    Some(f) => {
                        let mean_up = match f.time_to_failure {
                            Lifetime::Exponential { mean_ms } => mean_ms,
                            Lifetime::Weibull { shape, scale_ms } => {
                                scale_ms * lcsim_core::theory::gamma(1.0 + 1.0 / shape)
                            }
                        };
                        let weibull = match f.time_to_failure {
                            Lifetime::Weibull { shape, scale_ms } => {
                                Some(Weibull::new(scale_ms, shape).expect("validated: positive"))
                            }
                            Lifetime::Exponential { .. } => None,
                        };
                        alternating(
                            rng,
                            horizon,
                            mean_up,
                            f.mttr_ms,
                            |r| match &weibull {
                                Some(w) => w.sample(r),
                                None => {
                                    let e: f64 = r.sample(Exp1);
                                    mean_up * e
                                }
                            },
                            exponential(f.mttr_ms),
                        )
                    }
                };
                timeline.devices.push(union(&down, &site));
                timeline.failures.push(failed);
            }
            timeline
        }
        Failures::Cloud { zones, zone, failover_delay_ms, provider } => {
            let zone_down: Vec<Intervals> = (0..*zones)
                .map(|z| {
                    zone.as_ref().map_or_else(Vec::new, |o| {
                        outage_process(&mut rng(Component::Zone(z)), horizon, o)
                    })
                })
                .collect();
            let provider_down = provider.as_ref().map_or_else(Vec::new, |o| {
                outage_process(&mut rng(Component::Provider), horizon, o)
            });
            let endpoint =
                union(&serving_down(&zone_down, *failover_delay_ms, horizon), &provider_down);
            Timeline { endpoint, ..Timeline::default() }
        }
    }
}

/// Down intervals of an endpoint served from one zone at a time, failing over to the
/// lowest-numbered healthy zone after `delay`.
fn serving_down(zones: &[Intervals], delay: f64, horizon: f64) -> Intervals {
    let up_at = |t: f64| (0..zones.len()).find(|&z| !contains(&zones[z], t));
    let mut out = Vec::new();
    let mut t = 0.0;
    let mut active = match up_at(0.0) {
        Some(z) => z,
        None => {
            let (z, r) = first_recovery(zones, 0.0);
            out.push((0.0, r + delay));
            t = r;
            z
        }
    };
    while t < horizon {
        // The active zone's next failure at or after t.
        let iv = &zones[active];
        let i = iv.partition_point(|&(a, _)| a < t);
        let Some(&(f, _)) = iv.get(i) else { break };
        if f >= horizon {
            break;
        }
        match (0..zones.len()).find(|&z| z != active && !contains(&zones[z], f)) {
            Some(z) => {
                if delay > 0.0 {
                    out.push((f, f + delay));
                }
                active = z;
                t = f;
            }
            None => {
                let (z, r) = first_recovery(zones, f);
                out.push((f, r + delay));
                active = z;
                t = r;
            }
        }
    }
    normalize(out)
}

/// With every zone down at `t`: the zone that comes back first, and when.
fn first_recovery(zones: &[Intervals], t: f64) -> (usize, f64) {
    (0..zones.len())
        .map(|z| (z, next_up(&zones[z], t)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("at least one zone")
}

#[cfg(test)]
mod tests {
    #[test]
    fn difference_removes_what_b_covers() {
        let a = [(0.0, 10.0), (20.0, 30.0), (40.0, 50.0)];
        let b = [(2.0, 3.0), (5.0, 22.0), (25.0, 26.0), (29.0, 45.0)];
        let d = super::difference(&a, &b);
        assert_eq!(d, vec![(0.0, 2.0), (3.0, 5.0), (22.0, 25.0), (26.0, 29.0), (45.0, 50.0)]);
        // Every point is in the difference exactly when it is in a and not in b.
        for i in 0..600 {
            let t = f64::from(i) / 10.0;
            let expect = super::contains(&a, t) && !super::contains(&b, t);
            assert_eq!(super::contains(&d, t), expect, "{t}");
        }
    }

    use super::*;

    #[test]
    fn interval_algebra() {
        let a = normalize(vec![(5.0, 7.0), (0.0, 2.0), (1.0, 3.0), (7.0, 8.0)]);
        assert_eq!(a, vec![(0.0, 3.0), (5.0, 8.0)]);
        let b = vec![(2.0, 6.0)];
        assert_eq!(intersection(&a, &b), vec![(2.0, 3.0), (5.0, 6.0)]);
        assert_eq!(union(&a, &b), vec![(0.0, 8.0)]);
        assert_eq!(measure(&a, 1.0, 6.0), 3.0);
        assert!(contains(&a, 0.0) && contains(&a, 2.9) && !contains(&a, 3.0) && !contains(&a, 4.0));
        assert_eq!(next_up(&a, 5.5), 8.0);
        assert_eq!(next_up(&a, 4.0), 4.0);
        assert_eq!(shifted(&a, 4.0), vec![(1.0, 4.0)]);
    }

    /// A UPS bridges the first `ups_runtime` of each power cut: a 60-minute cut behind a
    /// 30-minute UPS takes the devices down for the last 30 minutes, a 20-minute one not at all.
    #[test]
    fn ups_bridges_the_start_of_each_power_cut() {
        use lcsim_core::Dist;
        for (minutes, down) in [(60.0, 30.0), (20.0, 0.0)] {
            let failures = Failures::Local {
                devices: None,
                power: Some(Outage {
                    rate_per_ms: 1.0 / (100.0 * 3_600_000.0),
                    duration_ms: Dist::Fixed(minutes * 60_000.0),
                }),
                ups_runtime_ms: 30.0 * 60_000.0,
            };
            let horizon = 100_000.0 * 3_600_000.0;
            let t = draw(&failures, 2, horizon, |c| crate::random::stream(1, 0, c.stream()));
            assert_eq!(t.devices[0], t.devices[1], "site power hits every device");
            assert!(t.devices[0].iter().all(|&(a, b)| ((b - a) - down * 60_000.0).abs() < 1e-6));
            assert_eq!(t.devices[0].is_empty(), down == 0.0);
            if down > 0.0 {
                // About one cut per 100 h of up time.
                let n = t.devices[0].len() as f64;
                assert!((n - 1000.0).abs() < 4.0 * 1000f64.sqrt(), "{n} cuts");
            }
        }
    }

    #[test]
    fn failover_delay_and_total_outage() {
        // Zone 0 down 10..20, zone 1 down 15..30: failover at 10 (to zone 1), zone 1 fails at
        // 15 with zone 0 down: all down until 20, plus the delay.
        let zones = vec![vec![(10.0, 20.0)], vec![(15.0, 30.0)]];
        assert_eq!(serving_down(&zones, 1.0, 100.0), vec![(10.0, 11.0), (15.0, 21.0)]);
        assert_eq!(serving_down(&zones, 0.0, 100.0), vec![(15.0, 20.0)]);
    }
}
