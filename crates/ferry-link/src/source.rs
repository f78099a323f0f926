//! Reading identity values: from a staged snapshot table (streamed, one compact record kept per
//! row) and from a FHIR R4 Patient NDJSON export of the target system.

use crate::LinkError;
use crate::config::{DedupeConfig, Field};
use crate::progress::Progress;
use crate::record::{RawRecord, RecordSet};
use ferry_core::ValueRef;
use std::collections::HashMap;
use std::path::Path;

/// The staged names of the patient table and its columns (source name -> staged name).
#[derive(Debug, Clone)]
pub struct StagedNames {
    pub table: String,
    pub columns: HashMap<String, String>,
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn text(v: Option<&ValueRef<'_>>) -> Option<String> {
    match v {
        Some(ValueRef::Text(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// Streams the configured table of `reader` into `set` (side 0, or by `link_column`). Returns
/// the rows read. `cfg` must have its table, key and columns filled in.
pub fn read_snapshot(
    reader: &ferry_store::SnapshotReader,
    cfg: &DedupeConfig,
    names: &StagedNames,
    set: &mut RecordSet,
) -> Result<u64, LinkError> {
    read_snapshot_with_progress(reader, cfg, names, set, &Progress::none())
}

/// [`read_snapshot`] reporting a phase `reading records` (total: the table's rowid span, its
/// rows for a staged table) and the rows read every 4,096 rows, where it also polls the cancel
/// flag ([`LinkError::Cancelled`]).
pub fn read_snapshot_with_progress(
    reader: &ferry_store::SnapshotReader,
    cfg: &DedupeConfig,
    names: &StagedNames,
    set: &mut RecordSet,
    progress: &Progress<'_>,
) -> Result<u64, LinkError> {
    let staged = |c: &str| -> Result<String, LinkError> {
        names.columns.get(c).cloned().ok_or_else(|| {
            LinkError::Config(format!(
                "column `{c}` is not staged in table `{}`; run `ferry snapshots --tables`",
                names.table
            ))
        })
    };
    let key = cfg
        .key
        .as_deref()
        .ok_or_else(|| LinkError::Config("no `key` column under [dedupe]".into()))?;
    let mut select = vec![quote(&staged(key)?)];
    let mut layout: Vec<(Field, usize)> = Vec::new();
    for f in cfg.active_fields() {
        if let Some(cols) = cfg.columns(f) {
            for c in cols.names() {
                layout.push((f, select.len()));
                select.push(quote(&staged(c)?));
            }
        }
    }
    let updated_at = match &cfg.updated {
        Some(c) => {
            select.push(quote(&staged(c)?));
            Some(select.len() - 1)
        }
        None => None,
    };
    let side_at = match &cfg.link_column {
        Some(c) => {
            select.push(quote(&staged(c)?));
            Some(select.len() - 1)
        }
        None => None,
    };
    let sql = format!(
        "SELECT {} FROM {} ORDER BY rowid",
        select.join(", "),
        quote(&names.table)
    );
    let total = reader
        .rowid_range(&names.table)?
        .map_or(0, |(lo, hi)| (hi - lo + 1).max(0) as u64);
    progress.phase("reading records", total);
    let mut first_side: Option<String> = None;
    let mut failure: Option<LinkError> = None;
    let mut raw = RawRecord::default();
    let mut missing_keys = 0u64;
    let mut seen = 0u64;
    let (_, rows) = reader.query_rows(&sql, &mut |_, row| {
        seen += 1;
        if seen.is_multiple_of(4096) {
            progress.position(seen);
            if progress.cancelled() {
                failure = Some(LinkError::Cancelled);
                return false;
            }
        }
        let Some(k) = text(row.first()) else {
            missing_keys += 1;
            return true;
        };
        raw.key = k;
        raw.values = Default::default();
        for &(f, at) in &layout {
            if let Some(v) = text(row.get(at)) {
                let slot = &mut raw.values[f.index()];
                match slot {
                    Some(s) => {
                        s.push(' ');
                        s.push_str(&v);
                    }
                    None => *slot = Some(v),
                }
            }
        }
        raw.updated = updated_at.and_then(|i| text(row.get(i)));
        raw.side = match side_at.and_then(|i| text(row.get(i))) {
            None => 0,
            Some(v) => match &first_side {
                None => {
                    first_side = Some(v);
                    0
                }
                Some(s) => u8::from(*s != v),
            },
        };
        if let Err(e) = set.push(&raw) {
            failure = Some(e);
            return false;
        }
        true
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    progress.position(seen);
    Ok(rows - missing_keys)
}

/// Most bytes of one NDJSON line (one Patient resource).
const MAX_LINE: u64 = 16 << 20;

fn str_at<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(|x| x.as_str())
        .filter(|s| !s.trim().is_empty())
}

/// Reads a FHIR R4 Patient NDJSON export into `set` (side 1, keys `Patient/<id>`): name (the
/// official one, else the first: first given and family), birthDate, gender, an SSN identifier
/// (system `http://hl7.org/fhir/sid/us-ssn` or type `SS`), the first phone and e-mail, the first
/// address (lines, city, postal code) and `meta.lastUpdated`. Other resource types are skipped.
/// Returns (patients read, lines skipped).
pub fn read_fhir_patients(path: &Path, set: &mut RecordSet) -> Result<(u64, u64), LinkError> {
    let error = |e: ferry_fhir::NdjsonError| match e {
        ferry_fhir::NdjsonError::Io { path, source, .. } => LinkError::Io { path, source },
        ferry_fhir::NdjsonError::LineTooLong { path, line, .. } => LinkError::Ndjson {
            path,
            line,
            message: "the line is longer than 16 MB; each line must hold one Patient resource"
                .into(),
        },
        ferry_fhir::NdjsonError::NotJson {
            path,
            line,
            column,
            problem,
        } => LinkError::Ndjson {
            path,
            line,
            message: format!(
                "not JSON ({problem} at column {column}); the file must hold one FHIR resource per line"
            ),
        },
        other => LinkError::Ndjson {
            path: path.to_path_buf(),
            line: 0,
            message: other.to_string(),
        },
    };
    let mut reader = ferry_fhir::NdjsonReader::open(path)
        .map_err(error)?
        .with_max_line(MAX_LINE);
    let (mut read, mut skipped) = (0u64, 0u64);
    while let Some(line) = reader.next_line().map_err(error)? {
        if line.bytes.trim_ascii().is_empty() {
            continue;
        }
        let v: serde_json::Value = line.parse().map_err(error)?;
        if str_at(&v, "resourceType") != Some("Patient") {
            skipped += 1;
            continue;
        }
        let Some(id) = str_at(&v, "id") else {
            skipped += 1;
            continue;
        };
        let mut raw = RawRecord {
            key: format!("Patient/{id}"),
            side: 1,
            ..Default::default()
        };
        let names = v.get("name").and_then(|x| x.as_array());
        let name = names.and_then(|ns| {
            ns.iter()
                .find(|n| str_at(n, "use") == Some("official"))
                .or_else(|| ns.first())
        });
        if let Some(n) = name {
            raw.set(
                Field::Given,
                n.get("given")
                    .and_then(|g| g.as_array())
                    .and_then(|g| g.first())
                    .and_then(|g| g.as_str())
                    .map(str::to_string),
            );
            raw.set(Field::Family, str_at(n, "family").map(str::to_string));
        }
        raw.set(
            Field::BirthDate,
            str_at(&v, "birthDate").map(str::to_string),
        );
        raw.set(Field::Sex, str_at(&v, "gender").map(str::to_string));
        if let Some(ids) = v.get("identifier").and_then(|x| x.as_array()) {
            let ssn = ids.iter().find(|i| {
                str_at(i, "system").is_some_and(|s| s.to_ascii_lowercase().contains("ssn"))
                    || i.pointer("/type/coding")
                        .and_then(|c| c.as_array())
                        .is_some_and(|c| c.iter().any(|c| str_at(c, "code") == Some("SS")))
            });
            raw.set(
                Field::Ssn,
                ssn.and_then(|i| str_at(i, "value")).map(str::to_string),
            );
        }
        if let Some(tel) = v.get("telecom").and_then(|x| x.as_array()) {
            let of = |system: &str| {
                tel.iter()
                    .find(|t| str_at(t, "system") == Some(system))
                    .and_then(|t| str_at(t, "value"))
                    .map(str::to_string)
            };
            raw.set(Field::Phone, of("phone"));
            raw.set(Field::Email, of("email"));
        }
        if let Some(a) = v
            .get("address")
            .and_then(|x| x.as_array())
            .and_then(|a| a.first())
        {
            let line = a
                .get("line")
                .and_then(|l| l.as_array())
                .and_then(|l| l.first())
                .and_then(|l| l.as_str())
                .map(str::to_string);
            raw.set(Field::Address, line);
            raw.set(Field::City, str_at(a, "city").map(str::to_string));
            raw.set(
                Field::PostalCode,
                str_at(a, "postalCode").map(str::to_string),
            );
        }
        raw.updated = v
            .pointer("/meta/lastUpdated")
            .and_then(|x| x.as_str())
            .map(|s| s.replace('T', " ").chars().take(19).collect());
        set.push(&raw)?;
        read += 1;
    }
    Ok((read, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::{ColumnDef, Origin, Sink, TableDef, Value};

    /// A workspace with one `patients` table of `n` rows (id, given, family).
    fn staged(n: u64) -> (tempfile::TempDir, ferry_store::Workspace, StagedNames) {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = ferry_store::Workspace::open(dir.path()).unwrap();
        let mut w = ws.begin_snapshot(None).unwrap();
        let cols = ["id", "given", "family"]
            .iter()
            .map(|c| ColumnDef::new(*c, None))
            .collect();
        let origin = Origin {
            file: "p.csv".into(),
            line: 1,
        };
        let t = w.table(TableDef::new("patients", cols, origin)).unwrap();
        for i in 0..n {
            let row = vec![
                Value::Text(i.to_string()),
                Value::Text(format!("given{}", i % 97)),
                Value::Text(format!("family{}", i % 89)),
            ];
            w.row(t, row).unwrap();
        }
        w.commit().unwrap();
        let info = ws.tables(1).unwrap().remove(0);
        let names = StagedNames {
            table: info.staged_name.clone(),
            columns: info
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.staged_name.clone()))
                .collect(),
        };
        (dir, ws, names)
    }

    #[test]
    fn reading_records_reports_rows_and_stops_when_cancelled() {
        let (_dir, ws, names) = staged(10_000);
        let cfg = DedupeConfig {
            key: Some("id".into()),
            given: Some(crate::config::Columns::One("given".into())),
            family: Some(crate::config::Columns::One("family".into())),
            ..Default::default()
        };
        let reader = ws.open_snapshot(Some(1)).unwrap();
        let events = std::sync::Mutex::new(Vec::new());
        let on_event = |e: crate::LinkEvent<'_>| {
            events.lock().unwrap().push(match e {
                crate::LinkEvent::Phase { name, total } => format!("{name} {total}"),
                crate::LinkEvent::Position(n) => n.to_string(),
            })
        };
        let progress = Progress {
            on_event: &on_event,
            cancel: None,
        };
        let mut set = RecordSet::new();
        let rows = read_snapshot_with_progress(&reader, &cfg, &names, &mut set, &progress).unwrap();
        assert_eq!(rows, 10_000);
        assert_eq!(set.len(), 10_000);
        assert_eq!(
            *events.lock().unwrap(),
            ["reading records 10000", "4096", "8192", "10000"]
        );
        let cancel = ferry_core::Cancel::new();
        cancel.cancel();
        let progress = Progress {
            on_event: &|_| {},
            cancel: Some(&cancel),
        };
        let mut set = RecordSet::new();
        let e =
            read_snapshot_with_progress(&reader, &cfg, &names, &mut set, &progress).unwrap_err();
        assert!(matches!(e, LinkError::Cancelled), "{e}");
        assert_eq!(set.len(), 4095, "stopped at the first poll");
    }

    #[test]
    fn fhir_patients_are_read_and_bad_lines_named_without_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.ndjson");
        std::fs::write(
            &p,
            concat!(
                r#"{"resourceType":"Patient","id":"a1","name":[{"use":"old","family":"Old"},{"use":"official","family":"Smith","given":["John","Q"]}],"birthDate":"1970-03-04","gender":"male","identifier":[{"system":"http://hl7.org/fhir/sid/us-ssn","value":"212-45-6789"}],"telecom":[{"system":"email","value":"j@x.org"},{"system":"phone","value":"555-123-4567"}],"address":[{"line":["12 Main Street"],"city":"Springfield","postalCode":"12345"}]}"#,
                "\n\n",
                r#"{"resourceType":"Observation","id":"o1"}"#,
                "\n"
            ),
        )
        .unwrap();
        let mut set = RecordSet::new();
        assert_eq!(read_fhir_patients(&p, &mut set).unwrap(), (1, 1));
        assert_eq!(set.key(0), "Patient/a1");
        assert_eq!(set.value(0, Field::Given), "john");
        assert_eq!(set.value(0, Field::Family), "smith");
        assert_eq!(set.value(0, Field::BirthDate), "1970-03-04");
        assert_eq!(set.value(0, Field::Ssn), "212456789");
        assert_eq!(set.value(0, Field::Phone), "5551234567");
        assert_eq!(set.value(0, Field::Address), "12 main st");
        assert_eq!(set.value(0, Field::PostalCode), "12345");
        assert_eq!(set.side(0), 1);
        std::fs::write(
            &p,
            "{\"resourceType\":\"Patient\",\"id\":\"x\"}\n{\"name\": \"Secret Name\"\n",
        )
        .unwrap();
        let e = read_fhir_patients(&p, &mut RecordSet::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && !e.contains("Secret"), "{e}");
    }
}
