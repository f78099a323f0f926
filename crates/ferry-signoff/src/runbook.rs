//! The runbook section of the sign-off report: every step of the rehearsal or go-live with its
//! time, who ran or confirmed it and what it produced; the total window; and a chart of step
//! durations beside earlier runbooks (inline SVG, no script).

use serde::Serialize;
use std::fmt::Write as _;

/// One runbook as the report needs it (from `ferry-ops`' runbook view).
#[derive(Debug, Clone, Serialize, Default)]
pub struct RunbookInput {
    pub id: u64,
    /// `rehearsal` or `go-live`.
    pub kind: String,
    /// `open`, `done` or `abandoned`.
    pub status: String,
    pub started_at: String,
    pub actor: String,
    pub window_ms: u64,
    pub steps: Vec<RunbookStepInput>,
}

/// One step of a runbook.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RunbookStepInput {
    pub ordinal: u64,
    pub name: String,
    pub kind: String,
    /// What the step does, in one line.
    pub what: String,
    pub state: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: Option<u64>,
    pub actor: String,
    pub confirmed_by: String,
    pub owner: String,
    pub produced: String,
    pub message: String,
}

/// The section as the template shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunbookSection {
    pub current: RunbookInput,
    /// Earlier runbooks compared with this one, oldest first.
    pub earlier: Vec<EarlierRunbook>,
    /// Manual steps confirmed: step, owner, who confirmed, when.
    pub confirmations: Vec<Confirmation>,
    /// Inline SVG: each step's duration in this runbook and the earlier ones.
    pub chart: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EarlierRunbook {
    pub id: u64,
    pub kind: String,
    pub status: String,
    pub started_at: String,
    pub window_ms: u64,
    /// This runbook's window minus that one's.
    pub delta_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Confirmation {
    pub step: String,
    pub owner: String,
    pub by: String,
    pub at: String,
    pub waited_ms: u64,
}

/// How many earlier runbooks the chart compares.
const EARLIER_SHOWN: usize = 4;

/// The section for `current`, compared with `earlier` (oldest first; the last few are shown).
pub fn section(current: RunbookInput, earlier: &[RunbookInput]) -> RunbookSection {
    let shown = &earlier[earlier.len().saturating_sub(EARLIER_SHOWN)..];
    let confirmations = current
        .steps
        .iter()
        .filter(|s| s.kind == "manual" && !s.confirmed_by.is_empty())
        .map(|s| Confirmation {
            step: s.name.clone(),
            owner: s.owner.clone(),
            by: s.confirmed_by.clone(),
            at: s.finished_at.clone(),
            waited_ms: s.duration_ms.unwrap_or(0),
        })
        .collect();
    let chart = chart(&current, shown);
    RunbookSection {
        earlier: shown
            .iter()
            .map(|r| EarlierRunbook {
                id: r.id,
                kind: r.kind.clone(),
                status: r.status.clone(),
                started_at: r.started_at.clone(),
                window_ms: r.window_ms,
                delta_ms: current.window_ms as i64 - r.window_ms as i64,
            })
            .collect(),
        confirmations,
        chart,
        current,
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Grouped horizontal bars: per step of `current` (skipped ones left out), one bar per
/// earlier runbook that has a step of that name and one for `current`, scaled to the longest.
pub fn chart(current: &RunbookInput, earlier: &[RunbookInput]) -> String {
    const LABEL_W: f64 = 200.0;
    const BAR_W: f64 = 300.0;
    const TEXT_W: f64 = 150.0;
    const BAR_H: f64 = 12.0;
    const GAP: f64 = 8.0;
    const COLOURS: [&str; 5] = ["#b7c7e6", "#9bb2de", "#7f9dd6", "#6388ce", "#2f5fb3"];
    let series: Vec<&RunbookInput> = earlier.iter().chain(std::iter::once(current)).collect();
    let steps: Vec<&RunbookStepInput> = current
        .steps
        .iter()
        .filter(|s| s.state != "skipped")
        .collect();
    let duration = |r: &RunbookInput, name: &str| {
        r.steps
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.duration_ms)
    };
    let max = steps
        .iter()
        .flat_map(|s| series.iter().filter_map(|r| duration(r, &s.name)))
        .max()
        .unwrap_or(0);
    let mut rows = 0usize;
    for s in &steps {
        rows += series
            .iter()
            .filter(|r| duration(r, &s.name).is_some())
            .count()
            .max(1);
    }
    let legend_h = 18.0;
    let width = LABEL_W + BAR_W + TEXT_W;
    let height = legend_h + rows as f64 * BAR_H + steps.len() as f64 * GAP + 4.0;
    let caption = "Step durations: this runbook beside earlier ones";
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<figure><figcaption>{caption}</figcaption><svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{caption}\">"
    );
    // Legend.
    let mut x = 0.0;
    for (i, r) in series.iter().enumerate() {
        let colour = colour(i, series.len(), &COLOURS);
        let label = format!(
            "runbook {} ({}){}",
            r.id,
            r.kind,
            if i + 1 == series.len() {
                ", this one"
            } else {
                ""
            }
        );
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"2\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{}\" y=\"11\">{}</text>",
            x + 14.0,
            escape(&label)
        );
        x += 14.0 + label.chars().count() as f64 * 6.5 + 12.0;
    }
    let mut y = legend_h;
    for s in &steps {
        let bars: Vec<(usize, u64)> = series
            .iter()
            .enumerate()
            .filter_map(|(i, r)| duration(r, &s.name).map(|d| (i, d)))
            .collect();
        let group_h = bars.len().max(1) as f64 * BAR_H;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL_W - 6.0,
            y + group_h / 2.0 + 4.0,
            escape(&s.name)
        );
        for (row, (i, d)) in bars.iter().enumerate() {
            let by = y + row as f64 * BAR_H;
            let w = if max > 0 {
                (*d as f64 / max as f64 * BAR_W).max(1.0)
            } else {
                1.0
            };
            let r = series[*i];
            let _ = write!(
                svg,
                "<g><title>{} · runbook {} ({}): {}</title><rect x=\"{LABEL_W}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
                escape(&s.name),
                r.id,
                escape(&r.kind),
                crate::render::seconds(*d as i64),
                by + 1.0,
                BAR_H - 2.0,
                colour(*i, series.len(), &COLOURS),
                LABEL_W + w + 4.0,
                by + BAR_H - 2.0,
                crate::render::seconds(*d as i64)
            );
        }
        y += group_h + GAP;
    }
    svg.push_str("</svg></figure>");
    svg
}

/// The last series (this runbook) is the darkest; earlier ones lighter.
fn colour(i: usize, n: usize, colours: &[&'static str; 5]) -> &'static str {
    let from_end = n - 1 - i;
    colours[colours.len() - 1 - from_end.min(colours.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runbook(id: u64, kind: &str, durations: &[(&str, Option<u64>)]) -> RunbookInput {
        RunbookInput {
            id,
            kind: kind.into(),
            status: "done".into(),
            window_ms: durations.iter().filter_map(|d| d.1).sum(),
            steps: durations
                .iter()
                .enumerate()
                .map(|(i, (name, d))| RunbookStepInput {
                    ordinal: i as u64 + 1,
                    name: name.to_string(),
                    kind: if name.starts_with("freeze") {
                        "manual"
                    } else {
                        "run"
                    }
                    .into(),
                    state: if d.is_some() { "done" } else { "skipped" }.into(),
                    duration_ms: *d,
                    confirmed_by: if name.starts_with("freeze") {
                        "Ana <IT>".into()
                    } else {
                        String::new()
                    },
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_chart_has_a_bar_per_runbook_and_step_and_escapes_names() {
        let earlier = [runbook(
            1,
            "rehearsal",
            &[("stage", Some(2000)), ("run", Some(8000))],
        )];
        let current = runbook(
            2,
            "go-live",
            &[
                ("freeze<x>", Some(60_000)),
                ("stage", Some(1000)),
                ("run", Some(6000)),
                ("gone", None),
            ],
        );
        let svg = chart(&current, &earlier);
        assert_eq!(svg.matches("<rect x=\"200\"").count(), 5, "{svg}");
        assert!(svg.contains("freeze&lt;x&gt;"), "{svg}");
        assert!(!svg.contains(">gone<"), "a skipped step has no bars: {svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert!(
            svg.contains("width=\"300.0\""),
            "the longest bar is full width: {svg}"
        );
        let s = section(current, &earlier);
        assert_eq!(s.earlier[0].delta_ms, 67_000 - 10_000);
        assert_eq!(s.confirmations.len(), 1);
        assert_eq!(s.confirmations[0].by, "Ana <IT>");
    }

    #[test]
    fn a_runbook_with_no_timed_step_draws_an_empty_chart() {
        let svg = chart(&runbook(1, "rehearsal", &[]), &[]);
        assert!(svg.starts_with("<figure>") && svg.ends_with("</figure>"));
    }
}
