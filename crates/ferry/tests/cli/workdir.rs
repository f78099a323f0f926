//! A temporary folder and a way to run `ferry` in it (after xsv's tests/workdir.rs and cargo's
//! `project()`): on failure it prints the command, cwd, status, stdout and stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Workdir {
    dir: tempfile::TempDir,
    /// `XDG_CONFIG_HOME` of every command run here: the audit trail's signing key and
    /// checkpoints go here, never into the real user's ~/.config.
    config: tempfile::TempDir,
}

pub struct Run {
    pub out: Output,
    pub desc: String,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }

    fn report(&self) -> String {
        format!(
            "{}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.desc,
            self.out.status,
            self.stdout(),
            self.stderr()
        )
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> String {
        assert!(
            self.out.status.success(),
            "command failed:\n{}",
            self.report()
        );
        self.stdout()
    }

    /// Asserts failure with this exit code and returns stderr.
    #[track_caller]
    pub fn fails_with(&self, code: i32) -> String {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit code:\n{}",
            self.report()
        );
        self.stderr()
    }
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::Builder::new()
                .prefix("ferry-test-")
                .tempdir()
                .expect("tempdir"),
            config: tempfile::Builder::new()
                .prefix("ferry-test-config-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The `XDG_CONFIG_HOME` the commands run here see.
    pub fn config_home(&self) -> &Path {
        self.config.path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, contents).unwrap();
        p
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(args)
            .current_dir(self.path())
            .env("XDG_CONFIG_HOME", self.config.path());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self
            .command(args)
            .output()
            .expect("cannot start the ferry binary");
        Run {
            out,
            desc: format!("ferry {} (cwd {})", args.join(" "), self.path().display()),
        }
    }

    /// A new project in this folder (`ferry init .`).
    pub fn project() -> Workdir {
        let wd = Workdir::new();
        wd.run(&["init", "."]).ok();
        wd
    }

    /// Files in the workspace's snapshot folder (to check nothing is left behind).
    pub fn snapshot_files(&self) -> Vec<String> {
        let dir = self.join(".ferry/snapshots");
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

    /// `ferry sql ... --format json`, parsed: its `rows` array.
    pub fn sql_json(&self, query: &str, extra: &[&str]) -> Vec<serde_json::Value> {
        let mut args = vec!["sql", query, "--format", "json"];
        args.extend_from_slice(extra);
        let out = self.run(&args).ok();
        let mut doc = serde_json::from_str::<serde_json::Value>(&out)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
        match doc["rows"].take() {
            serde_json::Value::Array(rows) => rows,
            _ => panic!("no `rows` array: {out}"),
        }
    }

    /// `ferry stage ... --json`, parsed.
    pub fn stage_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["stage", "--json"];
        all.extend_from_slice(args);
        let out = self.run(&all).ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A project with a generated 60-patient clinic staged, the clinic's module library and checks
/// copied in, `extra` appended to ferry.toml, and one run. Exception rates up to 25% are allowed
/// (a small clinic has a noisy rate).
pub fn clinic_run(extra: &str) -> Workdir {
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
    wd.run(&["stage", "legacy/clinic.sql"]).ok();
    let library = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules/ferry-clinic");
    for sub in ["mappings", "concept-maps", "checks"] {
        copy_dir(&library.join(sub), &wd.join(sub));
    }
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    let config = config
        .replace("# local_offset = \"-05:00\"", "local_offset = \"-05:00\"")
        .replace(
            "# system_base = \"https://fhir.hospital.example\"",
            "system_base = \"http://ferry.example\"",
        )
        .replace("# max_exception_rate = 0.05", "max_exception_rate = 0.25");
    assert!(config.contains("max_exception_rate = 0.25"), "{config}");
    wd.write("ferry.toml", format!("{config}{extra}"));
    wd.run(&["run"]).ok();
    wd
}
