//! One module per command: `Args` (clap) and `exec`.

pub mod audit;
pub mod check;
pub mod dedupe;
pub mod demo;
pub mod exceptions;
pub mod generate;
pub mod init;
pub mod map;
pub mod profile;
pub mod report;
pub mod run;
pub mod sample;
pub mod snapshots;
pub mod sql;
pub mod stage;
pub mod verify;

use crate::Cli;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a migration project folder (ferry.toml, mappings/, concept-maps/, checks/, .gitignore).
    Init(init::Args),
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
    /// Probable duplicate patients (probabilistic record linkage); `dedupe review` accepts or
    /// rejects clusters.
    Dedupe(dedupe::Args),
    /// Check every mapping module before data moves: syntax, columns, functions, concept maps.
    Check(check::Args),
    /// Migrate: staged rows through the mapping modules into validated FHIR R4 NDJSON.
    Run(run::Args),
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
}

/// Returned (as an error) when the user pressed Ctrl-C; maps to exit code 130.
#[derive(Debug, thiserror::Error)]
#[error("cancelled; the workspace is unchanged")]
pub struct Cancelled;

/// Options every command sees.
pub struct Global {
    pub project: Option<std::path::PathBuf>,
    pub quiet: bool,
}

pub fn exec(cli: Cli) -> anyhow::Result<u8> {
    let global = Global {
        project: cli.project,
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Init(args) => init::exec(args, &global),
        Command::Generate(args) => generate::exec(args, &global),
        Command::Demo(args) => demo::exec(args, &global),
        Command::Stage(args) => stage::exec(args, &global),
        Command::Snapshots(args) => snapshots::exec(args, &global),
        Command::Sql(args) => sql::exec(args, &global),
        Command::Profile(args) => profile::exec(args, &global),
        Command::Map(args) => map::exec(args, &global),
        Command::Audit(args) => audit::exec(args, &global),
        Command::Check(args) => check::exec(args, &global),
        Command::Dedupe(args) => dedupe::exec(args, &global),
        Command::Run(args) => run::exec(args, &global),
        Command::Exceptions(args) => exceptions::exec(args, &global),
        Command::Report(args) => report::exec(args, &global),
        Command::Sample(args) => sample::exec(args, &global),
        Command::Verify(args) => verify::exec(args, &global),
    }
}
