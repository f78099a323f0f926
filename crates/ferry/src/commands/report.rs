//! `ferry report`: the sign-off report for the client (self-contained HTML).

use crate::commands::Global;
use crate::outln;
use anyhow::Result;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runs to report on, e.g. the rehearsal and the go-live (`--run 2 --run 3`); the last
    /// is the one go / no-go is decided for. Default: the latest run.
    #[arg(long = "run", value_name = "R")]
    pub runs: Vec<u64>,
    /// Write the report here instead of `reports/signoff-<runs>.html`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let mut session = global.writer("report", false)?;
    let r = ferry_ops::signoff::report(&mut session, &args.runs, args.out.as_deref())?;
    if !global.quiet {
        outln!(
            "Sign-off report for run(s) {} written to {} in {} ms",
            r.runs
                .iter()
                .map(|(id, kind)| format!("{id} ({kind})"))
                .collect::<Vec<_>>()
                .join(", "),
            r.path.display(),
            r.duration_ms
        )?;
        outln!(
            "Decision for run {}: {}",
            r.decided_run,
            crate::out::verdict(r.go, global.color)
        )?;
        for b in &r.blockers {
            outln!("  blocker: {b}")?;
        }
        for c in &r.cautions {
            outln!("  note: {c}")?;
        }
    }
    Ok(crate::exit::OK)
}
