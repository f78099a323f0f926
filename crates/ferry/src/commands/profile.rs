//! `ferry profile`: every table and column of a snapshot, with statistics, formats, PHI labels,
//! keys and foreign keys; writes the migration map (.xlsx), an offline HTML report and JSON.

use crate::commands::Global;
use crate::{format, outln};
use anyhow::Result;

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
    let mut session = global.writer("profile", false)?;
    let options = ferry_profile::ProfileOptions {
        samples: !args.no_samples,
        small_count_threshold: args.min_count,
        exact_distinct_limit: args.exact_distinct,
        tables: args.tables.clone(),
        ..Default::default()
    };
    let bar = global.bar(args.json);
    let o = ferry_ops::profile::profile(&mut session, args.snapshot, &options, &bar)?;
    bar.finish();
    if args.json {
        crate::out::json("profile", &o)?;
    } else if !global.quiet {
        print(&o)?;
    }
    Ok(crate::exit::OK)
}

pub fn print(o: &ferry_ops::profile::ProfileOutcome) -> Result<()> {
    outln!(
        "Profiled snapshot {} in {}: {} tables, {} columns ({} likely PHI), {} candidate foreign keys",
        o.snapshot,
        format::seconds(o.duration_ms),
        o.tables,
        o.columns,
        o.phi_columns,
        o.foreign_keys
    )?;
    for fk in o.profile.foreign_keys.iter().filter(|f| f.orphans > 0) {
        outln!(
            "  {}.{} -> {}.{}: {} of {} values match, {} orphans",
            fk.table,
            fk.column,
            fk.ref_table,
            fk.ref_column,
            format::thousands(fk.matched),
            format::thousands(fk.values),
            format::thousands(fk.orphans)
        )?;
    }
    outln!("  migration map: {}", o.xlsx.display())?;
    outln!("  report:        {}", o.html.display())?;
    outln!("  JSON:          {}", o.json.display())?;
    if o.samples {
        outln!(
            "  The map and report hold sample values (PHI). Use --no-samples for a copy that may leave the building."
        )?;
    }
    Ok(())
}
