use std::path::PathBuf;

/// Why a sign-off report or a sample packet could not be made. Messages name the file, line,
/// module or run, and say what to do; they never hold data values.
#[derive(Debug, thiserror::Error)]
pub enum SignoffError {
    #[error(transparent)]
    Store(#[from] ferry_store::StoreError),
    #[error("cannot write `{path}`: {source}. Check that the folder exists and is writable")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("rendering `{template}` failed: {message}. This is a Ferry bug; please report it")]
    Template { template: String, message: String },
    #[error(
        "module `{module}`: its source query failed on snapshot {snapshot}: {source}. Run `ferry check` and fix the module"
    )]
    Query {
        module: String,
        snapshot: u64,
        #[source]
        source: ferry_store::StoreError,
    },
    #[error(
        "`{path}` is not the file run {run} wrote (its sha256 differs or it is missing): a later run replaced the output folder. Sample the latest run (`--run` without a number), or run run {run}'s kind again"
    )]
    OutputChanged { path: PathBuf, run: u64 },
    #[error(
        "`{path}` line {line}: not a FHIR resource as Ferry writes them ({message}). The output folder was changed by hand; run again"
    )]
    Ndjson {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error(
        "run {run} has no patients to sample: no module declares `source.patient`, or its rows are empty. Declare the patient column in the modules (docs/mapping.md)"
    )]
    NoPatients { run: u64 },
    #[error("run {run} did not finish (status: {status}); sample a run that did (`ferry runs`)")]
    RunNotOk { run: u64, status: String },
    #[error("sampling was cancelled; nothing was recorded")]
    Cancelled,
    #[error("the verdict form `{path}` has {} problem(s); nothing was recorded. Fix them and record again:\n{}", .problems.len(), .problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Form {
        path: PathBuf,
        /// Each problem starts with `line N:`.
        problems: Vec<String>,
    },
}

impl SignoffError {
    pub(crate) fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SignoffError::Write {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SignoffError::Read {
            path: path.into(),
            source,
        }
    }
}
