//! The output folder: one folder per run, never overwritten, and a crash-safe way to publish it.
//!
//! ```text
//! output/
//!   run-0001/            a recorded run's NDJSON (and bundles/), exactly as the ledger lists it
//!   run-0002/
//!   latest -> run-0002   the newest published run (a symbolic link, replaced atomically)
//! ```
//!
//! **Publishing a run**, in this order (the project lock is held throughout):
//! 1. the NDJSON is written into a temporary folder `.run-NNNN.ferry-tmp-PID-N` (swept once its
//!    process is gone);
//! 2. when every file is written and fsynced, that folder is renamed `.run-NNNN.ready`;
//! 3. the ledger commits the run (one catalog transaction);
//! 4. `.run-NNNN.ready` is renamed `run-NNNN`, then `latest` is pointed at it.
//!
//! A kill before 3 leaves no recorded run and a folder the next command deletes (Ferry made it);
//! a kill after 3 leaves a recorded run whose folder the next command renames into place
//! ([`Layout::repair`]); either way no reader ever sees a folder of a run that was not recorded,
//! and nothing of an earlier run is touched.

use crate::{OpsError, Project};
use ferry_core::atomic;
use std::path::{Path, PathBuf};

/// What [`Layout::repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Repair {
    /// Temporary files and folders of dead processes removed.
    pub swept: usize,
    /// Runs whose output was complete and recorded, moved into place.
    pub finished: Vec<u64>,
    /// Complete outputs of runs that were never recorded, removed.
    pub discarded: Vec<u64>,
    /// Ledger files of runs the catalog does not know, removed.
    pub orphan_ledgers: Vec<u64>,
    /// Whether `latest` was pointed at the newest published run.
    pub relinked: bool,
}

impl Repair {
    pub fn is_empty(&self) -> bool {
        *self == Repair::default()
    }
}

/// A project's output folder.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
    /// The folder that held older Ferry's temporary output (`.output.tmp-PID-N`): the output
    /// folder's parent.
    legacy_parent: Option<PathBuf>,
    legacy_prefix: String,
}

const READY: &str = ".ready";
pub const LATEST: &str = "latest";

impl Layout {
    pub fn of(project: &Project) -> Layout {
        let dir = project.output_dir();
        let legacy_prefix = format!(
            ".{}.tmp-",
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "output".into())
        );
        Layout {
            legacy_parent: dir.parent().map(Path::to_path_buf),
            dir,
            legacy_prefix,
        }
    }

    pub fn run_name(id: u64) -> String {
        format!("run-{id:04}")
    }

    /// Where run `id`'s output is once published.
    pub fn run_dir(&self, id: u64) -> PathBuf {
        self.dir.join(Layout::run_name(id))
    }

    /// Where run `id`'s complete output waits for the ledger to commit.
    pub fn ready_dir(&self, id: u64) -> PathBuf {
        self.dir.join(format!(".{}{READY}", Layout::run_name(id)))
    }

    /// The highest run number with a folder here (published or waiting), or 0.
    pub fn highest_run_folder(&self) -> u64 {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        rd.flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                run_number(&name).or_else(|| ready_number(&name))
            })
            .max()
            .unwrap_or(0)
    }

    /// Creates the output folder (for PHI) if needed.
    pub fn prepare(&self) -> Result<(), OpsError> {
        atomic::create_dir(&self.dir, atomic::Contents::Phi)
            .map_err(|e| OpsError::io(&self.dir, "creating the output folder", e))
    }

    /// Step 4 of publishing: the recorded run's waiting folder into place, `latest` at it.
    pub fn publish(&self, id: u64) -> Result<(), OpsError> {
        let ready = self.ready_dir(id);
        let dest = self.run_dir(id);
        ferry_core::crash::point("publish.before-rename");
        if ready.exists() {
            if dest.symlink_metadata().is_ok() {
                return Err(OpsError::Other(format!(
                    "`{}` already exists, so run {id}'s output stays in `{}`. Move the folder that is in the way, then run any Ferry command to finish publishing",
                    dest.display(),
                    ready.display()
                )));
            }
            std::fs::rename(&ready, &dest)
                .map_err(|e| OpsError::io(&dest, "publishing the run's output", e))?;
            let _ = atomic::sync_dir(&self.dir);
        }
        ferry_core::crash::point("publish.before-latest");
        self.point_latest(id)
    }

    /// Points `latest` at `run-NNNN` (atomically: a new link renamed over the old one).
    pub fn point_latest(&self, id: u64) -> Result<(), OpsError> {
        let link = self.dir.join(LATEST);
        let target = Layout::run_name(id);
        #[cfg(unix)]
        {
            if std::fs::read_link(&link).is_ok_and(|t| t == Path::new(&target)) {
                return Ok(());
            }
            if link
                .symlink_metadata()
                .is_ok_and(|m| !m.file_type().is_symlink())
            {
                // Something of the user's is called `latest`: leave it alone.
                return Ok(());
            }
            let tmp = self.dir.join(atomic::temp_name(LATEST));
            std::os::unix::fs::symlink(&target, &tmp)
                .map_err(|e| OpsError::io(&tmp, "creating the `latest` link", e))?;
            std::fs::rename(&tmp, &link).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                OpsError::io(&link, "pointing `latest` at the new run", e)
            })?;
            let _ = atomic::sync_dir(&self.dir);
        }
        #[cfg(not(unix))]
        {
            atomic::write(&link, atomic::Contents::Project, target.as_bytes())?;
        }
        Ok(())
    }

    /// Repairs what a killed command left behind (see the module docs). Called by every writing
    /// operation, under the project lock, before it changes anything.
    pub fn repair(&self, ws: &ferry_store::Workspace) -> Result<Repair, OpsError> {
        let mut r = Repair {
            swept: atomic::sweep(&self.dir),
            ..Repair::default()
        };
        if let Some(parent) = &self.legacy_parent {
            r.swept += sweep_legacy(parent, &self.legacy_prefix);
        }
        r.swept += ws.sweep_temporary_files();
        let runs = ws.runs()?;
        let recorded_ok = |id: u64| runs.iter().any(|x| x.id == id && x.status == "ok");
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            let mut waiting: Vec<u64> = rd
                .flatten()
                .filter_map(|e| ready_number(&e.file_name().to_string_lossy()))
                .collect();
            waiting.sort();
            for id in waiting {
                let ready = self.ready_dir(id);
                if recorded_ok(id) && !self.run_dir(id).exists() {
                    std::fs::rename(&ready, self.run_dir(id))
                        .map_err(|e| OpsError::io(&ready, "finishing a published run", e))?;
                    r.finished.push(id);
                } else if !recorded_ok(id) {
                    std::fs::remove_dir_all(&ready).map_err(|e| {
                        OpsError::io(&ready, "removing the output of an unrecorded run", e)
                    })?;
                    r.discarded.push(id);
                }
            }
        }
        r.orphan_ledgers = ws.remove_unrecorded_run_files()?;
        // `latest` names the newest published run.
        let newest = runs
            .iter()
            .rev()
            .find(|x| x.status == "ok" && self.run_dir(x.id).is_dir())
            .map(|x| x.id);
        if let Some(id) = newest {
            let link = self.dir.join(LATEST);
            let current = std::fs::read_link(&link).ok();
            if current.as_deref() != Some(Path::new(&Layout::run_name(id))) {
                self.point_latest(id)?;
                r.relinked = true;
            }
        }
        Ok(r)
    }
}

fn run_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("run-")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

fn ready_number(name: &str) -> Option<u64> {
    run_number(name.strip_prefix('.')?.strip_suffix(READY)?)
}

/// Older Ferry (before run folders) wrote `.output.tmp-PID-N` (and `.output.tmp-PID-N.old`)
/// beside the output folder; removes those of dead processes.
fn sweep_legacy(parent: &Path, prefix: &str) -> usize {
    let Ok(rd) = std::fs::read_dir(parent) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let Some(pid) = rest.split(['-', '.']).next().and_then(|p| p.parse().ok()) else {
            continue;
        };
        if !atomic::process_alive(pid) && std::fs::remove_dir_all(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_folder_names() {
        assert_eq!(run_number("run-0007"), Some(7));
        assert_eq!(run_number("run-12345"), Some(12345));
        assert_eq!(run_number("run-"), None);
        assert_eq!(run_number("run-01a"), None);
        assert_eq!(run_number("latest"), None);
        assert_eq!(ready_number(".run-0003.ready"), Some(3));
        assert_eq!(ready_number("run-0003.ready"), None);
        assert_eq!(ready_number(".run-0003.ferry-tmp-1-2"), None);
    }
}
