//! A self-contained HTML report of a profile: inline CSS and SVG charts, no script, no fonts, no
//! links to anything outside the file, so it opens offline (hospital networks often have no
//! internet) and can be mailed as one file.
//!
//! Every piece of text from the profile is escaped. Only what the profile holds is shown:
//! suppressed values were never in it.

use std::fmt::Write as _;
use std::path::Path;

use ferry_profile::model::{ColumnProfile, SnapshotProfile, Suppressed, TableProfile};

use crate::ReportError;
use crate::fsutil::{Contents, write_atomic};
use crate::text::{formats_summary, inferred_name, percent, phi_name, thousands, truncate_chars};

/// Characters of a value shown as a chart label (the full value, up to [`TOOLTIP_CHARS`], is in
/// the bar's tooltip).
const LABEL_CHARS: usize = 28;
const TOOLTIP_CHARS: usize = 300;
/// Characters of a value shown in a table cell.
const CELL_CHARS: usize = 80;

/// Writes the HTML report to `path` (atomically).
pub fn write_profile_html(profile: &SnapshotProfile, path: &Path) -> Result<(), ReportError> {
    let html = render(profile);
    write_atomic(path, Contents::Phi, |w| w.write_all(html.as_bytes()))
}

/// Escapes text for HTML content and attribute values. Control characters HTML cannot show are
/// replaced by U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(ch),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn esc_cut(s: &str, max: usize) -> String {
    escape(&truncate_chars(s, max))
}

const STYLE: &str = r#"
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bar:#4472c4; --bar2:#70ad47; --phi:#b3261e; --bg2:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: var(--fg); margin: 0 auto; padding: 16px 24px 48px; max-width: 1400px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.muted, .meta { color: var(--muted); }
.meta code { font-size: 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 130px; background: var(--bg2); }
.card b { display: block; font-size: 20px; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--bg2); font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.v { max-width: 220px; overflow-wrap: anywhere; }
.badge { display: inline-block; font-size: 11px; font-weight: 600; padding: 0 6px; border-radius: 9px; white-space: nowrap; }
.phi { background: #fde7e9; color: var(--phi); border: 1px solid #f4b6bb; }
.key { background: #e6f0ff; color: #1f4e9c; border: 1px solid #b7cdf5; }
.est { color: var(--muted); }
details { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; padding: 4px 10px; }
details[open] { padding-bottom: 10px; }
summary { cursor: pointer; font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; margin-top: 8px; }
.charts figure { margin: 0; }
figcaption { font-size: 12px; color: var(--muted); margin-bottom: 2px; }
svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--fg); }
.samples { font-size: 12px; }
.samples code { background: var(--bg2); padding: 0 4px; border-radius: 3px; margin-right: 4px; white-space: pre-wrap; }
nav ul { columns: 3 220px; padding-left: 18px; }
@media print { details { break-inside: avoid; } details:not([open]) > :not(summary) { display: block; } }
"#;

/// The HTML text of the report.
pub fn render(p: &SnapshotProfile) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let label = p
        .snapshot_label
        .as_deref()
        .map(|l| format!(" — {}", escape(l)))
        .unwrap_or_default();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Ferry profile: snapshot {}{}</title>\n<style>{}</style>\n</head>\n<body>\n",
        p.snapshot, label, STYLE
    );
    let _ = writeln!(
        h,
        "<header>\n<h1>Profile of snapshot {}{}</h1>\n<p class=\"meta\">content sha256 <code>{}</code> · ferry {} · profile format {} · took {} ms</p>\n</header>",
        p.snapshot,
        label,
        escape(&p.snapshot_content_sha256),
        escape(&p.ferry_version),
        p.format,
        thousands(p.duration_ms)
    );
    overview(&mut h, p);
    for (i, t) in p.tables.iter().enumerate() {
        table_section(&mut h, p, i, t);
    }
    h.push_str("</body>\n</html>\n");
    h
}

fn overview(h: &mut String, p: &SnapshotProfile) {
    let rows: u64 = p.tables.iter().map(|t| t.rows).sum();
    let columns: usize = p.tables.iter().map(|t| t.columns.len()).sum();
    let phi: usize = p
        .tables
        .iter()
        .flat_map(|t| &t.columns)
        .filter(|c| c.phi.is_some())
        .count();
    h.push_str("<section id=\"overview\">\n<h2>Overview</h2>\n<div class=\"cards\">\n");
    for (n, what) in [
        (thousands(p.tables.len() as u64), "tables"),
        (thousands(rows), "rows"),
        (thousands(columns as u64), "columns"),
        (thousands(phi as u64), "PHI columns"),
        (
            thousands(p.foreign_keys.len() as u64),
            "foreign key candidates",
        ),
    ] {
        let _ = writeln!(h, "<div class=\"card\"><b>{n}</b>{what}</div>");
    }
    h.push_str("</div>\n");
    let o = &p.options;
    let suppression = if o.small_count_threshold == 0 {
        "small-count suppression off".to_string()
    } else {
        format!(
            "values seen fewer than {} times are never shown",
            o.small_count_threshold
        )
    };
    let samples = if o.samples {
        format!(
            "top values (up to {} per column) and samples included",
            o.top_values
        )
    } else {
        "no top values, samples or min/max of PHI columns (profiled with --no-samples)".to_string()
    };
    let _ = writeln!(
        h,
        "<p class=\"muted\">Settings: {samples}; {suppression}; distinct values counted exactly up to {}, estimated above.</p>",
        thousands(o.exact_distinct_limit)
    );

    h.push_str(
        "<table>\n<thead><tr><th>table</th><th>source name</th><th>rows</th><th>columns</th>\
         <th>PHI columns</th><th>declared primary key</th><th>candidate keys</th></tr></thead>\n<tbody>\n",
    );
    for (i, t) in p.tables.iter().enumerate() {
        let phi = t.columns.iter().filter(|c| c.phi.is_some()).count();
        let source = if t.source_name != t.name {
            escape(&t.source_name)
        } else {
            String::new()
        };
        let _ = writeln!(
            h,
            "<tr><td><a href=\"#t{i}\">{}</a></td><td>{source}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(&t.name),
            thousands(t.rows),
            t.columns.len(),
            phi,
            escape(&t.declared_primary_key.join(", ")),
            escape(&t.candidate_keys.join(", ")),
        );
    }
    h.push_str("</tbody>\n</table>\n");

    h.push_str("<h3>Candidate foreign keys</h3>\n");
    if p.foreign_keys.is_empty() {
        h.push_str("<p class=\"muted\">None found.</p>\n");
    } else {
        h.push_str(
            "<table>\n<thead><tr><th>column</th><th>references</th><th>values</th><th>matched</th>\
             <th>share</th><th>orphans</th></tr></thead>\n<tbody>\n",
        );
        for fk in &p.foreign_keys {
            let _ = writeln!(
                h,
                "<tr><td>{}.{}</td><td>{}.{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape(&fk.table),
                escape(&fk.column),
                escape(&fk.ref_table),
                escape(&fk.ref_column),
                thousands(fk.values),
                thousands(fk.matched),
                percent(fk.share),
                thousands(fk.orphans),
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</section>\n");
}

fn table_section(h: &mut String, p: &SnapshotProfile, index: usize, t: &TableProfile) {
    let _ = writeln!(h, "<section id=\"t{index}\">\n<h2>{}</h2>", escape(&t.name));
    let mut facts = vec![format!("{} rows", thousands(t.rows))];
    if t.source_name != t.name {
        facts.push(format!("source name {}", escape(&t.source_name)));
    }
    if !t.declared_primary_key.is_empty() {
        facts.push(format!(
            "declared primary key {}",
            escape(&t.declared_primary_key.join(", "))
        ));
    }
    if !t.candidate_keys.is_empty() {
        facts.push(format!(
            "candidate keys {}",
            escape(&t.candidate_keys.join(", "))
        ));
    }
    let _ = writeln!(h, "<p class=\"muted\">{}</p>", facts.join(" · "));
    h.push_str(
        "<table>\n<thead><tr><th>column</th><th>declared</th><th>inferred</th><th>PHI</th>\
         <th>filled</th><th>non-null</th><th>nulls</th><th>blanks</th><th>distinct</th>\
         <th>min</th><th>max</th><th>length</th><th>formats</th></tr></thead>\n<tbody>\n",
    );
    for c in &t.columns {
        let key = if t.candidate_keys.contains(&c.name) || t.declared_primary_key.contains(&c.name)
        {
            " <span class=\"badge key\">key</span>"
        } else {
            ""
        };
        let distinct = if c.distinct.exact {
            thousands(c.distinct.count)
        } else {
            format!(
                "<span class=\"est\">~</span>{}",
                thousands(c.distinct.count)
            )
        };
        let length = match (c.length.min, c.length.max, c.length.mean) {
            (Some(a), Some(b), Some(m)) if m.is_finite() => format!("{a}–{b} (mean {m:.1})"),
            (Some(a), Some(b), _) => format!("{a}–{b}"),
            _ => String::new(),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}{key}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"v\">{}</td><td class=\"v\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&c.name),
            escape(c.declared_type.as_deref().unwrap_or("")),
            inferred_name(c.inferred_type),
            phi_badge(c),
            fill_bar(t.rows, c),
            thousands(c.non_null),
            thousands(c.nulls),
            thousands(c.blanks),
            distinct,
            range_end(c.min.as_deref(), c.min_suppressed, p),
            range_end(c.max.as_deref(), c.max_suppressed, p),
            length,
            escape(&formats_summary(&c.formats)),
        );
    }
    h.push_str("</tbody>\n</table>\n");
    for c in &t.columns {
        column_details(h, p, t, c);
    }
    h.push_str("</section>\n");
}

/// A min or max cell: the value, or why the profile left it out (in muted text).
fn range_end(value: Option<&str>, suppressed: Option<Suppressed>, p: &SnapshotProfile) -> String {
    match (value, suppressed) {
        (Some(v), _) => esc_cut(v, CELL_CHARS),
        (None, Some(why)) => format!(
            "<span class=\"muted\">{}</span>",
            escape(&why.note(&p.options))
        ),
        (None, None) => String::new(),
    }
}

fn phi_badge(c: &ColumnProfile) -> String {
    match c.phi {
        Some(k) => format!("<span class=\"badge phi\">PHI: {}</span>", phi_name(k)),
        None => String::new(),
    }
}

/// A small bar: the share of rows holding a non-blank value.
fn fill_bar(rows: u64, c: &ColumnProfile) -> String {
    let filled = c.non_null.saturating_sub(c.blanks);
    let share = if rows == 0 {
        0.0
    } else {
        (filled as f64 / rows as f64).clamp(0.0, 1.0)
    };
    let w = (share * 60.0).round();
    format!(
        "<svg width=\"96\" height=\"12\" role=\"img\" aria-label=\"{pct} of rows filled\"><title>{pct} of rows hold a non-blank value</title><rect x=\"0\" y=\"1\" width=\"60\" height=\"10\" fill=\"#e8ecf0\"/><rect x=\"0\" y=\"1\" width=\"{w}\" height=\"10\" fill=\"#4472c4\"/><text x=\"64\" y=\"10\">{pct}</text></svg>",
        pct = escape(&percent(share))
    )
}

fn column_details(h: &mut String, p: &SnapshotProfile, t: &TableProfile, c: &ColumnProfile) {
    let _ = writeln!(
        h,
        "<details><summary>{} <span class=\"muted\">{}</span> {}</summary>\n<div class=\"charts\">",
        escape(&c.name),
        inferred_name(c.inferred_type),
        phi_badge(c)
    );
    if !p.options.samples {
        h.push_str("<p class=\"muted\">Values not included: profiled with --no-samples.</p>\n");
    } else if !c.top_values.is_empty() {
        let approx = if c.top_values_exact { "" } else { "~" };
        let bars: Vec<Bar> = c
            .top_values
            .iter()
            .map(|v| Bar {
                label: if v.value.is_empty() {
                    "(empty text)".to_string()
                } else {
                    v.value.clone()
                },
                value: v.count as f64,
                text: format!(
                    "{approx}{} ({})",
                    thousands(v.count),
                    percent(if t.rows == 0 {
                        0.0
                    } else {
                        v.count as f64 / t.rows as f64
                    })
                ),
            })
            .collect();
        let caption = if c.top_values_exact {
            "Top values (count, share of rows)".to_string()
        } else {
            "Top values (estimated counts, share of rows)".to_string()
        };
        h.push_str(&bar_chart(&caption, &bars));
    } else if c.non_null > 0 {
        let why = if p.options.small_count_threshold > 0 {
            format!(
                "No value was seen at least {} times.",
                p.options.small_count_threshold
            )
        } else {
            "No top values kept.".to_string()
        };
        let _ = writeln!(h, "<p class=\"muted\">{}</p>", escape(&why));
    }
    if !c.formats.is_empty() {
        let bars: Vec<Bar> = c
            .formats
            .iter()
            .map(|f| Bar {
                label: f.format.clone(),
                value: if f.share.is_finite() { f.share } else { 0.0 },
                text: format!("{} ({})", percent(f.share), thousands(f.count)),
            })
            .collect();
        h.push_str(&bar_chart("Formats (share of non-blank values)", &bars));
    }
    h.push_str("</div>\n");
    if !c.samples.is_empty() {
        h.push_str("<p class=\"samples\">Samples: ");
        for s in &c.samples {
            let _ = write!(h, "<code>{}</code>", esc_cut(s, CELL_CHARS));
        }
        h.push_str("</p>\n");
    }
    h.push_str("</details>\n");
}

struct Bar {
    label: String,
    value: f64,
    text: String,
}

/// A horizontal bar chart as inline SVG.
fn bar_chart(caption: &str, bars: &[Bar]) -> String {
    const LABEL_W: f64 = 190.0;
    const BAR_W: f64 = 240.0;
    const ROW_H: f64 = 18.0;
    const TEXT_W: f64 = 110.0;
    let max = bars
        .iter()
        .map(|b| b.value)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let width = LABEL_W + BAR_W + TEXT_W;
    let height = ROW_H * bars.len() as f64 + 4.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<figure><figcaption>{}</figcaption><svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\">",
        escape(caption),
        escape(caption)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = 2.0 + ROW_H * i as f64;
        let w = if max > 0.0 && b.value.is_finite() {
            (b.value / max * BAR_W).max(1.0)
        } else {
            0.0
        };
        let _ = write!(
            s,
            "<g><title>{}</title><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{LABEL_W}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
            esc_cut(&b.label, TOOLTIP_CHARS),
            LABEL_W - 6.0,
            y + 12.0,
            esc_cut(&b.label, LABEL_CHARS),
            y + 2.0,
            ROW_H - 5.0,
            if i == 0 { "#4472c4" } else { "#6f93d6" },
            LABEL_W + w + 4.0,
            y + 12.0,
            escape(&b.text),
        );
    }
    s.push_str("</svg></figure>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_quotes_and_controls() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>\u{0}"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;\u{FFFD}"
        );
    }

    #[test]
    fn bar_chart_handles_zero_and_nan_values() {
        let bars = vec![
            Bar {
                label: "a".into(),
                value: 0.0,
                text: "0".into(),
            },
            Bar {
                label: "b".into(),
                value: f64::NAN,
                text: "?".into(),
            },
        ];
        let svg = bar_chart("c", &bars);
        assert!(svg.contains("<svg"));
        assert!(!svg.contains("NaN"), "{svg}");
    }
}
