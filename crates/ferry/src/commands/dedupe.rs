//! `ferry dedupe`: probable duplicate patients by probabilistic record linkage (docs/dedupe.md),
//! and `ferry dedupe review` to accept or reject clusters (decisions in mappings/duplicates.toml).
//!
//! The terminal shows source keys only; values are in the JSON and HTML reports (PHI).

use crate::commands::Global;
use crate::{format, outln};
use anyhow::Result;
use ferry_link::{report, review};
use ferry_ops::dedupe::DedupeOutcome;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    /// Snapshot to look for duplicates in (default: the latest).
    #[arg(long)]
    pub snapshot: Option<u64>,
    /// Link pairs whose match probability is at least this (default: `threshold` under
    /// [dedupe] in ferry.toml, else 0.9).
    #[arg(long, value_name = "P")]
    pub threshold: Option<f64>,
    /// Match the snapshot's patients against the target's Patients (a FHIR R4 NDJSON export)
    /// instead of against each other.
    #[arg(long, value_name = "NDJSON")]
    pub against: Option<PathBuf>,
    /// Print a JSON summary (keys and probabilities, no values) on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List the clusters of the last `ferry dedupe`, or accept or reject them.
    Review(ReviewArgs),
}

#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    /// The snapshot whose dedupe report to review (default: the report `ferry dedupe` wrote
    /// last).
    #[arg(long)]
    pub snapshot: Option<u64>,
    /// List the clusters and their status (the default when nothing is accepted or rejected).
    #[arg(long)]
    pub list: bool,
    /// Accept these clusters (ids, comma-separated): their records are one patient.
    #[arg(long, value_delimiter = ',', value_name = "CLUSTER_ID")]
    pub accept: Vec<String>,
    /// Reject these clusters (ids, comma-separated): their records are different patients.
    #[arg(long, value_delimiter = ',', value_name = "CLUSTER_ID")]
    pub reject: Vec<String>,
    /// Accept every pending cluster.
    #[arg(long)]
    pub accept_all_pending: bool,
    /// Who decides (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    if let Some(Action::Review(r)) = args.action {
        return review(r, global);
    }
    // The writer's lock: the report and the decisions file must not race another dedupe.
    let mut session = global.writer("dedupe", true)?;
    let bar = global.bar(args.json);
    let req = ferry_ops::dedupe::DedupeRequest {
        snapshot: args.snapshot,
        threshold: args.threshold,
        against: args.against.clone(),
        cancel: global.cancel.clone(),
    };
    let o = ferry_ops::dedupe::dedupe(&mut session, &req, &bar)?;
    bar.finish();
    print_outcome(&o, args.json, global.quiet)?;
    Ok(crate::exit::OK)
}

/// Prints a dedupe's outcome: the chosen comparisons and warnings on stderr, then the JSON
/// summary or the terminal summary (source keys only) on stdout. `ferry demo` prints it too.
pub fn print_outcome(o: &DedupeOutcome, json: bool, quiet: bool) -> Result<()> {
    if !quiet {
        // On stderr, so `--json` keeps stdout for the summary (which lists them too).
        if !o.chosen.is_empty() {
            eprintln!(
                "No [dedupe] columns in ferry.toml; chose from column names{} (add a [dedupe] section to change):",
                if o.used_profile {
                    " and the profile's PHI labels"
                } else {
                    " (run `ferry profile` first to use its PHI labels too)"
                }
            );
            for c in &o.chosen {
                eprintln!("  {c}");
            }
        }
        for w in &o.warnings {
            eprintln!("warning: {}", w.message);
        }
    }
    let set = &o.set;
    if json {
        let cluster_of: HashMap<usize, &str> = o
            .clusters
            .iter()
            .flat_map(|c| c.pairs.iter().map(move |&p| (p, c.id.as_str())))
            .collect();
        let summary = Summary {
            snapshot: o.snapshot,
            table: &o.table,
            key: &o.key,
            records: o.records,
            target_records: o.target_records,
            compared: o.linkage.compared,
            threshold: o.threshold,
            duration_ms: o.duration_ms,
            memory_bytes: o.linkage.peak_bytes,
            blocking: &o.linkage.rules,
            warnings: &o.warnings,
            pairs: o
                .linkage
                .pairs
                .iter()
                .enumerate()
                .map(|(k, p)| SummaryPair {
                    a: set.key(p.a),
                    b: set.key(p.b),
                    probability: p.probability,
                    cluster: cluster_of.get(&k).copied(),
                })
                .collect(),
            clusters: o
                .clusters
                .iter()
                .map(|c| SummaryCluster {
                    id: &c.id,
                    status: report::status_name(c.status),
                    members: c.members.iter().map(|&i| set.key(i)).collect(),
                    survivor: set.key(c.survivor),
                    extends: c.extends.as_deref(),
                })
                .collect(),
            report: &o.json,
            html: &o.html,
        };
        return crate::out::json("dedupe", &summary);
    }
    if quiet {
        return Ok(());
    }
    let accepted = o.accepted();
    let clusters = &o.clusters;
    outln!(
        "Linked {} records of `{}`{} in {}: {} pairs compared, {} at or above {}, {} clusters ({} accepted, {} pending review)",
        format::thousands(o.records),
        o.table,
        if o.against {
            format!(
                " against {} target Patients",
                format::thousands(o.target_records)
            )
        } else {
            String::new()
        },
        format::seconds(o.duration_ms),
        format::thousands(o.linkage.compared),
        format::thousands(o.linkage.pairs.len() as u64),
        o.threshold,
        clusters.len(),
        accepted,
        clusters.len() - accepted
    )?;
    for r in &o.linkage.rules {
        if r.capped_blocks > 0 {
            outln!(
                "  warning: rule `{}` skipped {} blocks larger than {} ({} records); pairs only in them were not compared. Add a narrower rule or raise `max_block`",
                r.rule,
                r.capped_blocks,
                o.max_block,
                format::thousands(r.capped_records)
            )?;
        }
    }
    if o.against {
        for p in o.linkage.pairs.iter().take(20) {
            outln!(
                "  {} ~ {}  p={:.3}",
                set.key(p.a),
                set.key(p.b),
                p.probability
            )?;
        }
    } else {
        let rows: Vec<[String; 4]> = clusters
            .iter()
            .take(30)
            .map(|c| {
                [
                    c.id.clone(),
                    report::status_name(c.status).to_string(),
                    set.key(c.survivor).to_string(),
                    c.members
                        .iter()
                        .map(|&i| set.key(i))
                        .collect::<Vec<_>>()
                        .join(", "),
                ]
            })
            .collect();
        print_rows(&rows, clusters.len())?;
    }
    outln!(
        "  report (PHI): {}\n  JSON (PHI):   {}",
        o.html.display(),
        o.json.display()
    )?;
    if !o.against && accepted < clusters.len() {
        outln!("Next: ferry dedupe review --accept CLUSTER_ID (or --reject)")?;
    }
    Ok(())
}

#[derive(serde::Serialize)]
struct Summary<'a> {
    snapshot: u64,
    table: &'a str,
    key: &'a str,
    records: u64,
    target_records: u64,
    compared: u64,
    threshold: f64,
    duration_ms: u64,
    memory_bytes: usize,
    blocking: &'a [ferry_link::engine::RuleStats],
    warnings: &'a [ferry_link::engine::ModelWarning],
    pairs: Vec<SummaryPair<'a>>,
    clusters: Vec<SummaryCluster<'a>>,
    report: &'a std::path::Path,
    html: &'a std::path::Path,
}

#[derive(serde::Serialize)]
struct SummaryPair<'a> {
    a: &'a str,
    b: &'a str,
    probability: f64,
    cluster: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct SummaryCluster<'a> {
    id: &'a str,
    status: &'static str,
    members: Vec<&'a str>,
    survivor: &'a str,
    extends: Option<&'a str>,
}

/// Clusters as (id, status, survivor, member keys), the first 30 of `total`.
fn print_rows(rows: &[[String; 4]], total: usize) -> std::io::Result<()> {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header(["cluster", "status", "survivor", "member keys"]);
    for r in rows.iter().take(30) {
        t.add_row(r.clone());
    }
    for line in t.to_string().lines() {
        outln!("  {}", line.trim_end())?;
    }
    if total > 30 {
        outln!("  ... and {} more (see the report)", total - 30)?;
    }
    Ok(())
}

fn review(args: ReviewArgs, global: &Global) -> Result<u8> {
    let mut session = global.writer("dedupe review", false)?;
    let req = ferry_ops::dedupe::ReviewRequest {
        snapshot: args.snapshot,
        accept: args.accept,
        reject: args.reject,
        accept_all_pending: args.accept_all_pending,
        by: args.by,
    };
    let o = ferry_ops::dedupe::review(&mut session, &req)?;
    if global.quiet {
        return Ok(crate::exit::OK);
    }
    if o.found_latest {
        eprintln!(
            "Reviewing the dedupe report of snapshot {} (`{}`{}); `--snapshot N` reviews another",
            o.snapshot,
            o.report.display(),
            o.report_written
                .as_deref()
                .map(|t| format!(", written {t}"))
                .unwrap_or_default()
        );
    }
    if let Some((outcome, saved)) = &o.recorded {
        for c in &outcome.changes {
            outln!("  {}", c.describe())?;
        }
        let (accepted, rejected) = outcome.counts();
        outln!(
            "Recorded {accepted} accepted and {rejected} rejected clusters in {}{}; `ferry run` merges accepted clusters into their survivors",
            saved.display(),
            match outcome.kept_rejected {
                0 => String::new(),
                1 => " (1 rejected cluster left as it is)".to_string(),
                n => format!(" ({n} rejected clusters left as they are)"),
            }
        )?;
    }
    if args.list || o.recorded.is_none() {
        let rows = &o.statuses;
        outln!(
            "Snapshot {}: {} clusters ({} pending review)",
            o.snapshot,
            rows.len(),
            rows.iter().filter(|c| c.status.decided().is_none()).count()
        )?;
        print_reviews(rows)?;
    }
    Ok(crate::exit::OK)
}

/// Clusters with their status from the decisions: who decided and when.
fn print_reviews(rows: &[review::ClusterReview]) -> std::io::Result<()> {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header(["cluster", "status", "by", "on", "survivor", "member keys"]);
    for c in rows.iter().take(30) {
        let (by, on) = c
            .status
            .decided()
            .map(|d| (d.by.clone(), d.at.clone()))
            .unwrap_or_default();
        t.add_row([
            c.id.clone(),
            c.status.name().to_string(),
            by,
            on,
            c.survivor.clone(),
            c.members.join(", "),
        ]);
    }
    for line in t.to_string().lines() {
        outln!("  {}", line.trim_end())?;
    }
    if rows.len() > 30 {
        outln!("  ... and {} more (see the report)", rows.len() - 30)?;
    }
    Ok(())
}
