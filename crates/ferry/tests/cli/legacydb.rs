//! `ferry load --target NAME --snapshot N` into real PostgreSQL and MariaDB servers that each
//! test starts itself on 127.0.0.1 (a free port, a temporary data folder) and stops at the end.
//! When the server binaries are absent (they come from Debian's `postgresql` and
//! `mariadb-server`, which `.ci/run` installs) the server tests say so and return.

use super::workdir::Workdir;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PG_PASSWORD: &str = "pg-Secret-7Ω";
const MY_PASSWORD: &str = "my-Secret-7Ω";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} did not start on port {port}; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throw-away PostgreSQL server (superuser `ferry` with [`PG_PASSWORD`], scram-sha-256).
struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl Postgres {
    fn start() -> Option<Postgres> {
        Postgres::start_with(None)
    }

    /// `tls`: a folder holding `server.pem` and `server.key` (TLS on).
    fn start_with(tls: Option<&Path>) -> Option<Postgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").is_file())
            .max()?;
        let dir = tempfile::Builder::new()
            .prefix("ferry-pg-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("pw"), PG_PASSWORD).unwrap();
        let mut ssl = String::new();
        if let Some(t) = tls {
            for f in ["server.pem", "server.key"] {
                std::fs::copy(t.join(f), dir.path().join(f)).unwrap();
            }
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                dir.path().join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
            ssl = format!(
                " -c ssl=on -c ssl_cert_file={d}/server.pem -c ssl_key_file={d}/server.key",
                d = dir.path().display()
            );
        }
        // PostgreSQL refuses to run as root: as root, run it as the `postgres` account.
        if is_root() {
            run_ok(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir.path()),
                "chown",
            );
        }
        let pg = Postgres {
            port: free_port(),
            bin,
            dir,
        };
        run_ok(
            &mut pg.as_owner(
                &pg.bin.join("initdb"),
                &[
                    "-D",
                    &pg.path("data"),
                    "-U",
                    "ferry",
                    "--auth=scram-sha-256",
                    &format!("--pwfile={}", pg.path("pw")),
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
            ),
            "initdb",
        );
        run_ok(
            &mut pg.as_owner(
                &pg.bin.join("pg_ctl"),
                &[
                    "-D",
                    &pg.path("data"),
                    "-l",
                    &pg.path("log"),
                    "-w",
                    "-o",
                    &format!(
                        "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off{ssl}",
                        pg.port,
                        pg.path("")
                    ),
                    "start",
                ],
            ),
            "pg_ctl start",
        );
        wait_for_port(pg.port, "PostgreSQL", &pg.dir.path().join("log"));
        Some(pg)
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn as_owner(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    fn url(&self) -> String {
        format!("postgres://ferry@127.0.0.1:{}/postgres", self.port)
    }

    fn client(&self) -> postgres::Client {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user("ferry")
            .password(PG_PASSWORD)
            .dbname("postgres")
            .connect(postgres::NoTls)
            .unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .as_owner(
                &self.bin.join("pg_ctl"),
                &["-D", &self.path("data"), "-m", "immediate", "-w", "stop"],
            )
            .output();
    }
}

/// A throw-away MariaDB server (user `ferry` with [`MY_PASSWORD`]).
struct Mariadb {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

impl Mariadb {
    fn start() -> Option<Mariadb> {
        Mariadb::start_with(None)
    }

    /// `tls`: a folder holding `server.pem`, `server.key` and `ca.pem` (TLS on).
    fn start_with(tls: Option<&Path>) -> Option<Mariadb> {
        let server = ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]
            .into_iter()
            .find(|p| Path::new(p).is_file())?;
        let install = ["/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"]
            .into_iter()
            .find(|p| Path::new(p).is_file())?;
        let dir = tempfile::Builder::new()
            .prefix("ferry-mariadb-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let user: &[&str] = if is_root() { &["--user=root"] } else { &[] };
        run_ok(
            Command::new(install)
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg("--auth-root-authentication-method=normal")
                .arg("--skip-test-db")
                .args(user)
                .stdin(Stdio::null()),
            "mariadb-install-db",
        );
        let port = free_port();
        let sock = dir.path().join("sock");
        let log = dir.path().join("err.log");
        let child = Command::new(server)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", sock.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .args([
                "--skip-log-bin",
                "--innodb-buffer-pool-size=64M",
                "--innodb-flush-log-at-trx-commit=0",
            ])
            .args(
                tls.map(|t| {
                    vec![
                        format!("--ssl-cert={}", t.join("server.pem").display()),
                        format!("--ssl-key={}", t.join("server.key").display()),
                        format!("--ssl-ca={}", t.join("ca.pem").display()),
                    ]
                })
                .unwrap_or_default(),
            )
            .args(user)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let db = Mariadb { dir, child, port };
        wait_for_port(port, "MariaDB", &log);
        let client = ["/usr/bin/mariadb", "/usr/bin/mysql"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("the mariadb client");
        run_ok(
            Command::new(client)
                .arg("--no-defaults")
                .arg(format!("--socket={}", sock.display()))
                .args(["-u", "root", "-e"])
                .arg(format!(
                    "CREATE USER 'ferry'@'%' IDENTIFIED BY '{MY_PASSWORD}'; CREATE USER 'ferry'@'localhost' IDENTIFIED BY '{MY_PASSWORD}'; GRANT ALL ON *.* TO 'ferry'@'%'; GRANT ALL ON *.* TO 'ferry'@'localhost'; CREATE DATABASE ehr"
                )),
            "creating the ferry user",
        );
        Some(db)
    }

    fn url(&self) -> String {
        format!("mysql://ferry@127.0.0.1:{}/ehr", self.port)
    }

    fn client(&self) -> mysql::Conn {
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.port)
            .user(Some("ferry"))
            .pass(Some(MY_PASSWORD))
            .prefer_socket(false)
            .init(vec!["SET NAMES utf8mb4"]);
        mysql::Conn::new(opts).unwrap()
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

/// A long text (over 64 KiB) for the byte-exact checks.
fn long_text() -> String {
    (0..9000).map(|i| format!("{i:05}-Ω ")).collect()
}

/// A small dump with what must survive byte for byte: NULL beside empty, leading zeros,
/// Unicode beyond the BMP, long text, bytes, a column of text and bytes, typed columns.
fn edge_dump(changed: bool) -> String {
    let who = if changed {
        "Zoë 😀 (changed)"
    } else {
        "Zoë 😀"
    };
    format!(
        "CREATE TABLE `edge` (\n  `id` int(11) NOT NULL,\n  `mrn` varchar(12),\n  `note` text,\n  `amount` decimal(7,2),\n  `born` date,\n  `pic` blob,\n  `odd` int(11),\n  `zip` int(11),\n  PRIMARY KEY (`id`)\n);\n\
INSERT INTO `edge` VALUES (1,'007','{who}',12.50,'1970-01-01',X'00FF10',NULL,'02134'),\
(2,'','',-3.00,'2024-02-29',X'',5,10001),\
(3,NULL,NULL,NULL,NULL,NULL,007,NULL),\
(4,'0042','{long}',0.00,'0000-00-00','abc','x','00501'),\
(5,' padded ','tab\\there\\nnewline \\\\ back',99999.99,'2000-12-31',NULL,-0,99999);\n",
        long = long_text()
    )
}

/// A project with the generated 60-patient clinic and the edge dump staged (snapshot 1), and
/// the edge dump alone changed (snapshot 2), with `[targets.legacy-db]` from `target`.
fn project(target: &str) -> Workdir {
    let wd = Workdir::project();
    wd.run(&[
        "generate",
        "legacy",
        "--patients",
        "60",
        "--seed",
        "11",
        "--sql-only",
    ])
    .ok();
    wd.write("edge/edge.sql", edge_dump(false));
    wd.write("edge2/edge.sql", edge_dump(true));
    wd.run(&["stage", "legacy/clinic.sql", "edge/edge.sql"])
        .ok();
    wd.run(&["stage", "legacy/clinic.sql", "edge2/edge.sql"])
        .ok();
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    wd.write("ferry.toml", format!("{config}\n{target}"));
    wd
}

fn ferry_env(wd: &Workdir, args: &[&str], password: &str) -> super::workdir::Run {
    let out = wd
        .command(args)
        .env("FERRY_TEST_DB_PASSWORD", password)
        .output()
        .unwrap();
    super::workdir::Run {
        out,
        desc: format!("ferry {}", args.join(" ")),
    }
}

/// The snapshot's tables as the catalog records them: (staged name, rows, content hash).
fn staged_tables(wd: &Workdir, snapshot: u64) -> Vec<(String, u64, String)> {
    let conn = rusqlite::Connection::open(wd.join(".ferry/catalog.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT staged_name, rows, content_sha256 FROM snapshot_table WHERE snapshot_id = ?1 ORDER BY ordinal")
        .unwrap();
    stmt.query_map([snapshot as i64], |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

fn staged_rows(wd: &Workdir, snapshot: u64, table: &str) -> u64 {
    let rows = staged_tables(wd, snapshot)
        .into_iter()
        .find(|t| t.0 == table)
        .map(|t| t.1)
        .unwrap_or_else(|| panic!("no staged table {table}"));
    assert!(rows >= 60, "{table}: {rows}");
    rows
}

fn load_json(wd: &Workdir, snapshot: &str, password: &str) -> serde_json::Value {
    let out = ferry_env(
        wd,
        &[
            "load",
            "--target",
            "legacy-db",
            "--snapshot",
            snapshot,
            "--json",
        ],
        password,
    )
    .ok();
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    doc
}

/// Checks a copy's report against the catalog: every table, its rows and its content hash.
fn assert_report_matches(wd: &Workdir, doc: &serde_json::Value, snapshot: u64) {
    let tables = staged_tables(wd, snapshot);
    let report = doc["tables"].as_array().expect("tables");
    assert_eq!(report.len(), tables.len(), "{doc}");
    for ((name, rows, sha), r) in tables.iter().zip(report) {
        assert_eq!(r["table"], name.as_str());
        assert_eq!(r["rows"], *rows, "{name}");
        assert_eq!(r["rows_read_back"], *rows, "{name}");
        assert_eq!(r["content_sha256"], sha.as_str(), "{name}");
        assert_eq!(r["content_sha256_read_back"], sha.as_str(), "{name}");
        assert_eq!(r["matches"], true, "{name}");
    }
    assert_eq!(doc["snapshot"], snapshot);
}

fn skip(what: &str) {
    eprintln!(
        "SKIPPED: {what} binaries not found (Debian's `postgresql` / `mariadb-server`; .ci/run installs them)"
    );
}

#[test]
fn legacydb_postgres_copy_is_exact_verified_and_replaced_atomically() {
    let Some(pg) = Postgres::start() else {
        return skip("PostgreSQL");
    };
    let wd = project(&format!(
        "[targets.legacy-db]\nkind = \"postgres\"\nurl = \"{}\"\npassword_env = \"FERRY_TEST_DB_PASSWORD\"\n",
        pg.url()
    ));

    // A wrong password: the target and the server are named, the password never shown.
    let bad = ferry_env(
        &wd,
        &["load", "--target", "legacy-db", "--snapshot", "1"],
        "wrong-Pa55",
    )
    .fails_with(1);
    assert!(
        bad.contains("legacy-db") && bad.contains("127.0.0.1"),
        "{bad}"
    );
    assert!(bad.contains("FERRY_TEST_DB_PASSWORD"), "{bad}");
    assert!(
        !bad.contains("wrong-Pa55") && !bad.contains(PG_PASSWORD),
        "{bad}"
    );

    let doc = load_json(&wd, "1", PG_PASSWORD);
    assert_report_matches(&wd, &doc, 1);
    assert!(doc["replaced_snapshot"].is_null(), "{doc}");

    let mut c = pg.client();
    // Values byte for byte, NULL beside empty, and types only where lossless.
    let rows = c
        .query(
            "SELECT id, mrn, note, amount::text, born::text, pic, odd, pg_typeof(id)::text, pg_typeof(amount)::text, pg_typeof(born)::text, pg_typeof(odd)::text FROM legacy.edge ORDER BY _ferry_rowid",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 5);
    let text = |r: usize, i: usize| rows[r].get::<_, Option<String>>(i);
    assert_eq!(rows[0].get::<_, i32>(0), 1);
    assert_eq!(text(0, 1).as_deref(), Some("007"));
    assert_eq!(text(0, 2).as_deref(), Some("Zoë 😀"));
    assert_eq!(text(0, 3).as_deref(), Some("12.50"));
    assert_eq!(text(0, 4).as_deref(), Some("1970-01-01"));
    assert_eq!(
        rows[0].get::<_, Option<Vec<u8>>>(5),
        Some(vec![0, 0xff, 0x10])
    );
    assert_eq!(text(1, 1).as_deref(), Some(""));
    assert_eq!(text(2, 1), None);
    assert_eq!(rows[1].get::<_, Option<Vec<u8>>>(5), Some(vec![]));
    assert_eq!(text(3, 2), Some(long_text()));
    assert_eq!(text(3, 1).as_deref(), Some("0042"));
    assert_eq!(text(4, 1).as_deref(), Some(" padded "));
    assert_eq!(text(4, 2).as_deref(), Some("tab\there\nnewline \\ back"));
    // `born` holds 0000-00-00 and `odd` holds `x`: both stay text; `id` and `amount` typed.
    assert_eq!(text(0, 7).as_deref(), Some("integer"));
    assert_eq!(text(0, 8).as_deref(), Some("numeric"));
    assert_eq!(text(0, 9).as_deref(), Some("text"));
    assert_eq!(text(0, 10).as_deref(), Some("text"));
    assert_eq!(text(3, 6).as_deref(), Some("x"));
    assert_eq!(text(4, 6).as_deref(), Some("-0"));
    // ZIP codes in an int column keep their leading zeros: the column stays text.
    let zips: Vec<(Option<String>, String)> = c
        .query(
            "SELECT zip, pg_typeof(zip)::text FROM legacy.edge ORDER BY _ferry_rowid",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(zips[0], (Some("02134".to_string()), "text".to_string()));
    assert_eq!(zips[2].0, None);
    // The generated clinic's patients, counted in the copy.
    let patients: i64 = c
        .query_one("SELECT count(*) FROM legacy.patients", &[])
        .unwrap()
        .get(0);
    assert_eq!(patients as u64, staged_rows(&wd, 1, "patients"));

    // Snapshot 2 (one changed row) replaces the copy: the new content only, no temporary schema.
    let doc2 = load_json(&wd, "2", PG_PASSWORD);
    assert_report_matches(&wd, &doc2, 2);
    assert_eq!(doc2["replaced_snapshot"], 1);
    let note: String = c
        .query_one("SELECT note FROM legacy.edge WHERE id = 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(note, "Zoë 😀 (changed)");
    let schemas: Vec<String> = c
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'legacy%' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(schemas, vec!["legacy".to_string()]);
    let marker: i64 = c
        .query_one("SELECT max(snapshot_id) FROM legacy._ferry_copy", &[])
        .unwrap()
        .get(0);
    assert_eq!(marker, 2);
    // The record in the workspace.
    assert!(
        wd.join(".ferry/legacydb/legacy-db/copy-0002.json")
            .is_file()
    );

    // Killed just before the commit: the server rolls the whole copy back, the old one stays.
    let killed = wd
        .command(&["load", "--target", "legacy-db", "--snapshot", "1"])
        .env("FERRY_TEST_DB_PASSWORD", PG_PASSWORD)
        .env("FERRY_CRASH_AT", "legacydb-before-commit")
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let mut c = pg.client();
    let marker: i64 = c
        .query_one("SELECT max(snapshot_id) FROM legacy._ferry_copy", &[])
        .unwrap()
        .get(0);
    assert_eq!(marker, 2);
    let schemas: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'legacy%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(schemas, 1);

    // An object someone added to Ferry's schema stops the replacement; nothing is dropped.
    c.batch_execute("CREATE TABLE legacy.corrections (id int)")
        .unwrap();
    let err = ferry_env(&wd, &["load", "--target", "legacy-db"], PG_PASSWORD).fails_with(1);
    assert!(
        err.contains("corrections") && err.contains("did not create"),
        "{err}"
    );
    c.batch_execute("DROP TABLE legacy.corrections").unwrap();

    // A schema Ferry did not create is never dropped.
    c.batch_execute("CREATE SCHEMA theirs; CREATE TABLE theirs.keep (id int); INSERT INTO theirs.keep VALUES (1)")
        .unwrap();
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    wd.write("ferry.toml", format!("{config}schema = \"theirs\"\n"));
    let err = ferry_env(&wd, &["load", "--target", "legacy-db"], PG_PASSWORD).fails_with(1);
    assert!(
        err.contains("`theirs`") && err.contains("not created by Ferry"),
        "{err}"
    );
    let kept: i64 = c
        .query_one("SELECT count(*) FROM theirs.keep", &[])
        .unwrap()
        .get(0);
    assert_eq!(kept, 1);
}

#[test]
fn legacydb_mariadb_copy_is_exact_verified_and_replaced_atomically() {
    let Some(db) = Mariadb::start() else {
        return skip("MariaDB");
    };
    let wd = project(&format!(
        "[targets.legacy-db]\nkind = \"mysql\"\nurl = \"{}\"\npassword_file = \"secrets/db-password\"\n",
        db.url()
    ));
    wd.write("secrets/db-password", "wrong-Pa55\n");
    let bad = wd
        .run(&["load", "--target", "legacy-db", "--snapshot", "1"])
        .fails_with(1);
    assert!(
        bad.contains("legacy-db") && bad.contains("127.0.0.1"),
        "{bad}"
    );
    assert!(bad.contains("db-password"), "{bad}");
    assert!(
        !bad.contains("wrong-Pa55") && !bad.contains(MY_PASSWORD),
        "{bad}"
    );
    wd.write("secrets/db-password", format!("{MY_PASSWORD}\n"));

    let doc = load_json(&wd, "1", "");
    assert_report_matches(&wd, &doc, 1);

    use mysql::prelude::Queryable;
    let mut c = db.client();
    type Row = (
        i64,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<String>,
        Option<String>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
    );
    let rows: Vec<Row> = c
        .query("SELECT id, mrn, note, CAST(amount AS CHAR), CAST(born AS CHAR), pic, odd FROM legacy.edge ORDER BY _ferry_rowid")
        .unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].1.as_deref(), Some(&b"007"[..]));
    assert_eq!(rows[0].2.as_deref(), Some("Zoë 😀".as_bytes()));
    assert_eq!(rows[0].3.as_deref(), Some("12.50"));
    assert_eq!(rows[0].4.as_deref(), Some("1970-01-01"));
    assert_eq!(rows[0].5.as_deref(), Some(&[0u8, 0xff, 0x10][..]));
    assert_eq!(rows[1].1.as_deref(), Some(&b""[..]));
    assert_eq!(rows[2].1, None);
    assert_eq!(rows[3].2.as_deref(), Some(long_text().as_bytes()));
    assert_eq!(rows[4].1.as_deref(), Some(&b" padded "[..]));
    assert_eq!(
        rows[4].2.as_deref(),
        Some(&b"tab\there\nnewline \\ back"[..])
    );
    assert_eq!(rows[3].6.as_deref(), Some(&b"x"[..]));
    let types: Vec<(String, String)> = c
        .query("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'legacy' AND TABLE_NAME = 'edge' ORDER BY ORDINAL_POSITION")
        .unwrap();
    let ty = |n: &str| {
        types
            .iter()
            .find(|t| t.0 == n)
            .map(|t| t.1.clone())
            .unwrap()
    };
    assert_eq!(ty("id"), "int(11)");
    assert_eq!(ty("amount"), "decimal(7,2)");
    assert_eq!(ty("born"), "longtext");
    assert_eq!(ty("odd"), "longtext");
    assert_eq!(ty("zip"), "longtext");
    let zip: Vec<u8> = c
        .query_first("SELECT zip FROM legacy.edge WHERE id = 4")
        .unwrap()
        .unwrap();
    assert_eq!(zip, b"00501");
    let patients: i64 = c
        .query_first("SELECT count(*) FROM legacy.patients")
        .unwrap()
        .unwrap();
    assert_eq!(patients as u64, staged_rows(&wd, 1, "patients"));

    let doc2 = load_json(&wd, "2", "");
    assert_report_matches(&wd, &doc2, 2);
    assert_eq!(doc2["replaced_snapshot"], 1);
    let note: Vec<u8> = c
        .query_first("SELECT note FROM legacy.edge WHERE id = 1")
        .unwrap()
        .unwrap();
    assert_eq!(note, "Zoë 😀 (changed)".as_bytes());
    let dbs: Vec<String> = c
        .query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'legacy%' ORDER BY 1")
        .unwrap();
    assert_eq!(dbs, vec!["legacy".to_string()]);
    let marker: i64 = c
        .query_first("SELECT max(snapshot_id) FROM legacy._ferry_copy")
        .unwrap()
        .unwrap();
    assert_eq!(marker, 2);

    // Killed before the swap: the old copy stays; killed after it: the new one is in place.
    // Either way the next load removes the helper databases the kill left.
    let legacy_dbs = |c: &mut mysql::Conn| -> Vec<String> {
        c.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'legacy%' ORDER BY 1")
            .unwrap()
    };
    let copied_snapshot = |c: &mut mysql::Conn| -> i64 {
        c.query_first("SELECT max(snapshot_id) FROM legacy._ferry_copy")
            .unwrap()
            .unwrap()
    };
    let killed = wd
        .command(&["load", "--target", "legacy-db", "--snapshot", "1"])
        .env("FERRY_CRASH_AT", "legacydb-before-rename")
        .output()
        .unwrap();
    assert!(!killed.status.success());
    assert_eq!(copied_snapshot(&mut c), 2);
    assert_eq!(
        legacy_dbs(&mut c),
        vec!["legacy", "legacy__ferry_old", "legacy__ferry_tmp"]
    );
    let killed = wd
        .command(&["load", "--target", "legacy-db", "--snapshot", "1"])
        .env("FERRY_CRASH_AT", "legacydb-after-rename")
        .output()
        .unwrap();
    assert!(!killed.status.success());
    assert_eq!(copied_snapshot(&mut c), 1);
    assert_eq!(
        legacy_dbs(&mut c),
        vec!["legacy", "legacy__ferry_old", "legacy__ferry_tmp"]
    );
    let doc3 = load_json(&wd, "2", "");
    assert_report_matches(&wd, &doc3, 2);
    assert_eq!(doc3["replaced_snapshot"], 1);
    assert_eq!(legacy_dbs(&mut c), vec!["legacy"]);
    assert_eq!(copied_snapshot(&mut c), 2);

    // A database Ferry did not create is never dropped.
    c.query_drop("CREATE DATABASE theirs").unwrap();
    c.query_drop("CREATE TABLE theirs.keep (id int)").unwrap();
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    wd.write("ferry.toml", format!("{config}schema = \"theirs\"\n"));
    let err = wd.run(&["load", "--target", "legacy-db"]).fails_with(1);
    assert!(
        err.contains("`theirs`") && err.contains("not created by Ferry"),
        "{err}"
    );
    let kept: Vec<String> = c
        .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'theirs'")
        .unwrap();
    assert_eq!(kept, vec!["keep".to_string()]);
}

#[test]
fn legacydb_passwords_are_refused_on_the_command_line_and_in_the_url() {
    let wd = Workdir::project();
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    wd.write(
        "ferry.toml",
        format!(
            "{config}\n[targets.legacy-db]\nkind = \"postgres\"\nurl = \"postgres://ferry:Hunter2-secret@127.0.0.1:5432/ehr\"\n"
        ),
    );
    let err = wd.run(&["load", "--target", "legacy-db"]).fails_with(1);
    assert!(
        err.contains("legacy-db") && err.contains("password_env"),
        "{err}"
    );
    assert!(!err.contains("Hunter2-secret"), "{err}");

    let err = wd
        .run(&[
            "load",
            "--target",
            "legacy-db",
            "--password",
            "Hunter3-secret",
        ])
        .fails_with(1);
    assert!(err.contains("no password on the command line"), "{err}");
    assert!(!err.contains("Hunter3-secret"), "{err}");
}

#[test]
fn legacydb_target_settings_are_checked_with_clear_errors() {
    let wd = Workdir::project();
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    let with = |target: &str| wd.write("ferry.toml", format!("{config}\n{target}"));

    with("[targets.legacy-db]\nkind = \"oracle\"\nurl = \"x\"\n");
    let err = wd.run(&["snapshots"]).fails_with(1);
    assert!(
        err.contains("\"oracle\"")
            && err.contains("\"fhir\"")
            && err.contains("\"postgres\"")
            && err.contains("\"mysql\""),
        "{err}"
    );

    with(
        "[targets.legacy-db]\nkind = \"postgres\"\nurl = \"postgres://ferry@db.example.org/ehr\"\ntls = false\n",
    );
    let err = wd.run(&["load", "--target", "legacy-db"]).fails_with(1);
    assert!(
        err.contains("db.example.org") && err.contains("TLS"),
        "{err}"
    );

    with("[targets.legacy-db]\nkind = \"mysql\"\nurl = \"mysql://ferry@127.0.0.1/ehr\"\n");
    let err = wd
        .run(&["load", "--target", "legacy-db", "--run", "1"])
        .fails_with(1);
    assert!(
        err.contains("--snapshot") && err.contains("database"),
        "{err}"
    );

    with("[targets.ehr]\nkind = \"fhir\"\nurl = \"http://127.0.0.1:1/fhir\"\nallow_http = true\n");
    let err = wd
        .run(&["load", "--target", "ehr", "--snapshot", "1"])
        .fails_with(1);
    assert!(err.contains("--run") && err.contains("FHIR"), "{err}");

    with("[targets.ehr]\nkind = \"fhir\"\nurl = \"http://127.0.0.1:1/fhir\"\nbogus = 1\n");
    let err = wd.run(&["snapshots"]).fails_with(1);
    assert!(err.contains("bogus"), "{err}");
}

/// A test CA and a server certificate for 127.0.0.1 it signed, and a second CA that signed
/// nothing (`other-ca.pem`), made with `openssl`; `None` when it is absent.
fn certificates(dir: &Path) -> Option<()> {
    Command::new("openssl").arg("version").output().ok()?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for (key, cert, cn) in [
        ("ca.key", "ca.pem", "Ferry test CA"),
        ("other-ca.key", "other-ca.pem", "Not the CA"),
    ] {
        run_ok(
            Command::new("openssl")
                .current_dir(dir)
                .args(["req", "-x509"])
                .args(ec)
                .args(["-keyout", key, "-out", cert, "-days", "2"])
                .arg("-subj")
                .arg(format!("/CN={cn}"))
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
            "openssl CA",
        );
    }
    run_ok(
        Command::new("openssl")
            .current_dir(dir)
            .arg("req")
            .args(ec)
            .args([
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ]),
        "openssl server key",
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run_ok(
        Command::new("openssl").current_dir(dir).args([
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]),
        "openssl server certificate",
    );
    Some(())
}

#[test]
fn legacydb_tls_verifies_the_server_certificate_against_ca_file() {
    let certs = tempfile::Builder::new()
        .prefix("ferry-certs-")
        .tempdir()
        .unwrap();
    if certificates(certs.path()).is_none() {
        return skip("openssl");
    }
    // The servers read the certificates as their own accounts.
    run_ok(Command::new("chmod").arg("755").arg(certs.path()), "chmod");
    for f in ["server.pem", "server.key", "ca.pem"] {
        run_ok(
            Command::new("chmod").arg("644").arg(certs.path().join(f)),
            "chmod",
        );
    }
    let Some(pg) = Postgres::start_with(Some(certs.path())) else {
        return skip("PostgreSQL");
    };
    let Some(my) = Mariadb::start_with(Some(certs.path())) else {
        return skip("MariaDB");
    };
    let wd = Workdir::project();
    wd.write("edge/edge.sql", edge_dump(false));
    wd.run(&["stage", "edge/edge.sql"]).ok();
    for f in ["ca.pem", "other-ca.pem"] {
        std::fs::copy(certs.path().join(f), wd.join(f)).unwrap();
    }
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    for (kind, url, password) in [
        ("postgres", pg.url(), PG_PASSWORD),
        ("mysql", my.url(), MY_PASSWORD),
    ] {
        for (ca, trusted) in [("ca.pem", true), ("other-ca.pem", false)] {
            wd.write(
                "ferry.toml",
                format!(
                    "{config}\n[targets.legacy-db]\nkind = \"{kind}\"\nurl = \"{url}\"\npassword_env = \"FERRY_TEST_DB_PASSWORD\"\ntls = true\nca_file = \"{ca}\"\n"
                ),
            );
            let run = ferry_env(&wd, &["load", "--target", "legacy-db", "--json"], password);
            if trusted {
                let doc: serde_json::Value = serde_json::from_str(&run.ok()).unwrap();
                assert_eq!(doc["tables"][0]["matches"], true, "{kind}: {doc}");
            } else {
                let err = run.fails_with(1);
                assert!(
                    err.contains("legacy-db") && err.contains("127.0.0.1"),
                    "{kind}: {err}"
                );
                assert!(!err.contains(password), "{kind}: {err}");
                eprintln!("{kind}, untrusted certificate: {err}");
            }
        }
    }
}
