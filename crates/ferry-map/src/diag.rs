//! Diagnostics: every problem found in a mapping or concept-map file, with file:line:column.

use std::fmt;

/// How bad a diagnostic is. An `Error` keeps the module from running; a `Warning` does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem in a file. `line` and `column` are 1-based; 0 means the position is not known
/// (the whole file). Messages never contain data values, only names from the mapping itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(
                f,
                "{}: {}: {}",
                self.file,
                self.severity.as_str(),
                self.message
            )
        } else {
            write!(
                f,
                "{}:{}:{}: {}: {}",
                self.file,
                self.line,
                self.column,
                self.severity.as_str(),
                self.message
            )
        }
    }
}

/// Maps byte offsets of a text to 1-based line and column (columns count characters).
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, starts }
    }

    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        (line + 1, column + 1)
    }
}

/// Collects diagnostics for one file.
pub(crate) struct Diags<'a> {
    pub(crate) file: String,
    pub(crate) index: LineIndex<'a>,
    pub(crate) list: Vec<Diagnostic>,
}

impl<'a> Diags<'a> {
    pub(crate) fn new(file: impl Into<String>, text: &'a str) -> Self {
        Self {
            file: file.into(),
            index: LineIndex::new(text),
            list: Vec::new(),
        }
    }

    pub(crate) fn at(&mut self, offset: usize, severity: Severity, message: impl Into<String>) {
        let (line, column) = self.index.position(offset);
        self.list.push(Diagnostic {
            file: self.file.clone(),
            line,
            column,
            severity,
            message: message.into(),
        });
    }

    pub(crate) fn error(&mut self, offset: usize, message: impl Into<String>) {
        self.at(offset, Severity::Error, message);
    }

    pub(crate) fn warning(&mut self, offset: usize, message: impl Into<String>) {
        self.at(offset, Severity::Warning, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let idx = LineIndex::new("ab\né x\n");
        assert_eq!(idx.position(0), (1, 1));
        assert_eq!(idx.position(1), (1, 2));
        assert_eq!(idx.position(3), (2, 1));
        // "é" is two bytes; the space after it is the second character.
        assert_eq!(idx.position(5), (2, 2));
        assert_eq!(idx.position(999), (3, 1));
    }

    #[test]
    fn display_names_file_line_column() {
        let d = Diagnostic {
            file: "m.toml".into(),
            line: 3,
            column: 7,
            severity: Severity::Error,
            message: "bad".into(),
        };
        assert_eq!(d.to_string(), "m.toml:3:7: error: bad");
    }
}
