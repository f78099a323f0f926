//! The decisions file: deterministic, round-trips, diffs.

use ferry_report::ReportError;
use ferry_report::decisions::{self, ColumnDecision, Decision, MigrationMap, diff, to_toml};
use proptest::prelude::*;

fn sample_map() -> MigrationMap {
    let mut m = MigrationMap {
        snapshot: Some(3),
        ..Default::default()
    };
    m.insert(
        "patients",
        "dob",
        ColumnDecision {
            decision: Some(Decision::Discrete),
            target_resource: Some("Patient".into()),
            target_field: Some("birthDate".into()),
            notes: Some("MM/DD/YYYY mostly;\nsome \"ISO\" dates \\ check".into()),
            reviewer: Some("Zoë".into()),
        },
    );
    m.insert("patients", "id", ColumnDecision::default());
    m.insert(
        "dbo.lab results",
        "código",
        ColumnDecision {
            decision: Some(Decision::Summary),
            ..Default::default()
        },
    );
    m.insert(
        "visits",
        "notes",
        ColumnDecision {
            decision: Some(Decision::Skip),
            reviewer: Some("A. Lee".into()),
            ..Default::default()
        },
    );
    m
}

#[test]
fn decisions_file_snapshot() {
    insta::assert_snapshot!(to_toml(&sample_map()));
}

#[test]
fn write_is_deterministic_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    let map = sample_map();
    decisions::write(&a, &map).unwrap();
    // Same map built in another order: same bytes.
    let mut other = MigrationMap {
        snapshot: Some(3),
        ..Default::default()
    };
    let mut entries: Vec<_> = map
        .columns
        .iter()
        .flat_map(|(t, cs)| {
            cs.iter()
                .map(move |(c, d)| (t.clone(), c.clone(), d.clone()))
        })
        .collect();
    entries.reverse();
    for (t, c, d) in entries {
        other.insert(&t, &c, d);
    }
    decisions::write(&b, &other).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(decisions::read(&a).unwrap(), map);
    // Rewriting the same map leaves the bytes unchanged (clean git diff).
    let before = std::fs::read(&a).unwrap();
    decisions::write(&a, &decisions::read(&a).unwrap()).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), before);
    // Only the file itself is in the folder: the temporary file was renamed.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn missing_file_is_an_empty_map() {
    let dir = tempfile::tempdir().unwrap();
    let map = decisions::read(&dir.path().join("none.toml")).unwrap();
    assert_eq!(map, MigrationMap::default());
    assert!(map.is_empty());
}

#[test]
fn hand_edit_with_a_typo_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.toml");
    std::fs::write(
        &path,
        "format = 1\n\n[columns.patients.\"dob\"]\ndecision = \"maybe\"\n",
    )
    .unwrap();
    let err = decisions::read(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ReportError::DecisionsSyntax { line: 4, .. }),
        "{msg}"
    );
    assert!(msg.contains("map.toml:4:"), "{msg}");
}

#[test]
fn diff_reports_added_removed_and_changed_fields() {
    let old = sample_map();
    let mut new = sample_map();
    new.columns.get_mut("visits").unwrap().remove("notes");
    new.insert("visits", "reason", ColumnDecision::default());
    let dob = new
        .columns
        .get_mut("patients")
        .unwrap()
        .get_mut("dob")
        .unwrap();
    dob.decision = Some(Decision::Archive);
    dob.notes = Some("changed".into());
    dob.target_field = None;
    let id = new
        .columns
        .get_mut("patients")
        .unwrap()
        .get_mut("id")
        .unwrap();
    id.decision = Some(Decision::Skip);

    let c = diff(&old, &new);
    assert_eq!(c.added, [("visits".to_string(), "reason".to_string())]);
    assert_eq!(c.removed, [("visits".to_string(), "notes".to_string())]);
    let changed: Vec<String> = c
        .changed
        .iter()
        .map(|(t, col, what)| format!("{t}.{col}: {what}"))
        .collect();
    assert_eq!(
        changed,
        [
            "patients.dob: decision: discrete -> archive",
            "patients.dob: target field: birthDate -> (none)",
            "patients.dob: notes: edited",
            "patients.id: decision: (none) -> skip",
        ]
    );
    assert!(diff(&old, &old).is_empty());
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(any::<String>())
}

proptest! {
    #[test]
    fn any_text_round_trips_through_the_file(
        table in any::<String>(),
        column in any::<String>(),
        notes in opt_text(),
        reviewer in opt_text(),
        target in opt_text(),
        snapshot in proptest::option::of(0u64..i64::MAX as u64),
    ) {
        let mut m = MigrationMap { snapshot, ..Default::default() };
        m.insert(&table, &column, ColumnDecision {
            decision: Some(Decision::Archive),
            target_resource: target,
            target_field: None,
            notes,
            reviewer,
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        decisions::write(&path, &m).unwrap();
        let back = decisions::read(&path).unwrap();
        prop_assert_eq!(&back, &m);
        // One line per field: a value never spreads over several lines.
        let text = std::fs::read_to_string(&path).unwrap();
        let body_lines = text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count();
        let fields = 1 + 1 + usize::from(snapshot.is_some()) + 1
            + [&m.columns[&table][&column].target_resource, &m.columns[&table][&column].notes, &m.columns[&table][&column].reviewer]
                .iter().filter(|v| v.is_some()).count();
        prop_assert_eq!(body_lines, fields);
    }
}
