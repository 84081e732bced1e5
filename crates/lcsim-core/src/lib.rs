//! Scenario format and domain models of lcsim.
//!
//! **Invariant:** this crate does no IO, spawns no threads and never seeds a random-number
//! generator. Files a scenario refers to are read by the caller through
//! [`scenario::FileSource`].

pub mod check;
pub mod continuous;
pub mod cost;
pub mod deployment;
pub mod dist;
pub mod error;
pub mod files;
pub mod lifecycle;
pub mod limits;
pub mod model;
pub mod profile;
pub mod reliability;
pub mod run_size;
pub mod scenario;
pub mod simulation;
pub mod stats;
pub mod summary;
pub mod sweep;
pub mod theory;
pub mod trace;
pub mod traffic;
pub mod units;
pub mod validation;
pub mod wire;

pub use dist::Dist;
pub use error::ScenarioError;
pub use scenario::{FileSource, Scenario, parse_scenario};
