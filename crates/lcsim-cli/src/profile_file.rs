//! Writing a calibration profile: the destination check, the file with its provenance header,
//! and the command line recorded in it (secrets redacted). Shared by `lcsim calibrate local`,
//! `cloud` and `server`.

use crate::error::CliError;
use crate::outdir::{check_name, write_file_atomically};
use lcsim_calibrate::provenance::profile_text;
use lcsim_core::profile::Profile;
use std::path::Path;

pub(crate) fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// A profile destination: absent, or a profile file already (never a folder or another file).
pub(crate) fn check_profile_destination(out: &Path) -> Result<(), CliError> {
    check_name("--out", out)?;
    if out.is_dir() {
        return Err(CliError::Input(format!(
            "--out {} is a folder; it names the profile file to write\nhint: e.g. --out {}",
            out.display(),
            out.join("profile.toml").display()
        )));
    }
    if out.exists() {
        let existing = std::fs::read_to_string(out).unwrap_or_default();
        if lcsim_core::profile::parse_profile(&existing).is_err() {
            return Err(CliError::Input(format!(
                "{} exists and is not an lcsim calibration profile; choose another --out or remove it",
                out.display()
            )));
        }
    }
    Ok(())
}

/// Writes a profile to `out` (checked again: it may have changed while measuring), atomically,
/// so an interrupt leaves the previous file or none.
pub(crate) fn write_profile(out: &Path, profile: &Profile, header: &str) -> Result<(), CliError> {
    check_profile_destination(out)?;
    let text = profile_text(profile, header).map_err(|e| CliError::Other(e.into()))?;
    write_file_atomically(out, text.as_bytes())
}

/// The command line as recorded in a profile: nothing that looks like a key.
pub(crate) fn redact(command: &str) -> String {
    command
        .split(' ')
        .map(|w| {
            if w.starts_with("sk-") || w.to_ascii_lowercase().starts_with("bearer") {
                "<redacted>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
