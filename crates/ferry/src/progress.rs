//! Progress bars on a terminal (hidden when stderr is not one, or with `--quiet`/`--json`): the
//! command line's [`ferry_ops::Progress`].

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A bar that follows an operation's phases: a bar with an ETA when the phase's total is known,
/// a spinner with a count otherwise.
pub struct Bar {
    bar: ProgressBar,
    /// Phases counted in bytes show bytes.
    bytes: std::sync::atomic::AtomicBool,
}

impl Bar {
    pub fn new(visible: bool) -> Bar {
        let bar = if visible && std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8))
        } else {
            ProgressBar::hidden()
        };
        Bar {
            bar,
            bytes: Default::default(),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

impl ferry_ops::Progress for Bar {
    fn phase(&self, name: &str, total: Option<u64>) {
        // Staging and reading the output are counted in bytes; everything else in its own unit.
        let bytes = name == "staging" || name == "reading the output";
        self.bytes
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
        let template = match (total, bytes) {
            (Some(_), true) => {
                "{spinner} [{elapsed_precise}] {prefix} {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}"
            }
            (Some(_), false) => {
                "{spinner} [{elapsed_precise}] {prefix} {wide_bar} {pos}/{len} ({per_sec}, {eta}) {msg}"
            }
            (None, _) => "{spinner} [{elapsed_precise}] {prefix} {pos} ({per_sec}) {msg}",
        };
        self.bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.bar.set_prefix(name.to_string());
        match total {
            Some(t) => self.bar.set_length(t),
            None => self.bar.unset_length(),
        }
        self.bar.set_position(0);
        self.bar.set_message("");
    }

    fn position(&self, done: u64) {
        self.bar.set_position(done);
    }

    fn message(&self, text: &str) {
        self.bar.set_message(text.to_string());
    }
}
