//! `ferry stage PATH...`: acquire a snapshot into the workspace, losslessly and atomically.

use crate::commands::{Cancelled, Global};
use crate::format;
use crate::progress::{ProgressSink, byte_bar};
use crate::project::Project;
use anyhow::{Result, bail};
use ferry_source::{InputKind, ReadOptions, delimited::DelimitedOptions};
use ferry_store::{StagedFile, StoreError, Workspace};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Snapshot inputs: mysqldump `.sql`/`.sql.gz` files, delimited files (`.csv`, `.tsv`,
    /// `.txt`, `.psv`), folders of them, SQLite files.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A label for this snapshot (e.g. `rehearsal-1`, `go-live`).
    #[arg(long)]
    pub label: Option<String>,
    /// Print a JSON summary on stdout (for scripts) instead of the human one.
    #[arg(long)]
    pub json: bool,
    /// Encoding of delimited files (a WHATWG label such as `windows-1252`); default: detect.
    #[arg(long, value_name = "LABEL")]
    pub encoding: Option<String>,
    /// Delimiter of delimited files (one character, `\t` for tab); default: sniff.
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// Delimited files have no header row (columns are named c1, c2, ...).
    #[arg(long)]
    pub no_header: bool,
}

/// What one staging produced, for the summary and for `ferry demo`.
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

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let project = Project::discover(global.project.as_deref())?;
    let mut ws = project.open_workspace()?;
    let options = read_options(&args, &project)?;
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = Arc::clone(&cancel);
        // Best effort: a second handler cannot be installed in one process (tests call twice).
        let _ = ctrlc::set_handler(move || {
            if cancel.swap(true, Ordering::SeqCst) {
                // Second Ctrl-C: leave now; the temporary file is swept next time.
                std::process::exit(crate::exit::CANCELLED.into());
            }
        });
    }
    let show_progress = !global.quiet && !args.json;
    let outcome = stage_paths(
        &mut ws,
        &args.paths,
        args.label.clone(),
        &options,
        show_progress,
        &cancel,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else if !global.quiet {
        print_summary(&outcome);
    }
    Ok(crate::exit::OK)
}

fn read_options(args: &Args, project: &Project) -> Result<ReadOptions> {
    let encoding = args
        .encoding
        .clone()
        .or_else(|| project.config.stage.csv_encoding.clone());
    if let Some(label) = &encoding
        && encoding_rs::Encoding::for_label(label.as_bytes()).is_none()
    {
        bail!(
            "unknown encoding `{label}`. Use a WHATWG label such as `utf-8`, `windows-1252`, `iso-8859-1`, `utf-16le`"
        );
    }
    let delimiter = match args
        .delimiter
        .clone()
        .or_else(|| project.config.stage.csv_delimiter.clone())
    {
        None => None,
        Some(d) => {
            let d = if d == "\\t" { "\t".to_string() } else { d };
            match d.as_bytes() {
                [b] if b.is_ascii() => Some(*b),
                _ => bail!(
                    "the delimiter must be one ASCII character (e.g. `,`, `|`, `;`, `\\t`), not `{d}`"
                ),
            }
        }
    };
    Ok(ReadOptions {
        delimited: DelimitedOptions {
            delimiter,
            encoding,
            has_header: if args.no_header { Some(false) } else { None },
            ..Default::default()
        },
    })
}

/// Stages `paths` as one new snapshot. On any error nothing is added to the workspace.
pub fn stage_paths(
    ws: &mut Workspace,
    paths: &[PathBuf],
    label: Option<String>,
    options: &ReadOptions,
    show_progress: bool,
    cancel: &Arc<AtomicBool>,
) -> Result<StageOutcome> {
    let inputs = ferry_source::expand_inputs(paths)?;
    let total: u64 = inputs
        .iter()
        .map(|(p, _)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = byte_bar(total, show_progress);
    let mut writer = ws.begin_snapshot(label)?;
    writer.use_cancel_flag(Arc::clone(cancel));
    let mut offset = 0u64;
    for (path, kind) in &inputs {
        if cancel.load(Ordering::SeqCst) {
            return Err(Cancelled.into());
        }
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let result = {
            let mut sink = ProgressSink::new(&mut writer, &bar, offset);
            ferry_source::read_file(path, *kind, options, &mut sink)
        };
        let report = match result {
            Ok(report) => report,
            Err(_) if cancel.load(Ordering::SeqCst) => {
                bar.finish_and_clear();
                return Err(Cancelled.into());
            }
            Err(e) => {
                bar.finish_and_clear();
                return Err(anyhow::Error::new(e).context(format!(
                    "staging stopped at `{}`; nothing was added to the workspace",
                    path.display()
                )));
            }
        };
        offset += if *kind == InputKind::MysqldumpGz {
            size
        } else {
            report.digest.bytes
        };
        bar.set_position(offset);
        writer.add_file(StagedFile {
            path: report.path,
            kind: report.kind.as_str().to_string(),
            bytes: report.digest.bytes,
            sha256: report.digest.sha256,
            encoding: report.encoding,
        });
    }
    bar.set_message("committing");
    let id = match writer.commit() {
        Ok(id) => id,
        Err(StoreError::Cancelled) => {
            bar.finish_and_clear();
            return Err(Cancelled.into());
        }
        Err(e) => {
            bar.finish_and_clear();
            return Err(anyhow::Error::new(e).context("could not record the snapshot"));
        }
    };
    bar.finish_and_clear();
    outcome_of(ws, id)
}

/// Reads back what the catalog recorded for snapshot `id`.
pub fn outcome_of(ws: &Workspace, id: u64) -> Result<StageOutcome> {
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

/// One input file for people: `path (kind, size, encoding) sha256 ...`.
pub fn file_line(f: &ferry_store::FileRecord) -> String {
    format!(
        "{} ({}, {}, {}) sha256 {}",
        f.path,
        f.kind,
        format::bytes(f.bytes),
        f.encoding.as_deref().unwrap_or("binary"),
        f.sha256
    )
}

pub fn print_summary(o: &StageOutcome) {
    let secs = (o.duration_ms as f64 / 1000.0).max(0.001);
    println!(
        "Staged snapshot {}{} in {}: {} tables, {} rows, {} read ({}/s)",
        o.snapshot,
        o.label
            .as_ref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default(),
        format::seconds(o.duration_ms),
        o.tables.len(),
        format::thousands(o.rows),
        format::bytes(o.input_bytes),
        format::bytes((o.input_bytes as f64 / secs) as u64),
    );
    const FILES_LISTED: usize = 3;
    for f in o.files.iter().take(FILES_LISTED) {
        println!("  file {}", file_line(f));
    }
    if o.files.len() > FILES_LISTED {
        println!(
            "  ... and {} more files (every file's sha256: ferry snapshots {})",
            o.files.len() - FILES_LISTED,
            o.snapshot
        );
    }
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING);
    table.set_header(["table", "rows", "columns", "from"]);
    for t in &o.tables {
        let name = if t.name == t.staged_name {
            t.name.clone()
        } else {
            format!("{} (as {})", t.name, t.staged_name)
        };
        let from = match &t.transcoded_from {
            Some(enc) => format!("{} [transcoded from {enc}]", t.source),
            None => t.source.clone(),
        };
        table.add_row([name, format::thousands(t.rows), t.columns.to_string(), from]);
    }
    for line in table.to_string().lines() {
        println!("  {}", line.trim_end());
    }
    let n = &o.notes;
    println!(
        "  notes: {} skipped objects, {} transcoded, {} invalid-text columns, {} rejected rows, {} warnings{}",
        n.skipped_object,
        n.transcoded,
        n.invalid_text,
        o.rejected_rows,
        n.warning,
        if n.skipped_object + n.transcoded + n.invalid_text + o.rejected_rows + n.warning > 0 {
            format!(" (details: ferry snapshots {})", o.snapshot)
        } else {
            String::new()
        }
    );
}
