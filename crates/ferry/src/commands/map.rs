//! `ferry map import FILE.xlsx`: the SMEs' decisions, read back into the project as text.

use crate::commands::Global;
use crate::outln;
use anyhow::Result;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Read the decisions of a reviewed migration map workbook into mappings/migration-map.toml.
    Import {
        /// The workbook written by `ferry profile` and filled in by the reviewers.
        file: PathBuf,
        /// Show what would change without writing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    match args.action {
        Action::Import { file, dry_run } => {
            let mut session = global.writer("map import", false)?;
            let m = ferry_ops::profile::map_import(&mut session, &file, dry_run)?;
            if !global.quiet {
                outln!(
                    "{} {}: {} columns with a decision; since the last import {} added, {} removed, {} changed",
                    if m.dry_run { "Would write" } else { "Wrote" },
                    m.file,
                    m.decided,
                    m.added.len(),
                    m.removed.len(),
                    m.changed.len()
                )?;
                for (t, c) in &m.added {
                    outln!("  + {t}.{c}")?;
                }
                for (t, c) in &m.removed {
                    outln!("  - {t}.{c}")?;
                }
                for (t, c, what) in &m.changed {
                    outln!("  ~ {t}.{c}: {what}")?;
                }
            }
            Ok(crate::exit::OK)
        }
    }
}
