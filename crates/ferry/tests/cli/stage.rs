use super::workdir::Workdir;

#[test]
fn staging_records_file_sha256_and_row_counts() {
    let wd = Workdir::project();
    wd.write("in/patients.csv", "id,name\n1,Ann\n2,Bob\n");
    wd.write("in/visits.csv", "id,patient_id\n1,1\n");
    let s = wd.stage_json(&["in", "--label", "rehearsal-1"]);
    assert_eq!(s["snapshot"], 1);
    assert_eq!(s["label"], "rehearsal-1");
    assert_eq!(s["rows"], 3);
    assert_eq!(s["files"].as_array().unwrap().len(), 2);
    // sha256 of "id,name\n1,Ann\n2,Bob\n"
    let sha = &s["files"][0]["sha256"];
    assert_eq!(sha.as_str().unwrap().len(), 64);
    let tables: Vec<_> = s["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tables,
        [("patients".to_string(), 2), ("visits".to_string(), 1)]
    );
}

#[test]
fn staging_twice_gives_the_same_content_and_a_new_number() {
    let wd = Workdir::project();
    wd.write("a.csv", "id,name\n1,Zoë\n");
    let a = wd.stage_json(&["a.csv"]);
    let b = wd.stage_json(&["a.csv"]);
    assert_eq!(a["snapshot"], 1);
    assert_eq!(b["snapshot"], 2);
    assert_eq!(a["content_sha256"], b["content_sha256"]);
    assert_eq!(a["files"][0]["sha256"], b["files"][0]["sha256"]);
}

#[test]
fn windows_1252_csv_is_transcoded_and_the_fact_recorded() {
    let wd = Workdir::project();
    // "José" in Windows-1252: é = 0xE9
    wd.write("people.csv", b"id,name\n1,Jos\xe9\n".as_slice());
    let s = wd.stage_json(&["people.csv"]);
    assert_eq!(s["files"][0]["encoding"], "windows-1252");
    assert!(s["notes"]["transcoded"].as_u64().unwrap() >= 1, "{s}");
    let rows = wd.sql_json("SELECT name FROM people", &[]);
    assert_eq!(rows[0]["name"], "José");
}

#[test]
fn ragged_csv_rows_are_set_aside_with_their_line_not_guessed() {
    let wd = Workdir::project();
    wd.write("a.csv", "id,name\n1,Ann\n2,Bob,extra\n3,Cy\n");
    let s = wd.stage_json(&["a.csv"]);
    assert_eq!(s["rows"], 2);
    assert_eq!(s["rejected_rows"], 1);
    let detail = wd.run(&["snapshots", "1"]).ok();
    assert!(detail.contains("a.csv:3"), "{detail}");
    assert!(
        !detail.contains("extra"),
        "raw data must not be printed: {detail}"
    );
    let raw = wd.sql_json("SELECT line, raw FROM _ferry_rejected_rows", &[]);
    assert_eq!(raw[0]["line"], 3);
}

#[test]
fn sqlite_files_are_staged_with_their_tables() {
    let wd = Workdir::project();
    let db = wd.join("legacy.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE pat (id INTEGER PRIMARY KEY, name TEXT, w REAL, pic BLOB);
         INSERT INTO pat VALUES (1, 'Ann', 70.5, x'0001'), (2, NULL, NULL, NULL);
         CREATE VIEW v AS SELECT * FROM pat;",
    )
    .unwrap();
    drop(conn);
    let s = wd.stage_json(&["legacy.sqlite"]);
    assert_eq!(s["rows"], 2);
    assert_eq!(s["notes"]["skipped_object"], 1);
    let rows = wd.sql_json("SELECT id, name, w, pic FROM pat ORDER BY rowid", &[]);
    assert_eq!(rows[0]["name"], "Ann");
    assert_eq!(rows[0]["pic"], "0x0001");
    assert!(rows[1]["name"].is_null());
}

#[test]
fn gzipped_dumps_are_read_directly() {
    use std::io::Write;
    let wd = Workdir::project();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"CREATE TABLE `t` (`a` int);\nINSERT INTO `t` VALUES (1),(2);\n")
        .unwrap();
    wd.write("d.sql.gz", gz.finish().unwrap());
    let s = wd.stage_json(&["d.sql.gz"]);
    assert_eq!(s["rows"], 2);
    assert_eq!(s["files"][0]["kind"], "mysqldump.gz");
}

#[test]
fn snapshots_lists_and_shows_details() {
    let wd = Workdir::project();
    wd.write(
        "d.sql",
        "CREATE TABLE `t` (\n `a` decimal(5,2) unsigned,\n PRIMARY KEY (`a`)\n);\nINSERT INTO `t` VALUES (1.50);\n",
    );
    wd.run(&["stage", "d.sql", "--label", "first"]).ok();
    let list = wd.run(&["snapshots"]).ok();
    assert!(list.contains("first"), "{list}");
    let detail = wd.run(&["snapshots", "1"]).ok();
    assert!(detail.contains("a decimal(5,2) unsigned"), "{detail}");
    assert!(detail.contains("primary key (a)"), "{detail}");
}

/// Ctrl-C during staging: exit 130 and the workspace exactly as before.
#[test]
fn ctrl_c_leaves_the_workspace_unchanged() {
    let wd = Workdir::project();
    // A dump big enough to still be staging after a moment.
    let mut sql = String::from("CREATE TABLE `t` (`a` int, `b` text);\n");
    for chunk in 0..400 {
        sql.push_str("INSERT INTO `t` VALUES ");
        for i in 0..2000 {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "({},'row {chunk} {i} with some padding text')",
                chunk * 2000 + i
            ));
        }
        sql.push_str(";\n");
    }
    wd.write("big.sql", sql);
    let mut child = wd.command(&["stage", "big.sql"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    if status.success() {
        // The machine staged all 800k rows in under 400 ms: nothing to cancel. Say so loudly.
        panic!("staging finished before Ctrl-C; enlarge the input of this test");
    }
    assert_eq!(status.code(), Some(130), "{status:?}");
    let list: serde_json::Value =
        serde_json::from_str(&wd.run(&["snapshots", "--json"]).ok()).unwrap();
    assert_eq!(list["snapshots"], serde_json::json!([]));
    assert!(wd.snapshot_files().is_empty(), "{:?}", wd.snapshot_files());
}

/// A full disk while staging: a clear error, and the workspace exactly as before. Needs root to
/// mount a tiny tmpfs (CI runs as root); elsewhere it says so and checks nothing.
#[test]
fn a_full_disk_leaves_the_workspace_unchanged() {
    let uid = std::process::Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        eprintln!("SKIPPED: mounting a tmpfs needs root");
        return;
    }
    let wd = Workdir::new();
    let mnt = wd.join("tiny");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount failed although running as root");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .current_dir(&mnt)
            .output()
            .unwrap()
    };
    assert!(run(&["init", "."]).status.success());
    // A small snapshot first, so "unchanged" means something.
    wd.write("small.csv", "id\n1\n");
    let small = wd.join("small.csv");
    assert!(run(&["stage", small.to_str().unwrap()]).status.success());
    // About 6 MB of rows: cannot fit in what is left of 2 MB.
    let mut big = String::from("id,text\n");
    for i in 0..60_000 {
        big.push_str(&format!(
            "{i},some text that takes room in the staged table\n"
        ));
    }
    let big_path = wd.write("big.csv", big);
    let out = run(&["stage", big_path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("full") || stderr.contains("space"),
        "the error must say the disk is full: {stderr}"
    );
    let list = run(&["snapshots", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let snapshots = list["snapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), 1, "only the first snapshot remains");
    let files: Vec<_> = std::fs::read_dir(mnt.join(".ferry/snapshots"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["snapshot-0001.db"], "no temporary file left behind");
}
