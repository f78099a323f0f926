//! Profiles a generated clinic and checks the profile against the generator's manifest.

use ferry_gen::{DefectKind, GenConfig, Manifest};
use ferry_profile::model::{
    ColumnProfile, InferredType, PhiKind, SnapshotProfile, Suppressed, TableProfile,
};
use ferry_profile::{ProfileError, ProfileEvent, ProfileOptions, profile_snapshot};
use ferry_source::{InputKind, ReadOptions};
use ferry_store::{StagedFile, Workspace};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

struct Clinic {
    _dir: tempfile::TempDir,
    ws: Workspace,
    manifest: Manifest,
}

fn clinic(patients: u64) -> Clinic {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen");
    let cfg = GenConfig {
        patients,
        seed: 42,
        out_dir: out.clone(),
        sql: true,
        csv: false,
        gzip: false,
    };
    let manifest = ferry_gen::generate(&cfg, &mut |_| {}).unwrap();
    let mut ws = Workspace::open(&dir.path().join("ws")).unwrap();
    let mut writer = ws.begin_snapshot(Some("test".into())).unwrap();
    let path = out.join("clinic.sql");
    let report = ferry_source::read_file(
        &path,
        InputKind::Mysqldump,
        &ReadOptions::default(),
        &mut writer,
    )
    .unwrap();
    writer.add_file(StagedFile {
        path: report.path,
        kind: report.kind.as_str().to_string(),
        bytes: report.digest.bytes,
        sha256: report.digest.sha256,
        encoding: report.encoding,
    });
    writer.commit().unwrap();
    Clinic {
        _dir: dir,
        ws,
        manifest,
    }
}

fn profile(c: &Clinic, opts: &ProfileOptions) -> SnapshotProfile {
    profile_snapshot(&c.ws, None, opts, &|_| {}).unwrap()
}

fn table<'a>(p: &'a SnapshotProfile, name: &str) -> &'a TableProfile {
    p.tables
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no table {name}"))
}

fn column<'a>(p: &'a SnapshotProfile, t: &str, c: &str) -> &'a ColumnProfile {
    table(p, t)
        .columns
        .iter()
        .find(|x| x.name == c)
        .unwrap_or_else(|| panic!("no column {t}.{c}"))
}

fn format_count(c: &ColumnProfile, format: &str) -> u64 {
    c.formats
        .iter()
        .find(|f| f.format == format)
        .map_or(0, |f| f.count)
}

fn orphans_in_manifest(m: &Manifest, table: &str) -> u64 {
    m.defects
        .iter()
        .filter(|d| d.kind == DefectKind::Orphan && d.table == table && d.column == "patient_id")
        .map(|d| d.count)
        .sum()
}

#[test]
fn profile_matches_the_generator_manifest() {
    let c = clinic(300);
    let events = AtomicU64::new(0);
    let started = Mutex::new(Vec::new());
    let done = Mutex::new(Vec::new());
    let last_rows = AtomicU64::new(0);
    let p = profile_snapshot(&c.ws, None, &ProfileOptions::default(), &|ev| {
        events.fetch_add(1, Ordering::Relaxed);
        match ev {
            ProfileEvent::TableStarted { table, .. } => {
                started.lock().unwrap().push(table.to_string())
            }
            ProfileEvent::TableDone { table } => done.lock().unwrap().push(table.to_string()),
            ProfileEvent::Rows(n) => {
                last_rows.fetch_max(n, Ordering::Relaxed);
            }
        }
    })
    .unwrap();

    // Rows per table, and progress covering every row.
    assert_eq!(p.tables.len(), c.manifest.tables.len());
    let mut total = 0;
    for mt in &c.manifest.tables {
        let t = table(&p, &mt.name);
        assert_eq!(t.rows, mt.rows, "rows of {}", mt.name);
        assert_eq!(t.columns.len(), mt.columns.len(), "columns of {}", mt.name);
        assert_eq!(
            t.declared_primary_key,
            vec![mt.primary_key.clone()],
            "{}",
            mt.name
        );
        assert!(
            t.candidate_keys.contains(&mt.primary_key),
            "{}.{} should be a candidate key: {:?}",
            mt.name,
            mt.primary_key,
            t.candidate_keys
        );
        total += mt.rows;
    }
    assert_eq!(last_rows.load(Ordering::Relaxed), total);
    assert_eq!(started.lock().unwrap().len(), p.tables.len());
    assert_eq!(done.lock().unwrap().len(), p.tables.len());

    // NULLs, blanks and date formats per column.
    let mut date_columns = 0;
    for mc in &c.manifest.columns {
        let col = column(&p, &mc.table, &mc.column);
        assert_eq!(col.nulls, mc.nulls, "nulls of {}.{}", mc.table, mc.column);
        assert!(
            col.blanks >= mc.empty_strings,
            "blanks of {}.{}: {} < {}",
            mc.table,
            mc.column,
            col.blanks,
            mc.empty_strings
        );
        if mc.date_formats.is_empty() {
            continue;
        }
        date_columns += 1;
        for (name, &n) in &mc.date_formats {
            let what = format!("{} of {}.{}", name, mc.table, mc.column);
            match name.as_str() {
                "MM/DD/YYYY" => assert_eq!(format_count(col, "date:MM/DD/YYYY"), n, "{what}"),
                "YYYY-MM-DD" => assert_eq!(format_count(col, "date:YYYY-MM-DD"), n, "{what}"),
                "DD-Mon-YY" => assert_eq!(format_count(col, "date:DD-Mon-YY"), n, "{what}"),
                "00/00/0000" => assert_eq!(format_count(col, "date:zero"), n, "{what}"),
                "blank" => assert!(col.blanks >= n, "{what}"),
                "null" => assert_eq!(col.nulls, n, "{what}"),
                "other" => assert_eq!(n, 0, "{what}"),
                other => panic!("unknown manifest date format {other}"),
            }
        }
        assert_eq!(
            col.inferred_type,
            InferredType::Date,
            "{}.{}",
            mc.table,
            mc.column
        );
        // Found, and shown only when seen at least --min-count times.
        for (v, why) in [
            (&col.min, col.min_suppressed),
            (&col.max, col.max_suppressed),
        ] {
            assert!(
                v.is_some() != why.is_some(),
                "{}.{}: {v:?} {why:?}",
                mc.table,
                mc.column
            );
        }
    }
    assert!(date_columns >= 10, "{date_columns}");

    // Foreign keys to patients, with exact orphan counts.
    for child in [
        "visits",
        "lab_results",
        "allergies",
        "documents",
        "immunizations",
        "medications",
        "problems",
        "tb_tests",
    ] {
        let fk = p
            .foreign_keys
            .iter()
            .find(|f| f.table == child && f.column == "patient_id")
            .unwrap_or_else(|| {
                panic!(
                    "no foreign key from {child}.patient_id: {:?}",
                    p.foreign_keys
                )
            });
        assert_eq!(
            (fk.ref_table.as_str(), fk.ref_column.as_str()),
            ("patients", "patient_id")
        );
        assert_eq!(
            fk.orphans,
            orphans_in_manifest(&c.manifest, child),
            "orphans of {child}"
        );
        assert_eq!(fk.values, fk.matched + fk.orphans);
    }
    let visits = p
        .foreign_keys
        .iter()
        .find(|f| f.table == "visits" && f.column == "patient_id")
        .unwrap();
    assert!(visits.share >= 0.9 && visits.share <= 1.0);
    // Child-of-visit links are found too.
    assert!(
        p.foreign_keys
            .iter()
            .any(|f| f.table == "vitals" && f.column == "visit_id" && f.ref_table == "visits"),
        "{:?}",
        p.foreign_keys
    );
    // No foreign key starts at a declared primary key.
    for f in &p.foreign_keys {
        let t = table(&p, &f.table);
        assert_ne!(t.declared_primary_key, vec![f.column.clone()], "{f:?}");
    }

    // PHI labels.
    assert_eq!(
        column(&p, "patients", "first_name").phi,
        Some(PhiKind::Name)
    );
    assert_eq!(column(&p, "patients", "last_name").phi, Some(PhiKind::Name));
    assert_eq!(column(&p, "patients", "dob").phi, Some(PhiKind::BirthDate));
    assert_eq!(column(&p, "patients", "ssn").phi, Some(PhiKind::Ssn));
    assert_eq!(column(&p, "patients", "email").phi, Some(PhiKind::Email));
    assert_eq!(
        column(&p, "patients", "home_phone").phi,
        Some(PhiKind::Phone)
    );
    assert_eq!(column(&p, "patients", "zip").phi, Some(PhiKind::PostalCode));
    assert_eq!(
        column(&p, "clinical_notes", "note_text").phi,
        Some(PhiKind::FreeText)
    );
    assert_eq!(column(&p, "vitals", "pulse").phi, None);

    // Formats and types of a few well-known columns.
    let ssn = column(&p, "patients", "ssn");
    assert!(format_count(ssn, "ssn") > 0, "{:?}", ssn.formats);
    let phone = column(&p, "patients", "home_phone");
    assert!(
        phone
            .formats
            .first()
            .is_some_and(|f| f.format == "phone" && f.share > 0.9),
        "{:?}",
        phone.formats
    );
    let email = column(&p, "patients", "email");
    assert!(format_count(email, "email") > 0, "{:?}", email.formats);
    assert_eq!(
        column(&p, "patients", "patient_id").inferred_type,
        InferredType::Integer
    );
    assert_eq!(
        column(&p, "visits", "visit_dt").inferred_type,
        InferredType::DateTime
    );
    let dx = column(&p, "problems", "dx_code");
    assert!(format_count(dx, "code:icd10cm") > 0, "{:?}", dx.formats);

    // A key's ends are unique values, so the default --min-count 5 leaves them out (their order
    // is checked at --min-count 1 below).
    let id = column(&p, "patients", "patient_id");
    assert_eq!((&id.min, &id.max), (&None, &None));
    assert!(id.distinct.exact);
    assert_eq!(id.distinct.count, 300);

    // Suppression: nothing under the threshold is shown.
    for t in &p.tables {
        for col in &t.columns {
            for v in &col.top_values {
                assert!(
                    v.count >= 5,
                    "{}.{} shows a value seen {} times",
                    t.name,
                    col.name,
                    v.count
                );
            }
            assert!(col.top_values.len() <= 20);
        }
    }
    // Every value of a unique column is seen once: none may be shown.
    assert!(column(&p, "patients", "ssn").samples.is_empty());
    assert!(column(&p, "patients", "patient_id").top_values.is_empty());
    assert!(!column(&p, "patients", "sex").top_values.is_empty());

    // JSON round trip of the whole profile.
    let json = serde_json::to_string(&p).unwrap();
    let back: SnapshotProfile = serde_json::from_str(&json).unwrap();
    assert_eq!(back.tables.len(), p.tables.len());
    assert_eq!(back.foreign_keys.len(), p.foreign_keys.len());

    // Unnamed links only to the tightest key: the note author is a provider.
    let author: Vec<_> = p
        .foreign_keys
        .iter()
        .filter(|f| f.table == "clinical_notes" && f.column == "author_id")
        .collect();
    assert!(
        author.iter().all(|f| f.ref_table == "providers"),
        "{author:?}"
    );
    assert!(
        p.foreign_keys.iter().all(|f| f.column != "dose_no"),
        "{:?}",
        p.foreign_keys
    );
}

#[test]
fn exact_distinct_switches_to_an_estimate_at_the_limit() {
    let c = clinic(300);
    let opts = ProfileOptions {
        exact_distinct_limit: 50,
        ..ProfileOptions::default()
    };
    let p = profile(&c, &opts);
    let id = column(&p, "patients", "patient_id");
    assert!(!id.distinct.exact);
    let err = id.distinct.relative_error.unwrap();
    assert!(err > 0.0 && err < 0.02);
    assert!(
        (id.distinct.count as f64 - 300.0).abs() <= 300.0 * 4.0 * err,
        "{}",
        id.distinct.count
    );
    let sex = column(&p, "patients", "sex");
    assert!(sex.distinct.exact);
    assert!(sex.distinct.count <= 50);
    assert!(sex.top_values_exact);
    let visit_type = column(&p, "visits", "visit_type");
    assert!(visit_type.distinct.exact);
    let visits_pid = column(&p, "visits", "patient_id");
    assert!(!visits_pid.distinct.exact);
    assert!(!visits_pid.top_values_exact);
    // Uniqueness is still proven exactly (key sets are not bounded by the distinct limit), and
    // the foreign keys of columns past the limit come from a second pass, still exact.
    assert!(
        table(&p, "patients")
            .candidate_keys
            .contains(&"patient_id".to_string())
    );
    let fk = p
        .foreign_keys
        .iter()
        .find(|f| f.table == "visits" && f.column == "patient_id")
        .expect("foreign key from visits.patient_id");
    assert_eq!(fk.ref_table, "patients");
    assert_eq!(fk.orphans, orphans_in_manifest(&c.manifest, "visits"));
}

#[test]
fn no_samples_leaves_no_values() {
    let c = clinic(300);
    let opts = ProfileOptions {
        samples: false,
        small_count_threshold: 0,
        ..ProfileOptions::default()
    };
    let p = profile(&c, &opts);
    assert!(!p.options.samples);
    let mut phi_columns = 0;
    for t in &p.tables {
        for col in &t.columns {
            assert!(col.top_values.is_empty(), "{}.{}", t.name, col.name);
            assert!(col.samples.is_empty(), "{}.{}", t.name, col.name);
            if col.phi.is_some() {
                phi_columns += 1;
                assert!(
                    col.min.is_none() && col.max.is_none(),
                    "{}.{}",
                    t.name,
                    col.name
                );
                if col.non_null > col.blanks && col.inferred_type != InferredType::Binary {
                    assert_eq!(col.min_suppressed, Some(Suppressed::PhiColumn));
                    assert_eq!(col.max_suppressed, Some(Suppressed::PhiColumn));
                }
            }
        }
    }
    assert!(phi_columns >= 10, "{phi_columns}");
    // No first name, surname or date of birth anywhere in the serialized profile.
    let with = profile(
        &c,
        &ProfileOptions {
            small_count_threshold: 0,
            ..ProfileOptions::default()
        },
    );
    let names = &column(&with, "patients", "last_name").samples;
    assert!(!names.is_empty());
    let json = serde_json::to_string(&p).unwrap();
    for n in names {
        assert!(!json.contains(&format!("\"{n}\"")), "a surname leaked");
    }
}

#[test]
fn split_tables_give_the_same_profile_as_one_thread() {
    let c = clinic(300);
    let one = ProfileOptions {
        threads: 1,
        ..ProfileOptions::default()
    };
    let two = ProfileOptions {
        threads: 2,
        ..ProfileOptions::default()
    };
    let mut a = ferry_profile::profile_snapshot_split_at(&c.ws, None, &one, 1, &|_| {}).unwrap();
    let mut b = ferry_profile::profile_snapshot_split_at(&c.ws, None, &two, 1, &|_| {}).unwrap();
    for p in [&mut a, &mut b] {
        p.duration_ms = 0;
        for t in &mut p.tables {
            t.duration_ms = 0;
        }
    }
    assert_eq!(a, b);
}

#[test]
fn tables_option_selects_tables_and_rejects_unknown_ones() {
    let c = clinic(60);
    let opts = ProfileOptions {
        tables: Some(vec!["patients".into(), "visits".into()]),
        ..ProfileOptions::default()
    };
    let p = profile(&c, &opts);
    let names: Vec<&str> = p.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"patients") && names.contains(&"visits"));
    assert!(
        p.foreign_keys
            .iter()
            .all(|f| names.contains(&f.table.as_str()) && names.contains(&f.ref_table.as_str()))
    );
    let bad = ProfileOptions {
        tables: Some(vec!["no_such_table".into()]),
        ..ProfileOptions::default()
    };
    match profile_snapshot(&c.ws, None, &bad, &|_| {}) {
        Err(ProfileError::UnknownTable { table, .. }) => assert_eq!(table, "no_such_table"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_workspace_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path()).unwrap();
    let err = profile_snapshot(&ws, None, &ProfileOptions::default(), &|_| {}).unwrap_err();
    assert!(matches!(err, ProfileError::Store(_)), "{err:?}");
}

/// How many rows of `table` hold exactly `text` in `column` (read straight from the snapshot).
fn rows_holding(c: &Clinic, table: &str, column: &str, text: &str) -> i64 {
    let reader = c.ws.open_snapshot(None).unwrap();
    let q = |s: &str| s.replace('"', "\"\"");
    let sql = format!(
        "SELECT count(*) FROM \"{}\" WHERE \"{}\" = '{}'",
        q(table),
        q(column),
        text.replace('\'', "''")
    );
    let mut n = 0;
    reader
        .query(&sql, &mut |_, row| {
            if let Some(ferry_store::QueryValue::Integer(i)) = row.first() {
                n = *i;
            }
            true
        })
        .unwrap();
    n
}

/// Regression: `--no-samples` still printed min/max values seen once (a job title; in the
/// default map the min/max of SSN, MRN and last name). The map meant to leave the building
/// holds no min or max of a PHI column and none seen fewer than --min-count times.
#[test]
fn no_samples_map_holds_no_phi_and_no_rare_min_or_max() {
    let c = clinic(300);
    let opts = ProfileOptions {
        samples: false,
        ..ProfileOptions::default()
    };
    let p = profile(&c, &opts);
    assert_eq!(p.options.small_count_threshold, 5);
    let mut shown = 0;
    let mut rare = 0;
    for t in &p.tables {
        for col in &t.columns {
            let what = format!("{}.{}", t.name, col.name);
            if col.phi.is_some() {
                assert!(col.min.is_none() && col.max.is_none(), "{what}");
            }
            for (v, why) in [
                (&col.min, col.min_suppressed),
                (&col.max, col.max_suppressed),
            ] {
                match (v, why) {
                    (Some(v), None) => {
                        shown += 1;
                        let n = rows_holding(&c, &t.name, &col.name, v);
                        assert!(n >= 5, "{what}: a min/max seen {n} times is shown");
                    }
                    (None, Some(Suppressed::SmallCount)) => rare += 1,
                    (None, Some(Suppressed::PhiColumn)) => {
                        assert!(col.phi.is_some(), "{what}")
                    }
                    (None, None) => {}
                    (Some(_), Some(_)) => panic!("{what}: shown and suppressed"),
                }
            }
        }
    }
    assert!(shown > 0 && rare > 0, "shown {shown}, suppressed {rare}");
    // A key's ends are seen once each: not PHI, but small cells all the same.
    let id = column(&p, "patients", "patient_id");
    assert_eq!(id.phi, None);
    assert_eq!(id.min_suppressed, Some(Suppressed::SmallCount));
    assert_eq!(id.max_suppressed, Some(Suppressed::SmallCount));
    // Not one of the values a full profile finds at the ends of SSN, MRN and last name is
    // anywhere in the JSON of this one.
    let full = profile(
        &c,
        &ProfileOptions {
            small_count_threshold: 1,
            ..ProfileOptions::default()
        },
    );
    let json = serde_json::to_string(&p).unwrap();
    for name in ["ssn", "mrn", "last_name"] {
        let col = column(&full, "patients", name);
        assert!(col.phi.is_some(), "{name}");
        for v in [&col.min, &col.max] {
            let v = v
                .as_deref()
                .unwrap_or_else(|| panic!("{name} has a min and max"));
            assert!(
                !json.contains(&format!("\"{v}\"")),
                "{name}'s min/max leaked"
            );
        }
    }
}

/// With samples (the map that stays inside), a min/max seen fewer than --min-count times is
/// still left out; --min-count 1 shows every one.
#[test]
fn with_samples_rare_min_and_max_are_suppressed_unless_min_count_is_one() {
    let c = clinic(300);
    let at5 = profile(&c, &ProfileOptions::default());
    let at1 = profile(
        &c,
        &ProfileOptions {
            small_count_threshold: 1,
            ..ProfileOptions::default()
        },
    );
    let ssn5 = column(&at5, "patients", "ssn");
    let ssn1 = column(&at1, "patients", "ssn");
    assert_eq!(ssn5.phi, Some(PhiKind::Ssn));
    assert_eq!((&ssn5.min, &ssn5.max), (&None, &None));
    assert_eq!(ssn5.min_suppressed, Some(Suppressed::SmallCount));
    assert_eq!(ssn5.max_suppressed, Some(Suppressed::SmallCount));
    assert!(ssn1.min.is_some() && ssn1.max.is_some());
    assert_eq!((ssn1.min_suppressed, ssn1.max_suppressed), (None, None));
    // Integers are ordered as numbers, not text.
    let id = column(&at1, "patients", "patient_id");
    assert_eq!(id.min.as_deref(), Some("1"));
    assert_eq!(id.max.as_deref(), Some("300"));
    // A column whose ends are common keeps them at 5: sex.
    let sex = column(&at5, "patients", "sex");
    assert!(sex.min.is_some() && sex.max.is_some(), "{sex:?}");
}
