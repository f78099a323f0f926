//! SQLite source reader: every table of a SQLite database file, read-only.
//!
//! - The file is opened read-only through a `file:` URI with `immutable=1` (so a copy on
//!   read-only media or a share works and nothing is ever written next to it), unless a `-wal`
//!   or `-journal` file lies beside it: then it is opened plain read-only so SQLite applies them.
//! - Tables are taken from `sqlite_master` in schema order. Internal `sqlite_%` tables are skipped
//!   silently; views, triggers and virtual tables (whose data lives in their shadow tables, read as
//!   ordinary tables) get a [`NoteKind::SkippedObject`] note; indexes are structure, not data, and
//!   are skipped silently.
//! - Columns and declared types come from `PRAGMA table_xinfo` (generated columns included,
//!   hidden virtual-table columns not); primary-key columns in key order.
//! - Rows are streamed in a deterministic order: `ORDER BY rowid` for rowid tables, by primary
//!   key for `WITHOUT ROWID` tables.
//! - Values: NULL -> [`Value::Null`]; INTEGER -> decimal text; REAL -> the shortest text that
//!   reads back to the same `f64` (Rust's `{:?}` form: `1.0`, `0.1`, `1e300`, `inf`), noted once
//!   per table; TEXT -> text, or bytes with a [`NoteKind::InvalidText`] note when not valid UTF-8;
//!   BLOB -> bytes.

use crate::SourceError;
use ferry_core::{ColumnDef, Note, NoteKind, Origin, Sink, TableDef, Value};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::Path;

const PROGRESS_EVERY: u64 = 1 << 20;
/// InvalidText notes per table before they are summed up in one.
const MAX_INVALID_TEXT_NOTES: u64 = 100;

/// Reads every table of the SQLite file at `path` into `sink`.
pub fn read_file(path: &Path, file: &str, sink: &mut dyn Sink) -> Result<(), SourceError> {
    let conn = open(path, file)?;
    let objects = schema(&conn, file)?;
    let file_len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(u64::MAX);
    let mut progress = Progress {
        bytes: 0,
        last: 0,
        file_len,
    };
    for object in objects {
        match object.kind.as_str() {
            "table" if is_internal(&object.name) => {}
            "table" if is_virtual(&object.sql) => {
                sink.note(
                    Note::new(
                        NoteKind::SkippedObject,
                        file,
                        format!(
                            "virtual table `{}` skipped: its data, if stored, is in its shadow \
                             tables, which are read as ordinary tables",
                            object.name
                        ),
                    )
                    .in_table(object.name.clone()),
                )?;
            }
            "table" => read_table(&conn, file, &object.name, sink, &mut progress)?,
            "view" | "trigger" => {
                sink.note(
                    Note::new(
                        NoteKind::SkippedObject,
                        file,
                        format!("{} `{}` skipped: not table data", object.kind, object.name),
                    )
                    .in_table(object.table.clone()),
                )?;
            }
            _ => {}
        }
    }
    sink.progress(file_len.min(progress.bytes.max(progress.last)));
    Ok(())
}

struct Progress {
    bytes: u64,
    last: u64,
    file_len: u64,
}

impl Progress {
    /// Counts `n` payload bytes; tells the sink about every MiB (an estimate of the file read).
    fn add(&mut self, n: usize, sink: &mut dyn Sink) {
        self.bytes += n as u64;
        if self.bytes - self.last >= PROGRESS_EVERY {
            self.last = self.bytes;
            sink.progress(self.bytes.min(self.file_len));
        }
    }
}

struct SchemaObject {
    kind: String,
    name: String,
    table: String,
    sql: String,
}

fn is_internal(name: &str) -> bool {
    name.get(..7)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("sqlite_"))
}

fn is_virtual(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(3)
        .map(str::to_ascii_uppercase)
        .collect();
    matches!(words.as_slice(), [a, b, c] if a == "CREATE" && b == "VIRTUAL" && c == "TABLE")
}

/// `"name"` with inner quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Percent-encodes a path for a SQLite `file:` URI.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn sibling_exists(path: &Path, suffix: &str) -> bool {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    Path::new(&name).exists()
}

fn error(file: &str, context: &str, err: &rusqlite::Error) -> SourceError {
    let advice = match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            "the file is not a SQLite database, or it is encrypted (SQLCipher and the like): \
             export or decrypt it with the vendor's tool, then read the plain copy"
        }
        Some(ErrorCode::DatabaseCorrupt) => {
            "the database is damaged or truncated: copy it again from the source system, or \
             recover it with `sqlite3 FILE .recover` and read the recovered copy"
        }
        Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => {
            "check that the file exists and is readable"
        }
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            "another program holds the database: read a copy taken while it is closed"
        }
        _ => "check that the file is a complete copy of a SQLite database",
    };
    SourceError::Sqlite {
        file: file.to_string(),
        message: format!("{context}: {err}; {advice}"),
    }
}

fn open(path: &Path, file: &str) -> Result<Connection, SourceError> {
    let absolute = std::path::absolute(path).map_err(|e| SourceError::io(file, e))?;
    let journal = sibling_exists(path, "-wal") || sibling_exists(path, "-journal");
    let uri = if journal {
        format!("file:{}?mode=ro", uri_path(&absolute))
    } else {
        format!("file:{}?mode=ro&immutable=1", uri_path(&absolute))
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn =
        Connection::open_with_flags(&uri, flags).map_err(|e| error(file, "cannot open", &e))?;
    // Opening is lazy: read the schema once to find out now whether this is a database at all.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| {
        row.get::<_, i64>(0)
    })
    .map_err(|e| error(file, "cannot read the schema", &e))?;
    Ok(conn)
}

fn schema(conn: &Connection, file: &str) -> Result<Vec<SchemaObject>, SourceError> {
    let fail = |e: rusqlite::Error| error(file, "cannot read the schema", &e);
    let mut stmt = conn
        .prepare("SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY rowid")
        .map_err(fail)?;
    let rows = stmt
        .query_map([], |row| {
            Ok(SchemaObject {
                kind: row.get(0)?,
                name: row.get(1)?,
                table: row.get(2)?,
                sql: row.get(3)?,
            })
        })
        .map_err(fail)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(fail)
}

struct Column {
    name: String,
    declared_type: Option<String>,
    pk: i64,
}

fn columns(conn: &Connection, file: &str, table: &str) -> Result<Vec<Column>, SourceError> {
    let fail = |e: rusqlite::Error| {
        error(
            file,
            &format!("cannot read the columns of table `{table}`"),
            &e,
        )
    };
    let mut stmt = conn
        .prepare("SELECT name, type, pk FROM pragma_table_xinfo(?1) WHERE hidden <> 1 ORDER BY cid")
        .map_err(fail)?;
    let rows = stmt
        .query_map([table], |row| {
            let declared: String = row.get(1)?;
            Ok(Column {
                name: row.get(0)?,
                declared_type: (!declared.is_empty()).then_some(declared),
                pk: row.get(2)?,
            })
        })
        .map_err(fail)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(fail)
}

/// The `ORDER BY` clause that gives the table's storage order: a rowid alias not shadowed by a
/// column, else the primary key (WITHOUT ROWID tables), else none.
fn order_by(conn: &Connection, table: &str, columns: &[Column]) -> String {
    for alias in ["rowid", "_rowid_", "oid"] {
        if columns.iter().any(|c| c.name.eq_ignore_ascii_case(alias)) {
            continue;
        }
        let probe = format!("SELECT {alias} FROM main.{} LIMIT 0", quote_ident(table));
        if conn.prepare(&probe).is_ok() {
            return format!(" ORDER BY {alias}");
        }
    }
    let mut key: Vec<&Column> = columns.iter().filter(|c| c.pk > 0).collect();
    key.sort_by_key(|c| c.pk);
    if key.is_empty() {
        return String::new();
    }
    let key: Vec<String> = key.iter().map(|c| quote_ident(&c.name)).collect();
    format!(" ORDER BY {}", key.join(", "))
}

fn read_table(
    conn: &Connection,
    file: &str,
    table: &str,
    sink: &mut dyn Sink,
    progress: &mut Progress,
) -> Result<(), SourceError> {
    let columns = columns(conn, file, table)?;
    let mut key: Vec<&Column> = columns.iter().filter(|c| c.pk > 0).collect();
    key.sort_by_key(|c| c.pk);
    let mut def = TableDef::new(
        table,
        columns
            .iter()
            .map(|c| ColumnDef::new(c.name.clone(), c.declared_type.clone()))
            .collect(),
        Origin {
            file: file.to_string(),
            line: 0,
        },
    );
    def.primary_key = key.iter().map(|c| c.name.clone()).collect();
    let id = sink.table(def)?;
    if columns.is_empty() {
        return Ok(());
    }

    let list: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    let sql = format!(
        "SELECT {} FROM main.{}{}",
        list.join(", "),
        quote_ident(table),
        order_by(conn, table, &columns)
    );
    let mut read = 0u64;
    let fail = |e: rusqlite::Error, read: u64| {
        error(
            file,
            &format!("table `{table}`: reading stopped after {read} rows"),
            &e,
        )
    };
    let mut stmt = conn.prepare(&sql).map_err(|e| fail(e, read))?;
    let mut rows = stmt.query([]).map_err(|e| fail(e, read))?;
    let mut reals = 0u64;
    let mut invalid = 0u64;
    loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => return Err(fail(e, read)),
        };
        let mut values = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            let value = match row.get_ref(i).map_err(|e| fail(e, read))? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => Value::Text(n.to_string()),
                ValueRef::Real(x) => {
                    reals += 1;
                    Value::Text(format!("{x:?}"))
                }
                ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
                    Ok(text) => Value::Text(text.to_owned()),
                    Err(_) => {
                        invalid += 1;
                        if invalid <= MAX_INVALID_TEXT_NOTES {
                            sink.note(
                                Note::new(
                                    NoteKind::InvalidText,
                                    file,
                                    format!(
                                        "TEXT value in row {} (in rowid/key order) is not valid \
                                         UTF-8; staged as bytes",
                                        read + 1
                                    ),
                                )
                                .in_table(table)
                                .in_column(column.name.clone()),
                            )?;
                        }
                        Value::Bytes(bytes.to_vec())
                    }
                },
                ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
            };
            progress.add(value.len_bytes(), sink);
            values.push(value);
        }
        sink.row(id, values)?;
        read += 1;
    }
    if invalid > MAX_INVALID_TEXT_NOTES {
        sink.note(
            Note::new(
                NoteKind::InvalidText,
                file,
                format!(
                    "{invalid} TEXT values in all are not valid UTF-8 and were staged as bytes \
                     (only the first {MAX_INVALID_TEXT_NOTES} have their own note)"
                ),
            )
            .in_table(table),
        )?;
    }
    if reals > 0 {
        sink.note(
            Note::new(
                NoteKind::Detected,
                file,
                format!(
                    "{reals} REAL values were staged as the shortest decimal text that reads back \
                     to the same 64-bit float (e.g. `1.0`, `0.1`, `1e300`)"
                ),
            )
            .in_table(table),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("a b"), "\"a b\"");
        assert_eq!(quote_ident("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn uri_escapes_query_and_fragment_characters() {
        assert_eq!(
            uri_path(Path::new("/tmp/a b?c#d%e.db")),
            "/tmp/a%20b%3Fc%23d%25e.db"
        );
    }

    #[test]
    fn recognises_internal_and_virtual_tables() {
        assert!(is_internal("sqlite_sequence"));
        assert!(is_internal("SQLITE_stat1"));
        assert!(!is_internal("sqlit"));
        assert!(!is_internal("sqlitéx"));
        assert!(is_virtual("create  virtual\ntable t using fts5(x)"));
        assert!(!is_virtual("CREATE TABLE t(x)"));
    }

    #[test]
    fn real_format_is_shortest_round_trip() {
        for x in [1.0f64, 0.1, 1e300, -2.5e-7, 123456.789] {
            let text = format!("{x:?}");
            assert_eq!(text.parse::<f64>().ok(), Some(x));
        }
        assert_eq!(format!("{:?}", 1.0f64), "1.0");
    }
}
