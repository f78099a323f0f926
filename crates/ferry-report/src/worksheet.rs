//! The unmapped-values worksheet: for each concept-map lookup a run could not make, the
//! distinct source value with its count and example keys, and empty `code` / `display` /
//! `system` / `why` columns a terminologist fills in. Written as CSV or `.xlsx` (by the file's
//! extension) and read back from either, every row with its line (CSV) or row number (xlsx).
//!
//! The worksheet holds source values, so it is written as a PHI file (`0600`).

use std::path::Path;

use crate::ReportError;
use crate::fsutil::{Contents, write_atomic};

/// The columns, in order. `code`, `display`, `system` and `why` are the terminologist's.
pub const COLUMNS: [&str; 10] = [
    "concept_map",
    "module",
    "element",
    "source_value",
    "rows",
    "example_keys",
    "code",
    "display",
    "system",
    "why",
];

/// One row of the worksheet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorksheetRow {
    pub concept_map: String,
    pub module: String,
    pub element: String,
    pub source_value: String,
    pub rows: u64,
    pub example_keys: String,
    pub code: String,
    pub display: String,
    pub system: String,
    pub why: String,
}

impl WorksheetRow {
    fn fields(&self) -> [String; 10] {
        [
            self.concept_map.clone(),
            self.module.clone(),
            self.element.clone(),
            self.source_value.clone(),
            self.rows.to_string(),
            self.example_keys.clone(),
            self.code.clone(),
            self.display.clone(),
            self.system.clone(),
            self.why.clone(),
        ]
    }
}

fn is_xlsx(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
}

/// Writes the worksheet (`.xlsx` by extension, else CSV), atomically, as a PHI file.
pub fn write(path: &Path, rows: &[WorksheetRow]) -> Result<(), ReportError> {
    if is_xlsx(path) {
        let bytes = xlsx_bytes(rows).map_err(|source| ReportError::Xlsx {
            path: path.to_path_buf(),
            source,
        })?;
        return write_atomic(path, Contents::Phi, |w| w.write_all(&bytes));
    }
    write_atomic(path, Contents::Phi, |w| {
        let mut c = csv::Writer::from_writer(w);
        c.write_record(COLUMNS).map_err(std::io::Error::other)?;
        for r in rows {
            c.write_record(r.fields()).map_err(std::io::Error::other)?;
        }
        c.flush()
    })
}

fn xlsx_bytes(rows: &[WorksheetRow]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let sheet = wb.add_worksheet();
    sheet.set_name("unmapped")?;
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    for (c, name) in COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *name, &bold)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = (i + 1) as u32;
        for (c, v) in r.fields().iter().enumerate() {
            if c == 4 {
                sheet.write_number(row, c as u16, r.rows as f64)?;
            } else {
                // Text cells, so a code such as `0012` keeps its zeros.
                sheet.write_string_with_format(row, c as u16, v, &text)?;
            }
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofit();
    wb.save_to_buffer()
}

/// A problem reading a filled worksheet: where (line or row) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorksheetProblem {
    pub at: usize,
    pub message: String,
}

/// Reads a filled worksheet back: every row with its 1-based line (CSV) or row number (xlsx),
/// or every structural problem at once (missing columns).
pub fn read(path: &Path) -> Result<Vec<(usize, WorksheetRow)>, Vec<WorksheetProblem>> {
    let grid = if is_xlsx(path) {
        read_xlsx(path)
    } else {
        read_csv(path)
    }
    .map_err(|message| vec![WorksheetProblem { at: 0, message }])?;
    let mut it = grid.into_iter();
    let Some((_, header)) = it.next() else {
        return Err(vec![WorksheetProblem {
            at: 0,
            message: "the worksheet is empty: it needs its header row".into(),
        }]);
    };
    let mut index = [0usize; 10];
    let mut problems = Vec::new();
    for (i, name) in COLUMNS.iter().enumerate() {
        match header.iter().position(|h| h.trim() == *name) {
            Some(p) => index[i] = p,
            None => problems.push(WorksheetProblem {
                at: 1,
                message: format!(
                    "the header has no `{name}` column (the worksheet's columns: {})",
                    COLUMNS.join(", ")
                ),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut out = Vec::new();
    for (at, cells) in it {
        let get = |i: usize| -> String {
            cells
                .get(index[i])
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let rows = get(4);
        out.push((
            at,
            WorksheetRow {
                concept_map: get(0),
                module: get(1),
                element: get(2),
                // The value exactly as written (a source value may have spaces).
                source_value: cells.get(index[3]).cloned().unwrap_or_default(),
                rows: rows.parse::<f64>().map(|f| f as u64).unwrap_or(0),
                example_keys: get(5),
                code: get(6),
                display: get(7),
                system: get(8),
                why: get(9),
            },
        ));
    }
    Ok(out)
}

type Grid = Vec<(usize, Vec<String>)>;

fn read_csv(path: &Path) -> Result<Grid, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(f);
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| format!("not a readable CSV file: {e}"))?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        out.push((line, rec.iter().map(str::to_string).collect()));
    }
    Ok(out)
}

fn read_xlsx(path: &Path) -> Result<Grid, String> {
    use calamine::{Data, Reader, Xlsx, open_workbook};
    let mut wb: Xlsx<_> = open_workbook(path)
        .map_err(|e: calamine::XlsxError| format!("not a readable workbook: {e}"))?;
    let name = wb
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| "the workbook has no sheet".to_string())?;
    let range = wb
        .worksheet_range(&name)
        .map_err(|e| format!("cannot read sheet `{name}`: {e}"))?;
    let (first_row, _) = range.start().unwrap_or((0, 0));
    let mut out = Vec::new();
    for (i, row) in range.rows().enumerate() {
        let cells = row
            .iter()
            .map(|c| match c {
                Data::Empty => String::new(),
                Data::String(s) => s.clone(),
                Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
                other => other.to_string(),
            })
            .collect();
        out.push((first_row as usize + i + 1, cells));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<WorksheetRow> {
        vec![WorksheetRow {
            concept_map: "vaccine-names".into(),
            module: "immunizations".into(),
            element: "Immunization.vaccineCode.coding[0].code".into(),
            source_value: "mystery, jab ".into(),
            rows: 3,
            example_keys: "3 7 9".into(),
            code: "0012".into(),
            ..WorksheetRow::default()
        }]
    }

    #[test]
    fn csv_and_xlsx_round_trip_every_field() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["w.csv", "w.xlsx"] {
            let p = dir.path().join(name);
            write(&p, &rows()).unwrap();
            let back = read(&p).unwrap();
            assert_eq!(back.len(), 1, "{name}");
            assert_eq!(back[0].0, 2, "{name}: the data starts on line/row 2");
            assert_eq!(back[0].1, rows()[0], "{name}");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{name}");
            }
        }
    }

    #[test]
    fn a_worksheet_without_its_columns_is_refused_with_each_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.csv");
        std::fs::write(&p, "concept_map,module,source_value\nx,y,z\n").unwrap();
        let e = read(&p).unwrap_err();
        let all: Vec<&str> = e.iter().map(|p| p.message.as_str()).collect();
        assert!(
            all.iter().any(|m| m.contains("no `element` column")),
            "{all:?}"
        );
        assert!(
            all.iter().any(|m| m.contains("no `code` column")),
            "{all:?}"
        );
        assert_eq!(e.len(), 7, "{all:?}");
    }
}
