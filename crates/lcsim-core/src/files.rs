//! Files a scenario refers to (a trace, an empirical column, a calibration profile) are read
//! through a [`FileSource`] the caller provides, so this crate does no IO of its own.

use crate::dist::ColumnSource;
use crate::trace::csv_column;

/// Reads the files a scenario refers to, by the path written in the scenario.
pub trait FileSource {
    fn read_to_string(&self, path: &str) -> Result<String, String>;
}

/// For scenarios that refer to no file (tests, benchmarks, generated scenarios): every read
/// fails with a message naming the path.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFiles;

impl FileSource for NoFiles {
    fn read_to_string(&self, path: &str) -> Result<String, String> {
        Err(format!("this scenario cannot read files ({path})"))
    }
}

impl ColumnSource for &dyn FileSource {
    fn column(&self, path: &str, column: &str) -> Result<Vec<f64>, String> {
        let text = self.read_to_string(path)?;
        csv_column(&text, column).map_err(|e| format!("{path}: {e}"))
    }
}
