//! Nothing lost: run folders that never overwrite, output folders that cannot overlap the
//! project's own, one writer at a time, crash points around publishing, Ctrl-C, a closed pipe,
//! and paths that do not depend on the caller's directory.

use super::workdir::{Run, Workdir};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

/// A project with the clinic library and a generated clinic of `patients` staged as snapshot 1.
fn clinic(patients: u32) -> Workdir {
    let wd = Workdir::new();
    wd.run(&["init", "p", "--library", "clinic", "-q"]).ok();
    wd.run(&[
        "-C",
        "p",
        "generate",
        "p/legacy",
        "--patients",
        &patients.to_string(),
        "--sql-only",
        "-q",
    ])
    .ok();
    wd.run(&["-C", "p", "stage", "p/legacy/clinic.sql", "-q"])
        .ok();
    // A clinic this small has a noisy exception rate; these tests are about files, not rates.
    let config = std::fs::read_to_string(wd.join("p/ferry.toml")).unwrap();
    std::fs::write(
        wd.join("p/ferry.toml"),
        config.replace("# max_exception_rate = 0.05", "max_exception_rate = 0.25")
            + "\n[verify.modules.problems]\nmax_exception_rate = 0.25\n",
    )
    .unwrap();
    wd
}

fn in_p<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["-C", "p"];
    all.extend_from_slice(args);
    all
}

fn json(run: &Run) -> Value {
    let out = run.ok();
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// Every entry of a folder (names), sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// sha256 of each NDJSON file of a run folder.
fn hashes(dir: &Path) -> BTreeMap<String, String> {
    use sha2::Digest;
    entries(dir)
        .into_iter()
        .filter(|n| n.ends_with(".ndjson"))
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).unwrap();
            (n, hex::encode(sha2::Sha256::digest(&bytes)))
        })
        .collect()
}

/// Names in the output and workspace folders that only an interrupted command leaves behind.
fn leftovers(wd: &Workdir) -> Vec<String> {
    let mut left = Vec::new();
    for dir in ["p/output", "p/.ferry/runs", "p/.ferry/snapshots", "p"] {
        for n in entries(&wd.join(dir)) {
            if n.contains(".ferry-tmp-") || n.ends_with(".ready") || n.contains(".tmp-") {
                left.push(format!("{dir}/{n}"));
            }
        }
    }
    left
}

/// Regression: `[output] dir = ".ferry"` deleted the whole workspace, `dir = "mappings"` the
/// mappings, and the run exited 0.
#[test]
fn an_output_folder_overlapping_the_workspace_or_mappings_is_refused_and_nothing_is_deleted() {
    let wd = clinic(20);
    let config = std::fs::read_to_string(wd.join("p/ferry.toml")).unwrap();
    for dir in [".ferry", "mappings", "."] {
        let changed = config.replace("dir = \"output\"", &format!("dir = \"{dir}\""));
        assert_ne!(changed, config, "the template's [output] section moved");
        std::fs::write(wd.join("p/ferry.toml"), &changed).unwrap();
        let err = wd.run(&in_p(&["run"])).fails_with(1);
        assert!(
            err.contains("[output] dir") && err.contains("overlaps"),
            "{dir}: {err}"
        );
    }
    std::fs::write(wd.join("p/ferry.toml"), &config).unwrap();
    let list = json(&wd.run(&in_p(&["snapshots", "--json"])));
    assert_eq!(
        list["snapshots"].as_array().unwrap().len(),
        1,
        "the workspace is intact"
    );
    assert!(
        wd.join("p/mappings/patients.toml").is_file(),
        "the mappings are intact"
    );
    assert!(!wd.join("p/output").exists(), "no run was made");
}

/// Regression: `ferry run --modules vitals` replaced the whole output folder, so the previous
/// run's recorded output for every other module was gone (and verify of it said NO-GO).
#[test]
fn a_partial_run_gets_its_own_folder_and_the_previous_run_stays_verifiable() {
    let wd = clinic(30);
    let first = json(&wd.run(&in_p(&["run", "--json"])));
    assert_eq!(first["run"], 1);
    assert_eq!(first["output_dir"], "output/run-0001");
    let before = hashes(&wd.join("p/output/run-0001"));
    assert!(before.len() > 5, "{before:?}");
    let second = json(&wd.run(&in_p(&["run", "--modules", "vitals", "--json"])));
    assert_eq!(second["output_dir"], "output/run-0002");
    assert_eq!(hashes(&wd.join("p/output/run-0001")), before);
    assert_eq!(
        entries(&wd.join("p/output/run-0002")),
        ["Observation.ndjson"]
    );
    assert_eq!(
        std::fs::read_link(wd.join("p/output/latest")).unwrap(),
        Path::new("run-0002")
    );
    wd.run(&in_p(&["verify", "--run", "1", "-q"])).ok();
    let runs = json(&wd.run(&in_p(&["runs", "--json"])));
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["verdict"], "go");
    assert_eq!(runs[0]["output_present"], true);
    assert_eq!(runs[1]["verdict"], Value::Null);
}

/// A second writer is refused at once, naming the holder; readers work meanwhile.
#[test]
fn a_second_writer_is_refused_naming_the_holder_and_readers_are_not_blocked() {
    let wd = clinic(10);
    // Hold the project lock as a running Ferry command does.
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(wd.join("p/.ferry/lock"))
        .unwrap();
    lock.try_lock().unwrap();
    std::fs::write(
        wd.join("p/.ferry/lock"),
        r#"{"command":"run","pid":4242,"actor":"ana","since":"2026-12-02T10:00:00Z"}"#,
    )
    .unwrap();
    for args in [&["run"][..], &["stage", "p/legacy/clinic.sql"], &["verify"]] {
        let err = wd.run(&in_p(args)).fails_with(1);
        assert!(
            err.contains("`ferry run` (PID 4242, by ana, since 2026-12-02T10:00:00Z)"),
            "{args:?}: {err}"
        );
    }
    wd.run(&in_p(&["snapshots"])).ok();
    wd.run(&in_p(&["runs"])).ok();
    wd.run(&in_p(&["check"])).ok();
    lock.unlock().unwrap();
    wd.run(&in_p(&["run", "-q"])).ok();
}

/// Regression: `ferry -C DIR run` recorded the output folder relative to the caller's directory,
/// so `cd DIR && ferry verify` answered NO-GO ("missing from the output folder") for a correct run.
#[test]
fn runs_started_from_elsewhere_verify_from_inside_the_project() {
    let wd = clinic(15);
    wd.run(&in_p(&["run", "-q"])).ok();
    // `wd.command`: the same XDG_CONFIG_HOME, so the same audit-trail checkpoints.
    let inside = wd
        .command(&["verify", "-q"])
        .current_dir(wd.join("p/mappings"))
        .output()
        .unwrap();
    assert!(
        inside.status.success(),
        "{}",
        String::from_utf8_lossy(&inside.stderr)
    );
    let snap = json(&wd.run(&in_p(&["snapshots", "1", "--json"])));
    assert_eq!(snap["files"][0]["path"], "legacy/clinic.sql");
    // The demo with a relative --dir too.
    wd.run(&["demo", "--patients", "40", "--dir", "d", "-q"])
        .ok();
    // `wd.command`: the same XDG_CONFIG_HOME, so the same audit-trail checkpoints.
    let inside = wd
        .command(&["verify", "-q"])
        .current_dir(wd.join("d"))
        .output()
        .unwrap();
    assert!(
        inside.status.success(),
        "{}",
        String::from_utf8_lossy(&inside.stderr)
    );
}

/// A kill at each instant around publishing (crash points: `FERRY_CRASH_AT`): the next command
/// repairs (finishing a recorded run, discarding an unrecorded one), no partial output is ever
/// visible, no temporary file survives, and the re-run's output is byte-identical to a clean run's.
#[test]
fn a_kill_at_every_instant_around_publishing_leaves_the_old_state_or_the_new() {
    let wd = clinic(25);
    wd.run(&in_p(&["run", "-q"])).ok();
    let clean = hashes(&wd.join("p/output/run-0001"));
    let mut runs = 1;
    // (crash point, whether the run is recorded after the crash)
    for (point, recorded) in [
        ("run.before-output-finish", false),
        ("ndjson.before-rename", false),
        ("ledger.before-commit", false),
        ("publish.before-rename", true),
        ("publish.before-latest", true),
    ] {
        let out = wd
            .command(&in_p(&["run", "-q"]))
            .env("FERRY_CRASH_AT", point)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            None,
            "{point}: the crash point was not reached"
        );
        if recorded {
            runs += 1;
        }
        // A reader right after the crash sees only recorded runs.
        let listed = json(&wd.run(&in_p(&["runs", "--json"])));
        assert_eq!(listed["runs"].as_array().unwrap().len(), runs, "{point}");
        for name in entries(&wd.join("p/output")) {
            if let Some(n) = name.strip_prefix("run-") {
                let id: usize = n.parse().unwrap();
                assert!(id <= runs, "{point}: an unrecorded run is visible: {name}");
            }
        }
        // The next writer repairs, then works.
        wd.run(&in_p(&["run", "-q"])).ok();
        runs += 1;
        assert!(leftovers(&wd).is_empty(), "{point}: {:?}", leftovers(&wd));
        let latest = format!("run-{runs:04}");
        assert_eq!(
            std::fs::read_link(wd.join("p/output/latest")).unwrap(),
            Path::new(&latest),
            "{point}"
        );
        for id in 1..=runs {
            let dir = wd.join(&format!("p/output/run-{id:04}"));
            assert_eq!(
                hashes(&dir),
                clean,
                "{point}: run {id} differs from the clean run"
            );
        }
    }
    let orphans: Vec<String> = entries(&wd.join("p/.ferry/runs"))
        .into_iter()
        .filter(|n| {
            n.strip_prefix("run-")
                .and_then(|r| r.strip_suffix(".db"))
                .and_then(|d| d.parse::<usize>().ok())
                .is_some_and(|id| id > runs)
        })
        .collect();
    assert!(orphans.is_empty(), "unrecorded ledgers: {orphans:?}");
    wd.run(&in_p(&["verify", "-q"])).ok();
}

/// kill -9 at random instants of `stage`, `run` and `verify`: after each, the next command works,
/// nothing half-written is visible, no temporary file survives it, and the books are whole. (Many
/// more trials: `bench/crash.sh`.)
#[test]
fn kill_9_at_random_instants_never_loses_or_half_writes_anything() {
    let wd = clinic(40);
    wd.run(&in_p(&["run", "-q"])).ok();
    let clean = hashes(&wd.join("p/output/run-0001"));
    // A time scale: how long a run takes here.
    let t = std::time::Instant::now();
    wd.run(&in_p(&["run", "-q"])).ok();
    let run_ms = t.elapsed().as_millis().max(50) as u64;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n.max(1)
    };
    let mut killed = 0;
    for trial in 0..12 {
        let args: &[&str] = match trial % 3 {
            0 => &["stage", "p/legacy/clinic.sql", "-q"],
            1 => &["run", "-q"],
            _ => &["verify", "-q"],
        };
        let mut child = wd
            .command(&in_p(args))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(next(run_ms)));
        let _ = Command::new("kill")
            .args(["-9", &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        if status.code().is_none() {
            killed += 1;
        }
        // The next writer repairs; then every recorded ok run's folder is whole and verifies
        // against the ledger, and nothing temporary is left.
        wd.run(&in_p(&["run", "-q"])).ok();
        assert!(
            leftovers(&wd).is_empty(),
            "trial {trial}: {:?}",
            leftovers(&wd)
        );
        let runs = json(&wd.run(&in_p(&["runs", "--json"])));
        for r in runs["runs"].as_array().unwrap() {
            if r["status"] == "ok" {
                let dir = wd.join(&format!("p/{}", r["output_dir"].as_str().unwrap()));
                assert_eq!(
                    hashes(&dir),
                    clean,
                    "trial {trial}: run {} is not whole",
                    r["id"]
                );
            }
        }
        let snaps = json(&wd.run(&in_p(&["snapshots", "--json"])));
        for s in snaps["snapshots"].as_array().unwrap() {
            assert_eq!(s["content_sha256"], snaps["snapshots"][0]["content_sha256"]);
        }
    }
    assert!(killed > 0, "no command was killed; the delays are too long");
    wd.run(&in_p(&["verify", "-q"])).ok();
}

/// Ctrl-C during a run: exit 130, "cancelled; nothing changed", no run recorded, nothing left.
#[test]
fn ctrl_c_cancels_a_run_and_nothing_changes() {
    let wd = clinic(400);
    let child = wd
        .command(&in_p(&["run"]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        panic!("the run finished before Ctrl-C; enlarge the clinic of this test");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("cancelled; nothing changed"), "{stderr}");
    let runs = json(&wd.run(&in_p(&["runs", "--json"])));
    assert_eq!(runs["runs"], serde_json::json!([]));
    assert!(leftovers(&wd).is_empty(), "{:?}", leftovers(&wd));
    assert_eq!(entries(&wd.join("p/output")), Vec::<String>::new());
}

/// Regression: `snapshots 1 | head -1`, `exceptions | head -1`, `run --json | head -1` panicked
/// with exit 101.
#[test]
fn a_closed_pipe_is_a_clean_exit_for_every_command() {
    let wd = clinic(20);
    wd.run(&in_p(&["run", "-q"])).ok();
    for args in [
        &["snapshots", "1"][..],
        &["snapshots"],
        &["runs"],
        &["exceptions"],
        &["run", "--json"],
        &["check"],
        &["verify"],
        &["audit"],
        &["profile", "--no-samples"],
        &["sql", "SELECT * FROM patients"],
        &["completions", "bash"],
        &["man"],
        &["library", "list"],
    ] {
        let mut child = wd
            .command(&in_p(args))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(3),
            "{args:?}: {:?} {stderr}",
            out.status
        );
    }
}
