//! A hand-built profile and helpers shared by the tests.
#![allow(dead_code)]

use std::path::Path;

use calamine::{Data, Reader, Xlsx, open_workbook};
use ferry_profile::model::*;

pub fn column(name: &str, ordinal: usize, inferred: InferredType) -> ColumnProfile {
    ColumnProfile {
        name: name.to_string(),
        ordinal,
        declared_type: Some("varchar(64)".to_string()),
        inferred_type: inferred,
        non_null: 3,
        nulls: 0,
        blanks: 0,
        distinct: Distinct {
            count: 3,
            exact: true,
            relative_error: None,
        },
        min: None,
        max: None,
        min_suppressed: None,
        max_suppressed: None,
        length: LengthStats {
            min: Some(1),
            max: Some(10),
            mean: Some(5.5),
        },
        top_values: vec![],
        top_values_exact: true,
        formats: vec![],
        phi: None,
        samples: vec![],
    }
}

pub fn vc(value: &str, count: u64) -> ValueCount {
    ValueCount {
        value: value.to_string(),
        count,
    }
}

pub fn fmt(format: &str, count: u64, share: f64) -> FormatShare {
    FormatShare {
        format: format.to_string(),
        count,
        share,
    }
}

pub const LONG_TABLE: &str = "lab/results: a very long table name [2019]";

/// Three tables: patients (PHI, date formats, a value with markup, formula-like values),
/// visits (a foreign key to patients, an estimated distinct count) and a table whose name breaks
/// Excel's sheet name rules.
pub fn fixture() -> SnapshotProfile {
    let mut id = column("id", 0, InferredType::Integer);
    id.declared_type = Some("int".into());
    id.distinct.count = 100;
    id.non_null = 100;
    id.min = Some("1".into());
    id.max = Some("100".into());
    id.formats = vec![fmt("integer", 100, 1.0)];

    let mut name = column("name", 1, InferredType::Text);
    name.phi = Some(PhiKind::Name);
    name.non_null = 98;
    name.nulls = 2;
    name.top_values = vec![vc("Smith", 7), vc("<b>O'Brien & Co</b>", 5)];
    name.formats = vec![fmt("text", 98, 1.0)];

    let mut dob = column("dob", 2, InferredType::Date);
    dob.phi = Some(PhiKind::BirthDate);
    dob.non_null = 100;
    dob.min = Some("01/02/1931".into());
    dob.max = Some("2019-12-31".into());
    dob.formats = vec![
        fmt("date:MM/DD/YYYY", 93, 0.93),
        fmt("date:YYYY-MM-DD", 7, 0.07),
    ];
    dob.top_values = vec![vc("01/01/1970", 6)];

    let mut note = column("note", 3, InferredType::Text);
    note.phi = Some(PhiKind::FreeText);
    note.non_null = 100;
    note.blanks = 40;
    note.top_values = vec![
        vc("", 40),
        vc("=HYPERLINK(\"x\")", 9),
        vc("+1 555", 8),
        vc("-neg", 7),
        vc("@mention", 6),
    ];
    note.formats = vec![fmt("text", 60, 1.0)];

    let patients = TableProfile {
        name: "patients".into(),
        source_name: "PATIENTS".into(),
        rows: 100,
        columns: vec![id, name, dob, note],
        declared_primary_key: vec!["id".into()],
        candidate_keys: vec!["id".into()],
        duration_ms: 3,
    };

    let mut vid = column("id", 0, InferredType::Integer);
    vid.non_null = 250;
    vid.formats = vec![fmt("integer", 250, 1.0)];
    let mut pid = column("patient_id", 1, InferredType::Integer);
    pid.non_null = 250;
    pid.top_values = vec![vc("17", 12)];
    let mut dx = column("dx_code", 2, InferredType::Code);
    dx.non_null = 250;
    dx.distinct = Distinct {
        count: 12_345,
        exact: false,
        relative_error: Some(0.0081),
    };
    dx.top_values_exact = false;
    dx.top_values = vec![vc("E11.9", 40), vc("I10", 30)];
    dx.formats = vec![fmt("code:icd10cm", 245, 0.98), fmt("text", 5, 0.02)];
    let visits = TableProfile {
        name: "visits".into(),
        source_name: "visits".into(),
        rows: 250,
        columns: vec![vid, pid, dx],
        declared_primary_key: vec![],
        candidate_keys: vec!["id".into()],
        duration_ms: 2,
    };

    let mut code = column("código", 0, InferredType::Text);
    code.non_null = 0;
    code.nulls = 5;
    let odd = TableProfile {
        name: LONG_TABLE.into(),
        source_name: LONG_TABLE.into(),
        rows: 5,
        columns: vec![code],
        declared_primary_key: vec![],
        candidate_keys: vec![],
        duration_ms: 1,
    };

    SnapshotProfile {
        format: PROFILE_FORMAT,
        ferry_version: "0.1.0".into(),
        snapshot: 2,
        snapshot_label: Some("clinic <export> 2024".into()),
        snapshot_content_sha256: "ab".repeat(32),
        options: ProfileSettings {
            samples: true,
            small_count_threshold: 5,
            exact_distinct_limit: 10_000,
            top_values: 10,
        },
        tables: vec![patients, visits, odd],
        foreign_keys: vec![ForeignKeyCandidate {
            table: "visits".into(),
            column: "patient_id".into(),
            ref_table: "patients".into(),
            ref_column: "id".into(),
            values: 250,
            matched: 248,
            share: 0.992,
            orphans: 2,
        }],
        duration_ms: 9,
    }
}

/// Every sheet of a workbook: name, hidden, and cells as `Data` indexed from A1.
pub struct Sheet {
    pub name: String,
    pub hidden: bool,
    pub cells: Vec<Vec<Data>>,
}

impl Sheet {
    pub fn text(&self, row: usize, col: usize) -> String {
        match self.cells.get(row).and_then(|r| r.get(col)) {
            Some(Data::String(s)) => s.clone(),
            Some(Data::Empty) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }
    pub fn set(&mut self, row: usize, col: usize, value: Data) {
        while self.cells.len() <= row {
            self.cells.push(Vec::new());
        }
        let r = &mut self.cells[row];
        while r.len() <= col {
            r.push(Data::Empty);
        }
        r[col] = value;
    }
    /// The row whose first two cells are `table`, `column`.
    pub fn row_of(&self, table: &str, column: &str) -> Option<usize> {
        (0..self.cells.len()).find(|&r| self.text(r, 0) == table && self.text(r, 1) == column)
    }
}

pub fn read_sheets(path: &Path) -> Vec<Sheet> {
    let mut wb: Xlsx<_> = open_workbook(path).expect("open workbook");
    let meta: Vec<(String, bool)> = wb
        .sheets_metadata()
        .iter()
        .map(|s| (s.name.clone(), s.visible != calamine::SheetVisible::Visible))
        .collect();
    meta.into_iter()
        .map(|(name, hidden)| {
            let range = wb.worksheet_range(&name).expect("sheet");
            let mut cells = Vec::new();
            if let Some((end_r, end_c)) = range.end() {
                for r in 0..=end_r {
                    let row: Vec<Data> = (0..=end_c)
                        .map(|c| range.get_value((r, c)).cloned().unwrap_or(Data::Empty))
                        .collect();
                    cells.push(row);
                }
            }
            Sheet {
                name,
                hidden,
                cells,
            }
        })
        .collect()
}

/// Writes sheets back as a workbook the way a spreadsheet program would save an edited copy
/// (values only: strings as strings, numbers as numbers).
pub fn write_sheets(sheets: &[Sheet], path: &Path) {
    let mut wb = rust_xlsxwriter::Workbook::new();
    for s in sheets {
        let ws = wb.add_worksheet();
        ws.set_name(&s.name).unwrap();
        if s.hidden {
            ws.set_hidden(true);
        }
        for (r, row) in s.cells.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let (r, c) = (r as u32, c as u16);
                match v {
                    Data::String(x) => {
                        ws.write_string(r, c, x).unwrap();
                    }
                    Data::Float(x) => {
                        ws.write_number(r, c, *x).unwrap();
                    }
                    Data::Int(x) => {
                        ws.write_number(r, c, *x as f64).unwrap();
                    }
                    Data::Bool(x) => {
                        ws.write_boolean(r, c, *x).unwrap();
                    }
                    Data::DateTime(d) => {
                        let f = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
                        ws.write_number_with_format(r, c, d.as_f64(), &f).unwrap();
                    }
                    Data::Empty => {}
                    other => {
                        ws.write_string(r, c, other.to_string()).unwrap();
                    }
                }
            }
        }
    }
    wb.save(path).unwrap();
}

pub fn sheet<'a>(sheets: &'a mut [Sheet], name: &str) -> &'a mut Sheet {
    sheets
        .iter_mut()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no sheet {name}"))
}
