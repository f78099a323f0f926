//! SQLite source reader (being written).
use crate::SourceError;
use ferry_core::Sink;
use std::path::Path;

pub fn read_file(_path: &Path, file: &str, _sink: &mut dyn Sink) -> Result<(), SourceError> {
    Err(SourceError::Unsupported {
        file: file.into(),
        message: "SQLite reader not yet built".into(),
    })
}
