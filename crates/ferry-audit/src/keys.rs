//! Row keys, example collection and the parent key sets used by the orphan check.

use std::collections::HashSet;
use std::fmt::Write as _;

use ferry_core::ValueRef;

/// A value as text for keys and (with `show_values`) examples: text as is, bytes as `0x` hex,
/// NULL as `NULL`.
pub(crate) fn display(v: &ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".to_string(),
        ValueRef::Text(s) => (*s).to_string(),
        ValueRef::Bytes(b) => {
            let mut s = String::with_capacity(2 + b.len() * 2);
            s.push_str("0x");
            for byte in b.iter() {
                let _ = write!(s, "{byte:02X}");
            }
            s
        }
    }
}

/// The row's key: its primary-key values joined with `|`, or `rowid N` when it has none.
pub(crate) fn row_key(pk: &[usize], rowid: i64, row: &[ValueRef<'_>]) -> String {
    if pk.is_empty() {
        return format!("rowid {rowid}");
    }
    let mut out = String::new();
    for (n, &i) in pk.iter().enumerate() {
        if n > 0 {
            out.push('|');
        }
        match row.get(i) {
            Some(v) => out.push_str(&display(v)),
            None => out.push_str("NULL"),
        }
    }
    out
}

/// A counter with a few example keys (and values, only when asked).
#[derive(Debug, Default, Clone)]
pub(crate) struct Acc {
    pub count: u64,
    pub keys: Vec<String>,
    pub values: Vec<String>,
}

impl Acc {
    /// Counts one hit; `key` and `value` are only computed while examples are still wanted.
    pub fn hit(
        &mut self,
        limit: usize,
        show_values: bool,
        key: impl FnOnce() -> String,
        value: impl FnOnce() -> String,
    ) {
        self.count += 1;
        if self.keys.len() < limit {
            self.keys.push(key());
            if show_values {
                self.values.push(value());
            }
        }
    }
}

/// The set of key values of a parent table. Integer keys (the common case) take 8 bytes each in a
/// sorted vector; other keys are kept as strings.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    ints: Vec<i64>,
    strs: HashSet<Box<str>>,
    sorted: bool,
}

/// `s` as an integer when it is written canonically (no sign `+`, no leading zeros, no spaces),
/// so that text equality and integer equality agree.
pub(crate) fn canonical_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || digits.len() > 18
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
        || s == "-0"
    {
        return None;
    }
    s.parse().ok()
}

impl KeySet {
    pub fn insert(&mut self, key: &str) {
        match canonical_int(key) {
            Some(i) => {
                self.ints.push(i);
                self.sorted = false;
            }
            None => {
                self.strs.insert(key.into());
            }
        }
    }
    pub fn finish(&mut self) {
        self.ints.sort_unstable();
        self.ints.dedup();
        self.ints.shrink_to_fit();
        self.sorted = true;
    }
    pub fn contains(&self, key: &str) -> bool {
        match canonical_int(key) {
            Some(i) if self.sorted => self.ints.binary_search(&i).is_ok(),
            Some(i) => self.ints.contains(&i),
            None => self.strs.contains(key),
        }
    }
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ints.len() + self.strs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_set_matches_text_exactly() {
        let mut k = KeySet::default();
        for s in ["12", "3", "A7", "-4"] {
            k.insert(s);
        }
        k.finish();
        assert!(k.contains("12"));
        assert!(k.contains("-4"));
        assert!(k.contains("A7"));
        assert!(!k.contains("012"), "leading zeros are different text");
        assert!(!k.contains("13"));
        assert!(!k.contains(""));
        assert_eq!(k.len(), 4);
    }

    #[test]
    fn row_key_joins_composite_keys_and_falls_back_to_rowid() {
        let row = [
            ValueRef::Text("a"),
            ValueRef::Null,
            ValueRef::Bytes(&[0xAB]),
        ];
        assert_eq!(row_key(&[0, 2], 9, &row), "a|0xAB");
        assert_eq!(row_key(&[], 9, &row), "rowid 9");
    }

    #[test]
    fn acc_keeps_only_the_first_examples_and_values_only_when_asked() {
        let mut a = Acc::default();
        for i in 0..5 {
            a.hit(2, false, || i.to_string(), || "secret".into());
        }
        assert_eq!(a.count, 5);
        assert_eq!(a.keys, vec!["0", "1"]);
        assert!(a.values.is_empty());
    }
}
