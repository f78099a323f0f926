use crate::catalog::Workspace;
use crate::{StoreError, quote_ident};
use ferry_core::{Note, NoteKind, Sink, SinkError, TableDef, TableId, Value};
use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

/// Rows are sent to the writer thread in batches of at most this many rows ...
const BATCH_ROWS: usize = 4096;
/// ... or this many payload bytes, whichever comes first.
const BATCH_BYTES: usize = 4 << 20;
/// Batches in flight between the reader and the writer thread (bounds memory).
const CHANNEL_DEPTH: usize = 8;
/// Rejected-row notes kept in the catalog per file; every rejected row is kept in the snapshot.
const REJECT_NOTES_PER_FILE: usize = 100;
/// Name of the table inside each snapshot file that keeps rejected rows (raw bytes, PHI).
pub const REJECTED_ROWS_TABLE: &str = "_ferry_rejected_rows";

/// One input file as recorded in the catalog.
#[derive(Debug, Clone)]
pub struct StagedFile {
    pub path: String,
    pub kind: String,
    pub bytes: u64,
    pub sha256: String,
    pub encoding: Option<String>,
}

enum Msg {
    Create {
        staged_name: String,
        columns: Vec<String>,
    },
    Rows {
        table: usize,
        rows: Vec<Vec<Value>>,
    },
    Reject {
        file: String,
        line: Option<u64>,
        table: Option<String>,
        reason: String,
        raw: Vec<u8>,
    },
}

struct TableState {
    def: TableDef,
    staged_name: String,
    staged_columns: Vec<String>,
    /// sha256 of the table's canonical content, computed as rows arrive (on the reader's
    /// thread, which balances the work against the writer thread's inserts).
    hasher: ferry_core::content_hash::TableHasher,
}

/// Per table: rows written (the content hashes are computed on the reader's side).
struct WriterOutcome {
    rows: Vec<u64>,
    rejected: u64,
}

/// Stages one snapshot. Implements [`Sink`]: give it to the snapshot readers, then
/// [`SnapshotWriter::commit`]. Dropping it without committing discards everything.
pub struct SnapshotWriter<'w> {
    ws: &'w mut Workspace,
    label: Option<String>,
    started: Instant,
    temp_path: PathBuf,
    tx: Option<SyncSender<Msg>>,
    handle: Option<JoinHandle<Result<WriterOutcome, StoreError>>>,
    tables: Vec<TableState>,
    taken_names: HashSet<String>,
    batch_table: usize,
    batch: Vec<Vec<Value>>,
    batch_bytes: usize,
    notes: Vec<Note>,
    reject_notes_per_file: std::collections::HashMap<String, usize>,
    files: Vec<StagedFile>,
    cancel: Arc<AtomicBool>,
    rows_seen: u64,
    committed: bool,
}

impl<'w> SnapshotWriter<'w> {
    pub(crate) fn begin(ws: &'w mut Workspace, label: Option<String>) -> Result<Self, StoreError> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp_path = ws
            .snapshot_dir()
            .join(ferry_core::atomic::temp_name(&format!("staging-{n}.db")));
        let _ = std::fs::remove_file(&temp_path);
        let conn = Connection::open(&temp_path).map_err(|e| StoreError::sqlite(&temp_path, e))?;
        conn.execute_batch(&format!(
            "PRAGMA page_size = 16384;
             PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             PRAGMA locking_mode = EXCLUSIVE;
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -65536;
             BEGIN;
             CREATE TABLE {REJECTED_ROWS_TABLE} (
                 file TEXT NOT NULL, line INTEGER, table_name TEXT, reason TEXT NOT NULL, raw BLOB
             );"
        ))
        .map_err(|e| StoreError::sqlite(&temp_path, e))?;
        conn.set_prepared_statement_cache_capacity(512);
        let (tx, rx) = sync_channel(CHANNEL_DEPTH);
        let thread_path = temp_path.clone();
        let handle = std::thread::Builder::new()
            .name("ferry-stage-writer".into())
            .spawn(move || write_loop(conn, rx, &thread_path))
            .map_err(|e| StoreError::io(&temp_path, e))?;
        let mut taken_names = HashSet::new();
        taken_names.insert(REJECTED_ROWS_TABLE.to_ascii_lowercase());
        Ok(SnapshotWriter {
            ws,
            label,
            started: Instant::now(),
            temp_path,
            tx: Some(tx),
            handle: Some(handle),
            tables: Vec::new(),
            taken_names,
            batch_table: 0,
            batch: Vec::new(),
            batch_bytes: 0,
            notes: Vec::new(),
            reject_notes_per_file: Default::default(),
            files: Vec::new(),
            cancel: Arc::new(AtomicBool::new(false)),
            rows_seen: 0,
            committed: false,
        })
    }

    /// A flag that, once set (e.g. from a Ctrl-C handler), makes the next row fail with a
    /// cancellation; the caller then drops the writer and the workspace is unchanged.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }

    /// Makes the writer watch the caller's cancel flag (set from a Ctrl-C handler) instead of
    /// its own.
    pub fn use_cancel_flag(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = flag;
    }

    /// Records one input file (path, kind, size, sha256) with the snapshot.
    pub fn add_file(&mut self, file: StagedFile) {
        self.files.push(file);
    }

    /// Rows accepted so far, over all tables.
    pub fn rows_seen(&self) -> u64 {
        self.rows_seen
    }

    fn send(&mut self, msg: Msg) -> Result<(), SinkError> {
        let Some(tx) = &self.tx else {
            return Err(SinkError::msg("the snapshot writer is closed"));
        };
        if tx.send(msg).is_err() {
            // The writer thread stopped: fetch its error.
            self.tx = None;
            let err = match self.handle.take().map(|h| h.join()) {
                Some(Ok(Err(e))) => e.to_string(),
                Some(Err(_)) => "the writer thread panicked".to_string(),
                _ => "the writer thread stopped".to_string(),
            };
            return Err(SinkError::msg(err));
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<(), SinkError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let table = self.batch_table;
        self.send(Msg::Rows { table, rows })
    }

    fn unique_name(&mut self, wanted: &str) -> String {
        let base = if wanted.to_ascii_lowercase().starts_with("sqlite_") {
            format!("_{wanted}")
        } else {
            wanted.to_string()
        };
        let mut name = base.clone();
        let mut k = 2;
        while !self.taken_names.insert(name.to_ascii_lowercase()) {
            name = format!("{base}_{k}");
            k += 1;
        }
        name
    }

    /// Finishes the snapshot: waits for every row to be written, then moves the snapshot into
    /// the workspace and records it in the catalog, atomically. Returns the snapshot's id.
    pub fn commit(mut self) -> Result<u64, StoreError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(StoreError::Cancelled);
        }
        self.flush_batch()
            .map_err(|e| StoreError::Writer(e.to_string()))?;
        self.tx = None; // closes the channel: the thread commits and returns
        let outcome = match self.handle.take().map(|h| h.join()) {
            Some(Ok(result)) => result?,
            Some(Err(_)) => return Err(StoreError::Writer("the writer thread panicked".into())),
            None => return Err(StoreError::Writer("the writer thread is gone".into())),
        };
        // Durable before it becomes visible.
        std::fs::File::open(&self.temp_path)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io(&self.temp_path, e))?;

        let duration_ms = self.started.elapsed().as_millis() as u64;
        let table_hashes: Vec<(u64, String)> = self
            .tables
            .iter_mut()
            .zip(&outcome.rows)
            .map(|(state, rows)| {
                let h = std::mem::take(&mut state.hasher);
                (*rows, h.finish())
            })
            .collect();
        let total_rows: u64 = outcome.rows.iter().sum();
        let input_bytes: u64 = self.files.iter().map(|f| f.bytes).sum();
        let mut content = Sha256::new();
        for (state, (rows, sha)) in self.tables.iter().zip(&table_hashes) {
            content.update(state.staged_name.as_bytes());
            content.update([0]);
            content.update(rows.to_le_bytes());
            content.update(sha.as_bytes());
        }
        let content_sha256 = hex::encode(content.finalize());
        let created_at = ferry_core::calendar::now_utc_rfc3339();
        let catalog_path = self.ws.catalog_path();
        let snapshot_dir = self.ws.snapshot_dir();
        let temp_path = self.temp_path.clone();
        let label = self.label.clone();
        let tables = std::mem::take(&mut self.tables);
        let files = std::mem::take(&mut self.files);
        let notes = std::mem::take(&mut self.notes);
        let rejected = outcome.rejected;

        let actor = self.ws.actor().to_string();
        let catalog = self.ws.catalog_mut();
        let tx = catalog
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| StoreError::sqlite(&catalog_path, e))?;
        let err = |e| StoreError::sqlite(&catalog_path, e);
        let id: i64 = tx
            .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM snapshot", [], |r| {
                r.get(0)
            })
            .map_err(err)?;
        let db_file = format!("snapshot-{id:04}.db");
        let final_path = snapshot_dir.join(&db_file);
        tx.execute(
            "INSERT INTO snapshot (id, label, created_at, duration_ms, db_file, tables, rows,
                                   rejected_rows, input_bytes, content_sha256, ferry_version, actor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                id,
                label,
                created_at,
                duration_ms as i64,
                db_file,
                tables.len() as i64,
                total_rows as i64,
                rejected as i64,
                input_bytes as i64,
                content_sha256,
                env!("CARGO_PKG_VERSION"),
                actor,
            ],
        )
        .map_err(err)?;
        for (i, f) in files.iter().enumerate() {
            tx.execute(
                "INSERT INTO snapshot_file (snapshot_id, ordinal, path, kind, bytes, sha256, encoding)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, i as i64, f.path, f.kind, f.bytes as i64, f.sha256, f.encoding],
            )
            .map_err(err)?;
        }
        for (i, (state, (rows, sha))) in tables.iter().zip(&table_hashes).enumerate() {
            let def = &state.def;
            tx.execute(
                "INSERT INTO snapshot_table (snapshot_id, ordinal, name, staged_name, database_name,
                     source_file, source_line, charset, transcoded_from, primary_key, rows, content_sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    id,
                    i as i64,
                    def.name,
                    state.staged_name,
                    def.database,
                    def.origin.file,
                    def.origin.line as i64,
                    def.charset,
                    def.transcoded_from,
                    serde_json::to_string(&def.primary_key).unwrap_or_else(|_| "[]".into()),
                    *rows as i64,
                    sha,
                ],
            )
            .map_err(err)?;
            for (j, (col, staged)) in def.columns.iter().zip(&state.staged_columns).enumerate() {
                tx.execute(
                    "INSERT INTO snapshot_column (snapshot_id, table_ordinal, ordinal, name, staged_name, declared_type)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![id, i as i64, j as i64, col.name, staged, col.declared_type],
                )
                .map_err(err)?;
            }
        }
        for (i, n) in notes.iter().enumerate() {
            tx.execute(
                "INSERT INTO snapshot_note (snapshot_id, ordinal, kind, file, line, table_name, column_name, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    id,
                    i as i64,
                    n.kind.as_str(),
                    n.file,
                    n.line.map(|l| l as i64),
                    n.table,
                    n.column,
                    n.message
                ],
            )
            .map_err(err)?;
        }
        // The file becomes the snapshot's only now; if the catalog commit fails we take it back.
        std::fs::rename(&temp_path, &final_path).map_err(|e| StoreError::io(&final_path, e))?;
        if let Err(e) = tx.commit() {
            let _ = std::fs::remove_file(&final_path);
            return Err(StoreError::sqlite(&catalog_path, e));
        }
        if let Ok(dir) = std::fs::File::open(&snapshot_dir) {
            let _ = dir.sync_all();
        }
        self.committed = true;
        Ok(id as u64)
    }
}

impl Drop for SnapshotWriter<'_> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let _ = std::fs::remove_file(&self.temp_path);
    }
}

impl Sink for SnapshotWriter<'_> {
    fn table(&mut self, def: TableDef) -> Result<TableId, SinkError> {
        self.flush_batch()?;
        let staged_name = self.unique_name(&def.name);
        if !staged_name.eq_ignore_ascii_case(&def.name) {
            self.notes.push(
                Note::new(
                    NoteKind::Warning,
                    def.origin.file.clone(),
                    format!(
                        "table `{}` is staged as `{staged_name}` because its name is taken or reserved",
                        def.name
                    ),
                )
                .at_line(def.origin.line)
                .in_table(def.name.clone()),
            );
        }
        let mut seen = HashSet::new();
        let mut staged_columns = Vec::with_capacity(def.columns.len());
        for col in &def.columns {
            let mut name = col.name.clone();
            let mut k = 2;
            while !seen.insert(name.to_ascii_lowercase()) {
                name = format!("{}_{k}", col.name);
                k += 1;
            }
            if name != col.name {
                self.notes.push(
                    Note::new(
                        NoteKind::Warning,
                        def.origin.file.clone(),
                        format!(
                            "column `{}` of table `{}` is staged as `{name}`: SQL column names are case-insensitive and it repeats another",
                            col.name, def.name
                        ),
                    )
                    .in_table(def.name.clone())
                    .in_column(col.name.clone()),
                );
            }
            staged_columns.push(name);
        }
        self.send(Msg::Create {
            staged_name: staged_name.clone(),
            columns: staged_columns.clone(),
        })?;
        self.tables.push(TableState {
            def,
            staged_name,
            staged_columns,
            hasher: ferry_core::content_hash::TableHasher::new(),
        });
        Ok(TableId(self.tables.len() - 1))
    }

    fn row(&mut self, table: TableId, values: Vec<Value>) -> Result<(), SinkError> {
        let Some(state) = self.tables.get_mut(table.0) else {
            return Err(SinkError::msg(format!("unknown table id {}", table.0)));
        };
        if values.len() != state.staged_columns.len() {
            return Err(SinkError::msg(format!(
                "table `{}` has {} columns but the reader gave a row of {} values (a reader bug; please report it)",
                state.def.name,
                state.staged_columns.len(),
                values.len()
            )));
        }
        for value in &values {
            state.hasher.push(value.into());
        }
        self.rows_seen += 1;
        if self.rows_seen.is_multiple_of(1024) && self.cancel.load(Ordering::Relaxed) {
            return Err(SinkError(Box::new(StoreError::Cancelled)));
        }
        if table.0 != self.batch_table {
            self.flush_batch()?;
            self.batch_table = table.0;
        }
        self.batch_bytes += values.iter().map(|v| v.len_bytes() + 8).sum::<usize>();
        self.batch.push(values);
        if self.batch.len() >= BATCH_ROWS || self.batch_bytes >= BATCH_BYTES {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn note(&mut self, note: Note) -> Result<(), SinkError> {
        if note.kind == NoteKind::RejectedRow {
            self.send(Msg::Reject {
                file: note.file.clone(),
                line: note.line,
                table: note.table.clone(),
                reason: note.message.clone(),
                raw: note.raw.clone().unwrap_or_default(),
            })?;
            let count = self
                .reject_notes_per_file
                .entry(note.file.clone())
                .or_insert(0);
            *count += 1;
            if *count > REJECT_NOTES_PER_FILE {
                return Ok(());
            }
        }
        let mut note = note;
        note.raw = None;
        self.notes.push(note);
        Ok(())
    }
}

/// The writer thread: creates tables, inserts rows, hashes each table's content.
fn write_loop(
    conn: Connection,
    rx: Receiver<Msg>,
    path: &Path,
) -> Result<WriterOutcome, StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    let mut inserts: Vec<String> = Vec::new();
    let mut counts: Vec<u64> = Vec::new();
    let mut rejected = 0u64;
    for msg in rx {
        match msg {
            Msg::Create {
                staged_name,
                columns,
            } => {
                let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
                let create = if cols.is_empty() {
                    // SQLite needs a column; a table declared without columns gets a placeholder.
                    format!(
                        "CREATE TABLE {} (\"_ferry_no_columns\")",
                        quote_ident(&staged_name)
                    )
                } else {
                    format!(
                        "CREATE TABLE {} ({})",
                        quote_ident(&staged_name),
                        cols.join(", ")
                    )
                };
                conn.execute_batch(&create).map_err(err)?;
                let placeholders = vec!["?"; columns.len()].join(", ");
                inserts.push(if columns.is_empty() {
                    String::new()
                } else {
                    format!(
                        "INSERT INTO {} VALUES ({placeholders})",
                        quote_ident(&staged_name)
                    )
                });
                counts.push(0);
            }
            Msg::Rows { table, rows } => {
                let (Some(sql), Some(count)) = (inserts.get(table), counts.get_mut(table)) else {
                    return Err(StoreError::Writer(format!(
                        "rows for unknown table {table}"
                    )));
                };
                if sql.is_empty() {
                    *count += rows.len() as u64;
                    continue;
                }
                let mut stmt = conn.prepare_cached(sql).map_err(err)?;
                for row in &rows {
                    for (i, value) in row.iter().enumerate() {
                        let idx = i + 1;
                        match value {
                            Value::Null => stmt.raw_bind_parameter(idx, rusqlite::types::Null),
                            Value::Text(s) => stmt.raw_bind_parameter(idx, s.as_str()),
                            Value::Bytes(b) => stmt.raw_bind_parameter(idx, b.as_slice()),
                        }
                        .map_err(err)?;
                    }
                    stmt.raw_execute().map_err(err)?;
                    *count += 1;
                }
            }
            Msg::Reject {
                file,
                line,
                table,
                reason,
                raw,
            } => {
                conn.execute(
                    &format!(
                        "INSERT INTO {REJECTED_ROWS_TABLE} (file, line, table_name, reason, raw) VALUES (?1, ?2, ?3, ?4, ?5)"
                    ),
                    params![file, line.map(|l| l as i64), table, reason, raw],
                )
                .map_err(err)?;
                rejected += 1;
            }
        }
    }
    conn.execute_batch("COMMIT;").map_err(err)?;
    conn.close().map_err(|(_, e)| err(e))?;
    Ok(WriterOutcome {
        rows: counts,
        rejected,
    })
}
