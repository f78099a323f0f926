//! `ferry load`: a verified run into a live FHIR server, exactly once and resumable
//! (docs/load.md); `ferry rollback`: a load undone.

use crate::commands::Global;
use crate::{format, outln};
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The target (`[targets.NAME]` in ferry.toml).
    #[arg(long)]
    pub target: String,
    /// FHIR targets: the run to load (default: the latest).
    #[arg(long, conflicts_with = "snapshot")]
    pub run: Option<u64>,
    /// Database targets (kind = "postgres" or "mysql"): the staged snapshot whose tables are
    /// copied into the target's schema, replacing the previous copy (default: the latest).
    #[arg(long)]
    pub snapshot: Option<u64>,
    /// Never accepted: a password on the command line shows in shell history and `ps`. Set
    /// password_env or password_file in [targets.NAME] instead.
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "")]
    pub password: Option<String>,
    /// Continue this target's unfinished load: only resources with no recorded answer are sent.
    #[arg(long)]
    pub resume: bool,
    /// Load a run whose last verification is not GO (recorded in the load's journal).
    #[arg(long)]
    pub unverified: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct LoadsArgs {
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The target the load went to.
    #[arg(long)]
    pub target: String,
    /// The load to undo (its number, as `ferry load` printed it).
    #[arg(long)]
    pub load: u64,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    if args.password.is_some() {
        anyhow::bail!(
            "ferry takes no password on the command line (it would show in shell history and to every user through `ps`); set password_env = \"VAR\" or password_file = \"PATH\" in [targets.{}] of ferry.toml (docs/load.md)",
            args.target
        );
    }
    let mut session = global.writer("load", true)?;
    if ferry_ops::load::is_database_target(&session, &args.target)? {
        if args.run.is_some() || args.resume || args.unverified {
            let snapshot = session
                .ws
                .snapshot(None)
                .map_or_else(|_| "N".to_string(), |s| s.id.to_string());
            anyhow::bail!(
                "target `{}` is a database (kind = \"postgres\" or \"mysql\"): it takes a staged snapshot, `ferry load --target {} --snapshot {snapshot}`; --run, --resume and --unverified are for kind = \"fhir\" targets",
                args.target,
                args.target
            );
        }
        return copy_snapshot(args, global, &mut session);
    }
    if args.snapshot.is_some() {
        let run = session
            .ws
            .run(None)
            .map_or_else(|_| "N".to_string(), |r| r.id.to_string());
        anyhow::bail!(
            "target `{}` is a FHIR server (kind = \"fhir\"): it takes a run, `ferry load --target {} --run {run}`; --snapshot is for kind = \"postgres\" or \"mysql\" targets",
            args.target,
            args.target
        );
    }
    let req = ferry_ops::load::LoadRequest {
        target: args.target.clone(),
        run: args.run,
        resume: args.resume,
        unverified: args.unverified,
        cancel: global.cancel.clone(),
    };
    let bar = global.bar(args.json);
    let s = ferry_ops::load::load(&mut session, &req, &bar)?;
    bar.finish();
    if args.json {
        crate::out::json("load", &s)?;
    } else if !global.quiet {
        let secs = (s.duration_ms as f64 / 1000.0).max(0.001);
        outln!(
            "Load {} of run {} into `{}` in {}: {} resources; {} sent ({:.0}/s), {} already on the server unchanged, {} done before (resumed), {} refused",
            s.load,
            s.run,
            s.target,
            format::seconds(s.duration_ms),
            format::thousands(s.resources),
            format::thousands(s.sent),
            s.sent as f64 / secs,
            format::thousands(s.unchanged),
            format::thousands(s.already_done),
            format::thousands(s.failed)
        )?;
        outln!(
            "  {} requests, {} retried, {} batch entries resent alone; Provenance/{}",
            format::thousands(s.requests),
            format::thousands(s.retries),
            format::thousands(s.entry_retries),
            s.provenance
        )?;
        if s.transactions > 0 {
            outln!(
                "  {} resources in groups that land together, sent in {} transactions",
                format::thousands(s.grouped),
                format::thousands(s.transactions)
            )?;
        }
        let order: Vec<String> = s
            .types
            .iter()
            .map(|(t, n)| format!("{t} {}", format::thousands(*n)))
            .collect();
        outln!("  order: {}", order.join(", "))?;
        for (t, id, status) in s.failures.iter().take(20) {
            outln!(
                "  refused: {t}/{id} (HTTP {status}); the server's OperationOutcome is in the journal"
            )?;
        }
        if s.deleted + s.marked_entered_in_error > 0 {
            outln!(
                "  retired (their rows deleted or changed in the legacy system): {} deleted, {} marked entered-in-error, by their modules' `deleted` policy",
                format::thousands(s.deleted),
                format::thousands(s.marked_entered_in_error)
            )?;
        }
        if !s.conflicts.is_empty() {
            outln!(
                "  {} resources were changed or deleted in `{}` since Ferry loaded them: not overwritten; each waits for review (journal state `conflict`, its server version kept as the pre-image)",
                format::thousands(s.conflicts.len() as u64),
                s.target
            )?;
            for (t, id) in s.conflicts.iter().take(20) {
                outln!("  conflict: {t}/{id}")?;
            }
        }
        outln!("  journal: {}", s.journal.display())?;
        outln!(
            "Next: ferry verify --target {} (or undo: ferry rollback --target {} --load {})",
            s.target,
            s.target,
            s.load
        )?;
    }
    Ok(if s.failed == 0 && s.conflicts.is_empty() {
        crate::exit::OK
    } else {
        crate::exit::FAILURE
    })
}

/// A database target: the snapshot's tables copied in, verified, and a line per table.
fn copy_snapshot(args: Args, global: &Global, session: &mut ferry_ops::Session) -> Result<u8> {
    let req = ferry_ops::legacydb::CopyRequest {
        target: args.target.clone(),
        snapshot: args.snapshot,
        cancel: global.cancel.clone(),
    };
    let bar = global.bar(args.json);
    let s = ferry_ops::legacydb::copy(session, &req, &bar)?;
    bar.finish();
    if args.json {
        crate::out::json("load", &s)?;
        return Ok(crate::exit::OK);
    }
    if global.quiet {
        return Ok(crate::exit::OK);
    }
    let r = &s.report;
    let copy_secs = (r.copy_ms as f64 / 1000.0).max(0.001);
    outln!(
        "Copied snapshot {} into `{}` of `{}` ({}) in {}: {} tables, {} rows ({:.0} rows/s copying){}",
        r.snapshot,
        r.schema,
        r.target,
        r.server,
        format::seconds(r.duration_ms),
        r.tables.len(),
        format::thousands(r.rows),
        r.rows as f64 / copy_secs,
        match r.replaced_snapshot {
            Some(p) => format!("; replaced the copy of snapshot {p}"),
            None => String::new(),
        }
    )?;
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header([
        "table",
        "rows",
        "read back",
        "typed columns",
        "content hash",
    ]);
    for tr in &r.tables {
        t.add_row([
            tr.table.clone(),
            format::thousands(tr.rows),
            format::thousands(tr.rows_read_back),
            format!("{} of {}", tr.typed_columns, tr.columns.len()),
            if tr.matches {
                "matches".to_string()
            } else {
                "DIFFERS".to_string()
            },
        ]);
    }
    for line in t.to_string().lines() {
        outln!("  {}", line.trim_end())?;
    }
    outln!("  record: {}", s.record.display())?;
    Ok(crate::exit::OK)
}

pub fn rollback(args: RollbackArgs, global: &Global) -> Result<u8> {
    let mut session = global.writer("rollback", true)?;
    let bar = global.bar(args.json);
    let s = ferry_ops::load::rollback(&mut session, &args.target, args.load, &global.cancel, &bar)?;
    bar.finish();
    if args.json {
        crate::out::json("rollback", &s)?;
    } else if !global.quiet {
        if s.conflicts.is_empty() {
            outln!(
                "Rolled load {} back on `{}` in {}: {} resources restored (deleted or put back as they were), {} needed nothing",
                s.load,
                args.target,
                format::seconds(s.duration_ms),
                format::thousands(s.restored),
                format::thousands(s.untouched)
            )?;
        } else {
            outln!(
                "Rollback of load {} stopped: {} resources were changed on the server after the load, and Ferry never overwrites someone else's edit ({} restored before stopping):",
                s.load,
                format::thousands(s.conflicts.len() as u64),
                format::thousands(s.restored)
            )?;
            for (t, id, what) in s.conflicts.iter().take(30) {
                outln!("  {t}/{id}: {what}")?;
            }
            outln!(
                "Decide with the EHR's team what each should be, then run `ferry rollback --target {} --load {}` again",
                args.target,
                s.load
            )?;
        }
    }
    Ok(if s.conflicts.is_empty() {
        crate::exit::OK
    } else {
        crate::exit::FAILURE
    })
}

pub fn loads(args: LoadsArgs, global: &Global) -> Result<u8> {
    let session = global.reader()?;
    let loads = ferry_ops::load::loads(&session)?;
    if args.json {
        crate::out::json("loads", &serde_json::json!({ "loads": loads }))?;
        return Ok(crate::exit::OK);
    }
    if loads.is_empty() {
        outln!("No loads yet. `ferry load --target NAME` loads a verified run (docs/load.md).")?;
        return Ok(crate::exit::OK);
    }
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header([
        "#",
        "target",
        "run",
        "started at",
        "status",
        "resources",
        "by state",
        "journal",
    ]);
    for l in &loads {
        let states: Vec<String> = l
            .states
            .iter()
            .map(|(k, v)| format!("{k} {}", format::thousands(*v)))
            .collect();
        t.add_row([
            l.load.to_string(),
            l.target.clone(),
            l.run.map(|r| r.to_string()).unwrap_or_default(),
            l.started_at.clone(),
            l.status.clone(),
            l.resources.map(format::thousands).unwrap_or_default(),
            states.join(", "),
            l.journal.display().to_string(),
        ]);
    }
    for line in t.to_string().lines() {
        outln!("{}", line.trim_end())?;
    }
    Ok(crate::exit::OK)
}
