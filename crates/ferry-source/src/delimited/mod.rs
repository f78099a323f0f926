//! Delimited text reader: CSV, TSV, pipe- and semicolon-delimited files.
//!
//! One file is one table, named after the file stem (`patients.csv` -> `patients`). Parsing is
//! done by the `csv` crate; this module chooses the encoding and dialect, checks each record,
//! and streams rows into the [`Sink`].
//!
//! What it does, in order:
//! 1. **Encoding.** A caller-given WHATWG label wins. Else a BOM decides (UTF-8 BOM: stripped;
//!    UTF-16 LE/BE: transcoded). Else the whole file is checked to be UTF-8 in one streaming pass;
//!    if it is not, `chardetng` guesses the legacy encoding (typically windows-1252) and the file
//!    is transcoded while it is parsed, with a [`NoteKind::Transcoded`] note naming the encoding
//!    and the line of the first byte that was not UTF-8.
//! 2. **Dialect** from the first 64 KiB: the delimiter among `,` `\t` `;` `|` whose field count is
//!    the most consistent across records (then the one giving more fields; the file extension
//!    breaks ties: `.tsv`/`.tab` tab, `.psv` pipe), quote `"` (doubled to escape), line endings.
//!    The first row is the header unless `has_header: Some(false)` (then columns are `c1..cN`, N
//!    the most common field count of the sample). A guessed dialect is noted as a Warning.
//! 3. **Rows.** Values are the text exactly as in the file: no trimming, an empty field is
//!    `Text("")`, never NULL. Header names are made unique (`col`, `col_2`; empty -> `column_N`),
//!    with a Warning note per renamed column.
//!
//! Records that cannot be staged are never guessed at: a record whose field count differs from
//! the header's, or with a quote that closes in the middle of a field (`"ab"c`), becomes a
//! [`NoteKind::RejectedRow`] note with its first line and raw bytes (in the file's encoding,
//! without its line terminator), and reading goes on with the next record. A quote inside an
//! unquoted field (`ab"c`) is kept literally, with one Warning per file.
//!
//! An unbalanced quote swallows the lines after it into one field. Where a later quote closes it,
//! the swallowed lines usually make one ragged record, which is rejected (its note names the
//! lines it spans); a well-formed record spanning more than 1000 lines is staged with a Warning.
//! A quote still open at the end of the file is an error naming the line where it opened (the
//! rows before it have been pushed to the sink; the caller should treat the file as failed).
//! A record longer than [`DEFAULT_MAX_RECORD_BYTES`] (or `max_record_bytes`) is an error too, so
//! memory stays bounded whatever the file holds.
//!
//! Line numbers are 1-based physical lines (`\n`, `\r\n` or a lone `\r` end a line; lines inside
//! quoted fields count). Blank lines are skipped by the parser (so a one-column file cannot hold
//! an empty value on a line of its own).

mod encoding;
mod lines;
pub(crate) mod shape;
mod sniff;
mod tape;

pub use sniff::{DELIMITERS, LineTerminator};

use crate::SourceError;
use encoding::{Choice, ChooseError, DecodeReader, Reason};
use ferry_core::{ColumnDef, Note, NoteKind, Origin, Sink, TableDef, TableId, Value};
use shape::Shape;
use std::io::{self, Read};
use std::path::Path;
use tape::{RecordTooLong, Tape};

/// Longest record accepted by default (decoded bytes): a larger one is an error.
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 256 << 20;
/// Bytes of the file's start used to sniff the dialect.
const SAMPLE_BYTES: usize = 64 << 10;
const PROGRESS_EVERY: u64 = 1 << 20;
/// A staged record spanning more lines than this gets a Warning (a quote may be unbalanced).
const LONG_RECORD_LINES: u64 = 1000;
/// InvalidText notes per file before they are summed up in one.
const MAX_INVALID_TEXT_NOTES: u64 = 100;

/// Options for delimited files; `None` means detect.
#[derive(Debug, Clone, Default)]
pub struct DelimitedOptions {
    pub delimiter: Option<u8>,
    /// A WHATWG encoding label (`utf-8`, `windows-1252`, `latin1`, `utf-16le` ...).
    pub encoding: Option<String>,
    pub has_header: Option<bool>,
    /// Longest record accepted, in decoded bytes; `None` means [`DEFAULT_MAX_RECORD_BYTES`].
    pub max_record_bytes: Option<u64>,
}

/// What was detected and done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelimitedReport {
    /// The encoding the file was read in (`UTF-8`, `windows-1252`, `UTF-16LE` ...).
    pub encoding: String,
    /// A byte-order mark was found and stripped.
    pub bom: bool,
    /// When the file was detected not to be UTF-8: the line of its first non-UTF-8 byte.
    pub first_invalid_utf8_line: Option<u64>,
    /// The table the rows went to.
    pub table: String,
    pub delimiter: u8,
    /// The delimiter was sniffed (not given in the options).
    pub delimiter_detected: bool,
    pub has_header: bool,
    /// Line endings seen in the first 64 KiB.
    pub line_terminator: LineTerminator,
    pub columns: usize,
    /// Rows staged.
    pub rows: u64,
    /// Records rejected (each has a RejectedRow note).
    pub rejected_rows: u64,
    /// Records holding a quote inside an unquoted field (kept literally).
    pub stray_quote_records: u64,
}

/// Reads one delimited file into one table named after the file stem.
pub fn read_file(
    path: &Path,
    file: &str,
    options: &DelimitedOptions,
    sink: &mut dyn Sink,
) -> Result<DelimitedReport, SourceError> {
    let table = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "table".to_string());
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let open = || -> io::Result<Box<dyn Read + '_>> { Ok(Box::new(std::fs::File::open(path)?)) };
    read_with(&open, file, &name, &table, options, sink)
}

/// Reads delimited text held in memory (tests, fuzzing) into the table `table`. `file` names
/// the input in notes and errors; its extension, if any, guides the delimiter sniff.
pub fn read_slice(
    data: &[u8],
    file: &str,
    table: &str,
    options: &DelimitedOptions,
    sink: &mut dyn Sink,
) -> Result<DelimitedReport, SourceError> {
    let open = || -> io::Result<Box<dyn Read + '_>> { Ok(Box::new(data)) };
    read_with(&open, file, file, table, options, sink)
}

type Opener<'a> = dyn Fn() -> io::Result<Box<dyn Read + 'a>> + 'a;

/// Counts the bytes read from the file.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// The file from after its BOM, as UTF-8 (or as the file's bytes when it is read as UTF-8).
enum Stream<'a> {
    Plain(Counting<Box<dyn Read + 'a>>),
    Decoded(DecodeReader<Counting<Box<dyn Read + 'a>>>),
}

impl Stream<'_> {
    fn consumed(&self) -> u64 {
        match self {
            Stream::Plain(c) => c.count,
            Stream::Decoded(d) => d.inner().count,
        }
    }

    fn replaced(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Decoded(d) => d.replaced,
        }
    }
}

impl Read for Stream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(r) => r.read(buf),
            Stream::Decoded(r) => r.read(buf),
        }
    }
}

fn open_stream<'a>(open: &Opener<'a>, choice: &Choice) -> io::Result<Stream<'a>> {
    let mut counting = Counting {
        inner: open()?,
        count: 0,
    };
    let mut bom = [0u8; 4];
    let want = choice.bom_len.min(bom.len());
    encoding::read_full(&mut counting, &mut bom[..want])?;
    Ok(if choice.transcodes() {
        Stream::Decoded(DecodeReader::new(counting, choice.encoding))
    } else {
        Stream::Plain(counting)
    })
}

fn empty_file_error(file: &str) -> SourceError {
    SourceError::syntax(
        file,
        1,
        1,
        "empty file, no header: the file holds no record (it is empty or has only blank lines); \
         check the export, or leave the file out of the inputs",
    )
}

fn is_line_break(b: &u8) -> bool {
    *b == b'\r' || *b == b'\n'
}

fn read_with(
    open: &Opener<'_>,
    file: &str,
    file_name: &str,
    table: &str,
    options: &DelimitedOptions,
    sink: &mut dyn Sink,
) -> Result<DelimitedReport, SourceError> {
    let io_err = |e: io::Error| SourceError::io(file, e);
    let choice = encoding::choose(open, options.encoding.as_deref()).map_err(|e| match e {
        ChooseError::UnknownLabel(label) => SourceError::Unsupported {
            file: file.to_string(),
            message: format!(
                "unknown text encoding `{label}`; give a WHATWG label such as `utf-8`, \
                 `windows-1252`, `iso-8859-15` or `utf-16le`"
            ),
        },
        ChooseError::Io(e) => io_err(e),
    })?;

    // The sample: the first bytes of the decoded file.
    let mut sample = vec![0u8; SAMPLE_BYTES];
    let n = encoding::read_full(
        &mut open_stream(open, &choice).map_err(io_err)?,
        &mut sample,
    )
    .map_err(io_err)?;
    sample.truncate(n);
    let complete = n < SAMPLE_BYTES;
    if complete && sample.iter().all(is_line_break) {
        return Err(empty_file_error(file));
    }

    let line_terminator = sniff::line_terminator(&sample);
    let (delimiter, modal_count, delimiter_found) = match options.delimiter {
        Some(d) => (
            d,
            sniff::delimiter(&sample, complete, &[d]).map(|x| x.1),
            true,
        ),
        None => {
            let preference = sniff::preference_for(file_name);
            match sniff::delimiter(&sample, complete, &preference) {
                Some((d, count)) => (d, Some(count), true),
                None => (preference.first().copied().unwrap_or(b','), None, false),
            }
        }
    };
    let has_header = options.has_header.unwrap_or(true);
    let first_invalid_utf8_line = match choice.reason {
        Reason::Detected { first_invalid_line } | Reason::MixedUtf8 { first_invalid_line } => {
            Some(first_invalid_line)
        }
        _ => None,
    };
    if let Reason::MixedUtf8 { first_invalid_line } = choice.reason {
        sink.note(
            Note::new(
                NoteKind::Warning,
                file,
                format!(
                    "mostly UTF-8 but not all: the first invalid byte is on line \
                     {first_invalid_line}. Read as UTF-8; fields that are not valid UTF-8 are \
                     staged as bytes (see the invalid-text notes). If the file is in a legacy \
                     encoding, give it explicitly with --encoding"
                ),
            )
            .at_line(first_invalid_line)
            .in_table(table),
        )?;
    }
    let mut report = DelimitedReport {
        encoding: choice.encoding.name().to_string(),
        bom: choice.bom_len > 0,
        first_invalid_utf8_line,
        table: table.to_string(),
        delimiter,
        delimiter_detected: options.delimiter.is_none(),
        has_header,
        line_terminator,
        columns: 0,
        rows: 0,
        rejected_rows: 0,
        stray_quote_records: 0,
    };

    if options.delimiter.is_none() || options.has_header.is_none() {
        sink.note(
            Note::new(
                NoteKind::Detected,
                file,
                dialect_message(&report, &choice, delimiter_found),
            )
            .in_table(table),
        )?;
    }
    if choice.transcodes() {
        let name = choice.encoding.name();
        let mut note = Note::new(
            NoteKind::Transcoded,
            file,
            match choice.reason {
                Reason::Requested => {
                    format!("decoded from {name} to UTF-8, as the encoding option asked")
                }
                Reason::Bom => format!("{name} byte-order mark; decoded to UTF-8"),
                Reason::Detected { first_invalid_line } => format!(
                    "not valid UTF-8 (first invalid byte on line {first_invalid_line}); detected \
                     {name} and decoded to UTF-8. If this is wrong, give the file's encoding \
                     explicitly"
                ),
                Reason::ValidUtf8 | Reason::MixedUtf8 { .. } => {
                    format!("decoded from {name} to UTF-8")
                }
            },
        )
        .in_table(table);
        if let Some(line) = first_invalid_utf8_line {
            note = note.at_line(line);
        }
        sink.note(note)?;
    }

    let limit = options.max_record_bytes.unwrap_or(DEFAULT_MAX_RECORD_BYTES);
    let stream = open_stream(open, &choice).map_err(io_err)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(64 << 10)
        .from_reader(Tape::new(stream, limit));

    let mut record = csv::ByteRecord::new();
    let mut names: Vec<String> = Vec::new();
    let mut table_id: Option<TableId> = None;
    let mut first_stray_line: Option<u64> = None;
    let mut invalid_text: u64 = 0;
    let mut last_progress = 0u64;

    loop {
        let start = reader.position().byte();
        reader.get_mut().begin_record(start);
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => {
                let tape = reader.get_mut();
                let fed = tape.fed();
                let lead = tape
                    .slice(start, fed)
                    .iter()
                    .take_while(|b| is_line_break(b));
                let first = start + lead.count() as u64;
                let line = tape.line_at(first);
                return Err(csv_error(err, file, line, limit));
            }
        }
        let end = reader.position().byte();
        let tape = reader.get_mut();
        let lead = tape
            .slice(start, end)
            .iter()
            .take_while(|b| is_line_break(b));
        let first = start + lead.count() as u64;
        let line = tape.line_at(first);
        let raw = tape.slice(first, end);
        let shape = if raw.contains(&b'"') {
            shape::check(raw, record.iter(), delimiter)
        } else {
            Shape::Regular { stray_quote: false }
        };
        if let Shape::Unclosed { field, open } = shape {
            let before = raw.get(..open).unwrap_or_default();
            let column = before
                .iter()
                .rposition(is_line_break)
                .map_or(open + 1, |p| open - p);
            let open_line = tape.line_at(first + open as u64);
            return Err(SourceError::syntax(
                file,
                open_line,
                column as u64,
                format!(
                    "the file has an unclosed quote at line {open_line} (field {} of the record \
                     starting at line {line}): the file ends inside the quoted field. Fix the \
                     quote or re-export the file",
                    field + 1
                ),
            ));
        }
        let trailing = raw.iter().rev().take_while(|b| is_line_break(b)).count();
        let content_len = raw.len() - trailing;
        let content_end = first + content_len as u64;
        let end_line = tape.line_at(content_end);
        if let Shape::Regular { stray_quote: true } = shape {
            report.stray_quote_records += 1;
            first_stray_line.get_or_insert(line);
        }

        let id = match table_id {
            Some(id) => id,
            None => {
                let header_names = if has_header {
                    let raw_names: Vec<String> = record
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect();
                    if record.iter().any(|f| std::str::from_utf8(f).is_err()) {
                        sink.note(
                            Note::new(
                                NoteKind::InvalidText,
                                file,
                                format!(
                                    "header row holds bytes that are not valid {}; they were \
                                     replaced with U+FFFD in column names",
                                    report.encoding
                                ),
                            )
                            .at_line(line)
                            .in_table(table),
                        )?;
                    }
                    if let Shape::Irregular { field } = shape {
                        sink.note(
                            Note::new(
                                NoteKind::Warning,
                                file,
                                format!(
                                    "header field {} has a quote that closes in the middle of \
                                     the field; its name is taken as the parser read it",
                                    field + 1
                                ),
                            )
                            .at_line(line)
                            .in_table(table),
                        )?;
                    }
                    raw_names
                } else {
                    let count = modal_count.unwrap_or(record.len());
                    (1..=count).map(|i| format!("c{i}")).collect()
                };
                let (unique, renamed) = shape::unique_names(header_names);
                for r in renamed {
                    sink.note(
                        Note::new(
                            NoteKind::Warning,
                            file,
                            format!(
                                "column {} has an {}; named `{}`",
                                r.position, r.reason, r.name
                            ),
                        )
                        .at_line(line)
                        .in_table(table)
                        .in_column(r.name.clone()),
                    )?;
                }
                names = unique;
                report.columns = names.len();
                let mut def = TableDef::new(
                    table,
                    names
                        .iter()
                        .map(|n| ColumnDef::new(n.clone(), None))
                        .collect(),
                    Origin {
                        file: file.to_string(),
                        line,
                    },
                );
                if choice.transcodes() {
                    def.transcoded_from = Some(choice.encoding.name().to_string());
                }
                let id = sink.table(def)?;
                table_id = Some(id);
                if has_header {
                    continue;
                }
                id
            }
        };

        let spans = if end_line > line {
            format!(" (the record spans lines {line}-{end_line}; a quote may be unbalanced)")
        } else {
            String::new()
        };
        let problem = if record.len() != names.len() {
            Some(format!(
                "expected {} fields, found {}{spans}",
                names.len(),
                record.len()
            ))
        } else if let Shape::Irregular { field } = shape {
            Some(format!(
                "a quote closes in the middle of field {} (a field must be either quoted whole \
                 or hold no leading quote){spans}",
                field + 1
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            let raw = choice.encode_back(reader.get_ref().slice(first, content_end));
            sink.note(
                Note::new(NoteKind::RejectedRow, file, message)
                    .at_line(line)
                    .in_table(table)
                    .with_raw(raw),
            )?;
            report.rejected_rows += 1;
        } else {
            let mut values = Vec::with_capacity(names.len());
            for (i, field) in record.iter().enumerate() {
                match std::str::from_utf8(field) {
                    Ok(text) => values.push(Value::Text(text.to_owned())),
                    Err(_) => {
                        invalid_text += 1;
                        if invalid_text <= MAX_INVALID_TEXT_NOTES {
                            let column = names.get(i).cloned().unwrap_or_default();
                            sink.note(
                                Note::new(
                                    NoteKind::InvalidText,
                                    file,
                                    format!(
                                        "value is not valid {}; staged as bytes",
                                        report.encoding
                                    ),
                                )
                                .at_line(line)
                                .in_table(table)
                                .in_column(column),
                            )?;
                        }
                        values.push(Value::Bytes(field.to_vec()));
                    }
                }
            }
            sink.row(id, values)?;
            report.rows += 1;
            if end_line - line >= LONG_RECORD_LINES {
                sink.note(
                    Note::new(
                        NoteKind::Warning,
                        file,
                        format!(
                            "the record starting at line {line} spans {} lines; check that no \
                             quote is unbalanced",
                            end_line - line + 1
                        ),
                    )
                    .at_line(line)
                    .in_table(table),
                )?;
            }
        }

        let consumed = reader.get_ref().inner().consumed();
        if consumed - last_progress >= PROGRESS_EVERY {
            last_progress = consumed;
            sink.progress(consumed);
        }
    }

    if table_id.is_none() {
        return Err(empty_file_error(file));
    }
    if let Some(first) = first_stray_line {
        sink.note(
            Note::new(
                NoteKind::Warning,
                file,
                format!(
                    "{} record(s) hold a quote character inside an unquoted field (first at \
                     line {first}); the quotes were kept literally",
                    report.stray_quote_records
                ),
            )
            .at_line(first)
            .in_table(table),
        )?;
    }
    if invalid_text > MAX_INVALID_TEXT_NOTES {
        sink.note(
            Note::new(
                NoteKind::InvalidText,
                file,
                format!(
                    "{invalid_text} values in all are not valid {} and were staged as bytes \
                     (only the first {MAX_INVALID_TEXT_NOTES} have their own note)",
                    report.encoding
                ),
            )
            .in_table(table),
        )?;
    }
    let stream = reader.get_ref().inner();
    if stream.replaced() {
        sink.note(
            Note::new(
                NoteKind::InvalidText,
                file,
                format!(
                    "some byte sequences are not valid {} and were replaced with U+FFFD; give \
                     the file's encoding explicitly if {} is wrong",
                    report.encoding, report.encoding
                ),
            )
            .in_table(table),
        )?;
    }
    sink.progress(stream.consumed());
    Ok(report)
}

fn dialect_message(report: &DelimitedReport, choice: &Choice, delimiter_found: bool) -> String {
    let delimiter = sniff::show_delimiter(report.delimiter);
    let delimiter = match (report.delimiter_detected, delimiter_found) {
        (false, _) => format!("{delimiter} delimiter (as asked)"),
        (true, true) => format!("{delimiter} delimiter (detected)"),
        (true, false) => format!(
            "no delimiter found (every line has one field): read as one column, {delimiter} \
             assumed"
        ),
    };
    let header = if report.has_header {
        "first row is the header"
    } else {
        "no header row, columns named c1..cN"
    };
    let bom = if report.bom {
        ", byte-order mark removed"
    } else {
        ""
    };
    let reason = match choice.reason {
        Reason::Requested => "as asked",
        Reason::Bom => "byte-order mark",
        Reason::ValidUtf8 => "the whole file is valid UTF-8",
        Reason::Detected { .. } => "detected",
        Reason::MixedUtf8 { .. } => "UTF-8 with some invalid bytes",
    };
    format!(
        "read as delimited text: {delimiter}, {header}, quote `\"`, {} line endings, encoding {} \
         ({reason}){bom}",
        report.line_terminator.as_str(),
        report.encoding
    )
}

fn csv_error(err: csv::Error, file: &str, line: u64, limit: u64) -> SourceError {
    match err.into_kind() {
        csv::ErrorKind::Io(e) => {
            if e.get_ref().is_some_and(|inner| inner.is::<RecordTooLong>()) {
                SourceError::syntax(
                    file,
                    line,
                    1,
                    format!(
                        "the record starting at line {line} is longer than {}; most likely a \
                         quote opened on or after this line is never closed (or this is not \
                         delimited text). Fix or re-export the file",
                        show_size(limit)
                    ),
                )
            } else {
                SourceError::io(file, e)
            }
        }
        other => SourceError::syntax(
            file,
            line,
            1,
            format!("cannot parse the record starting here ({other:?}); re-export the file"),
        ),
    }
}

fn show_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}
