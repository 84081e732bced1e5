//! parse(print(scenario)) == scenario, for random scenarios in the wire form.

use lcsim_core::cost::CostWire;
use lcsim_core::dist::{DistKind, DistWire};
use lcsim_core::lifecycle::{FederatedWire, RolloutStrategy, UpdatesWire};
use lcsim_core::reliability::{
    AutoscaleWire, FailuresWire, LifetimeKind, Policy, RateLimitWire, RerankOrder, SloWire,
};
use lcsim_core::scenario::parse_wire;
use lcsim_core::wire::{
    DeploymentKind, DeploymentWire, LinearTable, LinearWire, Pattern, ScenarioWire, SchedulerKind,
    SimulationWire, TraceEnd, TrafficWire,
};
use proptest::prelude::*;

fn dist() -> impl Strategy<Value = DistWire> {
    let blank = DistWire::of(DistKind::Fixed);
    prop_oneof![
        (0.0f64..1e6).prop_map({
            let b = blank.clone();
            move |v| DistWire { value: Some(v), ..b.clone() }
        }),
        (0.1f64..1e6, 0.01f64..5.0).prop_map({
            let b = blank.clone();
            move |(m, cv)| DistWire {
                dist: DistKind::Lognormal,
                mean: Some(m),
                cv: Some(cv),
                ..b.clone()
            }
        }),
        prop::collection::vec(0.0f64..1e4, 1..5).prop_map(move |v| DistWire {
            dist: DistKind::Empirical,
            values: Some(v),
            ..blank.clone()
        }),
    ]
}

fn deployment() -> impl Strategy<Value = DeploymentWire> {
    (
        "[a-z][a-z0-9-]{0,12}",
        any::<bool>(),
        prop::option::of(1u32..64),
        prop::option::of(dist()),
        prop::option::of((0.0f64..10.0, 0.0f64..1.0)),
        prop::option::of(1u32..1000),
    )
        .prop_map(|(name, local, n, service, decode, cap)| DeploymentWire {
            name,
            kind: if local { DeploymentKind::Local } else { DeploymentKind::Cloud },
            calibration: None,
            servers: n.filter(|_| local),
            max_batch: n,
            scheduler: local.then_some(SchedulerKind::Continuous),
            max_num_seqs: n,
            kv_cache_tokens: Some(16_384),
            max_batched_tokens: cap.map(u64::from),
            attention_ms_per_context_token: Some(0.0002),
            decode_ms_by_batch: Some(vec![7.5, 8.0, 8.9, 9.1]),
            prefill_attention_ms_per_context_token: Some(0.00001),
            prefill_overhead_ms: Some(0.5),
            batch_timeout_ms: Some(5.5),
            prefill_ms_per_token: Some(LinearWire::Constant(0.25)),
            decode_ms_per_token: decode.map(|(base, per_batch)| {
                LinearWire::Linear(LinearTable {
                    base,
                    per_batch,
                    per_context: Some(0.001),
                    per_batch_context: None,
                })
            }),
            overhead_ms: None,
            queue_capacity: cap,
            service_ms: service,
            network_rtt_ms: None,
            ttft_ms: None,
            output_tokens_per_s: Some(80.0),
            max_concurrency: n.filter(|_| !local),
            cost: Some(CostWire {
                capex_usd: Some(3000.0),
                usd_per_mtok_in: Some(0.15),
                ..CostWire::default()
            }),
            capacity_policy: None,
            timeout_ms: Some(30_000.0),
            autoscale: (!local).then(|| AutoscaleWire {
                min_instances: Some(0),
                max_instances: n,
                cold_start_s: Some(DistWire { value: Some(8.0), ..DistWire::of(DistKind::Fixed) }),
                ..AutoscaleWire::default()
            }),
            rate_limit: (!local).then(|| RateLimitWire {
                tokens_per_min: Some(90_000.0),
                ..RateLimitWire::default()
            }),
            failures: Some(FailuresWire {
                mtbf_hours: Some(8760.0),
                time_to_failure: Some(LifetimeKind::Weibull),
                ..FailuresWire::default()
            }),
            updates: Some(UpdatesWire {
                every_days: Some(30.5),
                strategy: Some(RolloutStrategy::Rolling),
                ..UpdatesWire::default()
            }),
            federated: local.then(|| FederatedWire {
                round_every_hours: 24.0,
                share_of_devices: 0.25,
                train_hours: 2.0,
                delta_mb: Some(40.0),
                ..FederatedWire::default()
            }),
            central_training: None,
            policy: Some(Policy::Rerank),
            local: Some("edge".into()),
            cloud: None,
            overflow_queue_above: cap,
            fallback_timeout_ms: None,
            order: Some(RerankOrder::LocalFirst),
            data_must_stay_local: Some(0.25),
        })
}

fn scenario() -> impl Strategy<Value = ScenarioWire> {
    (
        any::<u64>(),
        1u32..1000,
        0.01f64..1e4,
        prop::sample::select(vec![
            Pattern::Poisson,
            Pattern::Diurnal,
            Pattern::Bursty,
            Pattern::Trace,
        ]),
        prop::option::of(prop::collection::vec(0.0f64..10.0, 24)),
        prop::option::of(dist()),
        prop::collection::vec(deployment(), 1..4),
    )
        .prop_map(|(seed, reps, hours, pattern, weights, tokens, deployments)| ScenarioWire {
            name: "round-trip".into(),
            sweep: None,
            sensitivity: None,
            description: Some("a \"quoted\" description\nwith two lines".into()),
            slo: Some(SloWire {
                latency_p95_ms: Some(2000.0),
                ttft_p95_ms: Some(500.0),
                tpot_p95_ms: None,
                availability: None,
            }),
            simulation: SimulationWire {
                seed,
                replications: reps,
                duration_hours: Some(hours),
                warmup_hours: Some(hours / 10.0),
                horizon_months: Some(36),
                window_hours: Some(24.0),
            },
            traffic: TrafficWire {
                pattern,
                rate_per_s: Some(hours / 7.0),
                peak_to_trough: None,
                peak_hour: Some(13.5),
                hourly_weights: weights,
                cv: Some(1.41),
                rates_per_s: Some(vec![1.0, 9.0]),
                mean_dwell_s: None,
                trace_file: Some("data/trace.csv".into()),
                time_scale: Some(0.5),
                at_end: Some(TraceEnd::Stop),
                growth_per_month: Some(0.05),
                level_noise_cv: Some(0.1),
                prompt_tokens: tokens.clone(),
                output_tokens: tokens,
            },
            deployments,
        })
}

proptest! {
    #[test]
    fn print_then_parse_is_identity(s in scenario()) {
        let text = toml::to_string(&s).expect("every scenario prints");
        let back = parse_wire("printed.toml", &text).map_err(|e| e.to_string());
        prop_assert_eq!(back, Ok(s), "printed as:\n{}", text);
    }
}

#[test]
fn bundled_scenarios_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let wire = parse_wire("x.toml", &text).unwrap();
            let printed = toml::to_string(&wire).unwrap();
            assert_eq!(parse_wire("y.toml", &printed).unwrap(), wire, "{}", path.display());
        }
    }
}
