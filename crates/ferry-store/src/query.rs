use crate::catalog::Workspace;
use crate::{StoreError, quote_ident};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;

/// A value in a query result. Staged columns hold only text, bytes or NULL; integers and reals
/// appear when a query computes them (`count(*)`, `CAST(x AS INTEGER)`).
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl std::fmt::Display for QueryValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryValue::Null => f.write_str("NULL"),
            QueryValue::Integer(i) => write!(f, "{i}"),
            QueryValue::Real(r) => write!(f, "{r}"),
            QueryValue::Text(s) => f.write_str(s),
            QueryValue::Bytes(b) => {
                f.write_str("0x")?;
                for byte in b {
                    write!(f, "{byte:02X}")?;
                }
                Ok(())
            }
        }
    }
}

/// A text -> text SQL function offered by every snapshot reader (NULL in, NULL out; `None`
/// out is NULL).
pub type SqlTextFn = fn(&str) -> Option<String>;

static SQL_FUNCTIONS: std::sync::OnceLock<Vec<(&'static str, SqlTextFn)>> =
    std::sync::OnceLock::new();

/// Registers SQL functions that every [`SnapshotReader`] opened afterwards offers (e.g. the
/// binary registers `ferry_date`, the mapping library's legacy-date parser, so that module
/// queries can compare dates written in mixed formats). The first registration wins; this crate
/// knows no date formats itself.
pub fn register_sql_functions(functions: Vec<(&'static str, SqlTextFn)>) {
    let _ = SQL_FUNCTIONS.set(functions);
}

fn add_sql_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    for &(name, f) in SQL_FUNCTIONS.get().map(Vec::as_slice).unwrap_or(&[]) {
        conn.create_scalar_function(
            name,
            1,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            move |ctx| {
                let out = match ctx.get_raw(0) {
                    ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(f),
                    _ => None,
                };
                Ok(out)
            },
        )?;
    }
    Ok(())
}

/// Read-only access to one snapshot's staged tables.
pub struct SnapshotReader {
    id: u64,
    path: PathBuf,
    conn: Connection,
}

impl Workspace {
    /// Opens a snapshot (the latest when `id` is `None`) for reading. The connection is
    /// read-only: staged data cannot be changed through it.
    pub fn open_snapshot(&self, id: Option<u64>) -> Result<SnapshotReader, StoreError> {
        let info = self.snapshot(id)?;
        if !info.db_file.exists() {
            return Err(StoreError::MissingSnapshotFile {
                id: info.id,
                path: info.db_file,
            });
        }
        let conn = Connection::open_with_flags(
            &info.db_file,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::sqlite(&info.db_file, e))?;
        // A generous page cache makes repeated scans cheap; the file itself is never changed.
        let _ = conn.execute_batch("PRAGMA cache_size = -65536; PRAGMA query_only = ON;");
        add_sql_functions(&conn).map_err(|e| StoreError::sqlite(&info.db_file, e))?;
        Ok(SnapshotReader {
            id: info.id,
            path: info.db_file,
            conn,
        })
    }
}

impl SnapshotReader {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Runs one SQL statement and streams its rows to `on_row` with the column names; return
    /// `false` from `on_row` to stop early. Returns the column names and the rows seen.
    pub fn query(
        &self,
        sql: &str,
        on_row: &mut dyn FnMut(&[String], &[QueryValue]) -> bool,
    ) -> Result<(Vec<String>, u64), StoreError> {
        let mut stmt = self
            .conn
            .prepare(sql)
            .map_err(|e| StoreError::Query(explain(&e)))?;
        let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
        let mut rows = stmt.query([]).map_err(|e| StoreError::Query(explain(&e)))?;
        let mut buf = Vec::with_capacity(names.len());
        let mut n = 0u64;
        while let Some(row) = rows.next().map_err(|e| StoreError::Query(explain(&e)))? {
            buf.clear();
            for i in 0..names.len() {
                let v = row.get_ref(i).map_err(|e| StoreError::Query(explain(&e)))?;
                buf.push(match v {
                    ValueRef::Null => QueryValue::Null,
                    ValueRef::Integer(i) => QueryValue::Integer(i),
                    ValueRef::Real(r) => QueryValue::Real(r),
                    ValueRef::Text(t) => match std::str::from_utf8(t) {
                        Ok(s) => QueryValue::Text(s.to_string()),
                        Err(_) => QueryValue::Bytes(t.to_vec()),
                    },
                    ValueRef::Blob(b) => QueryValue::Bytes(b.to_vec()),
                });
            }
            n += 1;
            if !on_row(&names, &buf) {
                break;
            }
        }
        Ok((names, n))
    }

    /// Streams the rows of a staged table in source order (`rowid`), optionally only those with
    /// `first <= rowid <= last` (to split a big table between threads, each with its own reader).
    /// Values are borrowed: nothing is allocated per value. `on_row` returns `false` to stop.
    /// Returns the rows seen.
    pub fn scan(
        &self,
        staged_name: &str,
        rowids: Option<(i64, i64)>,
        on_row: &mut dyn FnMut(i64, &[ferry_core::ValueRef<'_>]) -> bool,
    ) -> Result<u64, StoreError> {
        let sql = match rowids {
            None => format!(
                "SELECT rowid, * FROM {} ORDER BY rowid",
                quote_ident(staged_name)
            ),
            Some((a, b)) => format!(
                "SELECT rowid, * FROM {} WHERE rowid BETWEEN {a} AND {b} ORDER BY rowid",
                quote_ident(staged_name)
            ),
        };
        let err = |e| StoreError::Query(explain(&e));
        let mut stmt = self.conn.prepare(&sql).map_err(err)?;
        let width = stmt.column_count().saturating_sub(1);
        let mut rows = stmt.query([]).map_err(err)?;
        let mut n = 0u64;
        while let Some(row) = rows.next().map_err(err)? {
            let rowid: i64 = row.get(0).map_err(err)?;
            let mut buf: Vec<ferry_core::ValueRef<'_>> = Vec::with_capacity(width);
            for i in 1..=width {
                let v = match row.get_ref(i).map_err(err)? {
                    ValueRef::Null => ferry_core::ValueRef::Null,
                    ValueRef::Text(t) => match std::str::from_utf8(t) {
                        Ok(s) => ferry_core::ValueRef::Text(s),
                        Err(_) => ferry_core::ValueRef::Bytes(t),
                    },
                    ValueRef::Blob(b) => ferry_core::ValueRef::Bytes(b),
                    // Staged columns hold only text, bytes or NULL; a number would mean the file
                    // was changed outside Ferry.
                    ValueRef::Integer(_) | ValueRef::Real(_) => {
                        return Err(StoreError::Query(format!(
                            "table `{staged_name}` holds a number in column {i}: staged snapshots hold only text, bytes and NULL, so the file was changed outside Ferry; stage the snapshot again"
                        )));
                    }
                };
                buf.push(v);
            }
            n += 1;
            if !on_row(rowid, &buf) {
                break;
            }
        }
        Ok(n)
    }

    /// Runs one SQL statement and streams its rows as borrowed values (text, bytes, NULL; numbers a
    /// query computes are given as their text), with the column names. `on_row` returns `false`
    /// to stop. Returns the column names and the rows seen.
    pub fn query_rows(
        &self,
        sql: &str,
        on_row: &mut dyn FnMut(&[String], &[ferry_core::ValueRef<'_>]) -> bool,
    ) -> Result<(Vec<String>, u64), StoreError> {
        let err = |e| StoreError::Query(explain(&e));
        let mut stmt = self.conn.prepare(sql).map_err(err)?;
        let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
        let mut rows = stmt.query([]).map_err(err)?;
        let mut n = 0u64;
        while let Some(row) = rows.next().map_err(err)? {
            let mut numbers: Vec<String> = Vec::new();
            let mut kinds = Vec::with_capacity(names.len());
            for i in 0..names.len() {
                match row.get_ref(i).map_err(err)? {
                    ValueRef::Integer(v) => {
                        numbers.push(v.to_string());
                        kinds.push(None);
                    }
                    ValueRef::Real(v) => {
                        numbers.push(format!("{v:?}"));
                        kinds.push(None);
                    }
                    other => kinds.push(Some(other)),
                }
            }
            let mut next_number = numbers.iter();
            let values: Vec<ferry_core::ValueRef<'_>> = kinds
                .into_iter()
                .map(|k| match k {
                    Some(ValueRef::Text(t)) => match std::str::from_utf8(t) {
                        Ok(s) => ferry_core::ValueRef::Text(s),
                        Err(_) => ferry_core::ValueRef::Bytes(t),
                    },
                    Some(ValueRef::Blob(b)) => ferry_core::ValueRef::Bytes(b),
                    Some(_) => ferry_core::ValueRef::Null,
                    None => next_number
                        .next()
                        .map(|s| ferry_core::ValueRef::Text(s.as_str()))
                        .unwrap_or(ferry_core::ValueRef::Null),
                })
                .collect();
            n += 1;
            if !on_row(&names, &values) {
                break;
            }
        }
        Ok((names, n))
    }

    /// The column names a query would return, without running it.
    pub fn columns_of(&self, sql: &str) -> Result<Vec<String>, StoreError> {
        let stmt = self
            .conn
            .prepare(sql)
            .map_err(|e| StoreError::Query(explain(&e)))?;
        Ok(stmt.column_names().map(|s| s.to_string()).collect())
    }

    /// The smallest and largest `rowid` of a staged table (`None` when it is empty).
    pub fn rowid_range(&self, staged_name: &str) -> Result<Option<(i64, i64)>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT min(rowid), max(rowid) FROM {}",
                    quote_ident(staged_name)
                ),
                [],
                |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?)),
            )
            .map(|(a, b)| a.zip(b))
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// Counts the rows of a staged table.
    pub fn count_rows(&self, staged_name: &str) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT count(*) FROM {}", quote_ident(staged_name)),
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }
}

fn explain(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(msg)) if msg.contains("readonly") => format!(
            "{msg}. Staged snapshots are read-only: they keep exactly what the legacy system held"
        ),
        rusqlite::Error::SqliteFailure(_, Some(msg)) if msg.starts_with("no such table") => {
            format!("{msg}. Run `ferry snapshots --tables` to list the staged tables")
        }
        rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
        rusqlite::Error::MultipleStatement => {
            "only one SQL statement can be run at a time; remove the extra `;` statements".into()
        }
        other => other.to_string(),
    }
}
