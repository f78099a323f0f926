//! `ferry check`: every module checked before any data moves, all problems at once.

use crate::commands::Global;
use crate::project::Project;
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Snapshot whose staged schema the modules are checked against (default: the latest).
    #[arg(long)]
    pub snapshot: Option<u64>,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let project = Project::discover(global.project.as_deref())?;
    let namespace = project.namespace()?;
    let ws = project.open_workspace()?;
    let dirs = ferry_run::ProjectDirs {
        mappings: project.mappings_dir(),
        concept_maps: project.concept_maps_dir(),
        output: project.output_dir(),
    };
    let (modules, diags) = ferry_run::check(&ws, &dirs, args.snapshot, namespace)?;
    for d in &diags {
        eprintln!("{d}");
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    if !global.quiet {
        println!(
            "{} modules checked: {} errors, {} warnings",
            modules,
            errors,
            diags.len() - errors
        );
    }
    Ok(if errors > 0 {
        crate::exit::FAILURE
    } else {
        crate::exit::OK
    })
}
