//! The dedupe report: JSON (for `ferry dedupe review` and tools) and a small self-contained HTML
//! page (no script, no network). Both hold normalised identity values: they are PHI and belong
//! in the reports folder, never in git or a ticket.

use crate::cluster::{Cluster, Status};
use crate::config::Field;
use crate::engine::{Explanation, Linkage, Model, ModelWarning, RuleStats};
use crate::record::RecordSet;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

pub const PHI_WARNING: &str = "This report holds patients' identity values (PHI). Keep it inside the project's protected reports folder; do not commit or share it.";

/// The report, serialised lazily: pairs and clusters are built one at a time while writing, so
/// a million-patient report never sits in memory.
#[derive(Serialize)]
pub struct Report<'a> {
    pub phi_warning: &'static str,
    /// When the report was written, UTC `YYYY-MM-DDTHH:MM:SSZ` (second in the file, so that
    /// [`created_at`] finds it without reading the pairs).
    pub created_at: String,
    pub snapshot: u64,
    /// The target export matched against (`--against`), if any.
    pub against: Option<String>,
    pub table: String,
    pub key: String,
    pub threshold: f64,
    pub records: u64,
    pub compared: u64,
    pub duration_ms: u64,
    /// Bytes of the compact records plus the largest block-sort buffer.
    pub memory_bytes: usize,
    pub prior_weight: f64,
    pub blocking: &'a [RuleStats],
    pub model: &'a Model,
    /// Comparisons EM could not train (they use their prior weights), with why and what to do.
    pub warnings: Vec<ModelWarning>,
    pub pairs: Pairs<'a>,
    pub clusters: Clusters<'a>,
}

#[derive(Debug, Serialize)]
pub struct PairReport {
    pub a: String,
    pub b: String,
    pub probability: f64,
    pub weight: f64,
    pub names_swapped: bool,
    pub cluster: Option<String>,
    pub comparisons: Vec<Explanation>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ClusterReport {
    pub id: String,
    pub status: String,
    pub extends: Option<String>,
    pub forced_links: usize,
    pub survivor: String,
    pub members: Vec<MemberReport>,
    /// Indices into `pairs`.
    pub pairs: Vec<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MemberReport {
    pub key: String,
    /// Non-empty identity fields.
    pub filled: u8,
    pub values: BTreeMap<String, String>,
}

/// What `ferry dedupe review` reads back from a report.
#[derive(Debug, Deserialize)]
pub struct ReviewView {
    pub snapshot: u64,
    pub table: String,
    pub key: String,
    pub clusters: Vec<ClusterReport>,
}

/// The pairs of a report, built on demand.
pub struct Pairs<'a> {
    set: &'a RecordSet,
    linkage: &'a Linkage,
    cluster_of: HashMap<usize, &'a str>,
}

impl Pairs<'_> {
    pub fn len(&self) -> usize {
        self.linkage.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.linkage.pairs.is_empty()
    }

    pub fn get(&self, k: usize) -> Option<PairReport> {
        let p = self.linkage.pairs.get(k)?;
        Some(PairReport {
            a: self.set.key(p.a).to_string(),
            b: self.set.key(p.b).to_string(),
            probability: p.probability,
            weight: p.weight,
            names_swapped: p.swapped,
            cluster: self.cluster_of.get(&k).map(|s| s.to_string()),
            comparisons: self.linkage.explain(self.set, p),
        })
    }
}

impl Serialize for Pairs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for k in 0..self.len() {
            if let Some(p) = self.get(k) {
                seq.serialize_element(&p)?;
            }
        }
        seq.end()
    }
}

/// The clusters of a report, built on demand.
pub struct Clusters<'a> {
    set: &'a RecordSet,
    clusters: &'a [Cluster],
    fields: &'a [Field],
}

impl Clusters<'_> {
    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<ClusterReport> {
        let c = self.clusters.get(i)?;
        let set = self.set;
        Some(ClusterReport {
            id: c.id.clone(),
            status: status_name(c.status).into(),
            extends: c.extends.clone(),
            forced_links: c.forced_links,
            survivor: set.key(c.survivor).to_string(),
            members: c
                .members
                .iter()
                .map(|&i| MemberReport {
                    key: set.key(i).to_string(),
                    filled: set.filled(i),
                    values: self
                        .fields
                        .iter()
                        .map(|f| (f.name().to_string(), set.value(i, *f)))
                        .filter(|(_, v)| !v.is_empty())
                        .collect(),
                })
                .collect(),
            pairs: c.pairs.clone(),
        })
    }
}

impl Serialize for Clusters<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for i in 0..self.len() {
            if let Some(c) = self.get(i) {
                seq.serialize_element(&c)?;
            }
        }
        seq.end()
    }
}

pub fn status_name(s: Status) -> &'static str {
    match s {
        Status::Pending => "pending",
        Status::Accepted => "accepted",
    }
}

/// Assembles the report.
#[allow(clippy::too_many_arguments)]
pub fn build<'a>(
    set: &'a RecordSet,
    linkage: &'a Linkage,
    clusters: &'a [Cluster],
    fields: &'a [Field],
    snapshot: u64,
    against: Option<String>,
    table: &str,
    key: &str,
    threshold: f64,
    duration_ms: u64,
) -> Report<'a> {
    let mut cluster_of: HashMap<usize, &'a str> = HashMap::new();
    for c in clusters {
        for &p in &c.pairs {
            cluster_of.insert(p, c.id.as_str());
        }
    }
    Report {
        phi_warning: PHI_WARNING,
        created_at: crate::decisions::now_utc(),
        snapshot,
        against,
        table: table.to_string(),
        key: key.to_string(),
        threshold,
        records: set.len() as u64,
        compared: linkage.compared,
        duration_ms,
        memory_bytes: linkage.peak_bytes,
        prior_weight: linkage.prior_weight(),
        blocking: &linkage.rules,
        model: &linkage.model,
        warnings: linkage.model.warnings(),
        pairs: Pairs {
            set,
            linkage,
            cluster_of,
        },
        clusters: Clusters {
            set,
            clusters,
            fields,
        },
    }
}

/// The `created_at` of a JSON report, read from its first 4 KiB (the field comes second, after
/// the PHI warning); `None` for reports written before the field existed.
pub fn created_at(path: &Path) -> Result<Option<String>, crate::LinkError> {
    use std::io::Read as _;
    let io = |e: std::io::Error| crate::LinkError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .map_err(io)?
        .take(4096)
        .read_to_end(&mut head)
        .map_err(io)?;
    let text = String::from_utf8_lossy(&head);
    const KEY: &str = "\"created_at\": \"";
    Ok(text.find(KEY).and_then(|at| {
        let rest = text.get(at + KEY.len()..)?;
        let end = rest.find('"')?;
        let t = rest.get(..end)?;
        (t.len() == 20 && t.ends_with('Z')).then(|| t.to_string())
    }))
}

/// Most clusters (or pairs, for `--against`) shown in the HTML page; the JSON has them all.
pub const HTML_LIMIT: usize = 2000;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// The HTML page: summary, model, blocking, then each cluster with its members' values and each
/// pair's per-comparison weights. For `--against`, the pairs alone.
pub fn html(r: &Report<'_>) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Ferry dedupe: snapshot {}</title>\
<style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:80em}}table{{border-collapse:collapse;margin:.5em 0}}\
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}}.phi{{background:#fee;border:1px solid #c00;padding:.5em}}.warn{{background:#ffd;border:1px solid #a80;padding:.5em 2em}}\
.pos{{color:#070}}.neg{{color:#a00}}section{{border-top:2px solid #888;margin-top:1.5em}}</style></head><body>",
        r.snapshot
    );
    let _ = write!(
        h,
        "<h1>Duplicate patients, snapshot {}</h1><p class=\"phi\">{}</p>",
        r.snapshot,
        esc(r.phi_warning)
    );
    let _ = write!(
        h,
        "<p>Table <code>{}</code> (key <code>{}</code>){}: {} records, {} pairs compared, {} pairs at or above {:.3}, {} clusters. Prior weight {:.2} bits.</p>",
        esc(&r.table),
        esc(&r.key),
        r.against
            .as_ref()
            .map(|a| format!(" against <code>{}</code>", esc(a)))
            .unwrap_or_default(),
        r.records,
        r.compared,
        r.pairs.len(),
        r.threshold,
        r.clusters.len(),
        r.prior_weight
    );
    if r.clusters.len() > HTML_LIMIT || (r.clusters.is_empty() && r.pairs.len() > HTML_LIMIT) {
        let _ = write!(
            h,
            "<p>This page shows the first {HTML_LIMIT}; the JSON report has them all.</p>"
        );
    }
    h.push_str("<h2>Blocking rules</h2><table><tr><th>rule</th><th>pairs</th><th>capped blocks</th><th>records in capped blocks</th><th>largest block</th></tr>");
    for b in r.blocking {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&b.rule),
            b.pairs,
            b.capped_blocks,
            b.capped_records,
            b.largest_block
        );
    }
    h.push_str("</table><h2>Model</h2>");
    if !r.warnings.is_empty() {
        h.push_str("<ul class=\"warn\">");
        for w in &r.warnings {
            let _ = write!(h, "<li>{}</li>", esc(&w.message));
        }
        h.push_str("</ul>");
    }
    h.push_str(
        "<table><tr><th>field</th><th>level</th><th>m</th><th>u</th><th>weight (bits)</th></tr>",
    );
    for f in &r.model.fields {
        for l in &f.levels {
            let _ = write!(
                h,
                "<tr><td>{}{}</td><td>{}</td><td>{:.4}</td><td>{:.6}</td><td>{:+.2}</td></tr>",
                f.field.name(),
                if f.trained { "" } else { " (untrained)" },
                esc(l.label),
                l.m,
                l.u,
                l.weight
            );
        }
    }
    h.push_str("</table>");
    let pair_table = |h: &mut String, idx: &mut dyn Iterator<Item = usize>| {
        h.push_str("<table><tr><th>pair</th><th>probability</th><th>weight</th><th>comparisons (level: bits)</th></tr>");
        for k in idx {
            let Some(p) = r.pairs.get(k) else { continue };
            let p = &p;
            let parts: Vec<String> = p
                .comparisons
                .iter()
                .map(|e| match e.level {
                    None => format!("{}: missing 0", e.field.name()),
                    Some(l) => format!(
                        "<span class=\"{}\">{}: {}{} {:+.2}</span>",
                        if e.weight >= 0.0 { "pos" } else { "neg" },
                        e.field.name(),
                        esc(l),
                        if e.term_frequency { " (tf)" } else { "" },
                        e.weight
                    ),
                })
                .collect();
            let _ = write!(
                h,
                "<tr><td>{} &harr; {}{}</td><td>{:.4}</td><td>{:+.2}</td><td>{}</td></tr>",
                esc(&p.a),
                esc(&p.b),
                if p.names_swapped {
                    " (names swapped)"
                } else {
                    ""
                },
                p.probability,
                p.weight,
                parts.join("; ")
            );
        }
        h.push_str("</table>");
    };
    if r.clusters.is_empty() {
        h.push_str("<h2>Pairs</h2>");
        pair_table(&mut h, &mut (0..r.pairs.len().min(HTML_LIMIT)));
    } else {
        h.push_str("<h2>Clusters</h2>");
    }
    for i in 0..r.clusters.len().min(HTML_LIMIT) {
        let Some(c) = r.clusters.get(i) else { continue };
        let c = &c;
        let _ = write!(
            h,
            "<section><h3 id=\"{id}\">{id} <small>({status}{ext}) survivor {surv}</small></h3><table><tr><th>key</th><th>filled</th>",
            id = esc(&c.id),
            status = esc(&c.status),
            ext = c
                .extends
                .as_ref()
                .map(|e| format!(", extends {}", esc(e)))
                .unwrap_or_default(),
            surv = esc(&c.survivor)
        );
        let mut cols: Vec<&String> = c.members.iter().flat_map(|m| m.values.keys()).collect();
        cols.sort();
        cols.dedup();
        for col in &cols {
            let _ = write!(h, "<th>{}</th>", esc(col));
        }
        h.push_str("</tr>");
        for m in &c.members {
            let _ = write!(h, "<tr><td>{}</td><td>{}</td>", esc(&m.key), m.filled);
            for col in &cols {
                let _ = write!(
                    h,
                    "<td>{}</td>",
                    esc(m.values.get(*col).map_or("", String::as_str))
                );
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
        pair_table(&mut h, &mut c.pairs.iter().copied());
        h.push_str("</section>");
    }
    h.push_str("</body></html>\n");
    h
}

/// Writes `dedupe-NNNN.json` and `.html` (or `dedupe-against-NNNN.*`) into `dir`, streaming.
pub fn write(
    r: &Report<'_>,
    dir: &Path,
    stem: &str,
) -> Result<(std::path::PathBuf, std::path::PathBuf), crate::LinkError> {
    use ferry_core::atomic::{self, Contents};
    let io = |e: atomic::FileError| crate::LinkError::Io {
        path: e.path,
        source: e.source,
    };
    std::fs::create_dir_all(dir).map_err(|e| crate::LinkError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let json = dir.join(format!("{stem}.json"));
    let page = dir.join(format!("{stem}.html"));
    // Atomic (a kill leaves the old report or the new one) and owner-only: the reports hold PHI.
    atomic::write_with(&json, Contents::Phi, |w| {
        serde_json::to_writer_pretty(&mut *w, r).map_err(std::io::Error::other)
    })
    .map_err(io)?;
    atomic::write(&page, Contents::Phi, html(r).as_bytes()).map_err(io)?;
    Ok((json, page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_values() {
        assert_eq!(esc("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
    }
}
