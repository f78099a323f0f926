//! The `ferry` command line. One file per command under `commands/`, each with an `Args`
//! (clap) and an `exec` that calls one operation of `ferry-ops` and prints its result.

mod commands;
mod format;
mod out;
mod progress;

use clap::Parser;

/// Staging hands millions of small allocations from the reader thread to the writer thread,
/// which frees them: glibc's allocator takes its slow path there (~22% of staging time measured
/// with perf); mimalloc's thread-free lists do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;

/// Move patient records out of a legacy EHR into FHIR R4: safely, repeatably, with proof.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Run as if started in this project folder.
    #[arg(short = 'C', long = "project", global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,

    /// Print only errors (no progress bars, no summaries).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Colour GO / NO-GO: `auto` (on a terminal, unless NO_COLOR is set), `always`, `never`.
    #[arg(long, global = true, value_enum, default_value_t = out::ColorChoice::Auto, value_name = "WHEN")]
    pub color: out::ColorChoice,

    #[command(subcommand)]
    pub command: commands::Command,
}

/// Exit codes (documented in docs/commands.md).
pub mod exit {
    pub const OK: u8 = 0;
    /// Something failed; the message says what and what to do.
    pub const FAILURE: u8 = 1;
    /// Bad command line (clap's own code).
    #[allow(dead_code)]
    pub const USAGE: u8 = 2;
    /// A check ended with a failing result: NO-GO (`verify`, `report`), findings at or above
    /// `--fail-on` (`audit`).
    pub const NO_GO: u8 = 3;
    /// Cancelled by the user (Ctrl-C); nothing was changed.
    pub const CANCELLED: u8 = 130;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // SQL functions for module queries (and `ferry sql`): see docs/mapping.md.
    ferry_store::register_sql_functions(vec![("ferry_date", ferry_map::funcs::dates::sql_date)]);
    let cancel = ferry_core::Cancel::new();
    commands::install_ctrlc(&cancel);
    match commands::exec(cli, cancel) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                // `ferry runs | head` closed the pipe: not an error.
                return ExitCode::from(exit::OK);
            }
            if is_cancelled(&err) {
                eprintln!("ferry: cancelled; nothing changed");
                return ExitCode::from(exit::CANCELLED);
            }
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn is_cancelled(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<ferry_ops::OpsError>()
            .is_some_and(|e| e.is_cancelled())
            || c.downcast_ref::<commands::Cancelled>().is_some()
    })
}
