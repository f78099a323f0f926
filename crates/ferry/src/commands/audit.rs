//! `ferry audit`: a data-quality audit of a snapshot before anything moves.

use crate::commands::Global;
use crate::format;
use crate::project::Project;
use anyhow::{Context, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Snapshot to audit (default: the latest).
    #[arg(long)]
    pub snapshot: Option<u64>,
    /// Include example values in the findings (they may be PHI; off by default).
    #[arg(long)]
    pub show_values: bool,
    /// Print the findings as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let project = Project::discover(global.project.as_deref())?;
    let ws = project.open_workspace()?;
    let info = ws.snapshot(args.snapshot)?;
    let options = ferry_audit::AuditOptions {
        show_values: args.show_values,
        ..Default::default()
    };
    let report = ferry_audit::audit_snapshot(&ws, Some(info.id), &options)
        .with_context(|| format!("cannot audit snapshot {}", info.id))?;
    let reports = project.reports_dir();
    std::fs::create_dir_all(&reports)
        .with_context(|| format!("cannot create `{}`", reports.display()))?;
    let json_path = reports.join(format!("audit-{:04}.json", info.id));
    let html_path = reports.join(format!("audit-{:04}.html", info.id));
    std::fs::write(&json_path, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("cannot write `{}`", json_path.display()))?;
    ferry_audit::write_audit_html(&report, &html_path)
        .with_context(|| format!("cannot write `{}`", html_path.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(crate::exit::OK);
    }
    if global.quiet {
        return Ok(crate::exit::OK);
    }
    println!(
        "Audited snapshot {} in {}: {} findings from {} checks",
        info.id,
        format::seconds(report.duration_ms),
        report.findings.len(),
        report.checks_run.len()
    );
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
            format!("{:?}", f.severity).to_lowercase(),
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
        println!("  {}", line.trim_end());
    }
    println!(
        "  report: {}\n  JSON:   {}",
        html_path.display(),
        json_path.display()
    );
    Ok(crate::exit::OK)
}
