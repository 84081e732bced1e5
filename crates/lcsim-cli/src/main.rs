//! The `lcsim` binary: parses the command line, runs the command, maps the outcome to an exit
//! code in one place (0 ok, 1 unexpected failure, 2 invalid input).

use std::process::ExitCode;

use clap::Parser;

/// `println!` that does not panic when stdout is closed early (`lcsim run x.toml | head`):
/// results are in the output folder, and the rest of the table is simply not wanted.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod calibrate;
mod calibrate_server;
mod capacity;
mod cli;
mod commands;
mod error;
mod load;
mod merge;
mod outdir;
mod output;
mod points;
mod profile_file;
mod progress;
mod sensitivity;
mod shard;
mod sweep;
mod validate;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    outdir::install_signal_handler();
    match commands::dispatch(args) {
        Ok(()) => ExitCode::from(error::EXIT_OK),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
