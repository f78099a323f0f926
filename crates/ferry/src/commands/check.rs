//! `ferry check`: every module checked before any data moves, all problems at once.

use crate::commands::Global;
use crate::outln;
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Snapshot whose staged schema the modules are checked against (default: the latest).
    #[arg(long)]
    pub snapshot: Option<u64>,
    /// Only these modules (comma-separated names), for a project whose other modules are not
    /// written yet; default: every module in mappings/.
    #[arg(long, value_delimiter = ',')]
    pub modules: Option<Vec<String>>,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let session = global.reader()?;
    let outcome = ferry_ops::check::check(&session, args.snapshot, args.modules.as_deref())?;
    for d in &outcome.diagnostics {
        eprintln!("{d}");
    }
    if !global.quiet {
        outln!(
            "{} modules checked: {} errors, {} warnings",
            outcome.modules,
            outcome.errors,
            outcome.warnings
        )?;
        if !outcome.decisions.is_empty() {
            outln!(
                "{} reviewer decisions in mappings/decisions.toml, re-applied by every run:",
                outcome.decisions.len()
            )?;
            for d in &outcome.decisions {
                outln!(
                    "  {} {} in {}{} (by {}, {}): {}",
                    d.id,
                    d.action,
                    d.module,
                    d.element
                        .as_deref()
                        .map(|e| format!(", {e}"))
                        .unwrap_or_default(),
                    d.by,
                    d.at,
                    d.why
                )?;
            }
        }
    }
    Ok(if outcome.errors > 0 {
        crate::exit::FAILURE
    } else {
        crate::exit::OK
    })
}
