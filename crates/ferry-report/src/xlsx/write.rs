//! Writing the migration map workbook.

use std::collections::HashSet;
use std::path::Path;

use ferry_profile::model::{ColumnProfile, SnapshotProfile, TableProfile};
use rust_xlsxwriter::{
    Color, DataValidation, DataValidationErrorStyle, Format, FormatAlign, FormatBorder, Workbook,
    Worksheet, XlsxError,
};

use super::*;
use crate::ReportError;
use crate::decisions::{ColumnDecision, Decision, MigrationMap};
use crate::fsutil::{Contents, write_atomic};
use crate::text::{
    CELL_MAX, formats_summary, inferred_name, now_utc, phi_name, thousands, truncate_chars,
    truncate_utf16,
};

/// Excel's last row (0-based).
const MAX_ROW: usize = 1_048_575;
/// Top values shown in one cell of the `columns` sheet (the table's sheet has them all).
const TOP_VALUES_IN_CELL: usize = 10;
/// Characters of one value shown in the `columns` sheet.
const VALUE_CHARS_IN_CELL: usize = 60;

enum Error {
    Xlsx(XlsxError),
    Report(ReportError),
}

impl From<XlsxError> for Error {
    fn from(e: XlsxError) -> Self {
        Error::Xlsx(e)
    }
}

impl From<ReportError> for Error {
    fn from(e: ReportError) -> Self {
        Error::Report(e)
    }
}

struct Formats {
    title: Format,
    header: Format,
    decision_header: Format,
    decision: Format,
    decision_wrap: Format,
    key: Format,
    wrap: Format,
    percent: Format,
    count: Format,
    new_status: Format,
}

impl Formats {
    fn new() -> Self {
        let header = Format::new()
            .set_bold()
            .set_background_color(Color::RGB(0xD9D9D9))
            .set_border_bottom(FormatBorder::Thin)
            .set_align(FormatAlign::Top);
        // The columns reviewers fill in: yellow, and formatted as text so Excel keeps what is
        // typed (no dates or numbers made of it).
        let decision = Format::new()
            .set_background_color(Color::RGB(0xFFF2CC))
            .set_border(FormatBorder::Thin)
            .set_border_color(Color::RGB(0xBFBFBF))
            .set_num_format("@")
            .set_align(FormatAlign::Top);
        Formats {
            title: Format::new().set_bold().set_font_size(14),
            decision_header: header
                .clone()
                .set_background_color(Color::RGB(0xFFD966))
                .set_border(FormatBorder::Medium),
            header,
            decision_wrap: decision.clone().set_text_wrap(),
            decision,
            key: Format::new().set_bold().set_align(FormatAlign::Top),
            wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
            percent: Format::new().set_num_format("0.0%"),
            count: Format::new().set_num_format("#,##0"),
            new_status: Format::new()
                .set_bold()
                .set_font_color(Color::RGB(0x9C0006))
                .set_background_color(Color::RGB(0xFFC7CE))
                .set_border(FormatBorder::Thin)
                .set_border_color(Color::RGB(0xBFBFBF)),
        }
    }
}

/// Writes the migration map workbook to `path` (atomically: a temporary file renamed into place).
///
/// Decisions in `existing` are pre-filled, matched by table and column, so re-profiling a new
/// snapshot keeps the review. The `status` column says `new` for columns `existing` does not know
/// (left blank when `existing` knows no column at all, i.e. the first map), and a `vanished`
/// sheet lists the columns `existing` has a decision for that the profile no longer has.
pub fn write_migration_map(
    profile: &SnapshotProfile,
    existing: &MigrationMap,
    path: &Path,
) -> Result<(), ReportError> {
    let mut workbook = build(profile, existing).map_err(|e| to_report(e, path))?;
    let bytes = workbook
        .save_to_buffer()
        .map_err(|e| to_report(Error::Xlsx(e), path))?;
    write_atomic(path, Contents::Phi, |w| w.write_all(&bytes))
}

fn to_report(e: Error, path: &Path) -> ReportError {
    match e {
        Error::Xlsx(XlsxError::IoError(source)) => ReportError::io(path, source),
        Error::Xlsx(source) => ReportError::Xlsx {
            path: path.to_path_buf(),
            source,
        },
        Error::Report(r) => r,
    }
}

/// The columns the workbook lists on its `columns` sheet: each (table, column) once, in profile
/// order.
fn listed_columns(profile: &SnapshotProfile) -> Vec<(&TableProfile, &ColumnProfile)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for t in &profile.tables {
        for c in &t.columns {
            if seen.insert((t.name.as_str(), c.name.as_str())) {
                out.push((t, c));
            }
        }
    }
    out
}

fn vanished_columns<'a>(
    profile: &SnapshotProfile,
    existing: &'a MigrationMap,
) -> Vec<(&'a str, &'a str, &'a ColumnDecision)> {
    let present: HashSet<(&str, &str)> = profile
        .tables
        .iter()
        .flat_map(|t| {
            t.columns
                .iter()
                .map(move |c| (t.name.as_str(), c.name.as_str()))
        })
        .collect();
    let mut out = Vec::new();
    for (table, columns) in &existing.columns {
        for (column, d) in columns {
            if !d.is_empty() && !present.contains(&(table.as_str(), column.as_str())) {
                out.push((table.as_str(), column.as_str(), d));
            }
        }
    }
    out
}

fn build(profile: &SnapshotProfile, existing: &MigrationMap) -> Result<Workbook, Error> {
    let f = Formats::new();
    let mut wb = Workbook::new();
    let listed = listed_columns(profile);
    let vanished = vanished_columns(profile, existing);
    let sheet_names = table_sheet_names(profile.tables.iter().map(|t| t.name.as_str()));
    check_rows(SHEET_COLUMNS, listed.len() + 1)?;
    check_rows(SHEET_FERRY, listed.len() + vanished.len() + 6)?;

    overview(wb.add_worksheet(), profile, &sheet_names, &f)?;
    columns(wb.add_worksheet(), profile, existing, &listed, &f)?;
    if !vanished.is_empty() {
        vanished_sheet(wb.add_worksheet(), profile, existing, &vanished, &f)?;
    }
    for (table, name) in profile.tables.iter().zip(&sheet_names) {
        table_sheet(wb.add_worksheet(), table, name, profile, &f)?;
    }
    ferry_sheet(wb.add_worksheet(), profile, &listed, &vanished)?;
    if let Ok(ws) = wb.worksheet_from_name(SHEET_COLUMNS) {
        ws.set_active(true);
    }
    Ok(wb)
}

fn check_rows(sheet: &str, rows: usize) -> Result<(), Error> {
    if rows > MAX_ROW + 1 {
        return Err(ReportError::TooManyRows {
            sheet: sheet.to_string(),
            rows,
        }
        .into());
    }
    Ok(())
}

/// Always a string cell (never a formula, even for `=...`), cut to what a cell holds.
fn text(ws: &mut Worksheet, row: u32, col: u16, s: &str) -> Result<(), XlsxError> {
    if s.is_empty() {
        return Ok(());
    }
    ws.write_string(row, col, truncate_utf16(s, CELL_MAX))?;
    Ok(())
}

fn text_fmt(ws: &mut Worksheet, row: u32, col: u16, s: &str, f: &Format) -> Result<(), XlsxError> {
    if s.is_empty() {
        ws.write_blank(row, col, f)?;
    } else {
        ws.write_string_with_format(row, col, truncate_utf16(s, CELL_MAX), f)?;
    }
    Ok(())
}

fn count(ws: &mut Worksheet, row: u32, col: u16, n: u64, f: &Formats) -> Result<(), XlsxError> {
    ws.write_number_with_format(row, col, n as f64, &f.count)?;
    Ok(())
}

fn header(ws: &mut Worksheet, row: u32, titles: &[&str], f: &Format) -> Result<(), XlsxError> {
    for (i, t) in titles.iter().enumerate() {
        ws.write_string_with_format(row, i as u16, *t, f)?;
    }
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn suppression_text(profile: &SnapshotProfile) -> String {
    let t = profile.options.small_count_threshold;
    if t == 0 {
        "off: every value's count may be shown".to_string()
    } else {
        format!("values seen fewer than {t} times are never shown")
    }
}

fn overview(
    ws: &mut Worksheet,
    profile: &SnapshotProfile,
    sheet_names: &[String],
    f: &Formats,
) -> Result<(), Error> {
    ws.set_name(SHEET_OVERVIEW)?;
    ws.write_string_with_format(0, 0, "Ferry data migration map", &f.title)?;
    ws.write_string_with_format(
        1,
        0,
        "On the 'columns' sheet, fill in the yellow columns for each column of the legacy \
         database: decision (discrete / summary document / archive / skip), target resource, \
         target field, notes, reviewer. Sorting and filtering are fine; do not rename, add, \
         delete or reorder the header columns or the table and column names. Save as .xlsx and \
         run `ferry map import FILE.xlsx`.",
        &f.wrap,
    )?;
    ws.merge_range(1, 0, 1, 7, "", &f.wrap)?;
    ws.set_row_height(1, 48)?;

    let settings: Vec<(&str, String)> = vec![
        ("snapshot", profile.snapshot.to_string()),
        (
            "snapshot label",
            profile.snapshot_label.clone().unwrap_or_default(),
        ),
        (
            "snapshot content sha256",
            profile.snapshot_content_sha256.clone(),
        ),
        ("generated at (UTC)", now_utc()),
        ("ferry version", profile.ferry_version.clone()),
        ("profile format", profile.format.to_string()),
        (
            "samples and top values",
            yes_no(profile.options.samples).to_string(),
        ),
        ("small-count suppression", suppression_text(profile)),
        (
            "distinct counted exactly up to",
            thousands(profile.options.exact_distinct_limit),
        ),
        (
            "top values kept per column",
            profile.options.top_values.to_string(),
        ),
        ("profile took (ms)", profile.duration_ms.to_string()),
    ];
    let mut row = 3u32;
    for (k, v) in &settings {
        ws.write_string_with_format(row, 0, *k, &f.key)?;
        text(ws, row, 1, v)?;
        row += 1;
    }

    row += 1;
    header(
        ws,
        row,
        &[
            "table",
            "source name",
            "sheet",
            "rows",
            "columns",
            "declared primary key",
            "candidate keys",
            "PHI columns",
        ],
        &f.header,
    )?;
    row += 1;
    for (t, sheet) in profile.tables.iter().zip(sheet_names) {
        text(ws, row, 0, &t.name)?;
        if t.source_name != t.name {
            text(ws, row, 1, &t.source_name)?;
        }
        text(ws, row, 2, sheet)?;
        count(ws, row, 3, t.rows, f)?;
        count(ws, row, 4, t.columns.len() as u64, f)?;
        text(ws, row, 5, &t.declared_primary_key.join(", "))?;
        text(ws, row, 6, &t.candidate_keys.join(", "))?;
        let phi = t.columns.iter().filter(|c| c.phi.is_some()).count();
        count(ws, row, 7, phi as u64, f)?;
        row += 1;
    }

    row += 1;
    ws.write_string_with_format(row, 0, "Candidate foreign keys", &f.key)?;
    row += 1;
    header(
        ws,
        row,
        &[
            "table",
            "column",
            "references table",
            "references column",
            "values",
            "matched",
            "share matched",
            "orphans",
        ],
        &f.header,
    )?;
    row += 1;
    if profile.foreign_keys.is_empty() {
        ws.write_string(row, 0, "(none found)")?;
    }
    for fk in &profile.foreign_keys {
        text(ws, row, 0, &fk.table)?;
        text(ws, row, 1, &fk.column)?;
        text(ws, row, 2, &fk.ref_table)?;
        text(ws, row, 3, &fk.ref_column)?;
        count(ws, row, 4, fk.values, f)?;
        count(ws, row, 5, fk.matched, f)?;
        ws.write_number_with_format(row, 6, finite(fk.share), &f.percent)?;
        count(ws, row, 7, fk.orphans, f)?;
        row += 1;
    }
    for (col, width) in [28.0, 24.0, 24.0, 18.0, 12.0, 24.0, 24.0, 12.0]
        .into_iter()
        .enumerate()
    {
        ws.set_column_width(col as u16, width)?;
    }
    Ok(())
}

fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

/// The `top values` cell: `value (count); ...`, or why there are none.
fn top_values_summary(profile: &SnapshotProfile, c: &ColumnProfile) -> String {
    if !profile.options.samples {
        return "(not included: profiled with --no-samples)".to_string();
    }
    if c.top_values.is_empty() {
        if c.non_null == 0 {
            return String::new();
        }
        if profile.options.small_count_threshold > 0 {
            return format!(
                "(none seen at least {} times)",
                profile.options.small_count_threshold
            );
        }
        return String::new();
    }
    let approx = if c.top_values_exact { "" } else { "~" };
    let mut parts: Vec<String> = c
        .top_values
        .iter()
        .take(TOP_VALUES_IN_CELL)
        .map(|v| {
            let value = if v.value.is_empty() {
                "(empty text)".into()
            } else {
                truncate_chars(&v.value, VALUE_CHARS_IN_CELL)
            };
            format!("{value} ({approx}{})", v.count)
        })
        .collect();
    if c.top_values.len() > TOP_VALUES_IN_CELL {
        parts.push(format!(
            "… {} more on the table's sheet",
            c.top_values.len() - TOP_VALUES_IN_CELL
        ));
    }
    parts.join("; ")
}

/// A decision field as a cell: an error when it does not fit (it would be lost on import).
fn decision_text(
    table: &str,
    column: &str,
    field: &'static str,
    value: &Option<String>,
) -> Result<String, ReportError> {
    let v = value.clone().unwrap_or_default();
    let len = v.encode_utf16().count();
    if len > CELL_MAX {
        return Err(ReportError::CellTooLong {
            table: table.to_string(),
            column: column.to_string(),
            field,
            chars: v.chars().count(),
        });
    }
    Ok(v)
}

/// Writes the five decision cells of one row starting at `col`.
fn decision_cells(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    table: &str,
    column: &str,
    d: Option<&ColumnDecision>,
    f: &Formats,
) -> Result<(), Error> {
    let empty = ColumnDecision::default();
    let d = d.unwrap_or(&empty);
    let label = d.decision.map(Decision::label).unwrap_or("");
    text_fmt(ws, row, col, label, &f.decision)?;
    let fields = [
        ("target resource", &d.target_resource, &f.decision),
        ("target field", &d.target_field, &f.decision),
        ("notes", &d.notes, &f.decision_wrap),
        ("reviewer", &d.reviewer, &f.decision),
    ];
    for (i, (name, value, format)) in fields.into_iter().enumerate() {
        let v = decision_text(table, column, name, value)?;
        text_fmt(ws, row, col + 1 + i as u16, &v, format)?;
    }
    Ok(())
}

fn decision_validation(
    ws: &mut Worksheet,
    first_row: u32,
    last_row: u32,
    col: u16,
) -> Result<(), XlsxError> {
    let labels: Vec<&str> = Decision::ALL.iter().map(|d| d.label()).collect();
    let dv = DataValidation::new()
        .allow_list_strings(&labels)?
        .set_input_title("How is this column migrated?")?
        .set_input_message(
            "discrete: as discrete FHIR data\nsummary document: into a historical summary \
             document\narchive: kept in the legacy archive only\nskip: not migrated",
        )?
        .set_error_title("Not a migration decision")?
        .set_error_message("Choose discrete, summary document, archive or skip from the list.")?
        .set_error_style(DataValidationErrorStyle::Stop);
    ws.add_data_validation(first_row, col, last_row, col, &dv)?;
    Ok(())
}

fn columns(
    ws: &mut Worksheet,
    profile: &SnapshotProfile,
    existing: &MigrationMap,
    listed: &[(&TableProfile, &ColumnProfile)],
    f: &Formats,
) -> Result<(), Error> {
    ws.set_name(SHEET_COLUMNS)?;
    for (i, t) in COLUMNS_HEADER.iter().enumerate() {
        let col = i as u16;
        let format = if (COLUMNS_DECISION..COLUMNS_STATUS).contains(&col) {
            &f.decision_header
        } else {
            &f.header
        };
        ws.write_string_with_format(0, col, *t, format)?;
    }
    let first_map = existing.is_empty();
    for (i, (t, c)) in listed.iter().enumerate() {
        let row = (i + 1) as u32;
        text(ws, row, 0, &t.name)?;
        text(ws, row, 1, &c.name)?;
        text(ws, row, 2, c.declared_type.as_deref().unwrap_or(""))?;
        text(ws, row, 3, inferred_name(c.inferred_type))?;
        text(ws, row, 4, c.phi.map(phi_name).unwrap_or(""))?;
        count(ws, row, 5, c.non_null, f)?;
        count(ws, row, 6, c.nulls, f)?;
        count(ws, row, 7, c.blanks, f)?;
        if c.distinct.exact {
            count(ws, row, 8, c.distinct.count, f)?;
        } else {
            text(ws, row, 8, &format!("~{}", c.distinct.count))?;
        }
        text(ws, row, 9, &c.min_display(&profile.options))?;
        text(ws, row, 10, &c.max_display(&profile.options))?;
        text(ws, row, 11, &formats_summary(&c.formats))?;
        text(ws, row, 12, &top_values_summary(profile, c))?;
        let d = existing.get(&t.name, &c.name);
        decision_cells(ws, row, COLUMNS_DECISION, &t.name, &c.name, d, f)?;
        if d.is_none() && !first_map {
            ws.write_string_with_format(row, COLUMNS_STATUS, "new", &f.new_status)?;
        }
    }
    let last = listed.len() as u32;
    if last > 0 {
        decision_validation(ws, 1, last, COLUMNS_DECISION)?;
    }
    ws.set_freeze_panes(1, 2)?;
    ws.autofilter(0, 0, last, COLUMNS_STATUS)?;
    let widths = [
        18.0, 22.0, 14.0, 12.0, 12.0, 10.0, 9.0, 9.0, 10.0, 14.0, 14.0, 30.0, 40.0, 18.0, 18.0,
        18.0, 40.0, 14.0, 9.0,
    ];
    for (col, w) in widths.into_iter().enumerate() {
        ws.set_column_width(col as u16, w)?;
    }
    Ok(())
}

fn vanished_sheet(
    ws: &mut Worksheet,
    profile: &SnapshotProfile,
    existing: &MigrationMap,
    vanished: &[(&str, &str, &ColumnDecision)],
    f: &Formats,
) -> Result<(), Error> {
    ws.set_name(SHEET_VANISHED)?;
    for (i, t) in VANISHED_HEADER.iter().enumerate() {
        let col = i as u16;
        let format = if (VANISHED_DECISION..VANISHED_DECISION + 5).contains(&col) {
            &f.decision_header
        } else {
            &f.header
        };
        ws.write_string_with_format(0, col, *t, format)?;
    }
    let status = match existing.snapshot {
        Some(s) => format!(
            "not in snapshot {} (was in snapshot {s}); delete the row to drop the decision",
            profile.snapshot
        ),
        None => format!(
            "not in snapshot {}; delete the row to drop the decision",
            profile.snapshot
        ),
    };
    for (i, (table, column, d)) in vanished.iter().enumerate() {
        let row = (i + 1) as u32;
        text(ws, row, 0, table)?;
        text(ws, row, 1, column)?;
        decision_cells(ws, row, VANISHED_DECISION, table, column, Some(d), f)?;
        text(ws, row, VANISHED_DECISION + 5, &status)?;
    }
    let last = vanished.len() as u32;
    decision_validation(ws, 1, last, VANISHED_DECISION)?;
    ws.set_freeze_panes(1, 2)?;
    ws.autofilter(0, 0, last, VANISHED_DECISION + 5)?;
    for (col, w) in [18.0, 22.0, 18.0, 18.0, 18.0, 40.0, 14.0, 60.0]
        .into_iter()
        .enumerate()
    {
        ws.set_column_width(col as u16, w)?;
    }
    Ok(())
}

fn table_sheet(
    ws: &mut Worksheet,
    t: &TableProfile,
    name: &str,
    profile: &SnapshotProfile,
    f: &Formats,
) -> Result<(), Error> {
    ws.set_name(name)?;
    header(ws, 0, &TABLE_HEADER, &f.header)?;
    let mut row = 1usize;
    let rows = t.rows;
    let share = |n: u64| {
        if rows == 0 {
            0.0
        } else {
            n as f64 / rows as f64
        }
    };
    for c in &t.columns {
        // Per column: its top values, then NULLs and the rest, or why no values are shown.
        let mut lines: Vec<(String, Option<u64>, bool)> = Vec::new();
        for v in &c.top_values {
            lines.push((v.value.clone(), Some(v.count), c.top_values_exact));
        }
        if !profile.options.samples {
            lines.push((
                "(values not included: profiled with --no-samples)".to_string(),
                None,
                true,
            ));
        } else if c.top_values.is_empty() && c.non_null > 0 {
            let why = if profile.options.small_count_threshold > 0 {
                format!(
                    "(no value seen at least {} times)",
                    profile.options.small_count_threshold
                )
            } else {
                "(no values kept)".to_string()
            };
            lines.push((why, None, true));
        }
        if c.nulls > 0 {
            lines.push(("(NULL)".to_string(), Some(c.nulls), true));
        }
        let shown: u64 = c.top_values.iter().map(|v| v.count).sum::<u64>() + c.nulls;
        if profile.options.samples && !c.top_values.is_empty() && rows > shown {
            lines.push((
                "(all other values)".to_string(),
                Some(rows - shown),
                c.top_values_exact,
            ));
        }
        check_rows(name, row + lines.len())?;
        for (value, n, exact) in lines {
            let r = row as u32;
            text(ws, r, 0, &c.name)?;
            // An empty string is a real value: show it so it is not mistaken for a blank cell.
            if value.is_empty() {
                ws.write_string(r, 1, "(empty text)")?;
            } else {
                text(ws, r, 1, &value)?;
            }
            if let Some(n) = n {
                count(ws, r, 2, n, f)?;
                ws.write_number_with_format(r, 3, share(n), &f.percent)?;
                ws.write_string(r, 4, yes_no(exact))?;
            }
            row += 1;
        }
    }
    let last = (row.saturating_sub(1)) as u32;
    ws.set_freeze_panes(1, 0)?;
    ws.autofilter(0, 0, last, (TABLE_HEADER.len() - 1) as u16)?;
    for (col, w) in [22.0, 40.0, 12.0, 12.0, 11.0].into_iter().enumerate() {
        ws.set_column_width(col as u16, w)?;
    }
    Ok(())
}

fn ferry_sheet(
    ws: &mut Worksheet,
    profile: &SnapshotProfile,
    listed: &[(&TableProfile, &ColumnProfile)],
    vanished: &[(&str, &str, &ColumnDecision)],
) -> Result<(), Error> {
    ws.set_name(SHEET_FERRY)?;
    ws.set_hidden(true);
    ws.write_string(0, 0, FERRY_TITLE)?;
    ws.write_string(
        0,
        1,
        "Written by ferry; `ferry map import` checks the workbook against this sheet. Do not edit.",
    )?;
    ws.write_string(FERRY_FORMAT_ROW, 0, "format")?;
    ws.write_string(FERRY_FORMAT_ROW, 1, WORKBOOK_FORMAT.to_string())?;
    ws.write_string(FERRY_SNAPSHOT_ROW, 0, "snapshot")?;
    ws.write_string(FERRY_SNAPSHOT_ROW, 1, profile.snapshot.to_string())?;
    for (i, h) in FERRY_LIST_HEADER.iter().enumerate() {
        ws.write_string(FERRY_LIST_HEADER_ROW, i as u16, *h)?;
    }
    let mut row = FERRY_LIST_HEADER_ROW + 1;
    for (t, c) in listed {
        ws.write_string(row, 0, SHEET_COLUMNS)?;
        ws.write_string(row, 1, truncate_utf16(&t.name, CELL_MAX))?;
        ws.write_string(row, 2, truncate_utf16(&c.name, CELL_MAX))?;
        row += 1;
    }
    for (t, c, _) in vanished {
        ws.write_string(row, 0, SHEET_VANISHED)?;
        ws.write_string(row, 1, truncate_utf16(t, CELL_MAX))?;
        ws.write_string(row, 2, truncate_utf16(c, CELL_MAX))?;
        row += 1;
    }
    Ok(())
}
