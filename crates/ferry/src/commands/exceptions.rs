//! `ferry exceptions`: what a run could not convert, grouped by reason for review, or every
//! exception record with `--list` (as a table, CSV or JSON).

use crate::commands::Global;
use crate::{format, outln};
use anyhow::Result;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
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

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Record a reviewer's decision on a class of exceptions (mappings/decisions.toml); every
    /// later run and `ferry verify` re-apply it.
    Decide(Box<DecideArgs>),
    /// Write the unmapped-values worksheet (CSV, or .xlsx by extension): every value a
    /// concept-map lookup could not map, with counts and example keys, for a terminologist.
    Worksheet(WorksheetArgs),
    /// Import a filled worksheet: one `map` decision per line with a code, after checking
    /// every line (nothing is written if any is wrong).
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub struct WorksheetArgs {
    /// The file to write (`.xlsx` for a workbook, anything else CSV). It holds source values:
    /// it is written readable by its owner only.
    pub out: std::path::PathBuf,
    /// The run (default: the latest).
    #[arg(long)]
    pub run: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The filled worksheet (CSV or .xlsx).
    pub file: std::path::PathBuf,
    /// The run whose failed lookups the worksheet is checked against (default: the latest).
    #[arg(long)]
    pub run: Option<u64>,
    /// Who decided (default: the OS user running Ferry).
    #[arg(long)]
    pub by: Option<String>,
    /// Why, for every line whose `why` column is empty.
    #[arg(long)]
    pub why: Option<String>,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["exclude", "default", "text", "map"])))]
pub struct DecideArgs {
    /// The module whose exceptions this is about.
    #[arg(long)]
    pub module: String,
    /// Only exceptions of this element, as `ferry exceptions --list` shows it
    /// (`AllergyIntolerance.reaction[0].severity`).
    #[arg(long)]
    pub element: Option<String>,
    /// Only exceptions with exactly this raw source value.
    #[arg(long)]
    pub value: Option<String>,
    /// Only exceptions whose reason contains this text.
    #[arg(long)]
    pub reason: Option<String>,
    /// Exclude the rows (rule `decision:ID`, with `--why` as the reason).
    #[arg(long)]
    pub exclude: bool,
    /// Give the failing element this value instead.
    #[arg(long, value_name = "VALUE")]
    pub default: Option<String>,
    /// Leave the failing element out and carry the raw value as text at this path of the same
    /// resource (e.g. `code.text`).
    #[arg(long, value_name = "PATH")]
    pub text: Option<String>,
    /// Map `--value` to this code in the concept map the lookups failed in.
    #[arg(long, value_name = "CODE")]
    pub map: Option<String>,
    /// With `--map`: the code's display.
    #[arg(long, requires = "map")]
    pub display: Option<String>,
    /// With `--map`: the code's system.
    #[arg(long, requires = "map")]
    pub system: Option<String>,
    /// With `--map`: the concept map (default: the one the covered lookups failed in).
    #[arg(long, requires = "map")]
    pub concept_map: Option<String>,
    /// Why (recorded with the decision, shown in the sign-off).
    #[arg(long)]
    pub why: String,
    /// Who decided (default: the OS user running Ferry).
    #[arg(long)]
    pub by: Option<String>,
    /// The run whose exceptions the decision is checked against (default: the latest).
    #[arg(long)]
    pub run: Option<u64>,
    /// Print the result as JSON.
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
    match args.command {
        Some(Sub::Decide(d)) => return decide(*d, global),
        Some(Sub::Worksheet(w)) => return worksheet(w, global),
        Some(Sub::Import(i)) => return import(i, global),
        None => {}
    }
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
    if !ex.decisions.is_empty() {
        outln!(
            "Reviewer decisions applied in run {} (mappings/decisions.toml):",
            ex.run
        )?;
        for d in &ex.decisions {
            outln!(
                "  {} {} in {}: {}",
                d.decision,
                d.action,
                d.module,
                if d.rows == 0 {
                    "matched no row (stale: review it and remove it if it no longer applies)"
                        .to_string()
                } else {
                    format!("{} rows", format::thousands(d.rows))
                }
            )?;
        }
    }
    if !ex.groups.is_empty() {
        outln!(
            "Decide a class of them: ferry exceptions decide --module MODULE --element ELEMENT --value VALUE --exclude|--default V|--text PATH|--map CODE --why TEXT"
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

fn worksheet(w: WorksheetArgs, global: &Global) -> Result<u8> {
    let session = global.reader()?;
    let done = ferry_ops::decisions::worksheet(&session, w.run, &w.out)?;
    if !global.quiet {
        outln!(
            "Wrote {}: {} unmapped values ({} source rows) of run {}. Fill in `code` (and `display`, `system`, `why`), then: ferry exceptions import {}",
            done.file,
            format::thousands(done.values as u64),
            format::thousands(done.rows),
            done.run,
            done.file
        )?;
    }
    Ok(crate::exit::OK)
}

fn import(i: ImportArgs, global: &Global) -> Result<u8> {
    let session = global.writer("exceptions import", false)?;
    let done = ferry_ops::decisions::import_worksheet(&session, &i.file, i.run, i.by, i.why)?;
    if !global.quiet {
        outln!(
            "Imported {}: {} map decisions written to mappings/decisions.toml ({}), {} lines without a code left undecided. The next `ferry run` applies them",
            done.file,
            done.decisions.len(),
            if done.decisions.is_empty() {
                "none".to_string()
            } else {
                done.decisions.join(", ")
            },
            done.skipped
        )?;
    }
    Ok(crate::exit::OK)
}

fn decide(d: DecideArgs, global: &Global) -> Result<u8> {
    let session = global.writer("exceptions decide", false)?;
    let json = d.json;
    let action = if d.exclude {
        ferry_ops::decisions::DecideAction::Exclude
    } else if let Some(v) = d.default {
        ferry_ops::decisions::DecideAction::Default(v)
    } else if let Some(p) = d.text {
        ferry_ops::decisions::DecideAction::Text(p)
    } else {
        ferry_ops::decisions::DecideAction::Map {
            code: d.map.unwrap_or_default(),
            display: d.display,
            system: d.system,
            concept_map: d.concept_map,
        }
    };
    let req = ferry_ops::decisions::DecideRequest {
        run: d.run,
        module: d.module,
        element: d.element,
        value: d.value,
        reason: d.reason,
        action,
        by: d.by,
        why: d.why,
    };
    let done = ferry_ops::decisions::decide(&session, &req)?;
    if json {
        crate::out::json("decision", &done)?;
    } else if !global.quiet {
        outln!(
            "Decision {} ({} in module `{}`) written to {}: it covers {} exception records of {} rows in run {}. The next `ferry run` applies it",
            done.id,
            done.action,
            done.module,
            done.file,
            format::thousands(done.records),
            format::thousands(done.rows),
            done.run
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
