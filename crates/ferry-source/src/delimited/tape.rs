//! A reader between the (decoded) file and the `csv` parser that keeps the bytes of the record
//! being parsed, so that a rejected record's raw bytes and its line numbers can be reported, and
//! that refuses to let one record grow past a limit (an unclosed quote would otherwise swallow
//! the rest of a 10 GB file into memory).

use super::lines::LineCount;
use std::io::{self, Read};

/// Trim the kept bytes once this many are behind the current record.
const TRIM_AT: usize = 1 << 20;

/// The error a [`Tape`] returns when a record grows past its limit.
#[derive(Debug)]
pub(crate) struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("record too long")
    }
}

impl std::error::Error for RecordTooLong {}

pub(crate) struct Tape<R> {
    inner: R,
    /// Bytes of the stream from offset `base` on.
    buf: Vec<u8>,
    base: u64,
    /// Line breaks are counted up to this stream offset.
    cursor: u64,
    lines: LineCount,
    record_start: u64,
    limit: u64,
}

impl<R: Read> Tape<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            base: 0,
            cursor: 0,
            lines: LineCount::default(),
            record_start: 0,
            limit,
        }
    }

    /// Marks where the next record starts (stream offset); bytes before it may be forgotten.
    pub(crate) fn begin_record(&mut self, start: u64) {
        self.record_start = start;
        let dead = usize::try_from(start.saturating_sub(self.base)).unwrap_or(usize::MAX);
        if dead >= TRIM_AT && dead <= self.buf.len() {
            self.line_at(start);
            self.buf.drain(..dead);
            self.base = start;
        }
    }

    /// The 1-based line of the byte at stream offset `offset`. Offsets must be asked in
    /// non-decreasing order; an earlier one gets the line of the latest asked.
    pub(crate) fn line_at(&mut self, offset: u64) -> u64 {
        if offset > self.cursor {
            let from = usize::try_from(self.cursor - self.base).unwrap_or(usize::MAX);
            let to = usize::try_from(offset - self.base).unwrap_or(usize::MAX);
            if let Some(bytes) = self.buf.get(from..to.min(self.buf.len())) {
                self.lines.feed(bytes);
            }
            self.cursor = offset;
        }
        self.lines.line()
    }

    /// The stream offset just past the last byte read so far.
    pub(crate) fn fed(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    pub(crate) fn inner(&self) -> &R {
        &self.inner
    }

    /// The kept bytes between two stream offsets (empty if not kept).
    pub(crate) fn slice(&self, start: u64, end: u64) -> &[u8] {
        let from = usize::try_from(start.saturating_sub(self.base)).unwrap_or(usize::MAX);
        let to = usize::try_from(end.saturating_sub(self.base)).unwrap_or(usize::MAX);
        self.buf.get(from..to).unwrap_or_default()
    }
}

impl<R: Read> Read for Tape<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let fed = self.base + self.buf.len() as u64;
        if fed.saturating_sub(self.record_start) > self.limit {
            return Err(io::Error::other(RecordTooLong));
        }
        let n = self.inner.read(out)?;
        self.buf.extend_from_slice(out.get(..n).unwrap_or_default());
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_bytes_and_counts_lines_across_trims() {
        let data: Vec<u8> = b"abc\n".repeat(1 << 19); // 2 MiB, 4 bytes a line
        let mut tape = Tape::new(&data[..], u64::MAX);
        let mut sink = vec![0u8; 3000];
        let mut offset = 0u64;
        while let Ok(n) = tape.read(&mut sink) {
            if n == 0 {
                break;
            }
            offset += n as u64;
            let start = offset - offset % 4;
            tape.begin_record(start);
            assert_eq!(tape.line_at(start), start / 4 + 1);
        }
        assert_eq!(tape.slice(offset - 4, offset), b"abc\n");
        assert!(tape.buf.len() < (TRIM_AT * 2));
    }

    #[test]
    fn refuses_records_past_the_limit() {
        let data = vec![b'x'; 10_000];
        let mut tape = Tape::new(&data[..], 100);
        let mut out = vec![0u8; 64];
        let mut failed = false;
        for _ in 0..1000 {
            match tape.read(&mut out) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    failed = e.get_ref().is_some_and(|e| e.is::<RecordTooLong>());
                    break;
                }
            }
        }
        assert!(failed);
    }
}
