//! The Monte Carlo engine of lcsim.
//!
//! A run is `replications` independent simulations of the scenario's traffic through each of
//! its deployments, executed in parallel with rayon and merged in replication order. Every
//! deployment sees the same arrivals (common random numbers), so comparisons are paired.
//!
//! **Invariants:** the output depends only on the scenario and seed, never on thread count or
//! timing; memory does not grow with the number of simulated requests (statistics stream into
//! fixed-size histograms); the engine reads no files and prints nothing.

pub mod arrivals;
pub mod ci;
pub mod histogram;
pub mod horizon;
pub mod hybrid;
pub mod outages;
pub mod partial;
pub mod random;
pub mod recorder;
pub mod replay;
pub mod run;
pub mod station;
pub use station::continuous;
pub mod token_table;
pub mod window;

pub use partial::{MonthRecord, Partial, ReplicationStats, merge};
pub use run::{RunOutput, run, run_replications, summarize};
