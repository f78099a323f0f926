//! End-to-end tests of the generator: determinism, counts, defects, dump shape, encodings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ferry_gen::{
    ChangeManifest, DefectKind, DuplicateKind, Evolution, FileFormat, GenConfig, GenError,
    Manifest, evolve, generate, table_names,
};

fn cfg(dir: &Path, patients: u64, seed: u64, gzip: bool) -> GenConfig {
    GenConfig {
        patients,
        seed,
        out_dir: dir.to_path_buf(),
        sql: true,
        csv: true,
        gzip,
    }
}

fn run(dir: &Path, patients: u64, seed: u64, gzip: bool) -> Manifest {
    generate(&cfg(dir, patients, seed, gzip), &mut |_| {}).expect("generate")
}

fn read(dir: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).expect("read output file")
}

/// Decode a CSV file per its manifest entry and return the records as strings.
fn records(dir: &Path, f: &ferry_gen::FileManifest) -> (Vec<String>, Vec<Vec<String>>) {
    let raw = read(dir, &f.path);
    let body: &[u8] = if f.bom {
        assert!(
            raw.starts_with(b"\xEF\xBB\xBF"),
            "{} must start with a BOM",
            f.path
        );
        &raw[3..]
    } else {
        assert!(
            !raw.starts_with(b"\xEF\xBB\xBF"),
            "{} must not have a BOM",
            f.path
        );
        &raw
    };
    let text = match f.encoding.as_str() {
        "UTF-8" => {
            String::from_utf8(body.to_vec()).unwrap_or_else(|_| panic!("{} is not UTF-8", f.path))
        }
        "windows-1252" => {
            let (t, had_errors) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(body);
            assert!(!had_errors, "{} does not decode as windows-1252", f.path);
            t.into_owned()
        }
        other => panic!("unexpected encoding {other}"),
    };
    let delim = f.delimiter.as_deref().unwrap_or(",").as_bytes()[0];
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = rdr
        .records()
        .map(|r| {
            r.expect("csv record")
                .iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    (header, rows)
}

fn csv_file<'a>(m: &'a Manifest, table: &str) -> &'a ferry_gen::FileManifest {
    m.files
        .iter()
        .find(|f| f.table.as_deref() == Some(table))
        .expect("csv file of table")
}

#[test]
fn same_seed_gives_byte_identical_files() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ma = run(a.path(), 300, 7, false);
    let mb = run(b.path(), 300, 7, false);
    assert_eq!(ma, mb);
    for f in ma
        .files
        .iter()
        .map(|f| f.path.as_str())
        .chain(["manifest.json"])
    {
        assert!(
            read(a.path(), f) == read(b.path(), f),
            "{f} differs between two runs"
        );
    }
}

#[test]
fn gzip_output_is_deterministic_and_decompresses_to_the_plain_dump() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let p = tempfile::tempdir().unwrap();
    run(a.path(), 120, 3, true);
    run(b.path(), 120, 3, true);
    run(p.path(), 120, 3, false);
    let ga = read(a.path(), "clinic.sql.gz");
    assert_eq!(ga, read(b.path(), "clinic.sql.gz"));
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(ga.as_slice()), &mut plain)
        .unwrap();
    assert!(plain == read(p.path(), "clinic.sql"));
}

#[test]
fn different_seeds_give_different_data() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    run(a.path(), 100, 1, false);
    run(b.path(), 100, 2, false);
    assert!(read(a.path(), "csv/patients.csv") != read(b.path(), "csv/patients.csv"));
    assert!(read(a.path(), "clinic.sql") != read(b.path(), "clinic.sql"));
}

#[test]
fn manifest_row_counts_equal_csv_records_and_column_stats_match() {
    let d = tempfile::tempdir().unwrap();
    let m = run(d.path(), 400, 11, false);
    assert_eq!(
        m.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        table_names()
    );
    assert_eq!(m.table("patients").unwrap().rows, 400);
    for t in &m.tables {
        let f = csv_file(&m, &t.name);
        let (header, rows) = records(d.path(), f);
        assert_eq!(header, t.columns, "{} header", t.name);
        assert_eq!(
            rows.len() as u64,
            t.rows,
            "{}: CSV records vs manifest",
            t.name
        );
        // Primary keys are unique and AUTO_INCREMENT is max + 1.
        let keys: BTreeSet<u64> = rows.iter().map(|r| r[0].parse::<u64>().unwrap()).collect();
        assert_eq!(keys.len() as u64, t.rows, "{} primary keys unique", t.name);
        if let Some(max) = keys.iter().next_back() {
            assert_eq!(t.auto_increment, Some(max + 1), "{} AUTO_INCREMENT", t.name);
        }
        // In CSV, an empty field is exactly a NULL or an empty string of the dump.
        for (ci, col) in t.columns.iter().enumerate() {
            let st = m
                .columns
                .iter()
                .find(|c| c.table == t.name && &c.column == col)
                .unwrap();
            let empty = rows.iter().filter(|r| r[ci].is_empty()).count() as u64;
            assert_eq!(
                empty,
                st.nulls + st.empty_strings,
                "{}.{col} empty fields",
                t.name
            );
            let multi = rows.iter().filter(|r| r[ci].contains(['\n', '\r'])).count() as u64;
            assert_eq!(multi, st.multiline, "{}.{col} multi-line values", t.name);
        }
    }
}

#[test]
fn every_defect_category_is_present_at_500_patients() {
    let d = tempfile::tempdir().unwrap();
    let m = run(d.path(), 500, 42, false);
    for kind in [
        DefectKind::Orphan,
        DefectKind::OutOfRange,
        DefectKind::MissingRequired,
        DefectKind::UnmappedCode,
    ] {
        assert!(m.defect_count(kind) > 0, "{kind:?} missing");
    }
    assert!(!m.duplicates.is_empty());
    for k in [
        "null_values",
        "empty_strings",
        "multiline_values",
        "zero_dates",
        "blank_dates",
        "null_dates",
    ] {
        assert!(m.summary[k] > 0, "{k} is zero");
    }
    assert_eq!(m.summary["duplicates"], m.duplicates.len() as u64);
    // Date columns mix their formats.
    let dob = m
        .columns
        .iter()
        .find(|c| c.table == "patients" && c.column == "dob")
        .unwrap();
    for f in ["MM/DD/YYYY", "YYYY-MM-DD", "DD-Mon-YY"] {
        assert!(
            dob.date_formats.get(f).copied().unwrap_or(0) > 0,
            "dob lacks {f}"
        );
    }
    let notes = m
        .columns
        .iter()
        .find(|c| c.table == "clinical_notes" && c.column == "note_text")
        .unwrap();
    assert!(notes.multiline > 0 && notes.with_quote > 0 && notes.with_backslash > 0);

    // Orphan keys really point at rows whose patient_id is no patient.
    for set in m.defects.iter().filter(|s| s.kind == DefectKind::Orphan) {
        assert_eq!(set.count, set.keys.len() as u64);
        let t = m.table(&set.table).unwrap();
        let pcol = t.columns.iter().position(|c| c == "patient_id").unwrap();
        let (_, rows) = records(d.path(), csv_file(&m, &set.table));
        let orphans: BTreeSet<u64> = rows
            .iter()
            .filter(|r| {
                r[pcol]
                    .parse::<u64>()
                    .map(|p| p == 0 || p > m.patients)
                    .unwrap_or(false)
            })
            .map(|r| r[0].parse().unwrap())
            .collect();
        assert_eq!(
            orphans,
            set.keys.iter().copied().collect(),
            "{} orphans",
            set.table
        );
    }
    // Out-of-range vitals really are out of range.
    let (h, vitals) = records(d.path(), csv_file(&m, "vitals"));
    for set in m
        .defects
        .iter()
        .filter(|s| s.kind == DefectKind::OutOfRange && s.table == "vitals")
    {
        let ci = h.iter().position(|c| *c == set.column).unwrap();
        for k in &set.keys {
            let row = vitals.iter().find(|r| r[0] == k.to_string()).unwrap();
            let v: f64 = row[ci].parse().unwrap();
            let ok = match set.column.as_str() {
                "bp_sys" => (60.0..=260.0).contains(&v),
                "temp_f" => (90.0..=110.0).contains(&v),
                "pulse" => (25.0..=250.0).contains(&v),
                "weight_lb" => (50.0..=700.0).contains(&v),
                _ => (40.0..=90.0).contains(&v),
            };
            assert!(!ok, "vitals {k} {} = {v} is not out of range", set.column);
        }
    }
}

#[test]
fn duplicates_follow_their_recorded_kind() {
    let d = tempfile::tempdir().unwrap();
    let m = run(d.path(), 2000, 5, false);
    let (h, rows) = records(d.path(), csv_file(&m, "patients"));
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (first, last, ssn) = (col("first_name"), col("last_name"), col("ssn"));
    let by_id: BTreeMap<u64, &Vec<String>> =
        rows.iter().map(|r| (r[0].parse().unwrap(), r)).collect();
    let mut kinds = BTreeSet::new();
    for p in &m.duplicates {
        assert!(p.original_id < p.duplicate_id);
        kinds.insert(p.kind);
        let (o, dp) = (by_id[&p.original_id], by_id[&p.duplicate_id]);
        let up = |s: &str| s.to_uppercase();
        match p.kind {
            DuplicateKind::SwappedFirstLast => assert_eq!(up(&o[first]), up(&dp[last])),
            DuplicateKind::ChangedSurname => {
                assert_eq!(up(&o[first]), up(&dp[first]));
                assert_ne!(up(&o[last]), up(&dp[last]));
            }
            DuplicateKind::MissingSsn => assert!(dp[ssn].is_empty()),
            DuplicateKind::NameTypo => {
                assert!(up(&o[first]) != up(&dp[first]) || up(&o[last]) != up(&dp[last]));
            }
            DuplicateKind::TransposedDob => {}
        }
    }
    assert_eq!(
        kinds.len(),
        5,
        "all duplicate kinds at 2000 patients: {kinds:?}"
    );
}

#[test]
fn dump_has_latin1_section_view_trigger_and_both_binary_forms() {
    let d = tempfile::tempdir().unwrap();
    let m = run(d.path(), 150, 9, false);
    let sql = read(d.path(), "clinic.sql");
    let find = |needle: &[u8]| sql.windows(needle.len()).position(|w| w == needle);
    assert!(sql.starts_with(b"-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n"));
    let start = find(b"/*!40101 SET NAMES latin1 */;\n").expect("SET NAMES latin1");
    let rel_end = sql[start..]
        .windows(30)
        .position(|w| w == b"/*!40101 SET NAMES utf8mb4 */;")
        .expect("SET NAMES utf8mb4 after the latin1 section");
    let section = &sql[start..start + rel_end];
    assert!(
        section
            .windows(24)
            .any(|w| w == b"INSERT INTO `employers` ")
    );
    assert!(
        std::str::from_utf8(section).is_err(),
        "latin1 section must not be UTF-8"
    );
    let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(section);
    assert!(text.contains("Café Société Foods"));
    assert!(find(b"DEFAULT CHARSET=latin1;").is_some());
    assert_eq!(
        m.sql.as_ref().unwrap().latin1_tables,
        vec!["employers".to_string()]
    );
    assert!(find(b"/*!50001 CREATE ALGORITHM=UNDEFINED */").is_some());
    assert!(find(b"-- Temporary view structure for view `v_patient_visits`").is_some());
    assert!(find(b"DELIMITER ;;\n/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `trg_visits_bi`").is_some());
    assert!(find(b"_binary '").is_some());
    assert!(find(b"',0x").is_some(), "hex-blob literal");
    assert!(sql.ends_with(b"\n"));
    assert!(find(b"-- Dump completed on 2026-").is_some());
    // Every INSERT line is one extended statement under net_buffer_length.
    for line in sql
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"INSERT INTO"))
    {
        assert!(line.ends_with(b");"));
        assert!(line.len() <= 1_046_528 + 2);
    }
}

#[test]
fn regression_long_tables_are_cut_into_several_insert_statements() {
    let d = tempfile::tempdir().unwrap();
    run(d.path(), 1500, 1, false);
    let sql = read(d.path(), "clinic.sql");
    let n = sql
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"INSERT INTO `clinical_notes` VALUES "))
        .count();
    assert!(
        n >= 2,
        "clinical_notes should need several ~1 MB INSERT lines, got {n}"
    );
}

#[test]
fn csv_files_have_their_declared_encoding_delimiter_and_line_endings() {
    let d = tempfile::tempdir().unwrap();
    let m = run(d.path(), 300, 21, false);
    let csvs: Vec<_> = m
        .files
        .iter()
        .filter(|f| f.format == FileFormat::Csv)
        .collect();
    assert_eq!(csvs.len(), table_names().len());
    assert!(csvs.iter().filter(|f| f.encoding == "windows-1252").count() >= 2);
    assert_eq!(
        csvs.iter()
            .filter(|f| f.delimiter.as_deref() == Some("|") && f.path.ends_with(".txt"))
            .count(),
        2
    );
    assert_eq!(csvs.iter().filter(|f| f.bom).count(), 1);
    assert!(csvs.iter().any(|f| f.line_ending == "CRLF"));
    for f in &csvs {
        let raw = read(d.path(), &f.path);
        let first_nl = raw.iter().position(|b| *b == b'\n').unwrap();
        assert_eq!(
            raw[first_nl - 1] == b'\r',
            f.line_ending == "CRLF",
            "{} line ending",
            f.path
        );
        if f.encoding == "windows-1252" && f.table.as_deref() != Some("providers") {
            assert!(
                std::str::from_utf8(&raw).is_err(),
                "{} should hold non-UTF-8 accented bytes",
                f.path
            );
        }
        let (_, rows) = records(d.path(), f);
        assert!(
            f.bytes == raw.len() as u64
                && (!rows.is_empty() || f.table.as_deref() == Some("lost_time"))
        );
    }
    let (h, pats) = records(d.path(), csv_file(&m, "patients"));
    let last = h.iter().position(|c| c == "last_name").unwrap();
    let first = h.iter().position(|c| c == "first_name").unwrap();
    assert!(
        pats.iter()
            .any(|r| !r[last].is_ascii() || !r[first].is_ascii()),
        "accented names decode"
    );
}

#[test]
fn manifest_json_reads_back_equal() {
    let d = tempfile::tempdir().unwrap();
    let m = run(d.path(), 100, 4, false);
    let back = Manifest::read(&d.path().join("manifest.json")).unwrap();
    assert_eq!(back, m);
}

#[test]
fn events_report_every_table_and_bytes() {
    let d = tempfile::tempdir().unwrap();
    let mut tables = Vec::new();
    let mut last_bytes = 0;
    generate(&cfg(d.path(), 100, 1, false), &mut |e| match e {
        ferry_gen::GenEvent::Table { name, .. } => tables.push(name.to_string()),
        ferry_gen::GenEvent::Bytes(b) => last_bytes = b,
    })
    .unwrap();
    assert_eq!(tables, table_names());
    assert!(last_bytes > 100_000);
}

#[test]
fn zero_patients_is_a_config_error() {
    let d = tempfile::tempdir().unwrap();
    let e = generate(&cfg(d.path(), 0, 1, false), &mut |_| {}).unwrap_err();
    assert!(matches!(e, GenError::Config(_)), "{e}");
}

#[test]
fn unwritable_output_is_an_io_error_naming_the_path() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("not_a_dir");
    std::fs::write(&file, b"x").unwrap();
    let e = generate(&cfg(&file.join("out"), 10, 1, false), &mut |_| {}).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, GenError::Io { .. }));
    assert!(msg.contains("not_a_dir") && msg.contains("disk"), "{msg}");
}

#[test]
fn sql_only_and_csv_only_modes() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path(), 50, 1, false);
    c.csv = false;
    let m = generate(&c, &mut |_| {}).unwrap();
    assert_eq!(m.files.len(), 1);
    assert!(!d.path().join("csv").exists());
    let d2 = tempfile::tempdir().unwrap();
    let mut c = cfg(d2.path(), 50, 1, false);
    c.sql = false;
    let m2 = generate(&c, &mut |_| {}).unwrap();
    assert!(m2.sql.is_none() && !d2.path().join("clinic.sql").exists());
    assert_eq!(m.tables, m2.tables);
}

// ---------------------------------------------------------------------------------------------
// Evolution: the same clinic some days later
// ---------------------------------------------------------------------------------------------

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The default output is pinned: the evolution code must not move a byte of it (the CSV and SQL
/// hashes were taken before evolution existed). The dump is pinned as SQL: the gzip stream's own
/// bytes depend on which flate2 backend the build unifies to (`cargo test -p ferry-gen` and
/// `cargo test --workspace` pick different ones), so the gzip run is checked by its content.
#[test]
fn regression_default_output_is_byte_identical_to_before_evolution() {
    const SQL: &str = "756fc74881fee390e9b076c28cddc800581eb8054b74d8b133504cf0f71b80d7";
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), 137, 3, false);
    for (file, hash) in [
        ("clinic.sql", SQL),
        (
            "csv/lab_results.txt",
            "77cacb37e214cb27f08ef2ae75a470d6305e3705a5b93ffdede1987edd4a6d7c",
        ),
        (
            "csv/patients.csv",
            "f9eccb20a6fba37be75e7d6249c419f7f39f363f33f7be32dc60d613fea6e033",
        ),
        (
            "manifest.json",
            "bce181e44a88099b61cef46f06223980b6a22f3d7d232882680a882ce275d71e",
        ),
    ] {
        assert_eq!(sha256(&read(dir.path(), file)), hash, "{file}");
    }
    assert!(!dir.path().join("changes.json").exists());
    let gz = tempfile::tempdir().unwrap();
    run(gz.path(), 137, 3, true);
    let mut sql = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&read(gz.path(), "clinic.sql.gz")[..]),
        &mut sql,
    )
    .unwrap();
    assert_eq!(sha256(&sql), SQL, "clinic.sql.gz, decompressed");
}

fn evolve_into(dir: &Path, patients: u64, seed: u64, days: u32) -> (Manifest, ChangeManifest) {
    let (m, summary) = evolve(
        &cfg(dir, patients, seed, false),
        &Evolution::days_later(days),
        &mut |_| {},
    )
    .expect("evolve");
    let c = ChangeManifest::read(&dir.join("changes.json")).expect("changes.json");
    assert_eq!(c.summary, summary);
    (m, c)
}

/// CSV records by primary key, with the header.
fn keyed(dir: &Path, m: &Manifest, table: &str) -> (Vec<String>, BTreeMap<u64, Vec<String>>) {
    let (header, rows) = records(dir, csv_file(m, table));
    let mut out = BTreeMap::new();
    let mut last = 0;
    for r in rows {
        let k: u64 = r[0].parse().expect("numeric key");
        assert!(
            k > last,
            "{table}: keys ascend in file order ({k} after {last})"
        );
        last = k;
        out.insert(k, r);
    }
    (header, out)
}

#[test]
fn an_evolution_changes_exactly_what_its_change_manifest_lists() {
    let base = tempfile::tempdir().unwrap();
    let later = tempfile::tempdir().unwrap();
    let mb = run(base.path(), 400, 11, false);
    let (me, c) = evolve_into(later.path(), 400, 11, 21);
    assert_eq!(c.days_later, 21);
    assert_eq!(me.evolution.as_ref().map(|e| e.days_later), Some(21));
    assert_eq!(c.tables.len(), table_names().len());
    let (mut new, mut changed, mut deleted) = (0, 0, 0);
    for t in &c.tables {
        let (header, b) = keyed(base.path(), &mb, &t.table);
        let (_, e) = keyed(later.path(), &me, &t.table);
        assert_eq!(t.base_rows, b.len() as u64, "{}", t.table);
        assert_eq!(t.rows, e.len() as u64, "{}", t.table);
        assert_eq!(me.table(&t.table).unwrap().rows, t.rows);
        assert_eq!(t.base_rows, t.unchanged + t.changed.count + t.deleted.count);
        assert_eq!(t.rows, t.unchanged + t.changed.count + t.new.count);
        let added: Vec<u64> = e.keys().filter(|k| !b.contains_key(k)).copied().collect();
        let gone: Vec<u64> = b.keys().filter(|k| !e.contains_key(k)).copied().collect();
        assert_eq!(added, t.new.keys, "{}: new keys", t.table);
        assert_eq!(gone, t.deleted.keys, "{}: deleted keys", t.table);
        // New keys come after every base key (ids are never reused).
        if let (Some(first), Some(max)) = (t.new.keys.first(), b.keys().max()) {
            assert!(first > max, "{}", t.table);
        }
        let mut columns_of: BTreeMap<u64, &[String]> = BTreeMap::new();
        for s in &t.changed.sets {
            assert_eq!(s.count, s.keys.len() as u64);
            for k in &s.keys {
                columns_of.insert(*k, &s.columns);
            }
        }
        for (k, row) in &b {
            let Some(now) = e.get(k) else { continue };
            let differ: Vec<&String> = header
                .iter()
                .zip(row.iter().zip(now))
                .filter(|(_, (x, y))| x != y)
                .map(|(h, _)| h)
                .collect();
            match columns_of.get(k) {
                // An unchanged row is identical, field for field.
                None => assert!(differ.is_empty(), "{} key {k}: {differ:?}", t.table),
                // CSV writes NULL and '' alike, so a NULL -> '' edit is invisible here (the dump
                // test in the ferry crate compares staged values exactly).
                Some(cols) => assert!(
                    differ.iter().all(|d| cols.contains(d)),
                    "{} key {k}: {differ:?} not within {cols:?}",
                    t.table
                ),
            }
        }
        new += t.new.count;
        changed += t.changed.count;
        deleted += t.deleted.count;
    }
    assert!(
        new > 100 && changed > 500 && deleted > 100,
        "{new} {changed} {deleted}"
    );
    assert_eq!(
        (c.summary.new, c.summary.changed, c.summary.deleted),
        (new, changed, deleted)
    );
    // Reference tables do not change.
    for t in ["departments", "employers", "locations", "providers"] {
        let t = c.table(t).unwrap();
        assert_eq!(t.unchanged, t.base_rows);
        assert_eq!(t.rows, t.base_rows);
    }
    // Every kind of patient change happens at this size and seed.
    let p = c.table("patients").unwrap();
    assert_eq!(p.new.count, c.new_patients);
    // 400 × (1 − 0.98³) = 23.5, rounded.
    assert_eq!(c.new_patients, 24);
    assert!(
        p.deleted
            .reasons
            .get("patient_deleted")
            .is_some_and(|n| *n > 0)
    );
    assert!(
        p.deleted
            .reasons
            .get("patient_merged")
            .is_some_and(|n| *n > 0)
    );
    assert!(!c.merged_patients.is_empty());
    // New patients are numbered after the orphan rows' patient ids.
    assert!(p.new.keys.iter().all(|k| *k >= 3 * 400 + 2));
    let v = c.table("visits").unwrap();
    assert!(v.deleted.reasons.get("row_deleted").is_some_and(|n| *n > 0));
    let labs = c.table("lab_results").unwrap();
    assert!(
        labs.deleted
            .reasons
            .get("visit_deleted")
            .is_some_and(|n| *n > 0)
    );
    assert!(
        labs.changed
            .sets
            .iter()
            .any(|s| s.columns.iter().any(|c| c == "result_value"))
    );
    let pats = c.table("patients").unwrap();
    assert!(
        pats.changed
            .sets
            .iter()
            .any(|s| s.columns.iter().any(|c| c == "address1"))
    );
}

#[test]
fn an_evolved_clinic_keeps_referential_integrity_and_an_exact_defect_manifest() {
    let later = tempfile::tempdir().unwrap();
    let (m, c) = evolve_into(later.path(), 400, 11, 21);
    let (_, patients) = keyed(later.path(), &m, "patients");
    let (vh, visits) = keyed(later.path(), &m, "visits");
    let vpid = vh.iter().position(|h| h == "patient_id").unwrap();
    let orphan: BTreeSet<(String, u64)> = m
        .defects
        .iter()
        .filter(|d| d.kind == DefectKind::Orphan)
        .flat_map(|d| d.keys.iter().map(move |k| (d.table.clone(), *k)))
        .collect();
    let merged_away: BTreeSet<u64> = c.merged_patients.iter().map(|p| p.from).collect();
    for t in table_names() {
        let (h, rows) = keyed(later.path(), &m, t);
        // Every listed defect row is still there.
        for d in m.defects.iter().filter(|d| d.table == *t) {
            assert_eq!(d.count, d.keys.len() as u64);
            for k in &d.keys {
                assert!(
                    rows.contains_key(k),
                    "{t} {k}: listed {:?} row missing",
                    d.kind
                );
            }
        }
        if *t == "patients" {
            continue;
        }
        let pid = h.iter().position(|c| c == "patient_id");
        let vid = h.iter().position(|c| c == "visit_id");
        for (k, r) in &rows {
            if let Some(i) = pid {
                let p: u64 = r[i].parse().unwrap();
                assert!(
                    !merged_away.contains(&p),
                    "{t} {k} still points at a merged patient"
                );
                let is_orphan = orphan.contains(&(t.to_string(), *k));
                assert_eq!(
                    patients.contains_key(&p),
                    !is_orphan,
                    "{t} {k}: patient {p}"
                );
            }
            if let (Some(i), true) = (vid, *t != "visits")
                && !r[i].is_empty()
            {
                let v: u64 = r[i].parse().unwrap();
                let visit = visits
                    .get(&v)
                    .unwrap_or_else(|| panic!("{t} {k}: visit {v}"));
                assert_eq!(
                    visit[vpid],
                    r[pid.unwrap()],
                    "{t} {k}: visit of another patient"
                );
            }
        }
    }
    for d in &m.duplicates {
        assert!(patients.contains_key(&d.original_id) && patients.contains_key(&d.duplicate_id));
    }
    // Counts of the defect summary equal the listed keys.
    let orphans: u64 = m.defect_count(DefectKind::Orphan);
    assert_eq!(orphans, orphan.len() as u64);
}

#[test]
fn an_evolution_is_deterministic_and_differs_by_days() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    evolve_into(a.path(), 150, 4, 7);
    evolve_into(b.path(), 150, 4, 7);
    evolve_into(c.path(), 150, 4, 8);
    for f in [
        "clinic.sql",
        "csv/patients.csv",
        "csv/visits.csv",
        "changes.json",
        "manifest.json",
    ] {
        assert!(
            read(a.path(), f) == read(b.path(), f),
            "{f} differs between two runs"
        );
    }
    assert!(read(a.path(), "clinic.sql") != read(c.path(), "clinic.sql"));
    let dump = String::from_utf8_lossy(&read(a.path(), "clinic.sql")).into_owned();
    let m = Manifest::read(&a.path().join("manifest.json")).unwrap();
    let completed = &m.sql.as_ref().unwrap().dump_completed;
    assert!(dump.ends_with(&format!("-- Dump completed on {completed}\n")));
    let base = m.evolution.as_ref().unwrap().base_dump_completed.clone();
    assert!(completed > &base, "{completed} after {base}");
}

#[test]
fn evolution_rejects_zero_days_and_impossible_rates() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), 10, 1, false);
    let err = evolve(&c, &Evolution::days_later(0), &mut |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid generator configuration: days later must be 1 to 3650 (got 0)"
    );
    let mut e = Evolution::days_later(7);
    e.rates.edited_rows = 1.5;
    let err = evolve(&c, &e, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("edited_rows"), "{err}");
}
