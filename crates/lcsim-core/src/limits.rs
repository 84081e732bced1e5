//! Bounds on the size of a run, checked before anything is simulated (a leaf module).
//!
//! A scenario can be valid key by key and still ask for a run that would take days or more
//! memory than the machine has (a rate of 1e12 per second, a failure every nanosecond, a
//! billion replications). Such a run is refused up front, naming the key that drives it, rather
//! than left to hang. The bounds are chosen from what the engine does per unit:
//!
//! - **Requests.** The engine simulates about 60 M request-visits per second on 2 cores
//!   (docs/performance.md), so [`MAX_REQUEST_VISITS`] (1e11) is about half an hour; longer studies
//!   are split with `--replications` or sharded.
//! - **Timeline intervals.** Each failure, outage, release or training round of each device is
//!   a 16-byte interval held in memory for one replication at a time, per thread:
//!   [`MAX_INTERVALS_PER_REPLICATION`] (1e7) is 160 MB per thread.
//! - **Devices and slots.** Each server or concurrency slot holds a few words of state plus its
//!   own timeline: [`MAX_DEVICES`] and [`MAX_SLOTS`] keep that under 100 MB.

use crate::check::num;
use crate::error::Problem;

/// Expected requests × deployments that see them, over all replications.
pub const MAX_REQUEST_VISITS: f64 = 1e11;
/// Failure, outage, release and training intervals of one replication, all devices together.
pub const MAX_INTERVALS_PER_REPLICATION: f64 = 1e7;
/// Devices of one local deployment (servers, or a capacity policy's `max_servers`).
pub const MAX_DEVICES: u32 = 100_000;
/// Concurrency slots of one cloud deployment (`max_concurrency`, or autoscaled instances ×
/// concurrency per instance).
pub const MAX_SLOTS: u64 = 1_000_000;
/// Replications of one run (one result row each is kept).
pub const MAX_REPLICATIONS: u32 = 1_000_000;
/// Simulated hours of a stationary run: 100 years (the arrival profile steps hour by hour).
pub const MAX_DURATION_HOURS: f64 = 876_000.0;
/// Retries of one rate-limited request.
pub const MAX_RETRIES: u32 = 100;
/// Availability zones of one cloud deployment.
pub const MAX_ZONES: u32 = 64;

/// Refuses `visits` above [`MAX_REQUEST_VISITS`], blaming `key`.
pub fn request_visits(key: &str, visits: f64, breakdown: &str) -> Result<(), Problem> {
    if visits.is_finite() && visits <= MAX_REQUEST_VISITS {
        return Ok(());
    }
    Err(Problem::new(
        key,
        format!(
            "this run would simulate about {} requests ({breakdown}), more than the {} lcsim runs at once",
            num(visits),
            num(MAX_REQUEST_VISITS)
        ),
    )
    .hint("lower the traffic, the simulated hours or the replications; at about 60 M requests/s, 1e11 is half an hour on 2 cores"))
}

/// Refuses a replication's timeline above [`MAX_INTERVALS_PER_REPLICATION`], blaming `key`.
pub fn intervals(key: &str, count: f64, what: &str) -> Result<(), Problem> {
    if count.is_finite() && count <= MAX_INTERVALS_PER_REPLICATION {
        return Ok(());
    }
    Err(Problem::new(
        key,
        format!(
            "{what} would put about {} intervals on one replication's timeline, more than the {} (160 MB per thread) lcsim holds",
            num(count),
            num(MAX_INTERVALS_PER_REPLICATION)
        ),
    )
    .hint("each failure, outage, release or training round of each device is one interval; check the units of this key"))
}
