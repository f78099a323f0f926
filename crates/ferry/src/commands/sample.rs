//! `ferry sample`: clinician verification packets (chosen patients' legacy rows beside their
//! migrated resources) and `ferry sample record FILE` for the verdicts.

use crate::commands::Global;
use crate::outln;
use anyhow::Result;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    /// How many patients to sample.
    #[arg(long, default_value_t = 20)]
    pub patients: usize,
    /// Seed of the choice: the same seed, run and patient count choose the same patients.
    /// Default: a new seed, printed and recorded with the packet.
    #[arg(long)]
    pub seed: Option<u64>,
    /// The run to sample (default: the latest).
    #[arg(long)]
    pub run: Option<u64>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Record the verdicts of a filled verdict form (the CSV `ferry sample` wrote).
    Record {
        /// The filled form.
        file: PathBuf,
    },
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    match &args.action {
        Some(Action::Record { file }) => {
            let mut session = global.writer("sample record", false)?;
            let o = ferry_ops::signoff::record_verdicts(&mut session, file)?;
            if global.quiet {
                return Ok(crate::exit::OK);
            }
            match &o.at {
                None => outln!(
                    "{}: no verdicts yet ({} patients pending); nothing was recorded",
                    file.display(),
                    o.pending
                )?,
                Some(at) => {
                    outln!(
                        "Recorded {} verdicts of packet {} at {}: {} accepted, {} rejected, {} pending",
                        o.recorded,
                        o.packet,
                        at,
                        o.accepted,
                        o.rejected,
                        o.pending
                    )?;
                    if o.rejected > 0 {
                        outln!(
                            "  a rejected chart makes the sign-off report NO-GO until it is resolved"
                        )?;
                    }
                }
            }
            Ok(crate::exit::OK)
        }
        None => {
            let mut session = global.writer("sample", false)?;
            let bar = global.bar(false);
            let o =
                ferry_ops::signoff::sample(&mut session, args.run, args.patients, args.seed, &bar)?;
            bar.finish();
            if global.quiet {
                return Ok(crate::exit::OK);
            }
            outln!(
                "Sample packet {} of run {} ({}): {} patients ({} with exceptions), {} legacy rows, seed {}, in {} ms",
                o.packet,
                o.run,
                o.run_kind,
                o.patients,
                o.with_exceptions,
                o.legacy_rows,
                o.seed,
                o.duration_ms
            )?;
            if o.patients < o.asked {
                outln!(
                    "  only {} patients in run {}: all of them are in the packet",
                    o.patients,
                    o.run
                )?;
            }
            outln!(
                "  packet:       {}  (PHI: patient data; keep it inside the hospital, out of git and email)",
                o.html.display()
            )?;
            outln!("  verdict form: {}", o.form.display())?;
            outln!(
                "  The clinician fills one line per patient (accept or reject, name, comment); then run `ferry sample record {}`",
                o.form.display()
            )?;
            Ok(crate::exit::OK)
        }
    }
}
