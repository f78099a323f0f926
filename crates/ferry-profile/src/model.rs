//! The profile of a snapshot: what `ferry profile` computes and every report is written from.
//! Serialized as JSON (`reports/profile-NNNN.json`); field names are part of the format.

use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning.
pub const PROFILE_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotProfile {
    pub format: u32,
    pub ferry_version: String,
    pub snapshot: u64,
    pub snapshot_label: Option<String>,
    pub snapshot_content_sha256: String,
    pub options: ProfileSettings,
    pub tables: Vec<TableProfile>,
    /// Candidate foreign keys across all tables, strongest first.
    pub foreign_keys: Vec<ForeignKeyCandidate>,
    pub duration_ms: u64,
}

impl SnapshotProfile {
    /// Columns over all tables.
    pub fn column_count(&self) -> usize {
        self.tables.iter().map(|t| t.columns.len()).sum()
    }

    /// Columns labelled as likely PHI.
    pub fn phi_column_count(&self) -> usize {
        self.tables
            .iter()
            .flat_map(|t| &t.columns)
            .filter(|c| c.phi.is_some())
            .count()
    }
}

/// The options a profile was made with (recorded so a reader knows what was suppressed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSettings {
    /// Sample values and top values are included (false with `--no-samples`).
    pub samples: bool,
    /// Values seen fewer times than this are never shown (WhiteRabbit's small-cell rule);
    /// 0 disables suppression.
    pub small_count_threshold: u64,
    /// Distinct values are counted exactly up to this many per column, then estimated.
    pub exact_distinct_limit: u64,
    /// How many top values are kept per column.
    pub top_values: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableProfile {
    /// The staged table name (as in `ferry sql`).
    pub name: String,
    /// The name in the source, when it differs.
    pub source_name: String,
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
    /// Primary key as declared by the source (may be empty).
    pub declared_primary_key: Vec<String>,
    /// Single columns whose values are unique and never NULL or blank.
    pub candidate_keys: Vec<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    pub name: String,
    /// 0-based position in the table.
    pub ordinal: usize,
    pub declared_type: Option<String>,
    pub inferred_type: InferredType,
    pub non_null: u64,
    pub nulls: u64,
    /// Text that is empty or only whitespace.
    pub blanks: u64,
    pub distinct: Distinct,
    /// Minimum and maximum by the inferred type's order (dates as dates, numbers as numbers), as
    /// the text held. `None` when there are no values to order, or when suppressed: then
    /// `min_suppressed` / `max_suppressed` says why. A min or max is shown only when that exact
    /// text was seen at least `small_count_threshold` times, and never for a PHI column of a
    /// profile made with `--no-samples`.
    pub min: Option<String>,
    pub max: Option<String>,
    /// Why `min` is `None` although the column has a minimum (`None` when it is shown).
    #[serde(default)]
    pub min_suppressed: Option<Suppressed>,
    /// Why `max` is `None` although the column has a maximum (`None` when it is shown).
    #[serde(default)]
    pub max_suppressed: Option<Suppressed>,
    pub length: LengthStats,
    /// Most frequent values, most frequent first (empty with `--no-samples`; values under the
    /// small-count threshold are left out).
    pub top_values: Vec<ValueCount>,
    /// True when `top_values` counts are exact (false when estimated by a sketch).
    pub top_values_exact: bool,
    /// Detected formats with their counts and shares of the non-blank values, largest first.
    pub formats: Vec<FormatShare>,
    /// The likely kind of protected health information, if any.
    pub phi: Option<PhiKind>,
    /// A few example values (empty with `--no-samples`).
    pub samples: Vec<String>,
}

/// Why a value the profile computed is left out of it (so no report can show it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suppressed {
    /// A PHI column in a profile made with `--no-samples` (meant to leave the building).
    PhiColumn,
    /// The value was seen fewer than `small_count_threshold` times (small-cell suppression).
    SmallCount,
}

impl Suppressed {
    /// What a report prints in the value's place, e.g. `(suppressed: seen fewer than 5 times)`.
    pub fn note(self, settings: &ProfileSettings) -> String {
        match self {
            Suppressed::PhiColumn => "(suppressed: PHI column)".to_string(),
            Suppressed::SmallCount => format!(
                "(suppressed: seen fewer than {} times)",
                settings.small_count_threshold
            ),
        }
    }
}

impl ColumnProfile {
    /// The minimum as a report shows it: the value, the suppression note, or empty.
    pub fn min_display(&self, settings: &ProfileSettings) -> String {
        shown(self.min.as_deref(), self.min_suppressed, settings)
    }

    /// The maximum as a report shows it: the value, the suppression note, or empty.
    pub fn max_display(&self, settings: &ProfileSettings) -> String {
        shown(self.max.as_deref(), self.max_suppressed, settings)
    }
}

fn shown(value: Option<&str>, why: Option<Suppressed>, settings: &ProfileSettings) -> String {
    match (value, why) {
        (Some(v), _) => v.to_string(),
        (None, Some(why)) => why.note(settings),
        (None, None) => String::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InferredType {
    /// No non-blank values.
    Empty,
    Integer,
    Decimal,
    Date,
    DateTime,
    Time,
    Boolean,
    /// Identifiers or codes (e.g. ICD-10, LOINC, MRN): text with a code-like shape.
    Code,
    Text,
    Binary,
    /// No single type covers 95% of the non-blank values.
    Mixed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distinct {
    pub count: u64,
    /// Counted exactly (true) or estimated by a sketch (false).
    pub exact: bool,
    /// For an estimate: the relative standard error of the sketch (e.g. 0.0081).
    pub relative_error: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LengthStats {
    /// In characters for text, bytes for binary; over non-null values.
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormatShare {
    /// A stable name: `date:MM/DD/YYYY`, `date:YYYY-MM-DD`, `date:DD-Mon-YY`, `date:zero`,
    /// `integer`, `decimal`, `decimal:comma`, `code:icd10cm`, `code:icd9cm`, `code:loinc`,
    /// `code:cvx`, `code:ndc`, `code:snomedct`, `phone`, `email`, `postal:us`, `ssn`, `text`, ...
    pub format: String,
    pub count: u64,
    /// count / non-blank values.
    pub share: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhiKind {
    Name,
    BirthDate,
    /// Other dates tied to a person (visit, service dates): HIPAA identifiers too.
    Date,
    Ssn,
    Mrn,
    Address,
    PostalCode,
    Phone,
    Email,
    FreeText,
    OtherIdentifier,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForeignKeyCandidate {
    pub table: String,
    pub column: String,
    pub ref_table: String,
    pub ref_column: String,
    /// Non-null, non-blank values of `table.column`.
    pub values: u64,
    /// Of those, how many are found in `ref_table.ref_column`.
    pub matched: u64,
    /// matched / values.
    pub share: f64,
    /// values - matched: rows pointing at nothing.
    pub orphans: u64,
}
