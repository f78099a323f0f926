//! Reading reviewers' decisions back from the migration map workbook.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use calamine::{Data, Reader, Xlsx, open_workbook};

use super::*;
use crate::decisions::{ColumnDecision, Decision, MigrationMap};
use crate::text::{cell_ref, truncate_chars};
use crate::{ImportError, SheetProblem};

const FIX_HEADER: &str = "put the header row back as ferry wrote it (do not rename, insert, delete \
                          or reorder columns), or copy the decisions into a freshly written \
                          workbook";
const FIX_NAMES: &str = "put back the table and column names ferry wrote in columns A and B \
                         (sorting and filtering rows is fine, editing these cells is not)";

/// What the hidden `ferry` sheet says the workbook was written for.
struct Written {
    snapshot: Option<u64>,
    /// (table, column) per sheet (`columns`, `vanished`).
    columns: BTreeSet<(String, String)>,
    vanished: BTreeSet<(String, String)>,
}

struct Problems(Vec<SheetProblem>);

impl Problems {
    fn add(&mut self, sheet: &str, cell: Option<String>, problem: String, fix: &str) {
        self.0.push(SheetProblem {
            sheet: sheet.to_string(),
            cell,
            problem,
            fix: fix.to_string(),
        });
    }
}

/// Cells kept per sheet: far more than a migration map has (19 per column), small enough that a
/// hostile or broken workbook cannot exhaust memory.
const MAX_CELLS: usize = 2_000_000;
/// Columns read per row: the widest layout plus room to notice extra columns.
const MAX_COLUMNS: u32 = 64;

/// The cells of one sheet, sparse (calamine's `Range` is dense: one far-away cell such as
/// `XFD1048576` would allocate billions of cells).
struct Grid {
    rows: BTreeMap<u32, BTreeMap<u32, Data>>,
    end_col: u32,
}

impl Grid {
    fn read(wb: &mut Xlsx<BufReader<File>>, sheet: &str) -> Result<Grid, String> {
        let mut reader = wb
            .worksheet_cells_reader(sheet)
            .map_err(|e| e.to_string())?;
        let mut grid = Grid {
            rows: BTreeMap::new(),
            end_col: 0,
        };
        let mut kept = 0usize;
        while let Some(cell) = reader.next_cell().map_err(|e| e.to_string())? {
            let (row, col) = cell.get_position();
            let value = Data::from(cell.get_value().clone());
            if col >= MAX_COLUMNS || value == Data::Empty {
                continue;
            }
            kept += 1;
            if kept > MAX_CELLS {
                return Err(format!(
                    "it has more than {MAX_CELLS} filled cells, far more than a migration map"
                ));
            }
            grid.end_col = grid.end_col.max(col);
            grid.rows.entry(row).or_default().insert(col, value);
        }
        Ok(grid)
    }

    fn get_value(&self, (row, col): (u32, u32)) -> Option<&Data> {
        self.rows.get(&row)?.get(&col)
    }
}

/// Reads the reviewers' decisions from a migration map workbook.
///
/// Checks the structure: the `columns` sheet exists and its header row is exactly
/// [`COLUMNS_HEADER`]; table and column cells are filled in and name columns the workbook was
/// written for (listed on its hidden `ferry` sheet), each once, and none is missing; decision
/// cells hold one of the allowed values. Every problem found is returned together, each with its
/// sheet, cell and what to do.
///
/// The map holds every column of the `columns` sheet (undecided ones with an empty
/// [`ColumnDecision`]) and the rows of the `vanished` sheet a reviewer kept. Rows deleted from
/// `vanished` drop those decisions.
pub fn import_migration_map(path: &Path) -> Result<MigrationMap, ImportError> {
    let mut wb: Xlsx<_> =
        open_workbook(path).map_err(|e: calamine::XlsxError| ImportError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let names = wb.sheet_names();
    let mut problems = Problems(Vec::new());
    let mut map = MigrationMap::default();

    let written = if names.iter().any(|n| n == SHEET_FERRY) {
        match Grid::read(&mut wb, SHEET_FERRY) {
            Ok(range) => read_ferry_sheet(&range, &mut problems),
            Err(e) => {
                problems.add(
                    SHEET_FERRY,
                    None,
                    format!("the hidden sheet cannot be read ({e})"),
                    "write a fresh workbook with `ferry profile` and copy the decisions into it",
                );
                None
            }
        }
    } else {
        problems.add(
            SHEET_FERRY,
            None,
            "the hidden sheet 'ferry' is missing, so ferry cannot tell which tables and columns \
             this workbook was written for"
                .to_string(),
            "import the workbook ferry wrote (or a copy of it saved as .xlsx); if the decisions \
             were typed into another file, copy them into a freshly written workbook",
        );
        None
    };
    map.snapshot = written.as_ref().and_then(|w| w.snapshot);

    if names.iter().any(|n| n == SHEET_COLUMNS) {
        match Grid::read(&mut wb, SHEET_COLUMNS) {
            Ok(range) => read_decision_sheet(
                &range,
                &Layout::columns(),
                written.as_ref().map(|w| &w.columns),
                &mut map,
                &mut problems,
            ),
            Err(e) => problems.add(
                SHEET_COLUMNS,
                None,
                format!("the sheet cannot be read ({e})"),
                "save the workbook again as .xlsx from Excel or LibreOffice",
            ),
        }
    } else {
        problems.add(
            SHEET_COLUMNS,
            None,
            "the sheet 'columns' with the decisions is missing (deleted or renamed)".to_string(),
            "put the sheet back under its name 'columns', or copy the decisions into a freshly \
             written workbook",
        );
    }

    if names.iter().any(|n| n == SHEET_VANISHED) {
        match Grid::read(&mut wb, SHEET_VANISHED) {
            Ok(range) => read_decision_sheet(
                &range,
                &Layout::vanished(),
                written.as_ref().map(|w| &w.vanished),
                &mut map,
                &mut problems,
            ),
            Err(e) => problems.add(
                SHEET_VANISHED,
                None,
                format!("the sheet cannot be read ({e})"),
                "save the workbook again as .xlsx from Excel or LibreOffice",
            ),
        }
    }

    if problems.0.is_empty() {
        Ok(map)
    } else {
        Err(ImportError::Problems {
            path: path.to_path_buf(),
            problems: problems.0,
        })
    }
}

/// A cell's content as text, or what is wrong with it.
enum Cell {
    Empty,
    Text(String),
    Wrong(&'static str),
}

fn cell(range: &Grid, row: u32, col: u32) -> Cell {
    match range.get_value((row, col)) {
        None | Some(Data::Empty) => Cell::Empty,
        Some(Data::String(s)) if s.is_empty() => Cell::Empty,
        Some(Data::String(s)) => Cell::Text(s.clone()),
        Some(Data::Int(i)) => Cell::Text(i.to_string()),
        Some(Data::Float(x)) => {
            if x.fract() == 0.0 && x.abs() < 1e15 {
                Cell::Text(format!("{}", *x as i64))
            } else {
                Cell::Text(x.to_string())
            }
        }
        Some(Data::Bool(b)) => Cell::Text(if *b { "TRUE" } else { "FALSE" }.to_string()),
        Some(Data::DateTime(_)) | Some(Data::DateTimeIso(_)) | Some(Data::DurationIso(_)) => {
            Cell::Wrong("holds a date or time, not text (Excel turned what was typed into a date)")
        }
        Some(Data::Error(_)) => Cell::Wrong("holds a spreadsheet error (such as #REF! or #VALUE!)"),
    }
}

fn read_ferry_sheet(range: &Grid, problems: &mut Problems) -> Option<Written> {
    let fix = "the hidden sheet 'ferry' must stay as ferry wrote it: write a fresh workbook with \
               `ferry profile` and copy the decisions into it";
    let text = |r: u32, c: u32| match cell(range, r, c) {
        Cell::Text(s) => Some(s),
        _ => None,
    };
    if text(0, 0).as_deref() != Some(FERRY_TITLE) {
        problems.add(
            SHEET_FERRY,
            Some(cell_ref(0, 0)),
            "this is not the sheet ferry wrote".to_string(),
            fix,
        );
        return None;
    }
    match text(FERRY_FORMAT_ROW, 1).and_then(|s| s.trim().parse::<u32>().ok()) {
        Some(v)
            if v <= WORKBOOK_FORMAT && text(FERRY_FORMAT_ROW, 0).as_deref() == Some("format") => {}
        Some(v) if v > WORKBOOK_FORMAT => {
            problems.add(
                SHEET_FERRY,
                Some(cell_ref(FERRY_FORMAT_ROW, 1)),
                format!(
                    "the workbook has format {v}, newer than this ferry reads ({WORKBOOK_FORMAT})"
                ),
                "upgrade ferry",
            );
            return None;
        }
        _ => {
            problems.add(
                SHEET_FERRY,
                Some(cell_ref(FERRY_FORMAT_ROW, 1)),
                "the workbook format version is missing".to_string(),
                fix,
            );
            return None;
        }
    }
    let snapshot = match (
        text(FERRY_SNAPSHOT_ROW, 0).as_deref(),
        text(FERRY_SNAPSHOT_ROW, 1).and_then(|s| s.trim().parse::<u64>().ok()),
    ) {
        (Some("snapshot"), Some(s)) => Some(s),
        _ => {
            problems.add(
                SHEET_FERRY,
                Some(cell_ref(FERRY_SNAPSHOT_ROW, 1)),
                "the snapshot number is missing".to_string(),
                fix,
            );
            return None;
        }
    };
    for (i, h) in FERRY_LIST_HEADER.iter().enumerate() {
        if text(FERRY_LIST_HEADER_ROW, i as u32).as_deref() != Some(*h) {
            problems.add(
                SHEET_FERRY,
                Some(cell_ref(FERRY_LIST_HEADER_ROW, i as u32)),
                format!("expected the title '{h}'"),
                fix,
            );
            return None;
        }
    }
    let mut written = Written {
        snapshot,
        columns: BTreeSet::new(),
        vanished: BTreeSet::new(),
    };
    for &row in range.rows.keys() {
        if row <= FERRY_LIST_HEADER_ROW {
            continue;
        }
        let (Some(sheet), Some(table)) = (text(row, 0), text(row, 1)) else {
            continue;
        };
        let column = text(row, 2).unwrap_or_default();
        let set = match sheet.as_str() {
            SHEET_COLUMNS => &mut written.columns,
            SHEET_VANISHED => &mut written.vanished,
            _ => continue,
        };
        set.insert((table, column));
    }
    Some(written)
}

/// Where things are on a sheet with decisions.
struct Layout {
    sheet: &'static str,
    header: &'static [&'static str],
    /// The `decision` column; target resource, target field, notes and reviewer follow it.
    decision: u32,
    /// A row of the `columns` sheet may not be deleted (its decision would be lost silently);
    /// a row of `vanished` may (that drops the decision).
    rows_required: bool,
}

impl Layout {
    fn columns() -> Self {
        Layout {
            sheet: SHEET_COLUMNS,
            header: &COLUMNS_HEADER,
            decision: u32::from(COLUMNS_DECISION),
            rows_required: true,
        }
    }
    fn vanished() -> Self {
        Layout {
            sheet: SHEET_VANISHED,
            header: &VANISHED_HEADER,
            decision: u32::from(VANISHED_DECISION),
            rows_required: false,
        }
    }
}

fn allowed_decisions() -> String {
    Decision::ALL
        .iter()
        .map(|d| d.label())
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_decision_sheet(
    range: &Grid,
    layout: &Layout,
    expected: Option<&BTreeSet<(String, String)>>,
    map: &mut MigrationMap,
    problems: &mut Problems,
) {
    let sheet = layout.sheet;
    let end_col = range.end_col;

    // The header row: exactly the titles ferry wrote, in order, nothing after them.
    let before = problems.0.len();
    for (i, title) in layout.header.iter().enumerate() {
        let col = i as u32;
        let found = match cell(range, 0, col) {
            Cell::Text(s) => s,
            _ => String::new(),
        };
        if found.trim() != *title {
            let what = if found.trim().is_empty() {
                format!("the header '{title}' is missing")
            } else {
                format!(
                    "the header is '{}', expected '{title}'",
                    truncate_chars(found.trim(), 40)
                )
            };
            problems.add(sheet, Some(cell_ref(0, col)), what, FIX_HEADER);
        }
    }
    for col in layout.header.len() as u32..=end_col {
        if let Cell::Text(s) = cell(range, 0, col) {
            problems.add(
                sheet,
                Some(cell_ref(0, col)),
                format!(
                    "an extra column '{}' that ferry did not write",
                    truncate_chars(s.trim(), 40)
                ),
                "delete the extra column (keep notes in the 'notes' column)",
            );
        }
    }
    if problems.0.len() > before {
        // Columns may be shifted: reading rows would only report nonsense.
        return;
    }

    let d = layout.decision;
    let mut seen: HashMap<(String, String), u32> = HashMap::new();
    let rows: Vec<u32> = range.rows.keys().copied().filter(|&r| r > 0).collect();
    for row in rows {
        let table = cell(range, row, 0);
        let column = cell(range, row, 1);
        let decision_cells: Vec<Cell> = (d..d + 5).map(|c| cell(range, row, c)).collect();
        let row_is_empty = matches!(table, Cell::Empty)
            && matches!(column, Cell::Empty)
            && decision_cells.iter().all(|c| matches!(c, Cell::Empty));
        if row_is_empty {
            continue;
        }
        let mut name = |c: Cell, col: u32, what: &str| -> Option<String> {
            match c {
                Cell::Text(s) => Some(s),
                Cell::Empty => {
                    problems.add(
                        sheet,
                        Some(cell_ref(row, col)),
                        format!("the {what} name is empty"),
                        FIX_NAMES,
                    );
                    None
                }
                Cell::Wrong(why) => {
                    problems.add(
                        sheet,
                        Some(cell_ref(row, col)),
                        format!("the {what} name {why}"),
                        FIX_NAMES,
                    );
                    None
                }
            }
        };
        let table = name(table, 0, "table");
        let column = name(column, 1, "column");
        let (Some(table), Some(column)) = (table, column) else {
            // Still report what is wrong in the decision cells.
            check_decision_cells(sheet, row, d, decision_cells, problems);
            continue;
        };
        let mut key_ok = true;
        let key = (table.clone(), column.clone());
        if let Some(expected) = expected
            && !expected.contains(&key)
        {
            let what = if sheet == SHEET_VANISHED {
                "is not a vanished column listed when this workbook was written"
            } else {
                "is not a column of the profile this workbook was written from"
            };
            problems.add(
                sheet,
                Some(cell_ref(row, 0)),
                format!("table `{table}` column `{column}` {what}"),
                FIX_NAMES,
            );
            key_ok = false;
        }
        if let Some(first) = seen.get(&key) {
            problems.add(
                sheet,
                Some(cell_ref(row, 0)),
                format!(
                    "table `{table}` column `{column}` appears again (first on row {})",
                    first + 1
                ),
                "delete the duplicate row, keeping the decision you want",
            );
            key_ok = false;
        } else {
            seen.insert(key, row);
        }
        let decision = check_decision_cells(sheet, row, d, decision_cells, problems);
        if key_ok && let Some(decision) = decision {
            map.insert(&table, &column, decision);
        }
    }

    if layout.rows_required
        && let Some(expected) = expected
    {
        for (table, column) in expected {
            if !seen.contains_key(&(table.clone(), column.clone())) {
                problems.add(
                    sheet,
                    None,
                    format!("the row of table `{table}` column `{column}` is missing"),
                    "put the row back (copy it from a freshly written workbook); choose 'skip' \
                     for a column that is not migrated instead of deleting its row",
                );
            }
        }
    }
}

/// Reads the five decision cells of a row, reporting what is wrong.
fn check_decision_cells(
    sheet: &str,
    row: u32,
    first_col: u32,
    cells: Vec<Cell>,
    problems: &mut Problems,
) -> Option<ColumnDecision> {
    let mut out = ColumnDecision::default();
    let mut ok = true;
    let names = [
        "decision",
        "target resource",
        "target field",
        "notes",
        "reviewer",
    ];
    for (i, (c, what)) in cells.into_iter().zip(names).enumerate() {
        let col = first_col + i as u32;
        let value = match c {
            Cell::Empty => continue,
            Cell::Wrong(why) => {
                problems.add(
                    sheet,
                    Some(cell_ref(row, col)),
                    format!("the {what} cell {why}"),
                    "format the cell as Text and type the value again",
                );
                ok = false;
                continue;
            }
            Cell::Text(s) => s,
        };
        match i {
            0 => match Decision::from_label(&value) {
                Some(d) => out.decision = Some(d),
                None if value.trim().is_empty() => {}
                None => {
                    problems.add(
                        sheet,
                        Some(cell_ref(row, col)),
                        format!("'{}' is not a decision", truncate_chars(value.trim(), 40)),
                        &format!("choose one of: {} (or leave it empty)", allowed_decisions()),
                    );
                    ok = false;
                }
            },
            // Notes are kept exactly as typed (line breaks included).
            3 => out.notes = Some(value),
            _ => {
                let v = value.trim();
                if !v.is_empty() {
                    let v = Some(v.to_string());
                    match i {
                        1 => out.target_resource = v,
                        2 => out.target_field = v,
                        _ => out.reviewer = v,
                    }
                }
            }
        }
    }
    ok.then_some(out)
}
