use serde::{Deserialize, Serialize};

/// What kind of thing a reader noticed. Notes are recorded with the snapshot so that nothing a
/// reader did to the input (skip, transcode, reject) is silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// An object that is not table data (view, trigger, routine, event) was skipped.
    SkippedObject,
    /// Text was transcoded to UTF-8 from another encoding (the message says which, and why).
    Transcoded,
    /// A row could not be staged as a table row (ragged, unbalanced quote); its raw bytes are
    /// kept in the snapshot's rejected-rows table.
    RejectedRow,
    /// Bytes that are not valid in the declared encoding were staged as bytes, not text.
    InvalidText,
    /// What a reader detected about a file (dialect, header, encoding), so the choice is on record.
    Detected,
    /// Anything else worth a reviewer's eye (a guessed dialect, an unterminated statement ...).
    Warning,
}

impl NoteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoteKind::SkippedObject => "skipped_object",
            NoteKind::Transcoded => "transcoded",
            NoteKind::RejectedRow => "rejected_row",
            NoteKind::InvalidText => "invalid_text",
            NoteKind::Detected => "detected",
            NoteKind::Warning => "warning",
        }
    }
}

/// One thing a reader noticed, with where. `message` must not contain values from the data (PHI):
/// name files, lines, tables and columns only. Raw bytes of a rejected row go in `raw`, which is
/// stored inside the (protected) snapshot and never printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub kind: NoteKind,
    pub file: String,
    pub line: Option<u64>,
    pub table: Option<String>,
    pub column: Option<String>,
    pub message: String,
    pub raw: Option<Vec<u8>>,
}

impl Note {
    pub fn new(kind: NoteKind, file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            file: file.into(),
            line: None,
            table: None,
            column: None,
            message: message.into(),
            raw: None,
        }
    }

    pub fn at_line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }

    pub fn in_table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }

    pub fn in_column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }

    pub fn with_raw(mut self, raw: Vec<u8>) -> Self {
        self.raw = Some(raw);
        self
    }
}
