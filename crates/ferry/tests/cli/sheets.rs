//! Workbooks as a legacy source (`ferry stage clinic.xlsx`): the generated clinic written as a
//! workbook by Ferry's generator (rust_xlsxwriter) and by an independent writer (Python's
//! openpyxl) stages to exactly the values of its CSV export; OpenDocument from odfpy; refusals.
//!
//! The Python writers run from the virtualenv named by `FERRY_PYTHON` (a `python` binary with
//! openpyxl, odfpy and msoffcrypto-tool; `.ci/run` creates it and sets `FERRY_REQUIRE_PYTHON=1`,
//! so CI never skips). Locally, without `FERRY_PYTHON`, those tests print why and pass.

use super::workdir::Workdir;
use std::path::{Path, PathBuf};
use std::process::Command;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/cli/sheets/write_workbook.py"
);

/// The Python with the writers, or `None` (with the reason printed) when it is absent locally.
fn python() -> Option<PathBuf> {
    match std::env::var_os("FERRY_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("FERRY_REQUIRE_PYTHON").is_some() => {
            panic!("FERRY_REQUIRE_PYTHON is set but FERRY_PYTHON is not: CI must run this test")
        }
        None => {
            eprintln!(
                "SKIPPED: set FERRY_PYTHON to a python with openpyxl, odfpy and msoffcrypto-tool \
                 (python3 -m venv /tmp/sheets-venv && /tmp/sheets-venv/bin/pip install openpyxl \
                 odfpy msoffcrypto-tool; FERRY_PYTHON=/tmp/sheets-venv/bin/python)"
            );
            None
        }
    }
}

fn py(python: &Path, args: &[&str]) {
    let out = Command::new(python)
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("cannot start python");
    assert!(
        out.status.success(),
        "write_workbook.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (table, rows, content sha256) of every table of snapshot `n`, by name.
fn tables(wd: &Workdir, n: u64) -> Vec<(String, u64, String)> {
    let out = wd.run(&["snapshots", &n.to_string(), "--json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = doc["tables"]
        .as_array()
        .or_else(|| doc["snapshot"]["tables"].as_array())
        .unwrap_or_else(|| panic!("no tables in {out}"));
    let mut v: Vec<(String, u64, String)> = list
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["rows"].as_u64().unwrap(),
                t["content_sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn notes(wd: &Workdir, n: u64) -> String {
    wd.run(&["snapshots", &n.to_string(), "--json"]).ok()
}

/// Every table's values, row by row (for a readable failure when the hashes differ).
fn diff(wd: &Workdir, table: &str) -> String {
    let a = wd.sql_json(&format!("SELECT * FROM \"{table}\""), &["--snapshot", "1"]);
    let b = wd.sql_json(&format!("SELECT * FROM \"{table}\""), &["--snapshot", "2"]);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if x != y {
            return format!("{table} row {}: csv {x} vs workbook {y}", i + 1);
        }
    }
    format!("{table}: {} vs {} rows", a.len(), b.len())
}

fn assert_same_tables(wd: &Workdir) {
    let csv = tables(wd, 1);
    let book = tables(wd, 2);
    assert_eq!(csv.len(), 23, "{csv:?}");
    let names: Vec<&String> = csv.iter().map(|t| &t.0).collect();
    let book_names: Vec<&String> = book.iter().map(|t| &t.0).collect();
    assert_eq!(names, book_names);
    for (a, b) in csv.iter().zip(&book) {
        assert!(a == b, "{a:?} vs {b:?}: {}", diff(wd, &a.0));
    }
}

// The test: the generator's workbook and its CSV export stage to the same values.
#[test]
fn generated_workbook_stages_to_the_values_of_the_csv_export() {
    let wd = Workdir::project();
    wd.run(&[
        "generate",
        "legacy",
        "--patients",
        "40",
        "--seed",
        "7",
        "--csv-only",
        "--xlsx",
    ])
    .ok();
    wd.run(&["stage", "legacy/csv", "--label", "csv"]).ok();
    let s = wd.stage_json(&["legacy/clinic.xlsx", "--label", "xlsx"]);
    assert_eq!(s["files"][0]["kind"], "spreadsheet");
    assert_same_tables(&wd);
    let n = notes(&wd, 2);
    assert!(
        n.contains("date cell(s): staged in ISO 8601 as `YYYY-MM-DD`"),
        "{n}"
    );
    assert!(n.contains("as `YYYY-MM-DD HH:MM:SS`"), "{n}");
    assert!(n.contains("numeric cell(s)"), "{n}");
    assert!(n.contains("1900 date system"), "{n}");
}

// The independent writer: openpyxl writes the same CSV export (shared strings, its own date
// serials, inline control characters), and it stages to the same values.
#[test]
fn openpyxl_workbook_of_the_csv_export_stages_to_the_same_values() {
    let Some(python) = python() else { return };
    let wd = Workdir::project();
    wd.run(&[
        "generate",
        "legacy",
        "--patients",
        "40",
        "--seed",
        "7",
        "--csv-only",
    ])
    .ok();
    let out = wd.join("openpyxl.xlsx");
    py(
        &python,
        &[
            "xlsx",
            wd.join("legacy").to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
    wd.run(&["stage", "legacy/csv"]).ok();
    wd.run(&["stage", "openpyxl.xlsx"]).ok();
    assert_same_tables(&wd);
}

// OpenDocument (odfpy writes it; LibreOffice is not installed here): dates are ISO text in the
// file, text keeps its leading zeros, an empty row is skipped, a number has no float noise.
#[test]
fn opendocument_sheet_is_staged_with_its_text_numbers_and_dates() {
    let Some(python) = python() else { return };
    let wd = Workdir::project();
    let out = wd.join("clinic.ods");
    py(&python, &["ods", out.to_str().unwrap()]);
    wd.run(&["stage", "clinic.ods"]).ok();
    let rows = wd.sql_json("SELECT * FROM clinic ORDER BY mrn", &[]);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0]["mrn"], "000123");
    assert_eq!(rows[0]["zip"], "02134");
    assert_eq!(rows[0]["weight"], "81.5");
    assert_eq!(rows[0]["dob"], "1980-02-29");
    assert_eq!(rows[0]["seen"], "2024-05-01 08:30:00");
    assert_eq!(rows[0]["active"], "TRUE");
    assert_eq!(rows[1]["weight"], "12345678901234");
    assert_eq!(rows[2]["zip"], "");
    assert_eq!(rows[2]["weight"], "0.1");
    let n = notes(&wd, 1);
    assert!(n.contains("1 empty row(s)"), "{n}");
    assert!(n.contains("stored as ISO 8601 text (OpenDocument)"), "{n}");
}

// A password-protected workbook (encrypted by msoffcrypto-tool) is refused with what to do.
#[test]
fn password_protected_workbook_is_refused_with_what_to_do() {
    let Some(python) = python() else { return };
    let wd = Workdir::project();
    wd.run(&[
        "generate",
        "legacy",
        "--patients",
        "5",
        "--seed",
        "1",
        "--csv-only",
        "--xlsx",
    ])
    .ok();
    let out = wd.join("locked.xlsx");
    py(
        &python,
        &[
            "encrypt",
            wd.join("legacy/clinic.xlsx").to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
    let err = wd.run(&["stage", "locked.xlsx"]).fails_with(1);
    assert!(err.contains("locked.xlsx"), "{err}");
    assert!(err.contains("password-protected"), "{err}");
    assert!(err.contains("save an unprotected copy"), "{err}");
    assert!(wd.snapshot_files().is_empty(), "{:?}", wd.snapshot_files());
}

// A damaged workbook is refused (never a panic), naming the file; nothing is staged.
#[test]
fn damaged_workbook_is_refused_naming_the_file() {
    let wd = Workdir::project();
    wd.write(
        "broken.xlsx",
        b"PK\x03\x04 this is not really a zip archive",
    );
    let err = wd.run(&["stage", "broken.xlsx"]).fails_with(1);
    assert!(err.contains("broken.xlsx"), "{err}");
    assert!(err.contains("cannot read the workbook"), "{err}");
    wd.write("renamed.xls", b"mrn,name\n1,a\n");
    let err = wd.run(&["stage", "renamed.xls"]).fails_with(1);
    assert!(
        err.contains("named like a workbook but it is not one"),
        "{err}"
    );
    assert!(wd.snapshot_files().is_empty(), "{:?}", wd.snapshot_files());
}

// A header row that is not in the sheet is an error naming the workbook and the sheet; a
// header row given for CSV input alone is refused.
#[test]
fn header_row_outside_a_sheet_names_the_sheet() {
    let wd = Workdir::project();
    wd.run(&[
        "generate",
        "legacy",
        "--patients",
        "5",
        "--seed",
        "1",
        "--csv-only",
        "--xlsx",
    ])
    .ok();
    let err = wd
        .run(&["stage", "legacy/clinic.xlsx", "--header-row", "5000"])
        .fails_with(1);
    assert!(err.contains("legacy/clinic.xlsx"), "{err}");
    assert!(err.contains("sheet `allergies`"), "{err}");
    assert!(err.contains("--header-row 5000"), "{err}");
    let err = wd
        .run(&["stage", "legacy/csv", "--header-row", "2"])
        .fails_with(1);
    assert!(err.contains("is for workbooks"), "{err}");
}
