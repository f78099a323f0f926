//! `ferry stage PATH...`: acquire a snapshot into the workspace, losslessly and atomically.

use crate::{OpsError, Progress, Project, Session};
use ferry_core::{Note, Sink, SinkError, TableDef, TableId, Value};
use ferry_source::{
    InputKind, ReadOptions,
    delimited::DelimitedOptions,
    sheets::{Header, SheetOptions},
};
use ferry_store::{StagedFile, StoreError, Workspace};
use serde::Serialize;
use std::path::PathBuf;

/// What to stage and how to read it.
#[derive(Debug, Clone, Default)]
pub struct StageRequest {
    pub paths: Vec<PathBuf>,
    pub label: Option<String>,
    /// Encoding of delimited files (a WHATWG label); default: `[stage] csv_encoding`, else detect.
    pub encoding: Option<String>,
    /// Delimiter of delimited files (one character, `\t` for tab); default: `[stage]
    /// csv_delimiter`, else sniff.
    pub delimiter: Option<String>,
    /// Delimited files and workbooks' sheets have no header row.
    pub no_header: bool,
    /// Workbooks: the 1-based row holding every sheet's column names (default: detected).
    pub header_row: Option<u32>,
    pub cancel: ferry_core::Cancel,
}

/// What one staging produced.
#[derive(Debug, Serialize)]
pub struct StageOutcome {
    pub snapshot: u64,
    pub label: Option<String>,
    pub duration_ms: u64,
    pub input_bytes: u64,
    pub rows: u64,
    pub rejected_rows: u64,
    pub content_sha256: String,
    pub files: Vec<ferry_store::FileRecord>,
    pub tables: Vec<TableLine>,
    pub notes: NoteCounts,
}

#[derive(Debug, Serialize)]
pub struct TableLine {
    pub name: String,
    pub staged_name: String,
    pub rows: u64,
    pub columns: usize,
    pub source: String,
    pub transcoded_from: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct NoteCounts {
    pub skipped_object: u64,
    pub transcoded: u64,
    pub rejected_row: u64,
    pub invalid_text: u64,
    pub detected: u64,
    pub warning: u64,
}

/// How delimited files are read: the request's settings, else `[stage]` in ferry.toml.
pub fn read_options(req: &StageRequest, project: &Project) -> Result<ReadOptions, OpsError> {
    let encoding = req
        .encoding
        .clone()
        .or_else(|| project.config.stage.csv_encoding.clone());
    if let Some(label) = &encoding
        && encoding_rs::Encoding::for_label(label.as_bytes()).is_none()
    {
        return Err(OpsError::Config(format!(
            "unknown encoding `{label}`. Use a WHATWG label such as `utf-8`, `windows-1252`, `iso-8859-1`, `utf-16le`"
        )));
    }
    let delimiter = match req
        .delimiter
        .clone()
        .or_else(|| project.config.stage.csv_delimiter.clone())
    {
        None => None,
        Some(d) => {
            let d = if d == "\\t" { "\t".to_string() } else { d };
            match d.as_bytes() {
                [b] if b.is_ascii() => Some(*b),
                _ => {
                    return Err(OpsError::Config(format!(
                        "the delimiter must be one ASCII character (e.g. `,`, `|`, `;`, `\\t`), not `{d}`"
                    )));
                }
            }
        }
    };
    let header = match (req.no_header, req.header_row) {
        (true, Some(_)) => {
            return Err(OpsError::Config(
                "give either --no-header or --header-row, not both".into(),
            ));
        }
        (false, Some(0)) => {
            return Err(OpsError::Config(
                "--header-row counts rows from 1 (the sheet's first row is 1)".into(),
            ));
        }
        (true, None) => Header::Absent,
        (false, Some(n)) => Header::Row(n),
        (false, None) => Header::Detect,
    };
    Ok(ReadOptions {
        sheets: SheetOptions { header },
        delimited: DelimitedOptions {
            delimiter,
            encoding,
            has_header: if req.no_header { Some(false) } else { None },
            ..Default::default()
        },
    })
}

/// Stages the request's paths as one new snapshot. On any error nothing is added to the
/// workspace.
pub fn stage(
    session: &mut Session,
    req: &StageRequest,
    progress: &dyn Progress,
) -> Result<StageOutcome, OpsError> {
    let result = stage_unsealed(session, req, progress);
    session.seal("stage", result)
}

fn stage_unsealed(
    session: &mut Session,
    req: &StageRequest,
    progress: &dyn Progress,
) -> Result<StageOutcome, OpsError> {
    let options = read_options(req, &session.project)?;
    let inputs =
        ferry_source::expand_inputs(&req.paths).map_err(|e| OpsError::Other(e.to_string()))?;
    if let Some(n) = req.header_row
        && !inputs.iter().any(|(_, k)| *k == InputKind::Spreadsheet)
    {
        return Err(OpsError::Config(format!(
            "--header-row {n} is for workbooks (`.xlsx`, `.xls`, `.ods`), and none of the inputs \
             is one; leave it out (delimited files take --no-header)"
        )));
    }
    let total: u64 = inputs
        .iter()
        .map(|(p, _)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    progress.phase("staging", Some(total));
    let project = session.project.clone();
    let cancel = &req.cancel;
    let mut writer = session.ws.begin_snapshot(req.label.clone())?;
    writer.use_cancel_flag(cancel.flag());
    let mut offset = 0u64;
    for (path, kind) in &inputs {
        if cancel.is_cancelled() {
            return Err(OpsError::Cancelled);
        }
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        // Recorded relative to the project when inside it, so the catalog reads the same from
        // any directory.
        let label = project.relative(&absolute);
        let result = {
            let mut sink = ProgressSink {
                inner: &mut writer,
                progress,
                offset,
            };
            ferry_source::read_file_as(path, &label, *kind, &options, &mut sink)
        };
        let report = match result {
            Ok(report) => report,
            Err(_) if cancel.is_cancelled() => return Err(OpsError::Cancelled),
            Err(e) => {
                return Err(OpsError::Other(format!(
                    "{e}\nStaging stopped at `{}`; nothing was added to the workspace",
                    path.display()
                )));
            }
        };
        offset += if *kind == InputKind::MysqldumpGz {
            size
        } else {
            report.digest.bytes
        };
        progress.position(offset);
        writer.add_file(StagedFile {
            path: report.path,
            kind: report.kind.as_str().to_string(),
            bytes: report.digest.bytes,
            sha256: report.digest.sha256,
            encoding: report.encoding,
        });
    }
    progress.message("committing");
    let id = match writer.commit() {
        Ok(id) => id,
        Err(StoreError::Cancelled) => return Err(OpsError::Cancelled),
        Err(e) => return Err(e.into()),
    };
    outcome_of(&session.ws, id)
}

/// Reads back what the catalog recorded for snapshot `id`.
pub fn outcome_of(ws: &Workspace, id: u64) -> Result<StageOutcome, OpsError> {
    let info = ws.snapshot(Some(id))?;
    let tables = ws.tables(id)?;
    let files = ws.files(id)?;
    let mut notes = NoteCounts::default();
    for n in ws.notes(id)? {
        match n.kind.as_str() {
            "skipped_object" => notes.skipped_object += 1,
            "transcoded" => notes.transcoded += 1,
            "rejected_row" => notes.rejected_row += 1,
            "invalid_text" => notes.invalid_text += 1,
            "detected" => notes.detected += 1,
            _ => notes.warning += 1,
        }
    }
    notes.rejected_row = notes.rejected_row.max(info.rejected_rows);
    Ok(StageOutcome {
        snapshot: id,
        label: info.label,
        duration_ms: info.duration_ms,
        input_bytes: info.input_bytes,
        rows: info.rows,
        rejected_rows: info.rejected_rows,
        content_sha256: info.content_sha256,
        files,
        tables: tables
            .into_iter()
            .map(|t| TableLine {
                columns: t.columns.len(),
                source: format!("{}:{}", t.source_file, t.source_line),
                name: t.name,
                staged_name: t.staged_name,
                rows: t.rows,
                transcoded_from: t.transcoded_from,
            })
            .collect(),
        notes,
    })
}

/// Forwards everything to the snapshot writer and reports bytes consumed across all inputs.
struct ProgressSink<'a, S: Sink> {
    inner: &'a mut S,
    progress: &'a dyn Progress,
    /// Bytes of the inputs already finished.
    offset: u64,
}

impl<S: Sink> Sink for ProgressSink<'_, S> {
    fn table(&mut self, def: TableDef) -> Result<TableId, SinkError> {
        self.progress.message(&format!("table {}", def.name));
        self.inner.table(def)
    }

    fn row(&mut self, table: TableId, values: Vec<Value>) -> Result<(), SinkError> {
        self.inner.row(table, values)
    }

    fn note(&mut self, note: Note) -> Result<(), SinkError> {
        self.inner.note(note)
    }

    fn progress(&mut self, bytes_consumed: u64) {
        self.progress.position(self.offset + bytes_consumed);
        self.inner.progress(bytes_consumed);
    }
}
