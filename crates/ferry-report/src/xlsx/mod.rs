//! The data migration map workbook: written from a profile for reviewers to fill in, and read
//! back with their decisions.
//!
//! Sheets:
//!
//! - `overview`: snapshot, label, content hash, when it was written, the profile's settings
//!   (including small-count suppression), one row per table, candidate foreign keys;
//! - `columns`: one row per column with its statistics, then the decision columns reviewers fill
//!   in (highlighted; `decision` has a dropdown) and a `status` column (`new` for columns the
//!   previous decisions did not know);
//! - `vanished` (only when there are some): decided columns that are no longer in the profile,
//!   with their decisions, kept on import until a reviewer deletes the row;
//! - one sheet per table with the value frequencies of its columns;
//! - `ferry` (hidden): the format version, the snapshot, and every table and column the workbook
//!   was written for, so the import can check the reviewers' rows against it.

mod import;
mod write;

pub use import::import_migration_map;
pub use write::write_migration_map;

/// Bumped when the workbook layout changes.
pub const WORKBOOK_FORMAT: u32 = 1;

pub(crate) const SHEET_OVERVIEW: &str = "overview";
pub(crate) const SHEET_COLUMNS: &str = "columns";
pub(crate) const SHEET_VANISHED: &str = "vanished";
pub(crate) const SHEET_FERRY: &str = "ferry";

/// The header row of the `columns` sheet, in order.
pub const COLUMNS_HEADER: [&str; 19] = [
    "table",
    "column",
    "declared type",
    "inferred type",
    "PHI",
    "non-null",
    "nulls",
    "blanks",
    "distinct",
    "min",
    "max",
    "top formats",
    "top values",
    "decision",
    "target resource",
    "target field",
    "notes",
    "reviewer",
    "status",
];

/// Where the decision columns start on the `columns` sheet (0-based: `N`).
pub(crate) const COLUMNS_DECISION: u16 = 13;
pub(crate) const COLUMNS_STATUS: u16 = 18;

/// The header row of the `vanished` sheet, in order.
pub const VANISHED_HEADER: [&str; 8] = [
    "table",
    "column",
    "decision",
    "target resource",
    "target field",
    "notes",
    "reviewer",
    "status",
];

/// Where the decision columns start on the `vanished` sheet (0-based: `C`).
pub(crate) const VANISHED_DECISION: u16 = 2;

/// The header row of a table's sheet.
pub const TABLE_HEADER: [&str; 5] = ["column", "value", "count", "share of rows", "count exact"];

/// Rows of the hidden `ferry` sheet: keys in column A, values in column B.
pub(crate) const FERRY_TITLE: &str = "ferry migration map";
pub(crate) const FERRY_FORMAT_ROW: u32 = 1;
pub(crate) const FERRY_SNAPSHOT_ROW: u32 = 2;
/// The header of the list of (sheet, table, column) the workbook was written for.
pub(crate) const FERRY_LIST_HEADER_ROW: u32 = 4;
pub(crate) const FERRY_LIST_HEADER: [&str; 3] = ["sheet", "table", "column"];

/// Sheet names Ferry uses itself, and Excel's reserved `History`.
const RESERVED_SHEETS: [&str; 5] = [
    SHEET_OVERVIEW,
    SHEET_COLUMNS,
    SHEET_VANISHED,
    SHEET_FERRY,
    "history",
];

/// One sheet name per table, in order: characters Excel forbids removed, cut to 31 characters,
/// never a name Ferry uses itself, and unique (ignoring case) with a `~2`, `~3`... suffix.
pub fn table_sheet_names<'a>(tables: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut taken: std::collections::HashSet<String> =
        RESERVED_SHEETS.iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    for table in tables {
        let base = sanitize_sheet_name(table);
        let mut name = base.clone();
        let mut n = 2u64;
        while taken.contains(&name.to_lowercase()) {
            let suffix = format!("~{n}");
            let room = 31 - suffix.len();
            let mut stem = cut_utf16(&base, room);
            while stem.ends_with('\'') {
                stem.pop();
            }
            name = format!("{stem}{suffix}");
            n += 1;
        }
        taken.insert(name.to_lowercase());
        out.push(name);
    }
    out
}

fn sanitize_sheet_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !matches!(c, '*' | '?' | ':' | '[' | ']' | '\\' | '/') && !c.is_control())
        .collect();
    let mut s = cut_utf16(cleaned.trim().trim_matches('\''), 31);
    while s.ends_with('\'') || s.ends_with(' ') {
        s.pop();
    }
    if s.is_empty() { "table".to_string() } else { s }
}

fn cut_utf16(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for ch in s.chars() {
        if used + ch.len_utf16() > max {
            break;
        }
        used += ch.len_utf16();
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_follow_excel_rules() {
        let long = "a_very_long_table_name_that_goes_past_thirty_one";
        let names = table_sheet_names([
            "patients",
            "Patients",
            "lab/results[2]",
            "'quoted'",
            long,
            long,
            "columns",
            "",
            "***",
            "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
        ]);
        assert_eq!(names[0], "patients");
        assert_eq!(names[1], "Patients~2");
        assert_eq!(names[2], "labresults2");
        assert_eq!(names[3], "quoted");
        assert_eq!(names[4], "a_very_long_table_name_that_goe");
        assert_eq!(names[5], "a_very_long_table_name_that_g~2");
        assert_eq!(names[6], "columns~2");
        assert_eq!(names[7], "table");
        assert_eq!(names[8], "table~2");
        for n in &names {
            assert!(n.encode_utf16().count() <= 31, "{n}");
            assert!(!n.starts_with('\'') && !n.ends_with('\''), "{n}");
        }
        let lower: std::collections::HashSet<String> =
            names.iter().map(|n| n.to_lowercase()).collect();
        assert_eq!(lower.len(), names.len());
    }
}
