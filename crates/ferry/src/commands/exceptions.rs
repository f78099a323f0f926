//! `ferry exceptions`: what a run could not convert, grouped by reason for review, or every
//! exception record with `--list` (as a table, CSV or JSON).

use crate::commands::Global;
use crate::{format, outln};
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run (default: the latest).
    #[arg(long)]
    pub run: Option<u64>,
    /// Only this module.
    #[arg(long)]
    pub module: Option<String>,
    /// Show the raw values, and the keys of modules keyed by a PHI column (they are PHI; off by
    /// default).
    #[arg(long)]
    pub show_values: bool,
    /// Every exception record (module, key, resource, element, reason; the raw value with
    /// `--show-values`) instead of the summary by reason.
    #[arg(long)]
    pub list: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The same as `--format json`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let session = global.reader()?;
    let format = if args.json { Format::Json } else { args.format };
    if args.list {
        return list(&session, &args, format);
    }
    let ex = ferry_ops::ledger::exceptions(
        &session,
        args.run,
        args.module.as_deref(),
        args.show_values,
    )?;
    match format {
        Format::Json => {
            crate::out::json("exceptions", &ex)?;
            return Ok(crate::exit::OK);
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record(["module", "reason", "rows", "records", "first_keys"])
                .map_err(io_of)?;
            for g in &ex.groups {
                w.write_record([
                    g.module.as_str(),
                    g.reason.as_str(),
                    &g.rows.to_string(),
                    &g.count.to_string(),
                    &g.keys.join(" "),
                ])
                .map_err(io_of)?;
            }
            w.flush()?;
            return Ok(crate::exit::OK);
        }
        Format::Table => {}
    }
    if global.quiet {
        return Ok(crate::exit::OK);
    }
    outln!(
        "Run {}: {} source rows with exceptions (the books' count), as {} exception records in {} groups (a row can fail several fields)",
        ex.run,
        format::thousands(ex.rows),
        format::thousands(ex.records),
        ex.groups.len()
    )?;
    for g in &ex.groups {
        outln!(
            "  {} x {}: {}{}",
            format::thousands(g.rows),
            g.module,
            g.reason,
            if g.count == g.rows {
                String::new()
            } else {
                format!(" ({} records)", format::thousands(g.count))
            }
        )?;
        outln!("      keys: {}", g.keys.join(", "))?;
        if !g.raw_values.is_empty() {
            outln!("      values: {}", g.raw_values.join(" | "))?;
        }
    }
    if !ex.groups.is_empty() {
        outln!(
            "Every record: ferry exceptions --list (--format csv for a spreadsheet; --show-values adds the raw values)"
        )?;
    }
    for w in &ex.withheld_keys {
        outln!(
            "  Keys of `{}` are withheld: its key column `{}` holds PHI ({:?}). `--show-values` shows them",
            w.module,
            w.column,
            w.kind
        )?;
    }
    Ok(crate::exit::OK)
}

/// A CSV writer's error as the I/O error it usually is (so a closed pipe ends cleanly).
fn io_of(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

enum Sink<W: std::io::Write> {
    Csv(Box<csv::Writer<W>>),
    Plain(W),
}

impl<W: std::io::Write> Sink<W> {
    fn row(&mut self, fields: &[&str]) -> std::io::Result<()> {
        match self {
            Sink::Csv(w) => w.write_record(fields).map_err(io_of),
            Sink::Plain(w) => {
                let clean: Vec<String> = fields
                    .iter()
                    .map(|f| f.replace(['\t', '\n', '\r'], " "))
                    .collect();
                writeln!(w, "{}", clean.join("\t"))
            }
        }
    }

    fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Csv(w) => w.flush(),
            Sink::Plain(w) => w.write_all(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Csv(w) => w.flush(),
            Sink::Plain(w) => w.flush(),
        }
    }
}

/// `--list`: every record, streamed (table: tab-separated with a header; CSV; JSON).
fn list(session: &ferry_ops::Session, args: &Args, format: Format) -> Result<u8> {
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut sink = if format == Format::Csv {
        Sink::Csv(Box::new(csv::Writer::from_writer(out)))
    } else {
        Sink::Plain(out)
    };
    let mut header = vec!["module", "key", "resource", "element", "reason"];
    if args.show_values {
        header.push("raw_value");
    }
    let mut failed: Option<std::io::Error> = None;
    // The header goes out with the first record (or at the end when there is none), so that an
    // error (an unknown run or module) comes before any output.
    let start = |sink: &mut Sink<_>| match format {
        Format::Json => sink.raw(b"{\"exceptions\":["),
        _ => sink.row(&header),
    };
    let mut n = 0u64;
    let result = ferry_ops::ledger::exception_records(
        session,
        args.run,
        args.module.as_deref(),
        args.show_values,
        &mut |r| {
            let element = match (r.resource_type.as_deref(), r.path.as_deref()) {
                (Some(t), Some(p)) if !t.is_empty() => format!("{t}.{p}"),
                (_, Some(p)) => p.to_string(),
                (Some(t), None) => t.to_string(),
                (None, None) => String::new(),
            };
            let started = if n == 0 { start(&mut sink) } else { Ok(()) };
            let written = started.and_then(|()| {
                if format == Format::Json {
                    let mut bytes = Vec::with_capacity(256);
                    bytes.extend_from_slice(if n == 0 { b"\n" } else { b",\n" });
                    serde_json::to_writer(&mut bytes, &r)
                        .map_err(std::io::Error::other)
                        .and_then(|()| sink.raw(&bytes))
                } else {
                    let mut row = vec![
                        r.module.as_str(),
                        r.source_key.as_str(),
                        r.resource_type.as_deref().unwrap_or(""),
                        element.as_str(),
                        r.reason.as_str(),
                    ];
                    if args.show_values {
                        row.push(r.raw_value.as_deref().unwrap_or(""));
                    }
                    sink.row(&row)
                }
            });
            n += 1;
            written.map_err(|e| {
                failed.get_or_insert(e);
                ferry_ops::OpsError::Cancelled // stop: the output is closed
            })
        },
    );
    if let Some(e) = failed {
        return Err(e.into());
    }
    let (run, withheld) = result?;
    if n == 0 {
        start(&mut sink)?;
    }
    if format == Format::Json {
        let tail = format!(
            "\n],\"run\":{run},\"records\":{n},\"withheld_keys\":{}}}\n",
            serde_json::to_string(&withheld)?
        );
        sink.raw(tail.as_bytes())?;
    }
    sink.flush()?;
    for w in &withheld {
        eprintln!(
            "Keys of `{}` are withheld: its key column `{}` holds PHI ({:?}). `--show-values` shows them",
            w.module, w.column, w.kind
        );
    }
    Ok(crate::exit::OK)
}
