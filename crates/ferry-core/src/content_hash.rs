//! The content hash of a staged table: sha256 over a canonical, unambiguous encoding of its
//! values in row order (a tag byte, then for text and bytes the length as u64 LE and the
//! payload). Staging records it per table; `ferry load` of a database target computes it again
//! over what it reads back from the copy, so both compare the same thing.

use crate::ValueRef;
use sha2::{Digest, Sha256};

/// Accumulates one table's content hash, value by value in row order.
#[derive(Debug, Clone, Default)]
pub struct TableHasher {
    h: Sha256,
}

impl TableHasher {
    pub fn new() -> TableHasher {
        TableHasher::default()
    }

    /// Adds one value (NULL, text and bytes all distinct, even when empty).
    pub fn push(&mut self, v: ValueRef<'_>) {
        match v {
            ValueRef::Null => self.h.update([0u8]),
            ValueRef::Text(s) => {
                self.h.update([1u8]);
                self.h.update((s.len() as u64).to_le_bytes());
                self.h.update(s.as_bytes());
            }
            ValueRef::Bytes(b) => {
                self.h.update([2u8]);
                self.h.update((b.len() as u64).to_le_bytes());
                self.h.update(b);
            }
        }
    }

    /// The hash in lower-case hex.
    pub fn finish(self) -> String {
        hex::encode(self.h.finalize())
    }
}

/// One source row's hash, for a delta run's comparison with its base: the first 16 bytes of
/// sha256 over the row's values in the same encoding as [`TableHasher`].
pub fn row_hash<'a>(values: impl IntoIterator<Item = ValueRef<'a>>) -> [u8; 16] {
    let mut h = TableHasher::new();
    for v in values {
        h.push(v);
    }
    let full = h.h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_hash_tells_null_empty_and_bytes_apart() {
        let a = row_hash([ValueRef::Null, ValueRef::Text("")]);
        let b = row_hash([ValueRef::Text(""), ValueRef::Null]);
        let c = row_hash([ValueRef::Bytes(b""), ValueRef::Null]);
        let d = row_hash([ValueRef::Text("ab")]);
        let e = row_hash([ValueRef::Text("a"), ValueRef::Text("b")]);
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert_ne!(d, e);
        assert_eq!(a, row_hash([ValueRef::Null, ValueRef::Text("")]));
    }

    #[test]
    fn distinguishes_null_empty_and_bytes() {
        let digest = |v: ValueRef<'_>| {
            let mut h = TableHasher::new();
            h.push(v);
            h.finish()
        };
        let null = digest(ValueRef::Null);
        let empty = digest(ValueRef::Text(""));
        let bytes = digest(ValueRef::Bytes(b""));
        assert_ne!(null, empty);
        assert_ne!(empty, bytes);
        assert_ne!(null, bytes);
    }
}
