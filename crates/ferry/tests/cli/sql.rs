use super::workdir::Workdir;

fn staged() -> Workdir {
    let wd = Workdir::project();
    wd.write(
        "dump.sql",
        "CREATE TABLE `p` (\n  `id` int NOT NULL,\n  `mrn` varchar(10),\n  `note` text,\n  `img` blob,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\
         INSERT INTO `p` VALUES (1,'007','',NULL),(2,'12',NULL,0x00FF),(10,'3','a\\nb',NULL);\n",
    );
    wd.run(&["stage", "dump.sql"]).ok();
    wd
}

#[test]
fn json_keeps_null_empty_text_and_bytes_apart() {
    let wd = staged();
    let rows = wd.sql_json("SELECT id, mrn, note, img FROM p ORDER BY rowid", &[]);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["mrn"], "007");
    assert_eq!(rows[0]["note"], "");
    assert!(rows[0]["img"].is_null());
    assert!(rows[1]["note"].is_null());
    assert_eq!(rows[1]["img"], "0x00FF");
    assert_eq!(rows[2]["note"], "a\nb");
}

#[test]
fn staged_numbers_are_text_and_cast_when_asked() {
    let wd = staged();
    // Text comparison: '10' < '3'; numeric comparison needs CAST.
    let text = wd.sql_json("SELECT max(id) AS m FROM p", &[]);
    assert_eq!(text[0]["m"], "2");
    let num = wd.sql_json("SELECT max(CAST(id AS INTEGER)) AS m FROM p", &[]);
    assert_eq!(num[0]["m"], 10);
}

/// Issue 12: `WHERE id IN (1, 10)` silently returned nothing (staged values are text); now it
/// warns on stderr, naming the column, and the quoted form does not. stdout is unchanged.
#[test]
fn comparing_a_staged_column_with_a_number_warns_on_stderr() {
    let wd = staged();
    let run = wd.run(&[
        "sql",
        "SELECT id FROM p WHERE id IN (1, 10)",
        "--format",
        "csv",
    ]);
    assert_eq!(run.ok(), "id\n");
    let err = run.stderr();
    assert!(
        err.contains("warning: `id` is compared with a number, but staged values are text"),
        "{err}"
    );
    for q in [
        "SELECT id FROM p WHERE p.mrn > 3",
        "SELECT id FROM p WHERE 3 = \"mrn\"",
    ] {
        let err = wd.run(&["sql", q]).stderr();
        assert!(
            err.contains("`mrn` is compared with a number"),
            "{q}: {err}"
        );
    }
    let quoted = wd.run(&[
        "sql",
        "SELECT id FROM p WHERE id IN ('1', '10')",
        "--format",
        "csv",
    ]);
    assert_eq!(quoted.ok(), "id\n1\n10\n");
    assert!(!quoted.stderr().contains("warning"), "{}", quoted.stderr());
    // A name that is no staged column (an alias of a count) is not warned about.
    let alias = wd.run(&[
        "sql",
        "SELECT n FROM (SELECT count(*) AS n FROM p) WHERE n > 1",
    ]);
    assert!(!alias.stderr().contains("warning"), "{}", alias.stderr());
    let cast = wd.run(&[
        "sql",
        "SELECT id FROM p WHERE CAST(id AS INTEGER) IN (1, 10)",
    ]);
    assert!(!cast.stderr().contains("warning"), "{}", cast.stderr());
}

#[test]
fn csv_format_is_rfc4180() {
    let wd = staged();
    let out = wd
        .run(&[
            "sql",
            "SELECT id, note FROM p ORDER BY rowid",
            "--format",
            "csv",
        ])
        .ok();
    assert_eq!(out, "id,note\n1,\n2,\n10,\"a\nb\"\n");
}

#[test]
fn table_format_shows_rows_and_snapshot() {
    let wd = staged();
    let out = wd.run(&["sql", "SELECT count(*) AS n FROM p"]).ok();
    assert!(out.contains("(1 rows, snapshot 1)"), "{out}");
    assert!(out.contains('3'), "{out}");
}

#[test]
fn writes_are_refused_because_snapshots_are_read_only() {
    let wd = staged();
    let err = wd.run(&["sql", "DELETE FROM p"]).fails_with(1);
    assert!(err.contains("read-only"), "{err}");
    let rows = wd.sql_json("SELECT count(*) AS n FROM p", &[]);
    assert_eq!(rows[0]["n"], 3);
}

#[test]
fn unknown_table_points_to_the_list() {
    let wd = staged();
    let err = wd.run(&["sql", "SELECT * FROM nope"]).fails_with(1);
    assert!(err.contains("no such table: nope"), "{err}");
}

#[test]
fn sql_before_any_snapshot_says_stage_first() {
    let wd = Workdir::project();
    let err = wd.run(&["sql", "SELECT 1"]).fails_with(1);
    assert!(err.contains("ferry stage"), "{err}");
}

#[test]
fn an_unknown_snapshot_number_is_named() {
    let wd = staged();
    let err = wd
        .run(&["sql", "SELECT 1", "--snapshot", "9"])
        .fails_with(1);
    assert!(err.contains("snapshot 9 does not exist"), "{err}");
}

/// `ferry sql ... | head -1` must not print an error when head closes the pipe.
#[test]
fn broken_pipe_is_a_clean_exit() {
    let wd = staged();
    let ferry = env!("CARGO_BIN_EXE_ferry");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{ferry}' sql 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n LIMIT 200000) SELECT i FROM n' --format csv | head -n 1"
        ))
        .current_dir(wd.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("error"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("i\n"));
}

/// The staged snapshot's file, to prove a refused statement changed nothing.
fn snapshot_bytes(wd: &Workdir) -> Vec<u8> {
    std::fs::read(wd.join(".ferry/snapshots/snapshot-0001.db")).unwrap()
}

/// Regression: `VACUUM INTO` wrote a copy of the snapshot anywhere, ATTACH could open another
/// database; every statement but a SELECT is refused before it runs.
#[test]
fn statements_that_write_attach_or_set_pragmas_are_refused_and_change_nothing() {
    let wd = staged();
    let before = snapshot_bytes(&wd);
    let files = wd.snapshot_files();
    let copy = wd.join("copy.db");
    let other = wd.join("other.db");
    let vacuum = format!("VACUUM INTO '{}'", copy.display());
    let attach = format!("ATTACH DATABASE '{}' AS o", other.display());
    for (sql, what) in [
        (vacuum.as_str(), "`VACUUM` (it writes)"),
        (attach.as_str(), "`ATTACH`"),
        (
            "INSERT INTO p VALUES ('4', 'x', NULL, NULL)",
            "`INSERT` (`p`)",
        ),
        ("CREATE TABLE t (a)", "`CREATE` (it changes the schema)"),
        ("PRAGMA writable_schema = ON", "`PRAGMA writable_schema`"),
        ("SELECT 1; DELETE FROM p", "`DELETE` (`p`)"),
    ] {
        let err = wd.run(&["sql", sql]).fails_with(1);
        assert!(
            err.contains(
                "only read-only queries run over a snapshot: a single SELECT (or WITH ... SELECT);"
            ),
            "{sql}: {err}"
        );
        assert!(
            err.contains(&format!(
                "{what} was refused, nothing ran and nothing was changed"
            )),
            "{sql}: {err}"
        );
        assert!(
            !err.contains("copy.db") && !err.contains("other.db"),
            "{err}"
        );
    }
    assert!(!copy.exists(), "VACUUM INTO wrote a file");
    assert!(!other.exists(), "ATTACH created a file");
    assert_eq!(wd.sql_json("SELECT count(*) AS n FROM p", &[])[0]["n"], 3);
    assert_eq!(snapshot_bytes(&wd), before);
    assert_eq!(wd.snapshot_files(), files);
}

/// Regression: an endless recursive CTE ran forever.
#[test]
fn an_endless_query_stops_at_the_timeout() {
    let wd = staged();
    let start = std::time::Instant::now();
    let err = wd
        .run(&[
            "sql",
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c",
            "--timeout",
            "1",
        ])
        .fails_with(1);
    assert!(
        err.contains(
            "the query ran longer than 1 s and was stopped; add a LIMIT or a narrower WHERE, or raise --timeout"
        ),
        "{err}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn timeout_zero_is_no_limit() {
    let wd = staged();
    let rows = wd.sql_json("SELECT count(*) AS n FROM p", &["--timeout", "0"]);
    assert_eq!(rows[0]["n"], 3);
}

/// Regression: JSON rows came out with their keys sorted, not in the SELECT's order.
#[test]
fn json_keeps_select_column_order_in_a_versioned_object() {
    let wd = staged();
    let out = wd
        .run(&[
            "sql",
            "SELECT note AS c, id AS a, mrn AS b FROM p ORDER BY rowid",
            "--format",
            "json",
        ])
        .ok();
    assert_eq!(
        out,
        "{\"format_version\":1,\"snapshot\":1,\"columns\":[\"c\",\"a\",\"b\"],\"rows\":[\n\
         {\"c\":\"\",\"a\":\"1\",\"b\":\"007\"},\n\
         {\"c\":null,\"a\":\"2\",\"b\":\"12\"},\n\
         {\"c\":\"a\\nb\",\"a\":\"10\",\"b\":\"3\"}\n\
         ]}\n"
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["rows"].as_array().unwrap().len(), 3);
}

#[test]
fn json_of_no_rows_still_names_the_columns() {
    let wd = staged();
    let out = wd
        .run(&["sql", "SELECT id, mrn FROM p WHERE 0", "--format", "json"])
        .ok();
    assert_eq!(
        out,
        "{\"format_version\":1,\"snapshot\":1,\"columns\":[\"id\",\"mrn\"],\"rows\":[\n]}\n"
    );
}

/// Two columns with one name must not lose a value: the second is `a:2` (JSON only; CSV and
/// the table print the names as the query gave them).
#[test]
fn repeated_column_names_keep_every_value() {
    let wd = staged();
    let out = wd
        .run(&["sql", "SELECT 1 AS a, 2 AS a, 3 AS a", "--format", "json"])
        .ok();
    assert!(
        out.starts_with(
            "{\"format_version\":1,\"snapshot\":1,\"columns\":[\"a\",\"a:2\",\"a:3\"],\"rows\":[\n{\"a\":1,\"a:2\":2,\"a:3\":3}\n]}"
        ),
        "{out}"
    );
    let csv = wd
        .run(&["sql", "SELECT 1 AS a, 2 AS a", "--format", "csv"])
        .ok();
    assert_eq!(csv, "a,a\n1,2\n");
}

#[test]
fn csv_keeps_select_column_order() {
    let wd = staged();
    let out = wd
        .run(&[
            "sql",
            "SELECT mrn, id FROM p ORDER BY rowid",
            "--format",
            "csv",
        ])
        .ok();
    assert_eq!(out, "mrn,id\n007,1\n12,2\n3,10\n");
}

/// `ferry sql ... --format json | head -1`: a clean exit too.
#[test]
fn broken_pipe_in_json_is_a_clean_exit() {
    let wd = staged();
    let ferry = env!("CARGO_BIN_EXE_ferry");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{{ '{ferry}' sql 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n LIMIT 200000) SELECT i FROM n' --format json; echo \"exit $?\" >&2; }} | head -n 1"
        ))
        .current_dir(wd.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr, "exit 0\n");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("{\"format_version\":1"));
}
