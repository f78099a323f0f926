//! `ferry completions SHELL` and `ferry man`: generated from the one clap definition of the
//! commands, so they never drift from `--help`.

use crate::commands::Global;
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write `ferry.1` and one page per command (`ferry-run.1`, ...) into this folder instead
    /// of printing `ferry.1`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn exec(args: Args, _global: &Global) -> Result<u8> {
    let mut cmd = crate::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "ferry", &mut buf);
    use std::io::Write;
    std::io::stdout().lock().write_all(&buf)?;
    Ok(crate::exit::OK)
}

pub fn man(args: ManArgs, global: &Global) -> Result<u8> {
    let cmd = crate::Cli::command();
    match &args.out {
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut buf)?;
            use std::io::Write;
            std::io::stdout().lock().write_all(&buf)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
            let mut pages = vec![("ferry".to_string(), cmd.clone())];
            for sub in cmd.get_subcommands() {
                let name = format!("ferry-{}", sub.get_name());
                // A page's title is its command's name; the process ends right after.
                let leaked: &'static str = Box::leak(name.clone().into_boxed_str());
                pages.push((name, sub.clone().name(leaked)));
            }
            for (name, page) in &pages {
                let mut buf = Vec::new();
                clap_mangen::Man::new(page.clone()).render(&mut buf)?;
                let path = dir.join(format!("{name}.1"));
                ferry_core::atomic::write(&path, ferry_core::atomic::Contents::Project, &buf)?;
            }
            if !global.quiet {
                crate::outln!("Wrote {} man pages into {}", pages.len(), dir.display())?;
            }
        }
    }
    Ok(crate::exit::OK)
}
