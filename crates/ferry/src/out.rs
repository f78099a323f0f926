//! Terminal output: every line goes through [`outln!`], which returns the write's error instead
//! of panicking, so a closed pipe (`ferry runs | head -1`) ends the command cleanly (exit 0,
//! see `main.rs`); GO / NO-GO in colour on a terminal; `--json` output with a format version.

use std::io::IsTerminal;

/// `writeln!` to standard output, returning `std::io::Result<()>` (use with `?`).
#[macro_export]
macro_rules! outln {
    () => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock())
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// When to colour output (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set (https://no-color.org) or `TERM=dumb`.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    pub fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        }
    }
}

/// `GO` in green or `NO-GO` in red (bold), plain when colour is off.
pub fn verdict(go: bool, color: ColorChoice) -> String {
    let (text, c) = if go {
        ("GO", anstyle::AnsiColor::Green)
    } else {
        ("NO-GO", anstyle::AnsiColor::Red)
    };
    if !color.enabled() {
        return text.to_string();
    }
    let style = anstyle::Style::new().bold().fg_color(Some(c.into()));
    format!("{}{text}{}", style.render(), style.render_reset())
}

/// The version of every `--json` output's shape; bumped when a field changes meaning or goes.
pub const JSON_FORMAT_VERSION: u32 = 1;

/// Prints `value` as a `--json` object: `{"format_version": 1, "command": COMMAND, ...}`; a value
/// that is not an object goes under the key COMMAND.
pub fn json(kind: &str, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut v = serde_json::to_value(value)?;
    let obj = match v {
        serde_json::Value::Object(ref mut m) => std::mem::take(m),
        other => {
            let mut m = serde_json::Map::new();
            m.insert(kind.to_string(), other);
            m
        }
    };
    let mut out = obj;
    out.insert("format_version".into(), JSON_FORMAT_VERSION.into());
    out.insert("command".into(), kind.into());
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(out))?;
    outln!("{text}")?;
    Ok(())
}
