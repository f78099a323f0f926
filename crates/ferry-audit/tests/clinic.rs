//! The audit of a generated clinic finds exactly the defects of the ground-truth manifest.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use ferry_audit::{AuditReport, Finding};
use ferry_gen::{DefectKind, Manifest};

type Keys = BTreeMap<(String, String), BTreeSet<String>>;

fn manifest_keys(m: &Manifest, kind: DefectKind) -> Keys {
    let mut out = Keys::new();
    for d in m.defects.iter().filter(|d| d.kind == kind) {
        assert_eq!(d.count, d.keys.len() as u64);
        out.entry((d.table.clone(), d.column.clone()))
            .or_default()
            .extend(d.keys.iter().map(u64::to_string));
    }
    out
}

fn found_keys(r: &AuditReport, check: &str) -> Keys {
    let mut out = Keys::new();
    for f in r.of(check) {
        assert_eq!(
            f.count,
            f.example_keys.len() as u64,
            "{check} {}: every key is kept",
            f.table
        );
        let e = out
            .entry((f.table.clone(), f.column.clone().unwrap_or_default()))
            .or_default();
        e.extend(f.example_keys.iter().cloned());
    }
    out
}

fn pairs(f: &Finding) -> BTreeSet<(u64, u64)> {
    f.example_keys
        .iter()
        .map(|k| {
            let (a, b) = k.split_once(" ~ ").expect("pair");
            (a.parse().expect("key"), b.parse().expect("key"))
        })
        .collect()
}

fn assert_matches_manifest(r: &AuditReport, m: &Manifest) {
    // Orphans: per table, the exact rows.
    assert_eq!(
        found_keys(r, "orphan"),
        manifest_keys(m, DefectKind::Orphan),
        "orphans"
    );
    // Required fields.
    assert_eq!(
        found_keys(r, "missing_required"),
        manifest_keys(m, DefectKind::MissingRequired),
        "missing required values"
    );
    // Out-of-range values.
    assert_eq!(
        found_keys(r, "out_of_range"),
        manifest_keys(m, DefectKind::OutOfRange),
        "out-of-range values"
    );
    // Duplicate patients, as a set of pairs.
    let expected: BTreeSet<(u64, u64)> = m
        .duplicates
        .iter()
        .map(|d| (d.original_id, d.duplicate_id))
        .collect();
    let dups: Vec<&Finding> = r.of("duplicate_patient").collect();
    let found = dups.first().map(|f| pairs(f)).unwrap_or_default();
    let missed: Vec<_> = expected.difference(&found).collect();
    let extra: Vec<_> = found.difference(&expected).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "duplicates: missed {missed:?} (kinds {:?}), false positives {extra:?}",
        m.duplicates
            .iter()
            .filter(|d| missed.contains(&&(d.original_id, d.duplicate_id)))
            .map(|d| d.kind)
            .collect::<Vec<_>>()
    );
    assert_eq!(found.len() as u64, m.summary["duplicates"]);
    // Date formats per column.
    let mut expected_formats = BTreeMap::new();
    for c in &m.columns {
        let real = c
            .date_formats
            .keys()
            .filter(|k| !matches!(k.as_str(), "blank" | "null" | "00/00/0000"))
            .count();
        if real > 1 {
            expected_formats.insert((c.table.clone(), c.column.clone()), c.date_formats.clone());
        }
    }
    let found_formats: BTreeMap<_, _> = r
        .of("mixed_formats")
        .map(|f| {
            (
                (f.table.clone(), f.column.clone().unwrap_or_default()),
                f.breakdown.clone(),
            )
        })
        .collect();
    assert!(!expected_formats.is_empty());
    assert_eq!(found_formats, expected_formats, "date formats per column");
    // Free text among diagnosis codes.
    let unmapped = manifest_keys(m, DefectKind::UnmappedCode);
    let key = ("problems".to_string(), "dx_code".to_string());
    let mut expected_codes = Keys::new();
    if let Some(k) = unmapped.get(&key) {
        expected_codes.insert(key, k.clone());
    }
    assert_eq!(
        found_keys(r, "code_system_mismatch"),
        expected_codes,
        "free text in problems.dx_code"
    );
    // No impossible dates are planted.
    assert_eq!(r.of("impossible_date").count(), 0, "impossible dates");
}

/// Exact duplicate rows are not planted but occur by chance (the same qualitative lab test twice
/// in one visit); an independent GROUP BY count is the oracle.
fn assert_exact_duplicates_match_sql(ws: &ferry_store::Workspace, r: &AuditReport) {
    let reader = ws.open_snapshot(None).unwrap();
    let tables = ws.tables(reader.id()).unwrap();
    for t in &tables {
        let cols: Vec<String> = t
            .columns
            .iter()
            .filter(|c| !t.primary_key.contains(&c.name))
            .map(|c| format!("\"{}\"", c.staged_name))
            .collect();
        let sql = format!(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM \"{}\" GROUP BY {})",
            t.staged_name,
            cols.join(", ")
        );
        let mut expected = 0u64;
        reader
            .query(&sql, &mut |_, row| {
                if let Some(ferry_store::QueryValue::Integer(i)) = row.first() {
                    expected = *i as u64;
                }
                true
            })
            .unwrap();
        let found: u64 = r
            .of("exact_duplicate_row")
            .filter(|f| f.table == t.name)
            .map(|f| f.count)
            .sum();
        assert_eq!(found, expected, "exact duplicate rows of {}", t.name);
    }
}

#[test]
fn audit_of_300_patient_clinic_matches_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (ws, m) = common::clinic(dir.path(), 300);
    let r = common::audit_all(&ws);
    assert_matches_manifest(&r, &m);
    assert_exact_duplicates_match_sql(&ws, &r);
}

#[test]
fn audit_of_2000_patient_clinic_matches_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (ws, m) = common::clinic(dir.path(), 2000);
    let r = common::audit_all(&ws);
    assert_matches_manifest(&r, &m);
    assert_exact_duplicates_match_sql(&ws, &r);
    // Every kind of planted duplicate occurs at this size, so each is found.
    for kind in [
        "name_typo",
        "swapped_first_last",
        "changed_surname",
        "missing_ssn",
        "transposed_dob",
    ] {
        assert!(
            m.summary
                .get(&format!("duplicates.{kind}"))
                .copied()
                .unwrap_or(0)
                > 0,
            "the 2,000-patient clinic has {kind} duplicates"
        );
    }
}

#[test]
fn json_has_no_values_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (ws, _) = common::clinic(dir.path(), 300);
    let reader = ws.open_snapshot(None).unwrap();
    // Values that must never appear: last names, birth dates and SSNs of the patients, and the
    // free text of the problem list.
    let mut secrets = BTreeSet::new();
    reader
        .query(
            "SELECT last_name, dob, ssn FROM patients UNION ALL SELECT dx_code, NULL, NULL FROM problems WHERE code_system IS NULL",
            &mut |_, row| {
                for v in row {
                    // (Zero dates such as `00/00/0000` are shapes, not values of anyone.)
                    if let ferry_store::QueryValue::Text(s) = v
                        && s.len() >= 4
                        && s.chars().any(|c| c.is_ascii_alphanumeric() && c != '0')
                    {
                        secrets.insert(s.clone());
                    }
                }
                true
            },
        )
        .unwrap();
    assert!(secrets.len() > 100);
    let r = common::audit_all(&ws);
    assert!(r.findings.iter().all(|f| f.example_values.is_empty()));
    let json = serde_json::to_string(&r).unwrap();
    let leaked: Vec<&String> = secrets
        .iter()
        .filter(|s| json.contains(&format!("\"{s}\"")) || json.contains(s.as_str()))
        .collect();
    // (The values are synthetic, so the test may name them.)
    assert!(leaked.is_empty(), "values in the JSON: {leaked:?}");

    let opts = ferry_audit::AuditOptions {
        show_values: true,
        today: Some(common::TODAY),
        ..Default::default()
    };
    let shown = ferry_audit::audit_snapshot(&ws, None, &opts).unwrap();
    let f = shown
        .of("code_system_mismatch")
        .next()
        .expect("free-text problems");
    assert_eq!(f.example_values.len(), f.example_keys.len());
    assert!(
        f.example_values
            .iter()
            .all(|v| secrets.contains(v) || v.len() < 4)
    );
    assert!(f.example_keys.len() <= 10, "10 examples by default");

    // The HTML report is self-contained and carries no values either.
    let html = dir.path().join("audit.html");
    ferry_audit::write_audit_html(&r, &html, ferry_core::atomic::Contents::Project).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("duplicate_patient"));
    assert!(!page.contains("<script") && !page.contains("http"));
    assert!(!secrets.iter().any(|s| page.contains(s.as_str())));
}

#[test]
fn today_decides_what_is_a_future_date() {
    let dir = tempfile::tempdir().unwrap();
    let (ws, _) = common::clinic(dir.path(), 300);
    let audit = |today| {
        let opts = ferry_audit::AuditOptions {
            example_keys: usize::MAX,
            today: Some(today),
            ..Default::default()
        };
        ferry_audit::audit_snapshot(&ws, None, &opts).unwrap()
    };
    let far = audit((2100, 1, 1));
    assert_eq!(far.of("future_date").count(), 0);
    let early = audit((2015, 1, 1));
    let visits = early
        .of("future_date")
        .find(|f| f.table == "visits" && f.column.as_deref() == Some("visit_dt"))
        .expect("visits after 2015 are future on 2015-01-01");
    let reader = ws.open_snapshot(None).unwrap();
    let mut n = 0;
    reader
        .query(
            "SELECT count(*) FROM visits WHERE substr(visit_dt, 1, 10) > '2015-01-01'",
            &mut |_, row| {
                if let Some(ferry_store::QueryValue::Integer(i)) = row.first() {
                    n = *i as u64;
                }
                true
            },
        )
        .unwrap();
    assert!(n > 0);
    assert_eq!(visits.count, n);
    // Planned dates (end, stop, return...) are never "future".
    assert!(
        early
            .of("future_date")
            .all(|f| !f.column.as_deref().unwrap_or("").contains("end")
                && !f.column.as_deref().unwrap_or("").contains("return"))
    );
}

#[test]
fn progress_reaches_each_phase_total_and_cancel_stops_the_audit() {
    let dir = tempfile::tempdir().unwrap();
    let (ws, _) = common::clinic(dir.path(), 300);
    let opts = ferry_audit::AuditOptions {
        today: Some(common::TODAY),
        ..Default::default()
    };
    let events = std::sync::Mutex::new(Vec::<(String, u64, u64, u64)>::new());
    let on_event = |e: ferry_audit::AuditEvent<'_>| {
        let mut ev = events.lock().unwrap();
        match e {
            ferry_audit::AuditEvent::Phase { name, total } => {
                ev.push((name.to_string(), total, 0, 0))
            }
            ferry_audit::AuditEvent::Position(n) => {
                let last = ev.last_mut().unwrap();
                assert!(n >= last.2, "positions go forward");
                last.2 = n;
                last.3 += 1;
            }
        }
    };
    let progress = ferry_audit::Progress {
        on_event: &on_event,
        cancel: None,
    };
    let with = ferry_audit::audit_snapshot_with_progress(&ws, None, &opts, &progress).unwrap();
    let without = ferry_audit::audit_snapshot(&ws, None, &opts).unwrap();
    assert_eq!(with.findings, without.findings);
    let ev = events.lock().unwrap().clone();
    let names: Vec<&str> = ev.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["reading parent keys", "auditing tables"]);
    let info = ws.snapshot(None).unwrap();
    let tables = ws.tables(info.id).unwrap();
    // Each referenced parent key column is read once.
    let parents: BTreeSet<(String, String)> = with
        .config
        .references
        .iter()
        .flatten()
        .map(|r| (r.parent_table.clone(), r.parent_column.clone()))
        .collect();
    assert!(parents.len() >= 2, "{parents:?}");
    let parent_rows: u64 = parents
        .iter()
        .map(|(t, _)| tables.iter().find(|x| &x.name == t).unwrap().rows)
        .sum();
    assert_eq!((ev[0].1, ev[0].2), (parent_rows, parent_rows));
    assert_eq!((ev[1].1, ev[1].2), (info.rows, info.rows));
    assert!(ev[1].3 >= tables.len() as u64, "{ev:?}");

    let cancel = ferry_core::Cancel::new();
    cancel.cancel();
    let progress = ferry_audit::Progress {
        on_event: &|_| {},
        cancel: Some(&cancel),
    };
    let e = ferry_audit::audit_snapshot_with_progress(&ws, None, &opts, &progress).unwrap_err();
    assert!(matches!(e, ferry_audit::AuditError::Cancelled), "{e}");
    assert_eq!(
        e.to_string(),
        "the audit was cancelled; nothing was written"
    );
}
