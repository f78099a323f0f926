//! The byte scanner under the mysqldump reader: an owned, fixed-size window over the input with
//! lazy line counting, comment skipping and quote-aware literal scanning.
//!
//! Memory: the window is [`WINDOW`] bytes; a literal is copied out of it piece by piece, so the
//! largest allocation is the largest single value, never a statement or a line.

use memchr::{memchr, memchr_iter, memchr2};
use std::io::{self, Read};

/// Size of the input window.
pub(crate) const WINDOW: usize = 1 << 20;

/// A scanning failure before the file name is attached.
#[derive(Debug)]
pub(crate) enum ScanError {
    Io(io::Error),
    Syntax {
        line: u64,
        column: u64,
        message: String,
    },
}

impl From<io::Error> for ScanError {
    fn from(e: io::Error) -> Self {
        ScanError::Io(e)
    }
}

pub(crate) type ScanResult<T> = Result<T, ScanError>;

/// Mark slot for the token being scanned (a string, a comment, an identifier).
pub(crate) const MARK_TOKEN: usize = 0;
/// Mark slot for the statement being read.
pub(crate) const MARK_STATEMENT: usize = 1;

#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    offset: u64,
    /// (line, column) once resolved.
    at: Option<(u64, u64)>,
}

pub(crate) struct Scanner<R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    /// Absolute offset of `buf[0]`.
    base: u64,
    /// Index in `buf` up to which newlines have been counted.
    counted: usize,
    /// Line number (1-based) of the byte at `buf[counted]`.
    line: u64,
    /// Absolute offset of the first byte of that line.
    line_start: u64,
    marks: [Option<Mark>; 2],
    /// Position of the `/*!` executable comment we are inside, if any.
    pub(crate) exec_comment: Option<(u64, u64)>,
}

#[inline]
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[inline]
pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Bytes that may start whitespace or a comment (or end an executable comment).
#[inline]
pub(crate) fn may_start_trivia(b: u8) -> bool {
    is_space(b) || matches!(b, b'#' | b'-' | b'/' | b'*')
}

impl<R: Read> Scanner<R> {
    pub(crate) fn new(src: R) -> Self {
        Scanner {
            src,
            buf: vec![0; WINDOW],
            pos: 0,
            end: 0,
            eof: false,
            base: 0,
            counted: 0,
            line: 1,
            line_start: 0,
            marks: [None; 2],
            exec_comment: None,
        }
    }

    /// Absolute offset of the next byte.
    #[inline]
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The unread bytes currently in the window (may be empty; call [`Self::fill`]).
    #[inline]
    pub(crate) fn avail(&self) -> &[u8] {
        self.buf.get(self.pos..self.end).unwrap_or(&[])
    }

    /// Consumes `n` bytes of [`Self::avail`] (clamped).
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.end);
    }

    /// Reads more input into the window. Returns false at end of input with nothing new.
    pub(crate) fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.count_to(self.pos);
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.counted = 0;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            // Only a lookahead request larger than the window gets here; never from input data.
            return Ok(true);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next byte, reading more input if needed.
    #[inline]
    pub(crate) fn peek(&mut self) -> io::Result<Option<u8>> {
        if self.pos < self.end {
            return Ok(self.buf.get(self.pos).copied());
        }
        self.fill()?;
        Ok(self
            .buf
            .get(self.pos)
            .copied()
            .filter(|_| self.pos < self.end))
    }

    /// The byte `k` places ahead, reading more input if needed (k is small).
    pub(crate) fn peek_at(&mut self, k: usize) -> io::Result<Option<u8>> {
        while self.end - self.pos <= k {
            let before = self.end - self.pos;
            if !self.fill()? || self.end - self.pos == before {
                break;
            }
        }
        if self.pos + k < self.end {
            Ok(self.buf.get(self.pos + k).copied())
        } else {
            Ok(None)
        }
    }

    /// True when the next bytes are `s` (ASCII case-insensitive when `ci`).
    pub(crate) fn looking_at(&mut self, s: &[u8], ci: bool) -> io::Result<bool> {
        if s.is_empty() {
            return Ok(false);
        }
        if self.peek_at(s.len() - 1)?.is_none() {
            return Ok(false);
        }
        let a = self.avail();
        Ok(a.len() >= s.len()
            && if ci {
                a[..s.len()].eq_ignore_ascii_case(s)
            } else {
                &a[..s.len()] == s
            })
    }

    fn count_to(&mut self, idx: usize) {
        let idx = idx.min(self.end);
        if idx <= self.counted {
            return;
        }
        // Resolve pending marks in offset order (counting only moves forward).
        let mut order = [0usize, 1];
        if let [Some(a), Some(b)] = self.marks
            && b.offset < a.offset
        {
            order = [1, 0];
        }
        for slot in order {
            if let Some(m) = self.marks[slot]
                && m.at.is_none()
            {
                let from = self.base + self.counted as u64;
                let to = self.base + idx as u64;
                if m.offset >= from && m.offset <= to {
                    let mi = (m.offset - self.base) as usize;
                    self.count_range(mi);
                    let at = (self.line, m.offset - self.line_start + 1);
                    if let Some(mm) = self.marks[slot].as_mut() {
                        mm.at = Some(at);
                    }
                }
            }
        }
        self.count_range(idx);
    }

    fn count_range(&mut self, to: usize) {
        if to <= self.counted {
            return;
        }
        let slice = self.buf.get(self.counted..to).unwrap_or(&[]);
        let mut n = 0u64;
        let mut last = None;
        for i in memchr_iter(b'\n', slice) {
            n += 1;
            last = Some(i);
        }
        if let Some(l) = last {
            self.line += n;
            self.line_start = self.base + (self.counted + l + 1) as u64;
        }
        self.counted = to;
    }

    /// (line, column) of the next byte, both 1-based; the column counts bytes.
    pub(crate) fn position(&mut self) -> (u64, u64) {
        self.count_to(self.pos);
        (self.line, self.offset() - self.line_start + 1)
    }

    pub(crate) fn set_mark(&mut self, slot: usize) {
        if let Some(m) = self.marks.get_mut(slot) {
            *m = Some(Mark {
                offset: self.base + self.pos as u64,
                at: None,
            });
        }
    }

    /// (line, column) of the mark in `slot` (or of the current position if unset).
    pub(crate) fn mark_position(&mut self, slot: usize) -> (u64, u64) {
        self.count_to(self.pos);
        match self.marks.get(slot).copied().flatten().and_then(|m| m.at) {
            Some(at) => at,
            None => self.position(),
        }
    }

    pub(crate) fn error_here(&mut self, message: impl Into<String>) -> ScanError {
        let (line, column) = self.position();
        ScanError::Syntax {
            line,
            column,
            message: message.into(),
        }
    }

    pub(crate) fn error_at_mark(&mut self, slot: usize, message: impl Into<String>) -> ScanError {
        let (line, column) = self.mark_position(slot);
        ScanError::Syntax {
            line,
            column,
            message: message.into(),
        }
    }

    /// Skips whitespace, `-- ` / `#` / `/* */` comments, and the delimiters of `/*!NNNNN ... */`
    /// executable comments (whose content is read as SQL, as the server does).
    pub(crate) fn skip_trivia(&mut self) -> ScanResult<()> {
        loop {
            let Some(b) = self.peek()? else {
                return Ok(());
            };
            match b {
                b if is_space(b) => {
                    let n = self.avail().iter().take_while(|&&c| is_space(c)).count();
                    self.advance(n.max(1));
                }
                b'#' => self.skip_line()?,
                b'-' if self.peek_at(1)? == Some(b'-') && self.peek_at(2)?.is_none_or(is_space) => {
                    self.skip_line()?;
                }
                b'/' if self.peek_at(1)? == Some(b'*') => self.comment()?,
                b'*' if self.exec_comment.is_some() && self.peek_at(1)? == Some(b'/') => {
                    self.advance(2);
                    self.exec_comment = None;
                }
                _ => return Ok(()),
            }
        }
    }

    fn skip_line(&mut self) -> ScanResult<()> {
        loop {
            if let Some(i) = memchr(b'\n', self.avail()) {
                self.advance(i + 1);
                return Ok(());
            }
            let n = self.avail().len();
            self.advance(n);
            if !self.fill()? {
                return Ok(());
            }
        }
    }

    /// At `/*`: a plain comment (skipped) or an executable comment (opened).
    fn comment(&mut self) -> ScanResult<()> {
        let start = self.position();
        self.set_mark(MARK_TOKEN);
        let exec_len = if self.peek_at(2)? == Some(b'!') {
            3
        } else if matches!(self.peek_at(2)?, Some(b'M' | b'm')) && self.peek_at(3)? == Some(b'!') {
            4
        } else {
            0
        };
        if exec_len > 0 {
            self.advance(exec_len);
            let mut digits = 0u32;
            let mut version = 0u64;
            while digits < 6 {
                match self.peek()? {
                    Some(d) if d.is_ascii_digit() => {
                        version = version * 10 + u64::from(d - b'0');
                        digits += 1;
                        self.advance(1);
                    }
                    _ => break,
                }
            }
            // `/*M!999999\- enable the sandbox mode */` (MariaDB) is a client command for
            // versions that will never exist: a plain comment for us.
            if version < 999_999 {
                self.exec_comment = Some(start);
                return Ok(());
            }
        } else {
            self.advance(2);
        }
        loop {
            if let Some(i) = memchr(b'*', self.avail()) {
                self.advance(i + 1);
                match self.peek()? {
                    Some(b'/') => {
                        self.advance(1);
                        return Ok(());
                    }
                    Some(_) => continue,
                    None => break,
                }
            }
            let n = self.avail().len();
            self.advance(n);
            if !self.fill()? {
                break;
            }
        }
        Err(self.error_at_mark(
            MARK_TOKEN,
            "unterminated `/*` comment (no closing `*/` before the end of the file); the dump \
             may be truncated: re-export it with mysqldump",
        ))
    }

    /// At an opening quote: reads a string literal with MySQL escapes into `out` (appending),
    /// and its raw bytes (quotes included) into `raw` when given.
    pub(crate) fn string(
        &mut self,
        out: &mut Vec<u8>,
        mut raw: Option<&mut Vec<u8>>,
    ) -> ScanResult<()> {
        let Some(quote) = self.peek()? else {
            return Err(self.error_here("expected a string"));
        };
        self.set_mark(MARK_TOKEN);
        self.advance(1);
        if let Some(r) = raw.as_deref_mut() {
            r.push(quote);
        }
        loop {
            let avail = self.avail();
            if avail.is_empty() {
                if !self.fill()? {
                    return Err(self.unterminated_string());
                }
                continue;
            }
            match memchr2(quote, b'\\', avail) {
                None => {
                    out.extend_from_slice(avail);
                    if let Some(r) = raw.as_deref_mut() {
                        r.extend_from_slice(avail);
                    }
                    let n = avail.len();
                    self.advance(n);
                }
                Some(i) => {
                    let c = avail[i];
                    out.extend_from_slice(&avail[..i]);
                    if let Some(r) = raw.as_deref_mut() {
                        r.extend_from_slice(&avail[..=i]);
                    }
                    self.advance(i + 1);
                    if c == quote {
                        if self.peek()? == Some(quote) {
                            out.push(quote);
                            if let Some(r) = raw.as_deref_mut() {
                                r.push(quote);
                            }
                            self.advance(1);
                        } else {
                            return Ok(());
                        }
                    } else {
                        let Some(e) = self.peek()? else {
                            return Err(self.unterminated_string());
                        };
                        self.advance(1);
                        if let Some(r) = raw.as_deref_mut() {
                            r.push(e);
                        }
                        match e {
                            b'0' => out.push(0),
                            b'b' => out.push(0x08),
                            b'n' => out.push(b'\n'),
                            b'r' => out.push(b'\r'),
                            b't' => out.push(b'\t'),
                            b'Z' => out.push(0x1a),
                            // `\%` and `\_` keep their backslash (they are LIKE escapes).
                            b'%' | b'_' => out.extend_from_slice(&[b'\\', e]),
                            other => out.push(other),
                        }
                    }
                }
            }
        }
    }

    fn unterminated_string(&mut self) -> ScanError {
        self.error_at_mark(
            MARK_TOKEN,
            "unterminated string (the quote opened here is never closed); the dump may be \
             truncated or hand-edited: re-export it with mysqldump",
        )
    }

    /// At a backquote: reads a backquoted identifier (`` `` `` is one backquote) into `out`.
    pub(crate) fn quoted_ident(&mut self, out: &mut Vec<u8>) -> ScanResult<()> {
        self.set_mark(MARK_TOKEN);
        self.advance(1);
        loop {
            let avail = self.avail();
            if avail.is_empty() {
                if !self.fill()? {
                    return Err(self.error_at_mark(
                        MARK_TOKEN,
                        "unterminated backquoted name (the backquote opened here is never \
                         closed); the dump may be truncated: re-export it with mysqldump",
                    ));
                }
                continue;
            }
            match memchr(b'`', avail) {
                None => {
                    out.extend_from_slice(avail);
                    let n = avail.len();
                    self.advance(n);
                }
                Some(i) => {
                    out.extend_from_slice(&avail[..i]);
                    self.advance(i + 1);
                    if self.peek()? == Some(b'`') {
                        out.push(b'`');
                        self.advance(1);
                    } else {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Appends the run of bytes satisfying `pred` to `out`.
    pub(crate) fn take_while(
        &mut self,
        out: &mut Vec<u8>,
        pred: impl Fn(u8) -> bool,
    ) -> io::Result<()> {
        loop {
            let avail = self.avail();
            let n = avail.iter().take_while(|&&c| pred(c)).count();
            out.extend_from_slice(&avail[..n]);
            let whole = n == avail.len();
            self.advance(n);
            if !whole {
                return Ok(());
            }
            if !self.fill()? {
                return Ok(());
            }
        }
    }

    /// Reads the rest of the current line (without the newline) into `out`, up to `cap` bytes.
    pub(crate) fn rest_of_line(&mut self, out: &mut Vec<u8>, cap: usize) -> io::Result<()> {
        loop {
            let avail = self.avail();
            let (n, done) = match memchr(b'\n', avail) {
                Some(i) => (i, true),
                None => (avail.len(), false),
            };
            let room = cap.saturating_sub(out.len());
            out.extend_from_slice(&avail[..n.min(room)]);
            self.advance(if done { n + 1 } else { n });
            if done || !self.fill()? {
                return Ok(());
            }
        }
    }
}
