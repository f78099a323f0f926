//! `ferry run`: staged rows -> mapping modules -> validated FHIR R4 NDJSON in a new run folder,
//! with the books.

use crate::commands::Global;
use crate::{format, outln};
use anyhow::Result;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    Iteration,
    Rehearsal,
    GoLive,
    /// Only what changed since `--base RUN`.
    Delta,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Iteration => "iteration",
            Kind::Rehearsal => "rehearsal",
            Kind::GoLive => "go-live",
            Kind::Delta => "delta",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only these modules (comma-separated names); default: every module in mappings/.
    #[arg(long, value_delimiter = ',')]
    pub modules: Option<Vec<String>>,
    /// The kind of run (default: iteration; delta with `--base`).
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// A delta run: compare the snapshot with this run (by module, key and row content) and
    /// write only new and changed rows' resources; unchanged rows are carried over, deleted
    /// ones listed.
    #[arg(long, value_name = "RUN")]
    pub base: Option<u64>,
    /// Snapshot to migrate (default: the latest).
    #[arg(long)]
    pub snapshot: Option<u64>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write FHIR transaction Bundles (PUT Type/id, at most SIZE entries each, default 500)
    /// into `bundles/` of the run's folder, modules in reference order, for loading into a
    /// FHIR server bundle by bundle.
    #[arg(long, value_name = "SIZE", num_args = 0..=1, default_missing_value = "500",
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub bundles: Option<u64>,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let mut session = global.writer("run", true)?;
    let req = ferry_ops::run::RunRequest {
        kind: args.kind.map(|k| k.as_str().to_string()),
        snapshot: args.snapshot,
        modules: args.modules.clone(),
        bundle_size: args.bundles.map(|n| n as usize),
        threads: None,
        cancel: global.cancel.clone(),
        base: args.base,
    };
    let bar = global.bar(args.json);
    let summary = ferry_ops::run::run(&mut session, &req, &bar)?;
    bar.finish();
    if args.json {
        crate::out::json("run", &summary)?;
    } else if !global.quiet {
        print_summary(&summary)?;
    }
    Ok(crate::exit::OK)
}

pub fn print_summary(s: &ferry_run::RunSummary) -> Result<()> {
    let resources: u64 = s.outputs.iter().map(|o| o.resources).sum();
    outln!(
        "Run {} of snapshot {} in {}: {} resources in {} files under {}",
        s.run,
        s.snapshot,
        format::seconds(s.duration_ms),
        format::thousands(resources),
        s.outputs.len(),
        s.output_dir
    )?;
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    let decided = s
        .modules
        .iter()
        .any(|m| m.migrated_by_decision + m.excluded_by_decision > 0);
    let mut header = vec![
        "module",
        "source rows",
        "migrated",
        "excluded",
        "exceptions",
        "resources",
        "books",
    ];
    let delta = s.base.is_some();
    if delta {
        header.splice(2..2, ["unchanged", "new", "changed", "deleted"]);
    }
    if decided {
        header.push("by decision (migrated / excluded)");
    }
    t.set_header(header);
    for m in &s.modules {
        let mut row = vec![m.module.clone(), format::thousands(m.source_rows)];
        if delta {
            row.extend([
                format::thousands(m.unchanged),
                format::thousands(m.new_rows),
                format::thousands(m.changed),
                format::thousands(m.deleted),
            ]);
        }
        row.extend([
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
        if decided {
            row.push(format!(
                "{} / {}",
                format::thousands(m.migrated_by_decision),
                format::thousands(m.excluded_by_decision)
            ));
        }
        t.add_row(row);
    }
    for line in t.to_string().lines() {
        outln!("  {}", line.trim_end())?;
    }
    if let Some(base) = s.base {
        outln!(
            "  A delta of run {base}: only new and changed rows' resources were written; unchanged rows are carried over from run {base}"
        )?;
        if let Some(r) = s.retired.as_ref().filter(|r| r.total() > 0) {
            outln!(
                "  {} resources no source row makes any more (deleted or changed rows): {} to delete on the target, {} to mark entered-in-error, {} only reported (each module's `deleted` policy; docs/delta.md)",
                format::thousands(r.total()),
                format::thousands(r.delete),
                format::thousands(r.entered_in_error),
                format::thousands(r.report)
            )?;
        }
    }
    if !s.bundles.is_empty() {
        let entries: u64 = s.bundles.iter().map(|b| b.entries).sum();
        outln!(
            "  {} transaction bundles ({} entries) in {}/bundles: load them in file order",
            format::thousands(s.bundles.len() as u64),
            format::thousands(entries),
            s.output_dir
        )?;
    }
    if !s.decisions.is_empty() {
        let used = s.decisions.iter().filter(|d| d.rows > 0).count();
        outln!(
            "  {} of {} reviewer decisions applied (mappings/decisions.toml; `ferry exceptions --run {}` shows each)",
            used,
            s.decisions.len(),
            s.run
        )?;
        for d in s.decisions.iter().filter(|d| d.rows == 0) {
            outln!(
                "  warning: decision `{}` ({} in module `{}`) matched no row in this run: the data or the mapping changed since it was made. Review it and remove it from mappings/decisions.toml if it no longer applies",
                d.decision,
                d.action,
                d.module
            )?;
        }
    }
    let exceptions: u64 = s.modules.iter().map(|m| m.exceptions).sum();
    if exceptions > 0 {
        outln!(
            "  {} rows are exceptions: `ferry exceptions` lists them by reason",
            format::thousands(exceptions)
        )?;
    }
    Ok(())
}
