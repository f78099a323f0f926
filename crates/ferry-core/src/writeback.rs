//! Early writeback of large output files.
//!
//! A run writes gigabytes (3 GB of NDJSON and about 1 GB of ledger for 100,000 patients' vitals)
//! and fsyncs them at the end, as it must. Linux starts writing dirty pages back only past
//! `dirty_background_ratio` (10% of RAM: 2.4 GB here), so nearly all of it was still in memory
//! at the end, and the final fsync kept both cores idle for seconds. [`Writeback`] fsyncs a
//! file's data on a background thread every so often while it is written (as RocksDB's
//! `bytes_per_sync` does), so the final fsync has little left to do. The final fsync stays the
//! writer's own and still reports errors; a background fsync's error is ignored here, because the
//! final one fails the same way.

use std::fs::File;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

/// Bytes written between two background fsyncs of one file.
pub const WRITEBACK_EVERY: u64 = 64 * 1024 * 1024;

/// A background thread that fsyncs the files handed to it, one at a time.
pub struct Writeback {
    tx: Option<SyncSender<File>>,
    thread: Option<JoinHandle<()>>,
}

impl Default for Writeback {
    fn default() -> Self {
        Self::new()
    }
}

impl Writeback {
    pub fn new() -> Writeback {
        let (tx, rx) = sync_channel::<File>(1);
        let thread = std::thread::Builder::new()
            .name("ferry-writeback".into())
            .spawn(move || {
                for file in rx {
                    let _ = file.sync_data();
                }
            })
            .ok();
        Writeback {
            tx: thread.is_some().then_some(tx),
            thread,
        }
    }

    /// Asks for `file`'s written data to be fsynced in the background; does nothing when the
    /// thread is still busy with an earlier request (the next one will catch up).
    pub fn request(&self, file: &File) {
        let Some(tx) = &self.tx else { return };
        if let Ok(clone) = file.try_clone() {
            match tx.try_send(clone) {
                Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }
}

impl Drop for Writeback {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn requests_do_not_block_and_the_file_stays_whole() {
        let dir = std::env::temp_dir().join(format!("ferry-writeback-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("f");
        let mut f = File::create(&path).unwrap();
        let wb = Writeback::new();
        for i in 0..200u32 {
            f.write_all(&i.to_le_bytes()).unwrap();
            wb.request(&f);
        }
        drop(wb);
        f.sync_all().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 800);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
