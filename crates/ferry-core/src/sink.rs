use crate::{Note, TableDef, Value};

/// Handle for a table opened on a [`Sink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableId(pub usize);

/// Why a sink refused data: the store failed (disk full, I/O) or the user cancelled.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub Box<dyn std::error::Error + Send + Sync>);

impl SinkError {
    pub fn msg(message: impl Into<String>) -> Self {
        SinkError(message.into().into())
    }
}

/// Where a snapshot reader pushes what it reads (push style, as ripgrep's searcher sinks).
///
/// Contract for readers:
/// - call [`Sink::table`] once per table before its rows; a table may receive rows from several
///   statements or files;
/// - every row passed to [`Sink::row`] has exactly one value per column of its table, in the
///   table's column order;
/// - report everything done to the input (skips, transcoding, rejected rows) as a [`Note`];
/// - call [`Sink::progress`] now and then with the bytes consumed so far of the current file.
pub trait Sink {
    fn table(&mut self, def: TableDef) -> Result<TableId, SinkError>;
    fn row(&mut self, table: TableId, values: Vec<Value>) -> Result<(), SinkError>;
    fn note(&mut self, note: Note) -> Result<(), SinkError>;
    fn progress(&mut self, _bytes_consumed: u64) {}
}

/// A sink that keeps everything in memory: for tests and fuzzing, never for real snapshots.
#[derive(Debug, Default)]
pub struct MemorySink {
    pub tables: Vec<(TableDef, Vec<Vec<Value>>)>,
    pub notes: Vec<Note>,
}

impl MemorySink {
    /// Rows of the table with this name (first match), if any.
    pub fn rows_of(&self, name: &str) -> Option<&[Vec<Value>]> {
        self.tables
            .iter()
            .find(|(def, _)| def.name == name)
            .map(|(_, rows)| rows.as_slice())
    }

    pub fn def_of(&self, name: &str) -> Option<&TableDef> {
        self.tables
            .iter()
            .find(|(def, _)| def.name == name)
            .map(|(def, _)| def)
    }
}

impl Sink for MemorySink {
    fn table(&mut self, def: TableDef) -> Result<TableId, SinkError> {
        self.tables.push((def, Vec::new()));
        Ok(TableId(self.tables.len() - 1))
    }

    fn row(&mut self, table: TableId, values: Vec<Value>) -> Result<(), SinkError> {
        let (def, rows) = self
            .tables
            .get_mut(table.0)
            .ok_or_else(|| SinkError::msg(format!("unknown table id {}", table.0)))?;
        if values.len() != def.columns.len() {
            return Err(SinkError::msg(format!(
                "table `{}` has {} columns but a row has {} values",
                def.name,
                def.columns.len(),
                values.len()
            )));
        }
        rows.push(values);
        Ok(())
    }

    fn note(&mut self, note: Note) -> Result<(), SinkError> {
        self.notes.push(note);
        Ok(())
    }
}
