//! Atomic file writes: a temporary file beside the target, fsynced, then renamed over it, so a
//! reader never sees half a report and a failed write leaves the old file in place.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ReportError;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary path in `path`'s folder, unique within this process.
pub(crate) fn temp_path_for(path: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".to_string());
    let tmp = format!(".{name}.tmp-{}-{n}", std::process::id());
    match path.parent() {
        Some(dir) => dir.join(tmp),
        None => PathBuf::from(tmp),
    }
}

/// Removes the temporary file unless [`TempGuard::keep`] was called.
pub(crate) struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl TempGuard {
    pub(crate) fn new(path: PathBuf) -> Self {
        TempGuard { path, armed: true }
    }
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
    pub(crate) fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Fsyncs `temp` and renames it to `path`.
pub(crate) fn commit(guard: TempGuard, path: &Path) -> Result<(), ReportError> {
    File::open(guard.path())
        .and_then(|f| f.sync_all())
        .map_err(|e| ReportError::io(guard.path(), e))?;
    fs::rename(guard.path(), path).map_err(|e| ReportError::io(path, e))?;
    guard.keep();
    sync_parent(path);
    Ok(())
}

#[cfg(unix)]
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        // Best effort: the rename is already visible; this makes it durable.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(not(unix))]
fn sync_parent(_path: &Path) {}

/// Writes a file atomically with `fill` writing its content.
pub(crate) fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), ReportError> {
    let guard = TempGuard::new(temp_path_for(path));
    {
        let file = File::create(guard.path()).map_err(|e| ReportError::io(guard.path(), e))?;
        let mut w = BufWriter::new(file);
        fill(&mut w).map_err(|e| ReportError::io(guard.path(), e))?;
        w.flush().map_err(|e| ReportError::io(guard.path(), e))?;
    }
    commit(guard, path)
}
