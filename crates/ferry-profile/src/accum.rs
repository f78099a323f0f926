//! Mergeable per-column accumulators: one pass over a table (or over each rowid range of it on
//! its own thread) fills one [`TableAcc`]; the parts are merged with [`TableAcc::merge`] and the
//! result is the same as one pass over the whole table (see the proptest at the end).
//!
//! Memory per column is bounded: exact value counts up to `exact_distinct_limit` values (and
//! [`EXACT_BYTES_BUDGET`] bytes of values), then a HyperLogLog sketch (distinct count) and a
//! frequent-items sketch (top values) of fixed size; key sets (for candidate keys and foreign
//! keys) up to [`KEY_SET_LIMIT`] values of at most [`KEY_MAX_LEN`] bytes each, dropped as soon
//! as the column shows a duplicate, a NULL or a blank.

use crate::formats::{self, Classified, Hints, Shape, ShapeClass, SortKey};
use crate::model::{Distinct, InferredType, LengthStats, ValueCount};
use datasketches::frequencies::{ErrorType, FrequentItemsSketch};
use datasketches::hll::{HllSketch, HllType, HllUnion};
use ferry_core::ValueRef;
use hashbrown::{HashMap, HashSet};

/// The exact value map of a column switches to sketches past this many bytes of distinct
/// values (long free text), whatever the distinct limit.
pub const EXACT_BYTES_BUDGET: usize = 16 << 20;
/// A column with more distinct values than this cannot be proven unique (nor serve as the
/// target of a foreign key): its key set is dropped.
pub const KEY_SET_LIMIT: usize = 5_000_000;
/// Values longer than this (in bytes) are not identifiers: the column is no candidate key.
pub const KEY_MAX_LEN: usize = 64;
/// log2 of the HyperLogLog register count: 2^14 registers, relative standard error 0.81%.
pub const HLL_LG_K: u8 = 14;
/// Entries of the frequent-items sketch (a power of two).
pub const FREQ_MAP_SIZE: usize = 1024;

/// The relative standard error of the HyperLogLog estimate (1.04 / sqrt(2^k)).
pub fn hll_relative_error() -> f64 {
    1.04 / f64::from(1u32 << HLL_LG_K).sqrt()
}

/// Limits that bound an accumulator's memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub exact_distinct_limit: u64,
    pub exact_bytes_budget: usize,
    pub key_set_limit: usize,
}

impl Limits {
    pub fn new(exact_distinct_limit: u64) -> Limits {
        Limits {
            exact_distinct_limit,
            exact_bytes_budget: EXACT_BYTES_BUDGET,
            key_set_limit: KEY_SET_LIMIT,
        }
    }
}

// ------------------------------------------------------------------------------------------
// Minimum and maximum
// ------------------------------------------------------------------------------------------

/// One end of a column's range: the order key, the text as the source held it, and how many
/// times that exact text was seen (for small-cell suppression: a min or max seen fewer than
/// `--min-count` times is never shown). Bounded memory: one value and one counter per end.
#[derive(Debug, Clone, PartialEq)]
pub struct End<K> {
    pub key: K,
    pub text: String,
    pub count: u64,
}

/// Which end an [`End`] is.
#[derive(Debug, Clone, Copy)]
enum Side {
    Min,
    Max,
}

impl<K: PartialOrd + Copy> End<K> {
    /// Offers `count` sightings of (`k`, `s`). Ties on the key are broken by the smaller text, so
    /// the end does not depend on the order values were seen; sightings of the end's own text
    /// add to its count. Because the end only ever moves to a value never seen before it, its
    /// count is exactly how often its text occurs, and merging parts (each part's end with its
    /// count) gives the same end and count as one pass.
    #[inline]
    fn offer(slot: &mut Option<End<K>>, side: Side, k: K, s: &str, count: u64) {
        match slot {
            None => {
                *slot = Some(End {
                    key: k,
                    text: s.to_owned(),
                    count,
                })
            }
            Some(end) => {
                let beyond = match side {
                    Side::Min => k < end.key,
                    Side::Max => k > end.key,
                };
                if beyond || (k == end.key && s < end.text.as_str()) {
                    end.key = k;
                    end.text.clear();
                    end.text.push_str(s);
                    end.count = count;
                } else if k == end.key && s == end.text {
                    end.count += count;
                }
            }
        }
    }

    fn seen(&self) -> (String, u64) {
        (self.text.clone(), self.count)
    }
}

/// Min and max under an order key, keeping the text as the source held it and the count of
/// each end's text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extreme<K> {
    pub min: Option<End<K>>,
    pub max: Option<End<K>>,
}

/// A min or max text with how many times it was seen.
pub type Seen = Option<(String, u64)>;

impl<K: PartialOrd + Copy> Extreme<K> {
    #[inline]
    pub fn update(&mut self, k: K, s: &str) {
        End::offer(&mut self.min, Side::Min, k, s, 1);
        End::offer(&mut self.max, Side::Max, k, s, 1);
    }

    pub fn merge(&mut self, other: &Extreme<K>) {
        if let Some(e) = &other.min {
            End::offer(&mut self.min, Side::Min, e.key, &e.text, e.count);
        }
        if let Some(e) = &other.max {
            End::offer(&mut self.max, Side::Max, e.key, &e.text, e.count);
        }
    }

    fn seen(&self) -> (Seen, Seen) {
        (
            self.min.as_ref().map(End::seen),
            self.max.as_ref().map(End::seen),
        )
    }
}

/// Lexicographic min and max of text, with the count of each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextExtreme {
    pub min: Option<(String, u64)>,
    pub max: Option<(String, u64)>,
}

impl TextExtreme {
    #[inline]
    fn offer(slot: &mut Option<(String, u64)>, side: Side, s: &str, count: u64) {
        match slot {
            None => *slot = Some((s.to_owned(), count)),
            Some((m, c)) => {
                let beyond = match side {
                    Side::Min => s < m.as_str(),
                    Side::Max => s > m.as_str(),
                };
                if beyond {
                    m.clear();
                    m.push_str(s);
                    *c = count;
                } else if s == m.as_str() {
                    *c += count;
                }
            }
        }
    }

    #[inline]
    pub fn update(&mut self, s: &str) {
        Self::offer(&mut self.min, Side::Min, s, 1);
        Self::offer(&mut self.max, Side::Max, s, 1);
    }

    pub fn merge(&mut self, other: &TextExtreme) {
        if let Some((s, c)) = &other.min {
            Self::offer(&mut self.min, Side::Min, s, *c);
        }
        if let Some((s, c)) = &other.max {
            Self::offer(&mut self.max, Side::Max, s, *c);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Key sets
// ------------------------------------------------------------------------------------------

/// A set of key values: canonical integers as `i64`, everything else as text. Exact: two
/// values are the same key exactly when their text is equal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeySet {
    ints: HashSet<i64>,
    texts: HashSet<Box<str>>,
}

impl KeySet {
    /// Adds a key; `false` when it was already there.
    #[inline]
    pub fn insert(&mut self, s: &str) -> bool {
        if formats::is_canonical_integer(s)
            && let Ok(i) = s.parse::<i64>()
        {
            return self.ints.insert(i);
        }
        if self.texts.contains(s) {
            return false;
        }
        self.texts.insert(s.into())
    }

    #[inline]
    pub fn contains(&self, s: &str) -> bool {
        if formats::is_canonical_integer(s)
            && let Ok(i) = s.parse::<i64>()
        {
            return self.ints.contains(&i);
        }
        self.texts.contains(s)
    }

    pub fn len(&self) -> usize {
        self.ints.len() + self.texts.len()
    }

    /// Adds every key of `other`; `false` when the two sets share a key.
    fn absorb(&mut self, other: KeySet) -> bool {
        let mut disjoint = true;
        for i in other.ints {
            disjoint &= self.ints.insert(i);
        }
        for t in other.texts {
            disjoint &= self.texts.insert(t);
        }
        disjoint
    }
}

/// Tracks whether a column can still be a candidate key.
#[derive(Debug, Clone, PartialEq)]
enum KeyAcc {
    Alive(Box<KeySet>),
    Dead,
}

impl KeyAcc {
    #[inline]
    fn kill(&mut self) {
        if matches!(self, KeyAcc::Alive(_)) {
            *self = KeyAcc::Dead;
        }
    }

    #[inline]
    fn insert(&mut self, s: &str, limits: &Limits) {
        if let KeyAcc::Alive(set) = self
            && (s.len() > KEY_MAX_LEN || !set.insert(s) || set.len() > limits.key_set_limit)
        {
            *self = KeyAcc::Dead;
        }
    }

    fn merge(&mut self, other: KeyAcc, limits: &Limits) {
        let KeyAcc::Alive(mut theirs) = other else {
            self.kill();
            return;
        };
        if let KeyAcc::Alive(mine) = self {
            if mine.len() < theirs.len() {
                std::mem::swap(mine, &mut theirs);
            }
            if !mine.absorb(*theirs) || mine.len() > limits.key_set_limit {
                *self = KeyAcc::Dead;
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Distinct values and top values
// ------------------------------------------------------------------------------------------

struct Sketches {
    hll: HllSketch,
    freq: FrequentItemsSketch<String>,
}

impl Sketches {
    /// `None` only if the sketch sizes were out of range (they are constants in range).
    fn new() -> Option<Sketches> {
        Some(Sketches {
            hll: HllSketch::new(HLL_LG_K, HllType::Hll8).ok()?,
            freq: FrequentItemsSketch::new(FREQ_MAP_SIZE).ok()?,
        })
    }

    #[inline]
    fn add_text(&mut self, s: &str, count: u64) {
        self.hll.update((0u8, s.as_bytes()));
        self.freq.update_with_count_ref(s, count);
    }

    #[inline]
    fn add_bytes(&mut self, b: &[u8], count: u64) {
        self.hll.update((1u8, b));
        self.freq.update_with_count(hex_display(b), count);
    }

    fn merge(&mut self, other: &Sketches) {
        if let Ok(mut union) = HllUnion::new(HLL_LG_K) {
            union.update(&self.hll);
            union.update(&other.hll);
            self.hll = union.to_sketch(HllType::Hll8);
        }
        self.freq.merge(&other.freq);
    }
}

enum DistinctAcc {
    Exact {
        text: HashMap<Box<str>, u64>,
        bytes: HashMap<Box<[u8]>, u64>,
        heap: usize,
    },
    Sketch(Box<Sketches>),
}

impl std::fmt::Debug for DistinctAcc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DistinctAcc::Exact { text, bytes, .. } => {
                write!(f, "Exact({} values)", text.len() + bytes.len())
            }
            DistinctAcc::Sketch(s) => write!(f, "Sketch(~{:.0})", s.hll.estimate()),
        }
    }
}

fn hex_display(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * b.len());
    s.push_str("0x");
    for byte in b {
        s.push_str(&format!("{byte:02X}"));
    }
    s
}

impl DistinctAcc {
    fn new() -> DistinctAcc {
        DistinctAcc::Exact {
            text: HashMap::new(),
            bytes: HashMap::new(),
            heap: 0,
        }
    }

    #[inline]
    fn add_text(&mut self, s: &str, count: u64, limits: &Limits) {
        match self {
            DistinctAcc::Exact { text, heap, .. } => {
                if let Some(c) = text.get_mut(s) {
                    *c += count;
                    return;
                }
                text.insert(s.into(), count);
                *heap += s.len() + 16;
                self.check_limits(limits);
            }
            DistinctAcc::Sketch(sk) => sk.add_text(s, count),
        }
    }

    #[inline]
    fn add_bytes(&mut self, b: &[u8], count: u64, limits: &Limits) {
        match self {
            DistinctAcc::Exact { bytes, heap, .. } => {
                if let Some(c) = bytes.get_mut(b) {
                    *c += count;
                    return;
                }
                bytes.insert(b.into(), count);
                *heap += b.len() + 16;
                self.check_limits(limits);
            }
            DistinctAcc::Sketch(sk) => sk.add_bytes(b, count),
        }
    }

    fn check_limits(&mut self, limits: &Limits) {
        if let DistinctAcc::Exact { text, bytes, heap } = self
            && ((text.len() + bytes.len()) as u64 > limits.exact_distinct_limit
                || *heap > limits.exact_bytes_budget)
        {
            let Some(sk) = Sketches::new() else {
                return;
            };
            let mut sk = Box::new(sk);
            for (v, c) in text.drain() {
                sk.add_text(&v, c);
            }
            for (v, c) in bytes.drain() {
                sk.add_bytes(&v, c);
            }
            *self = DistinctAcc::Sketch(sk);
        }
    }

    fn merge(&mut self, other: DistinctAcc, limits: &Limits) {
        match other {
            DistinctAcc::Exact { text, bytes, .. } => {
                for (v, c) in text {
                    self.add_text(&v, c, limits);
                }
                for (v, c) in bytes {
                    self.add_bytes(&v, c, limits);
                }
            }
            DistinctAcc::Sketch(theirs) => {
                if let DistinctAcc::Exact { .. } = self {
                    let mine = std::mem::replace(self, DistinctAcc::Sketch(theirs));
                    self.merge(mine, limits);
                } else if let DistinctAcc::Sketch(mine) = self {
                    mine.merge(&theirs);
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Column accumulator
// ------------------------------------------------------------------------------------------

/// Everything one pass learns about one column.
#[derive(Debug)]
pub struct ColumnAcc {
    hints: Hints,
    pub non_null: u64,
    pub nulls: u64,
    pub blanks: u64,
    pub shapes: [u64; Shape::COUNT],
    len_min: u64,
    len_max: u64,
    len_sum: u128,
    int: Extreme<i64>,
    num: Extreme<f64>,
    day: Extreme<i64>,
    sec: Extreme<i64>,
    time: Extreme<u32>,
    text: TextExtreme,
    distinct: DistinctAcc,
    keys: KeyAcc,
    /// Plain integers that are valid SNOMED CT identifiers (partition and Verhoeff check).
    snomed_values: u64,
    /// Which boolean spellings were seen ([`formats::boolean_token`] bits), and integers `0`/`1`.
    boolean_tokens: u16,
    zero_one: u64,
}

/// A column of plain integers is read as SNOMED CT by its values when at least this many of
/// them ...
pub const SNOMED_MIN_VALUES: u64 = 20;
/// ... and at least this share of its integers are valid SNOMED CT identifiers (random integers
/// of six or more digits pass about 1.2% of the time: 12 partitions in 100, 1 check digit in 10).
pub const SNOMED_SHARE: f64 = 0.95;

impl ColumnAcc {
    pub fn new(column_name: &str) -> ColumnAcc {
        ColumnAcc {
            hints: Hints::from_column_name(column_name),
            non_null: 0,
            nulls: 0,
            blanks: 0,
            shapes: [0; Shape::COUNT],
            len_min: u64::MAX,
            len_max: 0,
            len_sum: 0,
            int: Extreme::default(),
            num: Extreme::default(),
            day: Extreme::default(),
            sec: Extreme::default(),
            time: Extreme::default(),
            text: TextExtreme::default(),
            distinct: DistinctAcc::new(),
            keys: KeyAcc::Alive(Box::default()),
            snomed_values: 0,
            boolean_tokens: 0,
            zero_one: 0,
        }
    }

    #[inline]
    fn length(&mut self, n: u64) {
        self.len_min = self.len_min.min(n);
        self.len_max = self.len_max.max(n);
        self.len_sum += u128::from(n);
    }

    /// Adds one value.
    #[inline]
    pub fn update(&mut self, v: ValueRef<'_>, limits: &Limits) {
        match v {
            ValueRef::Null => {
                self.nulls += 1;
                self.keys.kill();
            }
            ValueRef::Bytes(b) => {
                self.non_null += 1;
                self.length(b.len() as u64);
                self.distinct.add_bytes(b, 1, limits);
                self.keys.kill();
                if b.is_empty() {
                    // An empty binary value is as blank as empty text.
                    self.blanks += 1;
                } else {
                    self.shapes[Shape::Binary.index()] += 1;
                }
            }
            ValueRef::Text(s) => {
                self.non_null += 1;
                self.length(s.chars().count() as u64);
                self.distinct.add_text(s, 1, limits);
                if formats::is_blank(s) {
                    self.blanks += 1;
                    self.keys.kill();
                    return;
                }
                let Classified { shape, key } = formats::classify(s, self.hints);
                self.shapes[shape.index()] += 1;
                match shape {
                    Shape::Integer => {
                        if s.len() >= 6 && formats::is_snomedct(s) {
                            self.snomed_values += 1;
                        }
                        if s == "0" || s == "1" {
                            self.zero_one += 1;
                            self.boolean_tokens |= formats::ZERO_ONE_BITS[usize::from(s == "1")];
                        }
                    }
                    Shape::Boolean => self.boolean_tokens |= formats::boolean_token(s),
                    _ => {}
                }
                match key {
                    SortKey::None => {}
                    SortKey::Int(i) => {
                        self.int.update(i, s);
                        self.num.update(i as f64, s);
                    }
                    SortKey::Num(x) => self.num.update(x, s),
                    SortKey::Day(d) => {
                        self.day.update(d, s);
                        self.sec.update(d * 86_400, s);
                    }
                    SortKey::Sec(t) => self.sec.update(t, s),
                    SortKey::Time(t) => self.time.update(t, s),
                }
                self.text.update(s);
                self.keys.insert(s, limits);
            }
        }
    }

    /// Adds everything `other` saw (another part of the same column).
    pub fn merge(&mut self, other: ColumnAcc, limits: &Limits) {
        self.non_null += other.non_null;
        self.nulls += other.nulls;
        self.blanks += other.blanks;
        for (a, b) in self.shapes.iter_mut().zip(other.shapes) {
            *a += b;
        }
        self.len_min = self.len_min.min(other.len_min);
        self.len_max = self.len_max.max(other.len_max);
        self.len_sum += other.len_sum;
        self.int.merge(&other.int);
        self.num.merge(&other.num);
        self.day.merge(&other.day);
        self.sec.merge(&other.sec);
        self.time.merge(&other.time);
        self.text.merge(&other.text);
        self.distinct.merge(other.distinct, limits);
        self.keys.merge(other.keys, limits);
        self.snomed_values += other.snomed_values;
        self.boolean_tokens |= other.boolean_tokens;
        self.zero_one += other.zero_one;
    }

    /// The count of each shape as the column as a whole reads them (what formats and the
    /// inferred type are made from): a value's shape alone cannot tell a SNOMED CT code from
    /// an integer, or `F` for false from `F` for female.
    ///
    /// - Plain integers are SNOMED CT when at least [`SNOMED_MIN_VALUES`] and
    ///   [`SNOMED_SHARE`] of the integers are valid identifiers, over 5 distinct values or more.
    /// - Boolean spellings (`Y`/`N`, `T`/`F`, `yes`/`no`, `true`/`false`) are booleans only in
    ///   a column that is 95% booleans and never in a column named for sex or gender; beside
    ///   any other value, only when both halves of a pair are there (`F` with `M` and no `T`
    ///   is female, not false: both are codes).
    /// - A column of only `0` and `1`, both present, is boolean.
    pub fn shape_counts(&self) -> [u64; Shape::COUNT] {
        let mut shapes = self.shapes;
        let total = self.non_blank();
        let int = shapes[Shape::Integer.index()];
        if self.snomed_values >= SNOMED_MIN_VALUES
            && self.snomed_values as f64 >= SNOMED_SHARE * int as f64
            && self.distinct().count >= 5
        {
            shapes[Shape::Integer.index()] -= self.snomed_values;
            shapes[Shape::SnomedCt.index()] += self.snomed_values;
        }
        let boolean = shapes[Shape::Boolean.index()];
        let others = total - boolean;
        if boolean > 0
            && (self.hints.sex
                || (boolean as f64) < 0.95 * total as f64
                || (others > 0 && !formats::boolean_pair(self.boolean_tokens)))
        {
            shapes[Shape::Boolean.index()] = 0;
            shapes[Shape::Code.index()] += boolean;
        }
        if self.zero_one == total
            && total > 0
            && self.boolean_tokens & formats::ZERO_ONE_BITS[0] != 0
            && self.boolean_tokens & formats::ZERO_ONE_BITS[1] != 0
            && !self.hints.sex
        {
            shapes[Shape::Integer.index()] -= self.zero_one;
            shapes[Shape::Boolean.index()] += self.zero_one;
        }
        shapes
    }

    /// Values that are neither NULL nor blank.
    pub fn non_blank(&self) -> u64 {
        self.non_null - self.blanks
    }

    /// The type that fits at least 95% of the non-blank values.
    pub fn inferred_type(&self) -> InferredType {
        let total = self.non_blank();
        if total == 0 {
            return InferredType::Empty;
        }
        let mut by = [0u64; 9];
        let slot = |c: ShapeClass| match c {
            ShapeClass::Date => 0,
            ShapeClass::DateTime => 1,
            ShapeClass::Time => 2,
            ShapeClass::Integer => 3,
            ShapeClass::Decimal => 4,
            ShapeClass::Boolean => 5,
            ShapeClass::Code => 6,
            ShapeClass::Text => 7,
            ShapeClass::Binary => 8,
        };
        for (shape, n) in Shape::ALL.iter().zip(self.shape_counts()) {
            by[slot(shape.class())] += n;
        }
        let [date, datetime, time, int, dec, boolean, code, text, binary] = by;
        let fits = |n: u64| n as f64 >= 0.95 * total as f64;
        if fits(binary) {
            InferredType::Binary
        } else if fits(int) {
            InferredType::Integer
        } else if fits(int + dec) {
            InferredType::Decimal
        } else if fits(date) {
            InferredType::Date
        } else if fits(date + datetime) {
            InferredType::DateTime
        } else if fits(time) {
            InferredType::Time
        } else if fits(boolean) {
            InferredType::Boolean
        } else if fits(code + int + boolean) {
            InferredType::Code
        } else if binary == 0 && text * 2 >= total {
            InferredType::Text
        } else {
            InferredType::Mixed
        }
    }

    /// Min and max (as the source wrote them) by the order of `ty`, each with how many times
    /// that exact text was seen.
    pub fn min_max(&self, ty: InferredType) -> (Seen, Seen) {
        match ty {
            InferredType::Integer if self.int.min.is_some() => self.int.seen(),
            InferredType::Integer | InferredType::Decimal => self.num.seen(),
            InferredType::Date => self.day.seen(),
            InferredType::DateTime => self.sec.seen(),
            InferredType::Time => self.time.seen(),
            InferredType::Boolean
            | InferredType::Code
            | InferredType::Text
            | InferredType::Mixed => (self.text.min.clone(), self.text.max.clone()),
            InferredType::Empty | InferredType::Binary => (None, None),
        }
    }

    pub fn length_stats(&self) -> LengthStats {
        if self.non_null == 0 {
            return LengthStats {
                min: None,
                max: None,
                mean: None,
            };
        }
        LengthStats {
            min: Some(self.len_min),
            max: Some(self.len_max),
            mean: Some(self.len_sum as f64 / self.non_null as f64),
        }
    }

    pub fn distinct(&self) -> Distinct {
        match &self.distinct {
            DistinctAcc::Exact { text, bytes, .. } => Distinct {
                count: (text.len() + bytes.len()) as u64,
                exact: true,
                relative_error: None,
            },
            DistinctAcc::Sketch(sk) => Distinct {
                count: sk.hll.estimate().round().max(0.0) as u64,
                exact: false,
                relative_error: Some(hll_relative_error()),
            },
        }
    }

    /// The most frequent values (count >= `threshold`), most frequent first, ties by value;
    /// and whether the counts are exact.
    pub fn top_values(&self, k: usize, threshold: u64) -> (Vec<ValueCount>, bool) {
        match &self.distinct {
            DistinctAcc::Exact { text, bytes, .. } => {
                let mut all: Vec<(u64, String)> = text
                    .iter()
                    .filter(|(_, c)| **c >= threshold)
                    .map(|(v, c)| (*c, v.to_string()))
                    .chain(
                        bytes
                            .iter()
                            .filter(|(_, c)| **c >= threshold)
                            .map(|(v, c)| (*c, hex_display(v))),
                    )
                    .collect();
                all.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
                all.truncate(k);
                (
                    all.into_iter()
                        .map(|(count, value)| ValueCount { value, count })
                        .collect(),
                    true,
                )
            }
            DistinctAcc::Sketch(sk) => {
                let mut rows: Vec<(u64, String)> = sk
                    .freq
                    .frequent_items(ErrorType::NoFalsePositives)
                    .into_iter()
                    .filter(|r| r.lower_bound() >= threshold)
                    .map(|r| (r.estimate(), r.item().clone()))
                    .collect();
                rows.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
                rows.truncate(k);
                (
                    rows.into_iter()
                        .map(|(count, value)| ValueCount { value, count })
                        .collect(),
                    false,
                )
            }
        }
    }

    /// Up to `n` example values seen at least `threshold` times, spread over their sorted order.
    pub fn samples(&self, n: usize, threshold: u64) -> Vec<String> {
        let mut pool: Vec<String> = match &self.distinct {
            DistinctAcc::Exact { text, .. } => text
                .iter()
                .filter(|(v, c)| **c >= threshold && !formats::is_blank(v))
                .map(|(v, _)| v.to_string())
                .collect(),
            DistinctAcc::Sketch(sk) => sk
                .freq
                .frequent_items(ErrorType::NoFalsePositives)
                .into_iter()
                .filter(|r| r.lower_bound() >= threshold && !formats::is_blank(r.item()))
                .map(|r| r.item().clone())
                .collect(),
        };
        pool.sort_unstable();
        if pool.len() <= n {
            return pool;
        }
        let step = pool.len() as f64 / n as f64;
        (0..n)
            .filter_map(|i| pool.get((i as f64 * step) as usize).cloned())
            .collect()
    }

    /// Unique, never NULL or blank, identifier-sized values (proved with the key set).
    pub fn is_candidate_key(&self) -> bool {
        matches!(self.keys, KeyAcc::Alive(_)) && self.non_null > 0 && self.nulls == 0
    }

    /// The key set of a candidate key (taken out of the accumulator).
    pub fn take_key_set(&mut self) -> Option<KeySet> {
        if !self.is_candidate_key() {
            return None;
        }
        match std::mem::replace(&mut self.keys, KeyAcc::Dead) {
            KeyAcc::Alive(set) => Some(*set),
            KeyAcc::Dead => None,
        }
    }

    /// The exact non-blank text values with their counts, when still counted exactly.
    pub fn take_exact_values(&mut self) -> Option<HashMap<Box<str>, u64>> {
        match &mut self.distinct {
            DistinctAcc::Exact { text, .. } => {
                let mut map = std::mem::take(text);
                map.retain(|v, _| !formats::is_blank(v));
                Some(map)
            }
            DistinctAcc::Sketch(_) => None,
        }
    }
}

/// Accumulators of every column of a table (or of one rowid range of it).
#[derive(Debug)]
pub struct TableAcc {
    pub rows: u64,
    pub columns: Vec<ColumnAcc>,
}

impl TableAcc {
    pub fn new<'a>(column_names: impl IntoIterator<Item = &'a str>) -> TableAcc {
        TableAcc {
            rows: 0,
            columns: column_names.into_iter().map(ColumnAcc::new).collect(),
        }
    }

    /// Adds one row; the caller checks that the row has one value per column.
    #[inline]
    pub fn update(&mut self, row: &[ValueRef<'_>], limits: &Limits) {
        self.rows += 1;
        for (acc, v) in self.columns.iter_mut().zip(row) {
            acc.update(*v, limits);
        }
    }

    pub fn merge(&mut self, other: TableAcc, limits: &Limits) {
        self.rows += other.rows;
        for (a, b) in self.columns.iter_mut().zip(other.columns) {
            a.merge(b, limits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn acc_of(values: &[Option<String>], limits: &Limits) -> ColumnAcc {
        let mut acc = ColumnAcc::new("col");
        for v in values {
            acc.update(
                match v {
                    None => ValueRef::Null,
                    Some(s) => ValueRef::Text(s),
                },
                limits,
            );
        }
        acc
    }

    type Summary = (
        u64,
        u64,
        u64,
        [u64; Shape::COUNT],
        LengthStats,
        InferredType,
        (Seen, Seen),
        bool,
    );

    fn summary(a: &ColumnAcc) -> Summary {
        let ty = a.inferred_type();
        (
            a.non_null,
            a.nulls,
            a.blanks,
            a.shapes,
            a.length_stats(),
            ty,
            a.min_max(ty),
            a.is_candidate_key(),
        )
    }

    fn value() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            1 => Just(None),
            1 => Just(Some(String::new())),
            1 => Just(Some("  ".to_string())),
            3 => (0i64..60).prop_map(|i| Some(i.to_string())),
            2 => (1u8..13, 1u8..29, 1990i32..2020).prop_map(|(m, d, y)| Some(format!("{m:02}/{d:02}/{y}"))),
            2 => (1u8..13, 1u8..29, 1990i32..2020).prop_map(|(m, d, y)| Some(format!("{y}-{m:02}-{d:02}"))),
            1 => (-50i32..50).prop_map(|i| Some(format!("{}.5", i))),
            2 => "[a-zA-Z é]{0,8}".prop_map(Some),
        ]
    }

    proptest! {
        #[test]
        fn merging_two_halves_equals_one_pass(values in proptest::collection::vec(value(), 0..200), cut in 0usize..200) {
            let limits = Limits::new(100_000);
            let cut = cut.min(values.len());
            let whole = acc_of(&values, &limits);
            let mut left = acc_of(&values[..cut], &limits);
            let right = acc_of(&values[cut..], &limits);
            left.merge(right, &limits);
            prop_assert_eq!(summary(&left), summary(&whole));
            prop_assert_eq!(left.distinct(), whole.distinct());
            prop_assert_eq!(left.top_values(5, 2), whole.top_values(5, 2));
            prop_assert_eq!(left.samples(3, 1), whole.samples(3, 1));
        }

        #[test]
        fn merging_halves_past_the_distinct_limit_switches_to_estimates(values in proptest::collection::vec(value(), 0..300), cut in 0usize..300) {
            let limits = Limits::new(8);
            let cut = cut.min(values.len());
            let whole = acc_of(&values, &limits);
            let mut left = acc_of(&values[..cut], &limits);
            let right = acc_of(&values[cut..], &limits);
            left.merge(right, &limits);
            prop_assert_eq!(summary(&left), summary(&whole));
            let (a, b) = (left.distinct(), whole.distinct());
            prop_assert_eq!(a.exact, b.exact);
            if a.exact {
                prop_assert_eq!(a.count, b.count);
            } else {
                // Both estimate the same set; for small sets the HLL is exact or very close.
                let diff = (a.count as f64 - b.count as f64).abs();
                prop_assert!(diff <= 0.05 * b.count as f64 + 1.0, "{} vs {}", a.count, b.count);
            }
        }
    }

    #[test]
    fn distinct_switches_to_a_sketch_past_the_limit() {
        let limits = Limits::new(10);
        let values: Vec<Option<String>> = (0..1000).map(|i| Some(format!("v{i}"))).collect();
        let acc = acc_of(&values, &limits);
        let d = acc.distinct();
        assert!(!d.exact);
        assert!((d.count as f64 - 1000.0).abs() < 50.0, "{}", d.count);
        assert_eq!(d.relative_error, Some(hll_relative_error()));
        let values: Vec<Option<String>> = (0..10).map(|i| Some(format!("v{i}"))).collect();
        let d = acc_of(&values, &limits).distinct();
        assert!(d.exact);
        assert_eq!(d.count, 10);
    }

    #[test]
    fn sketched_top_values_find_the_heavy_hitter() {
        let limits = Limits::new(10);
        let mut values: Vec<Option<String>> = (0..5000).map(|i| Some(format!("v{i}"))).collect();
        values.extend((0..3000).map(|_| Some("HOT".to_string())));
        let acc = acc_of(&values, &limits);
        let (top, exact) = acc.top_values(3, 5);
        assert!(!exact);
        assert_eq!(top.first().map(|v| v.value.as_str()), Some("HOT"));
    }

    #[test]
    fn min_max_follow_the_inferred_type() {
        let limits = Limits::new(100);
        let v = |s: &[&str]| s.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
        let a = acc_of(&v(&["9", "10", "100", "9"]), &limits);
        assert_eq!(
            a.min_max(a.inferred_type()),
            (Some(("9".into(), 2)), Some(("100".into(), 1)))
        );
        let a = acc_of(&v(&["12/31/1999", "2000-01-01", "15-Mar-80"]), &limits);
        assert_eq!(a.inferred_type(), InferredType::Date);
        assert_eq!(
            a.min_max(a.inferred_type()),
            (
                Some(("15-Mar-80".into(), 1)),
                Some(("2000-01-01".into(), 1))
            )
        );
    }

    /// The count is of the exact text shown: the same date written another way is another text
    /// (stricter for suppression), and a tie on the key keeps the smaller text with its count.
    #[test]
    fn min_max_count_the_text_they_show() {
        let limits = Limits::new(100);
        let v = |s: &[&str]| s.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
        let a = acc_of(
            &v(&[
                "2000-01-01",
                "01/01/2000",
                "2000-01-01",
                "2001-05-05",
                "01/01/2000",
            ]),
            &limits,
        );
        assert_eq!(
            a.min_max(a.inferred_type()),
            (
                Some(("01/01/2000".into(), 2)),
                Some(("2001-05-05".into(), 1))
            )
        );
        let a = acc_of(&v(&["b", "a", "c", "a", "c", "c"]), &limits);
        assert_eq!(
            a.min_max(InferredType::Text),
            (Some(("a".into(), 2)), Some(("c".into(), 3)))
        );
    }

    #[test]
    fn candidate_key_dies_on_duplicate_null_or_blank() {
        let limits = Limits::new(100);
        let v = |s: &[Option<&str>]| s.iter().map(|x| x.map(str::to_string)).collect::<Vec<_>>();
        assert!(acc_of(&v(&[Some("1"), Some("2")]), &limits).is_candidate_key());
        assert!(!acc_of(&v(&[Some("1"), Some("1")]), &limits).is_candidate_key());
        assert!(!acc_of(&v(&[Some("1"), None]), &limits).is_candidate_key());
        assert!(!acc_of(&v(&[Some("1"), Some(" ")]), &limits).is_candidate_key());
        assert!(!acc_of(&v(&[]), &limits).is_candidate_key());
        // Text "01" and integer 1 are different keys.
        assert!(acc_of(&v(&[Some("01"), Some("1")]), &limits).is_candidate_key());
    }

    #[test]
    fn small_counts_are_suppressed() {
        let limits = Limits::new(100);
        let mut values: Vec<Option<String>> = vec![Some("rare".into())];
        values.extend((0..5).map(|_| Some("common".to_string())));
        let acc = acc_of(&values, &limits);
        let (top, exact) = acc.top_values(10, 5);
        assert!(exact);
        assert_eq!(
            top,
            vec![ValueCount {
                value: "common".into(),
                count: 5
            }]
        );
        assert_eq!(acc.samples(5, 5), vec!["common".to_string()]);
    }

    fn column(name: &str, values: &[&str]) -> ColumnAcc {
        let limits = Limits::new(100_000);
        let mut a = ColumnAcc::new(name);
        for v in values {
            a.update(ValueRef::Text(v), &limits);
        }
        a
    }

    fn share_of(a: &ColumnAcc, shape: Shape) -> u64 {
        a.shape_counts()[shape.index()]
    }

    /// Real SNOMED CT concept ids (clinical findings and disorders).
    const SNOMED: [&str; 20] = [
        "22298006",
        "38341003",
        "44054006",
        "195967001",
        "73211009",
        "840539006",
        "233604007",
        "35489007",
        "49436004",
        "13645005",
        "271737000",
        "396275006",
        "414545008",
        "59621000",
        "386661006",
        "25064002",
        "267036007",
        "68566005",
        "36971009",
        "10509002",
    ];

    /// Issue 12: a `code` column of SNOMED CT ids was profiled as integers unless its name
    /// said "snomed"; its values alone now say so.
    #[test]
    fn a_code_column_of_snomed_ids_is_snomed_by_its_values() {
        for id in SNOMED {
            assert!(formats::is_snomedct(id), "{id}");
        }
        let values: Vec<&str> = SNOMED.iter().cycle().take(60).copied().collect();
        let a = column("code", &values);
        assert_eq!(share_of(&a, Shape::SnomedCt), 60);
        assert_eq!(share_of(&a, Shape::Integer), 0);
        assert_eq!(a.inferred_type(), InferredType::Code);
        // One local code among them does not undo it (95%).
        let mut with_local = values.clone();
        with_local.push("999");
        assert_eq!(share_of(&column("code", &with_local), Shape::SnomedCt), 60);
    }

    /// Plain integer ids of six or more digits are not SNOMED CT, though about 1 in 80 passes
    /// the partition and check-digit test by chance; nor are too few values to tell.
    #[test]
    fn plain_integer_ids_are_not_snomed() {
        let ids: Vec<String> = (100_000..100_500).map(|i: u32| i.to_string()).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let a = column("code", &ids);
        let chance = ids.iter().filter(|i| formats::is_snomedct(i)).count();
        assert!(chance > 0, "the test must include chance passes");
        assert_eq!(share_of(&a, Shape::SnomedCt), 0);
        assert_eq!(a.inferred_type(), InferredType::Integer);
        // Below the minimum count, even valid ids stay integers.
        let few = column("code", &SNOMED[..5]);
        assert_eq!(share_of(&few, Shape::SnomedCt), 0);
        // One valid id repeated is not a code system.
        let same = column("code", &["22298006"; 40]);
        assert_eq!(share_of(&same, Shape::SnomedCt), 0);
    }

    /// Issue 12: a column of `F`/`M` was called boolean; F there is female.
    #[test]
    fn f_and_m_are_codes_not_booleans() {
        let fm: Vec<&str> = ["F", "M"].iter().cycle().take(40).copied().collect();
        let a = column("s", &fm);
        assert_eq!(share_of(&a, Shape::Boolean), 0);
        assert_eq!(a.inferred_type(), InferredType::Code);
        // Mostly F (a women's clinic), still codes: T never appears.
        let mut mostly_f = vec!["F"; 97];
        mostly_f.extend(["M"; 3]);
        let a = column("s", &mostly_f);
        assert_eq!(share_of(&a, Shape::Boolean), 0);
        assert_eq!(a.inferred_type(), InferredType::Code);
        // Only F, in a column named for sex: codes.
        assert_eq!(
            column("patient_sex", &["F"; 30]).inferred_type(),
            InferredType::Code
        );
        assert_eq!(
            column("Gender", &["F", "M"]).inferred_type(),
            InferredType::Code
        );
    }

    /// T/F, Y/N, yes/no, true/false and 0/1 (both present) are booleans.
    #[test]
    fn true_false_pairs_are_booleans() {
        let tf: Vec<&str> = ["T", "F"].iter().cycle().take(40).copied().collect();
        let a = column("flag", &tf);
        assert_eq!(share_of(&a, Shape::Boolean), 40);
        assert_eq!(a.inferred_type(), InferredType::Boolean);
        // A pair beside a little noise stays boolean.
        let mut yn: Vec<&str> = ["Y", "N"].iter().cycle().take(98).copied().collect();
        yn.push("U");
        assert_eq!(column("active", &yn).inferred_type(), InferredType::Boolean);
        for pair in [["yes", "no"], ["true", "FALSE"]] {
            assert_eq!(
                column("x", &pair).inferred_type(),
                InferredType::Boolean,
                "{pair:?}"
            );
        }
        // A constant flag column with no other value.
        assert_eq!(
            column("deleted", &["F"; 30]).inferred_type(),
            InferredType::Boolean
        );
        let zo: Vec<&str> = ["0", "1", "1"].iter().cycle().take(30).copied().collect();
        let a = column("is_smoker", &zo);
        assert_eq!(a.inferred_type(), InferredType::Boolean);
        assert_eq!(share_of(&a, Shape::Boolean), 30);
        // Only zeros, or 0/1/2: integers.
        assert_eq!(
            column("n", &["0"; 30]).inferred_type(),
            InferredType::Integer
        );
        assert_eq!(
            column("n", &["0", "1", "2"]).inferred_type(),
            InferredType::Integer
        );
    }
}
