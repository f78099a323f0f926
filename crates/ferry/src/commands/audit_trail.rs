//! `ferry audit-trail`: the tamper-evident record of every operation (who, when, what, inputs
//! and outputs by hash); `--verify` recomputes the chain, checks it against the latest signed
//! checkpoint and every sealed fact against the workspace (exit 3 when anything does not hold).

use crate::commands::Global;
use crate::outln;
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Recompute the hash chain, check it against the latest signed checkpoint, and compare
    /// the books, verdicts and snapshots it seals with what the workspace holds now.
    #[arg(long)]
    pub verify: bool,
    /// Show every fact of each entry (hashes, ids, counts), not only the first few.
    #[arg(long)]
    pub facts: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let session = global.reader()?;
    if args.verify {
        let v = ferry_ops::trail::verify(&session)?;
        if args.json {
            crate::out::json("audit-trail", &v)?;
        } else if !global.quiet || !v.ok() {
            print_verification(&v)?;
        }
        return Ok(if v.ok() {
            crate::exit::OK
        } else {
            crate::exit::NO_GO
        });
    }
    let listing = ferry_ops::trail::list(&session)?;
    if args.json {
        crate::out::json("audit-trail", &listing)?;
        return Ok(crate::exit::OK);
    }
    if listing.entries.is_empty() {
        outln!(
            "The audit trail is empty: its first entry is written by the next operation (`ferry stage PATH`, `ferry run`, ...)."
        )?;
        return Ok(crate::exit::OK);
    }
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header(["#", "at", "by", "operation", "outcome", "facts", "hash"]);
    for e in &listing.entries {
        let shown: Vec<String> = e
            .facts
            .iter()
            .filter(|(k, _)| args.facts || !k.contains('.'))
            .map(|(k, v)| {
                let v = if v.len() == 64 && !args.facts {
                    format!("{}…", &v[..12])
                } else {
                    v.clone()
                };
                format!("{k}={v}")
            })
            .collect();
        t.add_row([
            e.seq.to_string(),
            e.at.clone(),
            e.actor.clone(),
            e.operation.clone(),
            e.outcome.clone(),
            shown.join(if args.facts { "\n" } else { " " }),
            e.hash.get(..12).unwrap_or(&e.hash).to_string(),
        ]);
    }
    outln!("{t}")?;
    outln!(
        "{} entries; signed checkpoints in `{}`. `ferry audit-trail --verify` checks them.",
        listing.entries.len(),
        listing.paths.checkpoints.display()
    )?;
    Ok(crate::exit::OK)
}

fn print_verification(v: &ferry_ops::trail::TrailVerification) -> Result<()> {
    let verdict = if v.ok() { "intact" } else { "TAMPERED" };
    outln!(
        "Audit trail: {} entries, last signed checkpoint at entry {}: {}",
        v.entries,
        v.signed
            .map(|s| s.to_string())
            .unwrap_or_else(|| "none".into()),
        verdict
    )?;
    if let Some(seq) = v.first_bad {
        outln!("  first bad entry: {seq}")?;
    }
    for p in &v.problems {
        outln!("  FAIL  {p}")?;
    }
    for n in &v.notes {
        outln!("  note  {n}")?;
    }
    outln!(
        "  {} snapshot file(s) re-hashed against their sealed content hash in {} ms",
        v.snapshots_rehashed,
        v.rehash_ms
    )?;
    Ok(())
}
