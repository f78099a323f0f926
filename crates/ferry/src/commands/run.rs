//! `ferry run`: staged rows -> mapping modules -> validated FHIR R4 NDJSON, with the books.

use crate::commands::Global;
use crate::format;
use crate::project::Project;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    Iteration,
    Rehearsal,
    GoLive,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Iteration => "iteration",
            Kind::Rehearsal => "rehearsal",
            Kind::GoLive => "go-live",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only these modules (comma-separated names); default: every module in mappings/.
    #[arg(long, value_delimiter = ',')]
    pub modules: Option<Vec<String>>,
    #[arg(long, value_enum, default_value_t = Kind::Iteration)]
    pub kind: Kind,
    /// Snapshot to migrate (default: the latest).
    #[arg(long)]
    pub snapshot: Option<u64>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write FHIR transaction Bundles (PUT Type/id, at most SIZE entries each, default 500)
    /// into `bundles/` of the output folder, modules in reference order, for loading into a
    /// FHIR server bundle by bundle.
    #[arg(long, value_name = "SIZE", num_args = 0..=1, default_missing_value = "500",
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub bundles: Option<u64>,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let project = Project::discover(global.project.as_deref())?;
    let namespace = project.namespace()?;
    let mut ws = project.open_workspace()?;
    let folder = RunFolder::next(&project, &ws)?;
    let dirs = ferry_run::ProjectDirs {
        mappings: project.mappings_dir(),
        concept_maps: project.concept_maps_dir(),
        output: folder.dest.clone(),
    };
    let bar = if !global.quiet && !args.json && std::io::stderr().is_terminal() {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {pos} rows ({per_sec}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let opts = ferry_run::RunOptions {
        kind: args.kind.as_str().to_string(),
        snapshot: args.snapshot,
        modules: args.modules.clone(),
        namespace,
        local_offset: project.config.project.local_offset.clone(),
        threads: 2,
        bundle_size: args.bundles.map(|n| n as usize),
        merges: merges(&project)?,
        run_id: Some(folder.id),
        recorded_output: Some(folder.recorded.clone()),
        cancel: ferry_core::Cancel::new(),
    };
    let summary = ferry_run::run(&mut ws, &dirs, &opts, &|e| match e {
        ferry_run::RunEvent::ModuleStarted { module } => {
            bar.set_message(format!("module {module}"))
        }
        ferry_run::RunEvent::Rows(n) => bar.set_position(n),
    })
    .context("the run stopped; the output folder was left as it was")?;
    folder.point_latest();
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !global.quiet {
        print_summary(&summary);
    }
    Ok(crate::exit::OK)
}

/// The run's own output folder, `output/run-NNNN` (interim: the operations layer takes this
/// over).
pub struct RunFolder {
    pub id: u64,
    pub dest: std::path::PathBuf,
    pub recorded: String,
}

impl RunFolder {
    pub fn next(project: &Project, ws: &ferry_store::Workspace) -> Result<RunFolder> {
        let id = ws.next_run_id()?;
        let out = project.output_dir();
        std::fs::create_dir_all(&out)
            .with_context(|| format!("cannot create `{}`", out.display()))?;
        let name = format!("run-{id:04}");
        let dest = out.join(&name);
        let recorded = dest
            .strip_prefix(&project.root)
            .unwrap_or(&dest)
            .display()
            .to_string();
        Ok(RunFolder { id, dest, recorded })
    }

    pub fn point_latest(&self) {
        #[cfg(unix)]
        if let Some(parent) = self.dest.parent() {
            let tmp = parent.join(ferry_core::atomic::temp_name("latest"));
            if std::os::unix::fs::symlink(format!("run-{:04}", self.id), &tmp).is_ok() {
                let _ = std::fs::rename(&tmp, parent.join("latest"));
            }
        }
    }
}

/// The accepted duplicate-patient merges of `mappings/duplicates.toml` (`ferry dedupe review`),
/// for `ferry run` and `ferry verify`; `None` when nothing was accepted.
pub fn merges(project: &Project) -> Result<Option<ferry_map::Merges>> {
    let map = ferry_link::load_merges(&project.root)
        .context("reading the duplicate-patient decisions")?;
    if map.is_empty() {
        return Ok(None);
    }
    let decisions = ferry_link::Decisions::load(&project.root)
        .context("reading the duplicate-patient decisions")?;
    let module = project
        .config
        .dedupe
        .as_ref()
        .and_then(|d| d.module.clone().or_else(|| d.table.clone()))
        .or(decisions.table)
        .context(
            "mappings/duplicates.toml has accepted merges but names no patient table: set `[dedupe] module = \"patients\"` in ferry.toml (the module that makes the Patient)",
        )?;
    let mut to_survivor = std::collections::HashMap::new();
    for s in map.survivors() {
        for m in map.members(s) {
            to_survivor.insert(m.clone(), s.to_string());
        }
    }
    Ok(Some(ferry_map::Merges {
        module,
        to_survivor,
    }))
}

pub fn print_summary(s: &ferry_run::RunSummary) {
    let resources: u64 = s.outputs.iter().map(|o| o.resources).sum();
    println!(
        "Run {} of snapshot {} in {}: {} resources in {} files under {}",
        s.run,
        s.snapshot,
        format::seconds(s.duration_ms),
        format::thousands(resources),
        s.outputs.len(),
        s.output_dir
    );
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header([
        "module",
        "source rows",
        "migrated",
        "excluded",
        "exceptions",
        "resources",
        "books",
    ]);
    for m in &s.modules {
        t.add_row([
            m.module.clone(),
            format::thousands(m.source_rows),
            format::thousands(m.migrated),
            format::thousands(m.excluded),
            format::thousands(m.exceptions),
            format::thousands(m.resources),
            if m.balanced() {
                "ok".into()
            } else {
                "UNBALANCED".into()
            },
        ]);
    }
    for line in t.to_string().lines() {
        println!("  {}", line.trim_end());
    }
    if !s.bundles.is_empty() {
        let entries: u64 = s.bundles.iter().map(|b| b.entries).sum();
        println!(
            "  {} transaction bundles ({} entries) in {}/bundles: load them in file order",
            format::thousands(s.bundles.len() as u64),
            format::thousands(entries),
            s.output_dir
        );
    }
    let exceptions: u64 = s.modules.iter().map(|m| m.exceptions).sum();
    if exceptions > 0 {
        println!(
            "  {} rows are exceptions: `ferry exceptions` lists them by reason",
            format::thousands(exceptions)
        );
    }
}
