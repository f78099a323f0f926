//! `ferry init DIR [--library NAME]`: a new migration project folder.

use crate::commands::Global;
use crate::outln;
use anyhow::Result;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder to create (or an existing empty folder).
    pub dir: PathBuf,
    /// Project name for reports (default: the folder's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Also install this module library (`ferry library list` shows them), with the project
    /// settings its modules need.
    #[arg(long, value_name = "NAME")]
    pub library: Option<String>,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let name = args.name.clone().unwrap_or_else(|| {
        std::path::absolute(&args.dir)
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "migration".into())
    });
    let created = ferry_ops::init::create_project(&args.dir, &name, args.library.as_deref())?;
    if !global.quiet {
        outln!("Created Ferry project `{name}` in {}", args.dir.display())?;
        if let Some(lib) = &created.library {
            super::library::print_installed(lib)?;
        }
        outln!(
            "Next: ferry -C {} stage PATH-TO-SNAPSHOT",
            args.dir.display()
        )?;
    }
    Ok(crate::exit::OK)
}
