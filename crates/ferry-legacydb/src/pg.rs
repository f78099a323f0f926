//! PostgreSQL: the whole copy in one transaction (temporary schema, binary COPY, typed columns,
//! read back, old schema dropped, new one renamed), so a kill leaves the old copy or the new.

use crate::config::Connection;
use crate::{
    CopyReport, CopyRequest, DbError, Engine, Event, MARKER_TABLE, ROWID_COLUMN, Storage,
    TEXT_FLAG_SUFFIX, TablePlan,
};
use bytes::BytesMut;
use ferry_core::ValueRef;
use ferry_core::content_hash::TableHasher;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, GenericClient};
use std::time::Instant;

/// `"name"` with `"` doubled.
fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A server error as a message. `data`: the error arose from row data, whose text could quote a
/// value, so only its code and the table and column are given.
fn pg_message(e: &postgres::Error, data: bool) -> String {
    match e.as_db_error() {
        Some(db) if data => {
            let mut m = format!("the server refused a value (SQLSTATE {}", db.code().code());
            if let Some(t) = db.table() {
                m.push_str(&format!(", table `{t}`"));
            }
            if let Some(c) = db.column() {
                m.push_str(&format!(", column `{c}`"));
            }
            m.push_str("); the server's log has its own message");
            m
        }
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            // The causes too (a TLS handshake's "invalid peer certificate: UnknownIssuer").
            let mut m = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                m.push_str(": ");
                m.push_str(&s.to_string());
                source = s.source();
            }
            m
        }
    }
}

pub(crate) fn connect(conn: &Connection) -> Result<Client, DbError> {
    let mut cfg: postgres::Config = conn
        .url
        .parse()
        .map_err(|e| conn.config_error(format!("url is not a PostgreSQL URL ({e})")))?;
    if let Some(p) = &conn.password {
        cfg.password(p);
    }
    cfg.connect_timeout(conn.connect_timeout);
    cfg.application_name("ferry");
    let result = if conn.tls {
        cfg.ssl_mode(postgres::config::SslMode::Require);
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(conn.rustls_config()?);
        cfg.connect(tls)
    } else {
        cfg.ssl_mode(postgres::config::SslMode::Disable);
        cfg.connect(postgres::NoTls)
    };
    let mut client = result.map_err(|e| {
        let user = cfg.get_user().unwrap_or("(none)");
        let code = e.as_db_error().map(|d| d.code().clone());
        let message = match code {
            Some(c)
                if c == postgres::error::SqlState::INVALID_PASSWORD
                    || c == postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
            {
                format!(
                    "the server refused user `{user}` ({}); check the user in the url and the password in {}",
                    pg_message(&e, false),
                    conn.password_source
                )
            }
            _ => format!(
                "cannot connect ({}); check that the server runs and the url's host, port and database{}",
                pg_message(&e, false),
                if conn.tls {
                    ", and that it accepts TLS with a certificate Ferry trusts (ca_file)"
                } else {
                    ""
                }
            ),
        };
        conn.server_error(message)
    })?;
    let encoding: String = client
        .query_one("SHOW server_encoding", &[])
        .map_err(|e| conn.server_error(pg_message(&e, false)))?
        .get(0);
    if encoding != "UTF8" {
        return Err(conn.server_error(format!(
            "the database's encoding is {encoding}; staged text is Unicode and must be kept exactly, so copy into a database created with ENCODING 'UTF8'"
        )));
    }
    client
        .batch_execute(
            "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'",
        )
        .map_err(|e| conn.server_error(pg_message(&e, false)))?;
    Ok(client)
}

/// What a schema of this name holds: `None` when there is none.
struct Existing {
    marked: bool,
    /// Relations and functions Ferry did not list in its marker.
    foreign: Vec<String>,
    snapshot: Option<i64>,
}

fn existing(
    c: &mut impl GenericClient,
    conn: &Connection,
    schema: &str,
) -> Result<Option<Existing>, DbError> {
    let err = |e: postgres::Error| conn.server_error(pg_message(&e, false));
    let found = c
        .query_opt(
            "SELECT oid FROM pg_namespace WHERE nspname = $1",
            &[&schema],
        )
        .map_err(err)?;
    if found.is_none() {
        return Ok(None);
    }
    let objects: Vec<String> = c
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r','v','m','p','f','S')
             UNION ALL
             SELECT p.proname::text || '()' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = $1",
            &[&schema],
        )
        .map_err(err)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let marked = objects.iter().any(|o| o == MARKER_TABLE);
    let (listed, snapshot): (Vec<String>, Option<i64>) = if marked {
        let rows = c
            .query(
                &format!(
                    "SELECT table_name, snapshot_id FROM {}.{}",
                    q(schema),
                    q(MARKER_TABLE)
                ),
                &[],
            )
            .map_err(err)?;
        (
            rows.iter().map(|r| r.get(0)).collect(),
            rows.iter().map(|r| r.get::<_, i64>(1)).max(),
        )
    } else {
        (Vec::new(), None)
    };
    let foreign = objects
        .into_iter()
        .filter(|o| o != MARKER_TABLE && !listed.contains(o))
        .collect();
    Ok(Some(Existing {
        marked,
        foreign,
        snapshot,
    }))
}

/// Refuses to touch a schema Ferry did not create, or one holding more than Ferry put there.
fn check_replaceable(conn: &Connection, schema: &str, e: &Existing) -> Result<(), DbError> {
    if !e.marked && !e.foreign.is_empty() {
        return Err(conn.server_error(format!(
            "schema `{schema}` exists and was not created by Ferry (it has no `{MARKER_TABLE}` table), so Ferry will not replace it. Set schema = \"OTHER\" in [targets.{}] to copy elsewhere, or drop or rename that schema yourself",
            conn.target
        )));
    }
    if !e.foreign.is_empty() {
        let mut names = e.foreign.clone();
        names.truncate(10);
        return Err(conn.server_error(format!(
            "schema `{schema}` holds {} object(s) Ferry did not create ({}); replacing the copy would drop them. Move them to another schema, then load again",
            e.foreign.len(),
            names.join(", ")
        )));
    }
    Ok(())
}

fn column_sql(plan: &TablePlan) -> String {
    let mut cols = vec![format!("{} bigint NOT NULL", q(ROWID_COLUMN))];
    for c in &plan.columns {
        match &c.storage {
            // Typed columns are loaded as text and converted once after the COPY.
            Storage::Text | Storage::Typed(_) => cols.push(format!("{} text", q(&c.name))),
            Storage::Bytes => cols.push(format!("{} bytea", q(&c.name))),
            Storage::Mixed => {
                cols.push(format!("{} bytea", q(&c.name)));
                cols.push(format!(
                    "{} boolean",
                    q(&format!("{}{TEXT_FLAG_SUFFIX}", c.name))
                ));
            }
        }
    }
    cols.join(", ")
}

#[derive(Debug)]
enum Cell<'a> {
    Null,
    Text(&'a str),
    Bytes(&'a [u8]),
    Bool(bool),
    Int(i64),
}

impl ToSql for Cell<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Cell::Null => Ok(IsNull::Yes),
            Cell::Text(s) => s.to_sql(ty, out),
            Cell::Bytes(b) => b.to_sql(ty, out),
            Cell::Bool(b) => b.to_sql(ty, out),
            Cell::Int(i) => i.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

pub(crate) fn copy(req: &CopyRequest<'_>, conn: &Connection) -> Result<CopyReport, DbError> {
    let started = Instant::now();
    let mut client = connect(conn)?;
    let schema = conn.schema.as_str();
    let tmp = format!("{schema}__ferry_tmp");
    let err = |e: postgres::Error| conn.server_error(pg_message(&e, false));
    // Fail before any work when the schema is not Ferry's.
    if let Some(e) = existing(&mut client, conn, schema)? {
        check_replaceable(conn, schema, &e)?;
    }
    let plans = crate::plan(req, Engine::Postgres)?;
    let mut tx = client.transaction().map_err(err)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('ferry-legacydb:' || $1))",
        &[&schema],
    )
    .map_err(err)?;
    // A leftover temporary schema can only be one a crash left committed halfway (never, since
    // it lives inside this transaction), or someone else's: drop it only if it is Ferry's.
    if let Some(e) = existing(&mut tx, conn, &tmp)? {
        if !e.marked {
            return Err(conn.server_error(format!(
                "schema `{tmp}` exists but was not created by Ferry (no `{MARKER_TABLE}`); Ferry uses that name while copying. Drop or rename it, then load again"
            )));
        }
        tx.batch_execute(&format!("DROP SCHEMA {} CASCADE", q(&tmp)))
            .map_err(err)?;
    }
    tx.batch_execute(&format!(
        "CREATE SCHEMA {qt};
         CREATE TABLE {qt}.{m} (table_name text PRIMARY KEY, source_table text NOT NULL,
             snapshot_id bigint NOT NULL, snapshot_sha256 text NOT NULL, row_count bigint NOT NULL,
             content_sha256 text NOT NULL, columns_json text NOT NULL, loaded_at text NOT NULL,
             ferry_version text NOT NULL)",
        qt = q(&tmp),
        m = q(MARKER_TABLE)
    ))
    .map_err(err)?;

    let total: u64 = plans.iter().map(|p| p.rows).sum();
    let copy_started = Instant::now();
    (req.on_event)(Event::Phase {
        name: "copying rows",
        total: Some(total),
    });
    let mut done = 0u64;
    for plan in &plans {
        (req.on_event)(Event::Message(&plan.name));
        let table = format!("{}.{}", q(&tmp), q(&plan.name));
        tx.batch_execute(&format!("CREATE TABLE {table} ({})", column_sql(plan)))
            .map_err(err)?;
        let mut names = vec![q(ROWID_COLUMN)];
        let mut types = vec![Type::INT8];
        for c in &plan.columns {
            names.push(q(&c.name));
            match c.storage {
                Storage::Text | Storage::Typed(_) => types.push(Type::TEXT),
                Storage::Bytes => types.push(Type::BYTEA),
                Storage::Mixed => {
                    types.push(Type::BYTEA);
                    names.push(q(&format!("{}{TEXT_FLAG_SUFFIX}", c.name)));
                    types.push(Type::BOOL);
                }
            }
        }
        let sink = tx
            .copy_in(&format!(
                "COPY {table} ({}) FROM STDIN (FORMAT binary)",
                names.join(", ")
            ))
            .map_err(err)?;
        let mut writer = BinaryCopyInWriter::new(sink, &types);
        let mixed: Vec<bool> = plan
            .columns
            .iter()
            .map(|c| c.storage == Storage::Mixed)
            .collect();
        let width = types.len();
        let streamed = crate::stream_rows(req, &plan.name, &mut done, &mut |rowid, row| {
            let mut cells: Vec<Cell<'_>> = Vec::with_capacity(width);
            cells.push(Cell::Int(rowid));
            for (v, &m) in row.iter().zip(&mixed) {
                match (*v, m) {
                    (ValueRef::Null, false) => cells.push(Cell::Null),
                    (ValueRef::Null, true) => {
                        cells.push(Cell::Null);
                        cells.push(Cell::Null);
                    }
                    (ValueRef::Text(s), false) => cells.push(Cell::Text(s)),
                    (ValueRef::Bytes(b), false) => cells.push(Cell::Bytes(b)),
                    (ValueRef::Text(s), true) => {
                        cells.push(Cell::Bytes(s.as_bytes()));
                        cells.push(Cell::Bool(true));
                    }
                    (ValueRef::Bytes(b), true) => {
                        cells.push(Cell::Bytes(b));
                        cells.push(Cell::Bool(false));
                    }
                }
            }
            let refs: Vec<&(dyn ToSql + Sync)> =
                cells.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            writer.write(&refs)
        })?;
        if let Err(e) = streamed.and_then(|()| writer.finish().map(|_| ())) {
            return Err(conn.server_error(format!(
                "copying table `{}`: {}",
                plan.name,
                pg_message(&e, true)
            )));
        }
        let mut alter = vec![format!("ADD PRIMARY KEY ({})", q(ROWID_COLUMN))];
        for c in &plan.columns {
            if let Storage::Typed(ty) = &c.storage {
                alter.push(format!(
                    "ALTER COLUMN {n} TYPE {ty} USING {n}::{ty}",
                    n = q(&c.name)
                ));
            }
        }
        tx.batch_execute(&format!("ALTER TABLE {table} {}", alter.join(", ")))
            .map_err(|e| {
                conn.server_error(format!(
                    "typing the columns of table `{}`: {}",
                    plan.name,
                    pg_message(&e, true)
                ))
            })?;
    }
    let copy_ms = copy_started.elapsed().as_millis() as u64;

    (req.on_event)(Event::Phase {
        name: "reading the copy back",
        total: Some(total),
    });
    let mut results = Vec::with_capacity(plans.len());
    let mut read = 0u64;
    for plan in &plans {
        let mut select = Vec::new();
        for c in &plan.columns {
            match c.storage {
                Storage::Typed(_) => select.push(format!("{}::text", q(&c.name))),
                Storage::Mixed => {
                    select.push(q(&c.name));
                    select.push(q(&format!("{}{TEXT_FLAG_SUFFIX}", c.name)));
                }
                _ => select.push(q(&c.name)),
            }
        }
        if select.is_empty() {
            select.push("1".into());
        }
        let sql = format!(
            "SELECT {} FROM {}.{} ORDER BY {}",
            select.join(", "),
            q(&tmp),
            q(&plan.name),
            q(ROWID_COLUMN)
        );
        let portal = tx.bind(sql.as_str(), &[]).map_err(err)?;
        let mut hasher = TableHasher::new();
        let mut rows = 0u64;
        let read_err = |e: postgres::Error| {
            conn.server_error(format!(
                "reading table `{}` back: {}",
                plan.name,
                pg_message(&e, true)
            ))
        };
        loop {
            let batch = tx.query_portal(&portal, 2000).map_err(read_err)?;
            if batch.is_empty() {
                break;
            }
            for row in &batch {
                let mut i = 0;
                for c in &plan.columns {
                    match c.storage {
                        Storage::Text | Storage::Typed(_) => {
                            let v: Option<&str> = row.try_get(i).map_err(read_err)?;
                            hasher.push(v.map_or(ValueRef::Null, ValueRef::Text));
                            i += 1;
                        }
                        Storage::Bytes => {
                            let v: Option<&[u8]> = row.try_get(i).map_err(read_err)?;
                            hasher.push(v.map_or(ValueRef::Null, ValueRef::Bytes));
                            i += 1;
                        }
                        Storage::Mixed => {
                            let v: Option<&[u8]> = row.try_get(i).map_err(read_err)?;
                            let text: Option<bool> = row.try_get(i + 1).map_err(read_err)?;
                            hasher.push(match (v, text) {
                                (None, _) => ValueRef::Null,
                                (Some(b), Some(true)) => match std::str::from_utf8(b) {
                                    Ok(s) => ValueRef::Text(s),
                                    Err(_) => ValueRef::Bytes(b),
                                },
                                (Some(b), _) => ValueRef::Bytes(b),
                            });
                            i += 2;
                        }
                    }
                }
                rows += 1;
            }
            read += batch.len() as u64;
            (req.on_event)(Event::Position(read));
            if req.cancel.is_cancelled() {
                return Err(DbError::Cancelled);
            }
        }
        results.push(crate::result(plan, rows, hasher));
    }
    if let Some(message) = crate::mismatch_message(&results) {
        return Err(conn.server_error(message));
    }

    let loaded_at = crate::now();
    let snapshot_id = req.snapshot.id as i64;
    for m in crate::marker_rows(&plans) {
        tx.execute(
            &format!(
                "INSERT INTO {}.{} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                q(&tmp),
                q(MARKER_TABLE)
            ),
            &[
                &m.table,
                &m.source,
                &snapshot_id,
                &req.snapshot.content_sha256,
                &m.rows,
                &m.sha,
                &m.columns,
                &loaded_at,
                &env!("CARGO_PKG_VERSION"),
            ],
        )
        .map_err(err)?;
    }
    let replaced = match existing(&mut tx, conn, schema)? {
        Some(e) => {
            check_replaceable(conn, schema, &e)?;
            tx.batch_execute(&format!("DROP SCHEMA {} CASCADE", q(schema)))
                .map_err(err)?;
            e.snapshot
        }
        None => None,
    };
    tx.batch_execute(&format!("ALTER SCHEMA {} RENAME TO {}", q(&tmp), q(schema)))
        .map_err(err)?;
    if req.cancel.is_cancelled() {
        return Err(DbError::Cancelled);
    }
    ferry_core::crash::point("legacydb-before-commit");
    tx.commit().map_err(err)?;
    Ok(CopyReport {
        target: conn.target.clone(),
        engine: Engine::Postgres,
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
