//! `ferry audit`: a data-quality audit of a snapshot before anything moves.

use crate::commands::Global;
use crate::{format, outln};
use anyhow::Result;
use ferry_audit::Severity;

/// The least severe finding that fails the command (`--fail-on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    Never,
}

impl FailOn {
    fn fails(self, s: Severity) -> bool {
        match self {
            FailOn::Never => false,
            FailOn::Error => s == Severity::Error,
            FailOn::Warning => matches!(s, Severity::Error | Severity::Warning),
            FailOn::Info => true,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Snapshot to audit (default: the latest).
    #[arg(long)]
    pub snapshot: Option<u64>,
    /// Include example values in the findings (they may be PHI; off by default).
    #[arg(long)]
    pub show_values: bool,
    /// Exit 3 when there is a finding of this severity or worse (for scripts and CI);
    /// default: never (the audit informs, it does not block).
    #[arg(long, value_enum, default_value_t = FailOn::Never, value_name = "SEVERITY")]
    pub fail_on: FailOn,
    /// Print the findings as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let mut session = global.writer("audit", false)?;
    let options = ferry_audit::AuditOptions {
        show_values: args.show_values,
        ..Default::default()
    };
    let bar = global.bar(args.json);
    let o = ferry_ops::profile::audit(&mut session, args.snapshot, &options, &bar)?;
    bar.finish();
    let failing = o
        .report
        .findings
        .iter()
        .filter(|f| args.fail_on.fails(f.severity))
        .count();
    let code = if failing > 0 {
        crate::exit::NO_GO
    } else {
        crate::exit::OK
    };
    if args.json {
        crate::out::json("audit", &o.report)?;
        return Ok(code);
    }
    if global.quiet {
        return Ok(code);
    }
    let report = &o.report;
    outln!(
        "Audited snapshot {} in {}: {} findings from {} checks",
        report.snapshot,
        format::seconds(report.duration_ms),
        report.findings.len(),
        report.checks_run.len()
    )?;
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header([
        "severity",
        "check",
        "table",
        "column",
        "rows",
        "example keys",
    ]);
    for f in &report.findings {
        t.add_row([
            f.severity.as_str().to_string(),
            f.check.clone(),
            f.table.clone(),
            f.column.clone().unwrap_or_default(),
            format::thousands(f.count),
            f.example_keys
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    for line in t.to_string().lines() {
        outln!("  {}", line.trim_end())?;
    }
    outln!(
        "  report: {}\n  JSON:   {}",
        o.html.display(),
        o.json.display()
    )?;
    if failing > 0 {
        outln!(
            "  {failing} findings at or above --fail-on {:?}: exit 3",
            args.fail_on
        )?;
    }
    Ok(code)
}
