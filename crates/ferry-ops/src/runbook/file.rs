//! `runbook.toml`: the steps of a rehearsal or go-live, in order (docs/runbook.md).
//!
//! Parsed with spans: every problem is a [`Diagnostic`] with file:line:column, all of them at
//! once (never a first-error stop); unknown keys are errors. Gate conditions are a closed set
//! ([`Condition`]), and each must follow a step that gives it something to judge.

use ferry_map::{Diagnostic, Severity};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The file's name in a project.
pub const RUNBOOK_FILE: &str = "runbook.toml";

/// A rehearsal or the go-live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunbookKind {
    Rehearsal,
    GoLive,
}

impl RunbookKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunbookKind::Rehearsal => "rehearsal",
            RunbookKind::GoLive => "go-live",
        }
    }

    pub fn parse(s: &str) -> Option<RunbookKind> {
        match s {
            "rehearsal" => Some(RunbookKind::Rehearsal),
            "go-live" => Some(RunbookKind::GoLive),
            _ => None,
        }
    }
}

/// What a gate requires: a closed set, each judged from the workspace's own records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// The runbook's last `check` step found no errors.
    CheckClean,
    /// The latest verification of the runbook's run is GO.
    VerifyGo,
    /// The runbook's last load ended with every resource written (no refusals, nothing
    /// unanswered).
    LoadComplete,
    /// The latest verification of the runbook's run on the last `verify-target` step's target
    /// is GO.
    TargetGo,
}

impl Condition {
    pub const ALL: [Condition; 4] = [
        Condition::CheckClean,
        Condition::VerifyGo,
        Condition::LoadComplete,
        Condition::TargetGo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Condition::CheckClean => "check-clean",
            Condition::VerifyGo => "verify-go",
            Condition::LoadComplete => "load-complete",
            Condition::TargetGo => "target-go",
        }
    }

    /// The step kind that must come before a gate requiring this.
    pub fn needs(self) -> &'static str {
        match self {
            Condition::CheckClean => "check",
            Condition::VerifyGo => "verify",
            Condition::LoadComplete => "load",
            Condition::TargetGo => "verify-target",
        }
    }
}

/// The base of a runbook's delta run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BaseRun {
    Run(u64),
    /// The newest finished run of kind `go-live` or `delta`.
    GoLive,
}

/// What one step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// `ferry stage PATH...` (paths relative to the project).
    Stage {
        paths: Vec<String>,
        label: Option<String>,
        encoding: Option<String>,
        delimiter: Option<String>,
        no_header: bool,
    },
    /// `ferry check` against the runbook's snapshot.
    Check,
    /// `ferry run --kind KIND` over the runbook's snapshot.
    Run {
        modules: Option<Vec<String>>,
        threads: Option<usize>,
        bundle_size: Option<usize>,
        /// A delta run (`ferry run --base RUN`): of this run, or of the newest finished go-live
        /// run (or delta of one) when `"go-live"`.
        #[serde(default)]
        base: Option<BaseRun>,
    },
    /// `ferry verify` of the runbook's run.
    Verify,
    /// `ferry load --target NAME` of the runbook's run (resumes its own unfinished load).
    Load { target: String },
    /// `ferry verify --target NAME` of the runbook's run.
    VerifyTarget { target: String },
    /// `ferry report` of the runbook's run.
    Report { out: Option<String> },
    /// Go/no-go: stop the line unless every condition holds.
    Gate { require: Vec<Condition> },
    /// Someone does something and confirms it (`ferry runbook confirm STEP --by NAME`).
    Manual { owner: String, instruction: String },
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Stage { .. } => "stage",
            Action::Check => "check",
            Action::Run { .. } => "run",
            Action::Verify => "verify",
            Action::Load { .. } => "load",
            Action::VerifyTarget { .. } => "verify-target",
            Action::Report { .. } => "report",
            Action::Gate { .. } => "gate",
            Action::Manual { .. } => "manual",
        }
    }

    /// One line saying what the step does (no data values).
    pub fn describe(&self) -> String {
        match self {
            Action::Stage { paths, .. } => format!("stage {}", paths.join(" ")),
            Action::Check => "check the mappings against the snapshot".into(),
            Action::Run { base: None, .. } => "run the mappings".into(),
            Action::Run {
                base: Some(BaseRun::Run(n)),
                ..
            } => format!("run the mappings as a delta of run {n}"),
            Action::Run {
                base: Some(BaseRun::GoLive),
                ..
            } => "run the mappings as a delta of the go-live run".into(),
            Action::Verify => "verify the run's output".into(),
            Action::Load { target } => format!("load the run into `{target}`"),
            Action::VerifyTarget { target } => format!("verify the run on `{target}`"),
            Action::Report { .. } => "write the sign-off report".into(),
            Action::Gate { require } => format!(
                "go/no-go: {}",
                require
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Action::Manual { owner, instruction } => format!("{owner}: {instruction}"),
        }
    }
}

/// One step of the runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    /// The runbook kinds this step is part of (both when the file says nothing).
    pub only: Vec<RunbookKind>,
    pub action: Action,
    /// Where the step's `target` is written (line, column), for project checks.
    #[serde(skip)]
    pub target_at: Option<(usize, usize)>,
}

impl Step {
    pub fn applies_to(&self, kind: RunbookKind) -> bool {
        self.only.is_empty() || self.only.contains(&kind)
    }
}

/// A parsed runbook.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookFile {
    pub name: Option<String>,
    pub steps: Vec<Step>,
}

/// The kinds a step may have, for messages.
const KINDS: &[&str] = &[
    "stage",
    "check",
    "run",
    "verify",
    "load",
    "verify-target",
    "report",
    "gate",
    "manual",
];
const TOP_KEYS: &[&str] = &["runbook", "step"];
const RUNBOOK_KEYS: &[&str] = &["name", "description"];
const COMMON_KEYS: &[&str] = &["name", "kind", "only"];

fn kind_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "stage" => &["paths", "label", "encoding", "delimiter", "no_header"],
        "run" => &["modules", "threads", "bundle_size", "base"],
        "load" | "verify-target" => &["target"],
        "report" => &["out"],
        "gate" => &["require"],
        "manual" => &["owner", "instruction"],
        _ => &[],
    }
}

/// 1-based line and column of byte offsets.
struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    fn at(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0);
        let col = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        (line + 1, col + 1)
    }
}

struct Diags<'a> {
    file: String,
    lines: Lines<'a>,
    list: Vec<Diagnostic>,
}

impl Diags<'_> {
    fn error(&mut self, offset: usize, message: impl Into<String>) {
        let (line, column) = self.lines.at(offset);
        self.list.push(Diagnostic {
            file: self.file.clone(),
            line,
            column,
            severity: Severity::Error,
            message: message.into(),
        });
    }
}

type Table<'i> = DeTable<'i>;
type Value<'i> = Spanned<DeValue<'i>>;

fn listed(names: &[&str]) -> String {
    names
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_keys(t: &Table<'_>, allowed: &[&str], ctx: &str, d: &mut Diags<'_>) {
    for (k, _) in t.iter() {
        if !allowed.contains(&k.get_ref().as_ref()) {
            d.error(
                k.span().start,
                format!(
                    "unknown key `{}` in {ctx}: expected one of {}",
                    k.get_ref(),
                    listed(allowed)
                ),
            );
        }
    }
}

fn string(
    t: &Table<'_>,
    key: &str,
    ctx: &str,
    d: &mut Diags<'_>,
) -> Option<(String, Range<usize>)> {
    let v = t.get(key)?;
    match v.get_ref() {
        DeValue::String(s) => Some((s.to_string(), v.span())),
        other => {
            d.error(
                v.span().start,
                format!(
                    "`{key}` in {ctx} must be a string, not {}",
                    other.type_str()
                ),
            );
            None
        }
    }
}

fn required_string(
    t: &Table<'_>,
    key: &str,
    ctx: &str,
    at: usize,
    d: &mut Diags<'_>,
) -> Option<(String, Range<usize>)> {
    if t.get(key).is_none() {
        d.error(at, format!("{ctx} needs `{key}`"));
        return None;
    }
    let (s, span) = string(t, key, ctx, d)?;
    if s.trim().is_empty() {
        d.error(span.start, format!("`{key}` in {ctx} must not be empty"));
        return None;
    }
    Some((s, span))
}

/// A list of strings (a single string is a list of one); each with its span.
fn strings(
    t: &Table<'_>,
    key: &str,
    ctx: &str,
    d: &mut Diags<'_>,
) -> Option<Vec<(String, Range<usize>)>> {
    let v = t.get(key)?;
    match v.get_ref() {
        DeValue::String(s) => Some(vec![(s.to_string(), v.span())]),
        DeValue::Array(items) => {
            let mut out = Vec::new();
            for item in items.iter() {
                match item.get_ref() {
                    DeValue::String(s) => out.push((s.to_string(), item.span())),
                    other => d.error(
                        item.span().start,
                        format!("`{key}` in {ctx} lists strings, not {}", other.type_str()),
                    ),
                }
            }
            Some(out)
        }
        other => {
            d.error(
                v.span().start,
                format!(
                    "`{key}` in {ctx} must be an array of strings, not {}",
                    other.type_str()
                ),
            );
            None
        }
    }
}

/// `base = 3` or `base = "go-live"`.
fn base_run(t: &Table<'_>, ctx: &str, d: &mut Diags<'_>) -> Option<BaseRun> {
    let v = t.get("base")?;
    match v.get_ref() {
        DeValue::String(s) if s.as_ref() == "go-live" => Some(BaseRun::GoLive),
        DeValue::Integer(i) => match i.to_string().parse::<u64>() {
            Ok(n) if n > 0 => Some(BaseRun::Run(n)),
            _ => {
                d.error(
                    v.span().start,
                    format!("`base` in {ctx} must be a run number of at least 1"),
                );
                None
            }
        },
        _ => {
            d.error(
                v.span().start,
                format!(
                    "`base` in {ctx} must be a run number (`base = 3`) or \"go-live\" (the newest finished go-live run, or delta of one)"
                ),
            );
            None
        }
    }
}

fn positive(t: &Table<'_>, key: &str, ctx: &str, d: &mut Diags<'_>) -> Option<usize> {
    let v = t.get(key)?;
    match v.get_ref() {
        DeValue::Integer(i) => match i.to_string().parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                d.error(
                    v.span().start,
                    format!("`{key}` in {ctx} must be a whole number of at least 1"),
                );
                None
            }
        },
        other => {
            d.error(
                v.span().start,
                format!(
                    "`{key}` in {ctx} must be a number, not {}",
                    other.type_str()
                ),
            );
            None
        }
    }
}

fn boolean(t: &Table<'_>, key: &str, ctx: &str, d: &mut Diags<'_>) -> bool {
    let Some(v) = t.get(key) else { return false };
    match v.get_ref() {
        DeValue::Boolean(b) => *b,
        other => {
            d.error(
                v.span().start,
                format!(
                    "`{key}` in {ctx} must be true or false, not {}",
                    other.type_str()
                ),
            );
            false
        }
    }
}

fn is_step_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Parses `text` (named `file` in diagnostics). The runbook is returned only when there is no
/// error; every diagnostic found is returned.
pub fn parse(file: &str, text: &str) -> (Option<RunbookFile>, Vec<Diagnostic>) {
    let mut d = Diags {
        file: file.to_string(),
        lines: Lines::new(text),
        list: Vec::new(),
    };
    let (doc, errors) = DeTable::parse_recoverable(text);
    for e in &errors {
        let at = e.span().map(|s| s.start).unwrap_or(0);
        d.error(at, format!("TOML: {}", e.message().trim_end()));
    }
    let doc = doc.into_inner();
    unknown_keys(&doc, TOP_KEYS, "the runbook file", &mut d);
    let mut name = None;
    if let Some(v) = doc.get("runbook") {
        match v.get_ref() {
            DeValue::Table(t) => {
                unknown_keys(t, RUNBOOK_KEYS, "`[runbook]`", &mut d);
                name = string(t, "name", "`[runbook]`", &mut d).map(|(s, _)| s);
                string(t, "description", "`[runbook]`", &mut d);
            }
            other => d.error(
                v.span().start,
                format!(
                    "`runbook` must be a table (`[runbook]`), not {}",
                    other.type_str()
                ),
            ),
        }
    }
    let mut steps = Vec::new();
    match doc.get("step") {
        None => d.error(
            0,
            "the runbook has no steps: add `[[step]]` tables, each with `name` and `kind` (docs/runbook.md)",
        ),
        Some(v) => match v.get_ref() {
            DeValue::Array(items) => {
                let mut seen: Vec<(String, usize)> = Vec::new();
                let mut kinds_before: Vec<&'static str> = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let Some(step) = parse_step(i + 1, item, &kinds_before, &mut seen, &mut d)
                    else {
                        continue;
                    };
                    kinds_before.push(step.action.kind());
                    steps.push(step);
                }
            }
            other => d.error(
                v.span().start,
                format!(
                    "`step` must be an array of tables (`[[step]]`), not {}",
                    other.type_str()
                ),
            ),
        },
    }
    if d.list.is_empty() {
        (Some(RunbookFile { name, steps }), d.list)
    } else {
        d.list.sort();
        (None, d.list)
    }
}

fn parse_step(
    number: usize,
    item: &Value<'_>,
    kinds_before: &[&'static str],
    seen: &mut Vec<(String, usize)>,
    d: &mut Diags<'_>,
) -> Option<Step> {
    let at = item.span().start;
    let DeValue::Table(t) = item.get_ref() else {
        d.error(at, format!("step {number} must be a table (`[[step]]`)"));
        return None;
    };
    let ctx = format!("step {number}");
    let name = required_string(t, "name", &ctx, at, d);
    let ctx = match &name {
        Some((n, _)) => format!("step `{n}`"),
        None => ctx,
    };
    if let Some((n, span)) = &name {
        if !is_step_name(n) {
            d.error(
                span.start,
                format!(
                    "step name `{n}` must be lower-case letters, digits, `-` and `_` (it is typed in `ferry runbook confirm STEP --by NAME`)"
                ),
            );
        } else if let Some((_, line)) = seen.iter().find(|(s, _)| s == n) {
            d.error(
                span.start,
                format!(
                    "step name `{n}` is used twice (first on line {line}); names must be unique"
                ),
            );
        } else {
            seen.push((n.clone(), d.lines.at(span.start).0));
        }
    }
    let kind = required_string(t, "kind", &ctx, at, d);
    let kind = match kind {
        Some((k, span)) if !KINDS.contains(&k.as_str()) => {
            d.error(
                span.start,
                format!(
                    "unknown step kind `{k}` in {ctx}: expected one of {}",
                    listed(KINDS)
                ),
            );
            None
        }
        other => other,
    };
    let mut only = Vec::new();
    for (s, span) in strings(t, "only", &ctx, d).unwrap_or_default() {
        match RunbookKind::parse(&s) {
            Some(k) => only.push(k),
            None => d.error(
                span.start,
                format!("`only` in {ctx} lists runbook kinds `rehearsal` and `go-live`, not `{s}`"),
            ),
        }
    }
    let (kind, kind_span) = kind?;
    let mut allowed: Vec<&str> = COMMON_KEYS.to_vec();
    allowed.extend_from_slice(kind_keys(&kind));
    unknown_keys(t, &allowed, &format!("{ctx} (kind `{kind}`)"), d);
    let mut target_at = None;
    let mut target = |d: &mut Diags<'_>| {
        let (s, span) = required_string(t, "target", &ctx, kind_span.start, d)?;
        target_at = Some(d.lines.at(span.start));
        Some(s)
    };
    let action = match kind.as_str() {
        "stage" => {
            let paths = match strings(t, "paths", &ctx, d) {
                None => {
                    d.error(
                        kind_span.start,
                        format!("{ctx} needs `paths`: the snapshot's files or folders, as `ferry stage` takes them"),
                    );
                    None
                }
                Some(p) if p.is_empty() => {
                    d.error(kind_span.start, format!("`paths` in {ctx} is empty"));
                    None
                }
                Some(p) => Some(p.into_iter().map(|(s, _)| s).collect()),
            };
            let label = string(t, "label", &ctx, d).map(|(s, _)| s);
            let encoding = string(t, "encoding", &ctx, d).map(|(s, _)| s);
            let delimiter = string(t, "delimiter", &ctx, d).map(|(s, _)| s);
            let no_header = boolean(t, "no_header", &ctx, d);
            Action::Stage {
                paths: paths?,
                label,
                encoding,
                delimiter,
                no_header,
            }
        }
        "check" => Action::Check,
        "run" => Action::Run {
            modules: strings(t, "modules", &ctx, d)
                .map(|m| m.into_iter().map(|(s, _)| s).collect()),
            threads: positive(t, "threads", &ctx, d),
            bundle_size: positive(t, "bundle_size", &ctx, d),
            base: base_run(t, &ctx, d),
        },
        "verify" => Action::Verify,
        "load" => Action::Load { target: target(d)? },
        "verify-target" => Action::VerifyTarget { target: target(d)? },
        "report" => Action::Report {
            out: string(t, "out", &ctx, d).map(|(s, _)| s),
        },
        "gate" => {
            let Some(list) = strings(t, "require", &ctx, d) else {
                d.error(
                    kind_span.start,
                    format!(
                        "{ctx} needs `require`: one or more of {}",
                        listed(&Condition::ALL.map(|c| c.as_str()))
                    ),
                );
                return None;
            };
            if list.is_empty() {
                d.error(kind_span.start, format!("`require` in {ctx} is empty"));
            }
            let mut require = Vec::new();
            for (s, span) in list {
                match Condition::ALL.iter().find(|c| c.as_str() == s) {
                    None => d.error(
                        span.start,
                        format!(
                            "unknown gate condition `{s}` in {ctx}: expected one of {}",
                            listed(&Condition::ALL.map(|c| c.as_str()))
                        ),
                    ),
                    Some(c) if !kinds_before.contains(&c.needs()) => d.error(
                        span.start,
                        format!(
                            "gate condition `{s}` in {ctx} judges a `{}` step, and none comes before this gate",
                            c.needs()
                        ),
                    ),
                    Some(c) => require.push(*c),
                }
            }
            Action::Gate { require }
        }
        "manual" => {
            let owner = required_string(t, "owner", &ctx, kind_span.start, d);
            let instruction = required_string(t, "instruction", &ctx, kind_span.start, d);
            Action::Manual {
                owner: owner?.0,
                instruction: instruction?.0,
            }
        }
        _ => return None,
    };
    Some(Step {
        name: name?.0,
        only,
        action,
        target_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        let (rb, diags) = parse("runbook.toml", text);
        assert!(rb.is_none() || diags.is_empty());
        diags.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn a_full_runbook_parses() {
        let text = r#"
[runbook]
name = "Go-live weekend"

[[step]]
name = "freeze"
kind = "manual"
owner = "Clinic IT"
instruction = "Put the legacy system in read-only mode"
only = ["go-live"]

[[step]]
name = "stage"
kind = "stage"
paths = ["legacy/final.sql"]
label = "final"

[[step]]
name = "check"
kind = "check"

[[step]]
name = "run"
kind = "run"
threads = 2

[[step]]
name = "verify"
kind = "verify"

[[step]]
name = "verified"
kind = "gate"
require = ["check-clean", "verify-go"]

[[step]]
name = "load"
kind = "load"
target = "ehr"

[[step]]
name = "on-target"
kind = "verify-target"
target = "ehr"

[[step]]
name = "loaded"
kind = "gate"
require = ["load-complete", "target-go"]

[[step]]
name = "report"
kind = "report"
"#;
        let (rb, diags) = parse("runbook.toml", text);
        assert!(diags.is_empty(), "{diags:?}");
        let rb = rb.unwrap();
        assert_eq!(rb.steps.len(), 10);
        assert!(!rb.steps[0].applies_to(RunbookKind::Rehearsal));
        assert_eq!(rb.steps[6].target_at, Some((39, 10)));
        assert_eq!(
            rb.steps[8].action,
            Action::Gate {
                require: vec![Condition::LoadComplete, Condition::TargetGo]
            }
        );
        // The plan round-trips through the JSON the catalog records.
        let json = serde_json::to_string(&rb.steps[1]).unwrap();
        let back: Step = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rb.steps[1]);
    }

    #[test]
    fn every_problem_is_reported_with_its_line_and_column() {
        let text = "[runbook]\nnmae = \"x\"\n\n[[step]]\nname = \"Stage\"\nkind = \"stage\"\n\n[[step]]\nname = \"go\"\nkind = \"gate\"\nrequire = [\"verify-go\", \"all-good\"]\n\n[[step]]\nname = \"go\"\nkind = \"manual\"\nowner = \"IT\"\ncolour = \"red\"\n\n[[step]]\nname = \"x\"\nkind = \"deploy\"\n";
        assert_eq!(
            errors(text),
            vec![
                "runbook.toml:2:1: error: unknown key `nmae` in `[runbook]`: expected one of `name`, `description`",
                "runbook.toml:5:8: error: step name `Stage` must be lower-case letters, digits, `-` and `_` (it is typed in `ferry runbook confirm STEP --by NAME`)",
                "runbook.toml:6:8: error: step `Stage` needs `paths`: the snapshot's files or folders, as `ferry stage` takes them",
                "runbook.toml:11:12: error: gate condition `verify-go` in step `go` judges a `verify` step, and none comes before this gate",
                "runbook.toml:11:25: error: unknown gate condition `all-good` in step `go`: expected one of `check-clean`, `verify-go`, `load-complete`, `target-go`",
                "runbook.toml:14:8: error: step name `go` is used twice (first on line 9); names must be unique",
                "runbook.toml:15:8: error: step `go` needs `instruction`",
                "runbook.toml:17:1: error: unknown key `colour` in step `go` (kind `manual`): expected one of `name`, `kind`, `only`, `owner`, `instruction`",
                "runbook.toml:21:8: error: unknown step kind `deploy` in step `x`: expected one of `stage`, `check`, `run`, `verify`, `load`, `verify-target`, `report`, `gate`, `manual`",
            ]
        );
    }

    #[test]
    fn toml_syntax_and_missing_steps_are_errors_too() {
        let e = errors("[[step]\nname = 1\n");
        assert!(e[0].starts_with("runbook.toml:1:"), "{e:?}");
        assert_eq!(
            errors("[runbook]\nname = \"empty\"\n"),
            vec![
                "runbook.toml:1:1: error: the runbook has no steps: add `[[step]]` tables, each with `name` and `kind` (docs/runbook.md)"
            ]
        );
    }
}
