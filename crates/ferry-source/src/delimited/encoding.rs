//! Encoding of a delimited file: BOM, whole-file UTF-8 check, legacy detection (chardetng), and
//! a streaming decoder (encoding_rs) that turns the file into UTF-8 for the parser.

use super::lines::LineCount;
use encoding_rs::{CoderResult, Decoder, Encoding, UTF_8, UTF_16BE, UTF_16LE};
use std::io::{self, Read};

/// How much non-ASCII text chardetng is fed at most.
const DETECT_BUDGET: usize = 8 << 20;
const CHUNK: usize = 1 << 20;

/// Why this encoding was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The caller named the encoding.
    Requested,
    /// A byte-order mark says so.
    Bom,
    /// The whole file is valid UTF-8.
    ValidUtf8,
    /// The file is not valid UTF-8 (first invalid byte on `first_invalid_line`); chardetng guessed.
    Detected { first_invalid_line: u64 },
    /// The file holds valid multi-byte UTF-8 before its first invalid byte: it is UTF-8 with some
    /// bad bytes, not a legacy encoding. Decoding it all as a legacy encoding would garble every
    /// real accent, so it is read as UTF-8 and the fields that are not valid are kept as bytes.
    MixedUtf8 { first_invalid_line: u64 },
}

/// The encoding a file is read in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Choice {
    pub encoding: &'static Encoding,
    /// Bytes of BOM at the start of the file, skipped before decoding.
    pub bom_len: usize,
    pub reason: Reason,
}

impl Choice {
    /// Whether bytes go through a decoder (anything but UTF-8, which is parsed as bytes).
    pub(crate) fn transcodes(&self) -> bool {
        self.encoding != UTF_8
    }

    /// Encodes decoded text back to the file's encoding (for the raw bytes of a rejected row).
    /// Exact for UTF-8, UTF-16 and the single-byte encodings (windows-1252 ...); for multi-byte
    /// legacy encodings, bytes that were malformed in the file come back as their replacement.
    pub(crate) fn encode_back(&self, decoded: &[u8]) -> Vec<u8> {
        if !self.transcodes() {
            return decoded.to_vec();
        }
        let text = String::from_utf8_lossy(decoded);
        if self.encoding == UTF_16LE {
            text.encode_utf16().flat_map(u16::to_le_bytes).collect()
        } else if self.encoding == UTF_16BE {
            text.encode_utf16().flat_map(u16::to_be_bytes).collect()
        } else {
            self.encoding.encode(&text).0.into_owned()
        }
    }
}

/// Fills `buf` as far as the reader allows; returns how many bytes were read.
pub(crate) fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The BOM at the start of `head`, if any: its encoding and length.
pub(crate) fn sniff_bom(head: &[u8]) -> Option<(&'static Encoding, usize)> {
    Encoding::for_bom(head)
}

/// Chooses the encoding. `requested` is a WHATWG label; `open` opens the file from its start.
/// Errors: `Err(None)` for an unknown label, `Err(Some(io))` for a read failure.
pub(crate) fn choose<'a>(
    open: &(dyn Fn() -> io::Result<Box<dyn Read + 'a>> + 'a),
    requested: Option<&str>,
) -> Result<Choice, ChooseError> {
    let mut head = [0u8; 3];
    let n = read_full(&mut *open()?, &mut head)?;
    let bom = sniff_bom(&head[..n]);
    if let Some(label) = requested {
        let encoding = Encoding::for_label(label.trim().as_bytes())
            .ok_or_else(|| ChooseError::UnknownLabel(label.to_string()))?;
        let bom_len = match bom {
            Some((enc, len)) if enc == encoding => len,
            _ => 0,
        };
        return Ok(Choice {
            encoding,
            bom_len,
            reason: Reason::Requested,
        });
    }
    if let Some((encoding, bom_len)) = bom {
        return Ok(Choice {
            encoding,
            bom_len,
            reason: Reason::Bom,
        });
    }
    match utf8_scan(&mut *open()?)? {
        Utf8Scan {
            first_invalid_line: None,
            ..
        } => Ok(Choice {
            encoding: UTF_8,
            bom_len: 0,
            reason: Reason::ValidUtf8,
        }),
        Utf8Scan {
            first_invalid_line: Some(first_invalid_line),
            multibyte_before_invalid: true,
        } => Ok(Choice {
            encoding: UTF_8,
            bom_len: 0,
            reason: Reason::MixedUtf8 { first_invalid_line },
        }),
        Utf8Scan {
            first_invalid_line: Some(first_invalid_line),
            multibyte_before_invalid: false,
        } => Ok(Choice {
            encoding: detect_legacy(&mut *open()?)?,
            bom_len: 0,
            reason: Reason::Detected { first_invalid_line },
        }),
    }
}

/// What a UTF-8 validation pass found.
pub(crate) struct Utf8Scan {
    /// 1-based line of the first byte that is not valid UTF-8.
    pub first_invalid_line: Option<u64>,
    /// Valid multi-byte UTF-8 sequences came before that byte.
    pub multibyte_before_invalid: bool,
}

#[derive(Debug)]
pub(crate) enum ChooseError {
    UnknownLabel(String),
    Io(io::Error),
}

impl From<io::Error> for ChooseError {
    fn from(e: io::Error) -> Self {
        ChooseError::Io(e)
    }
}

/// Streams the whole input; returns the 1-based line of the first byte that is not valid UTF-8,
/// or `None` when all of it is valid. Stops at the first invalid byte.
#[cfg(test)]
pub(crate) fn first_invalid_utf8_line(reader: &mut dyn Read) -> io::Result<Option<u64>> {
    Ok(utf8_scan(reader)?.first_invalid_line)
}

/// Streams the whole input (stopping at the first invalid byte): where UTF-8 validity ends, and
/// whether valid multi-byte sequences came before.
pub(crate) fn utf8_scan(reader: &mut dyn Read) -> io::Result<Utf8Scan> {
    let mut buf = vec![0u8; CHUNK];
    let mut carry = 0usize;
    let mut lines = LineCount::default();
    let mut multibyte = false;
    loop {
        let n = read_full(reader, &mut buf[carry..])?;
        let len = carry + n;
        if n == 0 {
            // Input ended inside a multi-byte sequence.
            return Ok(Utf8Scan {
                first_invalid_line: (carry > 0).then(|| lines.line()),
                multibyte_before_invalid: multibyte,
            });
        }
        let chunk = &buf[..len];
        match std::str::from_utf8(chunk) {
            Ok(_) => {
                lines.feed(chunk);
                multibyte |= !chunk.is_ascii();
                carry = 0;
            }
            Err(e) => {
                let good = e.valid_up_to();
                lines.feed(&chunk[..good]);
                multibyte |= !chunk[..good].is_ascii();
                if e.error_len().is_some() {
                    return Ok(Utf8Scan {
                        first_invalid_line: Some(lines.line()),
                        multibyte_before_invalid: multibyte,
                    });
                }
                // An incomplete sequence at the end of the chunk: carry it over (at most 3 bytes).
                buf.copy_within(good..len, 0);
                carry = len - good;
            }
        }
    }
}

/// Guesses the legacy encoding of a file that is not UTF-8, feeding chardetng the chunks that
/// hold non-ASCII bytes (up to a budget).
fn detect_legacy(reader: &mut dyn Read) -> io::Result<&'static Encoding> {
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    let mut buf = vec![0u8; 64 << 10];
    let mut fed = 0usize;
    loop {
        let n = read_full(reader, &mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        if !chunk.is_ascii() {
            detector.feed(chunk, false);
            fed += n;
            if fed >= DETECT_BUDGET {
                break;
            }
        }
    }
    detector.feed(&[], true);
    Ok(detector.guess(None, chardetng::Utf8Detection::Deny))
}

/// Decodes a byte stream into UTF-8 as it is read.
pub(crate) struct DecodeReader<R> {
    inner: R,
    decoder: Decoder,
    input: Vec<u8>,
    in_start: usize,
    in_end: usize,
    input_done: bool,
    output: Vec<u8>,
    out_start: usize,
    out_end: usize,
    finished: bool,
    /// Whether any malformed sequence was replaced with U+FFFD.
    pub replaced: bool,
}

impl<R: Read> DecodeReader<R> {
    pub(crate) fn new(inner: R, encoding: &'static Encoding) -> Self {
        Self {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            input: vec![0; 64 << 10],
            in_start: 0,
            in_end: 0,
            input_done: false,
            output: vec![0; 3 * (64 << 10) + 16],
            out_start: 0,
            out_end: 0,
            finished: false,
            replaced: false,
        }
    }
}

impl<R> DecodeReader<R> {
    pub(crate) fn inner(&self) -> &R {
        &self.inner
    }
}

impl<R: Read> Read for DecodeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_start < self.out_end {
                let n = buf.len().min(self.out_end - self.out_start);
                buf[..n].copy_from_slice(&self.output[self.out_start..self.out_start + n]);
                self.out_start += n;
                return Ok(n);
            }
            if self.finished || buf.is_empty() {
                return Ok(0);
            }
            if self.in_start == self.in_end && !self.input_done {
                let n = loop {
                    match self.inner.read(&mut self.input) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        other => break other?,
                    }
                };
                self.in_start = 0;
                self.in_end = n;
                self.input_done = n == 0;
            }
            let (result, read, written, replaced) = self.decoder.decode_to_utf8(
                &self.input[self.in_start..self.in_end],
                &mut self.output,
                self.input_done,
            );
            self.in_start += read;
            self.out_start = 0;
            self.out_end = written;
            self.replaced |= replaced;
            if result == CoderResult::InputEmpty && self.input_done {
                self.finished = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_of_the_first_invalid_byte() {
        let data = b"a,b\nc,d\n\xE9,f\n";
        assert_eq!(first_invalid_utf8_line(&mut &data[..]).ok(), Some(Some(3)));
        assert_eq!(
            first_invalid_utf8_line(&mut &b"caf\xC3\xA9\n"[..]).ok(),
            Some(None)
        );
    }

    #[test]
    fn truncated_sequence_at_end_of_input_is_invalid() {
        assert_eq!(
            first_invalid_utf8_line(&mut &b"x\ny\xC3"[..]).ok(),
            Some(Some(2))
        );
    }

    #[test]
    fn decode_reader_transcodes_in_small_reads() {
        let data = b"caf\xE9,\x80\n".repeat(50_000);
        let mut reader = DecodeReader::new(&data[..], encoding_rs::WINDOWS_1252);
        let mut out = Vec::new();
        let mut small = [0u8; 7];
        loop {
            let n = reader.read(&mut small).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&small[..n]);
        }
        assert_eq!(out, "café,€\n".repeat(50_000).as_bytes());
        assert!(!reader.replaced);
    }

    #[test]
    fn encode_back_restores_windows_1252_and_utf16_bytes() {
        let choice = Choice {
            encoding: encoding_rs::WINDOWS_1252,
            bom_len: 0,
            reason: Reason::Requested,
        };
        assert_eq!(choice.encode_back("é€\u{81}".as_bytes()), b"\xE9\x80\x81");
        let choice = Choice {
            encoding: UTF_16LE,
            bom_len: 2,
            reason: Reason::Bom,
        };
        assert_eq!(choice.encode_back(b"a\n"), b"a\0\n\0");
    }
}
