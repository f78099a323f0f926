//! Report files are written through `ferry_core::atomic` (the one atomic-file helper: a
//! temporary file beside the target, fsynced, renamed over it), so a reader never sees half a
//! report and a failed write leaves the old file in place. Reports may hold samples of patient
//! data, so they are written as PHI (`0600`); the decisions file is a project file kept in git.

use std::io::Write;
use std::path::Path;

use crate::ReportError;
pub(crate) use ferry_core::atomic::Contents;

/// Writes a file atomically with `fill` writing its content.
pub(crate) fn write_atomic(
    path: &Path,
    contents: Contents,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), ReportError> {
    ferry_core::atomic::write_with(path, contents, fill)
        .map_err(|e| ReportError::io(e.path.clone(), e.source))
}
