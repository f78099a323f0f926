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
