//! The project lock: one writer at a time.
//!
//! Every command that changes the project or its workspace (stage, run, verify, profile, audit,
//! dedupe, sample, report, map import) holds an exclusive advisory lock on `<workspace>/lock`
//! for as long as it runs; a second writer fails at once with an error naming the holder
//! (command, PID, who, since when). Readers (`snapshots`, `runs`, `sql`, `exceptions`, `check`)
//! take no lock and are never blocked: every write they could see is atomic.
//!
//! The lock is the operating system's (`flock` on Unix, `LockFileEx` on Windows, through
//! `std::fs::File::try_lock`), so it is released when the process ends, however it ends: a
//! killed command never leaves a stale lock behind. The holder's description is written into
//! the lock file after the lock is taken, for the message only.

use crate::{Actor, OpsError};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = "lock";

/// Who holds the lock (as written by the holder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub command: String,
    pub pid: u32,
    pub actor: String,
    pub since: String,
}

/// Held for the life of a writing operation; released on drop (or when the process dies).
pub struct ProjectLock {
    file: File,
    path: PathBuf,
}

impl std::fmt::Debug for ProjectLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectLock")
            .field("path", &self.path)
            .finish()
    }
}

impl ProjectLock {
    /// Takes the lock in `workspace_dir`, or fails at once naming the holder.
    pub fn acquire(
        workspace_dir: &Path,
        command: &str,
        actor: &Actor,
    ) -> Result<ProjectLock, OpsError> {
        let path = workspace_dir.join(LOCK_FILE);
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts
            .open(&path)
            .map_err(|e| OpsError::io(&path, "opening the project lock", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(OpsError::Locked {
                    holder: serde_json::from_str(&text).ok(),
                    path,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(OpsError::io(&path, "taking the project lock", e));
            }
        }
        let holder = LockHolder {
            command: command.to_string(),
            pid: std::process::id(),
            actor: actor.name.clone(),
            since: ferry_core::calendar::now_utc_rfc3339(),
        };
        let text = serde_json::to_string(&holder).unwrap_or_default();
        let _ = file
            .set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(text.as_bytes()))
            .and_then(|_| file.flush());
        Ok(ProjectLock { file, path })
    }

    /// Who holds the lock of this workspace right now, if anyone (without taking it).
    pub fn holder(workspace_dir: &Path) -> Option<LockHolder> {
        let path = workspace_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new().read(true).open(&path).ok()?;
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                None
            }
            Err(_) => {
                let mut text = String::new();
                file.read_to_string(&mut text).ok()?;
                serde_json::from_str(&text).ok()
            }
        }
    }
}

impl Drop for ProjectLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

pub(crate) fn locked_message(holder: &Option<LockHolder>, path: &Path) -> String {
    match holder {
        Some(h) => format!(
            "another Ferry command is changing this project: `ferry {}` (PID {}, by {}, since {}). Wait for it to finish, then run this again; reading commands (`ferry runs`, `ferry snapshots`, `ferry exceptions`) work meanwhile",
            h.command, h.pid, h.actor, h.since
        ),
        None => format!(
            "another Ferry command is changing this project (it holds `{}`). Wait for it to finish, then run this again",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_naming_the_holder_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = ProjectLock::acquire(dir.path(), "run", &Actor::new("ana")).unwrap();
        let holder = ProjectLock::holder(dir.path()).unwrap();
        assert_eq!(holder.command, "run");
        assert_eq!(holder.actor, "ana");
        assert_eq!(holder.pid, std::process::id());
        let err = ProjectLock::acquire(dir.path(), "verify", &Actor::new("ben")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`ferry run`"), "{msg}");
        assert!(
            msg.contains(&format!("PID {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("by ana"), "{msg}");
        drop(first);
        assert!(ProjectLock::holder(dir.path()).is_none());
        let again = ProjectLock::acquire(dir.path(), "verify", &Actor::new("ben")).unwrap();
        assert_eq!(ProjectLock::holder(dir.path()).unwrap().command, "verify");
        drop(again);
    }
}
