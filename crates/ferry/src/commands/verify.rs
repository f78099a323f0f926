//! `ferry verify`: counts, field-level round trip, referential integrity, FHIR validity and
//! comparative searches over a run's output; go (exit 0) or no-go (exit 3).

use crate::commands::Global;
use crate::{format, outln};
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run to verify (default: the latest).
    #[arg(long)]
    pub run: Option<u64>,
    /// Show expected and found values of round-trip mismatches (they may be PHI; off by default,
    /// never recorded in the ledger).
    #[arg(long)]
    pub show_values: bool,
    /// Problems listed per check.
    #[arg(long, default_value_t = 20)]
    pub examples: usize,
    /// Print the verification as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let mut session = global.writer("verify", false)?;
    let req = ferry_ops::verify::VerifyRequest {
        run: args.run,
        show_values: args.show_values,
        examples: args.examples,
        cancel: global.cancel.clone(),
    };
    let bar = global.bar(args.json);
    let v = ferry_ops::verify::verify(&mut session, &req, &bar)?;
    bar.finish();
    if args.json {
        crate::out::json("verify", &v)?;
    } else if !global.quiet {
        print(&v, global)?;
    }
    Ok(if v.is_go() {
        crate::exit::OK
    } else {
        crate::exit::NO_GO
    })
}

pub fn print(v: &ferry_verify::Verification, global: &Global) -> Result<()> {
    outln!(
        "Verification {} of run {} in {}: {}",
        v.record_id,
        v.run,
        format::seconds(v.duration_ms),
        crate::out::verdict(v.is_go(), global.color)
    )?;
    for c in &v.checks {
        let status = match c.status {
            ferry_verify::Status::Pass => "pass",
            ferry_verify::Status::Warn => "WARN",
            ferry_verify::Status::Fail => "FAIL",
        };
        outln!("  {status:<4}  {}: {}", c.name, c.summary)?;
        for e in &c.examples {
            outln!("          {e}")?;
        }
        if c.problems > c.examples.len() as u64 {
            outln!(
                "          ... and {} more (--examples N shows more)",
                format::thousands(c.problems - c.examples.len() as u64)
            )?;
        }
        for val in &c.values {
            outln!("          {val}")?;
        }
    }
    // Limits other than the project's default, and where each was set (a module's own reason).
    for t in &v.thresholds {
        if let Some(by) = &t.set_by
            && !by.starts_with("ferry.toml [verify] ")
        {
            outln!("  Limit {}: {} (set in {by})", t.name, t.limit)?;
        }
    }
    let failing: Vec<_> = v.thresholds.iter().filter(|t| !t.ok).collect();
    if failing.is_empty() {
        outln!("  Every threshold holds ({} checked).", v.thresholds.len())?;
    } else {
        outln!("  Failing thresholds:")?;
        for t in failing {
            match &t.set_by {
                Some(by) => outln!(
                    "    {}: {} (limit {}, set in {by})",
                    t.name,
                    t.actual,
                    t.limit
                )?,
                None => outln!("    {}: {} (limit {})", t.name, t.actual, t.limit)?,
            }
        }
    }
    Ok(())
}
