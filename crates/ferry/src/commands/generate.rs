//! `ferry generate OUT`: a synthetic legacy clinic (mysqldump, CSV exports, ground-truth manifest).

use crate::commands::Global;
use crate::{format, outln};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder (created; must be empty or absent).
    pub out: PathBuf,
    /// Number of patients (100 for tests, up to 1,000,000 for benchmarks).
    #[arg(long, default_value_t = 1000)]
    pub patients: u64,
    /// Seed: the same seed and patient count give byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write only the mysqldump file.
    #[arg(long, conflicts_with = "csv_only")]
    pub sql_only: bool,
    /// Write only the CSV exports.
    #[arg(long)]
    pub csv_only: bool,
    /// Also write the clinic as an Excel workbook, `clinic.xlsx`: one worksheet per table,
    /// holding the values of the CSV export (up to 1,048,575 rows per table).
    #[arg(long, conflicts_with = "days_later")]
    pub xlsx: bool,
    /// Gzip the dump (`clinic.sql.gz`).
    #[arg(long)]
    pub gzip: bool,
    /// Generate the same clinic DAYS days later (the same --patients and --seed): unchanged rows
    /// byte-identical, plus new patients and rows, edited and deleted rows, listed by key in
    /// `changes.json`.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=i64::from(ferry_gen::MAX_DAYS_LATER)))]
    pub days_later: Option<u32>,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let (manifest, changes) = run(&args, !global.quiet)?;
    if let (Some(days), Some(c)) = (args.days_later, changes)
        && !global.quiet
    {
        outln!(
            "Generated the clinic of {} patients (seed {}) {days} days later in {}: {} rows, of which {} new and {} changed, and {} deleted; changes.json lists every key",
            format::thousands(args.patients),
            args.seed,
            args.out.display(),
            format::thousands(c.rows),
            format::thousands(c.new),
            format::thousands(c.changed),
            format::thousands(c.deleted),
        )?;
    } else if !global.quiet {
        let rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();
        outln!(
            "Generated a legacy clinic of {} patients (seed {}) in {}: {} rows in {} tables; manifest.json records every seeded defect",
            format::thousands(args.patients),
            args.seed,
            args.out.display(),
            format::thousands(rows),
            manifest.tables.len()
        )?;
    }
    Ok(crate::exit::OK)
}

/// Generates into `args.out`, with a progress spinner on a terminal; with `--days-later`, the
/// evolved snapshot and its change summary.
pub fn run(
    args: &Args,
    show_progress: bool,
) -> Result<(ferry_gen::Manifest, Option<ferry_gen::ChangeSummary>)> {
    if args.patients == 0 {
        bail!("--patients must be at least 1");
    }
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .with_context(|| format!("cannot read `{}`", args.out.display()))?
            .next()
            .is_some()
    {
        bail!(
            "`{}` is not empty. Choose a new folder so that generated files are never mixed with others",
            args.out.display()
        );
    }
    let bar = if show_progress && std::io::stderr().is_terminal() {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bytes} written ({bytes_per_sec}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let cfg = ferry_gen::GenConfig {
        patients: args.patients,
        seed: args.seed,
        out_dir: args.out.clone(),
        sql: !args.csv_only,
        csv: !args.sql_only,
        gzip: args.gzip,
    };
    let mut on_event = |event: ferry_gen::GenEvent<'_>| match event {
        ferry_gen::GenEvent::Table { name, rows } => {
            bar.set_message(format!("{name}: {} rows", format::thousands(rows)))
        }
        ferry_gen::GenEvent::Bytes(n) => bar.set_position(n),
    };
    let res = match args.days_later {
        None => {
            let outputs = ferry_gen::Outputs { xlsx: args.xlsx };
            ferry_gen::generate_with(&cfg, outputs, &mut on_event).map(|m| (m, None))
        }
        Some(days) => {
            ferry_gen::evolve(&cfg, &ferry_gen::Evolution::days_later(days), &mut on_event)
                .map(|(m, c)| (m, Some(c)))
        }
    };
    let res =
        res.with_context(|| format!("cannot generate the clinic into `{}`", args.out.display()))?;
    bar.finish_and_clear();
    Ok(res)
}
