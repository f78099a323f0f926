//! `ferry runbook`: the timed rehearsal or go-live of `runbook.toml`, step by step.

use crate::commands::Global;
use crate::{format, outln};
use anyhow::Result;
use ferry_ops::runbook::{Drive, RunbookKind, RunbookOutcome, RunbookView, StepEvent, Stopped};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    Rehearsal,
    GoLive,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Start a runbook from runbook.toml and run it until it is done, a manual step waits
    /// (exit 4), a gate says no-go (exit 3) or a step fails (exit 1).
    Start {
        /// A dress rehearsal or the go-live (steps with `only = [...]` run in one of them).
        #[arg(long, value_enum)]
        kind: Kind,
        /// Print the outcome as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Continue the open runbook at the step it stopped (a step interrupted is run again).
    Resume {
        /// Run every step again from this one on (e.g. after a fix, `--from run`).
        #[arg(long, value_name = "STEP")]
        from: Option<String>,
        /// Print the outcome as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Every step of the open runbook (else the latest) with its state, times, who and what.
    Status {
        /// Print the runbook as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Record that a manual step was done, and by whom; `ferry runbook resume` then continues.
    Confirm {
        /// The step's `name` in runbook.toml.
        #[arg(value_name = "STEP")]
        step: String,
        /// Who did it (recorded, shown in the sign-off report).
        #[arg(long, value_name = "NAME")]
        by: String,
    },
    /// Check runbook.toml (every problem with file:line:column) without starting anything.
    Check {
        /// Print the steps and problems as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Close the open runbook unfinished (its steps stay recorded), so another can start.
    Abandon,
}

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    match args.command {
        Sub::Start { kind, json } => {
            let kind = match kind {
                Kind::Rehearsal => RunbookKind::Rehearsal,
                Kind::GoLive => RunbookKind::GoLive,
            };
            let mut session = global.writer("runbook start", true)?;
            drive(global, json, |d| {
                ferry_ops::runbook::start(&mut session, kind, d)
            })
        }
        Sub::Resume { from, json } => {
            let mut session = global.writer("runbook resume", true)?;
            drive(global, json, |d| {
                ferry_ops::runbook::resume(&mut session, from.as_deref(), d)
            })
        }
        Sub::Status { json } => {
            let session = global.reader()?;
            let rb = ferry_ops::runbook::status(&session)?;
            if json {
                crate::out::json("runbook-status", &rb)?;
            } else if let Some(rb) = &rb {
                print_runbook(rb)?;
            } else {
                outln!(
                    "No runbook was started yet: `ferry runbook start --kind rehearsal` starts one from runbook.toml"
                )?;
            }
            Ok(crate::exit::OK)
        }
        Sub::Confirm { step, by } => {
            let mut session = global.writer("runbook confirm", false)?;
            let s = ferry_ops::runbook::confirm(&mut session, &step, &by)?;
            if !global.quiet {
                outln!(
                    "Step `{}` confirmed by {} at {}; `ferry runbook resume` continues the runbook",
                    s.name,
                    s.confirmed_by.as_deref().unwrap_or(""),
                    s.finished_at.as_deref().unwrap_or("")
                )?;
            }
            Ok(crate::exit::OK)
        }
        Sub::Check { json } => {
            let project = global.load_project()?;
            let c = ferry_ops::runbook::check_file(&project)?;
            let errors = c.diagnostics.iter().filter(|d| d.is_error()).count();
            if json {
                crate::out::json("runbook-check", &c)?;
            } else {
                for d in &c.diagnostics {
                    outln!("{d}")?;
                }
                if errors == 0 && !global.quiet {
                    outln!("runbook.toml: {} steps, no problems", c.steps.len())?;
                    for s in &c.steps {
                        outln!(
                            "  {:>2}. {:<16} {:<13} {}",
                            s.ordinal,
                            s.name,
                            s.kind,
                            s.what
                        )?;
                    }
                }
            }
            Ok(if errors == 0 {
                crate::exit::OK
            } else {
                crate::exit::FAILURE
            })
        }
        Sub::Abandon => {
            let mut session = global.writer("runbook abandon", false)?;
            let rb = ferry_ops::runbook::abandon(&mut session)?;
            if !global.quiet {
                outln!(
                    "Runbook {} ({}) abandoned; its steps stay recorded (`ferry runbook status`)",
                    rb.id,
                    rb.kind
                )?;
            }
            Ok(crate::exit::OK)
        }
    }
}

fn drive(
    global: &Global,
    json: bool,
    f: impl FnOnce(&Drive<'_>) -> Result<RunbookOutcome, ferry_ops::OpsError>,
) -> Result<u8> {
    let bar = global.bar(json);
    let quiet = global.quiet || json;
    let events = |e: StepEvent<'_>| {
        if quiet {
            return;
        }
        bar.finish();
        // Printing is best effort here: the outcome printed below returns its errors.
        let _ = match e {
            StepEvent::Started(s) => {
                outln!("step {} `{}` ({}): {}", s.ordinal, s.name, s.kind, s.what)
            }
            StepEvent::Finished(s) => outln!(
                "  {} in {}{}{}",
                s.state,
                format::seconds(s.duration_ms.unwrap_or(0)),
                s.produced
                    .as_ref()
                    .map(|p| format!(" · {p}"))
                    .unwrap_or_default(),
                s.message
                    .as_ref()
                    .map(|m| format!(" · {m}"))
                    .unwrap_or_default()
            ),
        };
    };
    let d = Drive {
        cancel: global.cancel.clone(),
        progress: &bar,
        events: &events,
    };
    let o = f(&d)?;
    bar.finish();
    if json {
        crate::out::json("runbook", &o)?;
    } else if !global.quiet {
        print_runbook(&o.runbook)?;
    }
    Ok(match &o.stopped {
        Stopped::Done => {
            if !json && !global.quiet {
                outln!(
                    "Runbook {} ({}) done: every step finished in a window of {}",
                    o.runbook.id,
                    o.runbook.kind,
                    format::seconds(o.runbook.window_ms)
                )?;
            }
            crate::exit::OK
        }
        Stopped::Waiting {
            step,
            owner,
            instruction,
        } => {
            if !json {
                eprintln!(
                    "Waiting for {owner}: {instruction}\nWhen it is done: `ferry runbook confirm {step} --by NAME`, then `ferry runbook resume`"
                );
            }
            crate::exit::WAITING
        }
        Stopped::GateFailed { step, reasons } => {
            if !json {
                eprintln!("NO-GO at gate `{step}`:");
                for r in reasons {
                    eprintln!("  {r}");
                }
                eprintln!(
                    "Fix the cause, then `ferry runbook resume` (the gate is judged again) or `ferry runbook resume --from run` to run again from an earlier step"
                );
            }
            crate::exit::NO_GO
        }
        Stopped::Failed { step, message } => {
            if !json {
                eprintln!(
                    "error: step `{step}` failed: {message}\nFix the cause, then `ferry runbook resume` runs it again"
                );
            }
            crate::exit::FAILURE
        }
    })
}

fn print_runbook(rb: &RunbookView) -> Result<()> {
    outln!(
        "Runbook {} ({}), {}: started {} by {}, window {}",
        rb.id,
        rb.kind,
        rb.status,
        rb.started_at,
        rb.actor,
        format::seconds(rb.window_ms)
    )?;
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING);
    table.set_header([
        "#", "step", "kind", "state", "started", "time", "by", "produced",
    ]);
    for s in &rb.steps {
        let by = match (&s.confirmed_by, &s.actor) {
            (Some(c), _) => format!("confirmed by {c}"),
            (None, Some(a)) => a.clone(),
            _ => String::new(),
        };
        table.add_row([
            s.ordinal.to_string(),
            s.name.clone(),
            s.kind.clone(),
            s.state.clone(),
            s.started_at.clone().unwrap_or_default(),
            s.duration_ms.map(format::seconds).unwrap_or_default(),
            by,
            s.produced.clone().unwrap_or_default(),
        ]);
    }
    for line in table.to_string().lines() {
        outln!("  {}", line.trim_end())?;
    }
    for s in rb.steps.iter().filter(|s| s.state == "failed") {
        outln!(
            "  step `{}` failed: {}",
            s.name,
            s.message.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}
