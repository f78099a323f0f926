//! The tamper-evident audit trail (docs/audit-trail.md): a demo-sized flow is recorded and
//! verifies; then each way of tampering (entries deleted, edited, swapped, truncated; the
//! checkpoint file deleted or replaced by one signed with another key; catalog books and
//! verdicts `UPDATE`d; run-ledger and staged rows deleted) is detected, by `ferry audit-trail
//! --verify` and by the command that would have relied on it.

use super::workdir::{Workdir, clinic_run};
use std::path::Path;
use std::sync::OnceLock;

/// The clinic flow once (generate, stage, run, verify); each test works on a copy.
fn template() -> &'static (Workdir, String) {
    static T: OnceLock<(Workdir, String)> = OnceLock::new();
    T.get_or_init(|| {
        let wd = clinic_run("");
        let out = wd.run(&["verify"]);
        let verdict = if out.code() == 0 { "go" } else { "no-go" };
        (wd, verdict.to_string())
    })
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            copy_tree(&src, &dst);
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&src).unwrap();
            std::os::unix::fs::symlink(target, &dst).unwrap();
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A fresh copy of the recorded clinic project, with its own copy of the trail folder.
fn clinic() -> Workdir {
    let (t, _) = template();
    let wd = Workdir::new();
    copy_tree(t.path(), wd.path());
    copy_tree(t.config_home(), wd.config_home());
    wd
}

fn catalog(wd: &Workdir) -> rusqlite::Connection {
    rusqlite::Connection::open(wd.join(".ferry/catalog.db")).unwrap()
}

fn checkpoints(wd: &Workdir) -> std::path::PathBuf {
    let ferry = wd.config_home().join("ferry");
    let project = std::fs::read_dir(&ferry)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    project.join("trail-checkpoints")
}

fn max_seq(wd: &Workdir) -> i64 {
    catalog(wd)
        .query_row("SELECT max(seq) FROM trail_entry", [], |r| r.get(0))
        .unwrap()
}

/// `ferry audit-trail --verify` fails (exit 3) naming `first_bad` (when given) and `what`.
fn verify_detects(wd: &Workdir, first_bad: Option<i64>, what: &str) -> String {
    let out = wd.run(&["audit-trail", "--verify"]);
    let stdout = out.stdout();
    assert_eq!(
        out.code(),
        3,
        "tampering not detected:\n{stdout}{}",
        out.stderr()
    );
    assert!(stdout.contains("TAMPERED"), "{stdout}");
    if let Some(seq) = first_bad {
        assert!(
            stdout.contains(&format!("first bad entry: {seq}\n")),
            "expected first bad entry {seq}:\n{stdout}"
        );
    }
    assert!(stdout.contains(what), "expected `{what}` in:\n{stdout}");
    stdout
}

#[test]
fn an_untouched_trail_verifies_and_lists_every_operation_without_phi() {
    let wd = clinic();
    let out = wd.run(&["audit-trail", "--verify"]).ok();
    assert!(out.contains("intact"), "{out}");
    let list = wd.run(&["audit-trail"]).ok();
    for op in ["stage", "run", "verify"] {
        assert!(list.contains(&format!(" {op} ")), "{op} missing:\n{list}");
    }
    // The report relies on the sealed books and verdict, and is itself recorded.
    let (_, verdict) = template();
    let report = wd.run(&["report"]);
    assert_eq!(
        report.code(),
        if verdict == "go" { 0 } else { 3 },
        "{}",
        report.stderr()
    );
    let json = wd.run(&["audit-trail", "--json", "--facts"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let entries = doc["entries"].as_array().unwrap();
    let last = entries.last().unwrap();
    assert_eq!(last["operation"], "report");
    assert!(last["facts"]["report.sha256"].as_str().unwrap().len() == 64);
    let run = entries.iter().find(|e| e["operation"] == "run").unwrap();
    assert!(run["facts"]["books_sha256"].as_str().is_some(), "{run}");
    assert!(run["facts"]["books.patients"].as_str().is_some(), "{run}");
    // No patient value: none of the staged patients' names appears in the trail's listing.
    let conn = rusqlite::Connection::open(wd.join(".ferry/snapshots/snapshot-0001.db")).unwrap();
    let names: Vec<String> = conn
        .prepare("SELECT last_name FROM patients LIMIT 20")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!names.is_empty());
    for n in names.iter().filter(|n| n.len() > 3) {
        assert!(!json.contains(n.as_str()), "patient name in the trail");
    }
    wd.run(&["audit-trail", "--verify"]).ok();
    // Key and checkpoints: outside the workspace, owner-only.
    use std::os::unix::fs::PermissionsExt;
    let key = checkpoints(&wd).with_file_name("trail-signing-key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!checkpoints(&wd).starts_with(wd.path()));
}

#[test]
fn deleting_an_entry_is_detected_at_its_sequence_number() {
    let wd = clinic();
    catalog(&wd)
        .execute("DELETE FROM trail_entry WHERE seq = 2", [])
        .unwrap();
    verify_detects(&wd, Some(2), "deleted");
    // And whatever relies on the trail refuses.
    let err = wd.run(&["verify"]).fails_with(1);
    assert!(err.contains("refused"), "{err}");
}

#[test]
fn editing_an_entry_is_detected() {
    let wd = clinic();
    catalog(&wd)
        .execute("UPDATE trail_entry SET actor = 'mallory' WHERE seq = 2", [])
        .unwrap();
    verify_detects(&wd, Some(2), "edited");
    // Editing the facts and recomputing the entry's own hash breaks the next link instead.
    let wd = clinic();
    let conn = catalog(&wd);
    conn.execute(
        "UPDATE trail_entry SET facts = replace(facts, '\"run\":\"1\"', '\"run\":\"9\"') WHERE operation = 'run'",
        [],
    )
    .unwrap();
    verify_detects(&wd, None, "audit-trail entry");
}

#[test]
fn swapping_two_entries_is_detected() {
    let wd = clinic();
    let conn = catalog(&wd);
    conn.execute_batch(
        "UPDATE trail_entry SET seq = -1 WHERE seq = 1;
         UPDATE trail_entry SET seq = 1 WHERE seq = 2;
         UPDATE trail_entry SET seq = 2 WHERE seq = -1;",
    )
    .unwrap();
    verify_detects(&wd, Some(1), "audit-trail entry 1");
}

#[test]
fn truncating_the_tail_is_detected_by_the_signed_checkpoint() {
    let wd = clinic();
    let last = max_seq(&wd);
    catalog(&wd)
        .execute("DELETE FROM trail_entry WHERE seq = ?1", [last])
        .unwrap();
    verify_detects(&wd, Some(last), "truncated");
}

#[test]
fn a_deleted_or_foreign_checkpoint_file_is_detected() {
    let wd = clinic();
    std::fs::remove_file(checkpoints(&wd)).unwrap();
    verify_detects(&wd, None, "is missing");

    // Another project's checkpoints (another key) put in place of this one's.
    let wd = clinic();
    let other = Workdir::project();
    other
        .run(&["generate", "legacy", "--patients", "5", "--sql-only"])
        .ok();
    other.run(&["stage", "legacy/clinic.sql"]).ok();
    std::fs::copy(checkpoints(&other), checkpoints(&wd)).unwrap();
    verify_detects(&wd, None, "is not this project's");
}

#[test]
fn raising_catalog_books_to_turn_no_go_into_go_is_refused() {
    let wd = clinic();
    // Make the verdict NO-GO: no exceptions allowed.
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    wd.write(
        "ferry.toml",
        config.replace("max_exception_rate = 0.25", "max_exception_rate = 0.0"),
    );
    wd.run(&["verify"]).fails_with(3);
    // The attack: move the exceptions into `migrated` in catalog.db.
    let changed = catalog(&wd)
        .execute(
            "UPDATE run_module SET migrated = migrated + exceptions, exceptions = 0 WHERE exceptions > 0",
            [],
        )
        .unwrap();
    assert!(changed > 0, "the clinic has no exceptions to hide");
    let err = wd.run(&["verify"]).fails_with(1);
    assert!(err.contains("refused"), "{err}");
    assert!(err.contains("`catalog.db` (table run_module)"), "{err}");
    assert!(err.contains("sealed"), "{err}");
    let err = wd.run(&["report"]).fails_with(1);
    assert!(err.contains("run_module"), "{err}");
    verify_detects(&wd, None, "run_module");
}

#[test]
fn a_changed_verdict_or_run_ledger_is_refused() {
    let wd = clinic();
    let (_, verdict) = template();
    let flipped = if verdict == "go" { "no-go" } else { "go" };
    catalog(&wd)
        .execute("UPDATE verification SET verdict = ?1", [flipped])
        .unwrap();
    let err = wd.run(&["report"]).fails_with(1);
    assert!(err.contains("table verification"), "{err}");
    verify_detects(&wd, None, "the verdict was changed");

    // Exception records deleted from the run's own ledger file.
    let wd = clinic();
    let run_db = rusqlite::Connection::open(wd.join(".ferry/runs/run-0001.db")).unwrap();
    let n = run_db.execute("DELETE FROM exception", []).unwrap();
    assert!(n > 0);
    let err = wd.run(&["verify"]).fails_with(1);
    assert!(err.contains("the run's own ledger file"), "{err}");
}

#[test]
fn deleting_staged_rows_is_detected_by_the_next_verify_and_report() {
    let wd = clinic();
    let conn = rusqlite::Connection::open(wd.join(".ferry/snapshots/snapshot-0001.db")).unwrap();
    let n = conn
        .execute(
            "DELETE FROM patients WHERE rowid IN (SELECT rowid FROM patients LIMIT 5)",
            [],
        )
        .unwrap();
    assert_eq!(n, 5);
    let err = wd.run(&["verify"]).fails_with(1);
    assert!(err.contains("snapshot 1"), "{err}");
    assert!(err.contains("`patients`"), "{err}");
    let err = wd.run(&["report"]).fails_with(1);
    assert!(err.contains("no longer holds what was staged"), "{err}");
    verify_detects(&wd, None, "no longer holds what was staged");
    // Even when the catalog's hash is made to match the edited file, the sealed one does not.
    // (Recomputing the hash by hand is what an attacker would do; the trail keeps the original.)
}
