//! MariaDB/MySQL: DDL is not transactional, so the tables go into a staging database
//! (`<schema>__ferry_tmp`) by batched prepared multi-row INSERTs, are read back, and then one
//! `RENAME TABLE` statement (atomic) moves the old copy's tables out to `<schema>__ferry_old`
//! and the new ones in. The two helper databases are dropped after, or by the next copy.

use crate::config::Connection;
use crate::{
    CopyReport, CopyRequest, DbError, Engine, Event, MARKER_TABLE, ROWID_COLUMN, Storage,
    TEXT_FLAG_SUFFIX, TablePlan,
};
use ::mysql::prelude::Queryable;
use ::mysql::{Conn, OptsBuilder, SslOpts, Value};
use ferry_core::ValueRef;
use ferry_core::content_hash::TableHasher;
use std::time::Instant;

/// The marker of a helper database Ferry created empty (`<schema>__ferry_old`).
const OLD_MARKER: &str = "_ferry_old";
/// Rows per INSERT at most (fewer for wide tables: at most 60,000 placeholders), and bytes.
const BATCH_ROWS: usize = 1000;
const BATCH_PLACEHOLDERS: usize = 60_000;
const BATCH_BYTES: usize = 4 << 20;

/// `` `name` `` with `` ` `` doubled.
fn q(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A server error as a message; `data`: it arose from row data, whose text could quote a value,
/// so only its code is given.
fn my_message(e: &::mysql::Error, data: bool) -> String {
    match e {
        ::mysql::Error::MySqlError(m) if data => format!(
            "the server refused a value (error {}, SQLSTATE {}); the server's log has its own message",
            m.code, m.state
        ),
        ::mysql::Error::MySqlError(m) => {
            format!("{} (error {}, SQLSTATE {})", m.message, m.code, m.state)
        }
        other => other.to_string(),
    }
}

pub(crate) fn connect(conn: &Connection) -> Result<Conn, DbError> {
    let opts = ::mysql::Opts::from_url(&conn.url)
        .map_err(|e| conn.config_error(format!("url is not a MySQL URL ({e})")))?;
    let user = opts.get_user().unwrap_or("(none)").to_string();
    let mut b = OptsBuilder::from_opts(opts)
        .pass(conn.password.clone())
        .prefer_socket(false)
        // A prepared multi-row INSERT carries thousands of parameter definitions: keep none
        // cached beyond the table that uses it (memory stays flat in the number of tables).
        .stmt_cache_size(0)
        .tcp_connect_timeout(Some(conn.connect_timeout))
        .init(vec![
            "SET NAMES utf8mb4 COLLATE utf8mb4_bin",
            "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO'",
            "SET SESSION time_zone = '+00:00'",
        ]);
    if conn.tls {
        b = b.ssl_opts(Some(
            SslOpts::default().with_root_cert_path(conn.ca_file.clone()),
        ));
    }
    Conn::new(b).map_err(|e| {
        let message = match &e {
            ::mysql::Error::MySqlError(m) if m.code == 1045 || m.code == 1698 => format!(
                "the server refused user `{user}` ({}); check the user in the url and the password in {}",
                my_message(&e, false),
                conn.password_source
            ),
            _ => format!(
                "cannot connect ({}); check that the server runs and the url's host, port and database{}",
                my_message(&e, false),
                if conn.tls {
                    ", and that it accepts TLS with a certificate Ferry trusts (ca_file)"
                } else {
                    ""
                }
            ),
        };
        conn.server_error(message)
    })
}

struct Existing {
    marked: bool,
    tables: Vec<String>,
    foreign: Vec<String>,
    snapshot: Option<i64>,
}

/// What a database of this name holds (`None`: there is none). `listing`: read the tables the
/// marker lists (for the copy's own database; a helper database's marker is enough).
fn existing(
    c: &mut Conn,
    conn: &Connection,
    db: &str,
    listing: bool,
) -> Result<Option<Existing>, DbError> {
    let err = |e: ::mysql::Error| conn.server_error(my_message(&e, false));
    let found: Option<String> = c
        .exec_first(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (db,),
        )
        .map_err(err)?;
    if found.is_none() {
        return Ok(None);
    }
    let tables: Vec<String> = c
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
            (db,),
        )
        .map_err(err)?;
    let routines: Vec<String> = c
        .exec(
            "SELECT CONCAT(ROUTINE_NAME, '()') FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?",
            (db,),
        )
        .map_err(err)?;
    let marked = tables.iter().any(|t| t == MARKER_TABLE || t == OLD_MARKER);
    let (listed, snapshot): (Vec<String>, Option<i64>) =
        if listing && tables.iter().any(|t| t == MARKER_TABLE) {
            let rows: Vec<(String, i64)> = c
                .query(format!(
                    "SELECT table_name, snapshot_id FROM {}.{}",
                    q(db),
                    q(MARKER_TABLE)
                ))
                .map_err(err)?;
            let max = rows.iter().map(|r| r.1).max();
            (rows.into_iter().map(|r| r.0).collect(), max)
        } else {
            (Vec::new(), None)
        };
    let foreign = tables
        .iter()
        .filter(|t| *t != MARKER_TABLE && *t != OLD_MARKER && !listed.contains(t))
        .cloned()
        .chain(routines)
        .collect();
    Ok(Some(Existing {
        marked,
        tables,
        foreign,
        snapshot,
    }))
}

fn check_replaceable(conn: &Connection, db: &str, e: &Existing) -> Result<(), DbError> {
    if !e.marked && !e.foreign.is_empty() {
        return Err(conn.server_error(format!(
            "database `{db}` exists and was not created by Ferry (it has no `{MARKER_TABLE}` table), so Ferry will not replace it. Set schema = \"OTHER\" in [targets.{}] to copy elsewhere, or drop or rename that database yourself",
            conn.target
        )));
    }
    if !e.foreign.is_empty() {
        let mut names = e.foreign.clone();
        names.truncate(10);
        return Err(conn.server_error(format!(
            "database `{db}` holds {} object(s) Ferry did not create ({}); replacing the copy would drop them. Move them to another database, then load again",
            e.foreign.len(),
            names.join(", ")
        )));
    }
    Ok(())
}

/// Drops a helper database left by an earlier copy (interrupted while loading, or between the
/// rename and the clean-up): Ferry creates each with its marker table first, so one without a
/// marker is someone else's, unless it is empty.
fn drop_helper(c: &mut Conn, conn: &Connection, db: &str) -> Result<(), DbError> {
    if let Some(e) = existing(c, conn, db, false)? {
        let empty = e.tables.is_empty() && e.foreign.is_empty();
        if !(e.marked || empty) {
            return Err(conn.server_error(format!(
                "database `{db}` exists but was not created by Ferry (no `{MARKER_TABLE}`); Ferry uses that name while copying. Drop or rename it, then load again"
            )));
        }
        c.query_drop(format!("DROP DATABASE {}", q(db)))
            .map_err(|e| conn.server_error(my_message(&e, false)))?;
    }
    Ok(())
}

fn column_sql(plan: &TablePlan) -> String {
    let text = "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL";
    let mut cols = vec![format!("{} BIGINT NOT NULL PRIMARY KEY", q(ROWID_COLUMN))];
    for c in &plan.columns {
        match &c.storage {
            Storage::Text => cols.push(format!("{} {text}", q(&c.name))),
            Storage::Typed(ty) => cols.push(format!("{} {ty} NULL", q(&c.name))),
            Storage::Bytes => cols.push(format!("{} LONGBLOB NULL", q(&c.name))),
            Storage::Mixed => {
                cols.push(format!("{} LONGBLOB NULL", q(&c.name)));
                cols.push(format!(
                    "{} BOOLEAN NULL",
                    q(&format!("{}{TEXT_FLAG_SUFFIX}", c.name))
                ));
            }
        }
    }
    cols.join(", ")
}

fn insert_sql(table: &str, names: &[String], rows: usize) -> String {
    let one = format!("({})", vec!["?"; names.len()].join(","));
    format!(
        "INSERT INTO {table} ({}) VALUES {}",
        names.join(","),
        vec![one.as_str(); rows].join(",")
    )
}

pub(crate) fn copy(req: &CopyRequest<'_>, conn: &Connection) -> Result<CopyReport, DbError> {
    let started = Instant::now();
    let mut c = connect(conn)?;
    let schema = conn.schema.as_str();
    let tmp = format!("{schema}__ferry_tmp");
    let old = format!("{schema}__ferry_old");
    let err = |e: ::mysql::Error| conn.server_error(my_message(&e, false));
    let lock: Option<i64> = c
        .exec_first(
            "SELECT GET_LOCK(?, 0)",
            (format!("ferry-legacydb:{schema}"),),
        )
        .map_err(err)?;
    if lock != Some(1) {
        return Err(conn.server_error(format!(
            "another Ferry is copying into `{schema}` on this server right now; wait for it to finish, then load again"
        )));
    }
    if let Some(e) = existing(&mut c, conn, schema, true)? {
        check_replaceable(conn, schema, &e)?;
    }
    drop_helper(&mut c, conn, &tmp)?;
    drop_helper(&mut c, conn, &old)?;
    let plans = crate::plan(req, Engine::Mysql)?;

    c.query_drop(format!(
        "CREATE DATABASE {} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        q(&tmp)
    ))
    .map_err(err)?;
    c.query_drop(format!(
        "CREATE TABLE {}.{} (table_name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PRIMARY KEY,
             source_table TEXT NOT NULL, snapshot_id BIGINT NOT NULL, snapshot_sha256 TEXT NOT NULL,
             row_count BIGINT NOT NULL, content_sha256 TEXT NOT NULL, columns_json LONGTEXT NOT NULL,
             loaded_at TEXT NOT NULL, ferry_version TEXT NOT NULL) ENGINE=InnoDB",
        q(&tmp),
        q(MARKER_TABLE)
    ))
    .map_err(err)?;
    let result = load_and_verify(req, conn, &mut c, &tmp, &plans);
    let (results, copy_ms) = match result {
        Ok(r) => r,
        Err(e) => {
            // The staging database is Ferry's own: remove it so nothing half-done stays.
            let _ = c.query_drop(format!("DROP DATABASE {}", q(&tmp)));
            return Err(e);
        }
    };

    // The swap: one RENAME TABLE moves the old tables out and the new ones in, atomically.
    let before = existing(&mut c, conn, schema, true)?;
    let mut renames = Vec::new();
    let replaced = match &before {
        Some(e) => {
            check_replaceable(conn, schema, e)?;
            if !e.tables.is_empty() {
                c.query_drop(format!(
                    "CREATE DATABASE {} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
                    q(&old)
                ))
                .map_err(err)?;
                c.query_drop(format!(
                    "CREATE TABLE {}.{} (created_at TEXT)",
                    q(&old),
                    q(OLD_MARKER)
                ))
                .map_err(err)?;
                for t in &e.tables {
                    renames.push(format!("{}.{} TO {}.{}", q(schema), q(t), q(&old), q(t)));
                }
            }
            e.snapshot
        }
        None => {
            c.query_drop(format!(
                "CREATE DATABASE {} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
                q(schema)
            ))
            .map_err(err)?;
            None
        }
    };
    for t in plans.iter().map(|p| p.name.as_str()).chain([MARKER_TABLE]) {
        renames.push(format!("{}.{} TO {}.{}", q(&tmp), q(t), q(schema), q(t)));
    }
    ferry_core::crash::point("legacydb-before-rename");
    c.query_drop(format!("RENAME TABLE {}", renames.join(", ")))
        .map_err(err)?;
    ferry_core::crash::point("legacydb-after-rename");
    drop_helper(&mut c, conn, &old)?;
    drop_helper(&mut c, conn, &tmp)?;
    let _ = c.exec_drop(
        "SELECT RELEASE_LOCK(?)",
        (format!("ferry-legacydb:{schema}"),),
    );
    Ok(CopyReport {
        target: conn.target.clone(),
        engine: Engine::Mysql,
        server: conn.server.clone(),
        schema: schema.to_string(),
        snapshot: req.snapshot.id,
        snapshot_sha256: req.snapshot.content_sha256.clone(),
        replaced_snapshot: replaced.map(|s| s as u64),
        rows: results.iter().map(|r| r.rows_read_back).sum(),
        tables: results,
        duration_ms: started.elapsed().as_millis() as u64,
        copy_ms,
    })
}

fn load_and_verify(
    req: &CopyRequest<'_>,
    conn: &Connection,
    c: &mut Conn,
    tmp: &str,
    plans: &[TablePlan],
) -> Result<(Vec<crate::TableResult>, u64), DbError> {
    let err = |e: ::mysql::Error| conn.server_error(my_message(&e, false));
    let total: u64 = plans.iter().map(|p| p.rows).sum();
    let copy_started = Instant::now();
    (req.on_event)(Event::Phase {
        name: "copying rows",
        total: Some(total),
    });
    let mut done = 0u64;
    for plan in plans {
        (req.on_event)(Event::Message(&plan.name));
        let table = format!("{}.{}", q(tmp), q(&plan.name));
        c.query_drop(format!(
            "CREATE TABLE {table} ({}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC",
            column_sql(plan)
        ))
        .map_err(|e| {
            conn.server_error(format!(
                "creating table `{}`: {}",
                plan.name,
                my_message(&e, false)
            ))
        })?;
        let mut names = vec![q(ROWID_COLUMN)];
        for col in &plan.columns {
            names.push(q(&col.name));
            if col.storage == Storage::Mixed {
                names.push(q(&format!("{}{TEXT_FLAG_SUFFIX}", col.name)));
            }
        }
        let per_batch = (BATCH_PLACEHOLDERS / names.len()).clamp(1, BATCH_ROWS);
        let full_batch = c.prep(insert_sql(&table, &names, per_batch)).map_err(|e| {
            conn.server_error(format!(
                "preparing the INSERT of table `{}`: {}",
                plan.name,
                my_message(&e, false)
            ))
        })?;
        let mixed: Vec<bool> = plan
            .columns
            .iter()
            .map(|col| col.storage == Storage::Mixed)
            .collect();
        let mut params: Vec<Value> = Vec::with_capacity(per_batch * names.len());
        let mut rows_in_batch = 0usize;
        let mut bytes_in_batch = 0usize;
        let data_err = |e: ::mysql::Error| {
            conn.server_error(format!(
                "copying table `{}`: {}",
                plan.name,
                my_message(&e, true)
            ))
        };
        c.query_drop("START TRANSACTION").map_err(err)?;
        let flush = |c: &mut Conn, params: &mut Vec<Value>, rows: usize| {
            if rows == 0 {
                return Ok(());
            }
            let p = std::mem::take(params);
            let r = if rows == per_batch {
                c.exec_drop(&full_batch, p)
            } else {
                c.exec_drop(insert_sql(&table, &names, rows), p)
            };
            r.map_err(data_err)
        };
        let streamed = crate::stream_rows(req, &plan.name, &mut done, &mut |rowid, row| {
            params.push(Value::Int(rowid));
            for (v, &m) in row.iter().zip(&mixed) {
                bytes_in_batch += 8 + match v {
                    ValueRef::Null => 0,
                    ValueRef::Text(s) => s.len(),
                    ValueRef::Bytes(b) => b.len(),
                };
                match (*v, m) {
                    (ValueRef::Null, false) => params.push(Value::NULL),
                    (ValueRef::Null, true) => {
                        params.push(Value::NULL);
                        params.push(Value::NULL);
                    }
                    (ValueRef::Text(s), false) => params.push(Value::Bytes(s.as_bytes().to_vec())),
                    (ValueRef::Bytes(b), false) => params.push(Value::Bytes(b.to_vec())),
                    (ValueRef::Text(s), true) => {
                        params.push(Value::Bytes(s.as_bytes().to_vec()));
                        params.push(Value::Int(1));
                    }
                    (ValueRef::Bytes(b), true) => {
                        params.push(Value::Bytes(b.to_vec()));
                        params.push(Value::Int(0));
                    }
                }
            }
            rows_in_batch += 1;
            if rows_in_batch == per_batch || bytes_in_batch >= BATCH_BYTES {
                flush(c, &mut params, rows_in_batch)?;
                rows_in_batch = 0;
                bytes_in_batch = 0;
            }
            Ok(())
        })?;
        streamed.and_then(|()| flush(c, &mut params, rows_in_batch))?;
        c.query_drop("COMMIT").map_err(err)?;
        c.close(full_batch).map_err(err)?;
    }
    let copy_ms = copy_started.elapsed().as_millis() as u64;

    (req.on_event)(Event::Phase {
        name: "reading the copy back",
        total: Some(total),
    });
    let mut results = Vec::with_capacity(plans.len());
    let mut read = 0u64;
    for plan in plans {
        let mut select = Vec::new();
        for col in &plan.columns {
            select.push(q(&col.name));
            if col.storage == Storage::Mixed {
                select.push(q(&format!("{}{TEXT_FLAG_SUFFIX}", col.name)));
            }
        }
        if select.is_empty() {
            select.push("1".into());
        }
        let read_err = |e: ::mysql::Error| {
            conn.server_error(format!(
                "reading table `{}` back: {}",
                plan.name,
                my_message(&e, true)
            ))
        };
        let bad_value = |what: &str| {
            conn.server_error(format!(
                "reading table `{}` back: a {what} came back where Ferry stored text or bytes; please report this",
                plan.name
            ))
        };
        let mut hasher = TableHasher::new();
        let mut rows = 0u64;
        let mut it = c
            .query_iter(format!(
                "SELECT {} FROM {}.{} ORDER BY {}",
                select.join(", "),
                q(tmp),
                q(&plan.name),
                q(ROWID_COLUMN)
            ))
            .map_err(read_err)?;
        while let Some(set) = it.iter() {
            for row in set {
                let row = row.map_err(read_err)?;
                let mut i = 0;
                for col in &plan.columns {
                    let v = row.as_ref(i).ok_or_else(|| bad_value("missing column"))?;
                    let v = match (&col.storage, v) {
                        (_, Value::NULL) => ValueRef::Null,
                        (Storage::Bytes, Value::Bytes(b)) => ValueRef::Bytes(b),
                        (Storage::Text | Storage::Typed(_), Value::Bytes(b)) => {
                            match std::str::from_utf8(b) {
                                Ok(s) => ValueRef::Text(s),
                                Err(_) => ValueRef::Bytes(b),
                            }
                        }
                        (Storage::Mixed, Value::Bytes(b)) => {
                            let flag = row.as_ref(i + 1);
                            let is_text = matches!(flag, Some(Value::Bytes(f)) if f.as_slice() == b"1")
                                || matches!(flag, Some(Value::Int(1)));
                            match (is_text, std::str::from_utf8(b)) {
                                (true, Ok(s)) => ValueRef::Text(s),
                                _ => ValueRef::Bytes(b),
                            }
                        }
                        _ => return Err(bad_value("number")),
                    };
                    hasher.push(v);
                    i += if col.storage == Storage::Mixed { 2 } else { 1 };
                }
                rows += 1;
                read += 1;
                if read.is_multiple_of(2000) {
                    (req.on_event)(Event::Position(read));
                    if req.cancel.is_cancelled() {
                        return Err(DbError::Cancelled);
                    }
                }
            }
        }
        drop(it);
        results.push(crate::result(plan, rows, hasher));
    }
    if let Some(message) = crate::mismatch_message(&results) {
        return Err(conn.server_error(message));
    }
    let loaded_at = crate::now();
    for m in crate::marker_rows(plans) {
        c.exec_drop(
            format!(
                "INSERT INTO {}.{} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                q(tmp),
                q(MARKER_TABLE)
            ),
            (
                m.table,
                m.source,
                req.snapshot.id as i64,
                req.snapshot.content_sha256.as_str(),
                m.rows,
                m.sha,
                m.columns,
                loaded_at.as_str(),
                env!("CARGO_PKG_VERSION"),
            ),
        )
        .map_err(err)?;
    }
    Ok((results, copy_ms))
}
