//! One module per command: `Args` (clap) and `exec`, which parses, calls one operation of
//! `ferry-ops` and prints its result.

pub mod audit;
pub mod audit_trail;
pub mod check;
pub mod completions;
pub mod conflicts;
pub mod dedupe;
pub mod demo;
pub mod exceptions;
pub mod generate;
pub mod import_manifest;
pub mod init;
pub mod library;
pub mod load;
pub mod map;
pub mod profile;
pub mod report;
pub mod run;
pub mod runbook;
pub mod runs;
pub mod sample;
pub mod snapshots;
pub mod sql;
pub mod stage;
pub mod verify;

use crate::Cli;
use crate::out::ColorChoice;
use clap::Subcommand;
use ferry_ops::{Actor, Project, Session};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a migration project folder (ferry.toml, mappings/, concept-maps/, checks/,
    /// .gitignore), optionally with a module library (`--library clinic`).
    Init(init::Args),
    /// The module libraries built into Ferry: list them, or add one to the project.
    Library(library::Args),
    /// Generate a synthetic legacy occupational-health clinic (mysqldump + CSV + manifest).
    Generate(generate::Args),
    /// Generate a clinic into a new project and run every stage Ferry has, printing what happened.
    Demo(demo::Args),
    /// Stage a snapshot (mysqldump .sql/.sql.gz, CSV/TSV/pipe files or folders, SQLite files) losslessly.
    Stage(stage::Args),
    /// List staged snapshots, or show one: files with sha256, tables, row counts, notes.
    Snapshots(snapshots::Args),
    /// Run a read-only SQL query over a staged snapshot's tables.
    Sql(sql::Args),
    /// Profile every table and column of a snapshot; write the migration map (.xlsx), an offline
    /// HTML report and JSON into the reports folder.
    Profile(profile::Args),
    /// The migration map: read reviewers' decisions back from the workbook.
    Map(map::Args),
    /// Audit a snapshot's data quality: orphans, duplicates, incomplete records, invalid values.
    Audit(audit::Args),
    /// The tamper-evident audit trail: every operation on PHI or a verdict, who, when, inputs
    /// and outputs by hash; `--verify` checks the hash chain, its signed checkpoint and the
    /// books, verdicts and snapshots it seals.
    AuditTrail(audit_trail::Args),
    /// Probable duplicate patients (probabilistic record linkage); `dedupe review` accepts or
    /// rejects clusters.
    Dedupe(dedupe::Args),
    /// Check every mapping module before data moves: syntax, columns, functions, concept maps.
    Check(check::Args),
    /// Migrate: staged rows through the mapping modules into validated FHIR R4 NDJSON, in a new
    /// output folder per run.
    Run(run::Args),
    /// List the recorded runs: kind, snapshot, books, verdict, output folder.
    Runs(runs::Args),
    /// The timed rehearsal or go-live of runbook.toml: start, status, resume, confirm a manual
    /// step, check the file, abandon.
    Runbook(runbook::Args),
    /// List a run's exceptions grouped by reason, with counts and source keys.
    Exceptions(exceptions::Args),
    /// Write the sign-off report (checklist with timings, books, exceptions, verification,
    /// clinician verdicts, go/no-go, signatures) as self-contained HTML.
    Report(report::Args),
    /// Clinician verification packets: sample patients' legacy rows beside their migrated
    /// resources; `ferry sample record FILE` records the verdicts.
    Sample(sample::Args),
    /// Verify a run's output independently (counts, round trip, references, FHIR validity,
    /// comparative searches) and decide go (exit 0) or no-go (exit 3).
    Verify(verify::Args),
    /// Load a verified run into a live FHIR server (`[targets.NAME]`): exactly once, resumable,
    /// every write's pre-image recorded for `ferry rollback`.
    Load(load::Args),
    /// Undo a load: restore what the target held before it (stops, changing nothing, if someone
    /// edited a loaded resource since).
    Rollback(load::RollbackArgs),
    /// The review queue of a delta's load: resources edited in the new EHR since Ferry loaded
    /// them (never overwritten); `ferry conflicts resolve` keeps the EHR's version or writes
    /// Ferry's.
    Conflicts(conflicts::Args),
    /// List the loads: target, run, status (an unfinished one resumes with `ferry load --resume`),
    /// resources by state, journal.
    Loads(load::LoadsArgs),
    /// Write the Bulk Data `$import` manifest of a verified run, for servers that fetch and
    /// ingest NDJSON themselves.
    ImportManifest(import_manifest::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Print the man page (or write one per command into a folder).
    Man(completions::ManArgs),
}

/// Returned (as an error) when the user pressed Ctrl-C; maps to exit code 130.
#[derive(Debug, thiserror::Error)]
#[error("cancelled; nothing changed")]
pub struct Cancelled;

/// Options every command sees.
pub struct Global {
    pub project: Option<std::path::PathBuf>,
    pub quiet: bool,
    pub color: ColorChoice,
    /// Set on Ctrl-C; long operations poll it.
    pub cancel: ferry_core::Cancel,
}

/// Whether the running command polls the cancel flag: if not, a Ctrl-C ends the process at once
/// (every write Ferry makes is atomic, so that is safe; temporary files are swept next time).
static POLLS_CANCEL: AtomicBool = AtomicBool::new(false);

/// Ctrl-C sets the cancel flag (the command stops at its next check, discarding what it had
/// not committed, and exits 130); a second Ctrl-C, or one during a command that does not poll,
/// exits 130 at once.
pub fn install_ctrlc(cancel: &ferry_core::Cancel) {
    let c = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if c.is_cancelled() || !POLLS_CANCEL.load(Ordering::SeqCst) {
            eprintln!("\nferry: cancelled; nothing changed");
            std::process::exit(crate::exit::CANCELLED.into());
        }
        c.cancel();
    });
}

/// Says that the running command polls the cancel flag (a reader that does, such as `sql`).
pub fn polls_cancel() {
    POLLS_CANCEL.store(true, Ordering::SeqCst);
}

impl Global {
    pub fn load_project(&self) -> anyhow::Result<Project> {
        Ok(Project::discover(self.project.as_deref())?)
    }

    /// The project opened for reading (never waits for a writer).
    pub fn reader(&self) -> anyhow::Result<Session> {
        Ok(Session::reader(self.load_project()?, Actor::from_env())?)
    }

    /// The project opened for a command that writes: takes the project lock, repairs what a
    /// killed command left behind. `polls_cancel`: the command checks the cancel flag.
    pub fn writer(&self, command: &str, polls_cancel: bool) -> anyhow::Result<Session> {
        POLLS_CANCEL.store(polls_cancel, Ordering::SeqCst);
        let session = Session::writer(self.load_project()?, Actor::from_env(), command)?;
        if !self.quiet {
            report_repair(&session.repaired);
        }
        Ok(session)
    }

    /// A progress bar, shown on a terminal unless quiet or printing JSON.
    pub fn bar(&self, json: bool) -> crate::progress::Bar {
        crate::progress::Bar::new(!self.quiet && !json)
    }
}

/// Says (on stderr) what the repair at opening did, when it did anything a user should know.
fn report_repair(r: &ferry_ops::layout::Repair) {
    for id in &r.finished {
        eprintln!(
            "note: run {id} was recorded but its output was not yet in place (a command was interrupted); moved it to output/run-{id:04}"
        );
    }
    for id in &r.discarded {
        eprintln!(
            "note: removed the output of run {id}, which an interrupted command wrote but never recorded"
        );
    }
}

pub fn exec(cli: Cli, cancel: ferry_core::Cancel) -> anyhow::Result<u8> {
    let global = Global {
        project: cli.project,
        quiet: cli.quiet,
        color: cli.color,
        cancel,
    };
    match cli.command {
        Command::Init(args) => init::exec(args, &global),
        Command::Library(args) => library::exec(args, &global),
        Command::Generate(args) => generate::exec(args, &global),
        Command::Demo(args) => demo::exec(args, &global),
        Command::Stage(args) => stage::exec(args, &global),
        Command::Snapshots(args) => snapshots::exec(args, &global),
        Command::Sql(args) => sql::exec(args, &global),
        Command::Profile(args) => profile::exec(args, &global),
        Command::Map(args) => map::exec(args, &global),
        Command::Audit(args) => audit::exec(args, &global),
        Command::AuditTrail(args) => audit_trail::exec(args, &global),
        Command::Check(args) => check::exec(args, &global),
        Command::Dedupe(args) => dedupe::exec(args, &global),
        Command::Run(args) => run::exec(args, &global),
        Command::Runs(args) => runs::exec(args, &global),
        Command::Runbook(args) => runbook::exec(args, &global),
        Command::Exceptions(args) => exceptions::exec(args, &global),
        Command::Conflicts(args) => conflicts::exec(args, &global),
        Command::Report(args) => report::exec(args, &global),
        Command::Sample(args) => sample::exec(args, &global),
        Command::Verify(args) => verify::exec(args, &global),
        Command::Load(args) => load::exec(args, &global),
        Command::Rollback(args) => load::rollback(args, &global),
        Command::Loads(args) => load::loads(args, &global),
        Command::ImportManifest(args) => import_manifest::exec(args, &global),
        Command::Completions(args) => completions::exec(args, &global),
        Command::Man(args) => completions::man(args, &global),
    }
}
