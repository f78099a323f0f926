//! The audit trail's hash chain: one definition of an entry's canonical bytes and hash, and the
//! verifier that walks a chain and names the first entry that does not hold.
//!
//! An entry's hash is sha256 over a canonical encoding (a version tag, then every field as its
//! length (u64 LE) and bytes, facts sorted by key), so no two different entries share bytes.
//! Each entry names the hash of the one before (`prev`; the first names [`GENESIS`]): editing,
//! deleting or reordering any entry breaks the chain at that entry. Truncating the tail does
//! not break a chain; a signed checkpoint of (sequence, head hash) kept elsewhere shows it.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry says about an operation: inputs and outputs by hash, ids and counts (never a
/// patient value). Sorted by key, so the canonical bytes do not depend on insertion order.
pub type Facts = BTreeMap<String, String>;

/// One entry of the trail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// 1, 2, 3, ... with no gaps.
    pub seq: u64,
    /// When the operation completed, RFC 3339 UTC.
    pub at: String,
    /// Who acted.
    pub actor: String,
    /// The operation (`stage`, `run`, `verify`, ...).
    pub operation: String,
    /// `ok` or `failed`.
    pub outcome: String,
    pub facts: Facts,
    /// The hash of the entry before.
    pub prev: String,
    /// This entry's hash ([`Entry::compute_hash`]), as recorded.
    pub hash: String,
}

impl Entry {
    /// The canonical bytes of every field but `hash`.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let mut field = |b: &[u8]| {
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        };
        field(b"ferry-trail-v1");
        field(&self.seq.to_le_bytes());
        field(self.at.as_bytes());
        field(self.actor.as_bytes());
        field(self.operation.as_bytes());
        field(self.outcome.as_bytes());
        field(&(self.facts.len() as u64).to_le_bytes());
        for (k, v) in &self.facts {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        field(self.prev.as_bytes());
        out
    }

    /// sha256 of [`Entry::canonical`], lower-case hex.
    pub fn compute_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical()))
    }

    /// A new entry after `head` (`None`: the first), its hash computed.
    pub fn next(
        head: Option<(u64, &str)>,
        at: String,
        actor: String,
        operation: String,
        outcome: String,
        facts: Facts,
    ) -> Entry {
        let (seq, prev) = match head {
            Some((seq, hash)) => (seq + 1, hash.to_string()),
            None => (1, GENESIS.to_string()),
        };
        let mut e = Entry {
            seq,
            at,
            actor,
            operation,
            outcome,
            facts,
            prev,
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
    }
}

/// Where a chain does not hold: the first bad sequence number and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The sequence number the chain expected at this position (1-based position).
    pub seq: u64,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The entry at this position has another sequence number (one deleted, or reordered).
    Sequence { found: u64 },
    /// The recorded hash is not the hash of the entry's content (the entry was edited).
    Hash,
    /// `prev` is not the hash of the entry before (one deleted, inserted or reordered).
    Link,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Sequence { found } => write!(
                f,
                "the entry found there has sequence number {found}: an entry was deleted or entries were reordered"
            ),
            Problem::Hash => write!(
                f,
                "its recorded hash is not the hash of its content: the entry was edited"
            ),
            Problem::Link => write!(
                f,
                "its `prev` is not the hash of the entry before it: an entry before it was deleted, inserted or moved"
            ),
        }
    }
}

/// Walks `entries` (in stored order) and returns the head (sequence, hash) of an intact chain,
/// `None` when it is empty, or the first break.
pub fn verify_chain(entries: &[Entry]) -> Result<Option<(u64, String)>, Break> {
    let mut prev = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let expect = i as u64 + 1;
        if e.seq != expect {
            return Err(Break {
                seq: expect,
                problem: Problem::Sequence { found: e.seq },
            });
        }
        if e.compute_hash() != e.hash {
            return Err(Break {
                seq: expect,
                problem: Problem::Hash,
            });
        }
        if e.prev != prev {
            return Err(Break {
                seq: expect,
                problem: Problem::Link,
            });
        }
        prev = e.hash.clone();
    }
    Ok(entries.last().map(|e| (e.seq, e.hash.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain(n: usize) -> Vec<Entry> {
        let mut v: Vec<Entry> = Vec::new();
        for i in 0..n {
            let head = v.last().map(|e| (e.seq, e.hash.as_str()));
            let mut facts = Facts::new();
            facts.insert("run".into(), i.to_string());
            facts.insert("books_sha256".into(), format!("{:064x}", i * 7));
            let e = Entry::next(
                head,
                format!("2026-12-04T10:{:02}:00Z", i % 60),
                "ana".into(),
                ["stage", "run", "verify"][i % 3].into(),
                "ok".into(),
                facts,
            );
            v.push(e);
        }
        v
    }

    #[test]
    fn an_intact_chain_verifies_to_its_head() {
        let c = chain(5);
        assert_eq!(verify_chain(&c).unwrap(), Some((5, c[4].hash.clone())));
        assert_eq!(verify_chain(&[]).unwrap(), None);
    }

    #[test]
    fn canonical_bytes_are_unambiguous() {
        // Moving a byte from one field to the next changes the hash.
        let mut a = chain(1).remove(0);
        let mut b = a.clone();
        a.actor = "ab".into();
        a.operation = "c".into();
        b.actor = "a".into();
        b.operation = "bc".into();
        assert_ne!(a.compute_hash(), b.compute_hash());
    }

    /// One random edit of a chain, as an attacker with write access to the catalog would make.
    #[derive(Debug, Clone)]
    enum Tamper {
        Delete(usize),
        EditFact(usize, String),
        EditActor(usize),
        Swap(usize, usize),
        /// Edit one entry and recompute its own hash (but not the ones after).
        EditAndRehash(usize),
        Insert(usize),
    }

    fn tamper() -> impl Strategy<Value = Tamper> {
        prop_oneof![
            (0..30usize).prop_map(Tamper::Delete),
            (0..30usize, "[a-z0-9]{1,8}").prop_map(|(i, s)| Tamper::EditFact(i, s)),
            (0..30usize).prop_map(Tamper::EditActor),
            (0..30usize, 0..30usize).prop_map(|(i, j)| Tamper::Swap(i, j)),
            (0..30usize).prop_map(Tamper::EditAndRehash),
            (0..30usize).prop_map(Tamper::Insert),
        ]
    }

    /// What verifying the tampered chain must find.
    #[derive(Debug, PartialEq)]
    enum Expect {
        /// The edit changed nothing (a swap of an entry with itself, a fact set to its value).
        Unchanged,
        /// The chain breaks at this sequence number.
        BreakAt(u64),
        /// The chain holds but its head is another (only the signed checkpoint shows it).
        HeadDiffers,
    }

    /// Applies the edit and says what a verifier must find.
    fn apply(c: &mut Vec<Entry>, t: &Tamper) -> Expect {
        let n = c.len();
        let at = |i: usize| Expect::BreakAt(i as u64 + 1);
        match *t {
            Tamper::Delete(i) => {
                let i = i % n;
                c.remove(i);
                if i == n - 1 {
                    Expect::HeadDiffers
                } else {
                    at(i)
                }
            }
            Tamper::EditFact(i, ref s) => {
                let i = i % n;
                let old = c[i].facts.insert("run".into(), s.clone());
                if old.as_deref() == Some(s.as_str()) {
                    Expect::Unchanged
                } else {
                    at(i)
                }
            }
            Tamper::EditActor(i) => {
                let i = i % n;
                c[i].actor.push('x');
                at(i)
            }
            Tamper::Swap(i, j) => {
                let (i, j) = (i % n, j % n);
                if i == j {
                    return Expect::Unchanged;
                }
                c.swap(i, j);
                at(i.min(j))
            }
            Tamper::EditAndRehash(i) => {
                // Its own hash holds; the next entry's `prev` does not.
                let i = i % n;
                c[i].outcome = "failed".into();
                c[i].hash = c[i].compute_hash();
                if i == n - 1 {
                    Expect::HeadDiffers
                } else {
                    at(i + 1)
                }
            }
            Tamper::Insert(i) => {
                // A forged copy of entry i put before it: consistent itself, so the chain
                // breaks at the entry after it, whose sequence number is now one too low.
                let i = i % n;
                let mut e = c[i].clone();
                e.actor = "mallory".into();
                e.hash = e.compute_hash();
                c.insert(i, e);
                at(i + 1)
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Every edit is found: the chain breaks at the first entry the edit made inconsistent,
        /// or (deleting or rewriting the very last entry) it holds with another head, which the
        /// signed checkpoint then does not match.
        #[test]
        fn every_edit_is_detected(n in 2usize..30, t in tamper()) {
            let original = chain(n);
            let head = Some((original[n - 1].seq, original[n - 1].hash.clone()));
            let mut c = original.clone();
            let expect = apply(&mut c, &t);
            match (verify_chain(&c), expect) {
                (Ok(h), Expect::Unchanged) => prop_assert_eq!(h, head),
                (Ok(h), Expect::HeadDiffers) => prop_assert_ne!(h, head),
                (Err(b), Expect::BreakAt(seq)) => prop_assert_eq!(b.seq, seq, "{:?}", t),
                (got, want) => prop_assert!(false, "{t:?}: got {got:?}, expected {want:?}"),
            }
        }
    }
}
