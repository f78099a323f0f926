//! `ferry exceptions`: what a run could not convert, grouped by reason, for review.

use crate::commands::Global;
use crate::format;
use crate::project::Project;
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run (default: the latest).
    #[arg(long)]
    pub run: Option<u64>,
    /// Only this module.
    #[arg(long)]
    pub module: Option<String>,
    /// Show the raw values (they may be PHI; off by default).
    #[arg(long)]
    pub show_values: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let project = Project::discover(global.project.as_deref())?;
    let ws = project.open_workspace()?;
    let run = ws.run(args.run)?;
    let groups = ws.exceptions(run.id, args.module.as_deref(), args.show_values)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&groups)?);
        return Ok(crate::exit::OK);
    }
    if global.quiet {
        return Ok(crate::exit::OK);
    }
    let total: u64 = groups.iter().map(|g| g.count).sum();
    println!(
        "Run {}: {} exception records in {} groups",
        run.id,
        format::thousands(total),
        groups.len()
    );
    for g in &groups {
        println!(
            "  {} x {}: {}",
            format::thousands(g.count),
            g.module,
            g.reason
        );
        println!("      keys: {}", g.keys.join(", "));
        if !g.raw_values.is_empty() {
            println!("      values: {}", g.raw_values.join(" | "));
        }
    }
    Ok(crate::exit::OK)
}
