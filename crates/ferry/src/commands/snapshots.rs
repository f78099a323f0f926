//! `ferry snapshots [N]`: list staged snapshots, or show one.

use crate::commands::Global;
use crate::{format, outln};
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show this snapshot in detail: files with sha256, tables with columns and declared types, notes.
    pub snapshot: Option<u64>,
    /// Only the tables and their columns (of snapshot N, or of the latest snapshot).
    #[arg(long)]
    pub tables: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let session = global.reader()?;
    let ws = &session.ws;
    if args.tables {
        let info = ws.snapshot(args.snapshot)?;
        let tables = ws.tables(info.id)?;
        if args.json {
            crate::out::json(
                "snapshot-tables",
                &serde_json::json!({ "snapshot": info.id, "tables": tables }),
            )?;
            return Ok(crate::exit::OK);
        }
        outln!("Snapshot {}: {} tables", info.id, tables.len())?;
        for t in &tables {
            outln!(
                "  {} ({} rows): {}",
                t.staged_name,
                format::thousands(t.rows),
                t.columns
                    .iter()
                    .map(|c| c.staged_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        return Ok(crate::exit::OK);
    }
    match args.snapshot {
        None => {
            let list = ws.snapshots()?;
            if args.json {
                crate::out::json("snapshots", &serde_json::json!({ "snapshots": list }))?;
                return Ok(crate::exit::OK);
            }
            if list.is_empty() {
                outln!("No snapshots yet. Run `ferry stage PATH` to stage one.")?;
                return Ok(crate::exit::OK);
            }
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::NOTHING);
            t.set_header([
                "#",
                "label",
                "staged at",
                "took",
                "tables",
                "rows",
                "rejected",
                "input",
                "content sha256",
            ]);
            for s in &list {
                t.add_row([
                    s.id.to_string(),
                    s.label.clone().unwrap_or_default(),
                    s.created_at.clone(),
                    format::seconds(s.duration_ms),
                    s.tables.to_string(),
                    format::thousands(s.rows),
                    format::thousands(s.rejected_rows),
                    format::bytes(s.input_bytes),
                    s.content_sha256.chars().take(16).collect(),
                ]);
            }
            outln!("{t}")?;
        }
        Some(id) => {
            let info = ws.snapshot(Some(id))?;
            let files = ws.files(id)?;
            let tables = ws.tables(id)?;
            let notes = ws.notes(id)?;
            if args.json {
                let v = serde_json::json!({
                    "snapshot": info, "files": files, "tables": tables, "notes": notes,
                });
                crate::out::json("snapshot", &v)?;
                return Ok(crate::exit::OK);
            }
            outln!(
                "Snapshot {}{}: staged {} in {}, {} tables, {} rows, {} rejected rows",
                info.id,
                info.label.map(|l| format!(" ({l})")).unwrap_or_default(),
                info.created_at,
                format::seconds(info.duration_ms),
                info.tables,
                format::thousands(info.rows),
                format::thousands(info.rejected_rows)
            )?;
            outln!("content sha256 {}", info.content_sha256)?;
            outln!("\nFiles:")?;
            for f in &files {
                outln!("  {}", crate::commands::stage::file_line(f))?;
            }
            outln!("\nTables:")?;
            for t in &tables {
                let pk = if t.primary_key.is_empty() {
                    String::new()
                } else {
                    format!(", primary key ({})", t.primary_key.join(", "))
                };
                outln!(
                    "  {}{}: {} rows from {}:{}{}{}",
                    t.staged_name,
                    if t.staged_name != t.name {
                        format!(" (source name `{}`)", t.name)
                    } else {
                        String::new()
                    },
                    format::thousands(t.rows),
                    t.source_file,
                    t.source_line,
                    pk,
                    t.transcoded_from
                        .as_ref()
                        .map(|e| format!(", transcoded from {e}"))
                        .unwrap_or_default()
                )?;
                let cols: Vec<String> = t
                    .columns
                    .iter()
                    .map(|c| match &c.declared_type {
                        Some(ty) => format!("{} {ty}", c.staged_name),
                        None => c.staged_name.clone(),
                    })
                    .collect();
                outln!("      {}", cols.join(", "))?;
            }
            if !notes.is_empty() {
                outln!("\nNotes:")?;
                for n in &notes {
                    let mut at = n.file.clone();
                    if let Some(l) = n.line {
                        at.push_str(&format!(":{l}"));
                    }
                    outln!("  [{}] {at}: {}", n.kind, n.message)?;
                }
            }
        }
    }
    Ok(crate::exit::OK)
}
