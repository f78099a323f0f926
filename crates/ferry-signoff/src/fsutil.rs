//! Atomic file writes: a temporary file beside the target, fsynced, then renamed over it, so a
//! reader never sees half a file and a failed write leaves the old one in place.

use crate::SignoffError;
use ferry_core::atomic::{self, Contents};
use std::path::Path;

/// Through the project's one atomic-file helper (`ferry_core::atomic`): the temporary file is
/// named for this process, so a kill leaves nothing the next command's sweep does not remove.
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    contents: Contents,
) -> Result<(), SignoffError> {
    atomic::write(path, contents, bytes).map_err(|e| SignoffError::write(e.path, e.source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("a.html");
        write_atomic(&p, b"one", Contents::Phi).unwrap();
        write_atomic(&p, b"two", Contents::Phi).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a PHI file is owner-only");
    }
}
