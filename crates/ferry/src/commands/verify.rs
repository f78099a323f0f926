//! `ferry verify`: counts, field-level round trip, referential integrity, FHIR validity and
//! comparative searches over a run's output; go (exit 0) or no-go (exit 3).

use crate::commands::Global;
use crate::format;
use crate::project::Project;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Exit code of a no-go verdict (documented in docs/verify.md).
pub const NO_GO: u8 = 3;

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
    let project = Project::discover(global.project.as_deref())?;
    let namespace = project.namespace()?;
    let ws = project.open_workspace()?;
    let opts = ferry_verify::VerifyOptions {
        run: args.run,
        mappings: project.mappings_dir(),
        concept_maps: project.concept_maps_dir(),
        checks: project.checks_dir(),
        namespace,
        local_offset: project.config.project.local_offset.clone(),
        thresholds: project.config.verify.clone(),
        show_values: args.show_values,
        max_examples: args.examples,
        merges: super::run::merges(&project)?,
        project_root: project.root.clone(),
    };
    let bar = if !global.quiet && !args.json && std::io::stderr().is_terminal() {
        let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(8));
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {percent}% ({eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let v = ferry_verify::verify(&ws, &opts, &|e| match e {
        ferry_verify::VerifyEvent::Phase { name, total } => {
            bar.set_length(total);
            bar.set_position(0);
            bar.set_message(name.to_string());
        }
        ferry_verify::VerifyEvent::Position(n) => bar.set_position(n),
    })
    .context("the verification stopped before a verdict; nothing was recorded")?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if !global.quiet {
        print(&v);
    }
    Ok(if v.is_go() { crate::exit::OK } else { NO_GO })
}

fn print(v: &ferry_verify::Verification) {
    println!(
        "Verification {} of run {} in {}: {}",
        v.record_id,
        v.run,
        format::seconds(v.duration_ms),
        if v.is_go() { "GO" } else { "NO-GO" }
    );
    for c in &v.checks {
        let status = match c.status {
            ferry_verify::Status::Pass => "pass",
            ferry_verify::Status::Warn => "WARN",
            ferry_verify::Status::Fail => "FAIL",
        };
        println!("  {status:<4}  {}: {}", c.name, c.summary);
        for e in &c.examples {
            println!("          {e}");
        }
        if c.problems > c.examples.len() as u64 {
            println!(
                "          ... and {} more (--examples N shows more)",
                format::thousands(c.problems - c.examples.len() as u64)
            );
        }
        for val in &c.values {
            println!("          {val}");
        }
    }
    let failing: Vec<_> = v.thresholds.iter().filter(|t| !t.ok).collect();
    if failing.is_empty() {
        println!("  Every threshold holds ({} checked).", v.thresholds.len());
    } else {
        println!("  Failing thresholds:");
        for t in failing {
            println!("    {}: {} (limit {})", t.name, t.actual, t.limit);
        }
    }
}
