//! The sign-off: a self-contained HTML report for the client (`ferry report`) and clinician
//! verification packets with their verdict forms (`ferry sample`, `ferry sample record`).
//!
//! ```text
//! report::gather(ws, name, runs, verifications, loads) -> SignoffReport      (pure data, Serialize)
//! report::render(&SignoffReport)                 -> HTML              (minijinja, autoescaped)
//! sample::choose(ws, run, sources, n, seed)      -> chosen patients   (seeded, stratified)
//! sample::build_packet(ws, run, sources, keys)   -> Packet            (legacy rows beside resources)
//! form::read_form(path, packet)                  -> verdicts          (every problem with its line)
//! ```
//!
//! `choose_with_progress` and `build_packet_with_progress` report [`SampleEvent`]s (a phase with
//! its total, then positions) and stop with [`SignoffError::Cancelled`] when their optional
//! `ferry_core::Cancel` is set.
//!
//! HTML is written with minijinja templates (`src/templates/`) with HTML autoescaping on, so
//! every value from the workspace is escaped. The files open offline: inline CSS, no script,
//! no fonts, no links.

mod error;
pub mod form;
mod fsutil;
mod render;
pub mod report;
pub mod runbook;
pub mod sample;

pub use error::SignoffError;
pub use form::{FormContents, read_form, write_form};
pub use report::{
    Decision, LoadView, SignoffReport, VerificationInput, gather as gather_report,
    render as render_report,
};
pub use sample::{
    Chosen, ModuleSource, Packet, Progress as SampleProgress, SampleEvent, build_packet,
    build_packet_with_progress, choose, choose_with_progress, render_packet,
};
