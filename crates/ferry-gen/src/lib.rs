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

use crate::r#gen::{Defects, Emit, World};
use crate::schema::{
    TABLES, TRIGGER_BODY, TRIGGER_NAME, TRIGGER_TABLE, VIEW_COLS, VIEW_NAME, VIEW_SELECT,
};
use crate::writer::{ColStats, CsvOut, DATE_SHAPE_NAMES, Row, SqlOut, TableDef, Ty, io_err};

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
    stats: Vec<ColStats>,
    rows: u64,
    bytes: Rc<StdCell<u64>>,
    reported: u64,
    on_event: &'a mut (dyn FnMut(GenEvent<'_>) + 'b),
}

const REPORT_EVERY: u64 = 8 << 20;

impl Emit for Pass<'_, '_> {
    fn row(&mut self) -> &mut Row {
        &mut self.row
    }
    fn rows(&self) -> u64 {
        self.rows
    }
    fn emit(&mut self) -> Result<(), GenError> {
        if let Some(sql) = self.sql.as_deref_mut() {
            sql.row(self.def, &self.row)?;
        }
        if let Some(csv) = self.csv.as_mut() {
            csv.row(self.def, &self.row)?;
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

fn dump_completed(seed: u64) -> String {
    // Deterministic: derived from the seed, never from the clock.
    let day = 1 + seed % 28;
    let secs = (seed / 28) % 86_400;
    format!(
        "2026-02-{:02} {:02}:{:02}:{:02}",
        day,
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

fn write_trailer(sql: &mut SqlOut, seed: u64) -> Result<(), GenError> {
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
         -- Dump completed on {}\n",
        dump_completed(seed)
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
    let world = World::new(cfg.seed, cfg.patients);
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
        let mut pass = Pass {
            def,
            row: Row::default(),
            sql: sql.as_mut(),
            csv,
            stats: vec![ColStats::default(); def.cols.len()],
            rows: 0,
            bytes: bytes.clone(),
            reported: bytes.get(),
            on_event: &mut *on_event,
        };
        r#gen::generate_table(&world, def, &mut pass, &mut defects)?;
        let Pass {
            rows, stats, csv, ..
        } = pass;
        if rows != expected {
            // Internal consistency: the counting pre-pass and the writer must agree.
            return Err(GenError::Config(format!(
                "internal error: table {} wrote {rows} rows but {expected} were planned; please report this",
                def.name
            )));
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
            write_trailer(&mut s, cfg.seed)?;
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
                dump_completed: dump_completed(cfg.seed),
            })
        }
        None => None,
    };
    on_event(GenEvent::Bytes(bytes.get()));

    let manifest = build_manifest(cfg, tables, files, sql_manifest, defects, columns);
    let mpath = cfg.out_dir.join("manifest.json");
    let f = writer::create(&mpath)?;
    let mut w = std::io::BufWriter::new(f);
    serde_json::to_writer_pretty(&mut w, &manifest)
        .map_err(std::io::Error::from)
        .and_then(|()| w.write_all(b"\n"))
        .and_then(|()| w.flush())
        .map_err(|e| io_err(&mpath, e))?;
    Ok(manifest)
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
    }
}
