//! The `ferry` command line. One file per command under `commands/`, each with an `Args`
//! (clap) and an `exec` that calls one operation of `ferry-ops` and prints its result.

mod commands;
mod format;
mod out;
mod progress;

use clap::Parser;

/// Staging hands millions of small allocations from the reader thread to the writer thread,
/// which frees them: glibc's allocator takes its slow path there (~22% of staging time measured
/// with perf); mimalloc's thread-free lists do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;

/// Move patient records out of a legacy EHR into FHIR R4: safely, repeatably, with proof.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Run as if started in this project folder.
    #[arg(short = 'C', long = "project", global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,

    /// Print only errors (no progress bars, no summaries).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Colour GO / NO-GO: `auto` (on a terminal, unless NO_COLOR is set), `always`, `never`.
    #[arg(long, global = true, value_enum, default_value_t = out::ColorChoice::Auto, value_name = "WHEN")]
    pub color: out::ColorChoice,

    #[command(subcommand)]
    pub command: commands::Command,
}

/// Exit codes (documented in docs/commands.md).
pub mod exit {
    pub const OK: u8 = 0;
    /// Something failed; the message says what and what to do.
    pub const FAILURE: u8 = 1;
    /// Bad command line (clap's own code).
    #[allow(dead_code)]
    pub const USAGE: u8 = 2;
    /// A check ended with a failing result: NO-GO (`verify`, `report`), findings at or above
    /// `--fail-on` (`audit`).
    pub const NO_GO: u8 = 3;
    /// A runbook stopped at a manual step: it waits for `ferry runbook confirm STEP --by NAME`.
    pub const WAITING: u8 = 4;
    /// Cancelled by the user (Ctrl-C); nothing was changed.
    pub const CANCELLED: u8 = 130;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // SQL functions for module queries (and `ferry sql`): see docs/mapping.md.
    ferry_store::register_sql_functions(vec![("ferry_date", ferry_map::funcs::dates::sql_date)]);
    let cancel = ferry_core::Cancel::new();
    commands::install_ctrlc(&cancel);
    match commands::exec(cli, cancel) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                // `ferry runs | head` closed the pipe: not an error.
                return ExitCode::from(exit::OK);
            }
            if is_cancelled(&err) {
                eprintln!("ferry: cancelled; nothing changed");
                return ExitCode::from(exit::CANCELLED);
            }
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn is_cancelled(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<ferry_ops::OpsError>()
            .is_some_and(|e| e.is_cancelled())
            || c.downcast_ref::<commands::Cancelled>().is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::Parser;
    use std::path::Path;

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "tests" && n != "target") {
                    rust_files(&p, out);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// Turns a hint as written in a message into arguments: format placeholders (`{snapshot}`)
    /// become `1`, optional parts (`[N]`), pipes and trailing `...` go.
    fn hint_args(hint: &str) -> Option<Vec<String>> {
        let mut text = String::new();
        let mut depth = 0;
        for ch in hint.split('|').next()?.chars() {
            match ch {
                '[' | '{' => {
                    depth += 1;
                    if ch == '{' && depth == 1 {
                        text.push('1');
                    }
                }
                ']' | '}' => depth -= 1,
                _ if depth == 0 => text.push(ch),
                _ => {}
            }
        }
        let text = text.replace("...", "");
        let mut args = vec![];
        let mut cur = String::new();
        let mut quoted = false;
        for ch in text.chars() {
            match ch {
                '"' => quoted = !quoted,
                c if c.is_whitespace() && !quoted => {
                    if !cur.is_empty() {
                        args.push(std::mem::take(&mut cur));
                    }
                }
                c => cur.push(c),
            }
        }
        if !cur.is_empty() {
            args.push(cur);
        }
        // `ferry {}`: a placeholder for any command, nothing to check.
        (args.len() > 1 && args[1] != "1").then_some(args)
    }

    /// Regression: messages sent users to `ferry snapshots --tables` and `ferry runs`, which did
    /// not exist. Every backticked `ferry ...` in a message of any crate must parse.
    #[test]
    fn every_command_a_message_names_exists() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        rust_files(&crates, &mut files);
        assert!(files.len() > 50, "found only {} source files", files.len());
        let mut checked = 0;
        let mut bad = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            for (n, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                let mut rest = line;
                while let Some(i) = rest.find("`ferry ") {
                    let after = &rest[i + 1..];
                    let Some(end) = after.find('`') else { break };
                    let hint = &after[..end];
                    rest = &after[end + 1..];
                    let Some(args) = hint_args(hint) else {
                        continue;
                    };
                    checked += 1;
                    if let Err(e) = Cli::try_parse_from(&args) {
                        use clap::error::ErrorKind::*;
                        // A command named without its arguments (`ferry sql`) exists too.
                        let names_a_command = matches!(
                            e.kind(),
                            DisplayHelp
                                | DisplayVersion
                                | MissingRequiredArgument
                                | MissingSubcommand
                                | DisplayHelpOnMissingArgumentOrSubcommand
                        );
                        if !names_a_command {
                            bad.push(format!("{}:{}: `{hint}`: {}", f.display(), n + 1, e.kind()));
                        }
                    }
                }
            }
        }
        assert!(checked > 40, "only {checked} hints found");
        assert!(
            bad.is_empty(),
            "hints naming commands that do not parse:\n{}",
            bad.join("\n")
        );
    }

    #[test]
    fn hints_become_arguments() {
        assert_eq!(
            hint_args("ferry dedupe --snapshot {snapshot}").unwrap(),
            ["ferry", "dedupe", "--snapshot", "1"]
        );
        assert_eq!(
            hint_args("ferry snapshots [N]").unwrap(),
            ["ferry", "snapshots"]
        );
        assert_eq!(
            hint_args("ferry sql \"SELECT 1\"").unwrap(),
            ["ferry", "sql", "SELECT 1"]
        );
        assert_eq!(
            hint_args("ferry runs | head -1").unwrap(),
            ["ferry", "runs"]
        );
        assert!(hint_args("ferry {}").is_none());
        assert!(Cli::try_parse_from(["ferry", "no-such-command"]).is_err());
        assert!(Cli::try_parse_from(["ferry", "snapshots", "--no-such-flag"]).is_err());
    }
}
