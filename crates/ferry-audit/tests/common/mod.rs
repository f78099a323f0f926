//! Shared helpers: generate a clinic, stage it, audit it.

#![allow(dead_code)]

use std::path::Path;

use ferry_audit::{AuditOptions, AuditReport, audit_snapshot};
use ferry_gen::{GenConfig, Manifest};
use ferry_source::{InputKind, ReadOptions};
use ferry_store::Workspace;

pub const SEED: u64 = 20_260_215;
pub const TODAY: (i32, u8, u8) = (2026, 2, 15);

/// Stages one mysqldump file into a new workspace in `dir/ws`.
pub fn stage_dump(dir: &Path, dump: &Path) -> Workspace {
    let mut ws = Workspace::open(&dir.join("ws")).expect("open workspace");
    let mut writer = ws.begin_snapshot(None).expect("begin snapshot");
    ferry_source::read_file(
        dump,
        InputKind::Mysqldump,
        &ReadOptions::default(),
        &mut writer,
    )
    .expect("read dump");
    writer.commit().expect("commit");
    ws
}

/// Generates a clinic of `patients` patients and stages its dump.
pub fn clinic(dir: &Path, patients: u64) -> (Workspace, Manifest) {
    let cfg = GenConfig {
        patients,
        seed: SEED,
        out_dir: dir.join("gen"),
        sql: true,
        csv: false,
        gzip: false,
    };
    let manifest = ferry_gen::generate(&cfg, &mut |_| {}).expect("generate");
    let ws = stage_dump(dir, &dir.join("gen").join("clinic.sql"));
    (ws, manifest)
}

/// Audits with every example key kept, so findings can be compared key by key.
pub fn audit_all(ws: &Workspace) -> AuditReport {
    let opts = AuditOptions {
        example_keys: usize::MAX,
        today: Some(TODAY),
        ..AuditOptions::default()
    };
    audit_snapshot(ws, None, &opts).expect("audit")
}
