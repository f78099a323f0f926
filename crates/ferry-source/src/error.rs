use ferry_core::SinkError;

/// Why a snapshot file could not be read. Every message names the file and, where known, the
/// line and column, says what was expected, and what to do. Messages never quote data values.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read `{file}`: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not what its reader expected at this place.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
    /// The input is of a kind Ferry cannot read (or cannot tell).
    #[error("`{file}`: {message}")]
    Unsupported { file: String, message: String },
    /// A workbook (or one of its sheets) could not be read: damaged, password-protected, or a
    /// header row that is not there.
    #[error("cannot stage workbook `{file}`{}: {message}", sheet.as_ref().map(|s| format!(", sheet `{s}`")).unwrap_or_default())]
    Workbook {
        file: String,
        sheet: Option<String>,
        message: String,
    },
    /// A SQLite source file could not be read.
    #[error("cannot read SQLite file `{file}`: {message}")]
    Sqlite { file: String, message: String },
    /// The sink refused the data (the store failed or the user cancelled).
    #[error(transparent)]
    Sink(#[from] SinkError),
}

impl SourceError {
    pub fn io(file: &str, source: std::io::Error) -> Self {
        SourceError::Io {
            file: file.to_string(),
            source,
        }
    }

    pub fn syntax(file: &str, line: u64, column: u64, message: impl Into<String>) -> Self {
        SourceError::Syntax {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}
