//! `ferry sample`: clinician verification packets (chosen patients' legacy rows beside their
//! migrated resources) and `ferry sample record FILE` for the verdicts.

use crate::commands::Global;
use crate::project::Project;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

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
        Some(Action::Record { file }) => record(file, global),
        None => sample(&args, global),
    }
}

fn sample(args: &Args, global: &Global) -> Result<u8> {
    let started = std::time::Instant::now();
    if args.patients == 0 {
        bail!("`--patients` must be at least 1");
    }
    let project = Project::discover(global.project.as_deref())?;
    let mut ws = project.open_workspace()?;
    let run = ws.run(args.run)?;
    if run.status != "ok" {
        return Err(ferry_signoff::SignoffError::RunNotOk {
            run: run.id,
            status: run.status,
        }
        .into());
    }
    let sources = module_sources(&project)?;
    let seed = args.seed.unwrap_or_else(new_seed);
    let chosen = ferry_signoff::choose(&ws, run.id, &sources, args.patients, seed)?;
    let name = project
        .config
        .project
        .name
        .clone()
        .unwrap_or_else(|| "migration".to_string());
    let mut packet = ferry_signoff::build_packet(
        &ws,
        &project.root,
        &name,
        run.id,
        &sources,
        &chosen.patients,
        seed,
    )?;
    let reports = project.reports_dir();
    let rel = |p: &Path| -> String {
        p.strip_prefix(&project.root)
            .unwrap_or(p)
            .display()
            .to_string()
    };
    let recorded = ws.record_sample_packet(run.id, seed, &chosen.patients, &|id| {
        (
            rel(&reports.join(format!("sample-{id:04}.html"))),
            rel(&reports.join(format!("sample-{id:04}-verdicts.csv"))),
        )
    })?;
    packet.id = recorded.id;
    packet.form_file = recorded.form_file.clone();
    let html_path = project.root.join(&recorded.packet_file);
    let form_path = project.root.join(&recorded.form_file);
    let written = ferry_signoff::sample::write_packet(&packet, &html_path)
        .and_then(|_| ferry_signoff::write_form(&recorded, &form_path));
    if let Err(e) = written {
        let _ = ws.forget_sample_packet(recorded.id);
        let _ = std::fs::remove_file(&html_path);
        return Err(anyhow::Error::new(e).context("the sample packet was not made"));
    }
    if !global.quiet {
        let items: usize = packet.patients.iter().map(|p| p.items).sum();
        println!(
            "Sample packet {} of run {} ({}): {} patients ({} with exceptions), {} legacy rows, seed {}, in {} ms",
            recorded.id,
            run.id,
            run.kind,
            chosen.patients.len(),
            chosen.with_exceptions,
            items,
            seed,
            started.elapsed().as_millis()
        );
        if chosen.patients.len() < args.patients {
            println!(
                "  only {} patients in run {}: all of them are in the packet",
                chosen.patients.len(),
                run.id
            );
        }
        println!(
            "  packet:       {}  (PHI: patient data; keep it inside the hospital, out of git and email)",
            html_path.display()
        );
        println!("  verdict form: {}", form_path.display());
        println!(
            "  The clinician fills one line per patient (accept or reject, name, comment); then run `ferry sample record {}`",
            form_path.display()
        );
    }
    Ok(crate::exit::OK)
}

fn record(file: &Path, global: &Global) -> Result<u8> {
    let project = Project::discover(global.project.as_deref())?;
    let mut ws = project.open_workspace()?;
    let form = {
        let ws_ref = &ws;
        ferry_signoff::read_form(file, &|id| Ok(ws_ref.sample_packet(id)?))?
    };
    let accepted = form
        .verdicts
        .iter()
        .filter(|v| v.verdict == "accept")
        .count();
    let rejected = form.verdicts.len() - accepted;
    if form.verdicts.is_empty() {
        if !global.quiet {
            println!(
                "{}: no verdicts yet ({} patients pending); nothing was recorded",
                file.display(),
                form.pending.len()
            );
        }
        return Ok(crate::exit::OK);
    }
    let at = ws
        .record_sample_verdicts(form.packet, &form.verdicts, &file.display().to_string())
        .with_context(|| format!("the verdicts of `{}` were not recorded", file.display()))?;
    if !global.quiet {
        println!(
            "Recorded {} verdicts of packet {} at {}: {} accepted, {} rejected, {} pending",
            form.verdicts.len(),
            form.packet,
            at,
            accepted,
            rejected,
            form.pending.len()
        );
        if rejected > 0 {
            println!("  a rejected chart makes the sign-off report NO-GO until it is resolved");
        }
    }
    Ok(crate::exit::OK)
}

/// The project's modules as the packet needs them.
fn module_sources(project: &Project) -> Result<Vec<ferry_signoff::ModuleSource>> {
    let dirs = ferry_run::ProjectDirs {
        mappings: project.mappings_dir(),
        concept_maps: project.concept_maps_dir(),
        output: project.output_dir(),
    };
    let (modules, diags) = ferry_run::load_modules(
        &dirs,
        project.namespace()?,
        project.config.project.local_offset.clone(),
    );
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("  {d}"))
        .collect();
    if !errors.is_empty() {
        bail!(
            "the mappings have {} error(s); a packet needs every module's source query. Fix them (`ferry check`):\n{}",
            errors.len(),
            errors.join("\n")
        );
    }
    Ok(modules
        .iter()
        .map(|m| ferry_signoff::ModuleSource {
            module: m.name.clone(),
            query: m.source.query.clone(),
            key: m.source.key.clone(),
            patient: m.source.patient.clone(),
            resource_type: m
                .primary_resource()
                .map(|r| r.resource_type.clone())
                .unwrap_or_default(),
        })
        .collect())
}

/// A fresh seed when none is given (printed and recorded, so the choice can be repeated).
fn new_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64 ^ d.as_secs())
        .unwrap_or(0);
    (nanos ^ (std::process::id() as u64).rotate_left(32)) % 1_000_000
}
