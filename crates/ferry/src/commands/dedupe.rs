//! `ferry dedupe`: probable duplicate patients by probabilistic record linkage (docs/dedupe.md),
//! and `ferry dedupe review` to accept or reject clusters (decisions in mappings/duplicates.toml).
//!
//! The terminal shows source keys only; values are in the JSON and HTML reports (PHI).

use crate::commands::Global;
use crate::format;
use anyhow::{Context, Result, bail};
use ferry_link::report;
use ferry_link::{Decisions, review};
use ferry_ops::Project;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::time::Instant;

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

fn report_stem(snapshot: u64, against: bool) -> String {
    if against {
        format!("dedupe-against-{snapshot:04}")
    } else {
        format!("dedupe-{snapshot:04}")
    }
}

/// The likely-PHI labels of `ferry profile`'s report of this snapshot (`reports/profile-NNNN.json`),
/// table -> column -> kind; empty when the snapshot was not profiled (or the report is unreadable:
/// the proposals then go by column names alone).
fn profile_phi_labels(
    project: &Project,
    snapshot: u64,
) -> HashMap<String, std::collections::BTreeMap<String, ferry_profile::model::PhiKind>> {
    let path = project
        .reports_dir()
        .join(format!("profile-{snapshot:04}.json"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return HashMap::new();
    };
    let Ok(profile) = serde_json::from_str::<ferry_profile::model::SnapshotProfile>(&text) else {
        return HashMap::new();
    };
    if profile.snapshot != snapshot {
        return HashMap::new();
    }
    profile
        .tables
        .iter()
        .map(|t| {
            let labels = t
                .columns
                .iter()
                .filter_map(|c| c.phi.map(|k| (c.name.clone(), k)))
                .collect();
            (t.name.clone(), labels)
        })
        .collect()
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    if let Some(Action::Review(r)) = args.action {
        return review(r, global);
    }
    let started = Instant::now();
    // The writer's lock: the report and the decisions file must not race another dedupe.
    let session = global.writer("dedupe", true)?;
    let project = &session.project;
    let ws = &session.ws;
    let info = ws.snapshot(args.snapshot)?;
    let mut cfg = project.config.dedupe.clone().unwrap_or_default();
    if let Some(t) = args.threshold {
        cfg.threshold = t;
    }
    cfg.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let tables = ws.tables(info.id)?;
    let labels = profile_phi_labels(project, info.id);
    let table_columns: Vec<ferry_link::TableColumns> = tables
        .iter()
        .map(|t| ferry_link::TableColumns {
            name: t.name.clone(),
            primary_key: t.primary_key.clone(),
            columns: t.columns.iter().map(|c| c.name.clone()).collect(),
            phi: labels.get(&t.name).cloned().unwrap_or_default(),
        })
        .collect();
    let chosen = cfg
        .fill_defaults(&table_columns)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !chosen.is_empty() && !global.quiet {
        eprintln!(
            "No [dedupe] columns in ferry.toml; chose from column names{} (add a [dedupe] section to change):",
            if labels.is_empty() {
                " (run `ferry profile` first to use its PHI labels too)"
            } else {
                " and the profile's PHI labels"
            }
        );
        for c in &chosen {
            eprintln!("  {c}");
        }
    }
    let table_name = cfg.table.clone().unwrap_or_default();
    let key_name = cfg.key.clone().unwrap_or_default();
    let Some(t) = tables.iter().find(|t| t.name == table_name) else {
        bail!("table `{table_name}` is not in snapshot {}", info.id);
    };
    let names = ferry_link::StagedNames {
        table: t.staged_name.clone(),
        columns: t
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.staged_name.clone()))
            .collect::<HashMap<_, _>>(),
    };
    let reader = ws.open_snapshot(Some(info.id))?;
    let bar = if !global.quiet && !args.json && std::io::stderr().is_terminal() {
        let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(8));
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {percent}% ({eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let on_event = |e: ferry_link::LinkEvent<'_>| match e {
        ferry_link::LinkEvent::Phase { name, total } => {
            bar.set_length(total);
            bar.set_position(0);
            bar.set_message(name.to_string());
        }
        ferry_link::LinkEvent::Position(n) => bar.set_position(n),
    };
    let progress = ferry_link::Progress {
        on_event: &on_event,
        cancel: Some(&global.cancel),
    };
    let mut set = ferry_link::RecordSet::new();
    let rows =
        match ferry_link::read_snapshot_with_progress(&reader, &cfg, &names, &mut set, &progress) {
            Ok(n) => n,
            Err(ferry_link::LinkError::Cancelled) => {
                return Err(crate::commands::Cancelled.into());
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot read table `{table_name}` of snapshot {}",
                    info.id
                )));
            }
        };
    let mut target_rows = 0;
    if let Some(path) = &args.against {
        let (n, _) = ferry_link::read_fhir_patients(path, &mut set)
            .with_context(|| format!("cannot read the target export `{}`", path.display()))?;
        target_rows = n;
    }
    let opts = ferry_link::LinkOptions::from_config(&cfg, args.against.is_some())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let linkage = match ferry_link::link_with_progress(&set, &opts, &progress) {
        Ok(l) => l,
        Err(ferry_link::LinkError::Cancelled) => return Err(crate::commands::Cancelled.into()),
        Err(e) => anyhow::bail!("{e}"),
    };
    bar.finish_and_clear();
    let decisions = if args.against.is_some() {
        Decisions::default()
    } else {
        Decisions::load(&project.root).map_err(|e| anyhow::anyhow!("{e}"))?
    };
    let clusters = if args.against.is_some() {
        Vec::new()
    } else {
        ferry_link::clusters(&set, &linkage, &decisions, &table_name)
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    let fields = cfg.active_fields();
    let warnings = linkage.model.warnings();
    let rep = report::build(
        &set,
        &linkage,
        &clusters,
        &fields,
        info.id,
        args.against.as_ref().map(|p| p.display().to_string()),
        &table_name,
        &key_name,
        cfg.threshold,
        duration_ms,
    );
    let (json_path, html_path) = report::write(
        &rep,
        &project.reports_dir(),
        &report_stem(info.id, args.against.is_some()),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    if !global.quiet {
        // On stderr, so `--json` keeps stdout for the summary (which lists them too).
        for w in &warnings {
            eprintln!("warning: {}", w.message);
        }
    }
    if args.json {
        let cluster_of: HashMap<usize, &str> = clusters
            .iter()
            .flat_map(|c| c.pairs.iter().map(move |&p| (p, c.id.as_str())))
            .collect();
        let summary = Summary {
            snapshot: info.id,
            table: &table_name,
            key: &key_name,
            records: rows,
            target_records: target_rows,
            compared: linkage.compared,
            threshold: cfg.threshold,
            duration_ms,
            memory_bytes: linkage.peak_bytes,
            blocking: &linkage.rules,
            warnings: &warnings,
            pairs: linkage
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
            clusters: clusters
                .iter()
                .map(|c| SummaryCluster {
                    id: &c.id,
                    status: report::status_name(c.status),
                    members: c.members.iter().map(|&i| set.key(i)).collect(),
                    survivor: set.key(c.survivor),
                    extends: c.extends.as_deref(),
                })
                .collect(),
            report: &json_path,
            html: &html_path,
        };
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(crate::exit::OK);
    }
    if global.quiet {
        return Ok(crate::exit::OK);
    }
    let accepted = clusters
        .iter()
        .filter(|c| c.status == ferry_link::Status::Accepted)
        .count();
    println!(
        "Linked {} records of `{table_name}`{} in {}: {} pairs compared, {} at or above {}, {} clusters ({} accepted, {} pending review)",
        format::thousands(rows),
        if args.against.is_some() {
            format!(
                " against {} target Patients",
                format::thousands(target_rows)
            )
        } else {
            String::new()
        },
        format::seconds(duration_ms),
        format::thousands(linkage.compared),
        format::thousands(linkage.pairs.len() as u64),
        cfg.threshold,
        clusters.len(),
        accepted,
        clusters.len() - accepted
    );
    for r in &linkage.rules {
        if r.capped_blocks > 0 {
            println!(
                "  warning: rule `{}` skipped {} blocks larger than {} ({} records); pairs only in them were not compared. Add a narrower rule or raise `max_block`",
                r.rule,
                r.capped_blocks,
                cfg.max_block,
                format::thousands(r.capped_records)
            );
        }
    }
    if args.against.is_some() {
        for p in linkage.pairs.iter().take(20) {
            println!(
                "  {} ~ {}  p={:.3}",
                set.key(p.a),
                set.key(p.b),
                p.probability
            );
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
        print_rows(&rows, clusters.len());
    }
    println!(
        "  report (PHI): {}\n  JSON (PHI):   {}",
        html_path.display(),
        json_path.display()
    );
    if args.against.is_none() && accepted < clusters.len() {
        println!("Next: ferry dedupe review --accept CLUSTER_ID (or --reject)");
    }
    Ok(crate::exit::OK)
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
fn print_rows(rows: &[[String; 4]], total: usize) {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header(["cluster", "status", "survivor", "member keys"]);
    for r in rows.iter().take(30) {
        t.add_row(r.clone());
    }
    for line in t.to_string().lines() {
        println!("  {}", line.trim_end());
    }
    if total > 30 {
        println!("  ... and {} more (see the report)", total - 30);
    }
}

fn review(args: ReviewArgs, global: &Global) -> Result<u8> {
    let session = global.writer("dedupe review", false)?;
    let project = &session.project;
    let reports = project.reports_dir();
    let path = match args.snapshot {
        Some(s) => reports.join(format!("{}.json", report_stem(s, false))),
        None => {
            let found = review::latest_report(&reports)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}",
                        ferry_link::LinkError::NoReport {
                            dir: reports.clone()
                        }
                    )
                })?;
            if !global.quiet {
                eprintln!(
                    "Reviewing the dedupe report of snapshot {} (`{}`{}); `--snapshot N` reviews another",
                    found.snapshot,
                    found.path.display(),
                    found
                        .created_at
                        .as_deref()
                        .map(|t| format!(", written {t}"))
                        .unwrap_or_default()
                );
            }
            found.path
        }
    };
    if !path.exists() {
        let s = args.snapshot.unwrap_or_default();
        bail!(
            "no dedupe report `{}`; run `ferry dedupe --snapshot {s}` first",
            path.display()
        );
    }
    let view = review::load_view(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let decisions = Decisions::load(&project.root).map_err(|e| anyhow::anyhow!("{e}"))?;
    let deciding = !(args.accept.is_empty() && args.reject.is_empty() && !args.accept_all_pending);
    let decisions = if deciding {
        let req = review::ReviewRequest {
            accept: args.accept.clone(),
            reject: args.reject.clone(),
            accept_all_pending: args.accept_all_pending,
            by: args
                .by
                .clone()
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "unknown".into()),
            at: ferry_link::decisions::now_utc(),
        };
        let (new, outcome) =
            review::review(&view, &decisions, &req).map_err(|e| anyhow::anyhow!("{e}"))?;
        let saved = new
            .save(&project.root)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if !global.quiet {
            for c in &outcome.changes {
                println!("  {}", c.describe());
            }
            let (accepted, rejected) = outcome.counts();
            println!(
                "Recorded {accepted} accepted and {rejected} rejected clusters in {}{}; `ferry run` merges accepted clusters into their survivors",
                saved.display(),
                match outcome.kept_rejected {
                    0 => String::new(),
                    1 => " (1 rejected cluster left as it is)".to_string(),
                    n => format!(" ({n} rejected clusters left as they are)"),
                }
            );
        }
        new
    } else {
        decisions
    };
    if (args.list || !deciding) && !global.quiet {
        let rows = review::statuses(&view, &decisions);
        println!(
            "Snapshot {}: {} clusters ({} pending review)",
            view.snapshot,
            rows.len(),
            rows.iter().filter(|c| c.status.decided().is_none()).count()
        );
        print_reviews(&rows);
    }
    Ok(crate::exit::OK)
}

/// Clusters with their status from the decisions: who decided and when.
fn print_reviews(rows: &[review::ClusterReview]) {
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
        println!("  {}", line.trim_end());
    }
    if rows.len() > 30 {
        println!("  ... and {} more (see the report)", rows.len() - 30);
    }
}
