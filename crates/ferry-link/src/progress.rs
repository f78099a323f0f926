//! Progress and cancellation of the long operations: reading the records
//! ([`crate::read_snapshot_with_progress`]) and linking ([`crate::link_with_progress`]).
//!
//! Events come as in `ferry_profile::ProfileEvent` and `ferry_verify::VerifyEvent`: a phase with
//! its total, then positions within it. Linking reports from its worker threads (hence `Sync`),
//! about every 65,536 pairs; reading, every 4,096 rows. The cancel flag is polled at the same
//! points; a cancelled operation returns [`crate::LinkError::Cancelled`] and leaves nothing behind
//! (the caller has written nothing yet).

use ferry_core::Cancel;

/// Progress, for a bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent<'a> {
    /// A phase starts; `total` is in its own unit (rows, random pairs, pairs in blocks).
    Phase { name: &'a str, total: u64 },
    /// Position within the phase.
    Position(u64),
}

/// Where events go and the flag that stops the operation.
#[derive(Clone, Copy)]
pub struct Progress<'a> {
    pub on_event: &'a (dyn Fn(LinkEvent<'_>) + Sync),
    pub cancel: Option<&'a Cancel>,
}

fn ignore(_: LinkEvent<'_>) {}

impl Progress<'static> {
    /// No events, no cancelling.
    pub fn none() -> Progress<'static> {
        Progress {
            on_event: &ignore,
            cancel: None,
        }
    }
}

impl Progress<'_> {
    pub(crate) fn phase(&self, name: &str, total: u64) {
        (self.on_event)(LinkEvent::Phase { name, total });
    }

    pub(crate) fn position(&self, n: u64) {
        (self.on_event)(LinkEvent::Position(n));
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.is_some_and(Cancel::is_cancelled)
    }
}

impl std::fmt::Debug for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}
