use super::*;
use ferry_core::{ColumnDef, Origin, Sink, TableDef};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// A workspace with one snapshot of table `t` (columns `cols`, these rows), and a project folder
/// with `mappings/` holding `modules` (name, file text).
struct Fixture {
    /// Kept so the folder lives as long as the fixture.
    _dir: tempfile::TempDir,
    ws: Workspace,
    dirs: ProjectDirs,
}

fn fixture(cols: &[&str], rows: &[Vec<Value>], modules: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(&dir.path().join(".ferry")).unwrap();
    let mut w = ws.begin_snapshot(Some("t".into())).unwrap();
    let t = w
        .table(TableDef::new(
            "t",
            cols.iter()
                .map(|c| ColumnDef::new(*c, Some("varchar(10)".into())))
                .collect(),
            Origin {
                file: "t.sql".into(),
                line: 1,
            },
        ))
        .unwrap();
    for r in rows {
        w.row(t, r.clone()).unwrap();
    }
    w.add_file(ferry_store::StagedFile {
        path: "t.sql".into(),
        kind: "mysqldump".into(),
        bytes: 1,
        sha256: "00".into(),
        encoding: None,
    });
    w.commit().unwrap();
    let mappings = dir.path().join("mappings");
    std::fs::create_dir(&mappings).unwrap();
    for (name, text) in modules {
        std::fs::write(mappings.join(format!("{name}.toml")), text).unwrap();
    }
    let dirs = ProjectDirs {
        mappings,
        concept_maps: dir.path().join("concept-maps"),
        output: dir.path().join("output").join("run-0001"),
    };
    Fixture {
        _dir: dir,
        ws,
        dirs,
    }
}

fn module(name: &str, query: &str, key: &str, fields: &str) -> String {
    format!(
        "[module]\nname = \"{name}\"\n[source]\nquery = \"{query}\"\nkey = {key}\n\
         [[resource]]\ntype = \"Basic\"\n[resource.fields]\n\"code.text\" = \"'x'\"\n{fields}"
    )
}

fn options() -> RunOptions {
    RunOptions {
        kind: "iteration".into(),
        snapshot: None,
        modules: None,
        namespace: uuid::Uuid::nil(),
        settings: Default::default(),
        threads: 2,
        bundle_size: None,
        merges: None,
        run_id: None,
        recorded_output: None,
        cancel: ferry_core::Cancel::new(),
        base: None,
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn errors(diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diags.into_iter().filter(|d| d.is_error()).collect()
}

/// Regression: `ferry check` rejected a module naming a column its query does not return, but
/// `ferry run` ran it (its query returned no rows, so no row ever failed).
#[test]
fn run_refuses_what_check_rejects_even_when_the_query_returns_no_rows() {
    let empty = module(
        "empty",
        "SELECT * FROM t WHERE 0",
        "\"id\"",
        "\"identifier[0].value\" = \"row.no_such_column\"\n",
    );
    let fine = module("fine", "SELECT * FROM t", "\"id\"", "");
    let mut f = fixture(
        &["id", "a"],
        &[vec![text("1"), text("x")]],
        &[("empty", &empty), ("fine", &fine)],
    );
    let (found, diags) = check(
        &f.ws,
        &f.dirs,
        None,
        uuid::Uuid::nil(),
        ferry_map::LocalTime::default(),
        None,
    )
    .unwrap();
    assert_eq!(found, 2);
    let from_check = errors(diags);
    assert_eq!(from_check.len(), 1, "{from_check:?}");
    assert!(
        from_check[0]
            .message
            .contains("unknown column `no_such_column`"),
        "{from_check:?}"
    );
    let err = run(&mut f.ws, &f.dirs, &options(), &|_| {}).unwrap_err();
    let RunError::Diagnostics(from_run) = err else {
        panic!("not refused with diagnostics: {err}");
    };
    assert_eq!(
        from_run, from_check,
        "run refuses with check's own diagnostics"
    );
    assert!(!f.dirs.output.exists(), "no output folder");
    assert!(f.ws.runs().unwrap().is_empty(), "no run recorded");
}

#[test]
fn check_counts_module_files_that_did_not_load() {
    let fine = module("fine", "SELECT * FROM t", "\"id\"", "");
    let f = fixture(
        &["id"],
        &[vec![text("1")]],
        &[("fine", &fine), ("broken", "[module\nname = 1\n")],
    );
    let (found, diags) = check(
        &f.ws,
        &f.dirs,
        None,
        uuid::Uuid::nil(),
        ferry_map::LocalTime::default(),
        None,
    )
    .unwrap();
    assert_eq!(found, 2, "{diags:?}");
    assert!(
        errors(diags)
            .iter()
            .all(|d| d.file.ends_with("broken.toml"))
    );
}

/// A key two rows share wrote two resources with one id, and the books said ok.
#[test]
fn a_key_two_rows_share_is_refused_naming_the_module_the_key_and_both_rows() {
    let vitals = module("vitals", "SELECT * FROM t", "\"id\"", "");
    let rows: Vec<Vec<Value>> = ["V1", "V2", "V123", "V4", "V123", "V123"]
        .iter()
        .map(|k| vec![text(k)])
        .collect();
    let mut f = fixture(&["id"], &rows, &[("vitals", &vitals)]);
    let (_, diags) = check(
        &f.ws,
        &f.dirs,
        None,
        uuid::Uuid::nil(),
        ferry_map::LocalTime::default(),
        None,
    )
    .unwrap();
    let diags = errors(diags);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let expected = "module `vitals`: key `V123` is not unique: rows 3 and 5 of the module's query both have it. A module's key must identify one row; add a column to `key = [...]`";
    assert_eq!(diags[0].message, expected);
    // Located at the module's `key`.
    assert!(diags[0].file.ends_with("vitals.toml"));
    assert_eq!((diags[0].line, diags[0].column), (5, 7), "{}", diags[0]);
    let err = run(&mut f.ws, &f.dirs, &options(), &|_| {}).unwrap_err();
    assert!(
        matches!(&err, RunError::Diagnostics(d) if d == &diags),
        "{err}"
    );
    assert!(!f.dirs.output.exists());
    assert!(err.to_string().contains(expected), "{err}");
}

#[test]
fn a_composite_key_is_unique_when_its_columns_together_are() {
    let m = module("m", "SELECT * FROM t", "[\"a\", \"b\"]", "");
    let rows = vec![
        vec![text("1"), text("x")],
        vec![text("1"), text("y")],
        vec![text("2"), text("x")],
    ];
    let mut f = fixture(&["a", "b"], &rows, &[("m", &m)]);
    let (_, diags) = check(
        &f.ws,
        &f.dirs,
        None,
        uuid::Uuid::nil(),
        ferry_map::LocalTime::default(),
        None,
    )
    .unwrap();
    assert!(errors(diags).is_empty());
    let s = run(&mut f.ws, &f.dirs, &options(), &|_| {}).unwrap();
    assert_eq!(s.modules[0].migrated, 3);
}

/// The keys `row_key` gives more than one row of the module's query.
fn rust_duplicates(reader: &SnapshotReader, m: &Module) -> BTreeSet<String> {
    let mut seen = std::collections::HashSet::new();
    let mut dups = BTreeSet::new();
    let mut schema: Option<Arc<RowSchema>> = None;
    reader
        .query_rows(&m.source.query, &mut |names, values| {
            let schema = schema.get_or_insert_with(|| RowSchema::new(names.iter().cloned()));
            if let Ok(k) = m.row_key(&RowView { schema, values })
                && !seen.insert(k.clone())
            {
                dups.insert(k);
            }
            true
        })
        .unwrap();
    dups
}

/// The keys the SQL finds shared, before `row_key` confirms any.
fn sql_duplicates(reader: &SnapshotReader, m: &Module) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    reader
        .query(&m.duplicate_key_query(), &mut |_, row| {
            match row.first() {
                Some(ferry_store::QueryValue::Text(k)) => out.insert(k.clone()),
                other => panic!("ferry_key is not text: {other:?}"),
            };
            true
        })
        .unwrap();
    out
}

fn load(f: &Fixture) -> Vec<Module> {
    let (modules, diags) =
        load_modules(&f.dirs, uuid::Uuid::nil(), ferry_map::LocalTime::default());
    assert!(errors(diags).is_empty());
    modules
}

/// The SQL that finds shared keys considers equal exactly what `row_key` does, on the values a
/// query can give: `|` joins columns, a query's integer equals its text, NULL, empty and binary
/// values are no key, a column's own collation does not count, the first of two columns of one
/// name is the key.
#[test]
fn the_duplicate_key_query_agrees_with_row_key() {
    let rows = vec![
        vec![text("a|b"), text("c"), text("A"), text("12")],
        vec![text("a"), text("b|c"), text("a"), text("7")],
        vec![Value::Null, text("x"), text(""), text("")],
        vec![Value::Null, text("x"), text(""), Value::Null],
        vec![
            Value::Bytes(vec![1]),
            text("x"),
            Value::Bytes(vec![1]),
            text(" "),
        ],
        vec![
            Value::Bytes(vec![1]),
            text("x"),
            Value::Bytes(vec![1]),
            text("  "),
        ],
    ];
    let cases: &[(&str, &str, bool)] = &[
        // ('a|b', 'c') and ('a', 'b|c') are both the key `a|b|c`.
        ("SELECT * FROM t", "[\"a\", \"b\"]", true),
        // NULL and empty text are no key (those rows are exceptions); bytes neither.
        ("SELECT * FROM t WHERE rowid > 2", "[\"a\", \"b\"]", false),
        ("SELECT * FROM t WHERE rowid > 2", "\"c\"", false),
        ("SELECT * FROM t WHERE rowid > 4", "\"d\"", false),
        // 'A' and 'a' differ, whatever collation the query gives the column.
        ("SELECT c COLLATE NOCASE AS k FROM t", "\"k\"", false),
        (
            "SELECT d COLLATE RTRIM AS k FROM t WHERE rowid > 4",
            "\"k\"",
            false,
        ),
        // A query's integer 12 is the key `12`, as the text '12' is.
        ("SELECT d AS k FROM t UNION ALL SELECT 12", "\"k\"", true),
        ("SELECT d AS k FROM t UNION ALL SELECT 13", "\"k\"", false),
        ("SELECT 1.5 AS k UNION ALL SELECT '1.5'", "\"k\"", true),
        // Two columns named `k`: the first is the key, in SQL as in the row schema.
        (
            "SELECT a AS k, b AS k FROM t WHERE rowid <= 2",
            "\"k\"",
            false,
        ),
        (
            "SELECT b AS k, a AS k FROM t WHERE rowid > 2",
            "\"k\"",
            true,
        ),
    ];
    let modules: Vec<(String, String)> = cases
        .iter()
        .enumerate()
        .map(|(i, (q, k, _))| (format!("m{i:02}"), module(&format!("m{i:02}"), q, k, "")))
        .collect();
    let refs: Vec<(&str, &str)> = modules
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let f = fixture(&["a", "b", "c", "d"], &rows, &refs);
    let reader = f.ws.open_snapshot(None).unwrap();
    for (m, (q, k, dup)) in load(&f).iter().zip(cases) {
        let rust = rust_duplicates(&reader, m);
        assert_eq!(!rust.is_empty(), *dup, "row_key on {q} key {k}");
        // The SQL itself is exact here (a looser one would cost a second pass on every run).
        assert_eq!(sql_duplicates(&reader, m), rust, "{q} key {k}");
        let found = duplicate_key(&reader, m);
        assert_eq!(found.is_some(), *dup, "{q} key {k}: {found:?}");
    }
}

/// Floating-point keys (only a query's own arithmetic makes them): SQLite writes a real with the
/// same shortest digits as `row_key`'s text but its own exponent form, and `-0.0` as `0.0`, so
/// the SQL is a first pass: a key is reported only when `row_key` gives it to two rows.
#[test]
fn a_floating_point_key_is_reported_only_when_row_key_agrees() {
    let cases: &[(&str, bool)] = &[
        // SQLite: both `0.0`; row_key: `-0.0` and `0.0`.
        ("SELECT -0.0 AS k UNION ALL SELECT 0.0", false),
        ("SELECT 0.1 + 0.2 AS k UNION ALL SELECT 0.3", false),
        ("SELECT 0.3 AS k UNION ALL SELECT '0.3'", true),
    ];
    let modules: Vec<(String, String)> = cases
        .iter()
        .enumerate()
        .map(|(i, (q, _))| (format!("r{i}"), module(&format!("r{i}"), q, "\"k\"", "")))
        .collect();
    let refs: Vec<(&str, &str)> = modules
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let f = fixture(&["a"], &[], &refs);
    let reader = f.ws.open_snapshot(None).unwrap();
    let modules = load(&f);
    assert_eq!(
        sql_duplicates(&reader, &modules[0]).len(),
        1,
        "the SQL's candidate"
    );
    for (m, (q, dup)) in modules.iter().zip(cases) {
        assert_eq!(
            !rust_duplicates(&reader, m).is_empty(),
            *dup,
            "row_key on {q}"
        );
        assert_eq!(duplicate_key(&reader, m).is_some(), *dup, "{q}");
    }
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(text("")),
        Just(text("a")),
        Just(text("b")),
        Just(text("a|")),
        Just(text("|b")),
        Just(text("a|b")),
        Just(text("A")),
        Just(text("1")),
        Just(Value::Bytes(b"a".to_vec())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Over any rows of two key columns (NULL, empty, `|` inside values, case, bytes), the SQL
    /// finds exactly the keys `row_key` gives two rows, and the check reports the first of them.
    #[test]
    fn the_duplicate_key_check_matches_row_key_on_any_rows(
        rows in proptest::collection::vec((value(), value()), 0..7)
    ) {
        let rows: Vec<Vec<Value>> = rows.into_iter().map(|(a, b)| vec![a, b]).collect();
        let m = module("m", "SELECT * FROM t", "[\"a\", \"b\"]", "");
        let f = fixture(&["a", "b"], &rows, &[("m", &m)]);
        let reader = f.ws.open_snapshot(None).unwrap();
        let modules = load(&f);
        let rust = rust_duplicates(&reader, &modules[0]);
        prop_assert_eq!(&sql_duplicates(&reader, &modules[0]), &rust);
        let found = duplicate_key(&reader, &modules[0]);
        prop_assert_eq!(found.is_some(), !rust.is_empty(), "{:?}", found);
        if let (Some(d), Some(k)) = (&found, rust.iter().next()) {
            prop_assert!(d.message.contains(&format!("key `{k}` is not unique")), "{}", d);
        }
    }
}

/// A shared key value of a PHI column (an SSN) is never quoted; the rows' positions say which.
#[test]
fn a_shared_phi_key_is_withheld_from_the_error() {
    let people = module("people", "SELECT * FROM t", "\"ssn\"", "");
    let rows: Vec<Vec<Value>> = ["078-05-1120", "219-09-9999", "219-09-9999"]
        .iter()
        .map(|k| vec![text(k)])
        .collect();
    let f = fixture(&["ssn"], &rows, &[("people", &people)]);
    let (_, diags) = check(
        &f.ws,
        &f.dirs,
        None,
        uuid::Uuid::nil(),
        ferry_map::LocalTime::default(),
        None,
    )
    .unwrap();
    let diags = errors(diags);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(!diags[0].message.contains("219-09-9999"), "{}", diags[0]);
    assert!(
        diags[0].message.starts_with(
            "module `people`: key (withheld: `ssn` holds PHI) is not unique: rows 2 and 3"
        ),
        "{}",
        diags[0]
    );
}
