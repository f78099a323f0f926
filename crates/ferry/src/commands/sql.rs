//! `ferry sql "SELECT ..."`: read-only queries over a staged snapshot.

use crate::commands::Global;
use anyhow::{Context, Result};
use ferry_ops::Project;
use ferry_store::QueryValue;
use std::io::Write;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// An aligned table for people (first 1,000 rows).
    Table,
    /// RFC 4180 CSV with a header row (NULL is an empty field; bytes are 0x-hex).
    Csv,
    /// A JSON array of objects (NULL is null; bytes are 0x-hex strings).
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One SQL statement (SQLite dialect). Staged values are text, bytes or NULL exactly as the
    /// snapshot held them: use CAST(col AS INTEGER) to compare numbers.
    pub query: String,
    /// Snapshot to query (default: the latest).
    #[arg(long)]
    pub snapshot: Option<u64>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

const TABLE_ROWS: usize = 1000;

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let project = Project::discover(global.project.as_deref())?;
    let ws = project.open_workspace()?;
    let reader = ws.open_snapshot(args.snapshot)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Table => {
            let mut rows: Vec<Vec<String>> = Vec::new();
            let mut more = false;
            let (names, _) = reader.query(&args.query, &mut |_, row| {
                if rows.len() == TABLE_ROWS {
                    more = true;
                    return false;
                }
                rows.push(row.iter().map(|v| v.to_string()).collect());
                true
            })?;
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.set_header(names);
            for r in &rows {
                t.add_row(r);
            }
            writeln!(out, "{t}")?;
            if more {
                writeln!(
                    out,
                    "(first {TABLE_ROWS} rows shown; use --format csv or json for all, or add LIMIT)"
                )?;
            } else {
                writeln!(out, "({} rows, snapshot {})", rows.len(), reader.id())?;
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut out);
            let mut err: Option<csv::Error> = None;
            let mut header_written = false;
            let (names, _) = reader.query(&args.query, &mut |cols, row| {
                let rec = row.iter().map(|v| match v {
                    QueryValue::Null => String::new(),
                    other => other.to_string(),
                });
                let result = if header_written {
                    w.write_record(rec)
                } else {
                    header_written = true;
                    w.write_record(cols).and_then(|_| w.write_record(rec))
                };
                match result {
                    Ok(()) => true,
                    Err(e) => {
                        err = Some(e);
                        false
                    }
                }
            })?;
            if let Some(e) = err {
                return Err(csv_error(e));
            }
            if !header_written {
                w.write_record(&names).map_err(csv_error)?;
            }
            w.flush()?;
        }
        Format::Json => {
            let mut first = true;
            let mut io_err: Option<std::io::Error> = None;
            out.write_all(b"[")?;
            reader.query(&args.query, &mut |names, row| {
                let mut obj = serde_json::Map::with_capacity(names.len());
                for (k, v) in names.iter().zip(row) {
                    obj.insert(k.clone(), json_value(v));
                }
                let sep: &[u8] = if first { b"\n" } else { b",\n" };
                first = false;
                let line = serde_json::Value::Object(obj).to_string();
                match out
                    .write_all(sep)
                    .and_then(|_| out.write_all(line.as_bytes()))
                {
                    Ok(()) => true,
                    Err(e) => {
                        io_err = Some(e);
                        false
                    }
                }
            })?;
            if let Some(e) = io_err {
                return Err(e.into());
            }
            out.write_all(b"\n]\n")?;
        }
    }
    out.flush().context("cannot write the result")?;
    Ok(crate::exit::OK)
}

fn json_value(v: &QueryValue) -> serde_json::Value {
    match v {
        QueryValue::Null => serde_json::Value::Null,
        QueryValue::Integer(i) => (*i).into(),
        QueryValue::Real(r) => serde_json::Number::from_f64(*r)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| serde_json::Value::String(r.to_string())),
        QueryValue::Text(s) => serde_json::Value::String(s.clone()),
        QueryValue::Bytes(_) => serde_json::Value::String(v.to_string()),
    }
}

fn csv_error(e: csv::Error) -> anyhow::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io.into(),
        other => anyhow::anyhow!("cannot write CSV: {other:?}"),
    }
}
