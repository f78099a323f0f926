//! Progress bars on a terminal (hidden when stderr is not one, or with `--quiet`/`--json`), and
//! the sink adapter that feeds the staging bar.

use ferry_core::{Note, Sink, SinkError, TableDef, TableId, Value};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

/// A byte-based bar for `total` bytes, or a hidden one when `visible` is false.
pub fn byte_bar(total: u64, visible: bool) -> ProgressBar {
    if !visible || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(8));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Forwards everything to the inner sink and moves the bar: bytes consumed, rows per second.
pub struct ProgressSink<'a, S: Sink> {
    pub inner: &'a mut S,
    pub bar: &'a ProgressBar,
    /// Bytes of the files already finished, so the bar spans all inputs.
    pub offset: u64,
    rows: u64,
    started: Instant,
}

impl<'a, S: Sink> ProgressSink<'a, S> {
    pub fn new(inner: &'a mut S, bar: &'a ProgressBar, offset: u64) -> Self {
        Self {
            inner,
            bar,
            offset,
            rows: 0,
            started: Instant::now(),
        }
    }
}

impl<S: Sink> Sink for ProgressSink<'_, S> {
    fn table(&mut self, def: TableDef) -> Result<TableId, SinkError> {
        self.bar.set_message(format!("table {}", def.name));
        self.inner.table(def)
    }

    fn row(&mut self, table: TableId, values: Vec<Value>) -> Result<(), SinkError> {
        self.rows += 1;
        self.inner.row(table, values)
    }

    fn note(&mut self, note: Note) -> Result<(), SinkError> {
        self.inner.note(note)
    }

    fn progress(&mut self, bytes_consumed: u64) {
        self.bar.set_position(self.offset + bytes_consumed);
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        self.bar.set_message(format!(
            "{} rows ({:.0} rows/s)",
            crate::format::thousands(self.rows),
            self.rows as f64 / secs
        ));
        self.inner.progress(bytes_consumed);
    }
}
