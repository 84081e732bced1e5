//! Validated scenarios: what the engine simulates.
//!
//! [`parse_scenario`] reads TOML text into [`crate::wire`] structs, then validates them into the
//! domain types: the top level here, each table in its own module ([`crate::simulation`],
//! [`crate::traffic`], [`crate::deployment`] with [`crate::continuous`], and the cost,
//! reliability and lifecycle tables), all re-exported below. The engine only ever sees these
//! types. An error names its key, and [`locate`] finds the key's line and column. Files a scenario refers to (a trace, an
//! empirical column) are read through a [`FileSource`] the caller provides, so this crate does
//! no IO of its own.
//!
//! Times inside the domain types are milliseconds unless a name says otherwise.

use std::ops::Range;

use toml::Spanned;
use toml::de::DeTable;

use crate::check::{non_negative, positive};
use crate::deployment::{check_routing_cycles, validate_deployment};
use crate::error::{Locator, Problem, ScenarioError, closest};
use crate::lifecycle::Updates;
use crate::limits;
use crate::traffic::validate_traffic;
use crate::wire::ScenarioWire;

pub use crate::continuous::{Continuous, DecodeTable, Linear};
pub use crate::deployment::{
    Cloud, Deployment, Local, LocalService, MAX_BATCH, Model, Provider, TokenLatency,
};
pub use crate::files::{FileSource, NoFiles};
pub use crate::model::Scenario;
pub use crate::run_size::check_run_size;
pub use crate::simulation::{Horizon, Simulation};
pub use crate::traffic::{Arrivals, TokenSource, Traffic, intensity_multiplier};
pub use crate::units::{HOURS_PER_MONTH, MS_PER_HOUR};

/// Parses and validates scenario text. `origin` names the file in error messages.
pub fn parse_scenario(
    origin: &str,
    text: &str,
    files: &dyn FileSource,
) -> Result<Scenario, Box<ScenarioError>> {
    let locator = Locator::new(origin, text);
    let doc =
        DeTable::parse(text).map_err(|e| Box::new(locator.error(syntax_problem(text, &e))))?;
    let wire = wire_from_doc(&doc).map_err(|p| Box::new(locator.error(p)))?;
    validate(&wire, files).map_err(|mut p| {
        if p.span.is_none() {
            p.span = locate(&doc, &p.key_path);
        }
        Box::new(locator.error(p))
    })
}

/// Validates a scenario given in wire form (a sweep point: [`crate::sweep::Editable::with`]).
pub fn scenario_from_wire(
    wire: &ScenarioWire,
    files: &dyn FileSource,
) -> Result<Scenario, Problem> {
    validate(wire, files)
}

/// Parses scenario text into its wire form only (for tools that rewrite scenarios).
pub fn parse_wire(origin: &str, text: &str) -> Result<ScenarioWire, Box<ScenarioError>> {
    let locator = Locator::new(origin, text);
    let doc =
        DeTable::parse(text).map_err(|e| Box::new(locator.error(syntax_problem(text, &e))))?;
    wire_from_doc(&doc).map_err(|p| Box::new(locator.error(p)))
}

/// A TOML syntax error, located. Errors without a span of their own (the parser's nesting
/// limit) point at the deepest nesting, where parsing stopped.
fn syntax_problem(text: &str, e: &toml::de::Error) -> Problem {
    let mut p = Problem::new("", format!("TOML syntax error: {}", e.message().trim()));
    p.span = e.span().or_else(|| {
        let (mut depth, mut deepest, mut at) = (0usize, 0usize, 0usize);
        for (i, c) in text.char_indices() {
            match c {
                '[' | '{' => {
                    depth += 1;
                    if depth > deepest {
                        (deepest, at) = (depth, i);
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                '\n' => depth = depth.min(deepest),
                _ => {}
            }
        }
        Some(at..at + 1)
    });
    p
}

fn wire_from_doc(doc: &Spanned<DeTable<'_>>) -> Result<ScenarioWire, Problem> {
    let de = toml::de::Deserializer::from(doc.clone());
    serde_path_to_error::deserialize::<_, ScenarioWire>(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let inner = e.into_inner();
        let span = inner.span();
        let mut p = serde_problem(path, inner.message());
        p.span = span.or_else(|| locate(doc, &p.key_path));
        p
    })
}

/// Rewrites serde's messages into the key-path form of every other error.
fn serde_problem(path: String, message: &str) -> Problem {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let key = if path.is_empty() { field.to_string() } else { format!("{path}.{field}") };
        // serde_path_to_error already ends the path with the unknown key in some versions.
        let key = if path.ends_with(field) { path.clone() } else { key };
        let parent = key.rsplit_once('.').map_or("the top level", |(p, _)| p);
        let p = Problem::new(key.clone(), format!("unknown key `{field}` in {parent}"));
        return match closest(field, known.iter().copied()) {
            Some(k) => p.hint(format!("did you mean `{k}`?")),
            None => p.hint(format!("known keys here: {}", known.join(", "))),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let p = Problem::new(path.clone(), format!("unknown value \"{value}\""));
        return match closest(value, known.iter().copied()) {
            Some(k) => p.hint(format!("did you mean \"{k}\"?")),
            None => p.hint(format!("one of: {}", known.join(", "))),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        let key = if path.is_empty() { field.to_string() } else { format!("{path}.{field}") };
        return Problem::new(key, format!("missing required key `{field}`"))
            .hint("`lcsim init` prints a scenario with every key explained");
    }
    if message.contains("untagged enum LinearWire") {
        return Problem::new(
            path,
            "expected a number of milliseconds or { base = .., per_batch = .. }",
        );
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        return Problem::new(path, message.to_string());
    }
    Problem::new(path, message.to_string())
}

/// Byte span of the key at a dotted path such as `deployment[1].service_ms.mean`: the key
/// itself when it exists, else the closest enclosing key that does.
fn locate(doc: &Spanned<DeTable<'_>>, key_path: &str) -> Option<Range<usize>> {
    let mut best = None;
    let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
    for segment in key_path.split('.').filter(|s| !s.is_empty()) {
        let (name, indices) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        let Some((key, v)) = table.and_then(|t| t.iter().find(|(k, _)| k.get_ref() == name)) else {
            break;
        };
        best = Some(key.span());
        let mut value = v;
        for index in indices.split(['[', ']']).filter(|s| !s.is_empty()) {
            let Some(item) =
                index.parse::<usize>().ok().and_then(|i| value.get_ref().as_array()?.get(i))
            else {
                return best;
            };
            best = Some(item.span());
            value = item;
        }
        table = value.get_ref().as_table();
    }
    best
}

fn validate(wire: &ScenarioWire, files: &dyn FileSource) -> Result<Scenario, Problem> {
    if wire.name.trim().is_empty()
        || wire.name.contains(['/', '\\'])
        || wire.name.starts_with('.')
        || wire.name.chars().any(char::is_control)
        || wire.name.chars().count() > MAX_NAME_CHARS
    {
        return Err(Problem::new(
            "name",
            format!("the name must be 1 to {MAX_NAME_CHARS} characters, not start with `.`, and hold no `/`, `\\` or control characters"),
        )
        .hint("it names the output folder output/<name>/"));
    }
    let sim = &wire.simulation;
    let hours_bound = "a run covers at most 100 years (876,000 hours) of simulated time";
    let warmup_h = non_negative("simulation.warmup_hours", sim.warmup_hours.unwrap_or(0.0))?;
    crate::check::within(
        "simulation.warmup_hours",
        warmup_h,
        0.0,
        limits::MAX_DURATION_HOURS,
        hours_bound,
    )?;
    let horizon = match (sim.horizon_months, sim.window_hours) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(Problem::new(
                "simulation.window_hours",
                "`window_hours` needs `horizon_months`",
            ));
        }
        (Some(months), window) => {
            if !(1..=600).contains(&months) {
                return Err(Problem::new(
                    "simulation.horizon_months",
                    format!("must be a whole number of months from 1 to 600, got {months}"),
                ));
            }
            let window_h = positive("simulation.window_hours", window.unwrap_or(24.0))?;
            if window_h > HOURS_PER_MONTH {
                return Err(Problem::new(
                    "simulation.window_hours",
                    format!(
                        "a month has {HOURS_PER_MONTH} hours; got {}",
                        crate::check::num(window_h)
                    ),
                ));
            }
            Some(Horizon { months, window_ms: window_h * MS_PER_HOUR })
        }
    };
    let duration_h = match (sim.duration_hours, horizon) {
        (Some(_), Some(_)) => {
            return Err(Problem::new("simulation.duration_hours", "`duration_hours` is for stationary runs; a run with `horizon_months` simulates `window_hours` of each month")
                .hint("remove `duration_hours`"));
        }
        (None, None) => {
            return Err(Problem::new(
                "simulation.duration_hours",
                "missing required key `duration_hours` (or `horizon_months` for a cost horizon)",
            )
            .hint("`lcsim init` prints a scenario with every key explained"));
        }
        (Some(d), None) => {
            let d = positive("simulation.duration_hours", d)?;
            crate::check::within(
                "simulation.duration_hours",
                d,
                0.0,
                limits::MAX_DURATION_HOURS,
                hours_bound,
            )?;
            if warmup_h >= d {
                return Err(Problem::new(
                    "simulation.warmup_hours",
                    format!("warm-up ({warmup_h} h) must be shorter than the duration ({d} h)"),
                ));
            }
            d
        }
        (None, Some(h)) => warmup_h + h.window_ms / MS_PER_HOUR,
    };
    let simulation = Simulation {
        seed: sim.seed,
        replications: crate::check::count_up_to(
            "simulation.replications",
            sim.replications,
            limits::MAX_REPLICATIONS,
            "each replication keeps a row of results; split larger studies into several runs",
        )?,
        duration_ms: duration_h * MS_PER_HOUR,
        warmup_ms: warmup_h * MS_PER_HOUR,
        horizon,
    };
    let traffic = validate_traffic(&wire.traffic, files)?;
    if wire.deployments.is_empty() {
        return Err(Problem::new("deployment", "the scenario has no [[deployment]]"));
    }
    if wire.deployments.len() > 64 {
        return Err(Problem::new(
            format!("deployment[{}]", 64),
            format!(
                "a scenario holds at most 64 deployments, this one has {}",
                wire.deployments.len()
            ),
        )
        .hint("split the comparison into several scenarios"));
    }
    let mut deployments = Vec::new();
    let names: Vec<&str> = wire.deployments.iter().map(|d| d.name.as_str()).collect();
    for (i, d) in wire.deployments.iter().enumerate() {
        let key = format!("deployment[{i}]");
        if let Some(j) = wire.deployments[..i].iter().position(|o| o.name == d.name) {
            return Err(Problem::new(
                format!("{key}.name"),
                format!("deployment name '{}' is already used by deployment[{j}]", d.name),
            ));
        }
        deployments.push(validate_deployment(&key, d, &traffic, files, &names, &wire.deployments)?);
    }
    check_routing_cycles(&deployments)?;
    if simulation.horizon.is_none() {
        for (i, d) in deployments.iter().enumerate() {
            let month_keys =
                matches!(d.updates, Some(Updates::Cloud { model_change: Some(_), .. }));
            if month_keys {
                return Err(Problem::new(
                    format!("deployment[{i}].updates.model_change_month"),
                    "a model change from a given month needs `horizon_months` in [simulation]",
                ));
            }
        }
    }
    let slo = wire.slo.as_ref().map(|s| s.validate()).transpose()?;
    if wire.sweep.is_some() || wire.sensitivity.is_some() {
        let editable = crate::sweep::Editable::new(wire)?;
        if let Some(t) = &wire.sweep {
            crate::sweep::axes_of(t, &editable)?;
        }
        if let Some(t) = &wire.sensitivity {
            crate::sweep::swings_of(t, &editable)?;
        }
    }
    let mut scenario = Scenario {
        name: wire.name.clone(),
        simulation,
        traffic,
        deployments,
        slo,
        warnings: Vec::new(),
    };
    for (i, d) in scenario.deployments.iter().enumerate() {
        let unlimited_queue = match &d.model {
            Model::Local(l) => l.queue_capacity.is_none(),
            Model::Cloud(c) if c.autoscale.is_some() => d.timeout_ms.is_none(),
            Model::Cloud(c) => c.queue_capacity.is_none(),
            Model::Hybrid(_) => false,
        };
        let Some((mean_load, peak_load)) = scenario.offered_load(d) else { continue };
        if mean_load >= 1.0 && unlimited_queue {
            return Err(Problem::new(
                format!("deployment[{i}]"),
                format!(
                    "deployment '{}' is offered a load of {mean_load:.3} (arrival rate × mean service time / capacity ≥ 1): with an unlimited queue, waits grow without bound",
                    d.name
                ),
            )
            .hint("add servers or batch capacity, lower the traffic, or set `queue_capacity` so excess requests are dropped"));
        }
        if peak_load >= 1.0 && unlimited_queue {
            scenario.warnings.push(format!(
                "deployment '{}': offered load {mean_load:.3} on average but {peak_load:.3} at the busiest hour/month; queues build up at peak",
                d.name
            ));
        }
    }
    check_run_size(&scenario)?;
    Ok(scenario)
}

/// The longest scenario name, in characters: it names a folder, and file systems allow 255
/// bytes per name (up to 4 bytes a character, plus the temporary folder's prefix and suffix).
pub const MAX_NAME_CHARS: usize = 60;
