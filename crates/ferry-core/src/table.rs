use serde::{Deserialize, Serialize};

/// Where something came from in a snapshot file: the file's name as given and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Origin {
    pub file: String,
    pub line: u64,
}

/// One column as the source declared it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    /// The declared type exactly as written (`varchar(64)`, `decimal(5,2) unsigned`), if any.
    /// Metadata only: never used to coerce values.
    pub declared_type: Option<String>,
}

impl ColumnDef {
    pub fn new(name: impl Into<String>, declared_type: Option<String>) -> Self {
        Self {
            name: name.into(),
            declared_type,
        }
    }
}

/// One table of a snapshot as its source declared it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDef {
    /// The table's name in the source (unquoted).
    pub name: String,
    /// The database (schema) it belongs to, when the source names one (`USE db` in a dump).
    pub database: Option<String>,
    pub columns: Vec<ColumnDef>,
    /// Declared primary-key columns, in key order; empty when none was declared.
    pub primary_key: Vec<String>,
    /// Declared character set of the table (`DEFAULT CHARSET=latin1`), metadata only.
    pub charset: Option<String>,
    /// Encoding the rows were decoded from, when not UTF-8 (e.g. `windows-1252`), recorded so
    /// that the transcoding is never silent.
    pub transcoded_from: Option<String>,
    /// Where the definition was read.
    pub origin: Origin,
}

impl TableDef {
    pub fn new(name: impl Into<String>, columns: Vec<ColumnDef>, origin: Origin) -> Self {
        Self {
            name: name.into(),
            database: None,
            columns,
            primary_key: Vec::new(),
            charset: None,
            transcoded_from: None,
            origin,
        }
    }
}
