//! `ferry runs`: every recorded run, with its books, verdict and output folder.

use crate::commands::Global;
use crate::{format, outln};
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let session = global.reader()?;
    let runs = ferry_ops::ledger::runs(&session)?;
    if args.json {
        crate::out::json("runs", &serde_json::json!({ "runs": runs }))?;
        return Ok(crate::exit::OK);
    }
    if runs.is_empty() {
        outln!("No runs yet. Run `ferry run` to migrate the latest snapshot.")?;
        return Ok(crate::exit::OK);
    }
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header([
        "#",
        "kind",
        "snapshot",
        "started at",
        "took",
        "by",
        "status",
        "source rows",
        "exceptions",
        "resources",
        "verdict",
        "output",
    ]);
    for r in &runs {
        let i = &r.info;
        t.add_row([
            i.id.to_string(),
            match i.base {
                Some(b) => format!("{} of {b}", i.kind),
                None => i.kind.clone(),
            },
            i.snapshot.to_string(),
            i.started_at.clone(),
            format::seconds(i.duration_ms),
            i.actor.clone().unwrap_or_default(),
            i.status.chars().take(40).collect(),
            format::thousands(r.source_rows),
            format::thousands(r.exceptions),
            format::thousands(r.resources),
            match r.verdict.as_deref() {
                Some("go") => crate::out::verdict(true, global.color),
                Some(_) => crate::out::verdict(false, global.color),
                None => "not verified".into(),
            },
            if r.output_present {
                i.output_dir.clone()
            } else if i.status == "ok" {
                format!("{} (missing)", i.output_dir)
            } else {
                "-".into()
            },
        ]);
    }
    for line in t.to_string().lines() {
        outln!("{}", line.trim_end())?;
    }
    Ok(crate::exit::OK)
}
