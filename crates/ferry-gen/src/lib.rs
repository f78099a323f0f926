//! Deterministic generator of a synthetic legacy occupational-health clinic.
//!
//! [`generate`] writes, into an output folder, a `mysqldump`-shaped dump (`clinic.sql` or
//! `clinic.sql.gz`), one delimited text file per table under `csv/`, and `manifest.json`: the ground
//! truth (row counts, every seeded defect, per-column statistics, file encodings) that tests in other
//! crates read back with [`Manifest`].
//!
//! The same `(seed, patients)` always gives byte-identical files. Memory stays flat in the patient
//! count: every fact about a patient comes from a ChaCha stream keyed by (seed, patient index,
//! purpose), so each table pass re-derives the patient it is working on and holds nothing else
//! (only the compact defect key lists grow, with the number of defects).
//!
//! # Schema (legacy OHM / Medgate style; dump order is alphabetical, like mysqldump)
//!
//! | table | purpose |
//! |---|---|
//! | `allergies` | allergen, reaction, severity, "NKDA" rows; `noted_date` varchar in mixed formats |
//! | `appointments` | scheduled visits (status S/C/K/N), free-text comments |
//! | `audiograms` | hearing tests, wide columns `l500`..`l8000`, `r500`..`r8000` (dB HL); `device_data` binary dumped `--hex-blob` style |
//! | `clinical_notes` | multi-line SOAP / nurse notes with quotes, backslashes, CRLF, rare NUL and Ctrl-Z |
//! | `departments` | departments of employers (ids `(employer-1)*10+k`, so with gaps) |
//! | `documents` | scanned-document metadata: UNC path, `checksum` varbinary and `thumbnail` blob dumped as `_binary '...'` |
//! | `drug_screens` | drug/alcohol screens: reason, panel, result, MRO review |
//! | `employers` | client companies; declared `DEFAULT CHARSET=latin1`, dumped in Windows-1252 |
//! | `immunizations` | free-text vaccine names ("Hep B #2", "HEPATITIS B", "flu shot 2019"), lot, site |
//! | `lab_results` | local lab codes (GLU, HBA1C, CHOL, ...) with units, ranges, flags |
//! | `locations` | clinic sites |
//! | `lost_time` | lost-work-day cases (OSHA recordable) |
//! | `medications` | drug, strength, sig, start/stop |
//! | `patients` | demographics and identifiers: MRN, SSN, employee number, employer/department/location |
//! | `pft` | spirometry: FVC, FEV1, predicted values and ratio |
//! | `problems` | problem list: ICD-10 and ICD-9 codes mixed, some free text |
//! | `providers` | clinicians |
//! | `resp_fit_tests` | respirator fit tests (QLFT/QNFT) |
//! | `tb_tests` | PPD / QFT / T-SPOT / CXR screening |
//! | `visits` | encounters (a trigger `trg_visits_bi` is dumped after its data) |
//! | `vision_tests` | acuity and color plates |
//! | `vitals` | height, weight, BP, pulse, temperature, SpO2, BMI per visit |
//! | `work_restrictions` | restrictions with start/end dates |
//!
//! plus one view, `v_patient_visits` (patients joined to visits), dumped the mysqldump way: a
//! temporary stand-in table in its alphabetical place and the real view at the end.
//!
//! See `docs/generator.md` for the defects and the manifest format.

mod data;
mod evolve;
mod r#gen;
mod schema;
mod util;
mod writer;

use std::cell::Cell as StdCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::evolve::{Evo, Fate, Outcome, TableEvo};
pub use crate::evolve::{EvolveRates, MAX_DAYS_LATER};
use crate::r#gen::{Defects, Emit, World};
use crate::schema::{
    TABLES, TRIGGER_BODY, TRIGGER_NAME, TRIGGER_TABLE, VIEW_COLS, VIEW_NAME, VIEW_SELECT,
};
use crate::writer::{
    ColStats, CsvOut, DATE_SHAPE_NAMES, Row, SqlOut, TableDef, Ty, XlsxOut, io_err,
};

/// Version of this generator, recorded in the manifest.
pub const GENERATOR_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Version of the manifest layout.
pub const MANIFEST_FORMAT: u32 = 1;
/// The database name written in the dump header.
pub const DATABASE_NAME: &str = "ohm_clinic";

/// What to generate and where.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Rows of the `patients` table (duplicates included). At least 1.
    pub patients: u64,
    pub seed: u64,
    pub out_dir: PathBuf,
    /// Write the mysqldump file.
    pub sql: bool,
    /// Write the `csv/` folder.
    pub csv: bool,
    /// Compress the dump (`clinic.sql.gz`).
    pub gzip: bool,
}

/// Outputs beyond [`GenConfig`]'s dump and CSV folder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outputs {
    /// Also write `clinic.xlsx`, one worksheet per table (header row of column names), holding
    /// the values the CSV export holds: numbers as number cells where the text is the number's
    /// shortest decimal, real dates of DATE/DATETIME columns as date cells, NULL as an empty
    /// cell, binary as hex text, everything else as text.
    pub xlsx: bool,
}

/// Progress reported while generating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenEvent<'a> {
    /// A table is complete, with its row count.
    Table { name: &'a str, rows: u64 },
    /// Bytes produced so far over all files (uncompressed), for a progress bar.
    Bytes(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error(
        "cannot write {}: {source}; check that the output folder exists and is writable and that the disk is not full",
        path.display()
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid generator configuration: {0}")]
    Config(String),
}

/// Kinds of seeded duplicate patients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateKind {
    /// One character doubled or dropped in the last (70%) or first name.
    NameTypo,
    /// First and last names swapped.
    SwappedFirstLast,
    /// Different surname (e.g. after marriage), everything else the same.
    ChangedSurname,
    /// Same person without an SSN (NULL or '').
    MissingSsn,
    /// Date of birth with day and month swapped (only when the day is 1-12 and differs from the month).
    TransposedDob,
}

/// A duplicate patient row and the original it copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicatePair {
    pub original_id: u64,
    pub duplicate_id: u64,
    pub kind: DuplicateKind,
}

/// Kinds of seeded row-level defects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefectKind {
    /// Child row whose `patient_id` matches no patient.
    Orphan,
    /// Physiologically impossible value (systolic 900, temperature 1000, threshold 999...).
    OutOfRange,
    /// Required field missing (NULL, '' or a zero date).
    MissingRequired,
    /// Local code or free text that is in no cross-map (see [`Vocabulary`]).
    UnmappedCode,
}

/// All rows of one table affected by one kind of defect in one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefectSet {
    pub kind: DefectKind,
    pub table: String,
    pub column: String,
    pub count: u64,
    /// Primary-key values (the table's first column) of the affected rows, ascending.
    pub keys: Vec<u64>,
}

/// What was written in one column (exact counts over the written rows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub table: String,
    pub column: String,
    /// SQL type as declared in the dump.
    pub sql_type: String,
    pub nulls: u64,
    /// Empty strings (`''`), distinct from NULL in the dump, indistinguishable in CSV.
    pub empty_strings: u64,
    /// Values containing `\n` or `\r`.
    pub multiline: u64,
    pub with_quote: u64,
    pub with_backslash: u64,
    pub with_nul: u64,
    pub with_ctrl_z: u64,
    /// For varchar date columns: count per shape (`MM/DD/YYYY`, `YYYY-MM-DD`, `DD-Mon-YY`, `blank`,
    /// `00/00/0000`, `null`). Empty for other columns.
    pub date_formats: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableManifest {
    pub name: String,
    pub rows: u64,
    pub primary_key: String,
    /// The `AUTO_INCREMENT=` value in `CREATE TABLE` (max id + 1), absent for an empty table.
    pub auto_increment: Option<u64>,
    /// `utf8mb4` or `latin1`.
    pub charset: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Mysqldump,
    Csv,
    /// `clinic.xlsx`: one worksheet per table (see [`Outputs::xlsx`]).
    Xlsx,
}

/// One output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileManifest {
    /// Relative to the output folder, `/`-separated.
    pub path: String,
    pub format: FileFormat,
    /// The table a CSV file holds (None for the dump).
    pub table: Option<String>,
    /// Field delimiter of a CSV file (`,` or `|`).
    pub delimiter: Option<String>,
    /// `UTF-8` or `windows-1252` (the dump: `UTF-8`, see `SqlManifest::latin1_tables`).
    pub encoding: String,
    pub bom: bool,
    /// `LF` or `CRLF` (record terminator; quoted fields keep their own line breaks).
    pub line_ending: String,
    pub header: bool,
    pub gzip: bool,
    /// Size on disk.
    pub bytes: u64,
    /// True for CSV: NULL is written as an empty field, so NULL and '' cannot be told apart.
    pub null_is_empty: bool,
    /// How binary columns are written: `hex` in CSV (uppercase, no prefix).
    pub binary_as: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerManifest {
    pub name: String,
    pub table: String,
}

/// Facts about the dump a reader must cope with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlManifest {
    pub path: String,
    pub server_version: String,
    pub database: String,
    /// Extended INSERT lines are cut before they exceed this many bytes.
    pub net_buffer_length: u64,
    /// Tables declared `DEFAULT CHARSET=latin1` whose INSERTs are written in Windows-1252 between
    /// `/*!40101 SET NAMES latin1 */;` and `/*!40101 SET NAMES utf8mb4 */;`.
    pub latin1_tables: Vec<String>,
    /// `table.column` dumped as `_binary '...'` (raw bytes, mysqldump-escaped).
    pub binary_literal_columns: Vec<String>,
    /// `table.column` dumped as `0x...` (`--hex-blob`), `''` when empty.
    pub hex_blob_columns: Vec<String>,
    pub views: Vec<String>,
    pub triggers: Vec<TriggerManifest>,
    pub dump_completed: String,
}

/// Code lists, so tests know what counts as mapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// Local lab codes with a meaning (numeric and qualitative).
    pub lab_codes: Vec<String>,
    /// Local lab codes in no cross-map.
    pub unmapped_lab_codes: Vec<String>,
    /// Free-text vaccine names and the vaccine group each means.
    pub vaccine_names: Vec<(String, String)>,
    pub unmapped_vaccine_names: Vec<String>,
    /// Free text found in `problems.dx_code`.
    pub free_text_problems: Vec<String>,
}

/// Seeding probabilities (the counts in the manifest are the exact outcome).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    pub duplicate_patient: f64,
    pub orphan_row_per_patient_per_table: f64,
}

/// The ground truth written to `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub generator: String,
    pub version: String,
    pub format: u32,
    pub seed: u64,
    pub patients: u64,
    /// Tables in dump order.
    pub tables: Vec<TableManifest>,
    pub files: Vec<FileManifest>,
    pub sql: Option<SqlManifest>,
    pub rates: Rates,
    pub duplicates: Vec<DuplicatePair>,
    pub defects: Vec<DefectSet>,
    /// Totals: `duplicates`, `duplicates.<kind>`, `orphan`, `out_of_range`, `missing_required`,
    /// `unmapped_code`, `null_values`, `empty_strings`, `multiline_values`, `zero_dates`,
    /// `blank_dates`, `null_dates`.
    pub summary: BTreeMap<String, u64>,
    /// Per-column statistics (every column of every table).
    pub columns: Vec<ColumnStats>,
    pub vocabulary: Vocabulary,
    /// Set when this snapshot is an evolution of a base snapshot (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evolution: Option<EvolutionManifest>,
}

/// How an evolved snapshot relates to its base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvolutionManifest {
    pub days_later: u32,
    /// The base snapshot's "Dump completed on" (this snapshot's is `sql.dump_completed`).
    pub base_dump_completed: String,
    /// The change manifest, relative to the output folder.
    pub changes: String,
}

/// An evolution: the same clinic `days` days after the base snapshot of the same seed and patient
/// count (see [`evolve`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evolution {
    /// 1 ..= [`MAX_DAYS_LATER`].
    pub days: u32,
    pub rates: EvolveRates,
}

impl Evolution {
    /// `days` later, at the default rates.
    pub fn days_later(days: u32) -> Evolution {
        Evolution {
            days,
            rates: EvolveRates::default(),
        }
    }
}

/// Keys of one kind of change in one table, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyList {
    pub count: u64,
    pub keys: Vec<u64>,
}

/// Changed rows that changed in the same columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedSet {
    /// Columns whose value differs from the base row, in table order.
    pub columns: Vec<String>,
    pub count: u64,
    pub keys: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedList {
    pub count: u64,
    /// One set per distinct list of changed columns, ordered by that list.
    pub sets: Vec<ChangedSet>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedList {
    pub count: u64,
    /// Counts by reason: `patient_deleted` (the row's patient was deleted), `patient_merged` (a
    /// merged duplicate's own row), `visit_deleted` (recorded at a deleted visit), `row_deleted`.
    pub reasons: BTreeMap<String, u64>,
    pub keys: Vec<u64>,
}

/// What changed in one table between the base snapshot and the evolved one, by primary key.
/// `base_rows = unchanged + changed + deleted` and `rows = unchanged + changed + new`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableChanges {
    pub table: String,
    pub primary_key: String,
    pub base_rows: u64,
    pub rows: u64,
    pub unchanged: u64,
    pub new: KeyList,
    pub changed: ChangedList,
    pub deleted: DeletedList,
}

/// A duplicate patient merged into its original: its patient row deleted, every row it owned
/// re-pointed (`patient_id` changed) to the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedPatient {
    pub from: u64,
    pub into: u64,
}

/// Totals over every table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSummary {
    pub base_rows: u64,
    pub rows: u64,
    pub unchanged: u64,
    pub new: u64,
    pub changed: u64,
    pub deleted: u64,
}

/// The ground truth of an evolution, written to `changes.json` beside the evolved snapshot's
/// `manifest.json` (one table per line, written as each table is done).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeManifest {
    pub generator: String,
    pub version: String,
    pub format: u32,
    pub seed: u64,
    /// The base snapshot's patient count (the `--patients` of both snapshots).
    pub patients: u64,
    pub days_later: u32,
    pub base_dump_completed: String,
    pub dump_completed: String,
    pub rates: EvolveRates,
    /// Patients added (ids after the orphan rows' patient ids: `3N+2` on).
    pub new_patients: u64,
    /// Tables in dump order.
    pub tables: Vec<TableChanges>,
    pub merged_patients: Vec<MergedPatient>,
    pub summary: ChangeSummary,
}

impl ChangeManifest {
    /// Read a `changes.json` back.
    pub fn read(path: &Path) -> Result<ChangeManifest, GenError> {
        let f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
        serde_json::from_reader(std::io::BufReader::new(f)).map_err(|e| {
            io_err(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })
    }
    pub fn table(&self, name: &str) -> Option<&TableChanges> {
        self.tables.iter().find(|t| t.table == name)
    }
}

impl Manifest {
    /// Read a `manifest.json` back.
    pub fn read(path: &Path) -> Result<Manifest, GenError> {
        let f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
        serde_json::from_reader(std::io::BufReader::new(f)).map_err(|e| {
            io_err(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })
    }
    pub fn table(&self, name: &str) -> Option<&TableManifest> {
        self.tables.iter().find(|t| t.name == name)
    }
    pub fn defect_count(&self, kind: DefectKind) -> u64 {
        self.defects
            .iter()
            .filter(|d| d.kind == kind)
            .map(|d| d.count)
            .sum()
    }
}

/// Table names in dump order.
pub fn table_names() -> &'static [&'static str] {
    schema::TABLE_NAMES
}

/// One table pass: rows go to the dump and the CSV file, and are tallied.
struct Pass<'a, 'b> {
    def: &'static TableDef,
    row: Row,
    sql: Option<&'a mut SqlOut>,
    csv: Option<CsvOut>,
    xlsx: Option<&'a mut XlsxOut>,
    stats: Vec<ColStats>,
    rows: u64,
    /// Ids handed out: `rows` plus the rows an evolution deleted.
    ids: u64,
    evo: Option<TableEvo>,
    bytes: Rc<StdCell<u64>>,
    reported: u64,
    on_event: &'a mut (dyn FnMut(GenEvent<'_>) + 'b),
}

const REPORT_EVERY: u64 = 8 << 20;

impl Emit for Pass<'_, '_> {
    fn row(&mut self) -> &mut Row {
        &mut self.row
    }
    fn next_id(&self) -> u64 {
        self.ids + 1
    }
    fn patient(&mut self, id: u64, fate: Fate) {
        if let Some(ev) = self.evo.as_mut() {
            ev.patient(id, fate);
        }
    }
    fn begin_new(&mut self) {
        if let Some(ev) = self.evo.as_mut() {
            ev.begin_new();
        }
    }
    fn emit(&mut self) -> Result<(), GenError> {
        self.ids += 1;
        if let Some(ev) = self.evo.as_mut()
            && let Outcome::Deleted(_) = ev.decide(self.def, &mut self.row)
        {
            return Ok(());
        }
        if let Some(sql) = self.sql.as_deref_mut() {
            sql.row(self.def, &self.row)?;
        }
        if let Some(csv) = self.csv.as_mut() {
            csv.row(self.def, &self.row)?;
        }
        if let Some(xlsx) = self.xlsx.as_deref_mut() {
            xlsx.row(self.def, &self.row)?;
        }
        writer::tally(&mut self.stats, self.def, &self.row);
        self.rows += 1;
        let b = self.bytes.get();
        if b >= self.reported + REPORT_EVERY {
            self.reported = b;
            (self.on_event)(GenEvent::Bytes(b));
        }
        Ok(())
    }
}

fn write_header(sql: &mut SqlOut) -> Result<(), GenError> {
    sql.text(&format!(
        "-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n\
         --\n\
         -- Host: localhost    Database: {DATABASE_NAME}\n\
         -- ------------------------------------------------------\n\
         -- Server version\t8.0.36\n\
         \n\
         /*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n\
         /*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;\n\
         /*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;\n\
         /*!50503 SET NAMES utf8mb4 */;\n\
         /*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;\n\
         /*!40103 SET TIME_ZONE='+00:00' */;\n\
         /*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n\
         /*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;\n\
         /*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n\
         /*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;\n"
    ))
}

fn write_create(
    sql: &mut SqlOut,
    def: &TableDef,
    auto_increment: Option<u64>,
) -> Result<(), GenError> {
    let t = def.name;
    let mut s = format!(
        "\n--\n-- Table structure for table `{t}`\n--\n\n\
         DROP TABLE IF EXISTS `{t}`;\n\
         /*!40101 SET @saved_cs_client     = @@character_set_client */;\n\
         /*!50503 SET character_set_client = utf8mb4 */;\n\
         CREATE TABLE `{t}` (\n"
    );
    for c in def.cols {
        s.push_str(&format!("  `{}` {},\n", c.name, c.sql));
    }
    let pk = def.cols.first().map(|c| c.name).unwrap_or("id");
    s.push_str(&format!("  PRIMARY KEY (`{pk}`)"));
    for (name, cols) in def.keys {
        s.push_str(&format!(",\n  KEY `{name}` ({cols})"));
    }
    s.push_str("\n) ENGINE=InnoDB");
    if let Some(ai) = auto_increment {
        s.push_str(&format!(" AUTO_INCREMENT={ai}"));
    }
    if def.latin1 {
        s.push_str(" DEFAULT CHARSET=latin1;\n");
    } else {
        s.push_str(" DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;\n");
    }
    s.push_str("/*!40101 SET character_set_client = @saved_cs_client */;\n");
    s.push_str(&format!("\n--\n-- Dumping data for table `{t}`\n--\n\n"));
    if def.latin1 {
        s.push_str("/*!40101 SET NAMES latin1 */;\n");
    }
    s.push_str(&format!(
        "LOCK TABLES `{t}` WRITE;\n/*!40000 ALTER TABLE `{t}` DISABLE KEYS */;\n"
    ));
    sql.text(&s)
}

fn write_data_end(sql: &mut SqlOut, def: &TableDef) -> Result<(), GenError> {
    sql.end_data()?;
    let t = def.name;
    let mut s = format!("/*!40000 ALTER TABLE `{t}` ENABLE KEYS */;\nUNLOCK TABLES;\n");
    if def.latin1 {
        s.push_str("/*!40101 SET NAMES utf8mb4 */;\n");
    }
    sql.text(&s)
}

fn write_trigger(sql: &mut SqlOut) -> Result<(), GenError> {
    sql.text(&format!(
        "/*!50003 SET @saved_cs_client      = @@character_set_client */ ;\n\
         /*!50003 SET @saved_cs_results     = @@character_set_results */ ;\n\
         /*!50003 SET @saved_col_connection = @@collation_connection */ ;\n\
         /*!50003 SET character_set_client  = utf8mb4 */ ;\n\
         /*!50003 SET character_set_results = utf8mb4 */ ;\n\
         /*!50003 SET collation_connection  = utf8mb4_0900_ai_ci */ ;\n\
         /*!50003 SET @saved_sql_mode       = @@sql_mode */ ;\n\
         /*!50003 SET sql_mode              = 'ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION' */ ;\n\
         DELIMITER ;;\n\
         /*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `{TRIGGER_NAME}` {TRIGGER_BODY} */;;\n\
         DELIMITER ;\n\
         /*!50003 SET sql_mode              = @saved_sql_mode */ ;\n\
         /*!50003 SET character_set_client  = @saved_cs_client */ ;\n\
         /*!50003 SET character_set_results = @saved_cs_results */ ;\n\
         /*!50003 SET collation_connection  = @saved_col_connection */ ;\n"
    ))
}

fn write_temp_view(sql: &mut SqlOut) -> Result<(), GenError> {
    let v = VIEW_NAME;
    let cols: Vec<String> = VIEW_COLS.iter().map(|c| format!(" 1 AS `{c}`")).collect();
    sql.text(&format!(
        "\n--\n-- Temporary view structure for view `{v}`\n--\n\n\
         DROP TABLE IF EXISTS `{v}`;\n\
         /*!50001 DROP VIEW IF EXISTS `{v}`*/;\n\
         SET @saved_cs_client     = @@character_set_client;\n\
         /*!50503 SET character_set_client = utf8mb4 */;\n\
         /*!50001 CREATE VIEW `{v}` AS SELECT \n{}*/;\n\
         SET character_set_client = @saved_cs_client;\n",
        cols.join(",\n")
    ))
}

fn write_final_view(sql: &mut SqlOut) -> Result<(), GenError> {
    let v = VIEW_NAME;
    sql.text(&format!(
        "\n--\n-- Final view structure for view `{v}`\n--\n\n\
         /*!50001 DROP VIEW IF EXISTS `{v}`*/;\n\
         /*!50001 SET @saved_cs_client          = @@character_set_client */;\n\
         /*!50001 SET @saved_cs_results         = @@character_set_results */;\n\
         /*!50001 SET @saved_col_connection     = @@collation_connection */;\n\
         /*!50001 SET character_set_client      = utf8mb4 */;\n\
         /*!50001 SET character_set_results     = utf8mb4 */;\n\
         /*!50001 SET collation_connection      = utf8mb4_0900_ai_ci */;\n\
         /*!50001 CREATE ALGORITHM=UNDEFINED */\n\
         /*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n\
         /*!50001 VIEW `{v}` AS {VIEW_SELECT} */;\n\
         /*!50001 SET character_set_client      = @saved_cs_client */;\n\
         /*!50001 SET character_set_results     = @saved_cs_results */;\n\
         /*!50001 SET collation_connection      = @saved_col_connection */;\n"
    ))
}

/// The base dump's day (days since 1970): deterministic, derived from the seed, never the clock.
fn dump_day(seed: u64) -> i32 {
    util::days_from_civil(2026, 2, 1 + (seed % 28) as u32)
}

/// "Dump completed on" of the base snapshot (`days_later` 0) or of an evolution.
fn dump_completed_on(seed: u64, days_later: u32) -> String {
    let (y, m, d) = util::civil_from_days(dump_day(seed) + days_later as i32);
    let secs = (seed / 28) % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

fn write_trailer(sql: &mut SqlOut, completed: &str) -> Result<(), GenError> {
    sql.text(&format!(
        "/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n\
         \n\
         /*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n\
         /*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;\n\
         /*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;\n\
         /*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;\n\
         /*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;\n\
         /*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;\n\
         /*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;\n\
         \n\
         -- Dump completed on {completed}\n"
    ))
}

fn file_len(path: &Path) -> Result<u64, GenError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| io_err(path, e))
}

/// Largest patient count accepted (keeps every generated id inside MySQL's signed `int`).
pub const MAX_PATIENTS: u64 = 20_000_000;

/// Generate the clinic into `cfg.out_dir` (created if needed). Existing files of the same names are
/// overwritten. Returns the manifest, which is also written to `manifest.json`.
pub fn generate(
    cfg: &GenConfig,
    on_event: &mut dyn FnMut(GenEvent<'_>),
) -> Result<Manifest, GenError> {
    generate_inner(cfg, Outputs::default(), None, on_event).map(|(m, _)| m)
}

/// [`generate`], with the extra `outputs` (the workbook). The dump and the CSV files are the
/// same bytes as [`generate`] writes.
pub fn generate_with(
    cfg: &GenConfig,
    outputs: Outputs,
    on_event: &mut dyn FnMut(GenEvent<'_>),
) -> Result<Manifest, GenError> {
    generate_inner(cfg, outputs, None, on_event).map(|(m, _)| m)
}

/// Generate the same clinic as [`generate`] with the same `cfg` would, `evolution.days` days
/// later: every base row that did not change is byte-identical (same key, same values, same place
/// in key order), plus new patients and rows, rows edited in place and deleted rows. Writes the
/// evolved snapshot's `manifest.json` and `changes.json` (the [`ChangeManifest`]: per table the
/// keys new, changed (with the columns) and deleted). Deterministic in (seed, patients, days);
/// memory is flat in the patient count (only the current table's change keys are held).
pub fn evolve(
    cfg: &GenConfig,
    evolution: &Evolution,
    on_event: &mut dyn FnMut(GenEvent<'_>),
) -> Result<(Manifest, ChangeSummary), GenError> {
    if evolution.days == 0 || evolution.days > MAX_DAYS_LATER {
        return Err(GenError::Config(format!(
            "days later must be 1 to {MAX_DAYS_LATER} (got {})",
            evolution.days
        )));
    }
    let r = &evolution.rates;
    for (name, v) in [
        ("new_patients", r.new_patients),
        ("edited_rows", r.edited_rows),
        ("deleted_rows", r.deleted_rows),
        ("deleted_patients", r.deleted_patients),
        ("merged_duplicates", r.merged_duplicates),
        ("new_visits", r.new_visits),
        ("new_rows", r.new_rows),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(GenError::Config(format!(
                "evolution rate {name} must be between 0 and 1 (got {v})"
            )));
        }
    }
    if r.deleted_rows + r.edited_rows > 1.0 {
        return Err(GenError::Config(
            "evolution rates edited_rows + deleted_rows must not exceed 1".into(),
        ));
    }
    generate_inner(cfg, Outputs::default(), Some(evolution), on_event)
        .map(|(m, s)| (m, s.unwrap_or_default()))
}

/// `changes.json`, written one table at a time.
struct ChangesOut {
    path: PathBuf,
    w: std::io::BufWriter<std::fs::File>,
    tables: usize,
    merged: Vec<MergedPatient>,
    summary: ChangeSummary,
}

fn json<T: Serialize>(v: &T) -> String {
    // Serializing these plain structs cannot fail; an empty value would only be a visible bug.
    serde_json::to_string(v).unwrap_or_default()
}

impl ChangesOut {
    fn start(dir: &Path, cfg: &GenConfig, evo: &Evo) -> Result<ChangesOut, GenError> {
        let path = dir.join("changes.json");
        let f = writer::create(&path)?;
        let mut out = ChangesOut {
            path,
            w: std::io::BufWriter::new(f),
            tables: 0,
            merged: Vec::new(),
            summary: ChangeSummary::default(),
        };
        let head = format!(
            "{{\n  \"generator\": \"ferry-gen\",\n  \"version\": {},\n  \"format\": {MANIFEST_FORMAT},\n  \"seed\": {},\n  \"patients\": {},\n  \"days_later\": {},\n  \"base_dump_completed\": {},\n  \"dump_completed\": {},\n  \"rates\": {},\n  \"new_patients\": {},\n  \"tables\": [",
            json(&GENERATOR_VERSION),
            cfg.seed,
            cfg.patients,
            evo.days,
            json(&dump_completed_on(cfg.seed, 0)),
            json(&dump_completed_on(cfg.seed, evo.days)),
            json(&evo.rates),
            evo.new_patients,
        );
        out.write(&head)?;
        Ok(out)
    }
    fn write(&mut self, s: &str) -> Result<(), GenError> {
        self.w
            .write_all(s.as_bytes())
            .map_err(|e| io_err(&self.path, e))
    }
    fn table(&mut self, t: &TableChanges) -> Result<(), GenError> {
        let sep = if self.tables == 0 {
            "\n    "
        } else {
            ",\n    "
        };
        self.tables += 1;
        let s = &mut self.summary;
        s.base_rows += t.base_rows;
        s.rows += t.rows;
        s.unchanged += t.unchanged;
        s.new += t.new.count;
        s.changed += t.changed.count;
        s.deleted += t.deleted.count;
        let line = format!("{sep}{}", json(t));
        self.write(&line)
    }
    fn finish(mut self) -> Result<ChangeSummary, GenError> {
        let tail = format!(
            "\n  ],\n  \"merged_patients\": {},\n  \"summary\": {}\n}}\n",
            json(&self.merged),
            json(&self.summary)
        );
        self.write(&tail)?;
        self.w.flush().map_err(|e| io_err(&self.path, e))?;
        Ok(self.summary)
    }
}

/// One table's changes from the evolution's log (keys ascend: rows are written in key order).
fn table_changes(
    def: &TableDef,
    rows: u64,
    ev: TableEvo,
    merged: &mut Vec<MergedPatient>,
) -> TableChanges {
    let log = ev.log;
    merged.extend(
        log.merged
            .iter()
            .map(|&(from, into)| MergedPatient { from, into }),
    );
    let mut sets: Vec<ChangedSet> = log
        .changed
        .into_iter()
        .map(|(mask, keys)| ChangedSet {
            columns: def
                .cols
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << (*i).min(63)) != 0)
                .map(|(_, c)| c.name.to_string())
                .collect(),
            count: keys.len() as u64,
            keys,
        })
        .collect();
    sets.sort_by(|a, b| a.columns.cmp(&b.columns));
    let changed = sets.iter().map(|s| s.count).sum::<u64>();
    let new = log.new.len() as u64;
    let deleted = log.deleted.len() as u64;
    let base_rows = rows - new + deleted;
    TableChanges {
        table: def.name.to_string(),
        primary_key: def.cols.first().map(|c| c.name).unwrap_or("id").to_string(),
        base_rows,
        rows,
        unchanged: base_rows - changed - deleted,
        new: KeyList {
            count: new,
            keys: log.new,
        },
        changed: ChangedList {
            count: changed,
            sets,
        },
        deleted: DeletedList {
            count: deleted,
            reasons: log
                .reasons
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            keys: log.deleted,
        },
    }
}

fn generate_inner(
    cfg: &GenConfig,
    outputs: Outputs,
    evolution: Option<&Evolution>,
    on_event: &mut dyn FnMut(GenEvent<'_>),
) -> Result<(Manifest, Option<ChangeSummary>), GenError> {
    if cfg.patients == 0 {
        return Err(GenError::Config(
            "patients must be at least 1 (got 0)".into(),
        ));
    }
    if cfg.patients > MAX_PATIENTS {
        return Err(GenError::Config(format!(
            "patients must be at most {MAX_PATIENTS} (got {}); generated ids must fit a MySQL int",
            cfg.patients
        )));
    }
    std::fs::create_dir_all(&cfg.out_dir).map_err(|e| io_err(&cfg.out_dir, e))?;
    let csv_dir = cfg.out_dir.join("csv");
    if cfg.csv {
        std::fs::create_dir_all(&csv_dir).map_err(|e| io_err(&csv_dir, e))?;
    }
    let mut world = World::new(cfg.seed, cfg.patients);
    world.evo =
        evolution.map(|e| Evo::new(cfg.seed, cfg.patients, e.days, e.rates, dump_day(cfg.seed)));
    let completed = dump_completed_on(cfg.seed, evolution.map_or(0, |e| e.days));
    let mut changes = match world.evo.as_ref() {
        Some(ev) => Some(ChangesOut::start(&cfg.out_dir, cfg, ev)?),
        None => None,
    };
    let counts = r#gen::count_rows(&world);
    let bytes = Rc::new(StdCell::new(0u64));
    let sql_name = if cfg.gzip {
        "clinic.sql.gz"
    } else {
        "clinic.sql"
    };
    let mut sql = if cfg.sql {
        let mut s = SqlOut::new(cfg.out_dir.join(sql_name), cfg.gzip, bytes.clone())?;
        write_header(&mut s)?;
        Some(s)
    } else {
        None
    };
    let mut xlsx = outputs
        .xlsx
        .then(|| XlsxOut::new(cfg.out_dir.join("clinic.xlsx")));
    let mut defects = Defects::default();
    let mut tables = Vec::new();
    let mut files = Vec::new();
    let mut columns = Vec::new();

    for def in TABLES {
        let def: &'static TableDef = def;
        let expected = counts.get(def.name).copied().unwrap_or(0);
        let auto_increment = match (def.name, expected) {
            (_, 0) => None,
            ("departments", _) => Some(world.max_dept_id() + 1),
            ("patients", n) => Some(world.patient_id(n - 1) + 1),
            _ => Some(expected + 1),
        };
        if def.name == "visits"
            && let Some(s) = sql.as_mut()
        {
            write_temp_view(s)?;
        }
        if let Some(s) = sql.as_mut() {
            write_create(s, def, auto_increment)?;
            s.begin_data();
        }
        let csv_rel = format!("csv/{}.{}", def.name, def.csv.ext);
        let csv_path = cfg.out_dir.join(&csv_rel);
        let csv = if cfg.csv {
            Some(CsvOut::new(csv_path.clone(), def, bytes.clone())?)
        } else {
            None
        };
        if let Some(x) = xlsx.as_mut() {
            x.begin(def)?;
        }
        let mut pass = Pass {
            def,
            row: Row::default(),
            sql: sql.as_mut(),
            csv,
            xlsx: xlsx.as_mut(),
            stats: vec![ColStats::default(); def.cols.len()],
            rows: 0,
            ids: 0,
            evo: world.evo.map(|ev| {
                let pos = schema::TABLE_NAMES
                    .iter()
                    .position(|t| *t == def.name)
                    .unwrap_or(0) as u64;
                TableEvo::new(ev, def, pos)
            }),
            bytes: bytes.clone(),
            reported: bytes.get(),
            on_event: &mut *on_event,
        };
        r#gen::generate_table(&world, def, &mut pass, &mut defects)?;
        let Pass {
            rows,
            ids,
            stats,
            csv,
            evo,
            ..
        } = pass;
        if ids != expected {
            // Internal consistency: the counting pre-pass and the writer must agree.
            return Err(GenError::Config(format!(
                "internal error: table {} wrote {ids} rows but {expected} were planned; please report this",
                def.name
            )));
        }
        if let (Some(ev), Some(out)) = (evo, changes.as_mut()) {
            let t = table_changes(def, rows, ev, &mut out.merged);
            // A deleted row's seeded defects are gone with it.
            for ((_, table, _), keys) in defects.sets.iter_mut() {
                if *table == def.name {
                    keys.retain(|k| t.deleted.keys.binary_search(k).is_err());
                }
            }
            out.table(&t)?;
        }
        if let Some(c) = csv {
            c.finish()?;
            files.push(FileManifest {
                path: csv_rel,
                format: FileFormat::Csv,
                table: Some(def.name.to_string()),
                delimiter: Some((def.csv.delimiter as char).to_string()),
                encoding: if def.csv.cp1252 {
                    "windows-1252"
                } else {
                    "UTF-8"
                }
                .to_string(),
                bom: def.csv.bom,
                line_ending: if def.csv.crlf { "CRLF" } else { "LF" }.to_string(),
                header: true,
                gzip: false,
                bytes: file_len(&csv_path)?,
                null_is_empty: true,
                binary_as: def
                    .cols
                    .iter()
                    .any(|c| matches!(c.ty, Ty::Bin | Ty::BinHex))
                    .then(|| "hex".to_string()),
            });
        }
        if let Some(s) = sql.as_mut() {
            write_data_end(s, def)?;
            if def.name == TRIGGER_TABLE {
                write_trigger(s)?;
            }
        }
        for (c, st) in def.cols.iter().zip(stats) {
            let mut date_formats = BTreeMap::new();
            if c.ty == Ty::DateText {
                for (name, n) in DATE_SHAPE_NAMES.iter().zip(st.dates) {
                    if n > 0 {
                        date_formats.insert((*name).to_string(), n);
                    }
                }
            }
            columns.push(ColumnStats {
                table: def.name.to_string(),
                column: c.name.to_string(),
                sql_type: c.sql.to_string(),
                nulls: st.nulls,
                empty_strings: st.empties,
                multiline: st.multiline,
                with_quote: st.with_quote,
                with_backslash: st.with_backslash,
                with_nul: st.with_nul,
                with_ctrl_z: st.with_ctrl_z,
                date_formats,
            });
        }
        tables.push(TableManifest {
            name: def.name.to_string(),
            rows,
            primary_key: def.cols.first().map(|c| c.name).unwrap_or("id").to_string(),
            auto_increment,
            charset: if def.latin1 { "latin1" } else { "utf8mb4" }.to_string(),
            columns: def.cols.iter().map(|c| c.name.to_string()).collect(),
        });
        on_event(GenEvent::Table {
            name: def.name,
            rows,
        });
    }

    let sql_manifest = match sql.take() {
        Some(mut s) => {
            write_final_view(&mut s)?;
            write_trailer(&mut s, &completed)?;
            let path = s.path.clone();
            s.finish()?;
            files.insert(
                0,
                FileManifest {
                    path: sql_name.to_string(),
                    format: FileFormat::Mysqldump,
                    table: None,
                    delimiter: None,
                    encoding: "UTF-8".to_string(),
                    bom: false,
                    line_ending: "LF".to_string(),
                    header: false,
                    gzip: cfg.gzip,
                    bytes: file_len(&path)?,
                    null_is_empty: false,
                    binary_as: None,
                },
            );
            let cols_of = |ty: Ty| -> Vec<String> {
                TABLES
                    .iter()
                    .flat_map(|t| {
                        t.cols
                            .iter()
                            .filter(move |c| c.ty == ty)
                            .map(move |c| format!("{}.{}", t.name, c.name))
                    })
                    .collect()
            };
            Some(SqlManifest {
                path: sql_name.to_string(),
                server_version: "8.0.36".to_string(),
                database: DATABASE_NAME.to_string(),
                net_buffer_length: writer::NET_BUFFER_LENGTH as u64,
                latin1_tables: TABLES
                    .iter()
                    .filter(|t| t.latin1)
                    .map(|t| t.name.to_string())
                    .collect(),
                binary_literal_columns: cols_of(Ty::Bin),
                hex_blob_columns: cols_of(Ty::BinHex),
                views: vec![VIEW_NAME.to_string()],
                triggers: vec![TriggerManifest {
                    name: TRIGGER_NAME.to_string(),
                    table: TRIGGER_TABLE.to_string(),
                }],
                dump_completed: completed.clone(),
            })
        }
        None => None,
    };
    if let Some(x) = xlsx.take() {
        let path = x.path.clone();
        x.finish()?;
        files.push(FileManifest {
            path: "clinic.xlsx".to_string(),
            format: FileFormat::Xlsx,
            table: None,
            delimiter: None,
            encoding: "UTF-8".to_string(),
            bom: false,
            line_ending: "LF".to_string(),
            header: true,
            gzip: false,
            bytes: file_len(&path)?,
            null_is_empty: true,
            binary_as: Some("hex".to_string()),
        });
    }
    on_event(GenEvent::Bytes(bytes.get()));

    let summary = match changes {
        Some(out) => Some(out.finish()?),
        None => None,
    };
    let mut manifest = build_manifest(cfg, tables, files, sql_manifest, defects, columns);
    manifest.evolution = evolution.map(|e| EvolutionManifest {
        days_later: e.days,
        base_dump_completed: dump_completed_on(cfg.seed, 0),
        changes: "changes.json".to_string(),
    });
    let mpath = cfg.out_dir.join("manifest.json");
    let f = writer::create(&mpath)?;
    let mut w = std::io::BufWriter::new(f);
    serde_json::to_writer_pretty(&mut w, &manifest)
        .map_err(std::io::Error::from)
        .and_then(|()| w.write_all(b"\n"))
        .and_then(|()| w.flush())
        .map_err(|e| io_err(&mpath, e))?;
    Ok((manifest, summary))
}

fn build_manifest(
    cfg: &GenConfig,
    tables: Vec<TableManifest>,
    files: Vec<FileManifest>,
    sql: Option<SqlManifest>,
    defects: Defects,
    columns: Vec<ColumnStats>,
) -> Manifest {
    let mut summary: BTreeMap<String, u64> = BTreeMap::new();
    summary.insert("duplicates".into(), defects.duplicates.len() as u64);
    for d in &defects.duplicates {
        let k = serde_json::to_value(d.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *summary.entry(format!("duplicates.{k}")).or_default() += 1;
    }
    let mut sets = Vec::new();
    for kind in [
        "orphan",
        "out_of_range",
        "missing_required",
        "unmapped_code",
    ] {
        summary.insert(kind.into(), 0);
    }
    for ((kind, table, column), mut keys) in defects.sets {
        keys.sort_unstable();
        let k = serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *summary.entry(k).or_default() += keys.len() as u64;
        sets.push(DefectSet {
            kind,
            table: table.to_string(),
            column: column.to_string(),
            count: keys.len() as u64,
            keys,
        });
    }
    let sum = |f: fn(&ColumnStats) -> u64| columns.iter().map(f).sum::<u64>();
    summary.insert("null_values".into(), sum(|c| c.nulls));
    summary.insert("empty_strings".into(), sum(|c| c.empty_strings));
    summary.insert("multiline_values".into(), sum(|c| c.multiline));
    let date = |name: &str| {
        columns
            .iter()
            .filter_map(|c| c.date_formats.get(name))
            .sum::<u64>()
    };
    summary.insert("zero_dates".into(), date("00/00/0000"));
    summary.insert("blank_dates".into(), date("blank"));
    summary.insert("null_dates".into(), date("null"));
    Manifest {
        generator: "ferry-gen".into(),
        version: GENERATOR_VERSION.into(),
        format: MANIFEST_FORMAT,
        seed: cfg.seed,
        patients: cfg.patients,
        tables,
        files,
        sql,
        rates: Rates {
            duplicate_patient: r#gen::DUP_RATE,
            orphan_row_per_patient_per_table: r#gen::ORPHAN_RATE,
        },
        duplicates: defects.duplicates,
        defects: sets,
        summary,
        columns,
        vocabulary: Vocabulary {
            lab_codes: data::LAB_CODES
                .iter()
                .map(|l| l.0.to_string())
                .chain(data::LAB_QUAL.iter().map(|l| l.0.to_string()))
                .collect(),
            unmapped_lab_codes: data::LAB_UNMAPPED.iter().map(|l| l.0.to_string()).collect(),
            vaccine_names: data::VACCINES
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            unmapped_vaccine_names: data::VACCINES_UNMAPPED
                .iter()
                .map(|s| s.to_string())
                .collect(),
            free_text_problems: data::PROBLEMS_FREE.iter().map(|s| s.to_string()).collect(),
        },
        evolution: None,
    }
}
