//! Output folders: which ones lcsim may replace, and replacing them atomically.
//!
//! **Promise:** lcsim replaces only a folder it wrote itself, recognised by the marker file
//! [`MARKER`] inside it, or an empty folder. Anything else named by `--out` (a file, a project
//! folder, the current directory or one of its parents) is refused with exit code 2 before any
//! work starts. Nothing outside `--out` and its temporary sibling is created, replaced or deleted.
//!
//! **Atomicity:** results are written to a temporary sibling (`.<name>.lcsim-tmp-<pid>-<random>`,
//! a [`tempfile::TempDir`], removed on drop), then swapped in by two renames. The swap holds the
//! [`PENDING`] lock, which the SIGINT/SIGTERM handler also takes, so an interrupt lands either
//! before the swap (the temporary is removed, the previous folder is untouched) or after it.
//! A run killed with SIGKILL can leave a temporary behind; the next run into the same parent
//! folder removes it (or, if the kill fell between the two renames, puts the previous folder back).

use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use crate::error::{CliError, EXIT_INTERRUPTED};

/// The file that marks a folder as an lcsim run folder.
pub const MARKER: &str = ".lcsim-run";
const MARKER_TEXT: &str =
    "This folder was written by lcsim; `lcsim run --out` may replace it whole.\n";
const TMP_TAG: &str = ".lcsim-tmp-";
const OLD_TAG: &str = ".lcsim-old-";

/// Temporary paths to remove if the process is interrupted.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Installs the SIGINT/SIGTERM handler: remove pending temporaries, exit 130.
pub fn install_signal_handler() {
    // Fails only if a handler is already installed (tests calling twice); nothing to do then.
    let _ = ctrlc::set_handler(|| {
        let pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        for p in pending.iter() {
            // The main thread may still be writing into the folder: a file it creates between
            // `remove_dir_all`'s listing and its last `rmdir` makes that fail. Writers never
            // create the folder itself again (they create only inside it), so retrying until it
            // is gone converges; the bound only guards against a folder that cannot be removed.
            for _ in 0..1000 {
                let _ =
                    if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
                if !p.exists() {
                    break;
                }
            }
        }
        eprintln!("\ninterrupted: nothing was written");
        std::process::exit(EXIT_INTERRUPTED);
    });
}

fn unregister(p: &Path) {
    PENDING.lock().unwrap_or_else(|e| e.into_inner()).retain(|q| q != p);
}

/// A path given to `--out` must name something of its own: not `.`, `..` or `/`, with every
/// component a possible file name (at most 255 bytes).
pub fn check_name(flag: &str, path: &Path) -> Result<(), CliError> {
    let bad = |why: &str| {
        CliError::Input(format!("{flag} {} {why}\nhint: e.g. {flag} output/my-run", path.display()))
    };
    if path.as_os_str().is_empty() {
        return Err(bad("is empty"));
    }
    if !matches!(path.components().next_back(), Some(Component::Normal(_))) {
        return Err(bad("names no folder of its own; lcsim would replace it whole"));
    }
    if path.components().any(|c| c.as_os_str().len() > 255) {
        return Err(bad("has a component longer than 255 bytes, which no file system allows"));
    }
    Ok(())
}

/// Whether `dir` may be replaced: absent, an empty folder, or a folder holding [`MARKER`]; and
/// never the current directory or a folder above it.
pub fn check_replaceable(flag: &str, dir: &Path) -> Result<(), CliError> {
    check_name(flag, dir)?;
    let refuse = |what: &str| {
        CliError::Input(format!(
            "{} exists and {what}; choose another {flag} or remove it\nhint: lcsim replaces only folders it wrote itself (they hold a `{MARKER}` file)",
            dir.display()
        ))
    };
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CliError::Input(format!("cannot inspect {}: {e}", dir.display()))),
    };
    if meta.file_type().is_symlink() {
        return Err(refuse("is a symbolic link, not an lcsim run folder"));
    }
    if !meta.is_dir() {
        return Err(refuse("is a file, not an lcsim run folder"));
    }
    if let (Ok(cwd), Ok(target)) = (std::env::current_dir(), dir.canonicalize())
        && cwd.canonicalize().is_ok_and(|c| c.starts_with(&target))
    {
        return Err(refuse("is the current directory or holds it"));
    }
    let empty = std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(false);
    if !empty && !dir.join(MARKER).is_file() {
        return Err(refuse("is not an lcsim run folder"));
    }
    Ok(())
}

/// A run folder being written: a temporary sibling of the destination.
#[derive(Debug)]
pub struct Staging {
    tmp: Option<tempfile::TempDir>,
    dir: PathBuf,
    parent: PathBuf,
    name: String,
}

impl Staging {
    /// Checks that `dir` may be replaced, removes stale temporaries of earlier runs into it, and
    /// creates the temporary sibling.
    pub fn new(flag: &str, dir: &Path) -> Result<Staging, CliError> {
        check_replaceable(flag, dir)?;
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        std::fs::create_dir_all(&parent).map_err(|e| {
            CliError::Input(format!("cannot create the folder {}: {e}", parent.display()))
        })?;
        clean_stale(&parent, &name, dir);
        let prefix = format!(".{name}{TMP_TAG}{}-", std::process::id());
        // Created and registered under the lock, so an interrupt cannot fall in between.
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        let tmp = tempfile::Builder::new().prefix(&prefix).tempdir_in(&parent).map_err(|e| {
            CliError::Other(anyhow::anyhow!("cannot create a folder in {}: {e}", parent.display()))
        })?;
        pending.push(tmp.path().to_path_buf());
        drop(pending);
        std::fs::write(tmp.path().join(MARKER), MARKER_TEXT)
            .map_err(|e| CliError::Other(e.into()))?;
        Ok(Staging { tmp: Some(tmp), dir: dir.to_path_buf(), parent, name })
    }

    /// The temporary folder to write into.
    pub fn path(&self) -> &Path {
        self.tmp.as_ref().map_or(self.dir.as_path(), |t| t.path())
    }

    /// Swaps the temporary folder into place; the previous folder (checked replaceable when
    /// this staging began, and again now) is removed.
    pub fn commit(mut self) -> Result<(), CliError> {
        check_replaceable("--out", &self.dir)?;
        let tmp = self.tmp.take().expect("committed once");
        let old = self.parent.join(format!(".{}{OLD_TAG}{}", self.name, std::process::id()));
        let pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        let swap = (|| -> std::io::Result<()> {
            if self.dir.exists() {
                std::fs::rename(&self.dir, &old)?;
            }
            if let Err(e) = std::fs::rename(tmp.path(), &self.dir) {
                if old.exists() {
                    let _ = std::fs::rename(&old, &self.dir);
                }
                return Err(e);
            }
            Ok(())
        })();
        match swap {
            Ok(()) => {
                let tmp_path = tmp.keep();
                let _ = std::fs::remove_dir_all(&old);
                drop(pending);
                unregister(&tmp_path);
                Ok(())
            }
            Err(e) => {
                let tmp_path = tmp.path().to_path_buf();
                drop(tmp);
                drop(pending);
                unregister(&tmp_path);
                Err(CliError::Other(anyhow::anyhow!(
                    "cannot move results into {}: {e}",
                    self.dir.display()
                )))
            }
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let p = tmp.path().to_path_buf();
            drop(tmp);
            unregister(&p);
        }
    }
}

/// Removes temporaries of runs into `parent/name` whose process is gone; restores the previous
/// folder if a run was killed between its two renames.
fn clean_stale(parent: &Path, name: &str, dir: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = file.strip_prefix(&format!(".{name}")) else { continue };
        let (is_old, tail) = if let Some(t) = rest.strip_prefix(OLD_TAG) {
            (true, t)
        } else if let Some(t) = rest.strip_prefix(TMP_TAG) {
            (false, t)
        } else {
            continue;
        };
        let Some(pid) = tail.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || process_alive(pid, &entry.path()) {
            continue;
        }
        let path = entry.path();
        if is_old && !dir.exists() && path.join(MARKER).is_file() {
            let _ = std::fs::rename(&path, dir);
        } else {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Whether process `pid` still runs: /proc where there is one; elsewhere a temporary younger
/// than a day is assumed to belong to a live run.
fn process_alive(pid: u32, path: &Path) -> bool {
    let proc = Path::new("/proc");
    if proc.join("self").exists() {
        return proc.join(pid.to_string()).exists();
    }
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() < 86_400)
}

/// Writes a single file atomically (temporary sibling, then rename), removed on any error or
/// interrupt. The caller decides whether the destination may be replaced.
pub fn write_file_atomically(path: &Path, contents: &[u8]) -> Result<(), CliError> {
    use std::io::Write as _;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| {
        CliError::Input(format!("cannot create the folder {}: {e}", parent.display()))
    })?;
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".lcsim-tmp-{}-", std::process::id()))
        .tempfile_in(&parent)
        .map_err(|e| {
            CliError::Other(anyhow::anyhow!("cannot write in {}: {e}", parent.display()))
        })?;
    let tmp_path = tmp.path().to_path_buf();
    pending.push(tmp_path.clone());
    drop(pending);
    let result = tmp
        .write_all(contents)
        .and_then(|()| tmp.flush())
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot write {}: {e}", path.display())));
    let result = result.and_then(|()| {
        let _pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        tmp.persist(path).map(|_| ()).map_err(|e| {
            CliError::Other(anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))
        })
    });
    unregister(&tmp_path);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_their_own_only() {
        for bad in [".", "..", "/", "a/..", ""] {
            assert!(check_name("--out", Path::new(bad)).is_err(), "{bad}");
        }
        assert!(check_name("--out", Path::new(&"x".repeat(256))).is_err());
        assert!(check_name("--out", Path::new("output/run")).is_ok());
    }
}
