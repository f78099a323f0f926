//! The migration map workbook: layout, round trip of decisions, broken workbooks, re-profiling.

mod common;

use calamine::{Data, Reader, Xlsx, open_workbook};
use common::*;
use ferry_report::ImportError;
use ferry_report::decisions::{self, ColumnDecision, Decision, MigrationMap};
use ferry_report::xlsx::{
    COLUMNS_HEADER, TABLE_HEADER, VANISHED_HEADER, import_migration_map, write_migration_map,
};

fn decided(d: Decision, notes: &str) -> ColumnDecision {
    ColumnDecision {
        decision: Some(d),
        target_resource: Some("Patient".into()),
        target_field: Some("birthDate".into()),
        notes: Some(notes.into()),
        reviewer: Some("Zoë Ångström".into()),
    }
}

/// The map a fresh import of the fixture gives: every column, no decisions.
fn all_columns_undecided() -> MigrationMap {
    let mut m = MigrationMap {
        snapshot: Some(2),
        ..Default::default()
    };
    for t in fixture().tables {
        for c in t.columns {
            m.insert(&t.name, &c.name, ColumnDecision::default());
        }
    }
    m
}

#[test]
fn workbook_has_the_documented_sheets_headers_and_hidden_ferry_sheet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.xlsx");
    write_migration_map(&fixture(), &MigrationMap::default(), &path).unwrap();
    let sheets = read_sheets(&path);
    let names: Vec<&str> = sheets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "overview",
            "columns",
            "patients",
            "visits",
            "labresults a very long table na",
            "ferry"
        ]
    );
    let hidden: Vec<bool> = sheets.iter().map(|s| s.hidden).collect();
    assert_eq!(hidden, [false, false, false, false, false, true]);

    let columns = &sheets[1];
    let header: Vec<String> = (0..COLUMNS_HEADER.len())
        .map(|c| columns.text(0, c))
        .collect();
    assert_eq!(header, COLUMNS_HEADER);
    assert_eq!(columns.cells.len(), 1 + 8, "one row per column");
    let dob = columns.row_of("patients", "dob").unwrap();
    assert_eq!(columns.text(dob, 4), "birth_date");
    assert_eq!(
        columns.text(dob, 11),
        "date:MM/DD/YYYY 93%; date:YYYY-MM-DD 7%"
    );
    assert_eq!(columns.text(dob, 12), "01/01/1970 (6)");
    let dx = columns.row_of("visits", "dx_code").unwrap();
    assert_eq!(columns.text(dx, 8), "~12345");
    assert_eq!(columns.text(dx, 12), "E11.9 (~40); I10 (~30)");
    let note = columns.row_of("patients", "note").unwrap();
    assert!(
        columns
            .text(note, 12)
            .starts_with("(empty text) (40); =HYPERLINK")
    );
    // No decisions and, on a first map, no status.
    for r in 1..columns.cells.len() {
        for c in 13..19 {
            assert_eq!(columns.text(r, c), "", "row {r} col {c}");
        }
    }

    let patients = &sheets[2];
    assert_eq!(
        (0..5).map(|c| patients.text(0, c)).collect::<Vec<_>>(),
        TABLE_HEADER
    );
    let smith = patients.row_of("name", "Smith").unwrap();
    assert_eq!(patients.cells[smith][2], Data::Float(7.0));
    assert!(patients.row_of("name", "(NULL)").is_some());
    assert!(patients.row_of("note", "(empty text)").is_some());

    let overview = &sheets[0];
    let text: Vec<String> = overview
        .cells
        .iter()
        .flat_map(|r| r.iter().map(|c| c.to_string()))
        .collect();
    assert!(
        text.iter()
            .any(|t| t == "values seen fewer than 5 times are never shown")
    );
    assert!(text.iter().any(|t| t == &"ab".repeat(32)));
    assert!(text.iter().any(|t| t == "clinic <export> 2024"));
}

#[test]
fn fresh_workbook_imports_every_column_without_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.xlsx");
    write_migration_map(&fixture(), &MigrationMap::default(), &path).unwrap();
    let map = import_migration_map(&path).unwrap();
    assert_eq!(map.decided(), 0);
    assert_eq!(map, all_columns_undecided());
}

#[test]
fn prefilled_decisions_round_trip_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.xlsx");
    let mut existing = all_columns_undecided();
    existing.insert(
        "patients",
        "dob",
        decided(Decision::Discrete, "keep\nline two\n\tindented — ✓ 日本語"),
    );
    existing.insert(
        "patients",
        "note",
        ColumnDecision {
            decision: Some(Decision::Summary),
            target_resource: Some("=DocumentReference".into()),
            target_field: None,
            notes: Some("=1+1 is not a formula; +2 -3 @4".into()),
            reviewer: None,
        },
    );
    existing.insert(
        "visits",
        "dx_code",
        decided(Decision::Archive, "  spaces kept  \r\nwindows line"),
    );
    existing.insert(
        "visits",
        "id",
        ColumnDecision {
            decision: Some(Decision::Skip),
            ..Default::default()
        },
    );
    existing.insert(
        common::LONG_TABLE,
        "código",
        ColumnDecision {
            notes: Some("only a note".into()),
            ..Default::default()
        },
    );
    write_migration_map(&fixture(), &existing, &path).unwrap();
    let back = import_migration_map(&path).unwrap();
    assert_eq!(back, existing);
    assert_eq!(back.decided(), 4);

    // The decision cell shows the label, the status column is blank for known columns.
    let sheets = read_sheets(&path);
    let columns = sheets.iter().find(|s| s.name == "columns").unwrap();
    let note = columns.row_of("patients", "note").unwrap();
    assert_eq!(columns.text(note, 13), "summary document");
    assert_eq!(columns.text(note, 18), "");
}

#[test]
fn formula_like_values_are_written_as_text_never_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.xlsx");
    let mut existing = all_columns_undecided();
    existing.insert(
        "patients",
        "note",
        ColumnDecision {
            notes: Some("=cmd|' /C calc'!A0".into()),
            ..Default::default()
        },
    );
    write_migration_map(&fixture(), &existing, &path).unwrap();
    let mut wb: Xlsx<_> = open_workbook(&path).unwrap();
    for name in wb.sheet_names() {
        let formulas = wb.worksheet_formula(&name).unwrap();
        assert!(
            formulas.used_cells().all(|(_, _, f)| f.is_empty()),
            "sheet {name} has a formula"
        );
    }
    let sheets = read_sheets(&path);
    let patients = sheets.iter().find(|s| s.name == "patients").unwrap();
    for v in ["=HYPERLINK(\"x\")", "+1 555", "-neg", "@mention"] {
        let r = patients.row_of("note", v).unwrap_or_else(|| panic!("{v}"));
        assert_eq!(patients.cells[r][1], Data::String(v.to_string()));
    }
}

#[test]
fn decisions_typed_in_a_spreadsheet_are_read_back() {
    // A reviewer's edit: types decisions in another case, with spaces, and a number as notes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.xlsx");
    write_migration_map(&fixture(), &MigrationMap::default(), &path).unwrap();
    let mut sheets = read_sheets(&path);
    let columns = sheet(&mut sheets, "columns");
    let dob = columns.row_of("patients", "dob").unwrap();
    columns.set(dob, 13, Data::String(" Summary Document ".into()));
    columns.set(dob, 14, Data::String(" Patient ".into()));
    columns.set(dob, 16, Data::Float(42.0));
    let id = columns.row_of("visits", "id").unwrap();
    columns.set(id, 13, Data::String("SKIP".into()));
    // Sorting rows is fine.
    columns.cells[1..].reverse();
    let edited = dir.path().join("edited.xlsx");
    write_sheets(&sheets, &edited);

    let map = import_migration_map(&edited).unwrap();
    let d = map.get("patients", "dob").unwrap();
    assert_eq!(d.decision, Some(Decision::Summary));
    assert_eq!(d.target_resource.as_deref(), Some("Patient"));
    assert_eq!(d.notes.as_deref(), Some("42"));
    assert_eq!(
        map.get("visits", "id").unwrap().decision,
        Some(Decision::Skip)
    );
    assert_eq!(map.decided(), 2);
    assert_eq!(map.len(), 8);
}

fn problems_of(path: &std::path::Path) -> Vec<String> {
    match import_migration_map(path) {
        Err(e @ ImportError::Problems { .. }) => {
            let msg = e.to_string();
            println!("{msg}");
            let list: Vec<String> = e.problems().iter().map(|p| p.to_string()).collect();
            assert!(msg.contains("nothing was imported"), "{msg}");
            list
        }
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn broken_rows_give_every_problem_with_its_cell() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.xlsx");
    write_migration_map(&fixture(), &MigrationMap::default(), &path).unwrap();
    let mut sheets = read_sheets(&path);
    let columns = sheet(&mut sheets, "columns");
    // Row 3 (patients.name): a decision that is not one.
    assert_eq!(columns.text(2, 1), "name");
    columns.set(2, 13, Data::String("maybe later".into()));
    // Row 4 (patients.dob): a renamed table.
    columns.set(3, 0, Data::String("patient".into()));
    // Row 5 (patients.note): an emptied column name.
    columns.set(4, 1, Data::Empty);
    // Row 6 (visits.id): a date in notes (Excel made one of what was typed).
    columns.set(
        5,
        16,
        Data::DateTime(calamine::ExcelDateTime::new(
            45_000.0,
            calamine::ExcelDateTimeType::DateTime,
            false,
        )),
    );
    // A duplicate of row 2 appended as row 10.
    let dup = columns.cells[1].clone();
    columns.cells.push(dup);
    // The row of visits.dx_code deleted (row 8): later rows move up.
    assert_eq!(columns.text(7, 1), "dx_code");
    columns.cells.remove(7);
    let broken = dir.path().join("broken.xlsx");
    write_sheets(&sheets, &broken);

    let problems = problems_of(&broken);
    let expect = [
        "sheet 'columns', cell N3: 'maybe later' is not a decision; choose one of: discrete, summary document, archive, skip",
        "sheet 'columns', cell A4: table `patient` column `dob` is not a column of the profile",
        "sheet 'columns', cell B5: the column name is empty",
        "sheet 'columns', cell Q6: the notes cell holds a date or time, not text",
        "sheet 'columns', cell A9: table `patients` column `id` appears again (first on row 2)",
        "sheet 'columns': the row of table `patients` column `dob` is missing",
        "sheet 'columns': the row of table `patients` column `note` is missing",
        "sheet 'columns': the row of table `visits` column `dx_code` is missing",
    ];
    for e in expect {
        assert!(
            problems.iter().any(|p| p.starts_with(e)),
            "missing {e:?} in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expect.len(), "{problems:#?}");
}

#[test]
fn renamed_header_is_reported_by_cell() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.xlsx");
    write_migration_map(&fixture(), &MigrationMap::default(), &path).unwrap();
    let mut sheets = read_sheets(&path);
    let columns = sheet(&mut sheets, "columns");
    columns.set(0, 13, Data::String("choice".into()));
    columns.set(0, 19, Data::String("my column".into()));
    let broken = dir.path().join("broken.xlsx");
    write_sheets(&sheets, &broken);
    let problems = problems_of(&broken);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with(
            "sheet 'columns', cell N1: the header is 'choice', expected 'decision'; put the header row back"
        ),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("sheet 'columns', cell T1: an extra column 'my column'"),
        "{problems:#?}"
    );
}

#[test]
fn deleted_sheets_are_reported_together() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.xlsx");
    write_migration_map(&fixture(), &MigrationMap::default(), &path).unwrap();
    let mut sheets = read_sheets(&path);
    sheets.retain(|s| s.name != "columns" && s.name != "ferry");
    let broken = dir.path().join("broken.xlsx");
    write_sheets(&sheets, &broken);
    let problems = problems_of(&broken);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].starts_with("sheet 'ferry': the hidden sheet 'ferry' is missing"));
    assert!(
        problems[1]
            .starts_with("sheet 'columns': the sheet 'columns' with the decisions is missing")
    );
}

#[test]
fn a_file_that_is_not_a_workbook_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.xlsx");
    std::fs::write(&path, "table,column\npatients,dob\n").unwrap();
    let err = import_migration_map(&path).unwrap_err();
    assert!(matches!(err, ImportError::Open { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("map.xlsx") && msg.contains("save it from Excel"),
        "{msg}"
    );
    let missing = import_migration_map(&dir.path().join("nope.xlsx")).unwrap_err();
    assert!(matches!(missing, ImportError::Open { .. }));
}

#[test]
fn reprofile_keeps_decisions_marks_new_columns_and_lists_vanished_ones() {
    let dir = tempfile::tempdir().unwrap();
    // The review of snapshot 2.
    let mut existing = all_columns_undecided();
    existing.insert(
        "patients",
        "dob",
        decided(Decision::Discrete, "as birthDate"),
    );
    existing.insert(
        "patients",
        "note",
        decided(Decision::Summary, "gone next time"),
    );

    // Snapshot 3: patients.note vanished, patients.email appeared.
    let mut p3 = fixture();
    p3.snapshot = 3;
    p3.tables[0].columns.retain(|c| c.name != "note");
    p3.tables[0].columns.push(common::column(
        "email",
        3,
        ferry_profile::model::InferredType::Text,
    ));
    let path = dir.path().join("map3.xlsx");
    write_migration_map(&p3, &existing, &path).unwrap();

    let sheets = read_sheets(&path);
    let columns = sheets.iter().find(|s| s.name == "columns").unwrap();
    let email = columns.row_of("patients", "email").unwrap();
    assert_eq!(columns.text(email, 18), "new");
    let dob = columns.row_of("patients", "dob").unwrap();
    assert_eq!(columns.text(dob, 18), "");
    assert_eq!(columns.text(dob, 13), "discrete");
    assert_eq!(columns.text(dob, 16), "as birthDate");
    assert!(columns.row_of("patients", "note").is_none());

    let vanished = sheets.iter().find(|s| s.name == "vanished").unwrap();
    assert_eq!(
        (0..VANISHED_HEADER.len())
            .map(|c| vanished.text(0, c))
            .collect::<Vec<_>>(),
        VANISHED_HEADER
    );
    assert_eq!(vanished.cells.len(), 2);
    let r = vanished.row_of("patients", "note").unwrap();
    assert_eq!(vanished.text(r, 2), "summary document");
    assert!(
        vanished
            .text(r, 7)
            .starts_with("not in snapshot 3 (was in snapshot 2)")
    );

    // Import keeps the vanished decision; the diff names the new column.
    let back = import_migration_map(&path).unwrap();
    assert_eq!(back.snapshot, Some(3));
    assert_eq!(back.get("patients", "dob"), existing.get("patients", "dob"));
    assert_eq!(
        back.get("patients", "note"),
        existing.get("patients", "note")
    );
    let changes = decisions::diff(&existing, &back);
    assert_eq!(
        changes.added,
        [("patients".to_string(), "email".to_string())]
    );
    assert!(changes.removed.is_empty(), "{changes:?}");
    assert!(changes.changed.is_empty(), "{changes:?}");

    // A reviewer deletes the vanished row: the decision is dropped, and the diff says so.
    let mut sheets = read_sheets(&path);
    let v = sheet(&mut sheets, "vanished");
    v.cells.truncate(1);
    let edited = dir.path().join("edited.xlsx");
    write_sheets(&sheets, &edited);
    let back = import_migration_map(&edited).unwrap();
    assert!(back.get("patients", "note").is_none());
    let changes = decisions::diff(&existing, &back);
    assert_eq!(
        changes.removed,
        [("patients".to_string(), "note".to_string())]
    );

    // A column typed into the vanished sheet that was never there is refused.
    let mut sheets = read_sheets(&path);
    let v = sheet(&mut sheets, "vanished");
    v.set(2, 0, Data::String("patients".into()));
    v.set(2, 1, Data::String("dob".into()));
    let edited = dir.path().join("edited2.xlsx");
    write_sheets(&sheets, &edited);
    let problems = problems_of(&edited);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].starts_with(
        "sheet 'vanished', cell A3: table `patients` column `dob` is not a vanished column"
    ));
}

#[test]
fn over_long_notes_are_refused_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut existing = MigrationMap::default();
    existing.insert(
        "patients",
        "dob",
        ColumnDecision {
            notes: Some("x".repeat(40_000)),
            ..Default::default()
        },
    );
    let err = write_migration_map(&fixture(), &existing, &dir.path().join("m.xlsx")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("`patients` column `dob`") && msg.contains("notes"),
        "{msg}"
    );
    assert!(!dir.path().join("m.xlsx").exists());
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_missing_folder_is_created_and_an_impossible_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/map.xlsx");
    write_migration_map(&fixture(), &MigrationMap::default(), &path).unwrap();
    assert!(path.is_file());
    // A folder that cannot be made (a file is in the way): the error names the path.
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let path = dir.path().join("file/sub/map.xlsx");
    let err = write_migration_map(&fixture(), &MigrationMap::default(), &path).unwrap_err();
    assert!(err.to_string().contains("file/sub"), "{err}");
}

#[test]
fn far_away_cell_is_read_sparsely_not_as_a_dense_sheet() {
    // One cell in the last row and column would make a dense reader allocate 17 billion cells.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.xlsx");
    write_migration_map(&fixture(), &MigrationMap::default(), &path).unwrap();
    let mut sheets = read_sheets(&path);
    let columns = sheet(&mut sheets, "columns");
    columns.set(1, 16, Data::String("fine".into()));
    let edited = dir.path().join("far.xlsx");
    write_sheets(&sheets, &edited);
    // Add the far cells with a second pass (write_sheets writes dense rows).
    let mut wb = rust_xlsxwriter::Workbook::new();
    for s in &sheets {
        let ws = wb.add_worksheet();
        ws.set_name(&s.name).unwrap();
        for (r, row) in s.cells.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                if let Data::String(x) = v {
                    ws.write_string(r as u32, c as u16, x).unwrap();
                }
            }
        }
        if s.name == "columns" {
            ws.write_string(1_048_575, 16_383, "far").unwrap();
            ws.write_string(1_048_575, 0, "patients").unwrap();
        }
    }
    wb.save(&edited).unwrap();
    let problems = problems_of(&edited);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("sheet 'columns', cell B1048576: the column name is empty"),
        "{problems:#?}"
    );
}

/// A min or max the profile left out is shown as why, never as a blank that could be mistaken
/// for "no values".
#[test]
fn suppressed_min_and_max_say_why() {
    use ferry_profile::model::Suppressed;
    let mut p = fixture();
    let dob = p.tables[0]
        .columns
        .iter_mut()
        .find(|c| c.name == "dob")
        .unwrap();
    dob.min = None;
    dob.min_suppressed = Some(Suppressed::SmallCount);
    dob.max = None;
    dob.max_suppressed = Some(Suppressed::PhiColumn);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.xlsx");
    write_migration_map(&p, &MigrationMap::default(), &path).unwrap();
    let sheets = read_sheets(&path);
    let columns = &sheets[1];
    let row = columns.row_of("patients", "dob").unwrap();
    assert_eq!(
        columns.text(row, 9),
        "(suppressed: seen fewer than 5 times)"
    );
    assert_eq!(columns.text(row, 10), "(suppressed: PHI column)");
}
