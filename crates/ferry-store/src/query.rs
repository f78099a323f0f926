use crate::catalog::Workspace;
use crate::{StoreError, quote_ident};
use ferry_core::Cancel;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization, TransactionOperation};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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

/// Limits on one query (see [`SnapshotReader::query_limited`]); the default is none.
#[derive(Debug, Clone, Default)]
struct QueryLimits {
    timeout: Option<Duration>,
    cancel: Option<Cancel>,
}

/// How often (in SQLite virtual machine instructions) the progress handler looks at the limits.
/// An unarmed check is one atomic load, so this costs nothing measurable on unlimited queries.
const PROGRESS_OPS: std::ffi::c_int = 1000;

/// What the progress handler of a connection checks; armed only while a limited query runs.
#[derive(Default)]
struct Watch {
    armed: AtomicBool,
    state: Mutex<WatchState>,
}

#[derive(Default)]
struct WatchState {
    deadline: Option<Instant>,
    cancel: Option<Cancel>,
    stopped: Option<Stopped>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stopped {
    Timeout,
    Cancelled,
}

impl Watch {
    fn state(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The progress handler's question: interrupt now?
    fn interrupt(&self) -> bool {
        if !self.armed.load(Ordering::Relaxed) {
            return false;
        }
        let mut s = self.state();
        if s.cancel.as_ref().is_some_and(Cancel::is_cancelled) {
            s.stopped = Some(Stopped::Cancelled);
            return true;
        }
        if s.deadline.is_some_and(|d| Instant::now() >= d) {
            s.stopped = Some(Stopped::Timeout);
            return true;
        }
        false
    }
}

/// A limited query in progress: arms the connection's [`Watch`] and disarms it when dropped.
/// SQLite's time is summed step by step, so only the query's own computing counts.
struct Armed<'a> {
    watch: &'a Watch,
    limits: &'a QueryLimits,
    spent: Duration,
}

impl<'a> Armed<'a> {
    fn new(watch: &'a Watch, limits: &'a QueryLimits) -> Armed<'a> {
        {
            let mut s = watch.state();
            *s = WatchState {
                deadline: None,
                cancel: limits.cancel.clone(),
                stopped: None,
            };
        }
        let armed = limits.timeout.is_some() || limits.cancel.is_some();
        watch.armed.store(armed, Ordering::Relaxed);
        Armed {
            watch,
            limits,
            spent: Duration::ZERO,
        }
    }

    /// Runs one step of SQLite (`rows.next()`) under the limits.
    fn step<T>(&mut self, step: impl FnOnce() -> rusqlite::Result<T>) -> Result<T, StoreError> {
        if self.limits.timeout.is_none() && self.limits.cancel.is_none() {
            return step().map_err(|e| StoreError::Query(explain(&e)));
        }
        self.check()?;
        let start = Instant::now();
        if let Some(t) = self.limits.timeout {
            // A limit too far away to be an `Instant` is no limit.
            self.watch.state().deadline = start.checked_add(t.saturating_sub(self.spent));
        }
        let result = step();
        self.spent += start.elapsed();
        match result {
            // A limit used up by this step stops the next one (before it starts), so a query
            // that finished in time is never failed afterwards.
            Ok(v) => Ok(v),
            Err(e) => Err(match self.watch.state().stopped {
                Some(why) => self.stopped(why),
                None => StoreError::Query(explain(&e)),
            }),
        }
    }

    /// Between steps: a cancel or a time limit already used up stops the query too.
    fn check(&self) -> Result<(), StoreError> {
        if self
            .limits
            .cancel
            .as_ref()
            .is_some_and(Cancel::is_cancelled)
        {
            return Err(self.stopped(Stopped::Cancelled));
        }
        if self.limits.timeout.is_some_and(|t| self.spent >= t) {
            return Err(self.stopped(Stopped::Timeout));
        }
        Ok(())
    }

    fn stopped(&self, why: Stopped) -> StoreError {
        StoreError::Query(match why {
            Stopped::Timeout => format!(
                "the query ran longer than {} s and was stopped; add a LIMIT or a narrower WHERE, or raise --timeout",
                seconds(self.limits.timeout.unwrap_or_default())
            ),
            Stopped::Cancelled => "the query was cancelled; nothing was changed".into(),
        })
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.watch.armed.store(false, Ordering::Relaxed);
        *self.watch.state() = WatchState::default();
    }
}

/// A duration as people write it in `--timeout`: whole seconds when whole.
fn seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{:.1}", d.as_secs_f64())
    }
}

/// Read-only access to one snapshot's staged tables.
///
/// Read-only by construction, not only by the file's open flags: every statement prepared on the
/// connection passes an authorizer that allows only what a `SELECT` needs (reading tables and
/// columns, calling functions, recursive CTEs) and refuses everything that writes, attaches,
/// detaches, creates, drops, alters, begins transactions or sets pragmas; a statement SQLite
/// itself does not call read-only (`VACUUM INTO`, which the authorizer never sees) is refused
/// before it takes a step; and exactly one statement runs (a trailing statement is refused).
pub struct SnapshotReader {
    id: u64,
    path: PathBuf,
    conn: Connection,
    /// What the authorizer refused in the statement being prepared (for the error message).
    refused: Arc<Mutex<Option<String>>>,
    watch: Arc<Watch>,
}

impl Workspace {
    /// Opens a snapshot (the latest when `id` is `None`) for reading. The connection is
    /// read-only: staged data cannot be changed through it (see [`SnapshotReader`]).
    pub fn open_snapshot(&self, id: Option<u64>) -> Result<SnapshotReader, StoreError> {
        let info = self.snapshot(id)?;
        if !info.db_file.exists() {
            return Err(StoreError::MissingSnapshotFile {
                id: info.id,
                path: info.db_file,
            });
        }
        let mut conn = Connection::open_with_flags(
            &info.db_file,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::sqlite(&info.db_file, e))?;
        // A generous page cache makes repeated scans cheap; the file itself is never changed.
        // (Set before the authorizer, which refuses every pragma afterwards.)
        let _ = conn.execute_batch("PRAGMA cache_size = -65536; PRAGMA query_only = ON;");
        add_sql_functions(&conn).map_err(|e| StoreError::sqlite(&info.db_file, e))?;
        let refused: Arc<Mutex<Option<String>>> = Arc::default();
        let seen = Arc::clone(&refused);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            match refusal(&ctx.action) {
                None => Authorization::Allow,
                Some(what) => {
                    let mut slot = seen.lock().unwrap_or_else(PoisonError::into_inner);
                    slot.get_or_insert(what);
                    Authorization::Deny
                }
            }
        }))
        .map_err(|e| StoreError::sqlite(&info.db_file, e))?;
        let watch = Arc::new(Watch::default());
        let w = Arc::clone(&watch);
        conn.progress_handler(PROGRESS_OPS, Some(move || w.interrupt()))
            .map_err(|e| StoreError::sqlite(&info.db_file, e))?;
        Ok(SnapshotReader {
            id: info.id,
            path: info.db_file,
            conn,
            refused,
            watch,
        })
    }
}

/// `None` when a `SELECT` may do this; otherwise what was refused, for the message (keywords and
/// table or pragma names only, never a value or a file name).
fn refusal(action: &AuthAction<'_>) -> Option<String> {
    use AuthAction as A;
    let named = |what: &str, name: &str| Some(format!("`{what}` (`{name}`)"));
    match action {
        A::Select | A::Read { .. } | A::Function { .. } | A::Recursive => None,
        // SQLite asks about writing the schema table before it asks about the CREATE (or DROP)
        // itself, and stops at the first refusal: name the schema change, not its table.
        A::Insert { table_name } | A::Update { table_name, .. } | A::Delete { table_name }
            if is_schema_table(table_name) =>
        {
            Some(SCHEMA_CHANGE.into())
        }
        A::Insert { table_name } => named("INSERT", table_name),
        A::Update { table_name, .. } => named("UPDATE", table_name),
        A::Delete { table_name } => named("DELETE", table_name),
        A::Pragma { pragma_name, .. } => Some(format!("`PRAGMA {pragma_name}`")),
        A::Attach { .. } => Some("`ATTACH`".into()),
        A::Detach { .. } => Some("`DETACH`".into()),
        A::Transaction { operation } => Some(format!("`{}`", transaction_word(*operation))),
        A::Savepoint { .. } => Some("`SAVEPOINT`".into()),
        A::CreateTable { table_name } | A::CreateTempTable { table_name } => {
            named("CREATE TABLE", table_name)
        }
        A::CreateIndex { index_name, .. } | A::CreateTempIndex { index_name, .. } => {
            named("CREATE INDEX", index_name)
        }
        A::CreateView { view_name } | A::CreateTempView { view_name } => {
            named("CREATE VIEW", view_name)
        }
        A::CreateTrigger { trigger_name, .. } | A::CreateTempTrigger { trigger_name, .. } => {
            named("CREATE TRIGGER", trigger_name)
        }
        A::CreateVtable { table_name, .. } => named("CREATE VIRTUAL TABLE", table_name),
        A::DropTable { table_name } | A::DropTempTable { table_name } => {
            named("DROP TABLE", table_name)
        }
        A::DropIndex { index_name, .. } | A::DropTempIndex { index_name, .. } => {
            named("DROP INDEX", index_name)
        }
        A::DropView { view_name } | A::DropTempView { view_name } => named("DROP VIEW", view_name),
        A::DropTrigger { trigger_name, .. } | A::DropTempTrigger { trigger_name, .. } => {
            named("DROP TRIGGER", trigger_name)
        }
        A::DropVtable { table_name, .. } => named("DROP VIRTUAL TABLE", table_name),
        A::AlterTable { table_name, .. } => named("ALTER TABLE", table_name),
        A::Reindex { .. } => Some("`REINDEX`".into()),
        A::Analyze { .. } => Some("`ANALYZE`".into()),
        A::Unknown { code, .. } => Some(format!("an operation SQLite numbers {code}")),
        _ => Some("an operation that is not part of a SELECT".into()),
    }
}

/// Stands for a refused write of the schema table; replaced by the statement's keyword if known.
const SCHEMA_CHANGE: &str = "a schema change";

fn is_schema_table(name: &str) -> bool {
    [
        "sqlite_master",
        "sqlite_temp_master",
        "sqlite_schema",
        "sqlite_temp_schema",
    ]
    .iter()
    .any(|t| name.eq_ignore_ascii_case(t))
}

fn transaction_word(op: TransactionOperation) -> &'static str {
    match op {
        TransactionOperation::Begin => "BEGIN",
        TransactionOperation::Release => "RELEASE",
        TransactionOperation::Rollback => "ROLLBACK",
        // SQLite says `COMMIT` (also for `END`), which rusqlite does not name.
        _ => "COMMIT",
    }
}

/// The first keyword of a statement, when it is one (`VACUUM`), to name what was refused.
fn first_keyword(sql: &str) -> Option<String> {
    let word: String = sql
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    (!word.is_empty() && word.len() <= 12).then(|| word.to_ascii_uppercase())
}

fn read_only_refused(what: &str) -> StoreError {
    StoreError::Query(format!(
        "only read-only queries run over a snapshot: a single SELECT (or WITH ... SELECT); {what} was refused, nothing ran and nothing was changed. Staged snapshots keep exactly what the legacy system held: to work on a copy, export the rows with `ferry sql \"SELECT ...\" --format csv`"
    ))
}

impl SnapshotReader {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Prepares one statement under the read-only rules (see [`SnapshotReader`]).
    fn prepare(&self, sql: &str) -> Result<rusqlite::Statement<'_>, StoreError> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let prepared = self.conn.prepare(sql);
        let refused = self
            .refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let stmt = match (prepared, refused) {
            (Ok(stmt), _) => stmt,
            // Also a refused trailing statement: rusqlite prepares the rest to see whether
            // there is one.
            (Err(_), Some(what)) if what == SCHEMA_CHANGE => {
                let what = match first_keyword(sql) {
                    Some(k) if !matches!(k.as_str(), "SELECT" | "WITH" | "VALUES") => {
                        format!("`{k}` (it changes the schema)")
                    }
                    _ => "a statement that changes the schema".into(),
                };
                return Err(read_only_refused(&what));
            }
            (Err(_), Some(what)) => return Err(read_only_refused(&what)),
            (Err(e), None) => return Err(StoreError::Query(explain(&e))),
        };
        if !stmt.readonly() {
            let what = match first_keyword(sql) {
                Some(k) => format!("`{k}` (it writes)"),
                None => "a statement that writes".into(),
            };
            return Err(read_only_refused(&what));
        }
        Ok(stmt)
    }

    /// Runs one SQL statement and streams its rows to `on_row` with the column names; return
    /// `false` from `on_row` to stop early. Returns the column names and the rows seen.
    pub fn query(
        &self,
        sql: &str,
        on_row: &mut dyn FnMut(&[String], &[QueryValue]) -> bool,
    ) -> Result<(Vec<String>, u64), StoreError> {
        self.run_query(sql, &QueryLimits::default(), on_row)
    }

    /// [`SnapshotReader::query`] under a time limit and a cancel token (`ferry sql`), both
    /// checked by SQLite's progress handler while the query computes (the token also between
    /// rows). `timeout` counts only SQLite's own time: time spent in `on_row` (say, waiting for a
    /// slow pipe to take the output) does not. A query stopped by either fails with
    /// [`StoreError::Query`] and a message that says which; a caller tells a cancel from a
    /// failure by asking its own token.
    pub fn query_limited(
        &self,
        sql: &str,
        timeout: Option<Duration>,
        cancel: Option<&Cancel>,
        on_row: &mut dyn FnMut(&[String], &[QueryValue]) -> bool,
    ) -> Result<(Vec<String>, u64), StoreError> {
        let limits = QueryLimits {
            timeout,
            cancel: cancel.cloned(),
        };
        self.run_query(sql, &limits, on_row)
    }

    fn run_query(
        &self,
        sql: &str,
        limits: &QueryLimits,
        on_row: &mut dyn FnMut(&[String], &[QueryValue]) -> bool,
    ) -> Result<(Vec<String>, u64), StoreError> {
        let mut stmt = self.prepare(sql)?;
        let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
        let mut armed = Armed::new(&self.watch, limits);
        let mut rows = stmt.query([]).map_err(|e| StoreError::Query(explain(&e)))?;
        let mut buf = Vec::with_capacity(names.len());
        let mut n = 0u64;
        while let Some(row) = armed.step(|| rows.next())? {
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
        let mut stmt = self.prepare(&sql)?;
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
        let mut stmt = self.prepare(sql)?;
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

    /// The staged columns that `sql` compares with a numeric literal (`col = 3`,
    /// `col IN (3, 9)`, `col > 3`, ...; see [`crate::textcmp`]), each once: staged values are
    /// text and staged columns have no affinity, so SQLite never finds `'3'` equal to `3`, and
    /// `ferry sql` warns. Column names of every staged table, read with `SELECT *` (no pragma).
    pub fn numeric_comparisons_of_text(&self, sql: &str) -> Result<Vec<String>, StoreError> {
        let compared = crate::textcmp::numeric_comparisons(sql);
        if compared.is_empty() {
            return Ok(compared);
        }
        let mut tables = Vec::new();
        self.query(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '\\_ferry%' ESCAPE '\\'",
            &mut |_, row| {
                if let Some(QueryValue::Text(t)) = row.first() {
                    tables.push(t.clone());
                }
                true
            },
        )?;
        let mut staged = std::collections::HashSet::new();
        for t in tables {
            for c in self.columns_of(&format!("SELECT * FROM {}", quote_ident(&t)))? {
                staged.insert(c.to_ascii_lowercase());
            }
        }
        Ok(compared
            .into_iter()
            .filter(|c| staged.contains(&c.to_ascii_lowercase()))
            .collect())
    }

    /// The column names a query would return, without running it.
    pub fn columns_of(&self, sql: &str) -> Result<Vec<String>, StoreError> {
        let stmt = self.prepare(sql)?;
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
