//! `FERRY_REPORT_SAMPLES=DIR cargo test -p ferry-report --test sample -- --ignored` writes the
//! sample reports of the test fixture into DIR, to open in Excel, LibreOffice or a browser.

mod common;

use ferry_report::decisions::{ColumnDecision, Decision, MigrationMap};

#[test]
#[ignore = "writes sample files for manual inspection"]
fn write_sample_reports() {
    let Ok(dir) = std::env::var("FERRY_REPORT_SAMPLES") else {
        panic!("set FERRY_REPORT_SAMPLES to a folder");
    };
    let dir = std::path::Path::new(&dir);
    let p = common::fixture();
    ferry_report::xlsx::write_migration_map(&p, &MigrationMap::default(), &dir.join("map.xlsx"))
        .unwrap();
    let mut existing = ferry_report::xlsx::import_migration_map(&dir.join("map.xlsx")).unwrap();
    existing.insert(
        "patients",
        "note",
        ColumnDecision {
            decision: Some(Decision::Summary),
            notes: Some("line one\r\nline two".into()),
            ..Default::default()
        },
    );
    let mut p3 = p.clone();
    p3.snapshot = 3;
    p3.tables[0].columns.retain(|c| c.name != "note");
    p3.tables[0].columns.push(common::column(
        "email",
        3,
        ferry_profile::model::InferredType::Text,
    ));
    ferry_report::xlsx::write_migration_map(&p3, &existing, &dir.join("map3.xlsx")).unwrap();
    ferry_report::html::write_profile_html(&p, &dir.join("profile.html")).unwrap();
    ferry_report::json::write_profile_json(&p, &dir.join("profile.json")).unwrap();
    ferry_report::decisions::write(&dir.join("decisions.toml"), &existing).unwrap();
}

/// `cargo test -p ferry-report --test sample -- --ignored --nocapture big_profile` prints how long
/// the reports of a 2,000-column profile take.
#[test]
#[ignore = "timing, prints figures"]
fn big_profile_timings() {
    use std::time::Instant;
    let base = common::fixture();
    let mut p = base.clone();
    p.tables.clear();
    for t in 0..50 {
        let mut table = base.tables[0].clone();
        table.name = format!("table_{t:02}");
        table.columns.clear();
        for c in 0..40 {
            let mut col = base.tables[0].columns[1].clone();
            col.name = format!("column_{c:02}");
            col.ordinal = c;
            col.top_values = (0..20)
                .map(|i| common::vc(&format!("value {i} of {c}"), 100 - i))
                .collect();
            table.columns.push(col);
        }
        p.tables.push(table);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut existing = MigrationMap::default();
    for t in &p.tables {
        for c in &t.columns {
            existing.insert(
                &t.name,
                &c.name,
                ColumnDecision {
                    decision: Some(Decision::Discrete),
                    notes: Some("a note\nwith two lines".into()),
                    ..Default::default()
                },
            );
        }
    }
    let t0 = Instant::now();
    ferry_report::xlsx::write_migration_map(&p, &existing, &dir.path().join("m.xlsx")).unwrap();
    let t1 = Instant::now();
    let back = ferry_report::xlsx::import_migration_map(&dir.path().join("m.xlsx")).unwrap();
    let t2 = Instant::now();
    ferry_report::html::write_profile_html(&p, &dir.path().join("p.html")).unwrap();
    let t3 = Instant::now();
    ferry_report::decisions::write(&dir.path().join("d.toml"), &back).unwrap();
    let again = ferry_report::decisions::read(&dir.path().join("d.toml")).unwrap();
    let t4 = Instant::now();
    assert_eq!(back.columns, existing.columns);
    assert_eq!(again, back);
    let size = |n: &str| std::fs::metadata(dir.path().join(n)).unwrap().len();
    println!(
        "2,000 columns x 20 top values: xlsx write {:?} ({} bytes), import {:?}, html {:?} ({} bytes), toml write+read {:?} ({} bytes)",
        t1 - t0,
        size("m.xlsx"),
        t2 - t1,
        t3 - t2,
        size("p.html"),
        t4 - t3,
        size("d.toml")
    );
}
