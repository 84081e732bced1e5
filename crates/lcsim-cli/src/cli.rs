//! Command-line arguments. The doc comments are the manual: `lcsim help run`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// lcsim — simulate local vs cloud inference: latency, queueing and capacity, by Monte Carlo.
///
/// Exit codes: 0 success, 1 unexpected failure, 2 invalid input (scenario or arguments).
#[derive(Debug, Parser)]
#[command(name = "lcsim", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process")]
pub enum Command {
    /// Simulate a scenario and write DIR/summary.json (default DIR: output/<name>/).
    ///
    /// Prints a summary table on stdout and, for runs longer than a second, a progress bar on
    /// stderr. The output folder is written whole or not at all: results go to a temporary
    /// folder next to it, which is renamed into place at the end.
    Run {
        /// Scenario TOML file. Relative paths inside it are resolved against its folder.
        scenario: PathBuf,
        /// Output folder [default: output/<scenario name>/].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Master seed, overriding [simulation] seed.
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
        /// Number of replications, overriding [simulation] replications.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        replications: Option<u32>,
        /// Worker threads [default: one per core]. Results are identical for any value.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        threads: Option<u32>,
        /// Skip the charts (plots/) and the report (report.md, report.html).
        #[arg(long)]
        no_plots: bool,
        /// Run only shard I of N (replications [I·R/N, (I+1)·R/N)) and write its partial
        /// result to DIR [default: output/<name>-shard-I-of-N/]; `lcsim merge` combines the N
        /// folders. `auto` reads LCSIM_SHARD=I/N, SLURM_ARRAY_TASK_ID with
        /// SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX with LCSIM_SHARDS=N.
        #[arg(long, value_name = "I/N|auto")]
        shard: Option<String>,
    },
    /// Merge the folders of `lcsim run --shard I/N` (all N of them) into the run folder one
    /// process would have written: summary.json byte for byte (except wall_seconds), the
    /// monthly table, charts and report [default DIR: output/<name>/].
    ///
    /// Refused (exit 2) when a shard is missing or given twice, or the shards come from
    /// different scenarios, seeds, replications or lcsim versions.
    Merge {
        /// The shard folders.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Output folder [default: output/<scenario name>/].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Skip the charts (plots/) and the report (report.md, report.html).
        #[arg(long)]
        no_plots: bool,
    },
    /// Re-render the charts and the report of a run folder from its saved files
    /// (summary.json, monthly.parquet, scenario.toml), without simulating again.
    Plot {
        /// A folder written by `lcsim run`.
        run_dir: PathBuf,
    },
    /// Validate a scenario without running it; prints what would be simulated.
    Check {
        /// Scenario TOML file.
        scenario: PathBuf,
    },
    /// Print a scenario in which every key is explained, as a starting point.
    Init,
    /// Measure this machine or an endpoint and write a profile scenarios can use
    /// (`calibration = "calibration/x.toml"` in a deployment).
    #[command(subcommand)]
    Calibrate(Calibrate),
    /// Compare the continuous-batching model with a real LLM server: send open-loop Poisson
    /// load at several utilizations, simulate exactly the requests that were sent, and report
    /// TTFT, TPOT and end-to-end latency at p50, p90 and p99, measured against simulated.
    ///
    /// Writes DIR/validation.json, DIR/requests.csv (every request, measured and simulated),
    /// DIR/report.md, DIR/report.html and CDF charts in DIR/plots/. If the server fails
    /// mid-run, what was measured is kept and the exit code is 1.
    Validate(ValidateArgs),
    /// Run every point of a grid over scenario keys with the same seed (common random numbers,
    /// so differences between points are paired).
    ///
    /// The grid comes from --vary or the scenario's [sweep] table. Writes DIR/sweep.parquet
    /// and DIR/sweep.csv (one row per point × deployment), a break-even map (two axes), cost
    /// against the first axis, report.md and report.html [default DIR: output/<name>-sweep/].
    Sweep(SweepArgs),
    /// Move each input down and up (±20 % by default) and chart the swing in the cost
    /// difference between two options at the horizon's end (a tornado chart).
    ///
    /// Writes DIR/sensitivity.csv, DIR/plots/tornado.png/.svg, report.md and report.html
    /// [default DIR: output/<name>-sensitivity/].
    Sensitivity(SensitivityArgs),
    /// Find the fewest servers (local) or instances (cloud) that meet the scenario's [slo] at
    /// its traffic, and the largest arrival rate the scenario's own count holds, with a 95 %
    /// confidence interval across replications.
    ///
    /// Writes DIR/capacity.json and DIR/report.md [default DIR: output/<name>-capacity/].
    Capacity(CapacityArgs),
}

/// `lcsim validate`'s flags.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The server's base URL, e.g. http://127.0.0.1:8080 (an OpenAI-compatible streaming
    /// `/v1/completions`).
    #[arg(long)]
    pub url: String,
    /// A server profile from `lcsim calibrate server`.
    #[arg(long, value_name = "FILE")]
    pub profile: PathBuf,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "output/validation")]
    pub out: PathBuf,
    /// Offered loads, as shares of the calibrated capacity, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.3,0.55,0.8")]
    pub levels: Vec<f64>,
    /// Requests per level.
    #[arg(long, default_value_t = 150, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub requests: u32,
    /// Time cap per level, seconds: sending stops there.
    #[arg(long, default_value_t = 300.0)]
    pub max_seconds: f64,
    /// Token lengths come from this trace (columns ContextTokens and GeneratedTokens)
    /// [default: the bundled Azure LLM conversation trace].
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Multiply the trace's token lengths by this [default: so that the 99th percentile
    /// of prompt + output tokens is a quarter of one slot's context].
    #[arg(long)]
    pub token_scale: Option<f64>,
    /// Send each level's requests twice, at the same times, and report how much the
    /// server differs from itself (the noise floor under the model's error).
    #[arg(long)]
    pub repeat: bool,
    /// Seed of the send times, lengths and prompts.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Model name sent with each request (llama-server ignores it).
    #[arg(long)]
    pub model: Option<String>,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 120.0)]
    pub timeout_s: f64,
}

#[derive(Debug, Subcommand)]
pub enum Calibrate {
    /// Time transformer forward passes (candle) and fit the decode/prefill latency model.
    ///
    /// Weights are random unless --weights is given: throughput depends on the shapes, not the
    /// values. Runs on the CPU unless built with the `cuda` or `metal` feature and --device.
    Local {
        /// A named shape: gpt2-small, tinyllama-1.1b, llama3-8b, tiny. With --layers etc., a
        /// custom shape of that name.
        #[arg(long, default_value = "gpt2-small")]
        shape: String,
        /// Batch sizes to time decode steps at, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
        batches: Vec<usize>,
        /// Context lengths (KV-cache tokens) for decode steps [default: 128,512,1024; quick: 64,256].
        #[arg(long, value_delimiter = ',')]
        contexts: Option<Vec<usize>>,
        /// Prompt lengths for prefill [default: 32,128,256,512; quick: 16,64,128].
        #[arg(long, value_delimiter = ',')]
        prompts: Option<Vec<usize>>,
        /// Timed runs per point [default: 7; quick: 3]; the median is used.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
        runs: Option<u64>,
        /// A few points and 3 runs: finishes in well under a minute.
        #[arg(long)]
        quick: bool,
        #[command(flatten)]
        custom: CustomShape,
        /// Real weights from a safetensors file with Hugging Face Llama tensor names.
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
        /// CPU threads for the forward passes [default: one per core].
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        threads: Option<u32>,
        /// Pin the measuring threads to cores from this one on (steadier timings on machines
        /// whose cores differ in speed).
        #[arg(long)]
        pin_core: Option<usize>,
        /// cpu, cuda or metal (the last two need lcsim built with that feature).
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Profile to write [default: calibration/<shape>-<device>.toml].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Time HTTP round trips to an endpoint and fit their distribution.
    ///
    /// The first request is kept apart (connection set-up, cold start). Failures are counted
    /// by kind (DNS, connect, timeout, HTTP status), not fatal. With --openai, sends streamed
    /// chat completions and also measures time to first token and output tokens per second;
    /// the API key is read from an environment variable and never written anywhere.
    Cloud {
        /// Endpoint URL (with --openai, the API base such as https://api.openai.com/v1).
        #[arg(long)]
        url: String,
        /// Timed requests, besides the first.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(2..=100_000))]
        samples: u64,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
        concurrency: u32,
        /// Per-request timeout in seconds.
        #[arg(long, default_value_t = 30.0)]
        timeout_s: f64,
        /// Treat the URL as an OpenAI-compatible API and stream chat completions.
        #[arg(long)]
        openai: bool,
        /// Model name for --openai.
        #[arg(long, default_value = "gpt-4o-mini")]
        model: String,
        /// Environment variable holding the API key for --openai.
        #[arg(long, default_value = "OPENAI_API_KEY")]
        api_key_env: String,
        /// Completion length for --openai.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        max_tokens: u32,
        /// Profile to write [default: calibration/<host>.toml].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Measure a running LLM server's continuous-batching step model through its
    /// OpenAI-compatible streaming API (llama-server, vLLM, TGI, Ollama, SGLang).
    ///
    /// Reads the slot count from /props (or finds where throughput saturates), times TTFT
    /// against prompt length one request at a time, and inter-token gaps with 1, 2, …, slots
    /// sequences decoding together (fixed max_tokens, ignore_eos). Tokens are counted by the
    /// server. The profile works with `scheduler = "continuous"` and `calibration = "FILE"`.
    Server {
        /// The server's base URL, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        url: String,
        /// Model name sent with each request (llama-server ignores it).
        #[arg(long)]
        model: Option<String>,
        /// Requests per prefill length and per decode level (medians are used).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
        runs: u32,
        /// Output tokens of each decode request.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(4..=4096))]
        decode_tokens: u32,
        /// Per-request timeout, seconds.
        #[arg(long, default_value_t = 120.0)]
        timeout_s: f64,
        /// Profile to write [default: calibration/server-<host>-<port>.toml].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

/// `lcsim sweep`'s flags.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub flags: PlanFlags,
    /// A swept key and its values: PATH=V1,V2,... or PATH=FROM..TO:POINTS[:log], e.g.
    /// traffic.rate_per_s=0.1..10:25:log or deployment.api.cost.usd_per_mtok_out=0.3,0.6,1.2.
    /// Repeat for more axes (the first is the x axis of the charts); replaces the scenario's
    /// [sweep] table.
    #[arg(long, value_name = "PATH=VALUES")]
    pub vary: Vec<String>,
}

/// `lcsim sensitivity`'s flags.
#[derive(Debug, clap::Args)]
pub struct SensitivityArgs {
    #[command(flatten)]
    pub flags: PlanFlags,
    /// A key to move: PATH (by --by) or PATH=LOW,HIGH. Repeat for more; replaces the
    /// scenario's [sensitivity] table and the default keys.
    #[arg(long, value_name = "PATH[=LOW,HIGH]")]
    pub key: Vec<String>,
    /// How far each key moves down and up, as a share of its value.
    #[arg(long, default_value_t = 0.2)]
    pub by: f64,
    /// The two options whose cost difference (A − B) is measured
    /// [default: the first local and the first cloud deployment with costs].
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub compare: Vec<String>,
}

/// `lcsim capacity`'s flags.
#[derive(Debug, clap::Args)]
pub struct CapacityArgs {
    #[command(flatten)]
    pub flags: PlanFlags,
    /// The deployment to size (local or cloud; a hybrid's members are sized one at a time).
    #[arg(long, value_name = "NAME")]
    pub deployment: String,
    /// The most servers or instances tried.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_servers: u32,
}

/// The flags every planning command shares.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanFlags {
    /// Scenario TOML file. Relative paths inside it are resolved against its folder.
    pub scenario: PathBuf,
    /// Output folder [default: output/<scenario name>-<command>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Master seed, overriding [simulation] seed (every point uses it: common random numbers).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Replications per point, overriding [simulation] replications.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub replications: Option<u32>,
    /// Worker threads [default: one per core]. Results are identical for any value.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Skip the charts (plots/) and the report (report.md, report.html).
    #[arg(long)]
    pub no_plots: bool,
    /// Run only shard I of N and write its partial result to --out; `lcsim merge` combines
    /// the N folders (docs/cluster.md). With more points than shards a shard runs whole
    /// points, else replications [I·R/N, (I+1)·R/N) of every point. `auto` reads the
    /// scheduler's environment, as `lcsim run --shard auto` does.
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<String>,
}

/// `lcsim calibrate local`: the dimensions of a custom shape (all absent for a named one).
#[derive(Debug, Clone, clap::Args)]
pub struct CustomShape {
    /// Custom shape: number of layers (with --d-model, --heads, --ffn, --vocab).
    #[arg(long, requires_all = ["d_model", "heads", "ffn", "vocab"])]
    pub layers: Option<usize>,
    #[arg(long)]
    pub d_model: Option<usize>,
    #[arg(long)]
    pub heads: Option<usize>,
    /// Key/value heads (grouped-query attention) [default: --heads].
    #[arg(long)]
    pub kv_heads: Option<usize>,
    #[arg(long)]
    pub ffn: Option<usize>,
    #[arg(long)]
    pub vocab: Option<usize>,
    /// GELU MLP and LayerNorm (GPT-2 style) instead of SwiGLU and RMSNorm.
    #[arg(long)]
    pub gpt2_style: bool,
}
