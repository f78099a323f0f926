//! `ferry sql "SELECT ..."`: read-only queries over a staged snapshot.
//!
//! Everything is written through one `std::io::Write` and every write error is returned, so a
//! closed pipe (`| head`) ends the command as an `io::Error` of kind `BrokenPipe` (a clean exit,
//! see `main.rs`).

use crate::commands::{Cancelled, Global};
use anyhow::{Context, Result};
use ferry_store::{QueryValue, SnapshotReader};
use std::collections::HashSet;
use std::io::{self, Write};
use std::time::Duration;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// An aligned table for people (first 1,000 rows).
    Table,
    /// RFC 4180 CSV with a header row (NULL is an empty field; bytes are 0x-hex).
    Csv,
    /// A JSON object: format_version, snapshot, columns and rows, each row an object with its
    /// keys in SELECT order (NULL is null; bytes are 0x-hex strings).
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One read-only SQL statement, a SELECT (or WITH ... SELECT), in SQLite's dialect. Staged
    /// values are text, bytes or NULL exactly as the snapshot held them: use
    /// CAST(col AS INTEGER) to compare numbers.
    pub query: String,
    /// Snapshot to query (default: the latest).
    #[arg(long)]
    pub snapshot: Option<u64>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Stop the query once it has computed this long (0: no limit). Time spent waiting for
    /// the output to be taken (a slow pipe) does not count.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
}

const TABLE_ROWS: usize = 1000;

/// The version of the `--format json` object; raised when its shape changes.
const JSON_FORMAT_VERSION: u32 = 1;

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let session = global.reader()?;
    let reader = session.ws.open_snapshot(args.snapshot)?;
    if !global.quiet {
        // A heuristic (a token scanner, ferry-store's `textcmp`): a query that fails to prepare
        // gets no warning here and its own error below.
        for col in reader
            .numeric_comparisons_of_text(&args.query)
            .unwrap_or_default()
        {
            eprintln!("{}", text_warning(&col));
        }
    }
    // The query polls the Ctrl-C token.
    crate::commands::polls_cancel();
    let cancel = global.cancel.clone();
    let query = Query {
        reader: &reader,
        sql: &args.query,
        timeout: (args.timeout > 0).then(|| Duration::from_secs(args.timeout)),
        cancel: &cancel,
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match write_result(&query, args.format, &mut out) {
        Err(_) if cancel.is_cancelled() => return Err(Cancelled.into()),
        other => other?,
    }
    out.flush().context("cannot write the result")?;
    Ok(crate::exit::OK)
}

/// The warning for a staged column compared with a numeric literal (names only, no values).
fn text_warning(col: &str) -> String {
    format!(
        "warning: `{col}` is compared with a number, but staged values are text: SQLite never finds text equal to a number (`'3'` is not `3`) and sorts every text after every number. Quote the number (`{col} = '3'`, `{col} IN ('3', '9')`) or convert the column (`CAST({col} AS INTEGER) = 3`)"
    )
}

/// Takes one row (column names, values); `Ok(false)` stops the query.
type OnRow<'a> = dyn FnMut(&[String], &[QueryValue]) -> io::Result<bool> + 'a;

/// One query to run, with its limits.
struct Query<'a> {
    reader: &'a SnapshotReader,
    sql: &'a str,
    timeout: Option<Duration>,
    cancel: &'a ferry_core::Cancel,
}

impl Query<'_> {
    /// Streams the rows to `on_row` (`Ok(false)` stops). A write error stops the query and is
    /// returned as the `io::Error` it was, so a broken pipe stays recognisable.
    fn stream(&self, on_row: &mut OnRow<'_>) -> Result<Vec<String>> {
        let mut failed: Option<io::Error> = None;
        let (names, _) = self.reader.query_limited(
            self.sql,
            self.timeout,
            Some(self.cancel),
            &mut |names, row| match on_row(names, row) {
                Ok(more) => more,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            },
        )?;
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(names),
        }
    }
}

fn write_result(query: &Query<'_>, format: Format, out: &mut dyn Write) -> Result<()> {
    match format {
        Format::Table => write_table(query, out),
        Format::Csv => write_csv(query, out),
        Format::Json => write_json(query, out),
    }
}

fn write_table(query: &Query<'_>, out: &mut dyn Write) -> Result<()> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut more = false;
    let names = query.stream(&mut |_, row| {
        if rows.len() == TABLE_ROWS {
            more = true;
            return Ok(false);
        }
        rows.push(row.iter().map(|v| v.to_string()).collect());
        Ok(true)
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
        writeln!(out, "({} rows, snapshot {})", rows.len(), query.reader.id())?;
    }
    Ok(())
}

fn write_csv(query: &Query<'_>, out: &mut dyn Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut header_written = false;
    let names = query.stream(&mut |cols, row| {
        if !header_written {
            header_written = true;
            w.write_record(cols).map_err(csv_error)?;
        }
        w.write_record(row.iter().map(|v| match v {
            QueryValue::Null => String::new(),
            other => other.to_string(),
        }))
        .map_err(csv_error)?;
        Ok(true)
    })?;
    if !header_written {
        w.write_record(&names).map_err(csv_error)?;
    }
    w.flush()?;
    Ok(())
}

/// `{"format_version": 1, "snapshot": N, "columns": [...], "rows": [{...}, ...]}`, one row per
/// line, written as the rows come (nothing is collected). Each row object has its keys in the
/// SELECT's column order; `columns` lists the same keys in that order. A column name seen
/// before gets `:2`, `:3`, ... (the first free one), so `SELECT 1 AS a, 2 AS a` gives
/// `{"a": 1, "a:2": 2}` and no value is lost.
fn write_json(query: &Query<'_>, out: &mut dyn Write) -> Result<()> {
    let mut keys: Option<Vec<String>> = None;
    let snapshot = query.reader.id();
    let names = query.stream(&mut |names, row| {
        let keys = match &keys {
            Some(k) => {
                out.write_all(b",\n")?;
                k
            }
            None => {
                let k = keys.insert(json_keys(names));
                write_json_head(out, snapshot, k)?;
                out.write_all(b"\n")?;
                k
            }
        };
        write_json_row(out, keys, row)?;
        Ok(true)
    })?;
    if keys.is_none() {
        write_json_head(out, snapshot, &json_keys(&names))?;
    }
    out.write_all(b"\n]}\n")?;
    Ok(())
}

/// The row objects' keys: the column names, a repeated one suffixed `:N` (the first free N from 2).
fn json_keys(names: &[String]) -> Vec<String> {
    let mut taken: HashSet<String> = names.iter().cloned().collect();
    let mut seen: HashSet<&str> = HashSet::new();
    names
        .iter()
        .map(|name| {
            if seen.insert(name) {
                return name.clone();
            }
            (2u64..)
                .map(|n| format!("{name}:{n}"))
                .find(|k| taken.insert(k.clone()))
                .unwrap_or_else(|| name.clone())
        })
        .collect()
}

fn write_json_head(out: &mut dyn Write, snapshot: u64, keys: &[String]) -> io::Result<()> {
    write!(
        out,
        "{{\"format_version\":{JSON_FORMAT_VERSION},\"snapshot\":{snapshot},\"columns\":"
    )?;
    serde_json::to_writer(&mut *out, keys)?;
    out.write_all(b",\"rows\":[")
}

fn write_json_row(out: &mut dyn Write, keys: &[String], row: &[QueryValue]) -> io::Result<()> {
    out.write_all(b"{")?;
    for (i, (key, value)) in keys.iter().zip(row).enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, key)?;
        out.write_all(b":")?;
        match value {
            QueryValue::Null => out.write_all(b"null")?,
            QueryValue::Integer(i) => write!(out, "{i}")?,
            QueryValue::Real(r) if r.is_finite() => serde_json::to_writer(&mut *out, r)?,
            // JSON has no infinity: as text, as before.
            QueryValue::Real(r) => serde_json::to_writer(&mut *out, &r.to_string())?,
            QueryValue::Text(s) => serde_json::to_writer(&mut *out, s)?,
            QueryValue::Bytes(_) => serde_json::to_writer(&mut *out, &value.to_string())?,
        }
    }
    out.write_all(b"}")
}

/// A CSV write error as the `io::Error` it was (a broken pipe stays one).
fn csv_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => io::Error::other(format!("cannot write CSV: {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> Vec<String> {
        json_keys(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn the_text_warning_names_the_column_and_both_fixes() {
        let w = text_warning("res_id");
        assert!(
            w.starts_with("warning: `res_id` is compared with a number"),
            "{w}"
        );
        assert!(
            w.contains("`res_id IN ('3', '9')`") && w.contains("`CAST(res_id AS INTEGER) = 3`")
        );
    }

    #[test]
    fn repeated_column_names_get_the_first_free_suffix() {
        assert_eq!(keys(&["c", "a", "b"]), ["c", "a", "b"]);
        assert_eq!(keys(&["a", "a", "a"]), ["a", "a:2", "a:3"]);
        // A column really named `a:2` keeps its name; the repeated `a` takes the next one.
        assert_eq!(keys(&["a", "a:2", "a"]), ["a", "a:2", "a:3"]);
        assert_eq!(keys(&["a", "a", "a:2"]), ["a", "a:3", "a:2"]);
    }

    #[test]
    fn rows_keep_key_order_and_value_kinds() {
        let mut out = Vec::new();
        write_json_row(
            &mut out,
            &keys(&["z", "a", "m", "b", "r", "inf"]),
            &[
                QueryValue::Text("x\"y".into()),
                QueryValue::Null,
                QueryValue::Integer(-3),
                QueryValue::Bytes(vec![0, 255]),
                QueryValue::Real(1.5),
                QueryValue::Real(f64::INFINITY),
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"z":"x\"y","a":null,"m":-3,"b":"0x00FF","r":1.5,"inf":"inf"}"#
        );
    }

    /// A closed pipe must reach `main` as `BrokenPipe`, through serde_json's writer too.
    #[test]
    fn write_errors_keep_their_kind() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = write_json_row(&mut Closed, &keys(&["a"]), &[QueryValue::Null]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        let err = write_json_head(&mut Closed, 1, &keys(&["a"])).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        let err = csv_error(csv::Error::from(io::Error::from(io::ErrorKind::BrokenPipe)));
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
