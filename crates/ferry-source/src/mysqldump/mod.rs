//! mysqldump reader: every table and row of a `.sql` file in the shape `mysqldump` /
//! `mariadb-dump` write (MySQL 5.x/8.x, MariaDB), streamed, without a database server.
//!
//! # How it reads
//!
//! A hand-written, quote-aware byte scanner ([`scanner`]) walks the input through a fixed 1 MiB
//! window. `INSERT`/`REPLACE` statements are read tuple by tuple straight from the window, so
//! memory is bounded by the largest single value, not by the statement or the line (a dump line can
//! be a gigabyte). Every other statement is tokenized (bounded, see [`STATEMENT_CAP`]) and
//! interpreted: `CREATE TABLE` gives a table; `SET NAMES`, `USE`, `CREATE DATABASE`, `DROP TABLE`
//! change the reader's state; views, triggers, routines and events are skipped with a note;
//! housekeeping (`LOCK TABLES`, `ALTER TABLE ... DISABLE KEYS`, other `SET`s ...) is consumed
//! silently; anything else is skipped with a warning naming only its first keywords.
//!
//! Executable comments (`/*!40101 ... */`, MariaDB `/*M!100101 ... */`) are read as SQL, as the
//! server does; `/*M!999999\- enable the sandbox mode */` (a client command) is a plain comment.
//! `DELIMITER` lines are honoured, as the `mysql` client does.
//!
//! # Values
//!
//! Staged exactly as written, never coerced: numbers stay the text of their literal, `NULL` is
//! [`Value::Null`], hex (`0xAB`, `X'ab'`), bit (`b'101'`, `0b101`) and `_binary '...'` literals are
//! bytes, strings are decoded from the connection character set (`SET NAMES`, default utf8mb4).
//! Strings in columns declared binary (`binary`, `varbinary`, `*blob`, `bit`, geometry types) are
//! bytes whatever the connection character set, because the server stores their bytes
//! unconverted: this is what makes a default dump and a `--hex-blob` dump of the same table stage
//! the same values, and what keeps a latin1 dump from "transcoding" a BLOB.
//!
//! # Decisions worth knowing
//!
//! - **Character sets.** Only `SET NAMES x` (and `SET CHARACTER SET x`) change how literals are
//!   decoded. `SET character_set_client = x` is ignored: mysqldump only sets it around
//!   `CREATE TABLE`/`VIEW`/routine text and restores it (`= @saved_cs_client`, the `SET NAMES`
//!   value) before any data, so following it would need variable tracking for no gain on data.
//!   `CREATE TABLE` text (declared types, names) is read as UTF-8 when valid.
//! - **Tables are announced to the sink late**: at their first `INSERT`, or at the end of the file
//!   for tables without rows. A table created and then dropped before any row (the temporary
//!   stand-in `CREATE TABLE` that older mysqldump writes for a view) is therefore never staged.
//! - **No `CREATE TABLE`** (`--no-create-info` dumps): the table is created from the `INSERT`'s
//!   column list, or `c1..cN`, with a warning note.

mod charset;
mod scanner;

use crate::SourceError;
use charset::{Charset, Decoded};
use ferry_core::{ColumnDef, Note, NoteKind, Origin, Sink, TableDef, TableId, Value};
use scanner::{MARK_STATEMENT, ScanError, Scanner, is_space, is_word_byte, may_start_trivia};
use std::collections::{HashMap, HashSet};
use std::io::BufRead;

/// Bytes of tokens kept for one non-`INSERT` statement; the rest is scanned and dropped.
pub const STATEMENT_CAP: usize = 16 << 20;
/// How often [`Sink::progress`] is called, in bytes.
const PROGRESS_EVERY: u64 = 1 << 20;
/// Notes about unknown statements after which further ones are counted, not recorded.
const MAX_UNKNOWN_NOTES: usize = 100;

const REEXPORT: &str = "the dump may be truncated or damaged: re-export it with mysqldump";

/// Reads a mysqldump stream into `sink`. Returns the name of the connection character set the
/// string literals were decoded from (e.g. `utf8mb4`; the last `SET NAMES` seen).
pub fn read<R: BufRead>(input: R, file: &str, sink: &mut dyn Sink) -> Result<String, SourceError> {
    let mut reader = Reader::new(input, file, sink);
    match reader.run() {
        Ok(()) => Ok(reader.charset_name),
        Err(ReadError::Scan(ScanError::Io(e))) => Err(SourceError::io(file, e)),
        Err(ReadError::Scan(ScanError::Syntax {
            line,
            column,
            message,
        })) => Err(SourceError::syntax(file, line, column, message)),
        Err(ReadError::Sink(e)) => Err(SourceError::Sink(e)),
    }
}

#[derive(Debug)]
enum ReadError {
    Scan(ScanError),
    Sink(ferry_core::SinkError),
}

impl From<ScanError> for ReadError {
    fn from(e: ScanError) -> Self {
        ReadError::Scan(e)
    }
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Scan(ScanError::Io(e))
    }
}

impl From<ferry_core::SinkError> for ReadError {
    fn from(e: ferry_core::SinkError) -> Self {
        ReadError::Sink(e)
    }
}

type Result<T, E = ReadError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A bare word (keyword, unquoted name, number), as written.
    Word(Vec<u8>),
    /// A backquoted name, unescaped.
    Ident(Vec<u8>),
    /// A string literal: as written (quotes included), and unescaped.
    Str {
        raw: Vec<u8>,
        value: Vec<u8>,
    },
    Punct(u8),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Whitespace or a comment came before it.
    space: bool,
}

enum Next {
    Tok(Token),
    Delimiter,
    Eof,
}

impl Tok {
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self, Tok::Word(w) if w.eq_ignore_ascii_case(kw.as_bytes()))
    }
    fn len(&self) -> usize {
        match self {
            Tok::Word(w) | Tok::Ident(w) => w.len(),
            Tok::Str { raw, value } => raw.len() + value.len(),
            Tok::Punct(_) => 1,
        }
    }
}

fn kw_at(tokens: &[Token], i: usize, kw: &str) -> bool {
    tokens.get(i).is_some_and(|t| t.tok.is_kw(kw))
}

fn punct_at(tokens: &[Token], i: usize, p: u8) -> bool {
    matches!(tokens.get(i), Some(Token { tok: Tok::Punct(c), .. }) if *c == p)
}

/// One table as the reader knows it.
struct TableState {
    def: TableDef,
    /// Set once announced to the sink.
    id: Option<TableId>,
    /// Dropped before it was announced (a view's stand-in): never staged.
    dropped: bool,
    /// Per column: strings are bytes (declared binary type).
    binary: Vec<bool>,
    noted_transcoded: bool,
    noted_invalid: Vec<bool>,
    noted_missing_columns: bool,
}

impl TableState {
    fn new(def: TableDef) -> Self {
        let binary = def
            .columns
            .iter()
            .map(|c| c.declared_type.as_deref().is_some_and(is_binary_type))
            .collect();
        let n = def.columns.len();
        TableState {
            def,
            id: None,
            dropped: false,
            binary,
            noted_transcoded: false,
            noted_invalid: vec![false; n],
            noted_missing_columns: false,
        }
    }
}

fn is_binary_type(t: &str) -> bool {
    let t = t.trim_start().to_ascii_lowercase();
    let head: String = t.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    matches!(
        head.as_str(),
        "binary"
            | "varbinary"
            | "tinyblob"
            | "blob"
            | "mediumblob"
            | "longblob"
            | "bit"
            | "geometry"
            | "point"
            | "linestring"
            | "polygon"
            | "multipoint"
            | "multilinestring"
            | "multipolygon"
            | "geometrycollection"
            | "geomcollection"
    )
}

/// How an INSERT's tuples map onto its table.
struct InsertTarget {
    table: usize,
    /// Values per tuple.
    width: usize,
    /// Column index of each tuple position (complete inserts), or `None` for table order.
    map: Option<Vec<usize>>,
}

struct Reader<'s, R> {
    sc: Scanner<R>,
    file: String,
    sink: &'s mut dyn Sink,
    delimiter: Vec<u8>,
    charset: Charset,
    charset_name: String,
    database: Option<String>,
    tables: Vec<TableState>,
    index: HashMap<(Option<String>, String), usize>,
    skipped_objects: HashSet<(String, String)>,
    unknown_charsets: HashSet<String>,
    unknown_notes: usize,
    next_progress: u64,
    /// Scratch buffer for identifiers and words.
    scratch: Vec<u8>,
}

impl<'s, R: BufRead> Reader<'s, R> {
    fn new(input: R, file: &str, sink: &'s mut dyn Sink) -> Self {
        Reader {
            sc: Scanner::new(input),
            file: file.to_string(),
            sink,
            delimiter: b";".to_vec(),
            charset: Charset::Utf8,
            charset_name: "utf8mb4".to_string(),
            database: None,
            tables: Vec::new(),
            index: HashMap::new(),
            skipped_objects: HashSet::new(),
            unknown_charsets: HashSet::new(),
            unknown_notes: 0,
            next_progress: PROGRESS_EVERY,
            scratch: Vec::new(),
        }
    }

    fn note(&mut self, kind: NoteKind, line: u64, message: String) -> Result<()> {
        let note = Note::new(kind, self.file.clone(), message).at_line(line);
        self.sink.note(note)?;
        Ok(())
    }

    fn progress(&mut self) {
        let off = self.sc.offset();
        if off >= self.next_progress {
            self.sink.progress(off);
            self.next_progress = off + PROGRESS_EVERY;
        }
    }

    fn run(&mut self) -> Result<()> {
        loop {
            self.progress();
            self.sc.skip_trivia()?;
            if self.sc.peek()?.is_none() {
                break;
            }
            if self.sc.looking_at(&self.delimiter.clone(), false)? {
                let n = self.delimiter.len();
                self.sc.advance(n);
                continue;
            }
            if self.sc.exec_comment.is_none() && self.delimiter_command()? {
                continue;
            }
            self.sc.set_mark(MARK_STATEMENT);
            let first = match self.next_token()? {
                Next::Tok(t) => t,
                Next::Delimiter => continue,
                Next::Eof => break,
            };
            if first.tok.is_kw("INSERT") || first.tok.is_kw("REPLACE") {
                self.insert()?;
            } else {
                let tokens = self.collect(first)?;
                self.statement(&tokens)?;
            }
        }
        if let Some((line, column)) = self.sc.exec_comment {
            return Err(ReadError::Scan(ScanError::Syntax {
                line,
                column,
                message: format!(
                    "unterminated `/*!` comment (no closing `*/` before the end of the file); {REEXPORT}"
                ),
            }));
        }
        // Tables without rows are announced last.
        for i in 0..self.tables.len() {
            self.announce(i)?;
        }
        self.sink.progress(self.sc.offset());
        Ok(())
    }

    /// A `DELIMITER xx` client command at the start of a statement.
    fn delimiter_command(&mut self) -> Result<bool> {
        if !self.sc.looking_at(b"delimiter", true)? {
            return Ok(false);
        }
        if !self.sc.peek_at(9)?.is_some_and(|c| c == b' ' || c == b'\t') {
            return Ok(false);
        }
        let (line, column) = self.sc.position();
        self.sc.advance(9);
        let mut rest = Vec::new();
        self.sc.rest_of_line(&mut rest, 64)?;
        let delim: Vec<u8> = rest
            .split(|&c| is_space(c))
            .find(|w| !w.is_empty())
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        if delim.is_empty() || delim.len() > 16 || delim.contains(&b'\\') {
            return Err(ReadError::Scan(ScanError::Syntax {
                line,
                column,
                message: format!(
                    "`DELIMITER` must be followed by a delimiter of 1 to 16 characters without \
                     a backslash; {REEXPORT}"
                ),
            }));
        }
        self.delimiter = delim;
        Ok(true)
    }

    /// The next token of a statement, or the delimiter ending it, or the end of the input.
    fn next_token(&mut self) -> Result<Next> {
        let before = self.sc.offset();
        self.sc.skip_trivia()?;
        let space = self.sc.offset() != before;
        let Some(b) = self.sc.peek()? else {
            return Ok(Next::Eof);
        };
        if b == self.delimiter.first().copied().unwrap_or(b';')
            && self.sc.looking_at(&self.delimiter.clone(), false)?
        {
            let n = self.delimiter.len();
            self.sc.advance(n);
            return Ok(Next::Delimiter);
        }
        let tok = match b {
            b'`' => {
                let mut out = Vec::new();
                self.sc.quoted_ident(&mut out)?;
                Tok::Ident(out)
            }
            b'\'' | b'"' => {
                let mut value = Vec::new();
                let mut raw = Vec::new();
                self.sc.string(&mut value, Some(&mut raw))?;
                Tok::Str { raw, value }
            }
            b if is_word_byte(b) => {
                let mut out = Vec::new();
                self.sc.take_while(&mut out, is_word_byte)?;
                Tok::Word(out)
            }
            other => {
                self.sc.advance(1);
                Tok::Punct(other)
            }
        };
        Ok(Next::Tok(Token { tok, space }))
    }

    /// The rest of a non-INSERT statement, up to its delimiter (bounded by [`STATEMENT_CAP`]).
    fn collect(&mut self, first: Token) -> Result<Vec<Token>> {
        let mut size = first.tok.len();
        let mut tokens = vec![first];
        loop {
            match self.next_token()? {
                Next::Tok(t) => {
                    size = size.saturating_add(t.tok.len());
                    if size <= STATEMENT_CAP {
                        tokens.push(t);
                    }
                }
                Next::Delimiter => return Ok(tokens),
                Next::Eof => return Err(self.unterminated_statement()),
            }
        }
    }

    fn unterminated_statement(&mut self) -> ReadError {
        let d = String::from_utf8_lossy(&self.delimiter).into_owned();
        ReadError::Scan(self.sc.error_at_mark(
            MARK_STATEMENT,
            format!(
                "the statement starting here is not ended by `{d}` before the end of the file; \
                 {REEXPORT}"
            ),
        ))
    }

    fn statement_line(&mut self) -> u64 {
        self.sc.mark_position(MARK_STATEMENT).0
    }

    /// Interprets one complete non-INSERT statement.
    fn statement(&mut self, t: &[Token]) -> Result<()> {
        let Some(first) = t.first() else {
            return Ok(());
        };
        let word = match &first.tok {
            Tok::Word(w) => String::from_utf8_lossy(w).to_ascii_uppercase(),
            _ => String::new(),
        };
        match word.as_str() {
            "CREATE" => self.create(t),
            "USE" => {
                if let Some((_, name)) = qualified_name(t, 1) {
                    self.database = Some(self.charset.decode_ident(&name));
                }
                Ok(())
            }
            "DROP" => {
                if kw_at(t, 1, "TABLE") || kw_at(t, 1, "VIEW") || kw_at(t, 2, "TABLE") {
                    self.drop_tables(t);
                }
                Ok(())
            }
            "SET" => {
                self.set(t)?;
                Ok(())
            }
            "ALTER" | "LOCK" | "UNLOCK" | "START" | "COMMIT" | "BEGIN" | "ROLLBACK" | "FLUSH"
            | "SAVEPOINT" | "RELEASE" | "ANALYZE" | "OPTIMIZE" => Ok(()),
            _ => self.unknown(t),
        }
    }

    fn unknown(&mut self, t: &[Token]) -> Result<()> {
        self.unknown_notes += 1;
        let line = self.statement_line();
        if self.unknown_notes > MAX_UNKNOWN_NOTES {
            return Ok(());
        }
        let words: Vec<String> = t
            .iter()
            .take(3)
            .map(|tok| match &tok.tok {
                Tok::Word(w) => String::from_utf8_lossy(&w[..w.len().min(32)]).to_ascii_uppercase(),
                Tok::Ident(_) => "`...`".to_string(),
                Tok::Str { .. } => "'...'".to_string(),
                Tok::Punct(c) if c.is_ascii_graphic() => (*c as char).to_string(),
                Tok::Punct(_) => "?".to_string(),
            })
            .collect();
        let mut message = format!(
            "skipped a statement Ferry does not read, starting `{}`; check it holds no table data",
            words.join(" ")
        );
        if self.unknown_notes == MAX_UNKNOWN_NOTES {
            message.push_str(" (further unknown statements are skipped without a note)");
        }
        self.note(NoteKind::Warning, line, message)
    }

    fn set(&mut self, t: &[Token]) -> Result<()> {
        let value_at = if kw_at(t, 1, "NAMES") {
            2
        } else if (kw_at(t, 1, "CHARACTER") && kw_at(t, 2, "SET")) || kw_at(t, 1, "CHARSET") {
            if kw_at(t, 1, "CHARSET") { 2 } else { 3 }
        } else {
            return Ok(());
        };
        let name = match t.get(value_at).map(|x| &x.tok) {
            Some(Tok::Word(w)) => String::from_utf8_lossy(w).to_ascii_lowercase(),
            Some(Tok::Str { value, .. }) | Some(Tok::Ident(value)) => {
                String::from_utf8_lossy(value).to_ascii_lowercase()
            }
            _ => return Ok(()),
        };
        let name = if name == "default" {
            "utf8mb4".to_string()
        } else {
            name
        };
        match Charset::from_mysql_name(&name) {
            Some(cs) => self.charset = cs,
            None => {
                self.charset = Charset::Utf8;
                if self.unknown_charsets.insert(name.clone()) {
                    let line = self.statement_line();
                    let shown: String = name.chars().take(32).collect();
                    self.note(
                        NoteKind::Warning,
                        line,
                        format!(
                            "connection character set `{shown}` is not supported; its strings \
                             are read as UTF-8 where valid and kept as bytes otherwise. \
                             Re-export with `mysqldump --default-character-set=utf8mb4` for text"
                        ),
                    )?;
                }
            }
        }
        self.charset_name = name;
        Ok(())
    }

    fn drop_tables(&mut self, t: &[Token]) {
        let mut i = 1;
        while i < t.len() && !(t[i].tok.is_kw("TABLE") || t[i].tok.is_kw("VIEW")) {
            i += 1;
        }
        i += 1;
        if kw_at(t, i, "IF") && kw_at(t, i + 1, "EXISTS") {
            i += 2;
        }
        while let Some((db, name)) = qualified_name(t, i) {
            let db = db
                .map(|d| self.charset.decode_ident(&d))
                .or_else(|| self.database.clone());
            let name = self.charset.decode_ident(&name);
            if let Some(&idx) = self.index.get(&(db.clone(), name.clone()))
                && let Some(state) = self.tables.get_mut(idx)
                && state.id.is_none()
            {
                state.dropped = true;
                self.index.remove(&(db, name));
            }
            // Skip to the next comma-separated name.
            while i < t.len() && !punct_at(t, i, b',') {
                i += 1;
            }
            i += 1;
        }
    }

    fn create(&mut self, t: &[Token]) -> Result<()> {
        let line = self.statement_line();
        let mut i = 1;
        while i < t.len().min(40) {
            if let Tok::Word(w) = &t[i].tok {
                let w = String::from_utf8_lossy(w).to_ascii_uppercase();
                match w.as_str() {
                    "TABLE" => return self.create_table(t, i + 1, line),
                    "DATABASE" | "SCHEMA" => {
                        let mut j = i + 1;
                        if kw_at(t, j, "IF") {
                            j += 3;
                        }
                        if let Some((_, name)) = qualified_name(t, j) {
                            self.database = Some(self.charset.decode_ident(&name));
                        }
                        return Ok(());
                    }
                    "VIEW" | "TRIGGER" | "PROCEDURE" | "FUNCTION" | "EVENT" | "PACKAGE"
                    | "SEQUENCE" => {
                        let mut j = i + 1;
                        if kw_at(t, j, "BODY") {
                            j += 1;
                        }
                        if kw_at(t, j, "IF") {
                            j += 3;
                        }
                        return self.skip_object(&w.to_ascii_lowercase(), t, j, line);
                    }
                    "INDEX" | "USER" | "ROLE" | "SERVER" | "TABLESPACE" | "LOGFILE" => {
                        return self.unknown(t);
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        self.unknown(t)
    }

    fn skip_object(&mut self, kind: &str, t: &[Token], at: usize, line: u64) -> Result<()> {
        let name = qualified_name(t, at)
            .map(|(_, n)| self.charset.decode_ident(&n))
            .unwrap_or_default();
        if kind == "view" {
            // Older mysqldump wrote a stand-in table for the view first: never stage it.
            let key = (self.database.clone(), name.clone());
            if let Some(&idx) = self.index.get(&key)
                && let Some(state) = self.tables.get_mut(idx)
                && state.id.is_none()
            {
                state.dropped = true;
                self.index.remove(&key);
            }
        }
        // A view appears twice in a dump (stand-in, then final): note it once.
        let db = self.database.clone().unwrap_or_default();
        if !self
            .skipped_objects
            .insert((kind.to_string(), format!("{db}.{name}")))
        {
            return Ok(());
        }
        let mut note = Note::new(
            NoteKind::SkippedObject,
            self.file.clone(),
            format!(
                "skipped {kind} `{name}` (line {line}): Ferry stages table data only; \
                 recreate it by hand in the target if it is needed"
            ),
        )
        .at_line(line);
        if kind == "view" {
            note = note.in_table(name);
        }
        self.sink.note(note)?;
        Ok(())
    }

    fn create_table(&mut self, t: &[Token], mut i: usize, line: u64) -> Result<()> {
        if kw_at(t, i, "IF") && kw_at(t, i + 1, "NOT") && kw_at(t, i + 2, "EXISTS") {
            i += 3;
        }
        let Some((db, name)) = qualified_name(t, i) else {
            return Err(self.create_error("a table name after `CREATE TABLE`"));
        };
        i += if db.is_some() { 3 } else { 1 };
        let name = self.charset.decode_ident(&name);
        let db = db
            .map(|d| self.charset.decode_ident(&d))
            .or_else(|| self.database.clone());
        if !punct_at(t, i, b'(') {
            // `CREATE TABLE t LIKE u`, `CREATE TABLE t AS SELECT ...`: no rows in a dump.
            return self.unknown(t);
        }
        i += 1;
        let mut columns = Vec::new();
        let mut primary_key: Vec<String> = Vec::new();
        let mut depth = 1usize;
        let mut start = i;
        let mut closed = None;
        while i < t.len() {
            match t[i].tok {
                Tok::Punct(b'(') => depth += 1,
                Tok::Punct(b')') => {
                    depth -= 1;
                    if depth == 0 {
                        closed = Some(i);
                    }
                }
                Tok::Punct(b',') if depth == 1 => {
                    self.table_element(&t[start..i], &mut columns, &mut primary_key);
                    start = i + 1;
                }
                _ => {}
            }
            if let Some(end) = closed {
                self.table_element(&t[start..end], &mut columns, &mut primary_key);
                break;
            }
            i += 1;
        }
        let Some(end) = closed else {
            let n: String = name.chars().take(64).collect();
            return Err(self.create_error(&format!(
                "the column list of table `{n}` to be closed by `)`"
            )));
        };
        let mut charset = None;
        let opts = &t[end + 1..];
        for (k, tok) in opts.iter().enumerate() {
            let at = if tok.tok.is_kw("CHARSET") {
                k + 1
            } else if tok.tok.is_kw("CHARACTER") && kw_at(opts, k + 1, "SET") {
                k + 2
            } else {
                continue;
            };
            let at = if punct_at(opts, at, b'=') { at + 1 } else { at };
            if let Some(Tok::Word(w)) = opts.get(at).map(|x| &x.tok) {
                charset = Some(String::from_utf8_lossy(w).into_owned());
                break;
            }
        }
        let mut def = TableDef::new(
            name.clone(),
            columns,
            Origin {
                file: self.file.clone(),
                line,
            },
        );
        def.database = db.clone();
        def.primary_key = primary_key;
        def.charset = charset;
        let key = (db, name);
        if let Some(&idx) = self.index.get(&key)
            && let Some(old) = self.tables.get_mut(idx)
        {
            if old.id.is_none() {
                *old = TableState::new(def);
                return Ok(());
            }
            if old.def.columns == def.columns {
                // The same table again (concatenated dumps): keep appending to it.
                return Ok(());
            }
        }
        self.tables.push(TableState::new(def));
        self.index.insert(key, self.tables.len() - 1);
        Ok(())
    }

    fn create_error(&mut self, expected: &str) -> ReadError {
        ReadError::Scan(self.sc.error_at_mark(
            MARK_STATEMENT,
            format!("this CREATE TABLE statement is malformed: expected {expected}; {REEXPORT}"),
        ))
    }

    fn table_element(&self, e: &[Token], columns: &mut Vec<ColumnDef>, pk: &mut Vec<String>) {
        let Some(first) = e.first() else {
            return;
        };
        if let Tok::Word(w) = &first.tok {
            let w = String::from_utf8_lossy(w).to_ascii_uppercase();
            match w.as_str() {
                "PRIMARY" | "CONSTRAINT" => {
                    if let Some(p) =
                        (0..e.len()).find(|&k| kw_at(e, k, "PRIMARY") && kw_at(e, k + 1, "KEY"))
                    {
                        *pk = self.key_columns(&e[p..]);
                    }
                    return;
                }
                "KEY" | "INDEX" | "UNIQUE" | "FULLTEXT" | "SPATIAL" | "FOREIGN" | "CHECK"
                | "PERIOD" | "VECTOR" => return,
                _ => {}
            }
        }
        let name = match &first.tok {
            Tok::Ident(n) | Tok::Word(n) => self.charset.decode_ident(n),
            Tok::Str { value, .. } => self.charset.decode_ident(value),
            Tok::Punct(_) => return,
        };
        let mut depth = 0usize;
        let mut end = e.len();
        for (k, tok) in e.iter().enumerate().skip(1) {
            match tok.tok {
                Tok::Punct(b'(') => depth += 1,
                Tok::Punct(b')') => depth = depth.saturating_sub(1),
                Tok::Word(ref w) if depth == 0 && k > 1 && is_attribute_keyword(w) => {
                    end = k;
                    break;
                }
                _ => {}
            }
        }
        let declared = render(e.get(1..end).unwrap_or(&[]));
        if (1..e.len()).any(|k| kw_at(e, k, "PRIMARY") && kw_at(e, k + 1, "KEY")) {
            *pk = vec![name.clone()];
        }
        columns.push(ColumnDef::new(
            name,
            (!declared.is_empty()).then_some(declared),
        ));
    }

    /// Column names of `PRIMARY KEY (a(10), b DESC)`.
    fn key_columns(&self, e: &[Token]) -> Vec<String> {
        let mut out = Vec::new();
        let Some(open) = e.iter().position(|x| x.tok == Tok::Punct(b'(')) else {
            return out;
        };
        let mut depth = 0usize;
        let mut expect_name = true;
        for tok in &e[open..] {
            match &tok.tok {
                Tok::Punct(b'(') => depth += 1,
                Tok::Punct(b')') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                Tok::Punct(b',') if depth == 1 => expect_name = true,
                Tok::Ident(n) | Tok::Word(n) if depth == 1 && expect_name => {
                    out.push(self.charset.decode_ident(n));
                    expect_name = false;
                }
                _ => {}
            }
        }
        out
    }

    /// Announces table `i` to the sink if it was not yet (and was not dropped).
    fn announce(&mut self, i: usize) -> Result<Option<TableId>> {
        let Some(state) = self.tables.get_mut(i) else {
            return Ok(None);
        };
        if state.dropped {
            return Ok(None);
        }
        if let Some(id) = state.id {
            return Ok(Some(id));
        }
        let mut def = state.def.clone();
        def.transcoded_from = self.charset.transcoded_from();
        let id = self.sink.table(def)?;
        if let Some(state) = self.tables.get_mut(i) {
            state.id = Some(id);
        }
        Ok(Some(id))
    }

    // ---------------------------------------------------------------- INSERT

    fn insert(&mut self) -> Result<()> {
        let line = self.statement_line();
        // Modifiers, INTO, the table name.
        let mut name_tok = None;
        loop {
            match self.next_token()? {
                Next::Tok(t) => {
                    if ["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"]
                        .iter()
                        .any(|k| t.tok.is_kw(k))
                    {
                        continue;
                    }
                    name_tok = Some(t.tok);
                    break;
                }
                Next::Delimiter => break,
                Next::Eof => return Err(self.unterminated_statement()),
            }
        }
        let (mut db, mut name) = match name_tok {
            Some(Tok::Ident(n)) | Some(Tok::Word(n)) => (None, n),
            _ => return Err(self.insert_error("a table name after `INSERT INTO`")),
        };
        let mut after = self.expect_token()?;
        if after.tok == Tok::Punct(b'.') {
            match self.expect_token()?.tok {
                Tok::Ident(n) | Tok::Word(n) => {
                    db = Some(name);
                    name = n;
                }
                _ => return Err(self.insert_error("a table name after the database name")),
            }
            after = self.expect_token()?;
        }
        let mut list: Option<Vec<String>> = None;
        if after.tok == Tok::Punct(b'(') {
            let mut cols = Vec::new();
            loop {
                match self.expect_token()?.tok {
                    Tok::Ident(n) | Tok::Word(n) => cols.push(self.charset.decode_ident(&n)),
                    _ => return Err(self.insert_error("a column name in the INSERT column list")),
                }
                match self.expect_token()?.tok {
                    Tok::Punct(b',') => {}
                    Tok::Punct(b')') => break,
                    _ => return Err(self.insert_error("`,` or `)` in the INSERT column list")),
                }
            }
            list = Some(cols);
            after = self.expect_token()?;
        }
        if !(after.tok.is_kw("VALUES") || after.tok.is_kw("VALUE")) {
            // INSERT ... SELECT / INSERT ... SET: not how mysqldump writes data.
            let tokens = self.collect(after)?;
            let _ = tokens;
            let line = self.statement_line();
            return self.note(
                NoteKind::Warning,
                line,
                "skipped an INSERT that is not `INSERT ... VALUES` (INSERT ... SELECT or SET); \
                 its rows, if any, are not staged"
                    .to_string(),
            );
        }
        let db = db
            .map(|d| self.charset.decode_ident(&d))
            .or_else(|| self.database.clone());
        let name = self.charset.decode_ident(&name);
        self.values(db, name, list, line)
    }

    /// A token that must exist before the statement ends.
    fn expect_token(&mut self) -> Result<Token> {
        match self.next_token()? {
            Next::Tok(t) => Ok(t),
            Next::Delimiter => Err(self.insert_error("more of the INSERT statement before `;`")),
            Next::Eof => Err(self.unterminated_statement()),
        }
    }

    fn insert_error(&mut self, expected: &str) -> ReadError {
        ReadError::Scan(self.sc.error_here(format!(
            "malformed INSERT statement: expected {expected}; {REEXPORT}"
        )))
    }

    /// Resolves the target table of an INSERT (creating it for `--no-create-info` dumps).
    fn target(
        &mut self,
        db: Option<String>,
        name: String,
        list: Option<Vec<String>>,
        line: u64,
        first_width: Option<usize>,
    ) -> Result<InsertTarget> {
        let key = (db.clone(), name.clone());
        let idx = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let (columns, how) = match (&list, first_width) {
                    (Some(cols), _) => (
                        cols.iter()
                            .map(|c| ColumnDef::new(c.clone(), None))
                            .collect(),
                        "its columns are taken from the INSERT's column list",
                    ),
                    (None, w) => (
                        (1..=w.unwrap_or(0))
                            .map(|k| ColumnDef::new(format!("c{k}"), None))
                            .collect(),
                        "its columns are named c1..cN from the first row",
                    ),
                };
                let mut def = TableDef::new(
                    name.clone(),
                    columns,
                    Origin {
                        file: self.file.clone(),
                        line,
                    },
                );
                def.database = db.clone();
                self.tables.push(TableState::new(def));
                let i = self.tables.len() - 1;
                self.index.insert(key, i);
                let shown: String = name.chars().take(64).collect();
                let note = Note::new(
                    NoteKind::Warning,
                    self.file.clone(),
                    format!(
                        "table `{shown}` has rows but no CREATE TABLE in this file (a \
                         --no-create-info dump?); {how}, without declared types or key"
                    ),
                )
                .at_line(line)
                .in_table(name.clone());
                self.sink.note(note)?;
                i
            }
        };
        self.announce(idx)?;
        let Some(state) = self.tables.get_mut(idx) else {
            return Err(self.insert_error("a known table"));
        };
        let ncols = state.def.columns.len();
        let Some(list) = list else {
            return Ok(InsertTarget {
                table: idx,
                width: ncols,
                map: None,
            });
        };
        let mut map = Vec::with_capacity(list.len());
        let mut used = vec![false; ncols];
        for col in &list {
            let pos = state
                .def
                .columns
                .iter()
                .position(|c| &c.name == col)
                .or_else(|| {
                    state
                        .def
                        .columns
                        .iter()
                        .position(|c| c.name.eq_ignore_ascii_case(col))
                });
            let Some(pos) = pos.filter(|&p| !used[p]) else {
                let shown: String = col.chars().take(64).collect();
                let table: String = state.def.name.chars().take(64).collect();
                let created = state.def.origin.line;
                return Err(ReadError::Scan(self.sc.error_at_mark(
                    MARK_STATEMENT,
                    format!(
                        "the INSERT names column `{shown}` which is not (or twice) a column of \
                         table `{table}` as created at line {created}; {REEXPORT}"
                    ),
                )));
            };
            used[pos] = true;
            map.push(pos);
        }
        if map.len() == ncols && map.iter().enumerate().all(|(k, &p)| k == p) {
            return Ok(InsertTarget {
                table: idx,
                width: ncols,
                map: None,
            });
        }
        if used.iter().any(|u| !u) && !state.noted_missing_columns {
            state.noted_missing_columns = true;
            let missing: Vec<String> = state
                .def
                .columns
                .iter()
                .zip(&used)
                .filter(|(_, u)| !**u)
                .map(|(c, _)| format!("`{}`", c.name))
                .collect();
            let table = state.def.name.clone();
            let note = Note::new(
                NoteKind::Warning,
                self.file.clone(),
                format!(
                    "the INSERT into table `{table}` does not list column(s) {}; they are \
                     staged as NULL (the server would have used their defaults)",
                    missing.join(", ")
                ),
            )
            .at_line(line)
            .in_table(table);
            self.sink.note(note)?;
        }
        Ok(InsertTarget {
            table: idx,
            width: list.len(),
            map: Some(map),
        })
    }

    /// The tuples of an `INSERT ... VALUES`, streamed row by row.
    fn values(
        &mut self,
        db: Option<String>,
        name: String,
        list: Option<Vec<String>>,
        line: u64,
    ) -> Result<()> {
        let known = self.index.contains_key(&(db.clone(), name.clone())) || list.is_some();
        let mut pending = Some((db, name, list));
        let mut target: Option<InsertTarget> = None;
        let mut tuple = 0u64;
        loop {
            tuple += 1;
            self.sc.skip_trivia()?;
            match self.sc.peek()? {
                Some(b'(') => self.sc.advance(1),
                None => return Err(self.unterminated_statement()),
                Some(_) => {
                    return Err(ReadError::Scan(self.sc.error_here(format!(
                        "expected `(` to start row {tuple} of the INSERT at line {line}; \
                         {REEXPORT}"
                    ))));
                }
            }
            if target.is_none()
                && known
                && let Some((db, name, list)) = pending.take()
            {
                target = Some(self.target(db, name, list, line, None)?);
            }
            let values = self.tuple(target.as_ref(), tuple, line)?;
            let t = match &target {
                Some(t) => t,
                None => {
                    let Some((db, name, list)) = pending.take() else {
                        return Err(self.insert_error("a table"));
                    };
                    target = Some(self.target(db, name, list, line, Some(values.len()))?);
                    match &target {
                        Some(t) => t,
                        None => return Err(self.insert_error("a table")),
                    }
                }
            };
            let row = match &t.map {
                None => values,
                Some(map) => {
                    let ncols = self.tables.get(t.table).map_or(0, |s| s.def.columns.len());
                    let mut row = vec![Value::Null; ncols];
                    for (v, &p) in values.into_iter().zip(map) {
                        if let Some(slot) = row.get_mut(p) {
                            *slot = v;
                        }
                    }
                    row
                }
            };
            let id = self.tables.get(t.table).and_then(|s| s.id);
            if let Some(id) = id {
                self.sink.row(id, row)?;
            }
            self.progress();
            self.sc.skip_trivia()?;
            match self.sc.peek()? {
                Some(b',') => {
                    self.sc.advance(1);
                }
                None => return Err(self.unterminated_statement()),
                Some(_) => {
                    if self.sc.looking_at(&self.delimiter.clone(), false)? {
                        let n = self.delimiter.len();
                        self.sc.advance(n);
                        return Ok(());
                    }
                    if self.sc.looking_at(b"on", true)? {
                        // ON DUPLICATE KEY UPDATE ...: the rows are staged as written; the update
                        // a server would apply on a key clash is not. Say so, never silently.
                        let first = match self.next_token()? {
                            Next::Tok(t) => t,
                            _ => return Ok(()),
                        };
                        self.collect(first)?;
                        let name = self
                            .tables
                            .get(t.table)
                            .map(|s| s.def.name.clone())
                            .unwrap_or_default();
                        self.note(
                            NoteKind::Warning,
                            line,
                            format!(
                                "the INSERT into `{name}` at line {line} has an ON DUPLICATE KEY \
                                 UPDATE clause: its rows are staged as written and the clause is \
                                 not applied; check the table for repeated keys"
                            ),
                        )?;
                        return Ok(());
                    }
                    return Err(ReadError::Scan(self.sc.error_here(format!(
                        "expected `,` or `;` after row {tuple} of the INSERT at line {line}; \
                         {REEXPORT}"
                    ))));
                }
            }
        }
    }

    /// One tuple, after its `(`: its values in tuple order.
    fn tuple(&mut self, t: Option<&InsertTarget>, tuple: u64, line: u64) -> Result<Vec<Value>> {
        let width = t.map(|t| t.width);
        let mut values = Vec::with_capacity(width.unwrap_or(8));
        self.sc.skip_trivia()?;
        if self.sc.peek()? == Some(b')') {
            self.sc.advance(1);
        } else {
            loop {
                if let Some(w) = width
                    && values.len() >= w
                {
                    return Err(self.width_error(t, tuple, line, "more"));
                }
                let pos = values.len();
                let column = t.map_or(pos, |t| {
                    t.map
                        .as_ref()
                        .map_or(pos, |m| m.get(pos).copied().unwrap_or(pos))
                });
                let v = self.value(t.map(|t| t.table), column)?;
                values.push(v);
                if self.sc.avail().first().is_none_or(|&b| may_start_trivia(b)) {
                    self.sc.skip_trivia()?;
                }
                match self.sc.peek()? {
                    Some(b',') => self.sc.advance(1),
                    Some(b')') => {
                        self.sc.advance(1);
                        break;
                    }
                    None => return Err(self.unterminated_statement()),
                    Some(_) => {
                        let n = values.len();
                        return Err(ReadError::Scan(self.sc.error_here(format!(
                            "expected `,` or `)` after value {n} of row {tuple} of the INSERT at \
                             line {line}; {REEXPORT}"
                        ))));
                    }
                }
            }
        }
        if let Some(w) = width
            && values.len() != w
        {
            let _ = w;
            return Err(self.width_error(t, tuple, line, "fewer"));
        }
        Ok(values)
    }

    fn width_error(
        &mut self,
        t: Option<&InsertTarget>,
        tuple: u64,
        line: u64,
        more: &str,
    ) -> ReadError {
        let (table, width) = match t {
            Some(t) => (
                self.tables
                    .get(t.table)
                    .map(|s| s.def.name.chars().take(64).collect::<String>())
                    .unwrap_or_default(),
                t.width,
            ),
            None => (String::new(), 0),
        };
        let what = if t.is_some_and(|t| t.map.is_some()) {
            "names in its column list"
        } else {
            "columns"
        };
        let _ = line;
        ReadError::Scan(self.sc.error_here(format!(
            "row {tuple} of the INSERT into table `{table}` has {more} values than the {width} \
             {what}; the dump may be damaged or hand-edited: re-export it with mysqldump"
        )))
    }

    /// One value of a tuple.
    fn value(&mut self, table: Option<usize>, column: usize) -> Result<Value> {
        let Some(b) = self.sc.peek()? else {
            return Err(self.unterminated_statement());
        };
        match b {
            b'\'' | b'"' => {
                // Build in a reused buffer, then copy once at the exact size (no regrowth per
                // value); a large value is moved out instead of copied.
                self.scratch.clear();
                self.sc.string(&mut self.scratch, None)?;
                let out = if self.scratch.len() > 1 << 16 {
                    std::mem::take(&mut self.scratch)
                } else {
                    self.scratch.as_slice().to_vec()
                };
                self.decode(out, None, table, column)
            }
            b'0' if matches!(self.sc.peek_at(1)?, Some(b'x' | b'X')) => {
                self.sc.advance(2);
                let bytes = self.hex(None)?;
                Ok(Value::Bytes(bytes))
            }
            b'0' if matches!(self.sc.peek_at(1)?, Some(b'b' | b'B'))
                && matches!(self.sc.peek_at(2)?, Some(b'0' | b'1')) =>
            {
                self.sc.advance(2);
                Ok(Value::Bytes(self.bits(None)?))
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => self.number(),
            b'x' | b'X' if self.sc.peek_at(1)? == Some(b'\'') => {
                self.sc.advance(2);
                Ok(Value::Bytes(self.hex(Some(b'\''))?))
            }
            b'b' | b'B' if self.sc.peek_at(1)? == Some(b'\'') => {
                self.sc.advance(2);
                Ok(Value::Bytes(self.bits(Some(b'\''))?))
            }
            b'n' | b'N' if self.sc.peek_at(1)? == Some(b'\'') => {
                self.sc.advance(1);
                let mut out = Vec::new();
                self.sc.string(&mut out, None)?;
                self.decode(out, Some(Charset::Utf8), table, column)
            }
            b'_' => self.introduced(table, column),
            b if b.is_ascii_alphabetic() => {
                let a = self.sc.avail();
                if a.len() > 4 && a[..4].eq_ignore_ascii_case(b"NULL") && !is_word_byte(a[4]) {
                    self.sc.advance(4);
                    return Ok(Value::Null);
                }
                self.scratch.clear();
                let mut w = std::mem::take(&mut self.scratch);
                self.sc.take_while(&mut w, is_word_byte)?;
                let v = if w.eq_ignore_ascii_case(b"NULL") {
                    Some(Value::Null)
                } else if w.eq_ignore_ascii_case(b"TRUE") || w.eq_ignore_ascii_case(b"FALSE") {
                    Some(Value::Text(String::from_utf8_lossy(&w).into_owned()))
                } else {
                    None
                };
                self.scratch = w;
                v.ok_or_else(|| self.expected_value())
            }
            _ => Err(self.expected_value()),
        }
    }

    fn expected_value(&mut self) -> ReadError {
        ReadError::Scan(self.sc.error_here(format!(
            "expected a value (string, number, NULL, hex) or `)`; {REEXPORT}"
        )))
    }

    /// `_charset 'literal'` (or `_charset 0x...`).
    fn introduced(&mut self, table: Option<usize>, column: usize) -> Result<Value> {
        self.sc.advance(1);
        let mut w = Vec::new();
        self.sc.take_while(&mut w, is_word_byte)?;
        let name = String::from_utf8_lossy(&w).to_ascii_lowercase();
        let Some(cs) = Charset::from_mysql_name(&name) else {
            return Err(ReadError::Scan(self.sc.error_here(format!(
                "unsupported character set introducer `_{}` before a string; re-export the \
                 dump with `mysqldump --default-character-set=utf8mb4`",
                name.chars().take(32).collect::<String>()
            ))));
        };
        self.sc.skip_trivia()?;
        match self.sc.peek()? {
            Some(b'\'' | b'"') => {
                let mut out = Vec::new();
                self.sc.string(&mut out, None)?;
                self.decode(out, Some(cs), table, column)
            }
            Some(b'0') if matches!(self.sc.peek_at(1)?, Some(b'x' | b'X')) => {
                self.sc.advance(2);
                let bytes = self.hex(None)?;
                self.decode(bytes, Some(cs), table, column)
            }
            Some(b'x' | b'X') if self.sc.peek_at(1)? == Some(b'\'') => {
                self.sc.advance(2);
                let bytes = self.hex(Some(b'\''))?;
                self.decode(bytes, Some(cs), table, column)
            }
            _ => Err(ReadError::Scan(self.sc.error_here(format!(
                "expected a string after the character set introducer; {REEXPORT}"
            )))),
        }
    }

    /// Decodes a string literal's bytes for (table, column), noting transcoding/invalid text.
    fn decode(
        &mut self,
        bytes: Vec<u8>,
        introducer: Option<Charset>,
        table: Option<usize>,
        column: usize,
    ) -> Result<Value> {
        let binary_column = table
            .and_then(|t| self.tables.get(t))
            .and_then(|s| s.binary.get(column).copied())
            .unwrap_or(false);
        if binary_column {
            return Ok(Value::Bytes(bytes));
        }
        let cs = introducer.unwrap_or(self.charset);
        let (value, how) = cs.decode(bytes);
        match how {
            Decoded::Plain => {}
            Decoded::Transcoded => self.note_transcoded(table, cs)?,
            Decoded::Invalid => self.note_invalid(table, column)?,
        }
        Ok(value)
    }

    fn note_transcoded(&mut self, table: Option<usize>, cs: Charset) -> Result<()> {
        let Some(state) = table.and_then(|t| self.tables.get_mut(t)) else {
            return Ok(());
        };
        if state.noted_transcoded {
            return Ok(());
        }
        state.noted_transcoded = true;
        let name = state.def.name.clone();
        let (line, _) = self.sc.position();
        let from = cs.transcoded_from().unwrap_or_default();
        let note = Note::new(
            NoteKind::Transcoded,
            self.file.clone(),
            format!(
                "strings of table `{name}` were written in connection character set `{}` and \
                 transcoded from {from} to UTF-8 (first at line {line})",
                self.charset_name
            ),
        )
        .at_line(line)
        .in_table(name);
        self.sink.note(note)?;
        Ok(())
    }

    fn note_invalid(&mut self, table: Option<usize>, column: usize) -> Result<()> {
        let Some(state) = table.and_then(|t| self.tables.get_mut(t)) else {
            return Ok(());
        };
        if state.noted_invalid.get(column).copied().unwrap_or(true) {
            return Ok(());
        }
        if let Some(f) = state.noted_invalid.get_mut(column) {
            *f = true;
        }
        let name = state.def.name.clone();
        let col = state
            .def
            .columns
            .get(column)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let (line, _) = self.sc.position();
        let note = Note::new(
            NoteKind::InvalidText,
            self.file.clone(),
            format!(
                "column `{col}` of table `{name}` holds strings that are not valid {} (first at \
                 line {line}); they are staged as bytes, unchanged",
                self.charset_name
            ),
        )
        .at_line(line)
        .in_table(name)
        .in_column(col);
        self.sink.note(note)?;
        Ok(())
    }

    /// A number, kept exactly as written.
    fn number(&mut self) -> Result<Value> {
        let mut w = Vec::with_capacity(16);
        self.sc.take_while(&mut w, |c| {
            c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')
        })?;
        if !is_number(&w) {
            return Err(ReadError::Scan(self.sc.error_here(format!(
                "malformed number before this point; expected a value (string, number, NULL, \
                 hex); {REEXPORT}"
            ))));
        }
        // Only ASCII digits, signs, `.` and `e` were taken: always valid UTF-8.
        match String::from_utf8(w) {
            Ok(s) => Ok(Value::Text(s)),
            Err(e) => Ok(Value::Bytes(e.into_bytes())),
        }
    }

    /// Hex digits (after `0x`, or inside `X'...'` when `close` is the quote).
    fn hex(&mut self, close: Option<u8>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        let mut digits = 0u64;
        loop {
            let a = self.sc.avail();
            if a.is_empty() {
                if !self.sc.fill()? {
                    break;
                }
                continue;
            }
            let mut n = 0;
            for &c in a {
                let Some(d) = hex_digit(c) else { break };
                match high.take() {
                    None => high = Some(d),
                    Some(h) => out.push((h << 4) | d),
                }
                n += 1;
            }
            digits += n as u64;
            let whole = n == a.len();
            self.sc.advance(n);
            if !whole {
                break;
            }
        }
        if let Some(q) = close {
            if self.sc.peek()? != Some(q) {
                return Err(ReadError::Scan(self.sc.error_here(format!(
                    "expected hex digits and a closing quote in an X'...' literal; {REEXPORT}"
                ))));
            }
            self.sc.advance(1);
        } else if digits == 0 {
            return Err(ReadError::Scan(
                self.sc
                    .error_here(format!("expected hex digits after `0x`; {REEXPORT}")),
            ));
        }
        if let Some(last) = high {
            // An odd number of digits: the server pads on the left (0xABC = 0x0ABC).
            let mut carry = 0u8;
            for b in out.iter_mut() {
                let hi = *b >> 4;
                let lo = *b & 0x0f;
                *b = (carry << 4) | hi;
                carry = lo;
            }
            out.push((carry << 4) | last);
        }
        Ok(out)
    }

    /// Binary digits (after `0b`, or inside `b'...'`): big-endian bytes, left-padded.
    fn bits(&mut self, close: Option<u8>) -> Result<Vec<u8>> {
        let mut bits = Vec::new();
        self.sc.take_while(&mut bits, |c| c == b'0' || c == b'1')?;
        if let Some(q) = close {
            if self.sc.peek()? != Some(q) {
                return Err(ReadError::Scan(self.sc.error_here(format!(
                    "expected binary digits and a closing quote in a b'...' literal; {REEXPORT}"
                ))));
            }
            self.sc.advance(1);
        }
        let nbytes = bits.len().div_ceil(8);
        let mut out = vec![0u8; nbytes];
        let pad = nbytes * 8 - bits.len();
        for (k, &bit) in bits.iter().enumerate() {
            if bit == b'1' {
                let p = pad + k;
                if let Some(byte) = out.get_mut(p / 8) {
                    *byte |= 0x80 >> (p % 8);
                }
            }
        }
        Ok(out)
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `[+-]digits[.digits][(e|E)[+-]digits]`, with at least one mantissa digit.
fn is_number(w: &[u8]) -> bool {
    let mut i = 0;
    if matches!(w.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let mut mantissa = 0;
    while w.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
        mantissa += 1;
    }
    if w.get(i) == Some(&b'.') {
        i += 1;
        while w.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
            mantissa += 1;
        }
    }
    if mantissa == 0 {
        return false;
    }
    if matches!(w.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(w.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let mut exp = 0;
        while w.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
            exp += 1;
        }
        if exp == 0 {
            return false;
        }
    }
    i == w.len()
}

/// Keywords that end a column's declared type.
fn is_attribute_keyword(w: &[u8]) -> bool {
    const STOP: &[&str] = &[
        "NOT",
        "NULL",
        "DEFAULT",
        "AUTO_INCREMENT",
        "COMMENT",
        "PRIMARY",
        "UNIQUE",
        "KEY",
        "GENERATED",
        "AS",
        "ON",
        "REFERENCES",
        "CHECK",
        "INVISIBLE",
        "VISIBLE",
        "STORED",
        "VIRTUAL",
        "PERSISTENT",
        "COLUMN_FORMAT",
        "STORAGE",
        "SRID",
        "CONSTRAINT",
        "WITH",
        "ENGINE_ATTRIBUTE",
        "SECONDARY_ENGINE_ATTRIBUTE",
    ];
    STOP.iter().any(|s| w.eq_ignore_ascii_case(s.as_bytes()))
}

/// Renders tokens back to SQL text, one space where the input had whitespace or a comment.
fn render(tokens: &[Token]) -> String {
    let mut out: Vec<u8> = Vec::new();
    for (k, t) in tokens.iter().enumerate() {
        if k > 0 && t.space {
            out.push(b' ');
        }
        match &t.tok {
            Tok::Word(w) => out.extend_from_slice(w),
            Tok::Ident(n) => {
                out.push(b'`');
                for &c in n {
                    if c == b'`' {
                        out.push(b'`');
                    }
                    out.push(c);
                }
                out.push(b'`');
            }
            Tok::Str { raw, .. } => out.extend_from_slice(raw),
            Tok::Punct(c) => out.push(*c),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `name` or `db.name` at `tokens[i]`: (database, name) as raw bytes.
fn qualified_name(tokens: &[Token], i: usize) -> Option<(Option<Vec<u8>>, Vec<u8>)> {
    let ident = |t: Option<&Token>| match t.map(|t| &t.tok) {
        Some(Tok::Ident(n)) | Some(Tok::Word(n)) => Some(n.clone()),
        Some(Tok::Str { value, .. }) => Some(value.clone()),
        _ => None,
    };
    let first = ident(tokens.get(i))?;
    if punct_at(tokens, i + 1, b'.')
        && let Some(second) = ident(tokens.get(i + 2))
    {
        return Some((Some(first), second));
    }
    Some((None, first))
}

#[cfg(test)]
mod tests;
