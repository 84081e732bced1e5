//! `[simulation]`: seed, replications, and either a stationary run's duration or a cost
//! horizon's months and window.

use crate::units::HOURS_PER_MONTH;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    pub seed: u64,
    pub replications: u32,
    /// Simulated time per replication, warm-up included.
    pub duration_ms: f64,
    /// Requests arriving before this time are simulated but not counted.
    pub warmup_ms: f64,
    /// Present when the scenario asks for total cost of ownership over months.
    pub horizon: Option<Horizon>,
}

/// A run over `months` months of 730 hours. Each month, `window_ms` of traffic starting at a
/// midnight near the middle of the month (after `warmup_ms`) is simulated request by request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Horizon {
    pub months: u32,
    pub window_ms: f64,
}

impl Horizon {
    /// First hour of month `month`'s window (0-based month): the midnight closest to the middle
    /// of the month, so the whole diurnal cycle is in a 24-hour window.
    pub fn window_start_hour(month: u32) -> u64 {
        let middle = (f64::from(month) + 0.5) * HOURS_PER_MONTH;
        ((middle / 24.0).round() * 24.0) as u64
    }
}

// The TOML form of the table (serde), validated above.

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationWire {
    pub seed: u64,
    pub replications: u32,
    /// Simulated time per replication of a stationary run (not with `horizon_months`).
    pub duration_hours: Option<f64>,
    pub warmup_hours: Option<f64>,
    /// Months of total cost of ownership to simulate (turns on the monthly cost model).
    pub horizon_months: Option<u32>,
    /// Hours simulated request by request in each month (default 24: one whole day).
    pub window_hours: Option<f64>,
}
