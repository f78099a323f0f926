use crate::SourceError;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The kinds of snapshot input Ferry reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputKind {
    Mysqldump,
    MysqldumpGz,
    Delimited,
    Sqlite,
    /// An Excel or OpenDocument workbook (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`).
    Spreadsheet,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Mysqldump => "mysqldump",
            InputKind::MysqldumpGz => "mysqldump.gz",
            InputKind::Delimited => "delimited",
            InputKind::Sqlite => "sqlite",
            InputKind::Spreadsheet => "spreadsheet",
        }
    }
}

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
/// A zip archive (`.xlsx`, `.xlsm`, `.xlsb`, `.ods`).
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// An OLE2 compound file (`.xls`, and an encrypted `.xlsx`).
const CFB_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
/// Workbook extensions the spreadsheet reader takes.
pub(crate) const SHEET_EXTENSIONS: [&str; 5] = [".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"];

/// Tells the kind of one file from its first bytes and its name.
pub fn detect_kind(path: &Path) -> Result<InputKind, SourceError> {
    let label = path.display().to_string();
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(|e| SourceError::io(&label, e))?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(SourceError::io(&label, e)),
        }
    }
    let head = &head[..n];
    if head.starts_with(SQLITE_MAGIC) {
        return Ok(InputKind::Sqlite);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if head.starts_with(&[0x1f, 0x8b]) {
        if name.ends_with(".sql.gz") || name.ends_with(".gz") {
            return Ok(InputKind::MysqldumpGz);
        }
        return Err(SourceError::Unsupported {
            file: label,
            message: "gzip data in a file not named `.sql.gz`; only gzipped mysqldump files are \
                      read. Rename it to `.sql.gz` if it is one, or decompress it first"
                .into(),
        });
    }
    if SHEET_EXTENSIONS.iter().any(|ext| name.ends_with(ext)) {
        if head.starts_with(ZIP_MAGIC) || head.starts_with(CFB_MAGIC) {
            return Ok(InputKind::Spreadsheet);
        }
        return Err(SourceError::Unsupported {
            file: label,
            message: "named like a workbook but it is not one (neither a zip archive nor an OLE2 \
                      file): it may be damaged, or a CSV or HTML export renamed; re-export it \
                      from the spreadsheet program"
                .into(),
        });
    }
    if name.ends_with(".sql") || name.ends_with(".dump") {
        return Ok(InputKind::Mysqldump);
    }
    for ext in [".csv", ".tsv", ".txt", ".psv", ".tab", ".dat"] {
        if name.ends_with(ext) {
            return Ok(InputKind::Delimited);
        }
    }
    if name.ends_with(".db") || name.ends_with(".sqlite") || name.ends_with(".sqlite3") {
        return Err(SourceError::Unsupported {
            file: label,
            message: "named like a SQLite database but does not start with the SQLite header; \
                      the file may be damaged or not a SQLite file"
                .into(),
        });
    }
    Err(SourceError::Unsupported {
        file: label,
        message: "cannot tell what kind of snapshot this is. Ferry reads mysqldump files \
                  (`.sql`, `.sql.gz`), delimited text (`.csv`, `.tsv`, `.txt`, `.psv`), workbooks \
                  (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`) and SQLite files; rename the file with one of these extensions"
            .into(),
    })
}

/// Expands the inputs of `ferry stage`: files as given, folders into their readable files
/// (not recursive), sorted by name so that staging order is deterministic.
pub fn expand_inputs(paths: &[PathBuf]) -> Result<Vec<(PathBuf, InputKind)>, SourceError> {
    let mut out = Vec::new();
    for path in paths {
        let label = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| SourceError::io(&label, e))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| SourceError::io(&label, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            let before = out.len();
            for entry in entries {
                let hidden = entry
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
                if hidden {
                    continue;
                }
                if let Ok(kind) = detect_kind(&entry) {
                    out.push((entry, kind));
                }
            }
            if out.len() == before {
                return Err(SourceError::Unsupported {
                    file: label,
                    message:
                        "this folder holds no file Ferry can stage (`.sql`, `.sql.gz`, `.csv`, \
                              `.tsv`, `.txt`, `.psv`, `.xlsx`, `.xls`, `.ods`, SQLite)"
                            .into(),
                });
            }
        } else {
            out.push((path.clone(), detect_kind(path)?));
        }
    }
    Ok(out)
}
