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
    /// Verify on a target instead of the files: counts by tag, every resource read back and
    /// compared, references resolved on the server (`[targets.NAME]` in ferry.toml).
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Print the verification as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    if let Some(t) = &args.target {
        return on_target(t, &args, global);
    }
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

fn on_target(target: &str, args: &Args, global: &Global) -> Result<u8> {
    let mut session = global.writer("verify --target", true)?;
    let bar = global.bar(args.json);
    let v = ferry_ops::load::verify_target(&mut session, target, args.run, &global.cancel, &bar)?;
    bar.finish();
    if args.json {
        crate::out::json("verify-target", &v)?;
    } else if !global.quiet {
        outln!(
            "Verification of run {} on `{}` in {}: {}",
            v.run,
            v.target,
            format::seconds(v.duration_ms),
            crate::out::verdict(v.go, global.color)
        )?;
        let off: Vec<_> = v.counts.iter().filter(|c| c.run != c.server).collect();
        let total_run: u64 = v.counts.iter().map(|c| c.run).sum();
        let total_server: u64 = v.counts.iter().map(|c| c.server).sum();
        outln!(
            "  {}  counts: {} types, run {}, server {} (this project's resources, by tag)",
            if off.is_empty() { "pass" } else { "FAIL" },
            v.counts.len(),
            format::thousands(total_run),
            format::thousands(total_server)
        )?;
        for c in &off {
            outln!(
                "        {}: run {}, server {}",
                c.resource_type,
                format::thousands(c.run),
                format::thousands(c.server)
            )?;
        }
        outln!(
            "  {}  read back: {} resources compared with the run's output (server meta ignored), {} references resolved; {} problems",
            if v.problem_count == 0 { "pass" } else { "FAIL" },
            format::thousands(v.read_back),
            format::thousands(v.references_checked),
            format::thousands(v.problem_count)
        )?;
        for p in v.problems.iter().take(args.examples) {
            outln!("        {}/{}: {}", p.resource_type, p.id, p.problem)?;
        }
        for s in &v.searches {
            outln!(
                "  {}  search:{} ({}): {}",
                if s.ok { "pass" } else { "FAIL" },
                s.name,
                s.query,
                s.summary
            )?;
        }
    }
    Ok(if v.go {
        crate::exit::OK
    } else {
        crate::exit::NO_GO
    })
}
