//! What can go wrong in a command, and the exit code of each kind (one place for all of them).

/// The command succeeded.
pub const EXIT_OK: u8 = 0;
/// An unexpected failure: IO, a server that failed mid-run, a bug.
pub const EXIT_FAILURE: u8 = 1;
/// The user's input is invalid: a scenario, profile, flag or output path. Nothing was written.
pub const EXIT_INPUT: u8 = 2;
/// Interrupted by SIGINT or SIGTERM (128 + SIGINT, the shell's convention); temporaries removed.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug)]
pub enum CliError {
    /// The user's input is invalid: [`EXIT_INPUT`].
    Input(String),
    /// Anything else: [`EXIT_FAILURE`].
    Other(anyhow::Error),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(_) => EXIT_INPUT,
            CliError::Other(_) => EXIT_FAILURE,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Input(m) => f.write_str(m),
            CliError::Other(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Other(e)
    }
}

/// `--threads` for any command: from 1 to a sane multiple of the cores (a pool of 100,000
/// threads only exhausts the process's limits).
pub fn check_threads(flag: &str, n: u32) -> Result<usize, CliError> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let max = (4 * cores).max(64);
    if n == 0 || n as usize > max {
        return Err(CliError::Input(format!(
            "{flag} must be from 1 to {max} (4 × the {cores} cores here, at least 64), got {n}\nhint: leave it out to use one thread per core"
        )));
    }
    Ok(n as usize)
}
