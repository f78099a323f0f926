//! Output side: the row buffer, the mysqldump writer, the CSV writer, the workbook writer and
//! per-column statistics.

use std::cell::Cell as StdCell;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use encoding_rs::WINDOWS_1252;

use crate::GenError;
use crate::util::push_hex;

/// How a column's values are rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    /// Integer or decimal: unquoted in SQL.
    Num,
    /// Text (or a DATE/DATETIME typed column): quoted and escaped.
    Str,
    /// A varchar column holding dates in mixed legacy shapes (counted per shape).
    DateText,
    /// Binary, dumped as `_binary '...'` (MySQL 8 default).
    Bin,
    /// Binary, dumped as `0x...` (`--hex-blob`).
    BinHex,
}

pub(crate) struct Col {
    pub name: &'static str,
    pub sql: &'static str,
    pub ty: Ty,
}

pub(crate) struct CsvStyle {
    pub ext: &'static str,
    pub delimiter: u8,
    pub cp1252: bool,
    pub bom: bool,
    pub crlf: bool,
}

pub(crate) const CSV_DEFAULT: CsvStyle = CsvStyle {
    ext: "csv",
    delimiter: b',',
    cp1252: false,
    bom: false,
    crlf: false,
};

pub(crate) struct TableDef {
    pub name: &'static str,
    pub cols: &'static [Col],
    /// Extra `KEY` lines: (index name, column list).
    pub keys: &'static [(&'static str, &'static str)],
    /// Declared `DEFAULT CHARSET=latin1`; strings dumped in Windows-1252 under `SET NAMES latin1`.
    pub latin1: bool,
    pub csv: CsvStyle,
}

/// One cell of the reusable row buffer.
#[derive(Default)]
pub(crate) struct Cell {
    pub null: bool,
    pub buf: Vec<u8>,
}

/// A reusable row: cells are cleared and refilled for every row, so no per-value allocation.
#[derive(Default)]
pub(crate) struct Row {
    cells: Vec<Cell>,
    len: usize,
}

impl Row {
    pub fn begin(&mut self) {
        self.len = 0;
    }
    fn next_cell(&mut self) -> &mut Cell {
        if self.len == self.cells.len() {
            self.cells.push(Cell::default());
        }
        let i = self.len;
        self.len += 1;
        let c = &mut self.cells[i];
        c.null = false;
        c.buf.clear();
        c
    }
    pub fn null(&mut self) {
        self.next_cell().null = true;
    }
    pub fn int(&mut self, v: i64) {
        crate::util::push_int(&mut self.next_cell().buf, v);
    }
    pub fn fixed(&mut self, v: i64, scale: u32) {
        crate::util::push_fixed(&mut self.next_cell().buf, v, scale);
    }
    pub fn s(&mut self, v: &str) {
        self.next_cell().buf.extend_from_slice(v.as_bytes());
    }
    pub fn opt(&mut self, v: Option<&str>) {
        match v {
            Some(v) => self.s(v),
            None => self.null(),
        }
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.next_cell().buf.extend_from_slice(v);
    }
    /// A cell filled by the caller (dates, formatted text).
    pub fn with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        f(&mut self.next_cell().buf);
    }
    /// A cell that is NULL when `f` returns false.
    pub fn with_opt(&mut self, f: impl FnOnce(&mut Vec<u8>) -> bool) {
        let c = self.next_cell();
        if !f(&mut c.buf) {
            c.null = true;
            c.buf.clear();
        }
    }
    pub fn cells(&self) -> &[Cell] {
        &self.cells[..self.len]
    }
    /// Replace cell `i` of the current row (an evolution's edit); nothing when there is no such cell.
    pub fn set_with(&mut self, i: usize, f: impl FnOnce(&mut Vec<u8>)) {
        if i < self.len
            && let Some(c) = self.cells.get_mut(i)
        {
            c.null = false;
            c.buf.clear();
            f(&mut c.buf);
        }
    }
    /// Append to cell `i` of the current row (a NULL cell becomes text).
    pub fn append_with(&mut self, i: usize, f: impl FnOnce(&mut Vec<u8>)) {
        if i < self.len
            && let Some(c) = self.cells.get_mut(i)
        {
            c.null = false;
            f(&mut c.buf);
        }
    }
}

/// Counters for one column, filled while writing (so they describe exactly what was written).
#[derive(Default, Clone)]
pub(crate) struct ColStats {
    pub nulls: u64,
    pub empties: u64,
    pub multiline: u64,
    pub with_quote: u64,
    pub with_backslash: u64,
    pub with_nul: u64,
    pub with_ctrl_z: u64,
    /// For `DateText` columns: counts per shape, indexed like [`DATE_SHAPE_NAMES`].
    pub dates: [u64; 7],
}

pub(crate) const DATE_SHAPE_NAMES: [&str; 7] = [
    "MM/DD/YYYY",
    "YYYY-MM-DD",
    "DD-Mon-YY",
    "blank",
    "00/00/0000",
    "null",
    "other",
];

fn classify_date(cell: &Cell) -> usize {
    let b = cell.buf.as_slice();
    if cell.null {
        return 5;
    }
    let dig = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    match b.len() {
        0 => 3,
        10 if b == b"00/00/0000" => 4,
        10 if b[2] == b'/' && b[5] == b'/' && dig(&b[0..2]) && dig(&b[3..5]) && dig(&b[6..10]) => 0,
        10 if b[4] == b'-' && b[7] == b'-' && dig(&b[0..4]) && dig(&b[5..7]) && dig(&b[8..10]) => 1,
        9 if b[2] == b'-'
            && b[6] == b'-'
            && dig(&b[0..2])
            && dig(&b[7..9])
            && b[3..6].iter().all(u8::is_ascii_alphabetic) =>
        {
            2
        }
        _ => 6,
    }
}

/// A `Write` that counts bytes into a shared counter (for progress and the manifest).
pub(crate) struct Counting<W> {
    inner: W,
    count: Rc<StdCell<u64>>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub(crate) fn io_err(path: &Path, source: io::Error) -> GenError {
    GenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn create(path: &Path) -> Result<File, GenError> {
    File::create(path).map_err(|e| io_err(path, e))
}

enum SqlSink {
    Plain(BufWriter<File>),
    Gz(Box<flate2::write::GzEncoder<BufWriter<File>>>),
}

impl Write for SqlSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            SqlSink::Plain(w) => w.write(buf),
            SqlSink::Gz(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            SqlSink::Plain(w) => w.flush(),
            SqlSink::Gz(w) => w.flush(),
        }
    }
}

/// `net_buffer_length` as mysqldump uses it to cut extended INSERTs.
pub(crate) const NET_BUFFER_LENGTH: usize = 1_046_528;

/// The mysqldump output stream (plain or gzip).
pub(crate) struct SqlOut {
    pub path: PathBuf,
    w: Counting<SqlSink>,
    tuple: Vec<u8>,
    enc: Vec<u8>,
    stmt_len: usize,
}

impl SqlOut {
    pub fn new(path: PathBuf, gzip: bool, count: Rc<StdCell<u64>>) -> Result<Self, GenError> {
        let f = create(&path)?;
        let bw = BufWriter::with_capacity(1 << 20, f);
        let inner = if gzip {
            // GzEncoder writes mtime 0 and no file name: the output is byte-reproducible.
            SqlSink::Gz(Box::new(flate2::write::GzEncoder::new(
                bw,
                flate2::Compression::new(1),
            )))
        } else {
            SqlSink::Plain(bw)
        };
        Ok(SqlOut {
            path,
            w: Counting { inner, count },
            tuple: Vec::new(),
            enc: Vec::new(),
            stmt_len: 0,
        })
    }

    pub fn text(&mut self, s: &str) -> Result<(), GenError> {
        self.w
            .write_all(s.as_bytes())
            .map_err(|e| io_err(&self.path, e))
    }

    pub fn begin_data(&mut self) {
        self.stmt_len = 0;
    }

    pub fn row(&mut self, def: &TableDef, row: &Row) -> Result<(), GenError> {
        let mut tuple = std::mem::take(&mut self.tuple);
        tuple.clear();
        tuple.push(b'(');
        for (i, (cell, col)) in row.cells().iter().zip(def.cols).enumerate() {
            if i > 0 {
                tuple.push(b',');
            }
            if cell.null {
                tuple.extend_from_slice(b"NULL");
                continue;
            }
            match col.ty {
                Ty::Num => tuple.extend_from_slice(&cell.buf),
                Ty::Str | Ty::DateText => {
                    tuple.push(b'\'');
                    if def.latin1 {
                        let text = String::from_utf8_lossy(&cell.buf);
                        let (bytes, _, _) = WINDOWS_1252.encode(&text);
                        self.enc.clear();
                        self.enc.extend_from_slice(&bytes);
                        escape_into(&mut tuple, &self.enc);
                    } else {
                        escape_into(&mut tuple, &cell.buf);
                    }
                    tuple.push(b'\'');
                }
                Ty::Bin => {
                    tuple.extend_from_slice(b"_binary '");
                    escape_into(&mut tuple, &cell.buf);
                    tuple.push(b'\'');
                }
                Ty::BinHex => {
                    if cell.buf.is_empty() {
                        tuple.extend_from_slice(b"''");
                    } else {
                        tuple.extend_from_slice(b"0x");
                        push_hex(&mut tuple, &cell.buf);
                    }
                }
            }
        }
        tuple.push(b')');
        let res = self.emit_tuple(def.name, &tuple);
        self.tuple = tuple;
        res
    }

    fn emit_tuple(&mut self, table: &str, tuple: &[u8]) -> Result<(), GenError> {
        let path = &self.path;
        let w = &mut self.w;
        let mut go = || -> io::Result<()> {
            if self.stmt_len > 0 && self.stmt_len + 1 + tuple.len() + 2 > NET_BUFFER_LENGTH {
                w.write_all(b";\n")?;
                self.stmt_len = 0;
            }
            if self.stmt_len == 0 {
                let head = format!("INSERT INTO `{table}` VALUES ");
                w.write_all(head.as_bytes())?;
                self.stmt_len = head.len();
            } else {
                w.write_all(b",")?;
                self.stmt_len += 1;
            }
            w.write_all(tuple)?;
            self.stmt_len += tuple.len();
            Ok(())
        };
        go().map_err(|e| io_err(path, e))
    }

    pub fn end_data(&mut self) -> Result<(), GenError> {
        if self.stmt_len > 0 {
            self.stmt_len = 0;
            self.text(";\n")?;
        }
        Ok(())
    }

    pub fn finish(self) -> Result<(), GenError> {
        let SqlOut { path, w, .. } = self;
        let res = match w.inner {
            SqlSink::Plain(mut b) => b.flush(),
            SqlSink::Gz(g) => g.finish().and_then(|mut b| b.flush()),
        };
        res.map_err(|e| io_err(&path, e))
    }
}

/// mysqldump's string escaping (`mysql_real_escape_string`): NUL, newline, CR, backslash, both
/// quotes and Ctrl-Z are backslash-escaped; every other byte is copied as is.
pub(crate) fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            0 => b"\\0",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\\' => b"\\\\",
            b'\'' => b"\\'",
            b'"' => b"\\\"",
            0x1A => b"\\Z",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// One CSV (or pipe-delimited) file for one table.
pub(crate) struct CsvOut {
    pub path: PathBuf,
    w: csv::Writer<Counting<BufWriter<File>>>,
    cp1252: bool,
    scratch: Vec<u8>,
}

impl CsvOut {
    pub fn new(path: PathBuf, def: &TableDef, count: Rc<StdCell<u64>>) -> Result<Self, GenError> {
        let f = create(&path)?;
        let mut inner = Counting {
            inner: BufWriter::with_capacity(1 << 18, f),
            count,
        };
        if def.csv.bom {
            inner
                .write_all(b"\xEF\xBB\xBF")
                .map_err(|e| io_err(&path, e))?;
        }
        let mut w = csv::WriterBuilder::new()
            .delimiter(def.csv.delimiter)
            .terminator(if def.csv.crlf {
                csv::Terminator::CRLF
            } else {
                csv::Terminator::Any(b'\n')
            })
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(inner);
        w.write_record(def.cols.iter().map(|c| c.name))
            .map_err(|e| io_err(&path, e.into()))?;
        Ok(CsvOut {
            path,
            w,
            cp1252: def.csv.cp1252,
            scratch: Vec::new(),
        })
    }

    pub fn row(&mut self, def: &TableDef, row: &Row) -> Result<(), GenError> {
        let res = (|| -> csv::Result<()> {
            for (cell, col) in row.cells().iter().zip(def.cols) {
                if cell.null {
                    self.w.write_field(b"")?;
                    continue;
                }
                match col.ty {
                    Ty::Bin | Ty::BinHex => {
                        self.scratch.clear();
                        push_hex(&mut self.scratch, &cell.buf);
                        self.w.write_field(&self.scratch)?;
                    }
                    _ if self.cp1252 => {
                        let text = String::from_utf8_lossy(&cell.buf);
                        let (bytes, _, _) = WINDOWS_1252.encode(&text);
                        self.w.write_field(&bytes)?;
                    }
                    _ => self.w.write_field(&cell.buf)?,
                }
            }
            self.w.write_record(None::<&[u8]>)
        })();
        res.map_err(|e| io_err(&self.path, e.into()))
    }

    pub fn finish(self) -> Result<(), GenError> {
        let CsvOut { path, w, .. } = self;
        let mut inner = w
            .into_inner()
            .map_err(|e| io_err(&path, io::Error::other(e.to_string())))?;
        inner.flush().map_err(|e| io_err(&path, e))
    }
}

/// Rows a worksheet holds below its header row (Excel's limit is 1,048,576 rows).
pub(crate) const MAX_SHEET_ROWS: u64 = 1_048_575;

/// The clinic as one workbook (`clinic.xlsx`), one worksheet per table, written with
/// rust_xlsxwriter in constant-memory mode (each sheet's rows go to a temporary file as they
/// are written). Cells are what a careful export holds: a number where the text is exactly the
/// number's shortest decimal (ids, `98.6`; `12.50` stays text), a date cell (`yyyy-mm-dd`, or
/// `yyyy-mm-dd hh:mm:ss` for DATETIME columns) where a DATE or DATETIME value is a real date
/// from 1900-03-01, NULL as an empty cell, binary as hex text (as in the CSV export), the rest
/// as text. Staged, it gives the same values as the CSV export.
pub(crate) struct XlsxOut {
    pub path: PathBuf,
    wb: rust_xlsxwriter::Workbook,
    date: rust_xlsxwriter::Format,
    datetime: rust_xlsxwriter::Format,
    sheet: Option<usize>,
    row: u32,
    sheets: usize,
}

fn xlsx_err(path: &Path, e: rust_xlsxwriter::XlsxError) -> GenError {
    io_err(path, io::Error::other(e.to_string()))
}

/// A number cell's value when `text` is exactly that number's shortest decimal.
fn exact_number(text: &str) -> Option<f64> {
    let x: f64 = text.parse().ok()?;
    (x.is_finite() && x != 0.0 && format!("{x}") == text || text == "0").then_some(x)
}

/// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` of a real date from 1900-03-01 to 9999-12-31.
fn exact_date(text: &str) -> Option<rust_xlsxwriter::ExcelDateTime> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = b.get(r)?;
        s.iter()
            .all(u8::is_ascii_digit)
            .then(|| s.iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0')))
    };
    if !(b.len() == 10 || b.len() == 19) || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1900..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || d == 0
        || d > days[(m - 1) as usize]
        || (y == 1900 && m < 3)
    {
        return None;
    }
    if b.len() == 19 {
        if b[10] != b' ' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || mi > 59 || s > 59 {
            return None;
        }
    }
    rust_xlsxwriter::ExcelDateTime::parse_from_str(text).ok()
}

impl XlsxOut {
    pub fn new(path: PathBuf) -> Self {
        XlsxOut {
            path,
            wb: rust_xlsxwriter::Workbook::new(),
            date: rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd"),
            datetime: rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            sheet: None,
            row: 0,
            sheets: 0,
        }
    }

    /// Starts the worksheet of `def`, with its header row.
    pub fn begin(&mut self, def: &TableDef) -> Result<(), GenError> {
        let path = self.path.clone();
        let ws = self
            .wb
            .add_worksheet_with_constant_memory()
            .map_err(|e| xlsx_err(&path, e))?;
        ws.set_name(def.name).map_err(|e| xlsx_err(&path, e))?;
        for (i, c) in def.cols.iter().enumerate() {
            ws.write_string(0, i as u16, c.name)
                .map_err(|e| xlsx_err(&path, e))?;
        }
        self.sheet = Some(self.sheets);
        self.sheets += 1;
        self.row = 0;
        Ok(())
    }

    pub fn row(&mut self, def: &TableDef, row: &Row) -> Result<(), GenError> {
        let path = self.path.clone();
        if u64::from(self.row) >= MAX_SHEET_ROWS {
            return Err(GenError::Config(format!(
                "table {} has more than {MAX_SHEET_ROWS} rows, more than a worksheet holds; \
                 generate fewer patients for a workbook",
                def.name
            )));
        }
        self.row += 1;
        let r = self.row;
        let Some(index) = self.sheet else {
            return Ok(());
        };
        let ws = self
            .wb
            .worksheet_from_index(index)
            .map_err(|e| xlsx_err(&path, e))?;
        let mut hex = Vec::new();
        for (i, (cell, col)) in row.cells().iter().zip(def.cols).enumerate() {
            let c = i as u16;
            if cell.null {
                continue;
            }
            let res = match col.ty {
                Ty::Bin | Ty::BinHex => {
                    hex.clear();
                    push_hex(&mut hex, &cell.buf);
                    ws.write_string(r, c, String::from_utf8_lossy(&hex).as_ref())
                        .map(|_| ())
                }
                _ => {
                    let text = String::from_utf8_lossy(&cell.buf);
                    let sql = col.sql.as_bytes();
                    let is_date = sql.starts_with(b"date ") || sql.starts_with(b"datetime ");
                    if col.ty == Ty::Num
                        && let Some(x) = exact_number(&text)
                    {
                        ws.write_number(r, c, x).map(|_| ())
                    } else if col.ty == Ty::Str
                        && is_date
                        && let Some(dt) = exact_date(&text)
                    {
                        let format = if sql.starts_with(b"datetime ") {
                            &self.datetime
                        } else {
                            &self.date
                        };
                        ws.write_datetime_with_format(r, c, &dt, format).map(|_| ())
                    } else {
                        ws.write_string(r, c, text.as_ref()).map(|_| ())
                    }
                }
            };
            res.map_err(|e| xlsx_err(&path, e))?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), GenError> {
        let path = self.path.clone();
        self.wb.save(&path).map_err(|e| xlsx_err(&path, e))
    }
}

/// Update the column statistics for one written row.
pub(crate) fn tally(stats: &mut [ColStats], def: &TableDef, row: &Row) {
    for ((cell, col), st) in row.cells().iter().zip(def.cols).zip(stats.iter_mut()) {
        if col.ty == Ty::DateText {
            let k = classify_date(cell);
            st.dates[k] += 1;
        }
        if cell.null {
            st.nulls += 1;
            continue;
        }
        let b = &cell.buf;
        if b.is_empty() {
            st.empties += 1;
            continue;
        }
        if !matches!(col.ty, Ty::Str | Ty::DateText) {
            continue;
        }
        let (mut nl, mut q, mut bs, mut nul, mut cz) = (false, false, false, false, false);
        for &c in b.iter() {
            match c {
                b'\n' | b'\r' => nl = true,
                b'\'' | b'"' => q = true,
                b'\\' => bs = true,
                0 => nul = true,
                0x1A => cz = true,
                _ => {}
            }
        }
        st.multiline += u64::from(nl);
        st.with_quote += u64::from(q);
        st.with_backslash += u64::from(bs);
        st.with_nul += u64::from(nul);
        st.with_ctrl_z += u64::from(cz);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A workbook cell is typed only where staging it gives back the CSV export's text.
    #[test]
    fn workbook_cells_are_typed_only_where_the_text_comes_back() {
        assert_eq!(exact_number("42"), Some(42.0));
        assert_eq!(exact_number("98.6"), Some(98.6));
        assert_eq!(exact_number("0"), Some(0.0));
        for text in [
            "12.50",
            "75.0",
            "007",
            "-0",
            "1e5",
            "",
            "12345678901234567890",
        ] {
            assert_eq!(exact_number(text), None, "{text}");
        }
        assert!(exact_date("2019-03-07").is_some());
        assert!(exact_date("2019-03-07 14:30:00").is_some());
        assert!(exact_date("2020-02-29").is_some());
        for text in [
            "0000-00-00",
            "2019-02-29",
            "1900-02-28",
            "2019-13-01",
            "2019-03-07 24:00:00",
            "03/07/2019",
        ] {
            assert!(exact_date(text).is_none(), "{text}");
        }
    }

    #[test]
    fn mysqldump_escaping() {
        let mut out = Vec::new();
        escape_into(&mut out, b"a'b\"c\\d\ne\rf\0g\x1Ah");
        assert_eq!(out, b"a\\'b\\\"c\\\\d\\ne\\rf\\0g\\Zh".to_vec());
    }

    #[test]
    fn date_classifier() {
        let c = |s: &str| {
            classify_date(&Cell {
                null: false,
                buf: s.as_bytes().to_vec(),
            })
        };
        assert_eq!(c("03/07/2019"), 0);
        assert_eq!(c("2019-03-07"), 1);
        assert_eq!(c("07-Mar-19"), 2);
        assert_eq!(c(""), 3);
        assert_eq!(c("00/00/0000"), 4);
        assert_eq!(
            classify_date(&Cell {
                null: true,
                buf: Vec::new()
            }),
            5
        );
        assert_eq!(c("March 7"), 6);
    }
}
