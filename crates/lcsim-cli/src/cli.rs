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
    },
    /// Validate a scenario without running it; prints what would be simulated.
    Check {
        /// Scenario TOML file.
        scenario: PathBuf,
    },
    /// Print a scenario in which every key is explained, as a starting point.
    Init,
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
