//! `ferry stage PATH...`: acquire a snapshot into the workspace, losslessly and atomically.

use crate::commands::Global;
use crate::{format, outln};
use anyhow::Result;
use ferry_ops::stage::{StageOutcome, StageRequest};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Snapshot inputs: mysqldump `.sql`/`.sql.gz` files, delimited files (`.csv`, `.tsv`,
    /// `.txt`, `.psv`), workbooks (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`; one table per
    /// sheet), folders of them, SQLite files.
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
    /// Delimited files and workbook sheets have no header row (columns are named c1, c2, ...).
    #[arg(long, conflicts_with = "header_row")]
    pub no_header: bool,
    /// Workbooks: the row (from 1) of every sheet that holds the column names; rows above it
    /// are left out. Default: the first non-empty row when its cells are distinct text.
    #[arg(long, value_name = "ROW", value_parser = clap::value_parser!(u32).range(1..))]
    pub header_row: Option<u32>,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let mut session = global.writer("stage", true)?;
    let req = StageRequest {
        paths: args.paths.clone(),
        label: args.label.clone(),
        encoding: args.encoding.clone(),
        delimiter: args.delimiter.clone(),
        no_header: args.no_header,
        header_row: args.header_row,
        cancel: global.cancel.clone(),
    };
    let bar = global.bar(args.json);
    let outcome = ferry_ops::stage::stage(&mut session, &req, &bar)?;
    bar.finish();
    if args.json {
        crate::out::json("stage", &outcome)?;
    } else if !global.quiet {
        print_summary(&outcome)?;
    }
    Ok(crate::exit::OK)
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

pub fn print_summary(o: &StageOutcome) -> Result<()> {
    let secs = (o.duration_ms as f64 / 1000.0).max(0.001);
    outln!(
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
    )?;
    const FILES_LISTED: usize = 3;
    for f in o.files.iter().take(FILES_LISTED) {
        outln!("  file {}", file_line(f))?;
    }
    if o.files.len() > FILES_LISTED {
        outln!(
            "  ... and {} more files (every file's sha256: ferry snapshots {})",
            o.files.len() - FILES_LISTED,
            o.snapshot
        )?;
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
        outln!("  {}", line.trim_end())?;
    }
    let n = &o.notes;
    outln!(
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
    )?;
    Ok(())
}
