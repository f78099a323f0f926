//! MySQL connection character sets and how string literals are decoded under them.

use encoding_rs::Encoding;
use ferry_core::Value;

/// How the bytes of a string literal are turned into a [`Value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charset {
    /// utf8, utf8mb3, utf8mb4, ascii: valid UTF-8 is text, anything else is kept as bytes.
    Utf8,
    /// `binary`: every string is bytes.
    Binary,
    /// A single-byte character set, transcoded to UTF-8 (`latin1` is Windows-1252 in MySQL).
    SingleByte(&'static Encoding),
}

/// What decoding one literal did, so the caller can note it once per table (or column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoded {
    Plain,
    Transcoded,
    Invalid,
}

impl Charset {
    /// The charset a MySQL character set name stands for, `None` when Ferry cannot decode it.
    pub(crate) fn from_mysql_name(name: &str) -> Option<Charset> {
        let enc = match name.to_ascii_lowercase().as_str() {
            "utf8" | "utf8mb3" | "utf8mb4" | "ascii" | "default" => return Some(Charset::Utf8),
            "binary" => return Some(Charset::Binary),
            "latin1" => encoding_rs::WINDOWS_1252,
            "latin2" => encoding_rs::ISO_8859_2,
            "latin7" => encoding_rs::ISO_8859_13,
            "greek" => encoding_rs::ISO_8859_7,
            "hebrew" => encoding_rs::ISO_8859_8,
            "cp1250" => encoding_rs::WINDOWS_1250,
            "cp1251" => encoding_rs::WINDOWS_1251,
            "cp1256" => encoding_rs::WINDOWS_1256,
            "cp1257" => encoding_rs::WINDOWS_1257,
            "cp866" => encoding_rs::IBM866,
            "koi8r" => encoding_rs::KOI8_R,
            "koi8u" => encoding_rs::KOI8_U,
            "macroman" => encoding_rs::MACINTOSH,
            "tis620" => encoding_rs::WINDOWS_874,
            _ => return None,
        };
        Some(Charset::SingleByte(enc))
    }

    /// The encoding rows are transcoded from, for [`ferry_core::TableDef::transcoded_from`].
    pub(crate) fn transcoded_from(self) -> Option<String> {
        match self {
            Charset::SingleByte(enc) => Some(enc.name().to_ascii_lowercase()),
            _ => None,
        }
    }

    /// Decodes the (unescaped) bytes of one string literal.
    pub(crate) fn decode(self, bytes: Vec<u8>) -> (Value, Decoded) {
        match self {
            Charset::Binary => (Value::Bytes(bytes), Decoded::Plain),
            Charset::Utf8 => match String::from_utf8(bytes) {
                Ok(s) => (Value::Text(s), Decoded::Plain),
                Err(e) => (Value::Bytes(e.into_bytes()), Decoded::Invalid),
            },
            Charset::SingleByte(enc) => {
                if bytes.is_ascii() {
                    // ASCII is the same in every supported single-byte set: no copy needed.
                    match String::from_utf8(bytes) {
                        Ok(s) => (Value::Text(s), Decoded::Transcoded),
                        Err(e) => (Value::Bytes(e.into_bytes()), Decoded::Invalid),
                    }
                } else {
                    let (text, _had_errors) = enc.decode_without_bom_handling(&bytes);
                    (Value::Text(text.into_owned()), Decoded::Transcoded)
                }
            }
        }
    }

    /// Decodes an identifier (table or column name): UTF-8 when valid, else this charset.
    pub(crate) fn decode_ident(self, bytes: &[u8]) -> String {
        if let Ok(s) = std::str::from_utf8(bytes) {
            return s.to_string();
        }
        match self {
            Charset::SingleByte(enc) => enc.decode_without_bom_handling(bytes).0.into_owned(),
            _ => String::from_utf8_lossy(bytes).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_is_windows_1252() {
        let cs = Charset::from_mysql_name("LATIN1");
        assert_eq!(cs, Some(Charset::SingleByte(encoding_rs::WINDOWS_1252)));
        let (v, d) = cs
            .map(|c| c.decode(vec![0x80, b'a', 0xe9]))
            .unwrap_or((Value::Null, Decoded::Plain));
        assert_eq!(v, Value::Text("€aé".into()));
        assert_eq!(d, Decoded::Transcoded);
    }

    #[test]
    fn invalid_utf8_is_kept_as_bytes() {
        let (v, d) = Charset::Utf8.decode(vec![0xff, 0x00]);
        assert_eq!(v, Value::Bytes(vec![0xff, 0x00]));
        assert_eq!(d, Decoded::Invalid);
    }

    #[test]
    fn unknown_charsets_are_refused() {
        assert_eq!(Charset::from_mysql_name("sjis"), None);
        assert_eq!(Charset::from_mysql_name("utf8mb3"), Some(Charset::Utf8));
        assert_eq!(Charset::from_mysql_name("binary"), Some(Charset::Binary));
    }
}
