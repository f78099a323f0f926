//! `ferry import-manifest`: the Bulk Data `$import` manifest of a verified run, for servers that
//! ingest NDJSON themselves (docs/load.md).

use crate::commands::Global;
use crate::outln;
use anyhow::Result;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the server will fetch the run's NDJSON files from (https://..., or file:...): each
    /// file's URL is this joined with its name.
    #[arg(long, value_name = "URL")]
    pub files_url: String,
    /// The run (default: the latest).
    #[arg(long)]
    pub run: Option<u64>,
    /// `IncrementalLoad` instead of `InitialLoad` (a server that already holds data).
    #[arg(long)]
    pub incremental: bool,
    /// Write a manifest for a run whose last verification is not GO.
    #[arg(long)]
    pub unverified: bool,
    /// Write it here (relative to the project) instead of reports/import-manifest-run-NNNN.json.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let mut session = global.writer("import-manifest", false)?;
    let m = ferry_ops::load::import_manifest(
        &mut session,
        args.run,
        &args.files_url,
        args.incremental,
        args.unverified,
        args.out.as_deref(),
    )?;
    if args.json {
        crate::out::json("import-manifest", &m)?;
    } else if !global.quiet {
        outln!(
            "$import manifest of run {} ({} files, {} resources) written to {}",
            m.run,
            m.files,
            crate::format::thousands(m.resources),
            m.path.display()
        )?;
        outln!(
            "  The files carry no load tags and no journal: `ferry rollback` cannot undo an $import."
        )?;
    }
    Ok(crate::exit::OK)
}
