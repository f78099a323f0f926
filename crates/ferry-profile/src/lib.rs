//! Profiling of staged snapshots: per-column statistics, formats, PHI labels, candidate keys and
//! candidate foreign keys. The data model is in [`model`]; value formats in [`formats`].
//!
//! # How it runs
//!
//! One streaming pass per table fills mergeable accumulators (`accum`): exact counters, exact
//! value counts up to `exact_distinct_limit` values then HyperLogLog and frequent-items sketches,
//! min/max under every candidate order, and the key set that proves a column unique. Tables of
//! at least [`SPLIT_MIN_ROWS`] rows are split by rowid range into `threads` parts, each read by
//! its own [`ferry_store::SnapshotReader`] (one SQLite connection per thread, all opened before
//! any thread starts because the `Workspace` is not `Sync`), and the parts are merged; smaller
//! tables are profiled whole, `threads` at a time. Memory is bounded per column, never by the
//! table's size (see `accum`).
//!
//! Foreign keys are then found from the key sets and exact value counts the pass kept (see
//! `fk`); a column with more distinct values than the exact limit is read once more.

pub mod formats;
pub mod model;
pub mod phi;

mod accum;
mod fk;

use accum::{Limits, TableAcc};
use ferry_store::{SnapshotReader, StoreError, TableInfo, Workspace};
use model::{
    ColumnProfile, FormatShare, InferredType, ProfileSettings, SnapshotProfile, TableProfile,
};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// Tables with at least this many rows are split between the threads by rowid range.
pub const SPLIT_MIN_ROWS: u64 = 50_000;
/// Example values per column.
pub const SAMPLE_COUNT: usize = 5;
const PROGRESS_EVERY: u64 = 4096;

/// What to profile and what to show.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileOptions {
    /// Include top values, sample values and the min/max of PHI columns (`--no-samples` clears).
    /// Whatever this says, a min or max seen fewer than `small_count_threshold` times is left out.
    pub samples: bool,
    /// Values seen fewer times are never shown (0 shows everything).
    pub small_count_threshold: u64,
    /// Distinct values are counted exactly up to this many per column, then estimated.
    pub exact_distinct_limit: u64,
    /// Top values kept per column.
    pub top_values: usize,
    /// Only these staged tables (staged or source names); `None` for all.
    pub tables: Option<Vec<String>>,
    /// Threads (each with its own connection to the snapshot).
    pub threads: usize,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        ProfileOptions {
            samples: true,
            small_count_threshold: 5,
            exact_distinct_limit: 100_000,
            top_values: 20,
            tables: None,
            threads: 2,
        }
    }
}

/// Progress, reported from the profiling threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileEvent<'a> {
    /// A table's pass started (`rows` as recorded when it was staged).
    TableStarted { table: &'a str, rows: u64 },
    /// Rows profiled so far, all tables together.
    Rows(u64),
    /// A table is profiled.
    TableDone { table: &'a str },
}

/// Why profiling failed. Messages name tables and columns, never values.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "table `{table}` is not in snapshot {snapshot}; run `ferry snapshots --tables` to list the staged tables"
    )]
    UnknownTable { table: String, snapshot: u64 },
    #[error("could not read table `{table}` of the snapshot: {source}")]
    Scan {
        table: String,
        #[source]
        source: StoreError,
    },
    #[error(
        "table `{table}` has {found} columns in the snapshot file but {expected} in the catalog; the file was changed outside Ferry: stage the snapshot again"
    )]
    ColumnCount {
        table: String,
        expected: usize,
        found: usize,
    },
    #[error(
        "profiling table `{table}` stopped because a worker thread failed; this is a bug in Ferry, please report it"
    )]
    Worker { table: String },
    #[error("invalid profile option: {0}")]
    Options(String),
}

/// Rows done so far and the caller's event handler, shared by the threads.
struct Progress<'a> {
    rows: AtomicU64,
    on_event: &'a (dyn Fn(ProfileEvent<'_>) + Sync),
    stop: AtomicBool,
}

impl Progress<'_> {
    fn add_rows(&self, n: u64) {
        if n > 0 {
            let total = self.rows.fetch_add(n, Ordering::Relaxed) + n;
            (self.on_event)(ProfileEvent::Rows(total));
        }
    }
}

/// One table, profiled, with what the foreign-key search needs from it.
struct Finished {
    profile: TableProfile,
    keys: Vec<fk::RefKey>,
    sources: Vec<fk::Source>,
}

/// Profiles a snapshot (the latest when `snapshot` is `None`).
pub fn profile_snapshot(
    ws: &Workspace,
    snapshot: Option<u64>,
    opts: &ProfileOptions,
    on_event: &(dyn Fn(ProfileEvent<'_>) + Sync),
) -> Result<SnapshotProfile, ProfileError> {
    profile_snapshot_split_at(ws, snapshot, opts, SPLIT_MIN_ROWS, on_event)
}

/// [`profile_snapshot`] splitting tables from `split_min_rows` rows (for tests of the split on
/// small data).
#[doc(hidden)]
pub fn profile_snapshot_split_at(
    ws: &Workspace,
    snapshot: Option<u64>,
    opts: &ProfileOptions,
    split_min_rows: u64,
    on_event: &(dyn Fn(ProfileEvent<'_>) + Sync),
) -> Result<SnapshotProfile, ProfileError> {
    let started = Instant::now();
    if opts.exact_distinct_limit == 0 {
        return Err(ProfileError::Options(
            "the exact distinct limit must be at least 1".into(),
        ));
    }
    let info = ws.snapshot(snapshot)?;
    let mut tables = ws.tables(info.id)?;
    if let Some(only) = &opts.tables {
        for name in only {
            if !tables
                .iter()
                .any(|t| t.staged_name == *name || t.name == *name)
            {
                return Err(ProfileError::UnknownTable {
                    table: name.clone(),
                    snapshot: info.id,
                });
            }
        }
        tables.retain(|t| only.iter().any(|n| *n == t.staged_name || *n == t.name));
    }
    let threads = opts.threads.clamp(1, 64);
    let limits = Limits::new(opts.exact_distinct_limit);
    let mut readers = (0..threads)
        .map(|_| ws.open_snapshot(Some(info.id)))
        .collect::<Result<Vec<_>, _>>()?;
    let progress = Progress {
        rows: AtomicU64::new(0),
        on_event,
        stop: AtomicBool::new(false),
    };
    let all_columns: Vec<(String, Vec<String>)> = tables
        .iter()
        .map(|t| {
            (
                t.staged_name.clone(),
                t.columns.iter().map(|c| c.staged_name.clone()).collect(),
            )
        })
        .collect();
    let ctx = Ctx {
        opts,
        limits,
        progress: &progress,
        all_columns: &all_columns,
    };

    let mut order: Vec<usize> = (0..tables.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(tables.get(i).map_or(0, |t| t.rows)));
    let (big, small): (Vec<usize>, Vec<usize>) = order
        .into_iter()
        .partition(|&i| threads > 1 && tables.get(i).is_some_and(|t| t.rows >= split_min_rows));
    let mut finished: Vec<Option<Finished>> = (0..tables.len()).map(|_| None).collect();
    for i in big {
        let Some(t) = tables.get(i) else { continue };
        let t0 = Instant::now();
        on_event(ProfileEvent::TableStarted {
            table: &t.staged_name,
            rows: t.rows,
        });
        let acc = scan_split(&mut readers, t, &ctx)?;
        let f = finish_table(t, acc, &ctx, t0);
        on_event(ProfileEvent::TableDone {
            table: &t.staged_name,
        });
        if let Some(slot) = finished.get_mut(i) {
            *slot = Some(f);
        }
    }
    for (i, f) in scan_queue(&mut readers, &tables, &small, &ctx)? {
        if let Some(slot) = finished.get_mut(i) {
            *slot = Some(f);
        }
    }
    let finished: Vec<Finished> = finished.into_iter().flatten().collect();
    let foreign_keys = foreign_keys(&finished, &tables, readers.first())?;

    Ok(SnapshotProfile {
        format: model::PROFILE_FORMAT,
        ferry_version: env!("CARGO_PKG_VERSION").to_string(),
        snapshot: info.id,
        snapshot_label: info.label,
        snapshot_content_sha256: info.content_sha256,
        options: ProfileSettings {
            samples: opts.samples,
            small_count_threshold: opts.small_count_threshold,
            exact_distinct_limit: opts.exact_distinct_limit,
            top_values: opts.top_values,
        },
        tables: finished.into_iter().map(|f| f.profile).collect(),
        foreign_keys,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// What every worker needs.
struct Ctx<'a> {
    opts: &'a ProfileOptions,
    limits: Limits,
    progress: &'a Progress<'a>,
    /// Staged table and column names of every profiled table (for foreign-key name matching).
    all_columns: &'a [(String, Vec<String>)],
}

/// Scans one table (or one rowid range of it) into a fresh accumulator.
fn scan_one(
    reader: &SnapshotReader,
    t: &TableInfo,
    range: Option<(i64, i64)>,
    ctx: &Ctx<'_>,
) -> Result<TableAcc, ProfileError> {
    let mut acc = TableAcc::new(t.columns.iter().map(|c| c.name.as_str()));
    let width = t.columns.len();
    let mut bad_width = None;
    let mut pending = 0u64;
    reader
        .scan(&t.staged_name, range, &mut |_, row| {
            if row.len() != width {
                bad_width = Some(row.len());
                return false;
            }
            acc.update(row, &ctx.limits);
            pending += 1;
            if pending == PROGRESS_EVERY {
                ctx.progress.add_rows(pending);
                pending = 0;
                if ctx.progress.stop.load(Ordering::Relaxed) {
                    return false;
                }
            }
            true
        })
        .map_err(|source| ProfileError::Scan {
            table: t.staged_name.clone(),
            source,
        })?;
    ctx.progress.add_rows(pending);
    if let Some(found) = bad_width {
        return Err(ProfileError::ColumnCount {
            table: t.staged_name.clone(),
            expected: width,
            found,
        });
    }
    Ok(acc)
}

/// Splits `[lo, hi]` into `n` contiguous, non-empty-when-possible parts.
fn split_range(lo: i64, hi: i64, n: usize) -> Vec<(i64, i64)> {
    let n = n.max(1) as i128;
    let (lo128, hi128) = (i128::from(lo), i128::from(hi));
    let span = hi128 - lo128 + 1;
    (0..n)
        .map(|k| {
            let a = lo128 + span * k / n;
            let b = lo128 + span * (k + 1) / n - 1;
            (a as i64, b as i64)
        })
        .filter(|(a, b)| a <= b)
        .collect()
}

/// Profiles one big table with every reader, each on its own rowid range, and merges.
fn scan_split(
    readers: &mut [SnapshotReader],
    t: &TableInfo,
    ctx: &Ctx<'_>,
) -> Result<TableAcc, ProfileError> {
    let range = readers
        .first()
        .map(|r| r.rowid_range(&t.staged_name))
        .transpose()
        .map_err(|source| ProfileError::Scan {
            table: t.staged_name.clone(),
            source,
        })?
        .flatten();
    let Some((lo, hi)) = range else {
        return Ok(TableAcc::new(t.columns.iter().map(|c| c.name.as_str())));
    };
    let parts = split_range(lo, hi, readers.len());
    let results: Vec<Result<TableAcc, ProfileError>> = std::thread::scope(|s| {
        let handles: Vec<_> = readers
            .iter_mut()
            .zip(parts)
            .map(|(r, part)| s.spawn(move || scan_one(&*r, t, Some(part), ctx)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ProfileError::Worker {
                        table: t.staged_name.clone(),
                    })
                })
            })
            .collect()
    });
    let mut merged: Option<TableAcc> = None;
    for r in results {
        let part = r?;
        match &mut merged {
            None => merged = Some(part),
            Some(m) => m.merge(part, &ctx.limits),
        }
    }
    Ok(merged.unwrap_or_else(|| TableAcc::new(t.columns.iter().map(|c| c.name.as_str()))))
}

/// Profiles small tables whole, one per thread at a time.
fn scan_queue(
    readers: &mut [SnapshotReader],
    tables: &[TableInfo],
    queue: &[usize],
    ctx: &Ctx<'_>,
) -> Result<Vec<(usize, Finished)>, ProfileError> {
    if queue.is_empty() {
        return Ok(Vec::new());
    }
    let next = AtomicUsize::new(0);
    let outcomes: Vec<Result<Vec<(usize, Finished)>, ProfileError>> = std::thread::scope(|s| {
        let handles: Vec<_> = readers
            .iter_mut()
            .map(|r| {
                let next = &next;
                s.spawn(move || {
                    let r: &SnapshotReader = &*r;
                    let mut out = Vec::new();
                    loop {
                        if ctx.progress.stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = queue.get(k) else { break };
                        let Some(t) = tables.get(i) else { continue };
                        let t0 = Instant::now();
                        (ctx.progress.on_event)(ProfileEvent::TableStarted {
                            table: &t.staged_name,
                            rows: t.rows,
                        });
                        match scan_one(r, t, None, ctx) {
                            Ok(acc) => {
                                out.push((i, finish_table(t, acc, ctx, t0)));
                                (ctx.progress.on_event)(ProfileEvent::TableDone {
                                    table: &t.staged_name,
                                });
                            }
                            Err(e) => {
                                ctx.progress.stop.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ProfileError::Worker {
                        table: "(several)".into(),
                    })
                })
            })
            .collect()
    });
    let mut all = Vec::new();
    for o in outcomes {
        all.extend(o?);
    }
    Ok(all)
}

/// Turns a table's accumulator into its profile, keeping key sets and value counts for the
/// foreign-key search.
fn finish_table(t: &TableInfo, acc: TableAcc, ctx: &Ctx<'_>, t0: Instant) -> Finished {
    let opts = ctx.opts;
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    let person_table = phi::is_person_table(&t.name, &names);
    let staged_of = |source: &str| {
        t.columns
            .iter()
            .find(|c| c.name == source)
            .map_or_else(|| source.to_string(), |c| c.staged_name.clone())
    };
    let declared_pk: Vec<String> = t.primary_key.iter().map(|c| staged_of(c)).collect();
    let mut columns = Vec::with_capacity(t.columns.len());
    let mut candidate_keys = Vec::new();
    let mut keys = Vec::new();
    let mut sources = Vec::new();
    let rows = acc.rows;
    for (ordinal, (ci, mut ca)) in t.columns.iter().zip(acc.columns).enumerate() {
        let ty = ca.inferred_type();
        let non_blank = ca.non_blank();
        let mut formats: Vec<FormatShare> = formats::Shape::ALL
            .iter()
            .zip(ca.shape_counts())
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| FormatShare {
                format: s.name().to_string(),
                count: n,
                share: n as f64 / non_blank.max(1) as f64,
            })
            .collect();
        formats.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.format.cmp(&b.format)));
        let length = ca.length_stats();
        let phi = phi::classify(&phi::PhiInput {
            table: &t.name,
            column: &ci.name,
            inferred: ty,
            formats: &formats,
            mean_len: length.mean,
            person_table,
        });
        let (min, max) = ca.min_max(ty);
        let phi_hidden = !opts.samples && phi.is_some();
        let (min, min_suppressed) = shown_end(min, phi_hidden, opts.small_count_threshold);
        let (max, max_suppressed) = shown_end(max, phi_hidden, opts.small_count_threshold);
        let distinct = ca.distinct();
        let (top_values, top_values_exact) = if opts.samples {
            ca.top_values(opts.top_values, opts.small_count_threshold)
        } else {
            (Vec::new(), distinct.exact)
        };
        let samples = if opts.samples {
            ca.samples(SAMPLE_COUNT, opts.small_count_threshold)
        } else {
            Vec::new()
        };
        let is_key = ca.is_candidate_key() && rows > 0;
        if is_key {
            candidate_keys.push(ci.staged_name.clone());
        }
        let id_like = matches!(ty, InferredType::Integer | InferredType::Code);
        if is_key
            && id_like
            && let Some(set) = ca.take_key_set()
        {
            let is_pk = if declared_pk.is_empty() {
                fk::is_own_key_name(&ci.staged_name, &t.staged_name)
            } else {
                declared_pk.len() == 1 && declared_pk.first() == Some(&ci.staged_name)
            };
            keys.push(fk::RefKey {
                table: t.staged_name.clone(),
                column: ci.staged_name.clone(),
                is_pk,
                set,
            });
        }
        let is_declared_pk = declared_pk.len() == 1 && declared_pk.first() == Some(&ci.staged_name);
        let named_for_another = ctx.all_columns.iter().any(|(table, cols)| {
            *table != t.staged_name
                && cols
                    .iter()
                    .any(|c| fk::name_matches(&ci.staged_name, table, c))
        });
        if id_like
            && !is_declared_pk
            && non_blank > 0
            && (fk::looks_like_id_name(&ci.staged_name) || named_for_another)
        {
            sources.push(fk::Source {
                table: t.staged_name.clone(),
                column: ci.staged_name.clone(),
                ordinal,
                values: non_blank,
                is_key,
                distinct: distinct.count,
                exact: ca.take_exact_values(),
            });
        }
        columns.push(ColumnProfile {
            name: ci.staged_name.clone(),
            ordinal,
            declared_type: ci.declared_type.clone(),
            inferred_type: ty,
            non_null: ca.non_null,
            nulls: ca.nulls,
            blanks: ca.blanks,
            distinct,
            min,
            max,
            min_suppressed,
            max_suppressed,
            length,
            top_values,
            top_values_exact,
            formats,
            phi,
            samples,
        });
    }
    Finished {
        profile: TableProfile {
            name: t.staged_name.clone(),
            source_name: t.name.clone(),
            rows,
            columns,
            declared_primary_key: declared_pk,
            candidate_keys,
            duration_ms: t0.elapsed().as_millis() as u64,
        },
        keys,
        sources,
    }
}

/// What the profile keeps of a min or max (with how often its text was seen): nothing for a
/// PHI column under `--no-samples`, nothing for a value seen fewer than `threshold` times (the
/// small-cell rule top values follow too), else the value. Decided here, in the profile, so no
/// report can show what it does not hold.
fn shown_end(
    end: Option<(String, u64)>,
    phi_hidden: bool,
    threshold: u64,
) -> (Option<String>, Option<model::Suppressed>) {
    match end {
        None => (None, None),
        Some(_) if phi_hidden => (None, Some(model::Suppressed::PhiColumn)),
        Some((_, count)) if count < threshold => (None, Some(model::Suppressed::SmallCount)),
        Some((text, _)) => (Some(text), None),
    }
}

/// Tests every identifier-looking column against every candidate key of the other tables.
fn foreign_keys(
    finished: &[Finished],
    tables: &[TableInfo],
    reader: Option<&SnapshotReader>,
) -> Result<Vec<model::ForeignKeyCandidate>, ProfileError> {
    let keys: Vec<&fk::RefKey> = finished.iter().flat_map(|f| f.keys.iter()).collect();
    let sources: Vec<&fk::Source> = finished.iter().flat_map(|f| f.sources.iter()).collect();
    let mut hits = Vec::new();
    // Sources whose values were not all counted: read their tables again.
    let mut rescan: Vec<usize> = Vec::new();
    for (si, s) in sources.iter().enumerate() {
        let Some(exact) = &s.exact else {
            rescan.push(si);
            continue;
        };
        for (ki, k) in keys.iter().enumerate() {
            if k.table == s.table || !fk::may_keep(s, k) {
                continue;
            }
            if let Some(matched) = fk::count_matches(exact, s.values, &k.set) {
                hits.push(fk::Hit {
                    source: si,
                    key: ki,
                    values: s.values,
                    matched,
                });
            }
        }
    }
    if let Some(reader) = reader {
        for si in rescan {
            let Some(s) = sources.get(si) else { continue };
            let Some(t) = tables.iter().find(|t| t.staged_name == s.table) else {
                continue;
            };
            let targets: Vec<usize> = (0..keys.len())
                .filter(|&ki| {
                    keys.get(ki)
                        .is_some_and(|k| k.table != s.table && fk::may_keep(s, k))
                })
                .collect();
            let mut matched = vec![0u64; targets.len()];
            let mut values = 0u64;
            reader
                .scan(&t.staged_name, None, &mut |_, row| {
                    match row.get(s.ordinal) {
                        Some(ferry_core::ValueRef::Text(v)) if !formats::is_blank(v) => {
                            values += 1;
                            for (m, &ki) in matched.iter_mut().zip(&targets) {
                                if keys.get(ki).is_some_and(|k| k.set.contains(v)) {
                                    *m += 1;
                                }
                            }
                        }
                        Some(ferry_core::ValueRef::Bytes(_)) => values += 1,
                        _ => {}
                    }
                    true
                })
                .map_err(|source| ProfileError::Scan {
                    table: t.staged_name.clone(),
                    source,
                })?;
            for (m, &ki) in matched.iter().zip(&targets) {
                if values > 0 && *m as f64 >= fk::MIN_SHARE * values as f64 {
                    hits.push(fk::Hit {
                        source: si,
                        key: ki,
                        values,
                        matched: *m,
                    });
                }
            }
        }
    }
    Ok(fk::select(hits, &sources, &keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_range_covers_every_rowid_once() {
        assert_eq!(split_range(1, 10, 2), vec![(1, 5), (6, 10)]);
        assert_eq!(split_range(1, 1, 2), vec![(1, 1)]);
        assert_eq!(split_range(5, 7, 3), vec![(5, 5), (6, 6), (7, 7)]);
        let parts = split_range(i64::MIN, i64::MAX, 2);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].0, i64::MIN);
        assert_eq!(parts[1].1, i64::MAX);
        assert_eq!(parts[0].1 + 1, parts[1].0);
    }

    #[test]
    fn a_min_or_max_is_kept_only_when_common_and_not_hidden_phi() {
        use model::Suppressed;
        let end = |n: u64| Some(("v".to_string(), n));
        // Seen once each: suppressed at min-count 5, shown at 1 (and with suppression off).
        assert_eq!(
            shown_end(end(1), false, 5),
            (None, Some(Suppressed::SmallCount))
        );
        assert_eq!(
            shown_end(end(4), false, 5),
            (None, Some(Suppressed::SmallCount))
        );
        assert_eq!(shown_end(end(5), false, 5), (Some("v".into()), None));
        assert_eq!(shown_end(end(1), false, 1), (Some("v".into()), None));
        assert_eq!(shown_end(end(1), false, 0), (Some("v".into()), None));
        // A PHI column under --no-samples: never, however common.
        assert_eq!(
            shown_end(end(1000), true, 0),
            (None, Some(Suppressed::PhiColumn))
        );
        // No values: nothing to show and nothing suppressed.
        assert_eq!(shown_end(None, true, 5), (None, None));
    }

    #[test]
    fn default_options() {
        let o = ProfileOptions::default();
        assert!(o.samples);
        assert_eq!(o.small_count_threshold, 5);
        assert_eq!(o.exact_distinct_limit, 100_000);
        assert_eq!(o.top_values, 20);
        assert_eq!(o.threads, 2);
        assert!(o.tables.is_none());
    }
}
