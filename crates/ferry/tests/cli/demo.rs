use super::workdir::Workdir;

/// The README's main command: it must balance its books and say so.
#[test]
fn demo_runs_end_to_end_and_balances() {
    let wd = Workdir::new();
    let out = wd.run(&["demo", "--patients", "100", "--dir", "demo"]).ok();
    assert!(out.contains("Staged the dump as snapshot 1"), "{out}");
    assert!(out.contains("Staged the CSV export as snapshot 2"), "{out}");
    assert!(!out.contains("MISMATCH"), "{out}");
    let ok_rows = out
        .lines()
        .filter(|l| l.trim_end().ends_with(" ok"))
        .count();
    assert!(ok_rows >= 20, "expected a balanced line per table:\n{out}");
    assert!(wd.join("demo/ferry.toml").exists());
    assert!(wd.join("demo/legacy/manifest.json").exists());
}
