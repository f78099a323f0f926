use std::fmt;

/// One staged value, exactly as the snapshot held it.
///
/// Staging never coerces: a number in a dump stays the text of its literal (`12.50` stays `12.50`),
/// an empty string stays empty and distinct from NULL, bytes that are not text stay bytes.
/// Declared and inferred types are metadata kept beside the values, never applied to them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// SQL NULL (a dump's `NULL`; a CSV file has no NULL).
    Null,
    /// Text, valid UTF-8 (transcoded from the source's declared or detected encoding, recorded).
    Text(String),
    /// Bytes: hex and `_binary` literals, BLOBs, and strings that are not valid in their encoding.
    Bytes(Vec<u8>),
}

impl Value {
    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text, if this value is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// Size of the payload in bytes (0 for NULL).
    pub fn len_bytes(&self) -> usize {
        match self {
            Value::Null => 0,
            Value::Text(s) => s.len(),
            Value::Bytes(b) => b.len(),
        }
    }
}

/// A borrowed staged value, for streaming scans that should not allocate per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueRef<'a> {
    Null,
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl ValueRef<'_> {
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Text(s) => Value::Text(s.to_string()),
            ValueRef::Bytes(b) => Value::Bytes(b.to_vec()),
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Null => ValueRef::Null,
            Value::Text(s) => ValueRef::Text(s),
            Value::Bytes(b) => ValueRef::Bytes(b),
        }
    }
}

impl fmt::Display for Value {
    /// Renders for people: NULL as `NULL`, bytes as `0x` hex. Callers decide whether a value may
    /// be shown at all (PHI); this only formats.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Text(s) => f.write_str(s),
            Value::Bytes(b) => {
                f.write_str("0x")?;
                for byte in b {
                    write!(f, "{byte:02X}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_keeps_null_distinct_from_empty_text() {
        assert_eq!(Value::Null.to_string(), "NULL");
        assert_eq!(Value::Text(String::new()).to_string(), "");
        assert_eq!(Value::Bytes(vec![0x00, 0xAB]).to_string(), "0x00AB");
    }

    #[test]
    fn len_bytes_counts_payload() {
        assert_eq!(Value::Null.len_bytes(), 0);
        assert_eq!(Value::Text("é".into()).len_bytes(), 2);
        assert_eq!(Value::Bytes(vec![1, 2, 3]).len_bytes(), 3);
    }
}
