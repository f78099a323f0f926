//! mysqldump reader (being written).
use crate::SourceError;
use ferry_core::Sink;
use std::io::BufRead;

/// Reads a mysqldump stream into `sink`. Returns the name of the connection character set the
/// string literals were decoded from (e.g. `utf8mb4`; the last `SET NAMES` seen).
pub fn read<R: BufRead>(_input: R, file: &str, _sink: &mut dyn Sink) -> Result<String, SourceError> {
    Err(SourceError::Unsupported {
        file: file.into(),
        message: "mysqldump reader not yet built".into(),
    })
}
