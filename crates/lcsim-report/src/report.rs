//! `report.md` and a self-contained `report.html` (charts embedded as PNG data): the scenario,
//! a comparison table, the charts and a decision summary that applies the local-vs-cloud
//! decision guide's heuristics to the measured numbers — local for personal data (PII),
//! offline operation, demos and steady, deterministic batches; cloud for bursty traffic,
//! multi-tenant SaaS and analytics APIs; and the hybrid pattern that fits — each line saying
//! which figures drove it.
//!
//! Every number is formatted from [`RunData`] (read back from `summary.json` and
//! `monthly.parquet`) with the functions below, so the report agrees with the files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use lcsim_core::reliability::Policy;
use lcsim_core::wire::{DeploymentKind, Pattern};

use crate::ReportError;
use crate::charts;
use crate::data::{Deployment, RunData};

/// Dollars with thousands separators, no cents.
pub fn usd(x: f64) -> String {
    let digits = format!("{:.0}", x.abs());
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}${grouped}", if x < 0.0 { "-" } else { "" })
}

/// Milliseconds as "850 ms" or "4.21 s".
pub fn duration(ms: f64) -> String {
    if ms >= 1000.0 { format!("{:.2} s", ms / 1000.0) } else { format!("{ms:.0} ms") }
}

/// A share as a percentage with three decimals ("99.950 %").
pub fn percent(share: f64) -> String {
    format!("{:.3} %", 100.0 * share)
}

/// Cumulative cost at the end of `month`: "mean [p5, p95]".
pub fn cost_at(d: &Deployment, month: u32) -> Option<String> {
    let c = d.cumulative.iter().find(|c| c.0 == month)?;
    Some(format!("{} [{}, {}]", usd(c.1), usd(c.2), usd(c.3)))
}

fn marks(data: &RunData) -> Vec<u32> {
    match data.horizon_months {
        None => Vec::new(),
        Some(h) => [12, 24, 36].into_iter().filter(|&m| m < h).chain([h]).collect(),
    }
}

fn table(data: &RunData) -> (Vec<String>, Vec<Vec<String>>) {
    let marks = marks(data);
    let has_cost = data.deployments.iter().any(|d| !d.cumulative.is_empty());
    let mut header = vec!["deployment".to_string(), "kind".to_string()];
    if has_cost {
        header.extend(marks.iter().map(|m| format!("cost to month {m} (mean [p5, p95])")));
        header.push("break-even (p50 month)".to_string());
    }
    header.extend(
        ["p95 latency", "p95 TTFT", "p95 TPOT", "availability", "SLO attainment"].map(String::from),
    );
    let rows = data
        .deployments
        .iter()
        .map(|d| {
            let mut row = vec![d.name.clone(), d.kind.clone()];
            if has_cost {
                row.extend(marks.iter().map(|&m| cost_at(d, m).unwrap_or_else(|| "—".into())));
                let be: Vec<String> = data
                    .break_even
                    .iter()
                    .filter(|b| b.local == d.name)
                    .map(|b| match b.month {
                        Some((p50, _, _)) => format!("vs {}: {p50:.1}", b.cloud),
                        None => format!("vs {}: never", b.cloud),
                    })
                    .collect();
                row.push(if be.is_empty() { "—".into() } else { be.join("; ") });
            }
            row.push(duration(d.latency_p95_ms));
            row.push(duration(d.ttft_p95_ms));
            row.push(d.tpot_p95_ms.map_or_else(|| "—".into(), duration));
            row.push(percent(d.availability));
            row.push(
                d.slo_attainment.map_or_else(|| "—".into(), |a| format!("{:.1} %", 100.0 * a)),
            );
            row
        })
        .collect();
    (header, rows)
}

/// The decision guide's heuristics applied to this run, each with the numbers behind it.
pub fn decisions(data: &RunData) -> Vec<String> {
    let mut lines = Vec::new();
    let months = data.horizon_months;
    // Cost.
    if let Some(h) = months {
        let mut costed: Vec<(&Deployment, f64)> =
            data.deployments.iter().filter_map(|d| Some((d, d.cumulative.last()?.1))).collect();
        costed.sort_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((cheapest, c)) = costed.first() {
            let others: Vec<String> =
                costed[1..].iter().map(|(d, c)| format!("{} {}", d.name, usd(*c))).collect();
            lines.push(format!(
                "**Cost:** over {h} months `{}` is cheapest at {} (mean cumulative cash cost){}.",
                cheapest.name,
                usd(*c),
                if others.is_empty() {
                    String::new()
                } else {
                    format!("; then {}", others.join(", "))
                }
            ));
        }
        for b in &data.break_even {
            lines.push(match b.month {
                Some((p50, p5, p95)) => format!(
                    "**Break-even:** `{}` pays for itself against `{}` in month {p50:.1} (p5 {p5:.1}, p95 {p95:.1}); never within {h} months in {:.0} % of replications.",
                    b.local, b.cloud, 100.0 * b.never_fraction
                ),
                None => format!(
                    "**Break-even:** `{}` never becomes cheaper than `{}` within {h} months: on cost alone, the cloud option wins.",
                    b.local, b.cloud
                ),
            });
        }
    }
    // Latency: options within 1 % of the lowest p95 tie (the histogram resolves 0.4 %).
    if let Some(fast) =
        data.deployments.iter().min_by(|a, b| a.latency_p95_ms.total_cmp(&b.latency_p95_ms))
    {
        let tied: Vec<&str> = data
            .deployments
            .iter()
            .filter(|d| d.latency_p95_ms <= fast.latency_p95_ms * 1.01)
            .map(|d| d.name.as_str())
            .collect();
        let mut line = if tied.len() > 1 {
            format!(
                "**Latency:** p95 ties between {} at {} (within 1 %), so latency does not rank them",
                tied.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                duration(fast.latency_p95_ms)
            )
        } else {
            format!(
                "**Latency:** lowest p95 is `{}` at {}",
                fast.name,
                duration(fast.latency_p95_ms)
            )
        };
        if let Some(t) = data.slo_latency_p95_ms {
            let meeting: Vec<&str> = data
                .deployments
                .iter()
                .filter(|d| d.latency_p95_ms <= t)
                .map(|d| d.name.as_str())
                .collect();
            let _ = write!(
                line,
                "; the SLO's p95 ≤ {} is met by {}",
                duration(t),
                if meeting.is_empty() { "none".to_string() } else { meeting.join(", ") }
            );
        }
        line.push('.');
        lines.push(line);
    }
    let input = data.input.as_ref();
    // Privacy: data stays on the device.
    let pii: Vec<(&str, f64)> = input
        .map(|w| {
            w.deployments
                .iter()
                .filter_map(|d| {
                    Some((d.name.as_str(), d.data_must_stay_local.filter(|s| *s > 0.0)?))
                })
                .collect()
        })
        .unwrap_or_default();
    let text = input
        .map(|w| format!("{} {}", w.name, w.description.clone().unwrap_or_default()).to_lowercase())
        .unwrap_or_default();
    for (name, share) in &pii {
        let h = data.deployment(name);
        lines.push(format!(
            "**Privacy:** {:.0} % of requests carry personal data and must stay on the premises — the guide's case for local. `{name}` keeps them local{}.",
            100.0 * share,
            h.map(|h| format!(
                " and sends only the rest to the cloud ({}), at {}",
                h.routes.iter().map(|(r, s)| format!("{r} {:.1} %", 100.0 * s)).collect::<Vec<_>>().join(", "),
                h.cumulative.last().map_or("—".into(), |c| usd(c.1))
            ))
            .unwrap_or_default()
        ));
    }
    if pii.is_empty()
        && (text.contains("pii") || text.contains("personal data") || text.contains("privacy"))
    {
        lines.push("**Privacy:** the scenario handles personal data: the guide says keep it local (data stays on-device); a cloud option needs a processing agreement, counted here only if its cost model includes it.".into());
    }
    // Traffic shape: bursty traffic favours the cloud.
    if let Some(t) = input.map(|w| &w.traffic) {
        let bursty = match t.pattern {
            Pattern::Bursty => true,
            Pattern::Diurnal => t.peak_to_trough.is_some_and(|r| r >= 4.0),
            _ => false,
        };
        if bursty {
            let what = match (t.cv, &t.rates_per_s) {
                (Some(cv), _) => format!("bursty (gaps with CV {cv})"),
                (None, Some(r)) => format!("bursty (rates {r:?} per s)"),
                _ => {
                    format!("strongly diurnal (peak/trough {:.1})", t.peak_to_trough.unwrap_or(0.0))
                }
            };
            let local_tail: Vec<String> = data
                .deployments
                .iter()
                .filter(|d| d.kind == "local" && d.latency_p50_ms > 0.0)
                .map(|d| {
                    format!("`{}` p99/p50 = {:.1}", d.name, d.latency_p99_ms / d.latency_p50_ms)
                })
                .collect();
            lines.push(format!(
                "**Scale:** traffic is {what}: the guide favours the cloud, which scales with bursts, while a fixed local box queues at peaks{}.",
                if local_tail.is_empty() { String::new() } else { format!(" ({})", local_tail.join(", ")) }
            ));
        }
    }
    // Deterministic batch sizes favour local.
    if let Some(w) = input {
        for d in &w.deployments {
            let Some(max_batch) = d.max_batch.filter(|&b| b > 1) else { continue };
            let Some(r) = data.deployment(&d.name) else { continue };
            if r.mean_batch_size >= 0.75 * f64::from(max_batch) {
                lines.push(format!(
                    "**Steady batches:** `{}` fills its batches (mean {:.2} of {max_batch}) at utilization {}: steady, predictable load is where a local box earns its CapEx.",
                    d.name,
                    r.mean_batch_size,
                    r.utilization.map_or("—".into(), |u| format!("{:.0} %", 100.0 * u))
                ));
            }
        }
    }
    // Failover and offline operation.
    let best = data.deployments.iter().max_by(|a, b| a.availability.total_cmp(&b.availability));
    let worst = data.deployments.iter().min_by(|a, b| a.availability.total_cmp(&b.availability));
    if let (Some(best), Some(worst)) = (best, worst)
        && percent(best.availability) == percent(worst.availability)
        && data.deployments.len() > 1
    {
        lines.push(format!(
            "**Availability:** every option serves {} of requests within the timeout: a tie, so availability does not rank them.",
            percent(best.availability)
        ));
    } else if let (Some(best), Some(worst)) = (best, worst) {
        lines.push(format!(
            "**Failover:** availability ranges from {} (`{}`{}) to {} (`{}`).",
            percent(worst.availability),
            worst.name,
            if worst.downtime_minutes > 0.0 {
                format!(", down {:.0} min per replication", worst.downtime_minutes)
            } else {
                String::new()
            },
            percent(best.availability),
            best.name
        ));
    }
    if let Some(w) = input {
        for d in w.deployments.iter().filter(|d| d.kind == DeploymentKind::Hybrid) {
            let (Some(h), Some(cloud)) =
                (data.deployment(&d.name), d.cloud.as_deref().and_then(|c| data.deployment(c)))
            else {
                continue;
            };
            match d.policy {
                Some(Policy::Fallback) => lines.push(format!(
                    "**Offline / demos:** on-device fallback (`{}`) keeps serving when the cloud does not: availability {} vs {} for `{}` alone.",
                    d.name, percent(h.availability), percent(cloud.availability), cloud.name
                )),
                Some(Policy::Overflow) => {
                    let local = d.local.as_deref().and_then(|l| data.deployment(l));
                    if let Some(local) = local {
                        lines.push(format!(
                            "**Hybrid (overflow):** `{}` serves {} with p95 {} vs {} for `{}` alone, at {} vs {}.",
                            d.name,
                            h.routes.iter().map(|(r, s)| format!("{r} {:.1} %", 100.0 * s)).collect::<Vec<_>>().join(", "),
                            duration(h.latency_p95_ms),
                            duration(local.latency_p95_ms),
                            local.name,
                            h.cumulative.last().map_or("—".into(), |c| usd(c.1)),
                            local.cumulative.last().map_or("—".into(), |c| usd(c.1)),
                        ));
                    }
                }
                Some(Policy::Rerank) => lines.push(format!(
                    "**Hybrid (client-side reranking):** `{}` adds the local stage to the cloud call: p95 {} vs {} for `{}` alone.",
                    d.name, duration(h.latency_p95_ms), duration(cloud.latency_p95_ms), cloud.name
                )),
                None => {}
            }
        }
    }
    // Updates: manual scripts locally vs CI/CD in the cloud.
    let per_month = |name: &str, f: &dyn Fn(&crate::data::Month) -> f64| {
        let rows: Vec<f64> = data.months_of(name).map(f).collect();
        (!rows.is_empty()).then(|| rows.iter().sum::<f64>() / rows.len() as f64)
    };
    // Mean monthly USD of a cost component and device-hours out of service for it.
    let usd_and_hours = |name: &str, component: usize, hours: fn(&crate::data::Month) -> f64| {
        (
            per_month(name, &|m| m.components[component]).unwrap_or(0.0),
            per_month(name, &hours).unwrap_or(0.0),
        )
    };
    for d in &data.deployments {
        let (updates, hours) = usd_and_hours(&d.name, 9, |m| m.update_device_hours);
        if updates > 0.0 || hours > 0.0 {
            lines.push(format!(
                "**Updates:** releasing to `{}` costs {} a month{} — the guide's \"manual scripts\" locally vs \"CI/CD\" in the cloud.",
                d.name,
                usd(updates),
                if hours > 0.0 { format!(" and takes {hours:.1} device-hours out of service") } else { String::new() }
            ));
        }
        let (training, train_hours) = usd_and_hours(&d.name, 10, |m| m.training_device_hours);
        if training > 0.0 || train_hours > 0.0 {
            lines.push(format!(
                "**Training:** `{}` spends {} a month on training{} (p95 latency {}).",
                d.name,
                usd(training),
                if train_hours > 0.0 {
                    format!(", its devices busy {train_hours:.0} device-hours with federated learning — raw data never leaves them")
                } else {
                    ", uploading raw data to train in the cloud — the data leaves the premises".to_string()
                },
                duration(d.latency_p95_ms)
            ));
        }
    }
    if text.contains("saas") || text.contains("multi-tenant") || text.contains("analytics") {
        lines.push("**Workload:** a multi-tenant SaaS or analytics API — the guide's case for the cloud (elastic capacity per tenant, no devices to place).".into());
    }
    lines.extend(recommendation(data, &pii, &text));
    let hybrids: Vec<&Deployment> =
        data.deployments.iter().filter(|d| d.kind == "hybrid").collect();
    let both_kinds = data.deployments.iter().any(|d| d.kind == "local")
        && data.deployments.iter().any(|d| d.kind == "cloud");
    if hybrids.is_empty() && both_kinds {
        let local_cheaper = data.break_even.iter().any(|b| b.month.is_some());
        let local_down =
            data.deployments.iter().any(|d| d.kind == "local" && d.downtime_minutes > 0.0);
        let hint = match (pii.is_empty(), local_cheaper, local_down) {
            (false, _, _) => {
                "overflow with `data_must_stay_local` (PII stays local, the rest may burst to the cloud)"
            }
            (_, true, true) => "overflow (local first, cloud when the box is busy or down)",
            (_, true, false) => {
                "overflow, to keep the cheaper local box and absorb peaks in the cloud"
            }
            (_, false, _) => {
                "fallback (cloud first, an on-device model when the cloud fails) or client-side reranking"
            }
        };
        lines.push(format!(
            "**Pattern to try:** {hint} — add a `kind = \"hybrid\"` deployment to measure it."
        ));
    }
    // The report leads with the answer.
    if let Some(i) = lines.iter().position(|l| l.starts_with("**Recommendation:**")) {
        let rec = lines.remove(i);
        lines.insert(0, rec);
    }
    lines
}

/// Whether `d` meets the run's SLO (every target given).
fn meets_slo(data: &RunData, d: &Deployment) -> bool {
    data.slo_availability.is_none_or(|a| d.availability >= a)
        && data.slo_latency_p95_ms.is_none_or(|t| d.latency_p95_ms <= t)
        && data.slo_ttft_p95_ms.is_none_or(|t| d.ttft_p95_ms <= t)
        && data.slo_tpot_p95_ms.is_none_or(|t| d.tpot_p95_ms.is_none_or(|v| v <= t))
}

/// The order in which the recommendation weighs the options, stated in the report.
pub const DECISION_ORDER: &str = "privacy (personal data stays on the premises), then the SLO, then cost over the horizon, then availability, then p95 latency; bursty traffic is flagged";

/// The recommendation, applying [`DECISION_ORDER`] one step at a time and naming the number
/// behind each step. Options that tie on a step (cost within 1 %, the same availability to
/// three decimals, p95 within 1 %) go on to the next step together.
fn recommendation(data: &RunData, pii: &[(&str, f64)], text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let cost = |d: &Deployment| d.cumulative.last().map(|c| c.1);
    let mut why = Vec::new();
    let mut pool: Vec<&Deployment> = data.deployments.iter().collect();
    if !pii.is_empty() {
        let kept: Vec<&Deployment> = pool
            .iter()
            .copied()
            .filter(|d| d.kind == "local" || pii.iter().any(|(n, _)| *n == d.name))
            .collect();
        if !kept.is_empty() && kept.len() < pool.len() {
            why.push(format!(
                "privacy rules out {} (personal data would leave the premises)",
                names(pool.iter().filter(|d| !kept.iter().any(|k| k.name == d.name)))
            ));
            pool = kept;
        }
    }
    let has_slo = data.slo_availability.is_some()
        || data.slo_latency_p95_ms.is_some()
        || data.slo_ttft_p95_ms.is_some()
        || data.slo_tpot_p95_ms.is_some();
    if has_slo {
        let ok: Vec<&Deployment> = pool.iter().copied().filter(|d| meets_slo(data, d)).collect();
        if ok.is_empty() {
            why.push("no option meets the SLO, so all stay in".to_string());
        } else if ok.len() < pool.len() {
            why.push(format!(
                "the SLO rules out {}",
                pool.iter()
                    .filter(|d| !meets_slo(data, d))
                    .map(|d| format!(
                        "`{}` (p95 {}, availability {})",
                        d.name,
                        duration(d.latency_p95_ms),
                        percent(d.availability)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            pool = ok;
        } else {
            why.push(format!(
                "every {}option meets the SLO",
                if pii.is_empty() { "" } else { "remaining " }
            ));
        }
    }
    // Cost, then availability, then latency: keep the options tied with the best on each.
    if pool.iter().all(|d| cost(d).is_some()) && pool.len() > 1 {
        let low = pool.iter().filter_map(|d| cost(d)).fold(f64::INFINITY, f64::min);
        let tied: Vec<&Deployment> =
            pool.iter().copied().filter(|d| cost(d).is_some_and(|c| c <= low * 1.01)).collect();
        let others: Vec<String> = pool
            .iter()
            .filter(|d| !tied.iter().any(|t| t.name == d.name))
            .map(|d| format!("`{}` {}", d.name, usd(cost(d).unwrap_or(0.0))))
            .collect();
        why.push(if tied.len() > 1 {
            format!("cost ties at about {} between {}", usd(low), names(tied.iter()))
        } else {
            format!(
                "cost: `{}` {} against {}",
                tied[0].name,
                usd(low),
                if others.is_empty() { "nothing else".into() } else { others.join(", ") }
            )
        });
        pool = tied;
    }
    if pool.len() > 1 {
        let best = pool.iter().map(|d| percent(d.availability)).max().unwrap_or_default();
        let tied: Vec<&Deployment> =
            pool.iter().copied().filter(|d| percent(d.availability) == best).collect();
        why.push(if tied.len() > 1 {
            format!("availability ties at {best}")
        } else {
            format!("availability: `{}` {best}", tied[0].name)
        });
        pool = tied;
    }
    if pool.len() > 1 {
        let low = pool.iter().map(|d| d.latency_p95_ms).fold(f64::INFINITY, f64::min);
        let tied: Vec<&Deployment> =
            pool.iter().copied().filter(|d| d.latency_p95_ms <= low * 1.01).collect();
        why.push(if tied.len() > 1 {
            format!("p95 latency ties at {}", duration(low))
        } else {
            format!("p95 latency: `{}` {}", tied[0].name, duration(low))
        });
        pool = tied;
    }
    let Some(best) = pool.first().copied() else { return lines };
    let tie = if pool.len() > 1 {
        format!(" (tied on every step with {}; either will do)", names(pool[1..].iter()))
    } else {
        String::new()
    };
    lines.push(format!(
        "**Recommendation:** `{}` ({}){tie} — {}. Weighed in this order: {DECISION_ORDER}.",
        best.name,
        best.kind,
        why.join("; ")
    ));
    let bursty = text.contains("bursty")
        || data.input.as_ref().is_some_and(|w| w.traffic.pattern == Pattern::Bursty);
    if bursty && best.kind == "local" {
        lines.push(format!(
            "**Burstiness:** the traffic is bursty and `{}` is a fixed local box: check its p99 ({}) against your users' patience, or add cloud overflow.",
            best.name,
            duration(best.latency_p99_ms)
        ));
    }
    if best.kind == "hybrid" {
        lines.push(format!("**Pattern that fits:** the `{}` hybrid.", best.name));
    }
    // Without an SLO: the latency target that would change the choice.
    if !has_slo {
        let faster = data
            .deployments
            .iter()
            .filter(|d| d.latency_p95_ms < best.latency_p95_ms / 1.01)
            .min_by(|a, b| match (cost(a), cost(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => a.latency_p95_ms.total_cmp(&b.latency_p95_ms),
            });
        lines.push(match faster {
            Some(f) => format!(
                "**SLO that would change this:** no `[slo]` was given. A p95 latency target below {} (the p95 of `{}`) rules it out; `{}` (p95 {}{}) would then be chosen.",
                duration(best.latency_p95_ms),
                best.name,
                f.name,
                duration(f.latency_p95_ms),
                cost(f).map_or(String::new(), |c| format!(", {}", usd(c)))
            ),
            None => format!(
                "**SLO that would change this:** no `[slo]` was given, and no latency target would change the choice: `{}` also has the lowest p95 ({}). An availability target above {} would.",
                best.name,
                duration(best.latency_p95_ms),
                percent(best.availability)
            ),
        });
    }
    lines
}

fn names<'a>(ds: impl Iterator<Item = &'a &'a Deployment>) -> String {
    ds.map(|d| format!("`{}`", d.name)).collect::<Vec<_>>().join(", ")
}

fn markdown(data: &RunData, charts: &[(&str, &str)]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {} — lcsim report\n", data.scenario);
    if let Some(d) = data.input.as_ref().and_then(|w| w.description.clone()) {
        let _ = writeln!(md, "{d}\n");
    }
    let _ = writeln!(
        md,
        "{} replication(s), seed {}, {}; {} requests simulated.\n",
        data.replications,
        data.seed,
        match data.horizon_months {
            Some(m) => format!(
                "{m} months of total cost of ownership ({} h simulated request by request)",
                data.duration_hours
            ),
            None => format!("{} h of traffic per replication", data.duration_hours),
        },
        data.requests_simulated
    );
    if data.slo_latency_p95_ms.is_some() || data.slo_availability.is_some() {
        let _ = writeln!(
            md,
            "SLO: {}{}.\n",
            data.slo_latency_p95_ms
                .map_or(String::new(), |t| format!("p95 latency ≤ {}", duration(t))),
            data.slo_availability
                .map_or(String::new(), |a| format!(", availability ≥ {}", percent(a)))
        );
    }
    let _ = writeln!(md, "## Decision summary\n");
    for line in decisions(data) {
        let _ = writeln!(md, "- {line}");
    }
    let _ = writeln!(md, "\n## Comparison\n");
    let (header, rows) = table(data);
    let _ = writeln!(md, "| {} |", header.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(header.len()));
    for r in rows {
        let _ = writeln!(md, "| {} |", r.join(" | "));
    }
    let _ = writeln!(md, "\n## Charts\n");
    for (name, title) in charts {
        let _ = writeln!(md, "### {title}\n\n![{title}](plots/{name}.png)\n");
    }
    md
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `**bold**` and `` `code` `` of a decision line, as HTML.
pub(crate) fn inline(s: &str) -> String {
    let mut out = String::new();
    let (mut bold, mut code) = (false, false);
    let s = escape(s);
    let mut rest = s.as_str();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("**") {
            out.push_str(if bold { "</strong>" } else { "<strong>" });
            bold = !bold;
            rest = r;
        } else if let Some(r) = rest.strip_prefix('`') {
            out.push_str(if code { "</code>" } else { "<code>" });
            code = !code;
            rest = r;
        } else {
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn html(data: &RunData, charts: &[(&str, &str)], dir: &Path) -> Result<String, ReportError> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} — lcsim report</title>\n<style>body{{font-family:'DejaVu Sans',Verdana,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}th,td{{border:1px solid #bbb;padding:.35em .6em;text-align:left}}th{{background:#eef}}img{{max-width:100%;border:1px solid #ddd}}code{{background:#f4f4f4;padding:0 .2em}}</style></head><body>\n",
        escape(&data.scenario)
    );
    let md = markdown(data, &[]);
    // The text before the decision list, as paragraphs.
    for para in md.split("## Decision summary").next().unwrap_or("").split("\n\n") {
        let p = para.trim();
        if let Some(t) = p.strip_prefix("# ") {
            let _ = writeln!(h, "<h1>{}</h1>", escape(t));
        } else if !p.is_empty() {
            let _ = writeln!(h, "<p>{}</p>", inline(p));
        }
    }
    let _ = writeln!(h, "<h2>Decision summary</h2><ul>");
    for line in decisions(data) {
        let _ = writeln!(h, "<li>{}</li>", inline(&line));
    }
    let _ = writeln!(h, "</ul><h2>Comparison</h2><table><tr>");
    let (header, rows) = table(data);
    for c in &header {
        let _ = write!(h, "<th>{}</th>", escape(c));
    }
    let _ = writeln!(h, "</tr>");
    for r in rows {
        let _ = write!(h, "<tr>");
        for c in r {
            let _ = write!(h, "<td>{}</td>", escape(&c));
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</table><h2>Charts</h2>");
    for (name, title) in charts {
        let path = dir.join("plots").join(format!("{name}.png"));
        let bytes = std::fs::read(&path)
            .map_err(|source| ReportError::Io { path: path.display().to_string(), source })?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        let _ = writeln!(
            h,
            "<h3>{}</h3><img alt=\"{}\" src=\"data:image/png;base64,{encoded}\">",
            escape(title),
            escape(title)
        );
    }
    let _ = writeln!(h, "</body></html>");
    Ok(h)
}

/// Writes `report.md` and `report.html` into `dir` (charts must be rendered first).
pub fn write(dir: &Path, data: &RunData) -> Result<Vec<PathBuf>, ReportError> {
    let charts = charts::available(data);
    let md_path = dir.join("report.md");
    let html_path = dir.join("report.html");
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ReportError::Io { path, source }
    };
    std::fs::write(&md_path, markdown(data, &charts)).map_err(io(&md_path))?;
    std::fs::write(&html_path, html(data, &charts, dir)?).map_err(io(&html_path))?;
    Ok(vec![md_path, html_path])
}
