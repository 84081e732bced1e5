//! The TOML layer of a scenario: serde structs that mirror the file key for key.
//!
//! Every struct rejects unknown keys. The structs are flat on purpose (one struct per TOML
//! table, every variant's keys optional): serde's tagged enums buffer their input and lose the
//! line/column of errors, and a flat struct lets validation say "`cv` does not apply to
//! pattern = \"poisson\"" instead of a generic mismatch. [`crate::scenario`] turns these into
//! validated domain types; nothing else reads them.
//!
//! Each table's struct lives in the file of its domain type and validation (`simulation.rs`,
//! `traffic.rs`, `deployment.rs`, `continuous.rs`, `cost.rs`, `reliability.rs`,
//! `lifecycle.rs`); this file holds the top level and re-exports the rest.

use serde::{Deserialize, Serialize};

use crate::reliability::SloWire;

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioWire {
    pub name: String,
    pub description: Option<String>,
    pub simulation: SimulationWire,
    pub traffic: TrafficWire,
    #[serde(rename = "deployment")]
    pub deployments: Vec<DeploymentWire>,
    /// Service-level objectives every deployment is measured against.
    pub slo: Option<SloWire>,
    /// `lcsim sweep`'s grid: key path → list of values or range ([`crate::sweep::axis`]).
    pub sweep: Option<toml::Table>,
    /// `lcsim sensitivity`'s keys: key path → `[low, high]` or a share ([`crate::sweep::swings_of`]).
    pub sensitivity: Option<toml::Table>,
}

pub use crate::continuous::{LinearTable, LinearWire};
pub use crate::deployment::{DeploymentKind, DeploymentWire, SchedulerKind};
pub use crate::simulation::SimulationWire;
pub use crate::trace::TraceEnd;
pub use crate::traffic::{Pattern, TrafficWire};
