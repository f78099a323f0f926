//! `ferry conflicts`: the resources a delta's load found edited in the new EHR, and their
//! resolution by a reviewer.

use crate::commands::Global;
use crate::outln;
use anyhow::Result;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
    /// The target (`[targets.NAME]` in ferry.toml).
    #[arg(long)]
    pub target: Option<String>,
    /// Only this load (default: every load to the target).
    #[arg(long)]
    pub load: Option<u64>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Resolve one conflict: keep the EHR's version, or write Ferry's over it (If-Match on the
    /// version the server holds); recorded in the load's journal with who and why.
    Resolve(ResolveArgs),
}

#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// The resource, as `ferry conflicts` lists it: TYPE/ID.
    pub resource: String,
    #[arg(long)]
    pub target: String,
    /// Keep the version the new EHR holds.
    #[arg(
        long,
        conflicts_with = "overwrite",
        required_unless_present = "overwrite"
    )]
    pub keep: bool,
    /// Write Ferry's content over it.
    #[arg(long)]
    pub overwrite: bool,
    /// Who decided.
    #[arg(long)]
    pub by: String,
    /// Why (recorded).
    #[arg(long)]
    pub why: String,
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    if let Some(Sub::Resolve(r)) = args.command {
        return resolve(r, global);
    }
    let Some(target) = args.target else {
        anyhow::bail!(
            "name the target: `ferry conflicts --target ehr` (the `[targets.NAME]` the loads went to)"
        );
    };
    let session = global.reader()?;
    let list = ferry_ops::conflicts::list(&session, &target, args.load)?;
    if args.json {
        crate::out::json("conflicts", &serde_json::json!({ "conflicts": list }))?;
        return Ok(crate::exit::OK);
    }
    if list.is_empty() {
        outln!("No conflicts in the loads to `{target}`.")?;
        return Ok(crate::exit::OK);
    }
    let open = list.iter().filter(|c| c.resolution.is_none()).count();
    outln!(
        "{} conflicts in the loads to `{target}` ({open} unresolved): edited in the new EHR after Ferry loaded them, so the delta did not overwrite them",
        list.len()
    )?;
    for c in &list {
        let state = match &c.resolution {
            None => "unresolved".to_string(),
            Some(r) => format!("{} by {} at {}", r.action, r.by, r.at),
        };
        outln!(
            "  load {} (run {}): {}/{} [{}] differs in: {}",
            c.load,
            c.run,
            c.resource_type,
            c.id,
            state,
            if c.paths.is_empty() {
                "nothing but server metadata".to_string()
            } else {
                c.paths.join(", ")
            }
        )?;
    }
    if open > 0 {
        outln!(
            "Resolve each: ferry conflicts resolve TYPE/ID --target {target} --keep|--overwrite --by NAME --why TEXT"
        )?;
    }
    Ok(if open > 0 {
        crate::exit::FAILURE
    } else {
        crate::exit::OK
    })
}

fn resolve(r: ResolveArgs, global: &Global) -> Result<u8> {
    let mut session = global.writer("conflicts resolve", true)?;
    let how = if r.overwrite {
        ferry_ops::conflicts::Resolve::Overwrite
    } else {
        ferry_ops::conflicts::Resolve::Keep
    };
    let c = ferry_ops::conflicts::resolve(
        &mut session,
        &r.target,
        &r.resource,
        how,
        &r.by,
        &r.why,
        &global.cancel,
    )?;
    if r.json {
        crate::out::json("conflicts resolve", &c)?;
    } else if !global.quiet {
        outln!(
            "{}/{} in load {}: {} ({})",
            c.resource_type,
            c.id,
            c.load,
            c.resolution
                .as_ref()
                .map(|r| r.action.as_str())
                .unwrap_or(""),
            if how == ferry_ops::conflicts::Resolve::Overwrite {
                "Ferry's content written over the EHR's version; `ferry rollback` of that load restores the EHR's"
            } else {
                "the EHR's version stays"
            }
        )?;
    }
    Ok(crate::exit::OK)
}
