//! `ferry demo`: a synthetic legacy clinic, migrated end to end with every stage Ferry has,
//! printing what happened. Exits 1 when the books do not balance.

use crate::commands::{Global, generate, stage};
use crate::{format, outln};
use anyhow::{Context, Result, bail};
use ferry_ops::{Actor, Project, Session};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Patients in the generated clinic.
    #[arg(long, default_value_t = 1000)]
    pub patients: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Project folder to create (default: a new folder under the system's temporary folder, kept
    /// so you can explore it afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let quiet = global.quiet;
    let say = |s: String| -> std::io::Result<()> {
        if !quiet {
            outln!("{s}")?;
        }
        Ok(())
    };
    let dir = match &args.dir {
        // Absolute, so that nothing recorded depends on where the demo was started.
        Some(d) => {
            std::path::absolute(d).with_context(|| format!("cannot resolve `{}`", d.display()))?
        }
        None => tempfile::Builder::new()
            .prefix("ferry-demo-")
            .tempdir()
            .context("cannot create a temporary folder for the demo")?
            .keep(),
    };
    let started = Instant::now();
    say(format!(
        "Ferry demo: a synthetic legacy occupational-health clinic ({} patients, seed {}), staged, profiled, audited and migrated to FHIR R4.\n",
        format::thousands(args.patients),
        args.seed
    ))?;

    // 1. The project.
    ferry_ops::init::create_project(&dir, "ferry-demo", None)?;
    say(format!(
        "1. Created a migration project in {}",
        dir.display()
    ))?;

    // 2. The legacy snapshot.
    let legacy = dir.join("legacy");
    let t = Instant::now();
    let gen_args = generate::Args {
        out: legacy.clone(),
        patients: args.patients,
        seed: args.seed,
        sql_only: false,
        csv_only: false,
        xlsx: false,
        gzip: false,
        days_later: None,
    };
    let (manifest, _) = generate::run(&gen_args, !quiet)?;
    let dump = legacy.join("clinic.sql");
    let dump_size = std::fs::metadata(&dump).map(|m| m.len()).unwrap_or(0);
    let expected_rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();
    say(format!(
        "2. Generated the legacy clinic in {}: {} tables, {} rows; clinic.sql is {} in mysqldump's shape, \
         csv/ holds {} exports ({} Windows-1252, {} pipe-delimited, {} with a BOM).\n   \
         Seeded on purpose (legacy/manifest.json): {} duplicate patients, {} orphan rows, {} out-of-range values, \
         {} missing required fields, {} unmapped codes.",
        format::seconds(t.elapsed().as_millis() as u64),
        manifest.tables.len(),
        format::thousands(expected_rows),
        format::bytes(dump_size),
        manifest.files.iter().filter(|f| f.table.is_some()).count(),
        manifest
            .files
            .iter()
            .filter(|f| f.encoding.eq_ignore_ascii_case("windows-1252"))
            .count(),
        manifest
            .files
            .iter()
            .filter(|f| f.delimiter.as_deref() == Some("|"))
            .count(),
        manifest.files.iter().filter(|f| f.bom).count(),
        summary(&manifest, "duplicates"),
        summary(&manifest, "orphan"),
        summary(&manifest, "out_of_range"),
        summary(&manifest, "missing_required"),
        summary(&manifest, "unmapped_code"),
    ))?;

    // 3. Stage the dump and the CSV export as two snapshots.
    let mut session = Session::writer(Project::load(&dir)?, Actor::from_env(), "demo")?;
    let bar = global.bar(false);
    let stage_req = |paths: Vec<PathBuf>, label: &str| ferry_ops::stage::StageRequest {
        paths,
        label: Some(label.to_string()),
        cancel: global.cancel.clone(),
        ..Default::default()
    };
    let from_dump = ferry_ops::stage::stage(
        &mut session,
        &stage_req(vec![dump.clone()], "demo-dump"),
        &bar,
    )?;
    bar.finish();
    say(format!(
        "\n3. Staged the dump as snapshot {} without a database server:",
        from_dump.snapshot
    ))?;
    if !quiet {
        stage::print_summary(&from_dump)?;
    }
    let from_csv = ferry_ops::stage::stage(
        &mut session,
        &stage_req(vec![legacy.join("csv")], "demo-csv"),
        &bar,
    )?;
    bar.finish();
    say(format!(
        "\n4. Staged the CSV export as snapshot {} (dialects and encodings detected per file):",
        from_csv.snapshot
    ))?;
    if !quiet {
        stage::print_summary(&from_csv)?;
    }

    // 5. The books: every table's rows against the ground truth.
    say(
        "\n5. The books (rows per table: manifest = dump snapshot = CSV snapshot + rejected):"
            .into(),
    )?;
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header(["table", "manifest", "dump", "csv", "csv rejected", ""]);
    let mut bad = Vec::new();
    for tm in &manifest.tables {
        let dump_rows = rows_of(&from_dump, &tm.name);
        let csv_rows = rows_of(&from_csv, &tm.name);
        let rejected = rejected_in(&session.ws, from_csv.snapshot, &tm.name)?;
        let balanced =
            dump_rows == Some(tm.rows) && csv_rows.map(|r| r + rejected) == Some(tm.rows);
        if !balanced {
            bad.push(tm.name.clone());
        }
        t.add_row([
            tm.name.clone(),
            format::thousands(tm.rows),
            dump_rows
                .map(format::thousands)
                .unwrap_or_else(|| "missing".into()),
            csv_rows
                .map(format::thousands)
                .unwrap_or_else(|| "missing".into()),
            format::thousands(rejected),
            if balanced {
                "ok".into()
            } else {
                "MISMATCH".into()
            },
        ]);
    }
    if !quiet {
        for line in t.to_string().lines() {
            println!("   {}", line.trim_end());
        }
    }

    // 6. The staged legacy tables stay queryable.
    let reader = session.ws.open_snapshot(Some(from_dump.snapshot))?;
    say("\n6. The staged tables stay queryable (`ferry sql`), values exactly as the legacy system held them:".into())?;
    for (what, sql) in [
        (
            "patients by sex code",
            "SELECT sex, count(*) AS n FROM patients GROUP BY sex ORDER BY n DESC",
        ),
        (
            "vaccine names as typed (top 5)",
            "SELECT vaccine_name, count(*) AS n FROM immunizations GROUP BY vaccine_name ORDER BY n DESC LIMIT 5",
        ),
    ] {
        let mut lines = Vec::new();
        let result = reader.query(sql, &mut |_, row| {
            lines.push(
                row.iter()
                    .map(|v| format!("{v}"))
                    .collect::<Vec<_>>()
                    .join(" = "),
            );
            true
        });
        match result {
            Ok(_) => say(format!("   {what}: {}", lines.join("; ")))?,
            Err(e) => say(format!("   {what}: (query not available: {e})"))?,
        }
    }

    // 7. Profile: the data migration map for the reviewers (its JSON holds the PHI labels
    // `ferry dedupe` uses in step 12).
    let profile = ferry_ops::profile::profile(
        &mut session,
        Some(from_dump.snapshot),
        &ferry_profile::ProfileOptions::default(),
        &bar,
    )?;
    bar.finish();
    say(format!(
        "\n7. Profiled snapshot {} in {}: {} columns ({} likely PHI), {} candidate foreign keys.\n   \
         Migration map for the reviewers: {}\n   Report (opens offline): {}",
        profile.snapshot,
        format::seconds(profile.duration_ms),
        profile.columns,
        profile.phi_columns,
        profile.foreign_keys,
        profile.xlsx.display(),
        profile.html.display()
    ))?;

    // 8. Audit: the data-quality findings, against the generator's ground truth.
    let audited = ferry_ops::profile::audit(
        &mut session,
        Some(from_dump.snapshot),
        &ferry_audit::AuditOptions::default(),
        &bar,
    )?;
    bar.finish();
    let audit = &audited.report;
    let audit_html = &audited.html;
    let found = |check: &str| -> u64 {
        audit
            .findings
            .iter()
            .filter(|f| f.check == check)
            .map(|f| f.count)
            .sum()
    };
    let seeded = |kind: ferry_gen::DefectKind| manifest.defect_count(kind);
    let audit_lines = [
        (
            "orphan rows",
            found("orphan"),
            seeded(ferry_gen::DefectKind::Orphan),
        ),
        (
            "duplicate patients",
            found("duplicate_patient"),
            manifest.duplicates.len() as u64,
        ),
        (
            "missing required fields",
            found("missing_required"),
            seeded(ferry_gen::DefectKind::MissingRequired),
        ),
        (
            "out-of-range values",
            found("out_of_range"),
            seeded(ferry_gen::DefectKind::OutOfRange),
        ),
    ];
    say(format!(
        "\n8. Audited snapshot {} in {}: {} findings (report: {}). Against the seeded ground truth:",
        from_dump.snapshot,
        format::seconds(audit.duration_ms),
        audit.findings.len(),
        audit_html.display()
    ))?;
    for (what, got, want) in audit_lines {
        let verdict = if got == want { "ok" } else { "MISMATCH" };
        if got != want {
            bad.push(format!("audit {what}"));
        }
        say(format!(
            "   {what:<24} found {:>6}   seeded {:>6}   {verdict}",
            format::thousands(got),
            format::thousands(want)
        ))?;
    }

    // 9. Run: the module library for this clinic, staged rows -> validated FHIR R4 NDJSON.
    let installed = ferry_ops::init::install_library(&session.project, "clinic")?;
    drop(session);
    let mut session = Session::writer(Project::load(&dir)?, Actor::from_env(), "demo")?;
    let summary = ferry_ops::run::run(
        &mut session,
        &ferry_ops::run::RunRequest {
            snapshot: Some(from_dump.snapshot),
            cancel: global.cancel.clone(),
            ..Default::default()
        },
        &bar,
    )?;
    bar.finish();
    say(format!(
        "\n9. Installed the module library `clinic` ({} files; {}) and migrated snapshot {} with it ({} modules), every resource validated against FHIR R4:",
        installed.written.len(),
        if installed.settings.is_empty() {
            "no settings needed".to_string()
        } else {
            format!("set {}", installed.settings.join(", "))
        },
        from_dump.snapshot,
        summary.modules.len()
    ))?;
    if !quiet {
        crate::commands::run::print_summary(&summary)?;
    }
    for m in &summary.modules {
        if !m.balanced() {
            bad.push(format!("run books of {}", m.module));
        }
    }

    say(
        "\n10. Verified the run independently of the code that wrote it (source rows re-counted, every resource read back and compared with its re-evaluated row, references, FHIR validity, the comparative searches in checks/):"
            .to_string(),
    )?;
    let verification = ferry_ops::verify::verify(
        &mut session,
        &ferry_ops::verify::VerifyRequest {
            run: Some(summary.run),
            examples: 3,
            cancel: global.cancel.clone(),
            ..Default::default()
        },
        &bar,
    )?;
    bar.finish();
    if !quiet {
        crate::commands::verify::print(&verification, global)?;
    }
    if !verification.is_go() {
        bad.push("verification (no-go)".to_string());
    }
    let report = ferry_ops::signoff::report(&mut session, &[summary.run], None)?;
    say(format!(
        "\n11. Wrote the sign-off report (checklist, books, exceptions, verification, signatures): {}\n    Decision for run {}: {}",
        report.path.display(),
        report.decided_run,
        crate::out::verdict(report.go, global.color)
    ))?;
    say(
        "\n12. Looked for duplicate patients by probabilistic record linkage (Fellegi-Sunter, EM); accepted clusters merge in later runs (`ferry dedupe review`):"
            .to_string(),
    )?;
    let deduped = ferry_ops::dedupe::dedupe(
        &mut session,
        &ferry_ops::dedupe::DedupeRequest {
            snapshot: Some(from_dump.snapshot),
            cancel: global.cancel.clone(),
            ..Default::default()
        },
        &bar,
    )?;
    crate::commands::dedupe::print_outcome(&deduped, false, quiet)?;
    drop(session);

    say(format!(
        "\nDone in {}. Explore the project:\n   ferry -C {} snapshots 1\n   ferry -C {} sql \"SELECT * FROM patients LIMIT 5\"",
        format::seconds(started.elapsed().as_millis() as u64),
        dir.display(),
        dir.display()
    ))?;
    if !bad.is_empty() {
        bail!(
            "the books do not balance for {} check(s): {}. This is a Ferry bug; please report it with the seed and patient count",
            bad.len(),
            bad.join(", ")
        );
    }
    Ok(crate::exit::OK)
}

fn summary(m: &ferry_gen::Manifest, key: &str) -> String {
    format::thousands(m.summary.get(key).copied().unwrap_or(0))
}

fn rows_of(o: &ferry_ops::stage::StageOutcome, table: &str) -> Option<u64> {
    o.tables.iter().find(|t| t.name == table).map(|t| t.rows)
}

fn rejected_in(ws: &ferry_store::Workspace, snapshot: u64, table: &str) -> Result<u64> {
    let reader = ws.open_snapshot(Some(snapshot))?;
    let mut n = 0u64;
    let sql = format!(
        "SELECT count(*) FROM _ferry_rejected_rows WHERE table_name = '{}'",
        table.replace('\'', "''")
    );
    reader.query(&sql, &mut |_, row| {
        if let Some(ferry_store::QueryValue::Integer(i)) = row.first() {
            n = *i as u64;
        }
        true
    })?;
    Ok(n)
}
