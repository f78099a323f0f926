//! The profile as JSON for tools (`reports/profile-NNNN.json`); field names are those of
//! [`ferry_profile::model`].

use std::path::Path;

use ferry_profile::model::SnapshotProfile;

use crate::ReportError;
use crate::fsutil::{Contents, write_atomic};

/// Writes the profile as pretty-printed JSON (atomically).
pub fn write_profile_json(profile: &SnapshotProfile, path: &Path) -> Result<(), ReportError> {
    let text = serde_json::to_string_pretty(profile).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, Contents::Phi, |w| {
        w.write_all(text.as_bytes())?;
        w.write_all(b"\n")
    })
}
