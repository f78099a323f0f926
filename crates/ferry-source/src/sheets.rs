//! Spreadsheet reader: Excel `.xlsx` / `.xlsm` / `.xlsb` / `.xls` and OpenDocument `.ods`
//! workbooks, read with `calamine`. Each worksheet is one table.
//!
//! - **Tables.** A workbook of one worksheet is one table named after the file stem (as a
//!   delimited file is); a workbook of several gives one table per worksheet, named after the
//!   sheet. Chart, dialog and macro sheets are skipped with a [`NoteKind::SkippedObject`] note, as
//!   are empty worksheets. Hidden sheets are staged, with a note. Names that clash are suffixed by
//!   the store, with a warning.
//! - **Header.** Detected: the first non-empty row is the header when its non-empty cells are all
//!   text and distinct (ignoring case); otherwise columns are `c1..cN`. Or given: a 1-based row
//!   ([`Header::Row`]; the rows above it are left out, with a note) or none ([`Header::Absent`]).
//!   Empty or repeated header names are made unique as for delimited text (`column_N`, `name_2`).
//! - **Extent.** Columns run from the first to the last column holding a value in the header or
//!   below; rows to the last row holding a value. Empty rows are skipped (as blank lines in delimited
//!   text), counted in one note. Leading empty columns are left out, with a note.
//! - **Values** are text, as the sheet shows them, with a note for every kind of rendering:
//!   a text cell verbatim (leading zeros and long digit strings stay); an empty cell is empty
//!   text (a spreadsheet has no NULL, like CSV); a number as the shortest decimal that reads back
//!   to the same 64-bit float, never in exponent form (`12345678901234`, `0.1`); a boolean
//!   `TRUE`/`FALSE`; an error cell its code (`#DIV/0!`, a warning); a formula cell its cached
//!   value (a note per column with the count, and a warning when a formula has no cached value);
//!   a merged range its value in the top-left cell only (a note per range).
//! - **Dates.** A number in a date format is rendered in ISO 8601 from its serial and the
//!   workbook's date system (1900: day 1 is 1900-01-01 and serial 60 Excel's non-existent
//!   1900-02-29; 1904: day 0 is 1904-01-01), to the millisecond (Excel's own precision): per
//!   column `YYYY-MM-DD` when no cell of the column has a time of day, else
//!   `YYYY-MM-DD HH:MM:SS` (`.fff` when a cell has milliseconds), `HH:MM:SS` when every cell of
//!   the column is a time of day (serial below 1). Durations are `H:MM:SS` (total hours).
//!   The serial is recoverable from the text: days since 1899-12-30 (after 1900-02-28; since
//!   1899-12-31 before), plus milliseconds / 86,400,000. A note per column records the count and the
//!   date system. A serial outside the calendar, or 60 in the 1900 system, is staged as the
//!   number, with a warning. OpenDocument stores dates as ISO 8601 text: staged as written, the
//!   `T` between date and time replaced by a space (so both formats give the same text), noted.
//!
//! Memory: calamine loads one worksheet's cells at a time (a `Range` of the sheet's used
//! rectangle, plus the workbook's shared strings); rows are streamed to the sink from it.

use crate::SourceError;
use calamine::{Data, Dimensions, Range, Reader, SheetType, SheetVisible, Sheets};
use ferry_core::calendar::civil_from_days;
use ferry_core::{ColumnDef, Note, NoteKind, Origin, Sink, TableDef, Value};
use std::collections::HashSet;
use std::io::{Read, Seek};
use std::path::Path;

/// Where the header row of every sheet is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Header {
    /// The first non-empty row when its non-empty cells are distinct text, else none.
    #[default]
    Detect,
    /// This 1-based row (the rows above it are left out).
    Row(u32),
    /// No header: columns are `c1..cN`.
    Absent,
}

/// Options of the spreadsheet reader.
#[derive(Debug, Clone, Default)]
pub struct SheetOptions {
    pub header: Header,
}

/// Notes of one kind per sheet before they are summed up in one.
const MAX_NOTES: u64 = 100;
const MS_PER_DAY: i64 = 86_400_000;
/// A serial whose time is farther than this from a whole millisecond (in ms) is counted as
/// rounded: Excel writes serials with 15 to 17 significant digits, so a few microseconds of
/// noise are representation, not data.
const ROUNDING_TOLERANCE_MS: f64 = 0.05;

/// What was read from one workbook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SheetsReport {
    /// The tables staged, in workbook order.
    pub tables: Vec<String>,
    pub rows: u64,
}

/// Reads every worksheet of the workbook at `path` into `sink`. `file` names it in notes and errors.
pub fn read_file(
    path: &Path,
    file: &str,
    options: &SheetOptions,
    sink: &mut dyn Sink,
) -> Result<SheetsReport, SourceError> {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let stem = stem_of(path);
    let opened = std::fs::File::open(path).map_err(|e| SourceError::io(file, e))?;
    let reader = std::io::BufReader::new(opened);
    let workbook = open(reader, &name, file)?;
    read_workbook(workbook, file, &stem, options, sink)
}

/// Reads a workbook held in memory (tests, fuzzing); the format is told from its bytes.
pub fn read_slice(
    data: &[u8],
    file: &str,
    options: &SheetOptions,
    sink: &mut dyn Sink,
) -> Result<SheetsReport, SourceError> {
    let workbook = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(data))
        .map_err(|e| workbook_error(file, &e))?;
    let stem = stem_of(Path::new(file));
    read_workbook(workbook, file, &stem, options, sink)
}

fn stem_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "sheet".to_string())
}

fn open<RS: Read + Seek>(reader: RS, name: &str, file: &str) -> Result<Sheets<RS>, SourceError> {
    use calamine::open_workbook_from_rs as from;
    let wb = if name.ends_with(".xls") {
        from(reader).map(Sheets::Xls).map_err(calamine::Error::Xls)
    } else if name.ends_with(".xlsb") {
        from(reader)
            .map(Sheets::Xlsb)
            .map_err(calamine::Error::Xlsb)
    } else if name.ends_with(".ods") {
        from(reader).map(Sheets::Ods).map_err(calamine::Error::Ods)
    } else {
        from(reader)
            .map(Sheets::Xlsx)
            .map_err(calamine::Error::Xlsx)
    };
    wb.map_err(|e| workbook_error(file, &e))
}

fn is_password_error(err: &calamine::Error) -> bool {
    matches!(
        err,
        calamine::Error::Xlsx(calamine::XlsxError::Password)
            | calamine::Error::Xls(calamine::XlsError::Password)
    )
}

/// A workbook that cannot be opened: password-protected (refused, with what to do) or damaged.
fn workbook_error(file: &str, err: &calamine::Error) -> SourceError {
    let message = if is_password_error(err) {
        "the workbook is password-protected (encrypted); Ferry does not decrypt workbooks. Open it \
         with its password in Excel or LibreOffice, save an unprotected copy (kept as protected as \
         the original), and stage that copy"
            .to_string()
    } else {
        format!(
            "cannot read the workbook ({err}); the file may be damaged, truncated, or not the kind \
             of workbook its name says. Copy it again from the source, or open it in Excel or \
             LibreOffice and save it again as .xlsx"
        )
    };
    SourceError::Workbook {
        file: file.to_string(),
        sheet: None,
        message,
    }
}

fn sheet_error(file: &str, sheet: &str, message: String) -> SourceError {
    SourceError::Workbook {
        file: file.to_string(),
        sheet: Some(sheet.to_string()),
        message,
    }
}

fn read_workbook<RS: Read + Seek>(
    mut wb: Sheets<RS>,
    file: &str,
    stem: &str,
    options: &SheetOptions,
    sink: &mut dyn Sink,
) -> Result<SheetsReport, SourceError> {
    let is_1904 = match &wb {
        Sheets::Xlsx(x) => x.has_1904_epoch(),
        Sheets::Xls(x) => x.has_1904_epoch(),
        _ => false,
    };
    let sheets = wb.sheets_metadata().to_vec();
    let worksheets = sheets
        .iter()
        .filter(|s| s.typ == SheetType::WorkSheet)
        .count();
    let mut report = SheetsReport::default();
    for (index, sheet) in sheets.iter().enumerate() {
        if sheet.typ != SheetType::WorkSheet {
            let kind = match sheet.typ {
                SheetType::ChartSheet => "chart sheet",
                SheetType::DialogSheet => "dialog sheet",
                SheetType::MacroSheet => "macro sheet",
                _ => "VBA module",
            };
            sink.note(Note::new(
                NoteKind::SkippedObject,
                file,
                format!("{kind} `{}` skipped: not table data", sheet.name),
            ))?;
            continue;
        }
        let range = wb.worksheet_range(&sheet.name).map_err(|e| {
            if is_password_error(&e) {
                workbook_error(file, &e)
            } else {
                sheet_error(
                    file,
                    &sheet.name,
                    format!(
                        "cannot read the sheet ({e}); the workbook may be damaged: open it in \
                         Excel or LibreOffice and save it again"
                    ),
                )
            }
        })?;
        let formulas = wb.worksheet_formula(&sheet.name).unwrap_or_default();
        let merges = match &mut wb {
            Sheets::Xlsx(x) => x.merge_cells_by_sheet_name(&sheet.name).unwrap_or_default(),
            Sheets::Xls(x) => x.merge_cells_by_sheet_name(&sheet.name).unwrap_or_default(),
            _ => Vec::new(),
        };
        let table = if worksheets == 1 {
            stem.to_string()
        } else if sheet.name.is_empty() {
            format!("sheet_{}", index + 1)
        } else {
            sheet.name.clone()
        };
        let ctx = SheetCtx {
            file,
            sheet: &sheet.name,
            table: &table,
            is_1904,
            single: worksheets == 1,
            hidden: sheet.visible != SheetVisible::Visible,
        };
        if let Some(rows) = read_sheet(&ctx, &range, &formulas, &merges, options, sink)? {
            report.tables.push(table);
            report.rows += rows;
        }
    }
    if worksheets == 0 {
        return Err(SourceError::Workbook {
            file: file.to_string(),
            sheet: None,
            message: "the workbook holds no worksheet (only charts or macros); nothing to stage"
                .into(),
        });
    }
    Ok(report)
}

struct SheetCtx<'a> {
    file: &'a str,
    sheet: &'a str,
    table: &'a str,
    is_1904: bool,
    /// The workbook's only worksheet (the table is named after the file).
    single: bool,
    hidden: bool,
}

/// `A`, `B`, ..., `Z`, `AA` ... for a 0-based column.
pub fn column_letters(col: u32) -> String {
    let mut n = u64::from(col) + 1;
    let mut out = Vec::new();
    while n > 0 {
        let r = ((n - 1) % 26) as u8;
        out.push(b'A' + r);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// `A12` for 0-based (row, column).
pub fn cell_ref(row: u32, col: u32) -> String {
    format!("{}{}", column_letters(col), u64::from(row) + 1)
}

fn is_blank(d: &Data) -> bool {
    match d {
        Data::Empty => true,
        Data::String(s) => s.is_empty(),
        _ => false,
    }
}

/// How date cells of one column are rendered (from every date cell of the column).
#[derive(Debug, Clone, Copy, Default)]
struct DateMode {
    cells: u64,
    with_time: bool,
    with_millis: bool,
    /// Every date cell's serial is below 1 (a time of day).
    time_only: bool,
}

/// Per-column counts for the notes.
#[derive(Debug, Default, Clone)]
struct ColumnTally {
    formulas: u64,
    first_formula: Option<(u32, u32)>,
    uncached: u64,
    first_uncached: Option<(u32, u32)>,
    errors: u64,
    first_error: Option<(u32, u32)>,
    bools: u64,
    numbers: u64,
    precise: u64,
    dates: u64,
    durations: u64,
    rounded: u64,
    off_calendar: u64,
    first_off_calendar: Option<(u32, u32)>,
    iso_dates: u64,
    iso_durations: u64,
}

fn first(slot: &mut Option<(u32, u32)>, pos: (u32, u32)) {
    slot.get_or_insert(pos);
}

/// A serial's calendar parts: (days since the epoch's day 0 as a civil date, ms of the day), and
/// whether rounding to the millisecond moved it by more than [`ROUNDING_TOLERANCE_MS`].
/// `None` when it is outside the calendar (negative, past 9999-12-31, or 1900's day 60).
fn serial_parts(serial: f64, is_1904: bool) -> Option<((i32, u8, u8), i64, bool)> {
    if !serial.is_finite() || serial < 0.0 {
        return None;
    }
    let exact = serial * MS_PER_DAY as f64;
    let total = exact.round();
    if total > 2_958_466.0 * MS_PER_DAY as f64 {
        return None;
    }
    let rounded = (exact - total).abs() > ROUNDING_TOLERANCE_MS;
    let total = total as i64;
    let days = total.div_euclid(MS_PER_DAY);
    let ms = total.rem_euclid(MS_PER_DAY);
    let civil = if is_1904 {
        ferry_core::calendar::days_from_civil(1904, 1, 1) + days
    } else if days < 60 {
        ferry_core::calendar::days_from_civil(1899, 12, 31) + days
    } else if days == 60 {
        return None;
    } else {
        ferry_core::calendar::days_from_civil(1899, 12, 30) + days
    };
    let (y, m, d) = civil_from_days(civil);
    if y > 9999 {
        return None;
    }
    Some(((y, m, d), ms, rounded))
}

fn push_time(out: &mut String, ms: i64, millis: bool) {
    let secs = ms / 1000;
    out.push_str(&format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    ));
    if millis {
        out.push_str(&format!(".{:03}", ms % 1000));
    }
}

fn render_date(serial: f64, is_1904: bool, mode: DateMode) -> Option<(String, bool)> {
    let ((y, m, d), ms, rounded) = serial_parts(serial, is_1904)?;
    let mut out = String::new();
    if mode.time_only {
        push_time(&mut out, ms, mode.with_millis);
        return Some((out, rounded));
    }
    out.push_str(&format!("{y:04}-{m:02}-{d:02}"));
    if mode.with_time {
        out.push(' ');
        push_time(&mut out, ms, mode.with_millis);
    }
    Some((out, rounded))
}

fn render_duration(serial: f64) -> Option<String> {
    if !serial.is_finite() || serial.abs() > 1e9 {
        return None;
    }
    let total = (serial * MS_PER_DAY as f64).round() as i64;
    let sign = if total < 0 { "-" } else { "" };
    let t = total.abs();
    let secs = t / 1000;
    let mut out = format!(
        "{sign}{}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    if t % 1000 != 0 {
        out.push_str(&format!(".{:03}", t % 1000));
    }
    Some(out)
}

/// The shortest decimal that reads back to `x`, never in exponent form (`0` for `-0`).
pub fn render_number(x: f64) -> String {
    if x == 0.0 {
        return "0".to_string();
    }
    format!("{x}")
}

/// Significant digits of a rendered number.
fn significant_digits(text: &str) -> usize {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let trimmed = digits.trim_start_matches('0');
    if text.contains('.') {
        trimmed.len()
    } else {
        trimmed.trim_end_matches('0').len()
    }
}

/// The date mode of each column (`cols` absolute indices), over the given rows.
fn date_modes(range: &Range<Data>, rows: &[u32], cols: &[u32], is_1904: bool) -> Vec<DateMode> {
    let mut modes = vec![DateMode::default(); cols.len()];
    for (i, &c) in cols.iter().enumerate() {
        let mode = &mut modes[i];
        let mut all_time = true;
        for &r in rows {
            if let Some(Data::DateTime(dt)) = range.get_value((r, c))
                && dt.is_datetime()
            {
                let serial = dt.as_f64();
                if let Some((_, ms, _)) = serial_parts(serial, is_1904) {
                    mode.cells += 1;
                    mode.with_time |= ms != 0;
                    mode.with_millis |= ms % 1000 != 0;
                    all_time &= serial < 1.0;
                }
            }
        }
        mode.time_only = mode.cells > 0 && all_time;
    }
    modes
}

/// Reads one worksheet; `None` when it was skipped (empty).
fn read_sheet(
    ctx: &SheetCtx<'_>,
    range: &Range<Data>,
    formulas: &Range<String>,
    merges: &[Dimensions],
    options: &SheetOptions,
    sink: &mut dyn Sink,
) -> Result<Option<u64>, SourceError> {
    let file = ctx.file;
    let table = ctx.table;
    // The used rectangle: rows and columns holding a value.
    let mut last_row: Option<u32> = None;
    let mut first_col: Option<u32> = None;
    let mut last_col: Option<u32> = None;
    let mut nonempty_rows: Vec<u32> = Vec::new();
    if let (Some(start), Some(end)) = (range.start(), range.end()) {
        for r in start.0..=end.0 {
            let mut any = false;
            for c in start.1..=end.1 {
                if let Some(d) = range.get_value((r, c))
                    && !is_blank(d)
                {
                    any = true;
                    first_col = Some(first_col.map_or(c, |f| f.min(c)));
                    last_col = Some(last_col.map_or(c, |l| l.max(c)));
                }
            }
            if any {
                last_row = Some(r);
                nonempty_rows.push(r);
            }
        }
    }
    let (Some(last_row), Some(mut first_col), Some(last_col)) = (last_row, first_col, last_col)
    else {
        if let Header::Row(n) = options.header {
            return Err(sheet_error(
                file,
                ctx.sheet,
                format!(
                    "the sheet is empty, so row {n} cannot be its header; leave --header-row out \
                     or stage the workbooks that need it separately"
                ),
            ));
        }
        sink.note(
            Note::new(
                NoteKind::SkippedObject,
                file,
                format!("sheet `{}` skipped: it holds no value", ctx.sheet),
            )
            .in_table(table),
        )?;
        return Ok(None);
    };

    // The header row (0-based), if any, and the rows of data.
    let header_row: Option<u32> = match options.header {
        Header::Absent => None,
        Header::Row(n) => {
            let r = n.saturating_sub(1);
            if n == 0 || r > last_row {
                return Err(sheet_error(
                    file,
                    ctx.sheet,
                    format!(
                        "--header-row {n}: the sheet's last row holding a value is {}; give a \
                         row between 1 and {}",
                        last_row + 1,
                        last_row + 1
                    ),
                ));
            }
            if !nonempty_rows.contains(&r) {
                return Err(sheet_error(
                    file,
                    ctx.sheet,
                    format!(
                        "--header-row {n}: row {n} is empty, so it cannot hold the column names; \
                         give the row that does"
                    ),
                ));
            }
            Some(r)
        }
        Header::Detect => {
            let r = nonempty_rows[0];
            let mut seen = HashSet::new();
            let mut header = true;
            for c in first_col..=last_col {
                match range.get_value((r, c)) {
                    Some(d) if is_blank(d) => {}
                    None => {}
                    Some(Data::String(s)) => header &= seen.insert(s.to_lowercase()),
                    Some(_) => header = false,
                }
            }
            header.then_some(r)
        }
    };
    // With a given header row, columns to its left that hold data are kept.
    let data_rows: Vec<u32> = nonempty_rows
        .iter()
        .copied()
        .filter(|&r| header_row.is_none_or(|h| r > h))
        .collect();
    // Columns: from the first to the last holding a value in the header or below.
    let lowest = header_row.unwrap_or(0);
    let mut used_first: Option<u32> = None;
    let mut used_last: Option<u32> = None;
    for &r in nonempty_rows.iter().filter(|&&r| r >= lowest) {
        for c in first_col..=last_col {
            if range.get_value((r, c)).is_some_and(|d| !is_blank(d)) {
                used_first = Some(used_first.map_or(c, |f| f.min(c)));
                used_last = Some(used_last.map_or(c, |l| l.max(c)));
            }
        }
    }
    first_col = used_first.unwrap_or(first_col);
    let last_col = used_last.unwrap_or(last_col);
    let cols: Vec<u32> = (first_col..=last_col).collect();

    let raw_names: Vec<String> = match header_row {
        Some(h) => cols
            .iter()
            .map(|&c| match range.get_value((h, c)) {
                Some(Data::String(s)) => s.clone(),
                Some(Data::Empty) | None => String::new(),
                Some(other) => other.to_string(),
            })
            .collect(),
        None => (1..=cols.len()).map(|i| format!("c{i}")).collect(),
    };
    let (names, renamed) = crate::delimited::shape::unique_names(raw_names);
    let origin_row = header_row.unwrap_or_else(|| data_rows.first().copied().unwrap_or(0));
    let def = TableDef::new(
        table,
        names
            .iter()
            .map(|n| ColumnDef::new(n.clone(), None))
            .collect(),
        Origin {
            file: file.to_string(),
            line: u64::from(origin_row) + 1,
        },
    );
    let id = sink.table(def)?;

    // What was decided about the sheet, on record.
    let header_text = match (options.header, header_row) {
        (Header::Row(n), _) => format!("row {n} is the header (as asked)"),
        (Header::Absent, _) => "no header row (as asked), columns named c1..cN".to_string(),
        (Header::Detect, Some(h)) => format!(
            "row {} is the header (detected: the first non-empty row, its cells distinct text)",
            h + 1
        ),
        (Header::Detect, None) => format!(
            "no header row detected (row {} holds a number, date, repeated or other non-text \
             cell), columns named c1..cN; give --header-row to name the header row",
            nonempty_rows[0] + 1
        ),
    };
    let name_text = if ctx.single {
        format!(
            "the workbook's only worksheet `{}` is staged as table `{table}` (named after the file)",
            ctx.sheet
        )
    } else {
        format!("worksheet `{}`", ctx.sheet)
    };
    let extent = format!(
        "{}:{}",
        cell_ref(lowest.max(nonempty_rows[0]), first_col),
        cell_ref(last_row, last_col)
    );
    sink.note(
        Note::new(
            NoteKind::Detected,
            file,
            format!(
                "read as a spreadsheet: {name_text}{}, cells {extent}, {header_text}; \
                 {} date system",
                if ctx.hidden { " (a hidden sheet)" } else { "" },
                if ctx.is_1904 { "1904" } else { "1900" }
            ),
        )
        .at_line(u64::from(origin_row) + 1)
        .in_table(table),
    )?;
    for r in renamed {
        sink.note(
            Note::new(
                NoteKind::Warning,
                file,
                format!(
                    "column {} (sheet column {}) has an {}; named `{}`",
                    r.position,
                    column_letters(first_col + r.position as u32 - 1),
                    r.reason,
                    r.name
                ),
            )
            .at_line(u64::from(origin_row) + 1)
            .in_table(table)
            .in_column(r.name.clone()),
        )?;
    }
    if first_col > 0 {
        sink.note(
            Note::new(
                NoteKind::Detected,
                file,
                format!(
                    "sheet columns A to {} hold no value and were left out",
                    column_letters(first_col - 1)
                ),
            )
            .in_table(table),
        )?;
    }
    if let Some(h) = header_row {
        let above = nonempty_rows.iter().filter(|&&r| r < h).count();
        if above > 0 {
            sink.note(
                Note::new(
                    NoteKind::Warning,
                    file,
                    format!(
                        "{above} non-empty row(s) above the header row {} were left out",
                        h + 1
                    ),
                )
                .in_table(table),
            )?;
        }
        // Header cells that are not text were named by their value's text.
        for (i, &c) in cols.iter().enumerate() {
            if let Some(d) = range.get_value((h, c))
                && !matches!(d, Data::String(_) | Data::Empty)
            {
                sink.note(
                    Note::new(
                        NoteKind::Warning,
                        file,
                        format!(
                            "header cell {} is not text; the column is named by what it holds",
                            cell_ref(h, c)
                        ),
                    )
                    .in_table(table)
                    .in_column(names[i].clone()),
                )?;
            }
        }
    }
    let first_data = data_rows.first().copied();
    let span_rows = match (header_row, first_data) {
        (Some(h), _) => last_row.saturating_sub(h),
        (None, Some(f)) => last_row - f + 1,
        (None, None) => 0,
    };
    let empty_rows = u64::from(span_rows).saturating_sub(data_rows.len() as u64);
    if empty_rows > 0 {
        sink.note(
            Note::new(
                NoteKind::Detected,
                file,
                format!("{empty_rows} empty row(s) between the data rows were skipped"),
            )
            .in_table(table),
        )?;
    }
    // Merged ranges inside the table.
    let mut merge_notes = 0u64;
    for m in merges {
        let (r0, c0) = m.start;
        let (r1, c1) = m.end;
        if r1 < lowest || c1 < first_col || c0 > last_col || (r0, c0) == (r1, c1) {
            continue;
        }
        merge_notes += 1;
        if merge_notes <= MAX_NOTES {
            sink.note(
                Note::new(
                    NoteKind::Detected,
                    file,
                    format!(
                        "cells {}:{} are merged: the value is in {} only, the other cells are \
                         staged empty",
                        cell_ref(r0, c0),
                        cell_ref(r1, c1),
                        cell_ref(r0, c0)
                    ),
                )
                .at_line(u64::from(r0) + 1)
                .in_table(table),
            )?;
        }
    }
    if merge_notes > MAX_NOTES {
        sink.note(
            Note::new(
                NoteKind::Detected,
                file,
                format!(
                    "{merge_notes} merged ranges in all (only the first {MAX_NOTES} have their \
                     own note); each keeps its value in its top-left cell only"
                ),
            )
            .in_table(table),
        )?;
    }

    let modes = date_modes(range, &data_rows, &cols, ctx.is_1904);
    let mut tallies = vec![ColumnTally::default(); cols.len()];
    let mut rows = 0u64;
    for &r in &data_rows {
        let mut values = Vec::with_capacity(cols.len());
        for (i, &c) in cols.iter().enumerate() {
            let t = &mut tallies[i];
            let has_formula = formulas.get_value((r, c)).is_some_and(|f| !f.is_empty());
            let cell = range.get_value((r, c)).unwrap_or(&Data::Empty);
            if has_formula {
                t.formulas += 1;
                first(&mut t.first_formula, (r, c));
                if matches!(cell, Data::Empty) {
                    t.uncached += 1;
                    first(&mut t.first_uncached, (r, c));
                }
            }
            let text = match cell {
                Data::Empty => String::new(),
                Data::String(s) => s.clone(),
                Data::Float(x) => {
                    t.numbers += 1;
                    let s = render_number(*x);
                    if significant_digits(&s) > 15 {
                        t.precise += 1;
                    }
                    s
                }
                Data::Int(n) => {
                    t.numbers += 1;
                    n.to_string()
                }
                Data::Bool(b) => {
                    t.bools += 1;
                    if *b { "TRUE" } else { "FALSE" }.to_string()
                }
                Data::Error(e) => {
                    t.errors += 1;
                    first(&mut t.first_error, (r, c));
                    e.to_string()
                }
                Data::DateTime(dt) if dt.is_duration() => match render_duration(dt.as_f64()) {
                    Some(s) => {
                        t.durations += 1;
                        s
                    }
                    None => {
                        t.off_calendar += 1;
                        first(&mut t.first_off_calendar, (r, c));
                        render_number(dt.as_f64())
                    }
                },
                Data::DateTime(dt) => match render_date(dt.as_f64(), ctx.is_1904, modes[i]) {
                    Some((s, rounded)) => {
                        t.dates += 1;
                        t.rounded += u64::from(rounded);
                        s
                    }
                    None => {
                        t.off_calendar += 1;
                        first(&mut t.first_off_calendar, (r, c));
                        render_number(dt.as_f64())
                    }
                },
                Data::DateTimeIso(s) => {
                    t.iso_dates += 1;
                    s.replacen('T', " ", 1)
                }
                Data::DurationIso(s) => {
                    t.iso_durations += 1;
                    s.clone()
                }
            };
            values.push(Value::Text(text));
        }
        sink.row(id, values)?;
        rows += 1;
    }
    for (i, t) in tallies.iter().enumerate() {
        column_notes(ctx, &names[i], t, modes[i], sink)?;
    }
    Ok(Some(rows))
}

fn at(pos: Option<(u32, u32)>) -> String {
    pos.map(|(r, c)| format!(" (first at {})", cell_ref(r, c)))
        .unwrap_or_default()
}

fn column_notes(
    ctx: &SheetCtx<'_>,
    column: &str,
    t: &ColumnTally,
    mode: DateMode,
    sink: &mut dyn Sink,
) -> Result<(), SourceError> {
    let mut emit = |kind: NoteKind, line: Option<(u32, u32)>, message: String| {
        let mut note = Note::new(kind, ctx.file, message)
            .in_table(ctx.table)
            .in_column(column);
        if let Some((r, _)) = line {
            note = note.at_line(u64::from(r) + 1);
        }
        sink.note(note)
    };
    if t.formulas > 0 {
        emit(
            NoteKind::Detected,
            t.first_formula,
            format!(
                "{} formula cell(s){}: staged as the values the file cached when it was last \
                 saved (formulas are not recalculated)",
                t.formulas,
                at(t.first_formula)
            ),
        )?;
    }
    if t.uncached > 0 {
        emit(
            NoteKind::Warning,
            t.first_uncached,
            format!(
                "{} formula cell(s){} have no cached value (the file was written by a program \
                 that does not calculate); staged as empty text. Open and save the workbook in \
                 Excel or LibreOffice to compute them, then stage it again",
                t.uncached,
                at(t.first_uncached)
            ),
        )?;
    }
    if t.errors > 0 {
        emit(
            NoteKind::Warning,
            t.first_error,
            format!(
                "{} error cell(s){} (`#DIV/0!`, `#N/A` ...): staged as the error code the sheet \
                 shows",
                t.errors,
                at(t.first_error)
            ),
        )?;
    }
    if t.bools > 0 {
        emit(
            NoteKind::Detected,
            None,
            format!("{} boolean cell(s): staged as `TRUE` / `FALSE`", t.bools),
        )?;
    }
    if t.numbers > 0 {
        let precise = if t.precise > 0 {
            format!(
                "; {} of them have more than 15 significant digits (more than Excel shows, e.g. \
                 a computed 0.1+0.2) and are staged exactly as stored",
                t.precise
            )
        } else {
            String::new()
        };
        emit(
            NoteKind::Detected,
            None,
            format!(
                "{} numeric cell(s): staged as the shortest decimal that reads back to the same \
                 64-bit float, without exponent (number formats other than dates are not \
                 applied){precise}",
                t.numbers
            ),
        )?;
    }
    if t.dates > 0 {
        let shape = if mode.time_only {
            "HH:MM:SS"
        } else if mode.with_time {
            "YYYY-MM-DD HH:MM:SS"
        } else {
            "YYYY-MM-DD"
        };
        let origin = if ctx.is_1904 {
            "1904 date system: serial = days since 1904-01-01"
        } else {
            "1900 date system: serial = days since 1899-12-30 (since 1899-12-31 before \
             1900-03-01; serial 60 is Excel's non-existent 1900-02-29)"
        };
        emit(
            NoteKind::Detected,
            None,
            format!(
                "{} date cell(s): staged in ISO 8601 as `{shape}{}` from their serial numbers \
                 ({origin}, plus the time as milliseconds / 86,400,000: the serial is recoverable \
                 from the text to the millisecond)",
                t.dates,
                if mode.with_millis { ".fff" } else { "" }
            ),
        )?;
    }
    if t.rounded > 0 {
        emit(
            NoteKind::Warning,
            None,
            format!(
                "{} date cell(s) hold a time finer than a millisecond, which Excel cannot show; \
                 rounded to the millisecond",
                t.rounded
            ),
        )?;
    }
    if t.durations > 0 {
        emit(
            NoteKind::Detected,
            None,
            format!(
                "{} duration cell(s): staged as `H:MM:SS` (total hours) from their serial \
                 numbers (days)",
                t.durations
            ),
        )?;
    }
    if t.off_calendar > 0 {
        emit(
            NoteKind::Warning,
            t.first_off_calendar,
            format!(
                "{} date cell(s){} hold a serial outside the calendar (negative, after \
                 9999-12-31, or Excel's non-existent 1900-02-29); staged as the serial number",
                t.off_calendar,
                at(t.first_off_calendar)
            ),
        )?;
    }
    if t.iso_dates > 0 {
        emit(
            NoteKind::Detected,
            None,
            format!(
                "{} date cell(s) stored as ISO 8601 text (OpenDocument): staged as written, the \
                 `T` between date and time replaced by a space",
                t.iso_dates
            ),
        )?;
    }
    if t.iso_durations > 0 {
        emit(
            NoteKind::Detected,
            None,
            format!(
                "{} duration cell(s) stored as ISO 8601 durations (OpenDocument): staged as \
                 written",
                t.iso_durations
            ),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cells_like_a_spreadsheet() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
        assert_eq!(column_letters(16_383), "XFD");
        assert_eq!(cell_ref(11, 0), "A12");
    }

    #[test]
    fn numbers_are_shortest_round_trip_without_exponent() {
        assert_eq!(render_number(12_345_678_901_234.0), "12345678901234");
        assert_eq!(render_number(0.1), "0.1");
        assert_eq!(render_number(1.0), "1");
        assert_eq!(render_number(-0.0), "0");
        assert_eq!(render_number(1e21), "1000000000000000000000");
        assert_eq!(render_number(0.1 + 0.2), "0.30000000000000004");
        for x in [0.1, 98.6, 1e-7, 123_456.789, 1e300] {
            assert_eq!(render_number(x).parse::<f64>().ok(), Some(x));
        }
        assert_eq!(significant_digits("0.30000000000000004"), 17);
        assert_eq!(significant_digits("12345678901234"), 14);
        assert_eq!(significant_digits("1000"), 1);
        assert_eq!(significant_digits("0.001"), 1);
    }

    fn mode(with_time: bool, time_only: bool) -> DateMode {
        DateMode {
            cells: 1,
            with_time,
            with_millis: false,
            time_only,
        }
    }

    #[test]
    fn serials_render_in_both_date_systems() {
        let date = mode(false, false);
        let r = |s: f64, is_1904: bool, m: DateMode| render_date(s, is_1904, m).map(|x| x.0);
        assert_eq!(r(1.0, false, date).as_deref(), Some("1900-01-01"));
        assert_eq!(r(59.0, false, date).as_deref(), Some("1900-02-28"));
        assert_eq!(r(60.0, false, date), None, "Excel's phantom 1900-02-29");
        assert_eq!(r(61.0, false, date).as_deref(), Some("1900-03-01"));
        assert_eq!(r(43_831.0, false, date).as_deref(), Some("2020-01-01"));
        assert_eq!(r(2_958_465.0, false, date).as_deref(), Some("9999-12-31"));
        assert_eq!(r(2_958_466.0, false, date), None);
        assert_eq!(r(-1.0, false, date), None);
        assert_eq!(r(0.0, true, date).as_deref(), Some("1904-01-01"));
        assert_eq!(r(42_369.0, true, date).as_deref(), Some("2020-01-01"));
        // 12:15 as Excel writes it, with 15 significant digits.
        let dt = mode(true, false);
        assert_eq!(
            render_date(43_831.510_416_666_7, false, dt),
            Some(("2020-01-01 12:15:00".to_string(), false))
        );
        assert_eq!(
            r(0.75, false, mode(true, true)).as_deref(),
            Some("18:00:00")
        );
        let millis = DateMode {
            with_millis: true,
            ..dt
        };
        assert_eq!(
            r(43_831.0 + 1.5 / 86_400.0, false, millis).as_deref(),
            Some("2020-01-01 00:00:01.500")
        );
        // A time finer than a millisecond is rounded, and said so.
        assert_eq!(
            render_date(43_831.0 + 0.000_4 / 86_400.0, false, dt).map(|x| x.1),
            Some(true)
        );
    }

    #[test]
    fn durations_are_total_hours() {
        assert_eq!(render_duration(1.5).as_deref(), Some("36:00:00"));
        assert_eq!(render_duration(-0.5).as_deref(), Some("-12:00:00"));
        assert_eq!(render_duration(f64::NAN), None);
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        let mut sink = ferry_core::MemorySink::default();
        let err = read_slice(
            b"not a workbook",
            "x.xlsx",
            &SheetOptions::default(),
            &mut sink,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("x.xlsx"), "{err}");
        assert!(err.contains("cannot read the workbook"), "{err}");
    }
}

/// A workbook written by rust_xlsxwriter, read back: every rendering and note of the module docs.
#[cfg(test)]
mod workbook_tests {
    use super::*;
    use ferry_core::MemorySink;
    use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};

    fn text(v: &Value) -> &str {
        v.as_text().unwrap_or("<not text>")
    }

    fn book() -> Vec<u8> {
        let mut wb = Workbook::new();
        let date = Format::new().set_num_format("yyyy-mm-dd");
        let datetime = Format::new().set_num_format("yyyy-mm-dd hh:mm");
        let time = Format::new().set_num_format("hh:mm:ss");
        let ws = wb.add_worksheet();
        ws.set_name("patients").unwrap();
        for (c, name) in ["mrn", "weight", "dob", "seen", "bmi", "active", "at", ""]
            .iter()
            .enumerate()
        {
            ws.write_string(0, c as u16, *name).unwrap();
        }
        ws.write_string(1, 0, "000123").unwrap();
        ws.write_number(1, 1, 12_345_678_901_234.0).unwrap();
        let dob = ExcelDateTime::parse_from_str("1980-02-29").unwrap();
        ws.write_datetime_with_format(1, 2, &dob, &date).unwrap();
        let seen = ExcelDateTime::parse_from_str("2024-05-01 08:30:00").unwrap();
        ws.write_datetime_with_format(1, 3, &seen, &datetime)
            .unwrap();
        ws.write_formula(1, 4, Formula::new("=B2/100").set_result("123456789012.34"))
            .unwrap();
        ws.write_boolean(1, 5, true).unwrap();
        let at = ExcelDateTime::parse_from_str("08:15:30").unwrap();
        ws.write_datetime_with_format(1, 6, &at, &time).unwrap();
        ws.write_string(1, 7, "extra").unwrap();
        // Row 3 empty; row 4 holds a merged range and a computed float.
        ws.merge_range(3, 0, 3, 1, "M-9", &Format::new()).unwrap();
        ws.write_number(3, 4, 0.1 + 0.2).unwrap();
        let midnight = ExcelDateTime::parse_from_str("2024-05-02 00:00:00").unwrap();
        ws.write_datetime_with_format(3, 3, &midnight, &datetime)
            .unwrap();
        // A second sheet whose first non-empty row (row 3) repeats a name: not a header.
        let ws = wb.add_worksheet();
        ws.set_name("visits").unwrap();
        ws.write_string(2, 1, "visit_id").unwrap();
        ws.write_string(2, 2, "visit_id").unwrap();
        ws.write_number(3, 1, 7.0).unwrap();
        ws.write_number(3, 2, 8.0).unwrap();
        // An empty sheet.
        wb.add_worksheet().set_name("empty").unwrap();
        wb.save_to_buffer().unwrap()
    }

    fn read(options: &SheetOptions) -> (MemorySink, SheetsReport) {
        let mut sink = MemorySink::default();
        let report = read_slice(&book(), "clinic.xlsx", options, &mut sink).unwrap();
        (sink, report)
    }

    fn notes_of(sink: &MemorySink, table: &str) -> Vec<String> {
        sink.notes
            .iter()
            .filter(|n| n.table.as_deref() == Some(table))
            .map(|n| format!("{}: {}", n.column.as_deref().unwrap_or("-"), n.message))
            .collect()
    }

    #[test]
    fn renders_every_kind_of_cell_and_notes_it() {
        let (sink, report) = read(&SheetOptions::default());
        assert_eq!(report.tables, ["patients", "visits"]);
        let def = sink.def_of("patients").unwrap();
        let names: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "mrn", "weight", "dob", "seen", "bmi", "active", "at", "column_8"
            ]
        );
        let rows = sink.rows_of("patients").unwrap();
        assert_eq!(rows.len(), 2, "the empty row is skipped");
        let r: Vec<&str> = rows[0].iter().map(text).collect();
        assert_eq!(
            r,
            [
                "000123",
                "12345678901234",
                "1980-02-29",
                "2024-05-01 08:30:00",
                "123456789012.34",
                "TRUE",
                "08:15:30",
                "extra"
            ]
        );
        let r: Vec<&str> = rows[1].iter().map(text).collect();
        assert_eq!(
            r,
            [
                "M-9",
                "",
                "",
                "2024-05-02 00:00:00",
                "0.30000000000000004",
                "",
                "",
                ""
            ]
        );
        let notes = notes_of(&sink, "patients").join("\n");
        for want in [
            "row 1 is the header (detected",
            "cells A4:B4 are merged: the value is in A4 only",
            "bmi: 1 formula cell(s) (first at E2): staged as the values the file cached",
            "bmi: 2 numeric cell(s)",
            "more than 15 significant digits",
            "dob: 1 date cell(s): staged in ISO 8601 as `YYYY-MM-DD`",
            "seen: 2 date cell(s): staged in ISO 8601 as `YYYY-MM-DD HH:MM:SS`",
            "at: 1 date cell(s): staged in ISO 8601 as `HH:MM:SS`",
            "active: 1 boolean cell(s)",
            "1 empty row(s)",
            "column 8 (sheet column H) has an empty header; named `column_8`",
            "1900 date system",
        ] {
            assert!(notes.contains(want), "missing `{want}` in:\n{notes}");
        }
        // A repeated header is not a header: the detection falls back to c1..cN.
        let visits = sink.def_of("visits").unwrap();
        assert_eq!(visits.columns[0].name, "c1");
        assert_eq!(sink.rows_of("visits").unwrap().len(), 2);
        let notes = notes_of(&sink, "visits").join("\n");
        assert!(notes.contains("no header row detected (row 3"), "{notes}");
        assert!(
            notes.contains("sheet columns A to A hold no value"),
            "{notes}"
        );
        assert!(
            sink.notes
                .iter()
                .any(|n| n.message.contains("sheet `empty` skipped")),
            "{:?}",
            sink.notes
        );
    }

    #[test]
    fn a_given_header_row_leaves_out_the_rows_above_it() {
        let mut sink = MemorySink::default();
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "Export of 2024").unwrap();
        ws.write_string(2, 1, "id").unwrap();
        ws.write_string(2, 2, "name").unwrap();
        ws.write_number(3, 1, 7.0).unwrap();
        ws.write_string(3, 2, "x").unwrap();
        let data = wb.save_to_buffer().unwrap();
        let options = SheetOptions {
            header: Header::Row(3),
        };
        read_slice(&data, "one.xlsx", &options, &mut sink).unwrap();
        let def = sink.def_of("one").unwrap();
        let names: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["id", "name"],
            "the only sheet is named after the file"
        );
        assert_eq!(def.origin.line, 3);
        let rows = sink.rows_of("one").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(text(&rows[0][0]), "7");
        let notes = notes_of(&sink, "one").join("\n");
        assert!(
            notes.contains("1 non-empty row(s) above the header row 3"),
            "{notes}"
        );
        assert!(
            notes.contains("sheet columns A to A hold no value"),
            "{notes}"
        );

        let err = read_slice(
            &data,
            "one.xlsx",
            &SheetOptions {
                header: Header::Row(2),
            },
            &mut MemorySink::default(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "cannot stage workbook `one.xlsx`, sheet `Sheet1`: --header-row 2: row 2 is empty, \
             so it cannot hold the column names; give the row that does"
        );
    }

    #[test]
    fn no_header_names_columns_by_position() {
        let (sink, _) = read(&SheetOptions {
            header: Header::Absent,
        });
        let rows = sink.rows_of("patients").unwrap();
        assert_eq!(rows.len(), 3, "the header row is data");
        assert_eq!(text(&rows[0][0]), "mrn");
        assert_eq!(sink.def_of("patients").unwrap().columns[7].name, "c8");
    }
}
