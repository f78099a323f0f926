//! Small helpers: per-(patient, table) RNG streams, civil dates, number formatting.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// An independent random stream for one (seed, entity index, purpose tag).
///
/// The ChaCha key is the three numbers laid side by side, so every stream is distinct and
/// reproducible without any shared state: a table pass can re-derive a patient's facts on demand.
pub(crate) fn stream(seed: u64, index: u64, tag: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[0..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&index.to_le_bytes());
    key[16..24].copy_from_slice(&tag.to_le_bytes());
    key[24..32].copy_from_slice(b"ferrygen");
    ChaCha8Rng::from_seed(key)
}

pub(crate) trait Pick {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T;
    fn chance(&mut self, p: f64) -> bool;
    fn between(&mut self, lo: i64, hi_inclusive: i64) -> i64;
}

impl<R: Rng> Pick for R {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        // All vocabularies are non-empty constants; index is always < len.
        let i = self.random_range(0..items.len().max(1));
        items[i.min(items.len().saturating_sub(1))]
    }
    fn chance(&mut self, p: f64) -> bool {
        self.random::<f64>() < p
    }
    fn between(&mut self, lo: i64, hi_inclusive: i64) -> i64 {
        if hi_inclusive <= lo {
            lo
        } else {
            self.random_range(lo..=hi_inclusive)
        }
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (`ferry_core::calendar`, in the
/// generator's integer widths).
pub(crate) fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    ferry_core::calendar::days_from_civil(y, m as u8, d as u8) as i32
}

/// (year, month, day) for days since 1970-01-01.
pub(crate) fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let (y, m, d) = ferry_core::calendar::civil_from_days(i64::from(z));
    (y, u32::from(m), u32::from(d))
}

pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The textual shapes a legacy varchar date column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DateShape {
    /// `MM/DD/YYYY`
    Mdy,
    /// `YYYY-MM-DD`
    Iso,
    /// `DD-Mon-YY`
    DMonY,
    /// `''`
    Blank,
    /// `00/00/0000`
    Zero,
    /// SQL NULL
    Null,
}

/// Append a date in the given shape (Blank/Null append nothing).
pub(crate) fn push_date(buf: &mut Vec<u8>, days: i32, shape: DateShape) {
    let (y, m, d) = civil_from_days(days);
    match shape {
        DateShape::Mdy => {
            push_pad(buf, u64::from(m), 2);
            buf.push(b'/');
            push_pad(buf, u64::from(d), 2);
            buf.push(b'/');
            push_pad(buf, y.max(0) as u64, 4);
        }
        DateShape::Iso => push_iso(buf, days),
        DateShape::DMonY => {
            push_pad(buf, u64::from(d), 2);
            buf.push(b'-');
            let mi = (m as usize).saturating_sub(1).min(11);
            buf.extend_from_slice(MONTHS[mi].as_bytes());
            buf.push(b'-');
            push_pad(buf, y.rem_euclid(100) as u64, 2);
        }
        DateShape::Zero => buf.extend_from_slice(b"00/00/0000"),
        DateShape::Blank | DateShape::Null => {}
    }
}

pub(crate) fn push_iso(buf: &mut Vec<u8>, days: i32) {
    let (y, m, d) = civil_from_days(days);
    push_pad(buf, y.max(0) as u64, 4);
    buf.push(b'-');
    push_pad(buf, u64::from(m), 2);
    buf.push(b'-');
    push_pad(buf, u64::from(d), 2);
}

/// `YYYY-MM-DD HH:MM:SS`
pub(crate) fn push_datetime(buf: &mut Vec<u8>, days: i32, minute_of_day: u32, second: u32) {
    push_iso(buf, days);
    buf.push(b' ');
    push_pad(buf, u64::from((minute_of_day / 60) % 24), 2);
    buf.push(b':');
    push_pad(buf, u64::from(minute_of_day % 60), 2);
    buf.push(b':');
    push_pad(buf, u64::from(second % 60), 2);
}

/// Decimal integer, no allocation.
pub(crate) fn push_int(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    push_pad(buf, v.unsigned_abs(), 1);
}

/// Decimal with at least `width` digits (zero padded).
pub(crate) fn push_pad(buf: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut tmp = [0u8; 20];
    let mut n = 0;
    loop {
        tmp[19 - n] = b'0' + (v % 10) as u8;
        v /= 10;
        n += 1;
        if v == 0 || n == 20 {
            break;
        }
    }
    while n < width.min(20) {
        tmp[19 - n] = b'0';
        n += 1;
    }
    buf.extend_from_slice(&tmp[20 - n..]);
}

/// Fixed-point decimal: `value` has `scale` implied decimals (e.g. 986, 1 -> "98.6").
pub(crate) fn push_fixed(buf: &mut Vec<u8>, value: i64, scale: u32) {
    if scale == 0 {
        push_int(buf, value);
        return;
    }
    let p = 10i64.pow(scale.min(9));
    if value < 0 {
        buf.push(b'-');
    }
    let a = value.unsigned_abs();
    push_pad(buf, a / p as u64, 1);
    buf.push(b'.');
    push_pad(buf, a % p as u64, scale as usize);
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

pub(crate) fn push_hex(buf: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        buf.push(HEX_UPPER[usize::from(b >> 4)]);
        buf.push(HEX_UPPER[usize::from(b & 15)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for d in [-25_000, -1, 0, 1, 11_000, 20_000, 20_454] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn date_shapes() {
        let d = days_from_civil(2019, 3, 7);
        let mut b = Vec::new();
        push_date(&mut b, d, DateShape::Mdy);
        assert_eq!(b, b"03/07/2019");
        b.clear();
        push_date(&mut b, d, DateShape::DMonY);
        assert_eq!(b, b"07-Mar-19");
        b.clear();
        push_datetime(&mut b, d, 13 * 60 + 5, 9);
        assert_eq!(b, b"2019-03-07 13:05:09");
    }

    #[test]
    fn numbers() {
        let mut b = Vec::new();
        push_int(&mut b, -120);
        b.push(b' ');
        push_fixed(&mut b, 986, 1);
        b.push(b' ');
        push_fixed(&mut b, -5, 2);
        b.push(b' ');
        push_int(&mut b, 0);
        b.push(b' ');
        push_hex(&mut b, &[0, 0xAB, 0x1A]);
        assert_eq!(b, b"-120 98.6 -0.05 0 00AB1A");
    }
}
