//! Reading scenario files from disk.

use std::path::{Path, PathBuf};

use lcsim_core::scenario::{FileSource, Scenario, parse_scenario};

use crate::error::CliError;

/// Resolves the paths written in a scenario against the scenario file's folder.
pub struct RelativeTo {
    pub dir: PathBuf,
}

impl FileSource for RelativeTo {
    fn read_to_string(&self, path: &str) -> Result<String, String> {
        let full = self.dir.join(path);
        std::fs::read_to_string(&full).map_err(|e| format!("cannot read {}: {e}", full.display()))
    }
}

pub fn load_scenario(path: &Path) -> Result<Scenario, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Input(format!("cannot read scenario {}: {e}", path.display())))?;
    let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    parse_scenario(&path.display().to_string(), &text, &RelativeTo { dir })
        .map_err(|e| CliError::Input(e.to_string()))
}
