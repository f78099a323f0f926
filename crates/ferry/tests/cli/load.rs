//! `ferry load`, `ferry verify --target` and `ferry rollback` against a real FHIR server
//! (Medplum's router on Node, `tools/fhir-server`) started on 127.0.0.1 by each test, with the
//! fault-injecting proxy in front of it where a test says so.

use super::workdir::Workdir;
use serde_json::{Value, json};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;

pub(super) fn tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/fhir-server")
}

/// `npm ci` once per test binary when the server's packages are not installed yet.
pub(super) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| npm_ci(&tools(), "node_modules/@medplum/fhir-router"));
}

/// `npm ci --prefix dir` unless `dir/probe` is there already.
pub(super) fn npm_ci(dir: &Path, probe: &str) {
    if dir.join(probe).is_dir() {
        return;
    }
    let st = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(dir)
        .status()
        .expect("npm is needed for the test servers (apt-get install nodejs npm)");
    assert!(st.success(), "npm ci --prefix {} failed", dir.display());
}

/// A node process that printed `listening http://127.0.0.1:PORT`; killed when dropped.
pub(super) struct Node {
    child: Child,
    pub(super) url: String,
}

impl Node {
    fn start(script: &str, args: &[&str]) -> Node {
        install();
        Node::start_in(&tools(), script, args)
    }

    /// `node dir/script args...` (its packages installed already).
    pub(super) fn start_in(dir: &Path, script: &str, args: &[&str]) -> Node {
        let mut child = Command::new("node")
            .arg(dir.join(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node is needed for the FHIR test server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("{script} did not start: {line:?}"))
            .to_string();
        Node { child, url }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Server {
    node: Node,
}

impl Server {
    fn start() -> Server {
        Server {
            node: Node::start("server.mjs", &["--port", "0"]),
        }
    }
    /// A server that validates every resource written (and refuses what is not valid R4).
    fn validating() -> Server {
        Server {
            node: Node::start("server.mjs", &["--port", "0", "--validate"]),
        }
    }
    fn base(&self) -> String {
        format!("{}/fhir/R4", self.node.url)
    }
    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
    }
    fn total(&self) -> u64 {
        let mut r = Self::agent()
            .get(format!("{}/admin/stats", self.node.url))
            .call()
            .unwrap();
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        v["resources"].as_u64().unwrap()
    }
    fn types(&self) -> Value {
        let mut r = Self::agent()
            .get(format!("{}/admin/stats", self.node.url))
            .call()
            .unwrap();
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        v["types"].clone()
    }
    fn put(&self, resource: &Value) -> u16 {
        let path = format!(
            "{}/{}/{}",
            self.base(),
            resource["resourceType"].as_str().unwrap(),
            resource["id"].as_str().unwrap()
        );
        Self::agent()
            .put(path)
            .header("Content-Type", "application/fhir+json")
            .send(serde_json::to_vec(resource).unwrap())
            .unwrap()
            .status()
            .as_u16()
    }
    /// The resource without `meta`, or `None` (404/410).
    fn get(&self, t: &str, id: &str) -> Option<Value> {
        let mut r = Self::agent()
            .get(format!("{}/{t}/{id}", self.base()))
            .call()
            .unwrap();
        if r.status() != 200 {
            return None;
        }
        let mut v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("meta");
        Some(v)
    }
}

/// The generated 60-patient clinic, migrated with the module library and verified GO, with
/// `[targets.ehr]` pointing at `url`.
fn clinic(url: &str) -> Workdir {
    let wd = super::workdir::clinic_run(&format!(
        "\n[targets.ehr]\nkind = \"fhir\"\nurl = \"{url}\"\nallow_http = true\nretry_for_secs = 120\n"
    ));
    wd.run(&["verify"]).ok();
    wd
}

/// The run's resources: (type, id) -> resource.
fn run_resources(wd: &Workdir) -> Vec<Value> {
    let dir = wd.join("output/latest");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".ndjson") {
            for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                out.push(serde_json::from_str(line).unwrap());
            }
        }
    }
    out
}

fn json_of(run: &super::workdir::Run) -> Value {
    serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", run.stdout(), run.stderr()))
}

#[test]
fn a_load_lands_exactly_once_verifies_go_and_rolls_back_to_what_the_server_held() {
    let server = Server::start();
    let wd = clinic(&server.base());
    let resources = run_resources(&wd);
    let n = resources.len() as u64;
    assert!(n > 1000, "{n} resources");
    // The server already holds one of the run's ids (other content) and a resource of its own.
    let mut prior = resources
        .iter()
        .find(|r| r["resourceType"] == "Patient")
        .unwrap()
        .clone();
    prior["gender"] = json!("unknown");
    prior.as_object_mut().unwrap().remove("meta");
    let pid = prior["id"].as_str().unwrap().to_string();
    assert_eq!(server.put(&prior), 201);
    let other = json!({"resourceType": "Patient", "id": "not-from-ferry", "gender": "female"});
    assert_eq!(server.put(&other), 201);

    let s = json_of(&wd.run(&["load", "--target", "ehr", "--json"]));
    assert_eq!(s["resources"], n);
    assert_eq!(s["sent"], n + 1, "{s}"); // every resource and the Provenance
    assert_eq!(s["failed"], 0);
    assert_eq!(
        server.total(),
        n + 2,
        "exactly once: the run, one Provenance, the other"
    );
    assert_ne!(server.get("Patient", &pid).unwrap()["gender"], "unknown");
    let out = wd.run(&["verify", "--target", "ehr"]).ok();
    assert!(out.contains(": GO"), "{out}");
    // The library's comparative searches ran as FHIR searches on the server, and agree.
    for name in [
        "patients",
        "type-2-diabetes-patients",
        "immunizations-2019",
        "patients-with-allergies",
    ] {
        assert!(
            out.contains(&format!("pass  search:{name} (")),
            "{name}: {out}"
        );
    }
    // Recorded, and shown in the sign-off report.
    wd.run(&["report", "--out", "signoff.html"]).ok();
    let html = std::fs::read_to_string(wd.join("signoff.html")).unwrap();
    assert!(
        html.contains("Verification on the target"),
        "no target section"
    );
    assert!(html.contains("search:type-2-diabetes-patients"));
    // ... and so is the load: who, when, what it wrote.
    assert!(html.contains("<h3>Loads into the target</h3>"), "no loads");
    assert!(
        html.contains("<span class=\"badge pass\">loaded</span>")
            && html.contains(&format!("<td class=\"n\">{}</td>", thousands(n + 1))),
        "load 1 row"
    );

    // A search whose server answer differs from the snapshot is a NO-GO on the target, and
    // the report's decision follows the latest target verification.
    wd.write(
        "checks/target.toml",
        "[[search]]\nname = \"wrong\"\nsql = \"SELECT count(*) + 1 FROM patients\"\nresource = \"Patient\"\nfhir_search = \"Patient\"\n",
    );
    let r = wd.run(&["verify", "--target", "ehr"]);
    r.fails_with(3);
    assert!(
        r.stdout().contains("FAIL  search:wrong (Patient)"),
        "{}",
        r.stdout()
    );
    let r = wd.run(&["report", "--out", "signoff.html"]);
    let html = std::fs::read_to_string(wd.join("signoff.html")).unwrap();
    assert!(
        html.contains("on target `ehr` answered no-go: failed checks search:wrong"),
        "{}",
        r.stdout()
    );
    std::fs::remove_file(wd.join("checks/target.toml")).unwrap();
    wd.run(&["verify", "--target", "ehr"]).ok();

    // Loading again sends nothing: the server holds the same content.
    let s2 = json_of(&wd.run(&["load", "--target", "ehr", "--json"]));
    assert_eq!(s2["unchanged"], n, "{s2}");
    assert_eq!(s2["sent"], 1); // its own Provenance
    assert_eq!(server.total(), n + 3);

    // A changed resource on the server is a NO-GO on the target.
    let mut changed = resources
        .iter()
        .find(|r| r["resourceType"] == "Observation")
        .unwrap()
        .clone();
    let cid = changed["id"].as_str().unwrap().to_string();
    let original = changed.clone();
    changed["status"] = json!("entered-in-error");
    server.put(&changed);
    let r = wd.run(&["verify", "--target", "ehr"]);
    r.fails_with(3);
    let out = r.stdout();
    assert!(
        out.contains(&format!("Observation/{cid}: differs")),
        "{out}"
    );
    // ... and it stops the rollback, which then changes nothing.
    let before = server.total();
    let r = wd.run(&["rollback", "--target", "ehr", "--load", "1"]);
    r.fails_with(1);
    let out = r.stdout();
    assert!(out.contains(&format!("Observation/{cid}")), "{out}");
    assert_eq!(server.total(), before);
    server.put(&original);
    // The edit put back by hand is still a new version: the rollback still refuses it.
    wd.run(&["rollback", "--target", "ehr", "--load", "1"])
        .fails_with(1);

    // A fresh load of the same data onto a server with only the prior content rolls back exactly.
    let server = Server::start();
    let wd = clinic(&server.base());
    // A new project has its own namespace, so its own ids: the prior Patient takes one of them.
    let mut prior = run_resources(&wd)
        .into_iter()
        .find(|r| r["resourceType"] == "Patient")
        .unwrap();
    prior["gender"] = json!("unknown");
    prior.as_object_mut().unwrap().remove("meta");
    let pid = prior["id"].as_str().unwrap().to_string();
    server.put(&prior);
    server.put(&other);
    let s = json_of(&wd.run(&["load", "--target", "ehr", "--json"]));
    assert_eq!(s["failed"], 0);
    assert_eq!(server.total(), n + 2);
    let r = json_of(&wd.run(&["rollback", "--target", "ehr", "--load", "1", "--json"]));
    assert_eq!(r["restored"], n + 1, "{r}");
    assert_eq!(server.total(), 2, "{}", server.types());
    let mut back = server.get("Patient", &pid).unwrap();
    back.as_object_mut().unwrap().remove("meta");
    assert_eq!(back, prior, "the prior Patient is back as it was");
    assert_eq!(server.get("Patient", "not-from-ferry").unwrap(), other);
    let loads = json_of(&wd.run(&["loads", "--json"]));
    assert_eq!(loads["loads"][0]["status"], "rolled-back", "{loads}");
    assert_eq!(loads["loads"][0]["states"]["done"], n + 1, "{loads}");
}

#[test]
fn with_injected_faults_nothing_is_lost_or_duplicated() {
    let server = Server::start();
    let proxy = Node::start(
        "proxy.mjs",
        &[
            "--target",
            &server.node.url,
            "--port",
            "0",
            "--rate",
            "0.1",
            "--seed",
            "7",
            "--slow-ms",
            "300",
        ],
    );
    let wd = clinic(&format!("{}/fhir/R4", proxy.url));
    // The library's vitals, audiograms and spirometry load as transactions: 5xx, 429 and
    // resets hit them too.
    let n = run_resources(&wd).len() as u64;
    let s = json_of(&wd.run(&["load", "--target", "ehr", "--json"]));
    assert_eq!(s["failed"], 0, "{s}");
    assert!(s["transactions"].as_u64().unwrap() > 0, "{s}");
    assert!(
        s["retries"].as_u64().unwrap() + s["entry_retries"].as_u64().unwrap() > 0,
        "faults were injected and retried: {s}"
    );
    assert_eq!(server.total(), n + 1, "{}", server.types());
    let out = wd.run(&["verify", "--target", "ehr"]).ok();
    assert!(out.contains(": GO"), "{out}");
}

#[test]
fn a_killed_load_resumes_to_exactly_once() {
    let server = Server::start();
    let proxy = Node::start(
        "proxy.mjs",
        &[
            "--target",
            &server.node.url,
            "--port",
            "0",
            "--rate",
            "0.3",
            "--kinds",
            "slow,reset-after",
            "--slow-ms",
            "150",
            "--seed",
            "3",
        ],
    );
    let wd = clinic(&format!("{}/fhir/R4", proxy.url));
    // Kills land inside the library's transactions (vitals, audiograms, spirometry) as well as
    // inside batches.
    let n = run_resources(&wd).len() as u64;
    for (trial, ms) in [700u64, 1500, 2600].into_iter().enumerate() {
        let mut child = wd
            .command(&["load", "--target", "ehr", "-q"])
            .args(if trial > 0 { vec!["--resume"] } else { vec![] })
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() {
            break; // it finished before the kill
        }
    }
    let out = wd.run(&["load", "--target", "ehr"]);
    if out.code() != 0 {
        // Killed mid-load: a plain load names --resume, and --resume finishes it.
        assert!(out.stderr().contains("--resume"), "{}", out.stderr());
        wd.run(&["load", "--target", "ehr", "--resume"]).ok();
    }
    // Every resource of the run exactly once (and one Provenance per finished load).
    let types = server.types();
    let provenances = types["Provenance"].as_u64().unwrap_or(0);
    assert!(provenances >= 1, "{types}");
    assert_eq!(server.total() - provenances, n, "{types}");
    let out = wd.run(&["verify", "--target", "ehr"]).ok();
    assert!(out.contains(": GO"), "{out}");
}

#[test]
fn an_unverified_run_and_plain_http_to_another_host_are_refused() {
    let wd = Workdir::project();
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    wd.write(
        "ferry.toml",
        format!(
            "{config}\n[targets.remote]\nkind = \"fhir\"\nurl = \"http://ehr.example.org/fhir\"\nallow_http = true\n"
        ),
    );
    let err = wd.run(&["load", "--target", "remote"]).fails_with(1);
    assert!(err.contains("not this machine"), "{err}");
    let err = wd.run(&["load", "--target", "nowhere"]).fails_with(1);
    assert!(
        err.contains("no target `nowhere`") && err.contains("remote"),
        "{err}"
    );

    let server = Server::start();
    let wd = clinic(&server.base());
    let v = wd.run(&["verify"]);
    assert_eq!(v.code(), 0);
    // A corrupted output makes the last verification NO-GO: the load is refused.
    let dir = wd.join("output/latest");
    let obs = dir.join("Observation.ndjson");
    let text = std::fs::read_to_string(&obs).unwrap();
    let first = text.lines().next().unwrap().len() + 1;
    std::fs::write(&obs, &text[first..]).unwrap();
    wd.run(&["verify"]).fails_with(3);
    let err = wd.run(&["load", "--target", "ehr"]).fails_with(1);
    assert!(err.contains("only a run that verified GO"), "{err}");
    assert_eq!(server.total(), 0);
}

#[test]
fn an_import_manifest_names_every_ndjson_file_of_a_verified_run() {
    let wd = super::workdir::clinic_run("");
    // Not verified yet: refused, naming the command that verifies.
    let r = wd.run(&[
        "import-manifest",
        "--files-url",
        "https://files.example.org/run-1",
    ]);
    r.fails_with(1);
    assert!(
        r.stderr().contains("ferry verify --run 1"),
        "{}",
        r.stderr()
    );
    wd.run(&["verify"]).ok();
    let r = wd.run(&[
        "import-manifest",
        "--files-url",
        "http://files.example.org/x",
    ]);
    r.fails_with(1);
    assert!(r.stderr().contains("https://"), "{}", r.stderr());
    let s = json_of(&wd.run(&[
        "import-manifest",
        "--files-url",
        "https://files.example.org/run-1/",
        "--json",
    ]));
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(wd.join(s["path"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(m["resourceType"], "Parameters");
    let inputs: Vec<&Value> = m["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "input")
        .collect();
    let files: Vec<String> = std::fs::read_dir(wd.join("output/latest"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ndjson"))
        .collect();
    assert_eq!(inputs.len(), files.len());
    let mut total = 0;
    for i in &inputs {
        let url = i["part"][1]["valueUri"].as_str().unwrap();
        let name = url
            .strip_prefix("https://files.example.org/run-1/")
            .unwrap();
        assert!(files.iter().any(|f| f == name), "{url}");
        assert_eq!(
            format!("{}.ndjson", i["part"][0]["valueCode"].as_str().unwrap()),
            name
        );
        total += i["part"][2]["valueInteger"].as_u64().unwrap();
    }
    assert_eq!(total, run_resources(&wd).len() as u64);
    assert_eq!(s["resources"], total);
}

/// The groups (type, id) of `module`'s rows that made more than one resource, from the run's
/// lineage.
fn lineage_groups(wd: &Workdir, module: &str) -> Vec<Vec<(String, String)>> {
    let db = rusqlite::Connection::open_with_flags(
        wd.join(".ferry/runs/run-0001.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut st = db
        .prepare("SELECT resources FROM lineage_row WHERE module = ?1 AND json_array_length(resources) > 1 ORDER BY rowid")
        .unwrap();
    st.query_map([module], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|t| {
            let v: Vec<Vec<Value>> = serde_json::from_str(&t.unwrap()).unwrap();
            v.into_iter()
                .map(|r| {
                    (
                        r[0].as_str().unwrap().to_string(),
                        r[1].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .collect()
}

/// Replaces the NDJSON line of `t/id` in the run's output with `f(line)`; returns the old line.
fn edit_output_line(wd: &Workdir, t: &str, id: &str, f: impl Fn(&str) -> String) -> String {
    let path = wd.join(&format!("output/latest/{t}.ndjson"));
    let text = std::fs::read_to_string(&path).unwrap();
    let needle = format!("\"id\":\"{id}\"");
    let mut old = String::new();
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.contains(&needle) {
                old = l.to_string();
                f(l)
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(!old.is_empty(), "{t}/{id} not in {}", path.display());
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    old
}

// Regression for "a group must land together": the vital signs of one visit (one source row,
// nine Observations) are one transaction; one resource the server refuses keeps the whole
// row off the server, and no other row.
#[test]
fn a_transaction_module_lands_each_rows_resources_together_or_not_at_all() {
    let server = Server::validating();
    let wd = clinic(&server.base());
    // The module library says so for vitals, audiograms and spirometry.
    for m in ["vitals", "audiograms", "pft"] {
        let text = std::fs::read_to_string(wd.join(&format!("mappings/{m}.toml"))).unwrap();
        assert!(text.contains("\nload = \"transaction\"\n"), "{m}");
    }
    let vitals = lineage_groups(&wd, "vitals");
    let others = [
        lineage_groups(&wd, "audiograms"),
        lineage_groups(&wd, "pft"),
    ];
    assert!(
        vitals.len() > 2 && others.iter().all(|g| !g.is_empty()),
        "{vitals:?}"
    );
    let grouped: usize = vitals
        .iter()
        .chain(others.iter().flatten())
        .map(Vec::len)
        .sum();
    let (bad, good) = (&vitals[1], &vitals[2]);
    // One resource of one row made unacceptable to the server (an element R4 does not have).
    let (bt, bid) = &bad[bad.len() - 1];
    let original = edit_output_line(&wd, bt, bid, |l| l.replacen('{', "{\"bogus\":1,", 1));
    let n = run_resources(&wd).len();

    let s = json_of(&wd.run(&["load", "--target", "ehr", "--json"]));
    assert_eq!(s["grouped"], grouped as u64, "{s}");
    let tx = s["transactions"].as_u64().unwrap();
    assert!(
        tx >= (grouped as u64).div_ceil(50) && tx < grouped as u64,
        "{s}"
    );
    assert_eq!(
        s["failed"],
        bad.len() as u64,
        "the whole row is refused: {s}"
    );
    for (t, id) in bad {
        assert!(
            server.get(t, id).is_none(),
            "{t}/{id} of the refused row landed"
        );
    }
    for (t, id) in good {
        assert!(
            server.get(t, id).is_some(),
            "{t}/{id} of a good row is missing"
        );
    }
    assert_eq!(
        server.total() as usize,
        n - bad.len() + 1,
        "{}",
        server.types()
    );
    let out = wd.run(&["loads"]).ok();
    assert!(out.contains("failures") || out.contains("refused"), "{out}");
    // A load the target refused part of blocks the sign-off.
    let refused = format!(
        "load 1 of run 1 into `ehr`: the target refused {} resources",
        bad.len()
    );
    wd.run(&["report", "--out", "signoff.html"]);
    let html = std::fs::read_to_string(wd.join("signoff.html")).unwrap();
    assert!(html.contains(&refused), "no blocker for the refused row");
    assert!(html.contains("loaded-with-failures"));

    // Fixed, loaded again: the row lands whole and the server's copy verifies GO.
    edit_output_line(&wd, bt, bid, |_| original.clone());
    let s = json_of(&wd.run(&["load", "--target", "ehr", "--json"]));
    assert_eq!(s["failed"], 0, "{s}");
    assert_eq!(
        s["sent"],
        bad.len() as u64 + 1,
        "only the refused row and a Provenance: {s}"
    );
    for (t, id) in bad {
        assert!(
            server.get(t, id).is_some(),
            "{t}/{id} missing after the fix"
        );
    }
    let out = wd.run(&["verify", "--target", "ehr"]).ok();
    assert!(out.contains(": GO"), "{out}");
    // The latest load of the run holds it whole: no longer a blocker.
    wd.run(&["report", "--out", "signoff.html"]);
    let html = std::fs::read_to_string(wd.join("signoff.html")).unwrap();
    assert!(!html.contains(&refused), "the fixed load still blocks");
}

/// `1234567` as the report writes it (`1,234,567`).
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Every resource of run `run`'s output folder without `meta`, by (type, id).
fn output_of(wd: &Workdir, run: u32) -> std::collections::BTreeMap<(String, String), Value> {
    let dir = wd.join(&format!("output/run-{run:04}"));
    let mut out = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".ndjson") {
            for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                let mut v: Value = serde_json::from_str(line).unwrap();
                v.as_object_mut().unwrap().remove("meta");
                let key = (
                    v["resourceType"].as_str().unwrap().to_string(),
                    v["id"].as_str().unwrap().to_string(),
                );
                out.insert(key, v);
            }
        }
    }
    out
}

/// Sets `deleted = POLICY` in a module file's `[module]`.
fn set_deleted_policy(wd: &Workdir, module: &str, policy: &str) {
    let path = wd.join(&format!("mappings/{module}.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let at = format!("name = \"{module}\"\n");
    assert!(text.contains(&at), "{module}");
    let text = text.replacen(&at, &format!("{at}deleted = \"{policy}\"\n"), 1);
    std::fs::write(&path, text).unwrap();
}

/// The cutover's back-load: a full load of snapshot 1, the clinic evolved 30 days, a delta of
/// snapshot 2 loaded with `If-Match` on the first load's versions. The target then holds what a
/// fresh full run of snapshot 2 makes, resource by resource (server `meta` aside), except the
/// one resource edited in the new EHR in between: that one is a conflict, left as the EHR has it.
/// What no row makes any more is deleted (vitals), marked entered-in-error (allergies) or kept
/// (the rest), by each module's policy. Rolling the delta's load back restores what the first
/// load wrote, deleted resources included.
#[test]
fn a_delta_load_updates_what_changed_and_never_overwrites_an_edit_made_on_the_target() {
    let server = Server::start();
    let wd = clinic(&server.base());
    set_deleted_policy(&wd, "vitals", "delete");
    set_deleted_policy(&wd, "allergies", "entered-in-error");
    wd.run(&["run"]).ok(); // run 2: the base, with the policies
    wd.run(&["verify"]).ok();
    wd.run(&["load", "--target", "ehr"]).ok();
    wd.run(&[
        "generate",
        "later",
        "--patients",
        "60",
        "--seed",
        "11",
        "--sql-only",
        "--days-later",
        "30",
    ])
    .ok();
    wd.run(&["stage", "later/clinic.sql", "--label", "later"])
        .ok();
    wd.run(&["run", "--base", "2"]).ok(); // run 3
    wd.run(&["verify", "--run", "3"]).ok();
    let (base, delta) = (output_of(&wd, 2), output_of(&wd, 3));
    // A Patient the delta changes, edited in the new EHR after the first load.
    let (key, _) = delta
        .iter()
        .find(|(k, v)| k.0 == "Patient" && base.get(*k).is_some_and(|b| b != *v))
        .expect("a changed Patient");
    let mut edited = server.get(&key.0, &key.1).unwrap();
    edited["gender"] = json!(if edited["gender"] == "unknown" {
        "other"
    } else {
        "unknown"
    });
    assert_eq!(server.put(&edited), 200);

    let load = wd.run(&["load", "--target", "ehr", "--run", "3", "--json"]);
    assert_eq!(
        load.code(),
        1,
        "a conflict needs attention: {}",
        load.stdout()
    );
    let s = json_of(&load);
    assert_eq!(s["conflicts"], json!([[key.0, key.1]]), "{s}");
    assert_eq!(s["failed"], 0, "{s}");
    assert_eq!(
        server.get(&key.0, &key.1).unwrap()["gender"],
        edited["gender"],
        "the edit made in the new EHR is kept"
    );

    // The review queue names it and what differs; the reviewer has Ferry's content written.
    let queue = wd.run(&["conflicts", "--target", "ehr"]);
    assert_eq!(queue.code(), 1, "unresolved: {}", queue.stdout());
    let listed = json_of(&wd.run(&["conflicts", "--target", "ehr", "--json"]));
    let c = &listed["conflicts"][0];
    assert_eq!(
        (&c["resource_type"], &c["id"]),
        (&json!(key.0), &json!(key.1))
    );
    assert!(
        c["paths"].as_array().unwrap().contains(&json!("gender")),
        "{listed}"
    );
    assert!(c["resolution"].is_null());
    let resource = format!("{}/{}", key.0, key.1);
    wd.run(&[
        "conflicts",
        "resolve",
        &resource,
        "--target",
        "ehr",
        "--overwrite",
        "--by",
        "Dr Reviewer",
        "--why",
        "the legacy record is the corrected one",
    ])
    .ok();
    let listed = json_of(&wd.run(&["conflicts", "--target", "ehr", "--json"]));
    assert_eq!(
        listed["conflicts"][0]["resolution"]["action"],
        "overwritten"
    );
    wd.run(&["conflicts", "--target", "ehr"]).ok();
    let again = wd
        .run(&[
            "conflicts",
            "resolve",
            &resource,
            "--target",
            "ehr",
            "--keep",
            "--by",
            "X",
            "--why",
            "y",
        ])
        .fails_with(1);
    assert!(again.contains("no unresolved conflict"), "{again}");

    // A fresh full run of snapshot 2: the target holds each of its resources.
    wd.run(&["run"]).ok(); // run 4
    let fresh = output_of(&wd, 4);
    let mut compared = 0;
    for (k, want) in &fresh {
        let got = server
            .get(&k.0, &k.1)
            .unwrap_or_else(|| panic!("{k:?} missing on the target"));
        assert_eq!(&got, want, "{k:?}");
        compared += 1;
    }
    assert!(compared > 1000, "{compared}");
    // And what it no longer makes, by its module's policy (the delta's ledger names it).
    let ledger = rusqlite::Connection::open_with_flags(
        wd.join(".ferry/runs/run-0003.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut policy_of = std::collections::BTreeMap::new();
    let mut stmt = ledger
        .prepare("SELECT type, id, module, policy FROM retired_resource")
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                (r.get::<_, String>(2)?, r.get::<_, String>(3)?),
            ))
        })
        .unwrap();
    for row in rows {
        let (k, v) = row.unwrap();
        policy_of.insert(k, v);
    }
    let (mut deleted, mut marked, mut kept) = (0u64, 0u64, 0u64);
    for (k, was) in base.iter().filter(|(k, _)| !fresh.contains_key(*k)) {
        let now = server.get(&k.0, &k.1);
        let (module, policy) = policy_of
            .get(k)
            .unwrap_or_else(|| panic!("{k:?}: gone from a full run but not retired"));
        match (module.as_str(), policy.as_str()) {
            ("vitals", "delete") => {
                assert!(now.is_none(), "{k:?} deleted");
                deleted += 1;
            }
            ("allergies", "entered-in-error") => {
                let now = now.unwrap_or_else(|| panic!("{k:?} kept"));
                assert_eq!(
                    now["verificationStatus"]["coding"][0]["code"], "entered-in-error",
                    "{k:?}"
                );
                marked += 1;
            }
            (_, "report") => {
                assert_eq!(now.as_ref(), Some(was), "{k:?} kept as it was");
                kept += 1;
            }
            other => panic!("{k:?}: {other:?}"),
        }
    }
    assert!(
        deleted > 0 && marked > 0 && kept > 0,
        "{deleted} {marked} {kept}"
    );
    assert_eq!(s["deleted"], deleted, "{s}");
    assert_eq!(s["marked_entered_in_error"], marked, "{s}");

    // Undo the delta's load: the first load's content is back, deleted resources too.
    wd.run(&["rollback", "--target", "ehr", "--load", "2"]).ok();
    for (k, was) in base.iter().filter(|(k, _)| !fresh.contains_key(*k)) {
        assert_eq!(server.get(&k.0, &k.1).as_ref(), Some(was), "{k:?} restored");
    }
    let (changed, _) = delta
        .iter()
        .find(|(k, v)| *k != key && base.get(*k).is_some_and(|b| b != *v))
        .expect("another changed resource");
    assert_eq!(
        server.get(&changed.0, &changed.1).as_ref(),
        base.get(changed)
    );
    assert_eq!(
        server.get(&key.0, &key.1).unwrap()["gender"],
        edited["gender"],
        "the rollback restores the EHR's edit the reviewer overwrote"
    );
}
