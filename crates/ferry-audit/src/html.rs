//! The audit as one self-contained HTML page: no scripts, no external styles, fonts or images,
//! so it opens offline; every text is HTML-escaped.

use std::fmt::Write as _;
use std::path::Path;

use crate::{AuditError, AuditReport, Severity};

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "&#xFFFD;");
            }
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2329;max-width:80rem}\
h1{font-size:1.5rem}table{border-collapse:collapse;width:100%;margin:1rem 0}\
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}\
th{background:#f3f5f7}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.error{color:#fff;background:#c62828}.warning{color:#1d2329;background:#ffca28}.info{color:#fff;background:#1565c0}\
.sev{border-radius:.25rem;padding:0 .4rem;font-size:.8rem}code{font-size:.85rem}\
details{margin:.2rem 0}summary{cursor:pointer}.muted{color:#57606a}";

/// Renders the report as HTML.
pub fn render_html(report: &AuditReport) -> String {
    let mut h = String::new();
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Ferry audit of snapshot {id}</title><style>{STYLE}</style></head><body>\n\
         <h1>Audit of snapshot {id}</h1>\n<p class=\"muted\">{n} findings: {e} errors, {w} warnings, {i} notes. \
         Future dates judged against {today}. Took {ms} ms. Checks run: {checks}.</p>\n",
        id = report.snapshot,
        n = report.findings.len(),
        e = count(Severity::Error),
        w = count(Severity::Warning),
        i = count(Severity::Info),
        today = escape(&report.today),
        ms = report.duration_ms,
        checks = escape(&report.checks_run.join(", ")),
    );
    if report.findings.is_empty() {
        h.push_str("<p>No findings.</p>\n");
    } else {
        h.push_str(
            "<table><thead><tr><th>severity</th><th>check</th><th>table</th><th>column</th>\
             <th>count</th><th>details</th></tr></thead><tbody>\n",
        );
        for f in &report.findings {
            let sev = f.severity.as_str();
            let _ = write!(
                h,
                "<tr><td><span class=\"sev {sev}\">{sev}</span></td><td><code>{}</code></td>\
                 <td><code>{}</code></td><td><code>{}</code></td><td class=\"n\">{}</td><td>{}",
                escape(&f.check),
                escape(&f.table),
                escape(f.column.as_deref().unwrap_or("")),
                f.count,
                escape(&f.message),
            );
            if !f.breakdown.is_empty() {
                h.push_str("<details><summary>breakdown</summary><table>");
                for (k, v) in &f.breakdown {
                    let _ = write!(
                        h,
                        "<tr><td><code>{}</code></td><td class=\"n\">{v}</td></tr>",
                        escape(k)
                    );
                }
                h.push_str("</table></details>");
            }
            if !f.example_keys.is_empty() {
                let _ = write!(
                    h,
                    "<details><summary>{} example row key(s)</summary><table>",
                    f.example_keys.len()
                );
                for (n, k) in f.example_keys.iter().enumerate() {
                    let v = f
                        .example_values
                        .get(n)
                        .map(|v| format!("<td><code>{}</code></td>", escape(v)))
                        .unwrap_or_default();
                    let _ = write!(h, "<tr><td><code>{}</code></td>{v}</tr>", escape(k));
                }
                h.push_str("</table></details>");
            }
            h.push_str("</td></tr>\n");
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("</body></html>\n");
    h
}

/// Writes the report as one self-contained HTML file, atomically (`Contents::Phi` when it shows
/// values).
pub fn write_audit_html(
    report: &AuditReport,
    path: &Path,
    contents: ferry_core::atomic::Contents,
) -> Result<(), AuditError> {
    ferry_core::atomic::write(path, contents, render_html(report).as_bytes()).map_err(|e| {
        AuditError::Io {
            path: e.path,
            source: e.source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditConfig, Finding};

    #[test]
    fn html_escapes_everything_and_loads_nothing() {
        let report = AuditReport {
            snapshot: 1,
            findings: vec![Finding {
                check: "orphan".into(),
                severity: Severity::Error,
                table: "<script>alert(1)</script>".into(),
                column: Some("a&b".into()),
                count: 2,
                example_keys: vec!["\"k\"".into()],
                example_values: vec!["O'Brien".into()],
                message: "m<".into(),
                breakdown: Default::default(),
            }],
            checks_run: vec!["orphan".into()],
            duration_ms: 1,
            today: "2026-01-01".into(),
            config: AuditConfig::default(),
        };
        let h = render_html(&report);
        assert!(!h.contains("<script"));
        assert!(h.contains("&lt;script&gt;"));
        assert!(h.contains("a&amp;b"));
        assert!(h.contains("O&#39;Brien"));
        assert!(h.contains("&quot;k&quot;"));
        assert!(!h.contains("http://") && !h.contains("https://") && !h.contains("src="));
    }
}
