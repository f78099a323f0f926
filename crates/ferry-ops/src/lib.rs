//! Ferry's operations layer (as cargo's `ops`): one function per thing a user does, taking who
//! acts ([`Actor`]), options and a [`Progress`] sink, and returning a result that the command
//! line prints and the dashboard renders. Command files only parse arguments and print.
//!
//! This crate also owns what makes a project safe to use from several terminals and after a
//! crash: the project lock ([`lock`]: one writer at a time, readers never blocked), the output
//! layout ([`layout`]: one folder per run, published only after the ledger commits), and the
//! repair every writing command does first (temporary files of dead processes swept,
//! half-published runs finished or discarded).
//!
//! It knows no terminal and no HTTP.

pub mod check;
pub mod conflicts;
pub mod decisions;
pub mod dedupe;
pub mod init;
pub mod layout;
pub mod ledger;
pub mod legacydb;
pub mod load;
pub mod lock;
pub mod profile;
pub mod project;
pub mod run;
pub mod runbook;
pub mod signoff;
pub mod stage;
pub mod trail;
pub mod verify;

pub use lock::{LockHolder, ProjectLock};
pub use project::{Config, Project};

use std::path::{Path, PathBuf};

/// Who is acting: recorded with what they do (snapshots, runs, verifications, decisions).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Actor {
    pub name: String,
}

impl Actor {
    pub fn new(name: impl Into<String>) -> Actor {
        Actor { name: name.into() }
    }

    /// The person at this terminal: `$FERRY_ACTOR`, else `$USER` / `$LOGNAME`, else the
    /// account the process runs as (from `/etc/passwd`), else `unknown`.
    pub fn from_env() -> Actor {
        let name = ["FERRY_ACTOR", "USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
            .or_else(account_name)
            .unwrap_or_else(|| "unknown".to_string());
        Actor { name }
    }
}

/// The name of the account this process runs as (Linux: the real uid in `/proc/self/status`,
/// looked up in `/etc/passwd`).
fn account_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_string())
    })
}

/// Where an operation reports progress (a terminal bar, server-sent events, nothing).
pub trait Progress: Sync {
    /// A phase starts; `total` in the phase's own unit (bytes, rows), when known.
    fn phase(&self, name: &str, total: Option<u64>);
    /// Position within the phase.
    fn position(&self, done: u64);
    /// A short note about what is happening now (a module, a table).
    fn message(&self, _text: &str) {}
}

/// Progress nobody watches.
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _name: &str, _total: Option<u64>) {}
    fn position(&self, _done: u64) {}
}

/// Why an operation failed. Messages say what, where and what to do; never a data value.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(
        "no `{}` found in `{}`{}. Run `ferry init DIR` to create a project, or pass `-C DIR` to name one",
        project::CONFIG_FILE,
        start.display(),
        if *searched_up { " or any folder above it" } else { "" }
    )]
    NoProject { start: PathBuf, searched_up: bool },
    #[error("`{}` is not valid: {message}\nFix the setting, or compare with the file `ferry init` writes", path.display())]
    BadConfig { path: PathBuf, message: String },
    #[error("{0}")]
    Config(String),
    #[error(
        "{setting} (`{}`) overlaps {other} (`{}`). Ferry keeps its folders apart so that it never writes into or deletes what it did not create: point {setting} in ferry.toml at a folder of its own",
        dir.display(),
        other_dir.display()
    )]
    FolderOverlap {
        setting: String,
        dir: PathBuf,
        other: String,
        other_dir: PathBuf,
    },
    #[error("{}", lock::locked_message(holder, path))]
    Locked {
        holder: Option<LockHolder>,
        path: PathBuf,
    },
    #[error("{action} `{}` failed: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] ferry_core::atomic::FileError),
    #[error(transparent)]
    Store(#[from] ferry_store::StoreError),
    #[error("the run stopped; nothing was recorded and no output was published: {0}")]
    Run(#[source] ferry_run::RunError),
    #[error("the verification stopped before a verdict; nothing was recorded: {0}")]
    Verify(#[source] ferry_verify::VerifyError),
    #[error("run {run} cannot be {action}: its status is `{status}`. {hint}")]
    RunNotUsable {
        run: u64,
        action: &'static str,
        status: String,
        hint: &'static str,
    },
    #[error("{0}")]
    Other(String),
    /// What a verdict or report relies on is not what the audit trail sealed (docs/audit-trail.md).
    #[error("refused: the workspace was changed behind Ferry's back, so nothing here can be trusted:\n  {}\n`ferry audit-trail --verify` checks the whole trail", .0.join("\n  "))]
    Tampered(Vec<String>),
    /// Ctrl-C (or the dashboard's stop button): nothing was changed.
    #[error("cancelled; nothing changed")]
    Cancelled,
}

impl OpsError {
    pub fn io(path: impl AsRef<Path>, action: &'static str, source: std::io::Error) -> OpsError {
        OpsError::Io {
            path: path.as_ref().to_path_buf(),
            action,
            source,
        }
    }

    /// Whether this is a cancellation (exit code 130), however deep.
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            OpsError::Cancelled
                | OpsError::Run(ferry_run::RunError::Cancelled)
                | OpsError::Store(ferry_store::StoreError::Cancelled)
        )
    }
}

impl From<ferry_run::RunError> for OpsError {
    fn from(e: ferry_run::RunError) -> Self {
        match e {
            ferry_run::RunError::Cancelled => OpsError::Cancelled,
            other => OpsError::Run(other),
        }
    }
}

impl From<ferry_verify::VerifyError> for OpsError {
    fn from(e: ferry_verify::VerifyError) -> Self {
        OpsError::Verify(e)
    }
}

/// A project opened for one operation: the project, its workspace (with the actor set) and, for
/// an operation that changes anything, the project lock.
pub struct Session {
    pub project: Project,
    pub ws: ferry_store::Workspace,
    pub actor: Actor,
    _lock: Option<ProjectLock>,
    /// What the repair at opening did (for `--verbose` output and tests).
    pub repaired: layout::Repair,
}

impl Session {
    /// For an operation that only reads: no lock, never blocked by a writer.
    pub fn reader(project: Project, actor: Actor) -> Result<Session, OpsError> {
        let mut ws = open_workspace(&project)?;
        ws.set_actor(&actor.name);
        Ok(Session {
            project,
            ws,
            actor,
            _lock: None,
            repaired: layout::Repair::default(),
        })
    }

    /// For an operation that writes: takes the project lock (failing at once, naming the holder,
    /// when another writer has it), then repairs what a killed command left behind.
    pub fn writer(project: Project, actor: Actor, command: &str) -> Result<Session, OpsError> {
        let ws_dir = project.workspace_dir();
        ferry_core::atomic::create_dir(&ws_dir, ferry_core::atomic::Contents::Phi)
            .map_err(|e| OpsError::io(&ws_dir, "creating the workspace folder", e))?;
        let lock = ProjectLock::acquire(&ws_dir, command, &actor)?;
        let mut ws = open_workspace(&project)?;
        ws.set_actor(&actor.name);
        let repaired = layout::Layout::of(&project).repair(&ws)?;
        Ok(Session {
            project,
            ws,
            actor,
            _lock: Some(lock),
            repaired,
        })
    }
}

fn open_workspace(project: &Project) -> Result<ferry_store::Workspace, OpsError> {
    let dir = project.workspace_dir();
    Ok(ferry_store::Workspace::open(&dir)?)
}
