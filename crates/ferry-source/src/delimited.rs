//! Delimited text reader (being written).
use crate::SourceError;
use ferry_core::Sink;
use std::path::Path;

/// Options for delimited files; `None` means detect.
#[derive(Debug, Clone, Default)]
pub struct DelimitedOptions {
    pub delimiter: Option<u8>,
    pub encoding: Option<String>,
    pub has_header: Option<bool>,
}

/// What was detected and done.
#[derive(Debug, Clone)]
pub struct DelimitedReport {
    pub encoding: String,
}

pub fn read_file(
    _path: &Path,
    file: &str,
    _options: &DelimitedOptions,
    _sink: &mut dyn Sink,
) -> Result<DelimitedReport, SourceError> {
    Err(SourceError::Unsupported {
        file: file.into(),
        message: "delimited reader not yet built".into(),
    })
}
