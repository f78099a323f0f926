//! `ferry exceptions`: what a run could not convert, grouped by reason, for review.

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
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let session = global.reader()?;
    let ex = ferry_ops::ledger::exceptions(
        &session,
        args.run,
        args.module.as_deref(),
        args.show_values,
    )?;
    if args.json {
        crate::out::json("exceptions", &ex)?;
        return Ok(crate::exit::OK);
    }
    if global.quiet {
        return Ok(crate::exit::OK);
    }
    let total: u64 = ex.groups.iter().map(|g| g.count).sum();
    outln!(
        "Run {}: {} exception records in {} groups (a row can fail several fields)",
        ex.run,
        format::thousands(total),
        ex.groups.len()
    )?;
    for g in &ex.groups {
        outln!(
            "  {} x {}: {} ({} rows)",
            format::thousands(g.count),
            g.module,
            g.reason,
            format::thousands(g.rows)
        )?;
        outln!("      keys: {}", g.keys.join(", "))?;
        if !g.raw_values.is_empty() {
            outln!("      values: {}", g.raw_values.join(" | "))?;
        }
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
