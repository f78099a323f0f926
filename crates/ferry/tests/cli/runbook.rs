//! `ferry runbook`: a timed rehearsal or go-live from runbook.toml, against a real FHIR server
//! started on 127.0.0.1 where the runbook loads (as in `load.rs`).

use super::load::{Node, install, tools};
use super::workdir::{Run, Workdir};
use serde_json::Value;

const PATIENTS: &str = "id,sex,dob\n1,female,1970-01-02\n2,male,1980-03-04\n3,female,1990-05-06\n";

const MODULE: &str = r#"[module]
name = "patients"

[source]
query = "SELECT * FROM patients"
key = "id"

[[resource]]
type = "Patient"

[resource.fields]
"gender" = "row.sex"
"birthDate" = "row.dob | date"
"#;

/// Every kind of step: a go-live-only manual step, the Ferry steps with a load and a check on
/// the target, both gates, a manual step that waits, the report.
const FULL: &str = r#"[runbook]
name = "test cutover"

[[step]]
name = "freeze-legacy"
kind = "manual"
only = ["go-live"]
owner = "Client IT"
instruction = "Put the legacy system in read-only mode"

[[step]]
name = "stage"
kind = "stage"
paths = ["legacy"]
label = "final"

[[step]]
name = "check"
kind = "check"

[[step]]
name = "run"
kind = "run"

[[step]]
name = "verify"
kind = "verify"

[[step]]
name = "verified"
kind = "gate"
require = ["check-clean", "verify-go"]

[[step]]
name = "load"
kind = "load"
target = "ehr"

[[step]]
name = "on-target"
kind = "verify-target"
target = "ehr"

[[step]]
name = "loaded"
kind = "gate"
require = ["load-complete", "target-go"]

[[step]]
name = "client-validation"
kind = "manual"
owner = "Clinical reviewer"
instruction = "Validate 3 charts in the new EHR"

[[step]]
name = "report"
kind = "report"
"#;

/// A project with three patients in `legacy/`, their module, `runbook` as runbook.toml and,
/// given a server, `[targets.ehr]` pointing at it.
fn project(runbook: &str, server: Option<&Node>) -> Workdir {
    let wd = Workdir::project();
    wd.write("legacy/patients.csv", PATIENTS);
    wd.write("mappings/patients.toml", MODULE);
    wd.write("runbook.toml", runbook);
    if let Some(s) = server {
        let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
        wd.write(
            "ferry.toml",
            format!(
                "{config}\n[targets.ehr]\nkind = \"fhir\"\nurl = \"{}/fhir/R4\"\nallow_http = true\n",
                s.url
            ),
        );
    }
    wd
}

fn server() -> Node {
    install();
    Node::start_in(&tools(), "server.mjs", &["--port", "0"])
}

/// Resources on the server, by its admin endpoint.
fn total(server: &Node) -> u64 {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut r = agent
        .get(format!("{}/admin/stats", server.url))
        .call()
        .unwrap();
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    v["resources"].as_u64().unwrap()
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", run.stdout(), run.stderr()))
}

fn status(wd: &Workdir) -> Value {
    json_of(&wd.run(&["runbook", "status", "--json"]))
}

fn step<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {status}"))
}

#[test]
fn a_runbook_runs_end_to_end_waits_for_a_manual_step_and_records_every_step() {
    let server = server();
    let wd = project(FULL, Some(&server));

    // A rehearsal: the go-live-only step is skipped; the manual step stops the line (exit 4).
    let r = wd.run(&["runbook", "start", "--kind", "rehearsal"]);
    let err = r.fails_with(4);
    assert!(
        err.contains("Waiting for Clinical reviewer: Validate 3 charts in the new EHR")
            && err.contains("`ferry runbook confirm client-validation --by NAME`"),
        "{err}"
    );
    // Only one runbook open at a time.
    let err = wd
        .run(&["runbook", "start", "--kind", "go-live"])
        .fails_with(1);
    assert!(err.contains("runbook 1 is still open"), "{err}");
    // A Ferry step is not confirmed by hand; an unknown step is named with the real ones.
    let err = wd
        .run(&["runbook", "confirm", "load", "--by", "Ana"])
        .fails_with(1);
    assert!(err.contains("only manual steps are confirmed"), "{err}");
    let err = wd
        .run(&["runbook", "confirm", "nope", "--by", "Ana"])
        .fails_with(1);
    assert!(
        err.contains("no step `nope`") && err.contains("`report`"),
        "{err}"
    );

    let s = status(&wd);
    assert_eq!(s["status"], "open");
    assert_eq!(step(&s, "freeze-legacy")["state"], "skipped");
    assert_eq!(step(&s, "client-validation")["state"], "waiting");
    assert_eq!(step(&s, "report")["state"], "pending");

    let out = wd
        .run(&[
            "runbook",
            "confirm",
            "client-validation",
            "--by",
            "Dr Rivera",
        ])
        .ok();
    assert!(out.contains("confirmed by Dr Rivera"), "{out}");
    let out = wd.run(&["runbook", "resume"]).ok();
    assert!(out.contains("Runbook 1 (rehearsal) done"), "{out}");

    let s = status(&wd);
    assert_eq!(s["status"], "done");
    for st in s["steps"].as_array().unwrap() {
        if st["state"] == "skipped" {
            continue;
        }
        assert_eq!(st["state"], "done", "{st}");
        assert!(st["started_at"].is_string(), "{st}");
        assert!(st["finished_at"].is_string(), "{st}");
        assert!(st["duration_ms"].is_u64(), "{st}");
        assert!(st["actor"].is_string(), "{st}");
        assert_eq!(st["attempts"], 1, "{st}");
    }
    assert_eq!(step(&s, "stage")["produced"], "snapshot 1");
    assert_eq!(step(&s, "run")["produced"], "run 1");
    assert_eq!(step(&s, "verify")["produced"], "verification 1");
    assert_eq!(step(&s, "load")["produced"], "load 1");
    assert_eq!(step(&s, "on-target")["produced"], "target-verification 1");
    assert_eq!(step(&s, "client-validation")["confirmed_by"], "Dr Rivera");
    assert!(
        step(&s, "loaded")["message"]
            .as_str()
            .unwrap()
            .contains("load-complete: load 1 into `ehr` wrote every resource"),
        "{s}"
    );
    // The run is of the runbook's kind, and the server holds it once (and the Provenance).
    let runs = json_of(&wd.run(&["runs", "--json"]));
    assert_eq!(runs["runs"][0]["kind"], "rehearsal", "{runs}");
    assert_eq!(total(&server), 4);

    // The go-live: it waits at the freeze first, then at the client's validation.
    wd.run(&["runbook", "start", "--kind", "go-live"])
        .fails_with(4);
    assert_eq!(step(&status(&wd), "freeze-legacy")["state"], "waiting");
    wd.run(&["runbook", "confirm", "freeze-legacy", "--by", "Sam"])
        .ok();
    wd.run(&["runbook", "resume"]).fails_with(4);
    wd.run(&[
        "runbook",
        "confirm",
        "client-validation",
        "--by",
        "Dr Rivera",
    ])
    .ok();
    wd.run(&["runbook", "resume"]).ok();
    assert_eq!(
        total(&server),
        5,
        "the same content again: only a Provenance"
    );

    // The report of the go-live run shows its runbook beside the rehearsal.
    wd.run(&["report", "--out", "signoff.html"]).ok();
    let html = std::fs::read_to_string(wd.join("signoff.html")).unwrap();
    assert!(html.contains("<h2>Runbook 2 (go-live)</h2>"), "{html}");
    assert!(html.contains("total window "), "no window");
    assert!(
        html.contains("runbook 1 (rehearsal, done)"),
        "the rehearsal is compared"
    );
    assert!(
        html.contains("<td>Client IT</td><td>Sam</td>"),
        "who confirmed the freeze"
    );
    assert!(
        html.contains("confirmed by Dr Rivera"),
        "who confirmed the validation"
    );
    assert!(
        html.contains("<svg") && html.contains("runbook 1 (rehearsal)</text>"),
        "the chart"
    );
    assert!(!html.contains("<script"), "no script");
}

#[test]
fn a_runbook_killed_at_every_step_resumes_and_completes_with_one_load() {
    let server = server();
    let runbook = FULL.replace(
        "[[step]]\nname = \"client-validation\"\nkind = \"manual\"\nowner = \"Clinical reviewer\"\ninstruction = \"Validate 3 charts in the new EHR\"\n\n",
        "",
    );
    assert!(!runbook.contains("client-validation"));
    let wd = project(&runbook, Some(&server));
    // Each process dies at the next step, as `kill -9` would: alternately after the step was
    // marked running (nothing done yet) and after its operation finished but before the
    // runbook recorded it (the load, sixth, is killed so). From the second process on, the first crash point reached is the
    // re-run of the interrupted step, so `@2` is the next step.
    let mut killed = 0;
    for i in 0..30 {
        let point = if i % 2 == 0 {
            "runbook.step-started"
        } else {
            "runbook.step-done"
        };
        let at = if i == 0 { 1 } else { 2 };
        let args: &[&str] = if i == 0 {
            &["runbook", "start", "--kind", "rehearsal", "-q"]
        } else {
            &["runbook", "resume", "-q"]
        };
        let out = wd
            .command(args)
            .env("FERRY_CRASH_AT", format!("{point}@{at}"))
            .output()
            .unwrap();
        if out.status.success() {
            break;
        }
        assert!(
            out.status.code().is_none(),
            "only the crash point stops it: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        killed += 1;
    }
    let s = status(&wd);
    assert_eq!(s["status"], "done", "{s}");
    let steps = s["steps"].as_array().unwrap();
    let ran: Vec<&Value> = steps.iter().filter(|s| s["state"] != "skipped").collect();
    assert_eq!(killed, ran.len(), "one kill per step: {s}");
    for st in &ran {
        assert_eq!(st["state"], "done", "{st}");
        assert_eq!(st["attempts"], 2, "every step was interrupted once: {st}");
        assert!(st["duration_ms"].is_u64(), "{st}");
    }
    // The load step was killed after its load finished: the re-run adopted that load
    // instead of sending again.
    let loads = json_of(&wd.run(&["loads", "--json"]));
    assert_eq!(loads["loads"].as_array().unwrap().len(), 1, "{loads}");
    assert_eq!(step(&s, "load")["produced"], "load 1");
    assert_eq!(total(&server), 4, "three Patients and one Provenance, once");
    let out = wd.run(&["verify", "--target", "ehr"]).ok();
    assert!(out.contains(": GO"), "{out}");
}

#[test]
fn a_failing_gate_stops_the_runbook_with_every_reason_and_it_resumes_after_the_fix() {
    let runbook = r#"
[[step]]
name = "stage"
kind = "stage"
paths = ["legacy/patients.csv"]

[[step]]
name = "check"
kind = "check"

[[step]]
name = "run"
kind = "run"

[[step]]
name = "verify"
kind = "verify"

[[step]]
name = "verified"
kind = "gate"
require = ["check-clean", "verify-go"]

[[step]]
name = "report"
kind = "report"
"#;
    let wd = project(runbook, None);
    // One birth date of three is impossible: a third of the rows are exceptions, over the 5%
    // limit, so the verification is NO-GO.
    wd.write(
        "legacy/patients.csv",
        PATIENTS.replace("1980-03-04", "1980-02-30"),
    );
    let r = wd.run(&["runbook", "start", "--kind", "rehearsal"]);
    let err = r.fails_with(3);
    assert!(err.contains("NO-GO at gate `verified`:"), "{err}");
    assert!(
        err.contains("verify-go: verification 1 of run 1 is NO-GO: thresholds not met: "),
        "{err}"
    );
    assert!(err.contains("`ferry runbook resume"), "{err}");
    let s = status(&wd);
    assert_eq!(step(&s, "verified")["state"], "failed");
    assert!(
        step(&s, "verified")["message"]
            .as_str()
            .unwrap()
            .contains("verify-go"),
        "{s}"
    );
    assert_eq!(step(&s, "report")["state"], "pending");
    // Resumed without a fix, the gate is judged again and stops again.
    wd.run(&["runbook", "resume"]).fails_with(3);

    // The fix: this project accepts a higher exception rate; verify again from the verify step.
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    wd.write(
        "ferry.toml",
        config.replace("# max_exception_rate = 0.05", "max_exception_rate = 0.5"),
    );
    let out = wd.run(&["runbook", "resume", "--from", "verify"]).ok();
    assert!(out.contains("done"), "{out}");
    let s = status(&wd);
    assert_eq!(s["status"], "done");
    assert_eq!(step(&s, "verify")["produced"], "verification 2");
    // Judged twice before the fix, once after: attempts stay counted across `--from`.
    assert_eq!(step(&s, "verified")["attempts"], 3, "{s}");
    assert!(
        step(&s, "report")["message"]
            .as_str()
            .unwrap()
            .contains("reports/signoff-0001.html"),
        "{s}"
    );
    let html = std::fs::read_to_string(wd.join("reports/signoff-0001.html")).unwrap();
    assert!(html.contains("<h2>Runbook 1 (rehearsal)</h2>"), "{html}");
    assert!(
        html.contains("verify-go: verification 2 of run 1 is GO"),
        "{html}"
    );
}

#[test]
fn a_bad_runbook_toml_gives_every_error_with_file_line_and_column() {
    let bad = "[runbook]\nname = \"x\"\ncolour = \"red\"\n\n[[step]]\nname = \"stage\"\nkind = \"stage\"\n\n[[step]]\nname = \"go\"\nkind = \"gate\"\nrequire = [\"verify-go\", \"looks-fine\"]\n\n[[step]]\nname = \"load\"\nkind = \"load\"\ntarget = \"nowhere\"\n\n[[step]]\nname = \"ask\"\nkind = \"manual\"\nowner = \"IT\"\n";
    let wd = project(bad, None);
    let r = wd.run(&["runbook", "check"]);
    r.fails_with(1);
    let expected = [
        "runbook.toml:3:1: error: unknown key `colour` in `[runbook]`: expected one of `name`, `description`",
        "runbook.toml:7:8: error: step `stage` needs `paths`: the snapshot's files or folders, as `ferry stage` takes them",
        "runbook.toml:12:12: error: gate condition `verify-go` in step `go` judges a `verify` step, and none comes before this gate",
        "runbook.toml:12:25: error: unknown gate condition `looks-fine` in step `go`: expected one of `check-clean`, `verify-go`, `load-complete`, `target-go`",
        "runbook.toml:21:8: error: step `ask` needs `instruction`",
    ];
    let out = r.stdout();
    for e in expected {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
    assert_eq!(out.lines().count(), expected.len(), "{out}");
    // `start` refuses with the same list, and records nothing.
    let err = wd
        .run(&["runbook", "start", "--kind", "rehearsal"])
        .fails_with(1);
    assert!(
        err.contains("`runbook.toml` has 5 error(s); nothing was started"),
        "{err}"
    );
    for e in expected {
        assert!(err.contains(e), "missing {e:?} in:\n{err}");
    }
    assert!(
        wd.run(&["runbook", "status"])
            .ok()
            .contains("No runbook was started yet")
    );

    // Once the file parses, a target missing from ferry.toml is named where it is written.
    wd.write(
        "runbook.toml",
        "[[step]]\nname = \"load\"\nkind = \"load\"\ntarget = \"nowhere\"\n",
    );
    let out = wd.run(&["runbook", "check"]).stdout();
    assert_eq!(
        out.trim(),
        "runbook.toml:4:10: error: step `load`: no `[targets.nowhere]` in ferry.toml; add it (docs/load.md) or name another target"
    );

    // A project made before runbooks: the error names where a runbook comes from.
    std::fs::remove_file(wd.join("runbook.toml")).unwrap();
    let err = wd
        .run(&["runbook", "start", "--kind", "go-live"])
        .fails_with(1);
    assert!(
        err.contains("no `runbook.toml` in")
            && err.contains("`ferry init DIR`")
            && err.contains("docs/runbook.md"),
        "{err}"
    );
}

#[test]
fn the_runbook_ferry_init_writes_parses_and_needs_only_its_target() {
    let wd = Workdir::project();
    let text = std::fs::read_to_string(wd.join("runbook.toml")).unwrap();
    assert!(text.contains("# The kinds:"), "commented");
    let out = wd.run(&["runbook", "check"]);
    out.fails_with(1);
    let lines: Vec<String> = out.stdout().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("no `[targets.ehr]` in ferry.toml")),
        "{lines:?}"
    );
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    wd.write(
        "ferry.toml",
        format!(
            "{config}\n[targets.ehr]\nkind = \"fhir\"\nurl = \"https://ehr.example.org/fhir\"\n"
        ),
    );
    let out = wd.run(&["runbook", "check"]).ok();
    assert!(out.contains("runbook.toml: 15 steps, no problems"), "{out}");
    assert!(out.contains("client-validation"), "{out}");
}

/// After go-live, the back-load: a runbook whose run step is a delta of the go-live run
/// (`base = "go-live"`) migrates only what the legacy system changed since, and lists what it
/// deleted.
#[test]
fn a_back_load_runbook_runs_a_delta_of_the_go_live_run() {
    const GO_LIVE: &str = "[[step]]\nname = \"stage\"\nkind = \"stage\"\npaths = [\"legacy\"]\n\n[[step]]\nname = \"run\"\nkind = \"run\"\n\n[[step]]\nname = \"verify\"\nkind = \"verify\"\n";
    let wd = project(GO_LIVE, None);
    wd.run(&["runbook", "start", "--kind", "go-live"]).ok();
    // The legacy system after go-live: patient 2 edited, 3 deleted, 4 added.
    wd.write(
        "legacy/patients.csv",
        "id,sex,dob\n1,female,1970-01-02\n2,male,1980-03-05\n4,male,2000-07-08\n",
    );
    wd.write(
        "runbook.toml",
        GO_LIVE.replace("kind = \"run\"\n", "kind = \"run\"\nbase = \"go-live\"\n"),
    );
    let out = wd.run(&["runbook", "check"]).ok();
    assert!(!out.contains("error"), "{out}");
    wd.run(&["runbook", "start", "--kind", "go-live"]).ok();
    let runs = json_of(&wd.run(&["runs", "--json"]));
    let last = &runs["runs"][1];
    assert_eq!(last["kind"], "delta", "{runs}");
    assert_eq!(last["base"], 1, "{runs}");
    let written = std::fs::read_to_string(wd.join("output/run-0002/Patient.ndjson")).unwrap();
    assert_eq!(
        written.lines().count(),
        2,
        "the edited and the new patient: {written}"
    );
    let ledger = rusqlite::Connection::open(wd.join(".ferry/runs/run-0002.db")).unwrap();
    let (carried, deleted): (i64, i64) = ledger
        .query_row(
            "SELECT (SELECT count(*) FROM carried_row), (SELECT count(*) FROM deleted_row)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((carried, deleted), (1, 1));
    // A bad base is a diagnostic where it is written.
    wd.write(
        "runbook.toml",
        GO_LIVE.replace("kind = \"run\"\n", "kind = \"run\"\nbase = \"latest\"\n"),
    );
    let out = wd.run(&["runbook", "check"]).stdout();
    assert!(
        out.contains("runbook.toml:9:8: error: `base` in step `run` must be a run number"),
        "{out}"
    );
}
