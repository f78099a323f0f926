use std::path::PathBuf;

/// Why the workspace store failed. Messages name the file or snapshot and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use the workspace at `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("workspace database `{path}` failed: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the disk holding `{path}` is full. Free space there, or point `[workspace] dir` in ferry.toml at a larger disk, then stage again; nothing was added to the workspace"
    )]
    DiskFull { path: PathBuf },
    #[error("no snapshot has been staged yet. Run `ferry stage PATH` first")]
    NoSnapshots,
    #[error("snapshot {0} does not exist. Run `ferry snapshots` to list the staged snapshots")]
    UnknownSnapshot(u64),
    #[error(
        "the file of snapshot {id} is missing (`{path}`). The workspace was changed by hand; stage the snapshot again"
    )]
    MissingSnapshotFile { id: u64, path: PathBuf },
    #[error("no run has been recorded yet. Run `ferry run` first")]
    NoRuns,
    #[error("run {0} does not exist. `ferry runs` lists the recorded runs")]
    UnknownRun(u64),
    #[error(
        "run {0} is already recorded (another Ferry process recorded a run meanwhile). Run again; `ferry runs` lists the recorded runs"
    )]
    RunIdTaken(u64),
    #[error(
        "runbook {0} is still open: `ferry runbook status` shows where it stopped, `ferry runbook resume` continues it, `ferry runbook abandon` closes it"
    )]
    RunbookOpen(u64),
    #[error("query failed: {0}")]
    Query(String),
    #[error("staging was cancelled; the workspace is unchanged")]
    Cancelled,
    #[error("the staging writer stopped unexpectedly: {0}")]
    Writer(String),
}

impl StoreError {
    pub(crate) fn sqlite(path: impl Into<PathBuf>, source: rusqlite::Error) -> Self {
        if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            return StoreError::DiskFull { path: path.into() };
        }
        StoreError::Sqlite {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::StorageFull {
            return StoreError::DiskFull { path: path.into() };
        }
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}
