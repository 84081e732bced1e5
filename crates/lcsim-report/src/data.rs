//! A finished run, read back from its folder: `summary.json`, `monthly.parquet` (horizon runs)
//! and `scenario.toml` (the input, copied by `lcsim run`). Charts and the report are drawn
//! only from this, so `lcsim plot` re-renders exactly what `lcsim run` rendered.

use std::fs::File;
use std::path::Path;

use lcsim_core::scenario::parse_wire;
use lcsim_core::wire::ScenarioWire;
use polars::prelude::*;
use serde_json::Value;

use crate::ReportError;

/// One deployment's figures from `summary.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub name: String,
    pub kind: String,
    pub requests: f64,
    pub utilization: Option<f64>,
    pub mean_batch_size: f64,
    pub latency_mean_ms: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_p99_ms: f64,
    /// Time to first token, p95.
    pub ttft_p95_ms: f64,
    /// Time per output token, p95; `None` when no answer was streamed.
    pub tpot_p95_ms: Option<f64>,
    /// Time to first token and time per output token: p50, p95, p99.
    pub ttft_quantiles_ms: [f64; 3],
    pub tpot_quantiles_ms: Option<[f64; 3]>,
    pub availability: f64,
    pub availability_ci95: Option<[f64; 2]>,
    pub goodput_per_s: f64,
    pub downtime_minutes: f64,
    pub errors: f64,
    pub slo_attainment: Option<f64>,
    /// Hybrids: `(route, share of served requests)`.
    pub routes: Vec<(String, f64)>,
    /// Cumulative cash cost `(month, mean, p5, p95)`, horizon runs with costs.
    pub cumulative: Vec<(u32, f64, f64, f64)>,
    pub cold_start_share: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BreakEven {
    pub local: String,
    pub cloud: String,
    /// `(p50, p5, p95)` over the replications that break even.
    pub month: Option<(f64, f64, f64)>,
    pub never_fraction: f64,
}

/// One row of the monthly table (the columns the charts and report use).
#[derive(Debug, Clone, PartialEq)]
pub struct Month {
    pub deployment: String,
    pub month: u32,
    /// Cost components, cash basis, in chart order.
    pub components: [f64; 11],
    pub cost_mean: f64,
    pub availability: f64,
    pub slo_attainment: Option<f64>,
    pub downtime_minutes: f64,
    pub update_device_hours: f64,
    pub training_device_hours: f64,
}

/// Names of [`Month::components`], as the monthly table's columns.
pub const COMPONENTS: [(&str, &str); 11] = [
    ("capex_usd", "CapEx"),
    ("energy_usd", "Energy"),
    ("colocation_usd", "Colocation"),
    ("ops_usd", "Operations"),
    ("repair_usd", "Repairs"),
    ("token_usd", "Cloud tokens"),
    ("request_usd", "Cloud requests"),
    ("instance_usd", "Cloud instances"),
    ("egress_usd", "Egress"),
    ("updates_usd", "Model updates"),
    ("training_usd", "Training"),
];

#[derive(Debug, Clone)]
pub struct RunData {
    pub scenario: String,
    pub seed: u64,
    pub replications: u64,
    pub horizon_months: Option<u32>,
    pub duration_hours: f64,
    pub requests_simulated: u64,
    pub deployments: Vec<Deployment>,
    pub break_even: Vec<BreakEven>,
    pub months: Vec<Month>,
    pub slo_latency_p95_ms: Option<f64>,
    pub slo_ttft_p95_ms: Option<f64>,
    pub slo_tpot_p95_ms: Option<f64>,
    pub slo_availability: Option<f64>,
    /// The scenario as written, when the run folder holds it.
    pub input: Option<ScenarioWire>,
}

fn bad(path: &Path, what: impl std::fmt::Display) -> ReportError {
    ReportError::Input { path: path.display().to_string(), message: what.to_string() }
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

impl RunData {
    /// Reads a run folder written by `lcsim run`.
    pub fn load(dir: &Path) -> Result<RunData, ReportError> {
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path).map_err(|e| bad(&path, e))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| bad(&path, e))?;
        let field = |v: &Value, key: &str| -> Result<f64, ReportError> {
            num(&v[key]).ok_or_else(|| bad(&path, format!("`{key}` is missing or not a number")))
        };
        let deployments_json =
            v["deployments"].as_object().ok_or_else(|| bad(&path, "`deployments` is missing"))?;
        let mut deployments = Vec::new();
        let mut slo = (None, None);
        let mut slo_tokens = (None, None);
        for (name, d) in deployments_json {
            let latency = &d["latency_ms"];
            if d["slo"].is_object() {
                slo = (num(&d["slo"]["latency_p95_ms"]), num(&d["slo"]["availability"]));
                slo_tokens = (num(&d["slo"]["ttft_p95_ms"]), num(&d["slo"]["tpot_p95_ms"]));
            }
            let e = &d["errors"];
            let errors = ["queue_full", "unavailable", "timed_out", "rate_limited", "too_large"]
                .iter()
                .map(|k| num(&e[*k]).unwrap_or(0.0))
                .sum();
            deployments.push(Deployment {
                name: name.clone(),
                kind: d["kind"].as_str().unwrap_or("?").to_string(),
                requests: field(d, "requests")?,
                utilization: num(&d["utilization"]),
                mean_batch_size: num(&d["mean_batch_size"]).unwrap_or(1.0),
                latency_mean_ms: field(latency, "mean")?,
                latency_p50_ms: field(latency, "p50")?,
                latency_p95_ms: field(latency, "p95")?,
                latency_p99_ms: field(latency, "p99")?,
                ttft_p95_ms: field(&d["ttft_ms"], "p95")?,
                tpot_p95_ms: num(&d["tpot_ms"]["p95"]),
                ttft_quantiles_ms: [
                    field(&d["ttft_ms"], "p50")?,
                    field(&d["ttft_ms"], "p95")?,
                    field(&d["ttft_ms"], "p99")?,
                ],
                tpot_quantiles_ms: (|| {
                    let t = &d["tpot_ms"];
                    Some([num(&t["p50"])?, num(&t["p95"])?, num(&t["p99"])?])
                })(),
                availability: field(&d["availability"], "mean")?,
                availability_ci95: d["availability"]["mean_ci95"]
                    .as_array()
                    .and_then(|a| Some([num(a.first()?)?, num(a.get(1)?)?])),
                goodput_per_s: field(d, "goodput_per_s")?,
                downtime_minutes: field(d, "downtime_minutes")?,
                errors,
                slo_attainment: num(&d["slo"]["attainment"]),
                routes: d["routes"]
                    .as_object()
                    .map(|r| r.iter().filter_map(|(k, v)| Some((k.clone(), num(v)?))).collect())
                    .unwrap_or_default(),
                cumulative: d["cost_usd"]["cumulative"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|b| {
                                Some((
                                    b["month"].as_u64()? as u32,
                                    num(&b["mean"])?,
                                    num(&b["p5"])?,
                                    num(&b["p95"])?,
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                cold_start_share: num(&d["autoscaling"]["cold_start_share"]),
            });
        }
        let break_even = v["break_even"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|b| BreakEven {
                        local: b["local"].as_str().unwrap_or("").to_string(),
                        cloud: b["cloud"].as_str().unwrap_or("").to_string(),
                        month: (|| {
                            let m = &b["month"];
                            Some((num(&m["p50"])?, num(&m["p5"])?, num(&m["p95"])?))
                        })(),
                        never_fraction: num(&b["never_fraction"]).unwrap_or(1.0),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let horizon_months = v["horizon_months"].as_u64().map(|m| m as u32);
        let months = match horizon_months {
            Some(_) => read_months(&dir.join("monthly.parquet"))?,
            None => Vec::new(),
        };
        let input = std::fs::read_to_string(dir.join("scenario.toml"))
            .ok()
            .and_then(|text| parse_wire("scenario.toml", &text).ok());
        Ok(RunData {
            scenario: v["scenario"].as_str().unwrap_or("").to_string(),
            seed: v["seed"].as_u64().unwrap_or(0),
            replications: v["replications"].as_u64().unwrap_or(0),
            horizon_months,
            duration_hours: field(&v, "duration_hours")?,
            requests_simulated: v["requests_simulated"].as_u64().unwrap_or(0),
            deployments,
            break_even,
            months,
            slo_latency_p95_ms: slo.0,
            slo_ttft_p95_ms: slo_tokens.0,
            slo_tpot_p95_ms: slo_tokens.1,
            slo_availability: slo.1,
            input,
        })
    }

    pub fn deployment(&self, name: &str) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.name == name)
    }

    /// The months of one deployment, in order.
    pub fn months_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Month> + 'a {
        self.months.iter().filter(move |m| m.deployment == name)
    }
}

fn read_months(path: &Path) -> Result<Vec<Month>, ReportError> {
    let file = File::open(path).map_err(|e| bad(path, e))?;
    let df = ParquetReader::new(file).finish()?;
    let n = df.height();
    let f64s = |name: &str| -> Result<Vec<Option<f64>>, ReportError> {
        let c = df.column(name)?.f64()?;
        Ok((0..n).map(|i| c.get(i)).collect())
    };
    let deployment = df.column("deployment")?.str()?;
    let names: Vec<String> = (0..n).map(|i| deployment.get(i).unwrap_or("").to_string()).collect();
    let months = df.column("month")?.u32()?;
    let month: Vec<u32> = (0..n).map(|i| months.get(i).unwrap_or(0)).collect();
    let components: Vec<Vec<Option<f64>>> =
        COMPONENTS.iter().map(|(c, _)| f64s(c)).collect::<Result<_, _>>()?;
    let cost = f64s("cost_mean_usd")?;
    let availability = f64s("availability")?;
    let slo = f64s("slo_attainment")?;
    let downtime = f64s("downtime_minutes")?;
    let update_hours = f64s("update_device_hours")?;
    let training_hours = f64s("training_device_hours")?;
    Ok((0..df.height())
        .map(|i| Month {
            deployment: names[i].clone(),
            month: month[i],
            components: std::array::from_fn(|c| components[c][i].unwrap_or(0.0)),
            cost_mean: cost[i].unwrap_or(0.0),
            availability: availability[i].unwrap_or(f64::NAN),
            slo_attainment: slo[i],
            downtime_minutes: downtime[i].unwrap_or(0.0),
            update_device_hours: update_hours[i].unwrap_or(0.0),
            training_device_hours: training_hours[i].unwrap_or(0.0),
        })
        .collect())
}
