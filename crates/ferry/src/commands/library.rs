//! `ferry library list` / `ferry library add NAME`: the module libraries built into Ferry.

use crate::commands::Global;
use crate::outln;
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List the libraries built into this Ferry.
    List,
    /// Copy a library's modules, concept maps and comparative searches into the project (never
    /// overwriting a file you changed) and set the project settings its modules need.
    Add {
        /// The library's name (`ferry library list`).
        name: String,
    },
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    match args.action {
        Action::List => {
            for lib in ferry_ops::init::libraries() {
                outln!("{:<10} {}", lib.name, lib.description)?;
            }
        }
        Action::Add { name } => {
            let session = global.writer("library add", false)?;
            let installed = ferry_ops::init::install_library(&session.project, &name)?;
            if !global.quiet {
                print_installed(&installed)?;
            }
        }
    }
    Ok(crate::exit::OK)
}

pub fn print_installed(i: &ferry_ops::init::Installed) -> Result<()> {
    outln!(
        "Installed library `{}`: {} files written, {} already there",
        i.library,
        i.written.len(),
        i.unchanged.len()
    )?;
    for s in &i.settings {
        outln!("  set in ferry.toml: {s}")?;
    }
    Ok(())
}
