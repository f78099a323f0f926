use super::workdir::Workdir;

#[test]
fn stage_outside_a_project_says_what_to_do() {
    let wd = Workdir::new();
    wd.write("a.csv", "id\n1\n");
    let err = wd.run(&["stage", "a.csv"]).fails_with(1);
    assert!(err.contains("no `ferry.toml` found"), "{err}");
    assert!(err.contains("ferry init"), "{err}");
}

#[test]
fn a_missing_input_names_the_path() {
    let wd = Workdir::project();
    let err = wd.run(&["stage", "nope.sql"]).fails_with(1);
    assert!(err.contains("nope.sql"), "{err}");
}

#[test]
fn an_unknown_input_kind_is_refused_with_the_extensions_ferry_reads() {
    let wd = Workdir::project();
    wd.write("data.xyz", "hello");
    let err = wd.run(&["stage", "data.xyz"]).fails_with(1);
    assert!(err.contains("cannot tell what kind of snapshot"), "{err}");
    assert!(err.contains(".sql"), "{err}");
}

/// A truncated dump must fail with file:line and leave no snapshot and no temporary file.
#[test]
fn truncated_dump_fails_atomically_with_its_location() {
    let wd = Workdir::project();
    wd.write(
        "cut.sql",
        "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `name` varchar(20)\n);\n\
         INSERT INTO `t` VALUES (1,'ok'),(2,'never clo",
    );
    let err = wd.run(&["stage", "cut.sql"]).fails_with(1);
    assert!(err.contains("cut.sql:5"), "{err}");
    assert!(err.contains("nothing was added to the workspace"), "{err}");
    let list: serde_json::Value =
        serde_json::from_str(&wd.run(&["snapshots", "--json"]).ok()).unwrap();
    assert_eq!(list["snapshots"], serde_json::json!([]));
    assert_eq!(list["format_version"], 1);
    assert!(
        wd.snapshot_files().is_empty(),
        "left behind: {:?}",
        wd.snapshot_files()
    );
}

#[test]
fn a_bad_delimiter_option_is_explained() {
    let wd = Workdir::project();
    wd.write("a.csv", "id\n1\n");
    let err = wd
        .run(&["stage", "a.csv", "--delimiter", "||"])
        .fails_with(1);
    assert!(err.contains("one ASCII character"), "{err}");
}

#[test]
fn an_unknown_encoding_is_refused() {
    let wd = Workdir::project();
    wd.write("a.csv", "id\n1\n");
    let err = wd
        .run(&["stage", "a.csv", "--encoding", "klingon"])
        .fails_with(1);
    assert!(err.contains("unknown encoding `klingon`"), "{err}");
}
