//! `auth = "smart"` (SMART Backend Services) against a real authorization server
//! (`tools/smart-auth`, oidc-provider) and the FHIR test server checking its JWT access tokens
//! (`tools/fhir-server/server.mjs --smart-issuer`). Keys are made by `openssl` for each test and
//! live in the test's temporary folder only.
//!
//! Skipped, with a message, only when `node` is not installed (CI has it).

use super::load::{Node, install, npm_ci, tools};
use super::workdir::{Run, Workdir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

const CLIENT: &str = "ferry-test";

fn auth_tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/smart-auth")
}

/// Whether node is there; if not, says the test is skipped.
fn have_node(test: &str) -> bool {
    let ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED {test}: node is not installed (apt-get install nodejs npm)");
    }
    ok
}

fn install_auth() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| npm_ci(&auth_tools(), "node_modules/oidc-provider"));
}

/// A new private key (`ec` P-384 or `rsa` 2048, PKCS#8 PEM) at `dir/name.pem` and its public
/// key at `dir/name.pub`.
fn keypair(dir: &Path, name: &str, kind: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    let opt = match kind {
        "ec" => ["EC", "ec_paramgen_curve:P-384"],
        _ => ["RSA", "rsa_keygen_bits:2048"],
    };
    let st = Command::new("openssl")
        .args(["genpkey", "-algorithm", opt[0], "-pkeyopt", opt[1], "-out"])
        .arg(&private)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is needed to make test keys");
    assert!(st.success(), "openssl genpkey failed");
    let st = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .status()
        .unwrap();
    assert!(st.success(), "openssl pkey -pubout failed");
    (private, public)
}

/// The authorization server (client `ferry-test` with these public keys) and a FHIR server that
/// takes only its tokens, optionally behind the fault proxy (`proxy_args`).
struct Smart {
    auth: Node,
    fhir: Node,
    proxy: Option<Node>,
}

impl Smart {
    fn start(public_keys: &[&Path], auth_args: &[&str], proxy_args: Option<&[&str]>) -> Smart {
        install_auth();
        install();
        let mut args = vec!["--port", "0", "--client-id", CLIENT];
        for k in public_keys {
            args.extend(["--public-key", k.to_str().unwrap()]);
        }
        args.extend(auth_args);
        let auth = Node::start_in(&auth_tools(), "server.mjs", &args);
        let fhir = Node::start_in(
            &tools(),
            "server.mjs",
            &["--port", "0", "--smart-issuer", &auth.url],
        );
        let proxy = proxy_args.map(|extra| {
            let mut a = vec!["--target", fhir.url.as_str(), "--port", "0"];
            a.extend(extra);
            Node::start_in(&tools(), "proxy.mjs", &a)
        });
        Smart { auth, fhir, proxy }
    }

    fn base(&self) -> String {
        let front = self.proxy.as_ref().unwrap_or(&self.fhir);
        format!("{}/fhir/R4", front.url)
    }

    fn get(url: &str, token: Option<&str>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut req = agent.get(url);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut r = req.call().unwrap();
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// `{"tokens": n, "refused": [{"error", "detail"}]}` of the authorization server.
    fn auth_stats(&self) -> Value {
        Self::get(&format!("{}/admin/stats", self.auth.url), None).1
    }

    /// The FHIR server's stats: `resources`, and `smart: {accepted, refused, tokens}`.
    fn fhir_stats(&self) -> Value {
        Self::get(&format!("{}/admin/stats", self.fhir.url), None).1
    }
}

/// A `[targets.NAME]` block with `auth = "smart"`.
fn target(name: &str, url: &str, key: &str, extra: &str) -> String {
    format!(
        "\n[targets.{name}]\nkind = \"fhir\"\nurl = \"{url}\"\nallow_http = true\nretry_for_secs = 60\nauth = \"smart\"\nclient_id = \"{CLIENT}\"\nprivate_key_file = \"{key}\"\n{extra}"
    )
}

/// Asserts that no secret is in `out`: no JWT (an assertion or an access token: each starts
/// `eyJ`, the base64 of `{"`), and no line of any private key's PEM body.
#[track_caller]
fn assert_no_secret(out: &str, keys: &[&Path]) {
    assert!(!out.contains("eyJ"), "a JWT is in the output:\n{out}");
    for k in keys {
        let pem = std::fs::read_to_string(k).unwrap();
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(
                !out.contains(line),
                "a line of private key {} is in the output",
                k.display()
            );
        }
    }
}

fn all_output(runs: &[&Run]) -> String {
    runs.iter()
        .map(|r| format!("{}\n{}\n", r.stdout(), r.stderr()))
        .collect()
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", run.stdout(), run.stderr()))
}

/// (a) and (c): a load with the registered ES384 key lands and verifies GO on a server that
/// refuses requests without a valid token; a key the EHR does not know is refused by the token
/// endpoint, and the message names the client and the OAuth error. No run prints a secret.
#[test]
fn a_registered_es384_key_loads_and_verifies_and_a_wrong_key_is_refused_by_name() {
    if !have_node("smart::a_registered_es384_key_loads_and_verifies") {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let (good, good_pub) = keypair(keys.path(), "ferry", "ec");
    let smart = Smart::start(&[&good_pub], &[], None);
    let base = smart.base();

    // The server really checks: no token, or a made-up one, is a 401.
    assert_eq!(Smart::get(&format!("{base}/Patient"), None).0, 401);
    assert_eq!(Smart::get(&format!("{base}/Patient"), Some("x.y.z")).0, 401);
    let (status, conf) = Smart::get(&format!("{base}/.well-known/smart-configuration"), None);
    assert_eq!(status, 200);
    assert!(
        conf["token_endpoint"]
            .as_str()
            .unwrap()
            .starts_with(&smart.auth.url)
    );

    let wd = super::workdir::clinic_run("");
    std::fs::create_dir_all(wd.join("keys")).unwrap();
    let (wrong, _) = keypair(&wd.join("keys"), "wrong", "ec");
    std::fs::copy(&good, wd.join("keys/ferry.pem")).unwrap();
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    wd.write(
        "ferry.toml",
        format!(
            "{config}{}{}{}{}",
            target("ehr", &base, "keys/ferry.pem", "key_id = \"key-1\"\n"),
            target("ehr-wrong", &base, "keys/wrong.pem", ""),
            // Scopes the EHR does not grant: a token with none, which the server refuses (403).
            target(
                "ehr-scope",
                &base,
                "keys/ferry.pem",
                "scopes = \"patient/*.read\"\n"
            ),
            // No SMART configuration at this URL: discovery fails, naming the URL and the fix.
            target(
                "ehr-nodisco",
                &format!("{}/nowhere", smart.fhir.url),
                "keys/ferry.pem",
                ""
            ),
        ),
    );
    wd.run(&["verify"]).ok();
    let n = std::fs::read_dir(wd.join("output/latest"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".ndjson"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap().lines().count() as u64)
        .sum::<u64>();

    let load = wd.run(&["load", "--target", "ehr", "--json"]);
    let s = json_of(&load);
    assert_eq!(s["failed"], 0, "{s}");
    assert_eq!(s["sent"], n + 1, "{s}");
    assert_eq!(smart.fhir_stats()["resources"], n + 1);
    let verify = wd.run(&["verify", "--target", "ehr"]);
    let out = verify.ok();
    assert!(out.contains(": GO"), "{out}");
    let stats = smart.auth_stats();
    assert_eq!(stats["tokens"], 2, "one token per process: {stats}");
    assert_eq!(
        smart.fhir_stats()["smart"]["refused"],
        2,
        "only the two probes above"
    );

    let wrong_run = wd.run(&["load", "--target", "ehr-wrong"]);
    assert_ne!(wrong_run.code(), 0);
    let err = wrong_run.stderr();
    assert!(err.contains("client `ferry-test`"), "{err}");
    assert!(err.contains("invalid_client"), "{err}");
    assert!(err.contains("keys/wrong.pem"), "{err}");
    assert_eq!(
        smart.auth_stats()["refused"][0]["error"],
        "invalid_client",
        "{}",
        smart.auth_stats()
    );
    assert_eq!(smart.fhir_stats()["resources"], n + 1, "nothing more sent");

    let scope = wd.run(&["load", "--target", "ehr-scope"]);
    assert_ne!(scope.code(), 0);
    let err = scope.stderr();
    assert!(
        err.contains("refused Ferry's credentials (HTTP 403)") && err.contains("scopes"),
        "{err}"
    );

    let nodisco = wd.run(&["load", "--target", "ehr-nodisco"]);
    assert_ne!(nodisco.code(), 0);
    let err = nodisco.stderr();
    assert!(
        err.contains("/nowhere/.well-known/smart-configuration") && err.contains("token_url"),
        "{err}"
    );

    assert_no_secret(
        &all_output(&[&load, &verify, &wrong_run, &scope, &nodisco]),
        &[&good, &wrong],
    );
}

/// Opens `[targets.t]` of a small ferry.toml in `dir` pointing at `base` with key `key`.
fn open_target(dir: &Path, base: &str, key: &Path, extra: &str) -> ferry_load::Target {
    let text = target("t", base, key.to_str().unwrap(), extra);
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let cfg: ferry_load::TargetConfig = doc["targets"]["t"].clone().try_into().unwrap();
    ferry_load::Target::open("t", &cfg, dir).unwrap()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// (b), (d), (e): an RS384 key gets a token the FHIR server takes; an expired assertion and a
/// replayed one (same `jti`) are refused by oidc-provider for those reasons, and Ferry's message
/// names the OAuth error and never the assertion.
#[test]
fn rs384_gets_a_token_and_expired_or_replayed_assertions_are_refused() {
    if !have_node("smart::rs384_gets_a_token_and_expired_or_replayed_assertions_are_refused") {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let (ec, ec_pub) = keypair(keys.path(), "ec", "ec");
    let (rsa, rsa_pub) = keypair(keys.path(), "rsa", "rsa");
    let smart = Smart::start(&[&ec_pub, &rsa_pub], &[], None);
    let base = smart.base();

    let t = open_target(keys.path(), &base, &rsa, "");
    let client = t.smart().unwrap();
    assert_eq!(client.alg(), "RS384");
    let token = client.fetch_token().unwrap();
    assert!(token.expires_in > 0 && token.expires_in <= 300, "{token:?}");
    assert!(!format!("{token:?}{client:?}").contains(token.secret()));
    let (status, _) = Smart::get(&format!("{base}/Patient"), Some(token.secret()));
    assert_eq!(
        status, 200,
        "the FHIR server takes the RS384 client's token"
    );

    let t = open_target(keys.path(), &base, &ec, "alg = \"ES384\"\n");
    let client = t.smart().unwrap();
    assert_eq!(client.alg(), "ES384");
    let url = client.token_url().unwrap();
    assert!(url.starts_with(&smart.auth.url), "{url}");

    // (d) Expired two minutes ago (past oidc-provider's 15 s clock tolerance).
    let expired = client
        .assertion(&url, unix_now() - 120, &uuid::Uuid::new_v4().to_string())
        .unwrap();
    let e = client
        .fetch_token_with(&url, &expired)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("invalid_client") && e.contains("ferry-test"),
        "{e}"
    );
    assert!(!e.contains(&expired), "{e}");
    let last = |s: &Value| s["refused"].as_array().unwrap().last().unwrap().clone();
    let why = last(&smart.auth_stats());
    assert!(why["detail"].as_str().unwrap().contains("exp"), "{why}");

    // (e) The same jti twice: the first is taken, the replay refused.
    let jti = uuid::Uuid::new_v4().to_string();
    let once = client.assertion(&url, unix_now() + 60, &jti).unwrap();
    client.fetch_token_with(&url, &once).unwrap();
    let again = client.assertion(&url, unix_now() + 90, &jti).unwrap();
    let e = client
        .fetch_token_with(&url, &again)
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid_client"), "{e}");
    assert_no_secret(&e, &[&ec, &rsa]);
    let why = last(&smart.auth_stats());
    assert!(
        why["detail"]
            .as_str()
            .unwrap()
            .contains("only be used once"),
        "{why}"
    );
    // The RS384 token and the first of the replayed pair; no other assertion was taken.
    assert_eq!(smart.auth_stats()["tokens"], 2, "{}", smart.auth_stats());
}

/// (f) Tokens of a few seconds' life over a load that takes longer (every request slowed by the
/// proxy): Ferry renews before expiry when the server tells the truth (no 401 at all), and after
/// a 401 when the server says a longer life than its tokens have; both loads land whole.
#[test]
fn short_lived_tokens_are_renewed_before_expiry_and_after_a_401() {
    if !have_node("smart::short_lived_tokens_are_renewed_before_expiry_and_after_a_401") {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = keypair(keys.path(), "ferry", "ec");
    let slow: &[&str] = &["--kinds", "slow", "--rate", "1", "--slow-ms", "80"];
    let honest = Smart::start(&[&public], &["--ttl", "4"], Some(slow));
    let lying = Smart::start(
        &[&public],
        &["--ttl", "4", "--advertise-ttl", "3600"],
        Some(slow),
    );
    let wd = super::workdir::clinic_run(&format!(
        "{}{}",
        target("honest", &honest.base(), key.to_str().unwrap(), ""),
        target("lying", &lying.base(), key.to_str().unwrap(), "")
    ));
    wd.run(&["verify"]).ok();

    for (name, smart) in [("honest", &honest), ("lying", &lying)] {
        let started = std::time::Instant::now();
        let run = wd.run(&["load", "--target", name, "--json"]);
        let took = started.elapsed();
        eprintln!("{name}: load took {took:?}");
        let s = json_of(&run);
        assert_eq!(s["failed"], 0, "{name}: {s}");
        assert!(
            took.as_secs() >= 5,
            "{name}: the load took {took:?}, too short to outlive a 4 s token"
        );
        let auth = smart.auth_stats();
        let fhir = smart.fhir_stats();
        assert!(auth["tokens"].as_u64().unwrap() >= 2, "{name}: {auth}");
        assert!(
            fhir["smart"]["tokens"].as_u64().unwrap() >= 2,
            "{name}: {fhir}"
        );
        if name == "honest" {
            assert_eq!(fhir["smart"]["refused"], 0, "renewed before expiry: {fhir}");
        } else {
            assert!(
                fhir["smart"]["refused"].as_u64().unwrap() >= 1,
                "an expired token met a 401 and was renewed: {fhir}"
            );
        }
        assert_no_secret(&all_output(&[&run]), &[&key]);
    }
}

/// A key file that is not a key, an EC key in SEC1 form, and a missing file each fail before
/// any request, naming the path and the expected format.
#[test]
fn a_bad_key_file_names_its_path_and_the_expected_format() {
    let wd = Workdir::new();
    wd.write("keys/junk.pem", "not a key\n");
    wd.write(
        "keys/sec1.pem",
        "-----BEGIN EC PRIVATE KEY-----\nMAo=\n-----END EC PRIVATE KEY-----\n",
    );
    for (file, says) in [
        ("keys/junk.pem", "holds no PEM private key"),
        ("keys/sec1.pem", "openssl pkcs8 -topk8"),
        ("keys/absent.pem", "cannot read private_key_file"),
    ] {
        let text = target("t", "https://ehr.example.org/fhir", file, "");
        let doc: toml::Table = toml::from_str(&text).unwrap();
        let cfg: ferry_load::TargetConfig = doc["targets"]["t"].clone().try_into().unwrap();
        let e = ferry_load::Target::open("t", &cfg, wd.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains(file) && e.contains(says), "{e}");
        assert!(file == "keys/absent.pem" || e.contains("EC P-384"), "{e}");
    }
}
