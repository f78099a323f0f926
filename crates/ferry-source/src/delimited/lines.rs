//! Physical line counting shared by the delimited reader's passes.
//!
//! A line break is `\n`, `\r\n` or a lone `\r` (classic Mac exports), so that line numbers match
//! what an editor shows for every file the `csv` crate accepts (it ends records on all three).

/// Counts line breaks across consecutive slices of one stream.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LineCount {
    breaks: u64,
    prev_cr: bool,
}

impl LineCount {
    /// Counts the breaks in `bytes`, which follow everything fed before.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        let Some(&first) = bytes.first() else {
            return;
        };
        if !bytes.contains(&b'\r') {
            let lf = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            // A `\n` right after a `\r` ending the previous slice is the second half of a CRLF.
            let joined = u64::from(self.prev_cr && first == b'\n');
            self.breaks += lf - joined;
            self.prev_cr = false;
            return;
        }
        for &b in bytes {
            match b {
                b'\n' if self.prev_cr => {}
                b'\n' | b'\r' => self.breaks += 1,
                _ => {}
            }
            self.prev_cr = b == b'\r';
        }
    }

    /// The 1-based line of the next byte.
    pub(crate) fn line(&self) -> u64 {
        self.breaks + 1
    }

    /// Line breaks counted so far.
    #[cfg(test)]
    pub(crate) fn breaks(&self) -> u64 {
        self.breaks
    }
}

/// Line breaks in one slice on its own.
#[cfg(test)]
pub(crate) fn count_breaks(bytes: &[u8]) -> u64 {
    let mut count = LineCount::default();
    count.feed(bytes);
    count.breaks()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lf_crlf_and_lone_cr() {
        assert_eq!(count_breaks(b"a\nb\r\nc\rd"), 3);
        assert_eq!(count_breaks(b"\r\n\r\n"), 2);
        assert_eq!(count_breaks(b"no break"), 0);
    }

    #[test]
    fn crlf_split_across_slices_counts_once() {
        let mut c = LineCount::default();
        c.feed(b"a\r");
        c.feed(b"\nb\n");
        assert_eq!(c.breaks(), 2);
        assert_eq!(c.line(), 3);
    }

    #[test]
    fn any_split_gives_the_same_count() {
        let data = b"x\r\ny\rz\n\r\n\n\rw";
        let whole = count_breaks(data);
        for cut in 0..=data.len() {
            let mut c = LineCount::default();
            c.feed(&data[..cut]);
            c.feed(&data[cut..]);
            assert_eq!(c.breaks(), whole, "cut at {cut}");
        }
    }
}
