//! Where a measurement was made: host, OS, versions, date, command line; and writing profiles.

use std::time::{SystemTime, UNIX_EPOCH};

use lcsim_core::profile::{Profile, Provenance};

/// The candle-core version this crate is built with (checked against Cargo.lock by a test).
pub const CANDLE_VERSION: &str = "0.11.1";

/// `YYYY-MM-DD` (UTC) of a Unix time, by H. Hinnant's `civil_from_days`.
pub fn utc_date(unix_seconds: u64) -> String {
    let z = (unix_seconds / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string())
            })
        })
        .map_or_else(
            || std::env::consts::OS.to_string(),
            |n| format!("{n} ({})", std::env::consts::ARCH),
        )
}

/// Provenance of a measurement made now on this host.
pub fn measured_here(command: &str, device: &str) -> Provenance {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Provenance {
        method: "measured".into(),
        date: utc_date(now),
        lcsim_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        command: Some(command.to_string()),
        host_cpu: cpu_model(),
        host_cores: std::thread::available_parallelism().ok().map(|n| n.get() as u32),
        device: Some(device.to_string()),
        os: Some(os_name()),
        candle_version: Some(CANDLE_VERSION.to_string()),
        source: None,
        notes: None,
    }
}

/// A profile as the TOML text `lcsim calibrate` writes: `header` as comment lines, then the
/// profile. (The CLI writes it atomically, next to the destination, then renames it.)
pub fn profile_text(profile: &Profile, header: &str) -> Result<String, toml::ser::Error> {
    let body = toml::to_string(profile)?;
    Ok(header.lines().map(|l| format!("# {l}\n")).collect::<String>() + &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_795_651_200), "2026-11-26");
    }

    #[test]
    fn candle_version_matches_the_lock_file() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
                .unwrap();
        let expected = format!("name = \"candle-core\"\nversion = \"{CANDLE_VERSION}\"");
        assert!(lock.contains(&expected), "update CANDLE_VERSION to the version in Cargo.lock");
    }
}
