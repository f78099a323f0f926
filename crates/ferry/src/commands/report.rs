//! `ferry report`: the sign-off report for the client (self-contained HTML).

use crate::commands::Global;
use crate::project::Project;
use anyhow::{Context, Result};
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
    let started = std::time::Instant::now();
    let project = Project::discover(global.project.as_deref())?;
    let ws = project.open_workspace()?;
    let runs = if args.runs.is_empty() {
        vec![ws.run(None)?.id]
    } else {
        for r in &args.runs {
            ws.run(Some(*r))?;
        }
        args.runs.clone()
    };
    let name = project
        .config
        .project
        .name
        .clone()
        .unwrap_or_else(|| project_folder_name(&project));
    let report = ferry_signoff::gather_report(&ws, &name, &runs, &|run| verifications(&ws, run))?;
    let path = args.out.clone().unwrap_or_else(|| {
        project
            .reports_dir()
            .join(ferry_signoff::report::file_name(&runs))
    });
    ferry_signoff::report::write(&report, &path)
        .with_context(|| "the sign-off report was not written".to_string())?;
    if !global.quiet {
        let d = &report.decision;
        println!(
            "Sign-off report for run(s) {} written to {} in {} ms",
            report
                .runs
                .iter()
                .map(|r| format!("{} ({})", r.id, r.kind))
                .collect::<Vec<_>>()
                .join(", "),
            path.display(),
            started.elapsed().as_millis()
        );
        println!(
            "Decision for run {}: {}",
            d.run,
            if d.go { "GO" } else { "NO-GO" }
        );
        for b in &d.blockers {
            println!("  blocker: {b}");
        }
        for c in &d.cautions {
            println!("  note: {c}");
        }
    }
    Ok(crate::exit::OK)
}

fn project_folder_name(project: &Project) -> String {
    project
        .root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "migration".to_string())
}

/// The run's verifications from the verify ledger, oldest first.
fn verifications(
    ws: &ferry_store::Workspace,
    run: u64,
) -> Result<Vec<ferry_signoff::VerificationInput>, ferry_signoff::SignoffError> {
    Ok(ws
        .verifications(run)?
        .into_iter()
        .map(|v| ferry_signoff::VerificationInput {
            id: v.id,
            run_id: v.run_id,
            started_at: v.started_at,
            duration_ms: v.duration_ms,
            verdict: v.verdict,
            summary_json: v.summary_json,
        })
        .collect())
}
