//! Snapshot readers. Each reader streams one kind of legacy file into a [`ferry_core::Sink`]:
//! tables, rows (values exactly as the file held them), and notes for anything it did to the input.
//!
//! - [`mysqldump`]: `.sql` / `.sql.gz` files in the shape `mysqldump` writes, without a server.
//! - [`delimited`]: CSV, TSV, pipe- and semicolon-delimited text, with dialect and encoding detection.
//! - [`sqlite`]: SQLite database files, read-only.
//! - [`sheets`]: Excel (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`) and OpenDocument (`.ods`) workbooks,
//!   one table per worksheet.
//!
//! [`read_path`] detects the kind of each input and dispatches; it also computes every file's sha256.
//! This crate knows file formats; it does not know the workspace store.

pub mod delimited;
pub mod mysqldump;
pub mod sheets;
pub mod sqlite;

mod detect;
mod error;
mod hashing;

pub use detect::{InputKind, detect_kind, expand_inputs};
pub use error::SourceError;
pub use hashing::{FileDigest, HashingReader, sha256_file};

use ferry_core::Sink;
use std::io::BufReader;
use std::path::Path;

/// What was read from one input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The path as given (or as found inside a given folder).
    pub path: String,
    pub kind: InputKind,
    pub digest: FileDigest,
    /// The text encoding the file was decoded from, when it is a text file (`UTF-8`, `windows-1252` ...).
    pub encoding: Option<String>,
}

/// Options shared by the readers.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub delimited: delimited::DelimitedOptions,
    pub sheets: sheets::SheetOptions,
}

/// Reads one input file of a known kind into `sink`, returning its report.
pub fn read_file(
    path: &Path,
    kind: InputKind,
    options: &ReadOptions,
    sink: &mut dyn Sink,
) -> Result<FileReport, SourceError> {
    read_file_as(path, &path.display().to_string(), kind, options, sink)
}

/// [`read_file`], naming the file `label` in tables' origins, notes, errors and the report (the
/// staging records a path relative to the project, whatever directory Ferry was started in).
pub fn read_file_as(
    path: &Path,
    label: &str,
    kind: InputKind,
    options: &ReadOptions,
    sink: &mut dyn Sink,
) -> Result<FileReport, SourceError> {
    let label = label.to_string();
    match kind {
        InputKind::Mysqldump | InputKind::MysqldumpGz => {
            let file = std::fs::File::open(path).map_err(|e| SourceError::io(&label, e))?;
            let mut hashing = HashingReader::new(file);
            let encoding = if kind == InputKind::MysqldumpGz {
                let gz = flate2::read::MultiGzDecoder::new(&mut hashing);
                mysqldump::read(BufReader::with_capacity(1 << 20, gz), &label, sink)?
            } else {
                mysqldump::read(
                    BufReader::with_capacity(1 << 20, &mut hashing),
                    &label,
                    sink,
                )?
            };
            // Drain what the parser did not need (trailing bytes) so the digest covers the file.
            std::io::copy(&mut hashing, &mut std::io::sink())
                .map_err(|e| SourceError::io(&label, e))?;
            Ok(FileReport {
                path: label,
                kind,
                digest: hashing.finish(),
                encoding: Some(encoding),
            })
        }
        InputKind::Delimited => {
            let digest = sha256_file(path).map_err(|e| SourceError::io(&label, e))?;
            let report = delimited::read_file(path, &label, &options.delimited, sink)?;
            Ok(FileReport {
                path: label,
                kind,
                digest,
                encoding: Some(report.encoding),
            })
        }
        InputKind::Spreadsheet => {
            let digest = sha256_file(path).map_err(|e| SourceError::io(&label, e))?;
            sheets::read_file(path, &label, &options.sheets, sink)?;
            sink.progress(digest.bytes);
            Ok(FileReport {
                path: label,
                kind,
                digest,
                encoding: None,
            })
        }
        InputKind::Sqlite => {
            let digest = sha256_file(path).map_err(|e| SourceError::io(&label, e))?;
            sqlite::read_file(path, &label, sink)?;
            Ok(FileReport {
                path: label,
                kind,
                digest,
                encoding: None,
            })
        }
    }
}
