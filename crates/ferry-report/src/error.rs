//! Errors of report writing and of reading reviewers' decisions back.

use std::fmt;
use std::path::PathBuf;

/// Writing a report or reading the decisions file failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}; check that the folder exists, is writable and the disk is not full")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: writing the workbook failed ({source}); check that the folder is writable and \
         the file is not open in Excel"
    )]
    Xlsx {
        path: PathBuf,
        #[source]
        source: rust_xlsxwriter::XlsxError,
    },
    #[error(
        "{path}:{line}:{column}: {message}; fix the file by hand or import the workbook again \
         with `ferry map import`"
    )]
    DecisionsSyntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{path}: this decisions file has format {found}, newer than this ferry reads ({supported}); \
         upgrade ferry"
    )]
    DecisionsFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "table `{table}` column `{column}`: the {field} is {chars} characters long, more than a \
         spreadsheet cell holds (32,767); shorten it in the decisions file"
    )]
    CellTooLong {
        table: String,
        column: String,
        field: &'static str,
        chars: usize,
    },
    #[error(
        "the workbook would need {rows} rows on sheet '{sheet}', more than Excel's 1,048,576; \
         profile fewer tables or columns"
    )]
    TooManyRows { sheet: String, rows: usize },
    #[error("{path}: writing JSON failed: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl ReportError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.into(),
            source,
        }
    }
}

/// One thing wrong in a workbook handed back by reviewers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetProblem {
    /// The sheet's name, e.g. `columns`.
    pub sheet: String,
    /// The cell in A1 style (`N12`), when the problem is in one cell.
    pub cell: Option<String>,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for SheetProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cell {
            Some(cell) => write!(f, "sheet '{}', cell {}: ", self.sheet, cell)?,
            None => write!(f, "sheet '{}': ", self.sheet)?,
        }
        write!(f, "{}; {}", self.problem, self.fix)
    }
}

/// Reading a migration map workbook back failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not a readable .xlsx workbook.
    #[error(
        "{path}: cannot be read as an .xlsx workbook ({message}); save it from Excel or \
         LibreOffice as \"Excel 2007-365 (.xlsx)\" and import it again"
    )]
    Open { path: PathBuf, message: String },
    /// The workbook was read but its structure or contents are wrong: every problem found.
    #[error("{}", problems_message(path, problems))]
    Problems {
        path: PathBuf,
        problems: Vec<SheetProblem>,
    },
}

impl ImportError {
    /// The problems found (empty for [`ImportError::Open`]).
    pub fn problems(&self) -> &[SheetProblem] {
        match self {
            ImportError::Open { .. } => &[],
            ImportError::Problems { problems, .. } => problems,
        }
    }
}

fn problems_message(path: &std::path::Path, problems: &[SheetProblem]) -> String {
    let mut out = format!(
        "{}: {} problem{} in the migration map workbook; nothing was imported:",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str("\n  - ");
        out.push_str(&p.to_string());
    }
    out
}
