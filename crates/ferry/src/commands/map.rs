//! `ferry map import FILE.xlsx`: the SMEs' decisions, read back into the project as text.

use crate::commands::Global;
use crate::project::Project;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;

/// Where the decisions live in a project (diffs cleanly in git).
pub const DECISIONS_FILE: &str = "mappings/migration-map.toml";

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
    let project = Project::discover(global.project.as_deref())?;
    match args.action {
        Action::Import { file, dry_run } => {
            let path = project.root.join(DECISIONS_FILE);
            let old = ferry_report::decisions::read(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            let new = match ferry_report::xlsx::import_migration_map(&file) {
                Ok(map) => map,
                Err(e) => bail!(
                    "`{}` cannot be imported:\n{e}\nFix the workbook (or write a fresh one with `ferry profile`) and import again; nothing was changed",
                    file.display()
                ),
            };
            let changes = ferry_report::decisions::diff(&old, &new);
            if !dry_run {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                ferry_report::decisions::write(&path, &new)
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
            }
            if !global.quiet {
                let decided: usize = new
                    .columns
                    .values()
                    .flat_map(|cols| cols.values())
                    .filter(|d| d.decision.is_some())
                    .count();
                println!(
                    "{} {}: {} columns with a decision; since the last import {} added, {} removed, {} changed",
                    if dry_run { "Would write" } else { "Wrote" },
                    DECISIONS_FILE,
                    decided,
                    changes.added.len(),
                    changes.removed.len(),
                    changes.changed.len()
                );
                for (t, c) in &changes.added {
                    println!("  + {t}.{c}");
                }
                for (t, c) in &changes.removed {
                    println!("  - {t}.{c}");
                }
                for (t, c, what) in &changes.changed {
                    println!("  ~ {t}.{c}: {what}");
                }
            }
            Ok(crate::exit::OK)
        }
    }
}
