//! `ferry profile`: every table and column of a snapshot, with statistics, formats, PHI labels,
//! keys and foreign keys; writes the migration map (.xlsx), an offline HTML report and JSON.

use crate::commands::Global;
use crate::format;
use crate::project::Project;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Snapshot to profile (default: the latest).
    #[arg(long)]
    pub snapshot: Option<u64>,
    /// Leave out sample and top values (and min/max of PHI columns), so the map can leave the building.
    #[arg(long)]
    pub no_samples: bool,
    /// Never show a value seen fewer times than this (small-cell suppression; 0 disables).
    #[arg(long, default_value_t = 5, value_name = "K")]
    pub min_count: u64,
    /// Only these tables (comma-separated staged names).
    #[arg(long, value_delimiter = ',', value_name = "TABLES")]
    pub tables: Option<Vec<String>>,
    /// Count distinct values exactly up to this many per column, then estimate with a sketch.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub exact_distinct: u64,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let project = Project::discover(global.project.as_deref())?;
    let ws = project.open_workspace()?;
    let info = ws.snapshot(args.snapshot)?;
    let options = ferry_profile::ProfileOptions {
        samples: !args.no_samples,
        small_count_threshold: args.min_count,
        exact_distinct_limit: args.exact_distinct,
        tables: args.tables.clone(),
        ..Default::default()
    };
    let total_rows = info.rows;
    let bar = if !global.quiet && !args.json && std::io::stderr().is_terminal() {
        let b = ProgressBar::new(total_rows);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} rows ({per_sec}, {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let profile =
        ferry_profile::profile_snapshot(&ws, Some(info.id), &options, &|event| match event {
            ferry_profile::ProfileEvent::TableStarted { table, .. } => {
                bar.set_message(format!("table {table}"))
            }
            ferry_profile::ProfileEvent::Rows(n) => bar.set_position(n),
            ferry_profile::ProfileEvent::TableDone { .. } => {}
        })
        .with_context(|| format!("cannot profile snapshot {}", info.id))?;
    bar.finish_and_clear();

    let reports = project.reports_dir();
    std::fs::create_dir_all(&reports)
        .with_context(|| format!("cannot create `{}`", reports.display()))?;
    let stem = format!("profile-{:04}", info.id);
    let json_path = reports.join(format!("{stem}.json"));
    let html_path = reports.join(format!("{stem}.html"));
    let xlsx_path = reports.join(format!("migration-map-{:04}.xlsx", info.id));
    let decisions_path = project.root.join(crate::commands::map::DECISIONS_FILE);
    let existing = ferry_report::decisions::read(&decisions_path)
        .with_context(|| format!("cannot read `{}`", decisions_path.display()))?;
    write_json(&json_path, &profile)?;
    ferry_report::html::write_profile_html(&profile, &html_path)
        .with_context(|| format!("cannot write `{}`", html_path.display()))?;
    ferry_report::xlsx::write_migration_map(&profile, &existing, &xlsx_path)
        .with_context(|| format!("cannot write `{}`", xlsx_path.display()))?;

    let columns = profile.column_count();
    let phi = profile.phi_column_count();
    if args.json {
        let v = serde_json::json!({
            "snapshot": info.id,
            "tables": profile.tables.len(),
            "columns": columns,
            "phi_columns": phi,
            "foreign_keys": profile.foreign_keys.len(),
            "duration_ms": profile.duration_ms,
            "rows": profile.tables.iter().map(|t| t.rows).sum::<u64>(),
            "reports": { "json": json_path, "html": html_path, "xlsx": xlsx_path },
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if !global.quiet {
        println!(
            "Profiled snapshot {} in {}: {} tables, {} columns ({} likely PHI), {} candidate foreign keys",
            info.id,
            format::seconds(profile.duration_ms),
            profile.tables.len(),
            columns,
            phi,
            profile.foreign_keys.len()
        );
        for fk in profile.foreign_keys.iter().filter(|f| f.orphans > 0) {
            println!(
                "  {}.{} -> {}.{}: {} of {} values match, {} orphans",
                fk.table,
                fk.column,
                fk.ref_table,
                fk.ref_column,
                format::thousands(fk.matched),
                format::thousands(fk.values),
                format::thousands(fk.orphans)
            );
        }
        println!("  migration map: {}", xlsx_path.display());
        println!("  report:        {}", html_path.display());
        println!("  JSON:          {}", json_path.display());
        if !args.no_samples {
            println!(
                "  The map and report hold sample values (PHI). Use --no-samples for a copy that may leave the building."
            );
        }
    }
    Ok(crate::exit::OK)
}

/// Writes `value` as pretty JSON, atomically (a temporary file renamed into place).
pub(crate) fn write_json(path: &PathBuf, value: &impl serde::Serialize) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    let mut w = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut w, value)?;
    use std::io::Write;
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}
