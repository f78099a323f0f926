//! Every file Ferry writes goes through here: written to a temporary file beside its
//! destination, flushed and fsynced, renamed over the destination, and the folder fsynced. A kill
//! at any instant leaves the old file or the new one, never half of either; a writer dropped
//! before [`AtomicFile::commit`] deletes its temporary file.
//!
//! This is the one seam where file permissions are applied (and where encryption of files that
//! hold PHI will go): [`Contents::Phi`] files are created `0600`, project files (settings,
//! mappings, decisions kept in git) with the process's umask.
//!
//! **Temporary names.** Every temporary file or folder Ferry makes is named
//! `.<name>.ferry-tmp-<pid>-<n>` ([`temp_name`]), so that [`sweep`] can recognise it and remove
//! it once the process that made it is gone (killed, or its machine lost power).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a file holds, which decides how it is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contents {
    /// Patient data (output, PHI reports, packets): readable by its owner only (`0600`).
    Phi,
    /// Project files kept in git (settings, mappings, decisions, reports without PHI).
    Project,
}

/// A file operation that failed, with the path and what was being done.
#[derive(Debug, thiserror::Error)]
#[error(
    "{action} `{path}` failed: {source}. Check that the folder exists, is writable and the disk is not full"
)]
pub struct FileError {
    pub path: PathBuf,
    pub action: &'static str,
    #[source]
    pub source: io::Error,
}

impl FileError {
    pub fn new(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> FileError {
        FileError {
            path: path.into(),
            action,
            source,
        }
    }
}

/// The marker inside every temporary name (see the module docs).
pub const TEMP_MARK: &str = ".ferry-tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary name for `name`, unique in this process: `.<name>.ferry-tmp-<pid>-<n>`.
pub fn temp_name(name: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".{name}{TEMP_MARK}{}-{n}", std::process::id())
}

/// A temporary path beside `dest` (same folder, so the final rename is atomic).
pub fn temp_path_for(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_string());
    parent_of(dest).join(temp_name(&name))
}

/// The process id a temporary name was made by, if `name` is one of Ferry's temporary names.
pub fn temp_owner(name: &str) -> Option<u32> {
    let at = name.rfind(TEMP_MARK)?;
    let rest = &name[at + TEMP_MARK.len()..];
    let (pid, n) = rest.split_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether a process with this id is running. Where that cannot be told (no `/proc`), every
/// process counts as running, so nothing of a live process is ever swept.
pub fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return true;
    }
    proc_root.join(pid.to_string()).exists()
}

/// Removes from `dir` the temporary files and folders of processes that are no longer running;
/// returns how many it removed. Only names of Ferry's own pattern are touched.
pub fn sweep(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = temp_owner(&name) else {
            continue;
        };
        if process_alive(pid) {
            continue;
        }
        let path = entry.path();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        let ok = if is_dir {
            fs::remove_dir_all(&path).is_ok()
        } else {
            fs::remove_file(&path).is_ok()
        };
        if ok {
            removed += 1;
        }
    }
    removed
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Opens a new file for writing with the permissions its contents call for.
pub fn create_file(path: &Path, contents: Contents) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if contents == Contents::Phi {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = contents;
    opts.open(path)
}

/// Creates a folder (and its parents) for files of these contents: `0700` for PHI.
pub fn create_dir(path: &Path, contents: Contents) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    if contents == Contents::Phi {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    #[cfg(not(unix))]
    let _ = contents;
    b.create(path)
}

/// Fsyncs a folder, making renames and new entries in it durable (a no-op where folders cannot
/// be opened).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// A file being written atomically; see the module docs.
pub struct AtomicFile {
    dest: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `dest` (created or replaced on [`AtomicFile::commit`]); creates its
    /// folder if needed.
    pub fn create(dest: impl AsRef<Path>, contents: Contents) -> Result<AtomicFile, FileError> {
        let dest = dest.as_ref().to_path_buf();
        let dir = parent_of(&dest).to_path_buf();
        if !dir.is_dir() {
            create_dir(&dir, contents)
                .map_err(|e| FileError::new(&dir, "creating the folder", e))?;
        }
        let tmp = temp_path_for(&dest);
        let file = create_file(&tmp, contents)
            .map_err(|e| FileError::new(&tmp, "creating the temporary file", e))?;
        Ok(AtomicFile {
            dest,
            tmp,
            out: Some(BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// Where the file will be once committed.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes, fsyncs, renames into place and fsyncs the folder.
    pub fn commit(mut self) -> Result<(), FileError> {
        let Some(out) = self.out.take() else {
            return Err(FileError::new(
                &self.dest,
                "writing",
                io::Error::other("the file was already committed"),
            ));
        };
        let file = out
            .into_inner()
            .map_err(|e| FileError::new(&self.tmp, "writing", e.into_error()))?;
        file.sync_all()
            .map_err(|e| FileError::new(&self.tmp, "flushing to disk", e))?;
        drop(file);
        crate::crash::point("atomic.before-rename");
        fs::rename(&self.tmp, &self.dest)
            .map_err(|e| FileError::new(&self.dest, "moving into place", e))?;
        // The rename is visible; this makes it durable.
        let _ = sync_dir(parent_of(&self.dest));
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Some(o) => o.write(buf),
            None => Err(io::Error::other("the file was already committed")),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.out {
            Some(o) => o.write_all(buf),
            None => Err(io::Error::other("the file was already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Some(o) => o.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `dest` atomically.
pub fn write(dest: &Path, contents: Contents, bytes: &[u8]) -> Result<(), FileError> {
    write_with(dest, contents, |w| w.write_all(bytes))
}

/// Writes `dest` atomically with `fill` producing its content.
pub fn write_with(
    dest: &Path,
    contents: Contents,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), FileError> {
    let mut f = AtomicFile::create(dest, contents)?;
    let tmp = f.tmp.clone();
    fill(&mut f).map_err(|e| FileError::new(tmp, "writing", e))?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn commit_replaces_the_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("a.json");
        write(&p, Contents::Project, b"one").unwrap();
        write(&p, Contents::Phi, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(names(&dir.path().join("sub")), ["a.json"]);
    }

    #[test]
    fn a_writer_dropped_before_commit_leaves_the_old_file_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write(&p, Contents::Project, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&p, Contents::Project).unwrap();
            f.write_all(b"half of the new").unwrap();
        }
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["a.txt"]);
        // A failing fill leaves the old file too.
        let err = write_with(&p, Contents::Project, |w| {
            w.write_all(b"x")?;
            Err(io::Error::other("boom"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["a.txt"]);
    }

    #[cfg(unix)]
    #[test]
    fn phi_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("phi").join("p.ndjson");
        write(&p, Contents::Phi, b"{}").unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mode = fs::metadata(dir.path().join("phi"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn temporary_names_carry_their_owner() {
        let n = temp_name("run-0001");
        assert!(n.starts_with(".run-0001.ferry-tmp-"), "{n}");
        assert_eq!(temp_owner(&n), Some(std::process::id()));
        assert_eq!(temp_owner(".a.ferry-tmp-123-7"), Some(123));
        assert_eq!(temp_owner(".a.ferry-tmp-123-"), None);
        assert_eq!(temp_owner(".a.ferry-tmp-x-1"), None);
        assert_eq!(temp_owner("run-0001"), None);
        assert_eq!(temp_owner(".output.tmp-1-2"), None);
    }

    #[test]
    fn sweep_removes_only_temporary_names_of_dead_processes() {
        let dir = tempfile::tempdir().unwrap();
        // A pid that cannot be running (above the kernel's pid_max).
        let dead = ".x.ferry-tmp-4194399-0";
        fs::write(dir.path().join(dead), b"half").unwrap();
        fs::create_dir(dir.path().join(".run-0002.ferry-tmp-4194399-1")).unwrap();
        fs::write(dir.path().join(".run-0002.ferry-tmp-4194399-1/a"), b"x").unwrap();
        let mine = temp_name("y");
        fs::write(dir.path().join(&mine), b"live").unwrap();
        fs::write(dir.path().join("user-file.ferry-tmp-notes"), b"keep").unwrap();
        fs::write(dir.path().join("run-0001"), b"keep").unwrap();
        let removed = sweep(dir.path());
        if Path::new("/proc/self").exists() {
            assert_eq!(removed, 2);
            let mut want = vec![
                mine,
                "run-0001".to_string(),
                "user-file.ferry-tmp-notes".into(),
            ];
            want.sort();
            assert_eq!(names(dir.path()), want);
        }
    }
}
