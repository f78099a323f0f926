use super::workdir::Workdir;

#[test]
fn init_creates_a_project_that_keeps_phi_out_of_git() {
    let wd = Workdir::new();
    let out = wd.run(&["init", "clinic"]).ok();
    assert!(out.contains("Created Ferry project `clinic`"), "{out}");
    for p in [
        "ferry.toml",
        "mappings",
        "concept-maps",
        "checks",
        ".gitignore",
        "runbook.toml",
    ] {
        assert!(wd.join("clinic").join(p).exists(), "{p} missing");
    }
    let gi = std::fs::read_to_string(wd.join("clinic/.gitignore")).unwrap();
    assert!(gi.contains("/.ferry/") && gi.contains("/output/") && gi.contains("/reports/"));
}

#[test]
fn init_refuses_to_overwrite_a_project() {
    let wd = Workdir::new();
    wd.run(&["init", "p"]).ok();
    let err = wd.run(&["init", "p"]).fails_with(1);
    assert!(err.contains("already holds a Ferry project"), "{err}");
}

#[test]
fn commands_find_the_project_from_a_subfolder() {
    let wd = Workdir::project();
    wd.write("a.csv", "id,name\n1,x\n");
    std::fs::create_dir_all(wd.join("mappings/deep")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["stage", "../../a.csv", "--json"])
        .current_dir(wd.join("mappings/deep"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wd.join(".ferry/catalog.db").exists());
}

#[test]
fn a_typo_in_ferry_toml_is_reported_with_its_line() {
    let wd = Workdir::project();
    wd.write(
        "ferry.toml",
        "[project]\nname = \"x\"\n[stage]\ncsv_encodng = \"latin1\"\n",
    );
    let err = wd.run(&["snapshots"]).fails_with(1);
    assert!(
        err.contains("csv_encodng") && err.contains("line 4"),
        "{err}"
    );
}
