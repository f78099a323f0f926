use super::*;

fn run(id: u64, kind: &str) -> RunView {
    let modules = vec![BooksRow {
        module: "labs".into(),
        duration_ms: 1200,
        source_rows: 10,
        migrated: 7,
        excluded: 1,
        exceptions: 2,
        resources: 7,
        balanced: true,
        migrated_by_decision: 0,
        excluded_by_decision: 0,
        unchanged: 0,
        new_rows: 0,
        changed: 0,
        deleted: 0,
    }];
    RunView {
        id,
        kind: kind.into(),
        base: None,
        snapshot: 1,
        started_at: "2025-01-01T00:00:00Z".into(),
        duration_ms: 2000,
        status: "ok".into(),
        ok: true,
        totals: modules[0].clone(),
        modules,
        outputs: vec![],
        exceptions: vec![ExceptionRow {
            module: "labs".into(),
            reason: "code not in concept map `lab-codes`".into(),
            count: 2,
        }],
        exceptions_total: 2,
        decisions: vec![],
        verifications: vec![],
        target_verifications: vec![],
        loads: vec![],
        samples: vec![],
    }
}

fn on_target(
    id: u64,
    target: &str,
    verdict: &str,
    summary: &str,
) -> ferry_store::TargetVerificationRecord {
    ferry_store::TargetVerificationRecord {
        id,
        run_id: 2,
        target: target.into(),
        base_url: "https://ehr.example.org/fhir".into(),
        started_at: "2025-01-03T00:00:00Z".into(),
        duration_ms: 700,
        verdict: verdict.into(),
        summary_json: summary.into(),
        actor: Some("ana".into()),
    }
}

fn verified(verdict: &str, summary: &str) -> VerificationView {
    verification_view(&VerificationInput {
        id: 1,
        run_id: 2,
        started_at: "2025-01-02T00:00:00Z".into(),
        duration_ms: 900,
        verdict: verdict.into(),
        summary_json: summary.into(),
    })
}

const GO_SUMMARY: &str = r#"{"run": 2, "verdict": "go", "checks": [{"name": "counts", "status": "pass", "summary": "all balance", "problems": 0, "examples": []}], "thresholds": [{"name": "exceptions per module", "limit": "5%", "actual": "2%", "ok": true}]}"#;

fn sample(verdicts: &[(&str, &str)]) -> SampleView {
    let rows: Vec<VerdictRow> = verdicts
        .iter()
        .map(|(k, v)| VerdictRow {
            patient_key: k.to_string(),
            verdict: v.to_string(),
            reviewer: if *v == "pending" { "" } else { "Dr A" }.into(),
            comment: String::new(),
            recorded_at: String::new(),
        })
        .collect();
    let count = |x: &str| rows.iter().filter(|r| r.verdict == x).count();
    SampleView {
        packet: 1,
        seed: 0,
        created_at: String::new(),
        patients: rows.len(),
        accepted: count("accept"),
        rejected: count("reject"),
        pending: count("pending"),
        verdicts: rows,
    }
}

#[test]
fn an_unverified_run_is_no_go() {
    let d = decide(&[run(1, "rehearsal")]);
    assert!(!d.go);
    assert!(d.blockers[0].contains("not verified"), "{d:?}");
}

#[test]
fn a_verified_run_with_accepted_samples_is_go() {
    let mut r = run(2, "go-live");
    r.verifications.push(verified("go", GO_SUMMARY));
    r.samples
        .push(sample(&[("10", "accept"), ("11", "accept")]));
    let d = decide(&[run(1, "rehearsal"), r]);
    assert!(d.go, "{d:?}");
    assert_eq!(d.run, 2);
    assert!(
        d.cautions
            .iter()
            .any(|c| c.contains("run 1 (rehearsal) was not verified")),
        "{d:?}"
    );
}

#[test]
fn the_latest_verification_on_each_target_counts_and_a_no_go_one_blocks() {
    let bad = r#"{"counts": [{"resource_type": "Patient", "run": 10, "server": 9}], "read_back": 10, "references_checked": 4, "problem_count": 1,
        "searches": [{"name": "diabetics", "ok": false, "summary": "snapshot (SQL) 5, server (FHIR search) 4"}]}"#;
    let good = r#"{"counts": [{"resource_type": "Patient", "run": 10, "server": 10}], "read_back": 10, "references_checked": 4, "problem_count": 0, "searches": []}"#;
    let mut r = run(2, "go-live");
    r.verifications.push(verified("go", GO_SUMMARY));
    r.samples.push(sample(&[("10", "accept")]));
    // On `ehr` a NO-GO was followed by a GO; on `test` the latest is NO-GO.
    r.target_verifications = target_verification_views(&[
        on_target(1, "ehr", "no-go", bad),
        on_target(2, "test", "no-go", bad),
        on_target(3, "ehr", "go", good),
    ]);
    assert_eq!(r.target_verifications.len(), 2);
    let ehr = &r.target_verifications[0];
    assert_eq!(
        (ehr.target.as_str(), ehr.id, ehr.count, ehr.go),
        ("ehr", 3, 2, true)
    );
    let test = &r.target_verifications[1];
    let failed: Vec<&str> = test
        .checks
        .iter()
        .filter(|c| c.status == "fail")
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, vec!["counts", "read back", "search:diabetics"]);
    let d = decide(&[r.clone()]);
    assert!(!d.go, "{d:?}");
    assert!(
        d.blockers.iter().any(|b| b.contains(
            "target `test` answered no-go: failed checks counts, read back, search:diabetics"
        )),
        "{d:?}"
    );
    r.target_verifications.pop();
    assert!(decide(&[r]).go);
}

#[test]
fn verification_no_go_blocks_and_names_the_failed_checks() {
    let mut r = run(2, "go-live");
    r.verifications.push(verified(
        "no-go",
        r#"{"checks": [{"name": "references", "status": "fail", "summary": "2 dangling", "problems": 2}]}"#,
    ));
    let d = decide(&[r]);
    assert!(!d.go);
    assert!(d.blockers[0].contains("failed checks references"), "{d:?}");
}

#[test]
fn a_rejected_chart_blocks_even_when_verified() {
    let mut r = run(2, "go-live");
    r.verifications.push(verified("go", GO_SUMMARY));
    r.samples.push(sample(&[
        ("10", "accept"),
        ("11", "reject"),
        ("12", "pending"),
    ]));
    let d = decide(&[r]);
    assert!(!d.go);
    assert!(
        d.blockers
            .iter()
            .any(|b| b.contains("rejected the chart of patient 11")),
        "{d:?}"
    );
    assert!(
        d.cautions
            .iter()
            .any(|c| c.contains("1 of 3 charts have no verdict")),
        "{d:?}"
    );
}

#[test]
fn a_failed_run_or_unbalanced_books_block() {
    let mut r = run(2, "go-live");
    r.verifications.push(verified("go", GO_SUMMARY));
    r.ok = false;
    r.status = "failed: disk full".into();
    r.modules[0].balanced = false;
    let d = decide(&[r]);
    assert_eq!(d.blockers.len(), 2, "{d:?}");
}

#[test]
fn an_unreadable_summary_is_said_and_the_verdict_still_counts() {
    let v = verified("go", "not json");
    assert!(v.go);
    assert!(v.unreadable.is_some());
}

#[test]
fn the_checklist_compares_runs_with_deltas() {
    let mut a = run(1, "rehearsal");
    let mut b = run(2, "go-live");
    b.modules[0].duration_ms = 1000;
    b.modules[0].source_rows = 12;
    a.verifications.push(verified("go", GO_SUMMARY));
    b.verifications.push(verified("go", GO_SUMMARY));
    let mut snaps = BTreeMap::new();
    snaps.insert(
        1,
        SnapshotView {
            id: 1,
            label: None,
            created_at: String::new(),
            duration_ms: 500,
            tables: 1,
            rows: 10,
            content_sha256: String::new(),
            files: vec![],
        },
    );
    let rows = checklist(&[a, b], &snaps);
    let steps: Vec<&str> = rows.iter().map(|r| r.step.as_str()).collect();
    assert_eq!(
        steps,
        [
            "Stage the snapshot",
            "Module labs",
            "Migration run (all modules, output written)",
            "Verification"
        ]
    );
    assert_eq!(rows[1].delta_ms, Some(-200));
    assert_eq!(rows[1].delta_count, Some(2));
    assert_eq!(rows[3].delta_ms, Some(0));
}

fn report(runs: Vec<RunView>) -> SignoffReport {
    let decision = decide(&runs);
    SignoffReport {
        project: "St. <Mary's> & Co".into(),
        generated_at: "[date]".into(),
        ferry_version: "[version]".into(),
        compare: runs.len() > 1,
        checklist: checklist(&runs, &BTreeMap::new()),
        runs,
        snapshots: vec![],
        decision,
        runbook: None,
        style: String::new(),
        signatures: SIGNATURES.to_vec(),
    }
}

#[test]
fn the_runbook_section_shows_every_step_who_confirmed_it_and_the_chart() {
    use crate::runbook::{RunbookInput, RunbookStepInput, section};
    let step = |n: u64, name: &str, kind: &str, ms: u64, by: &str| RunbookStepInput {
        ordinal: n,
        name: name.into(),
        kind: kind.into(),
        what: format!("do <{name}>"),
        state: "done".into(),
        started_at: "2026-12-04T10:00:00Z".into(),
        finished_at: "2026-12-04T10:01:00Z".into(),
        duration_ms: Some(ms),
        actor: "ana".into(),
        confirmed_by: by.into(),
        owner: if by.is_empty() {
            String::new()
        } else {
            "Client IT".into()
        },
        ..Default::default()
    };
    let rb = |id: u64, kind: &str, run_ms: u64| RunbookInput {
        id,
        kind: kind.into(),
        status: "done".into(),
        started_at: "2026-12-04T10:00:00Z".into(),
        actor: "ana".into(),
        window_ms: 60_000 + run_ms,
        steps: vec![
            step(1, "freeze", "manual", 60_000, "Sam & Co"),
            step(2, "run", "run", run_ms, ""),
        ],
    };
    let mut r = report(vec![run(1, "go-live")]);
    r.runbook = Some(section(
        rb(2, "go-live", 4_000),
        &[rb(1, "rehearsal", 9_000)],
    ));
    let html = render(&r).unwrap();
    assert!(html.contains("<h2>Runbook 2 (go-live)</h2>"), "{html}");
    assert!(html.contains("total window 1 min 04 s"), "{html}");
    assert!(html.contains("runbook 1 (rehearsal, done)"), "{html}");
    assert!(html.contains("do &lt;freeze&gt;"), "escaped: {html}");
    assert!(
        html.contains("<td>Client IT</td><td>Sam &amp; Co</td>"),
        "{html}"
    );
    assert!(
        html.contains("<svg") && html.contains("runbook 2 (go-live), this one"),
        "{html}"
    );
    assert!(!html.contains("<script"));
}

/// The text outline of a page: headings, table headers, banner and badges, one per line.
pub(crate) fn outline(html: &str) -> String {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        let tag_end = rest.find('>').unwrap_or(rest.len() - 1);
        let tag = &rest[1..tag_end];
        let name = tag.split_whitespace().next().unwrap_or("");
        let wanted = matches!(name, "h1" | "h2" | "h3" | "th" | "li")
            || tag.contains("class=\"banner")
            || tag.contains("class=\"badge");
        if wanted {
            let close = match name {
                "div" | "span" | "p" => format!("</{name}>"),
                _ => format!("</{name}>"),
            };
            let body_start = tag_end + 1;
            let end = rest[body_start..]
                .find(&close)
                .map(|e| body_start + e)
                .unwrap_or(rest.len());
            let mut text = String::new();
            let mut in_tag = false;
            for ch in rest[body_start..end].chars() {
                match ch {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            out.push(format!("{name}: {text}"));
        }
        rest = &rest[tag_end.min(rest.len() - 1) + 1..];
    }
    out.join("\n")
}

#[test]
fn report_structure_no_go_single_run() {
    let html = render(&report(vec![run(1, "rehearsal")])).unwrap();
    assert!(
        html.contains("St. &lt;Mary&#x27;s&gt; &amp; Co") || html.contains("St. &lt;Mary"),
        "escaped"
    );
    assert!(!html.contains("<script"), "no script");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no links out"
    );
    insta::assert_snapshot!(outline(&html));
}

#[test]
fn report_structure_go_two_runs() {
    let mut a = run(1, "rehearsal");
    a.verifications.push(verified("go", GO_SUMMARY));
    let mut b = run(2, "go-live");
    b.verifications.push(verified("go", GO_SUMMARY));
    b.samples
        .push(sample(&[("10", "accept"), ("11", "accept")]));
    let html = render(&report(vec![a, b])).unwrap();
    insta::assert_snapshot!(outline(&html));
}

/// A decision that matched nothing is a caution, not a blocker: the reviewer must look at it.
#[test]
fn a_stale_decision_is_a_caution_naming_it() {
    let mut r = run(1, "rehearsal");
    r.verifications.push(verified("go", GO_SUMMARY));
    r.samples.push(sample(&[("10", "accept")]));
    r.decisions = vec![
        ferry_store::DecisionUse {
            decision: "D-0001".into(),
            module: "labs".into(),
            action: "map".into(),
            rows: 3,
        },
        ferry_store::DecisionUse {
            decision: "D-0002".into(),
            module: "labs".into(),
            action: "exclude".into(),
            rows: 0,
        },
    ];
    let d = decide(&[r]);
    assert!(d.go, "{d:?}");
    let stale: Vec<&String> = d
        .cautions
        .iter()
        .filter(|c| c.contains("decision"))
        .collect();
    assert_eq!(
        stale,
        [
            "decision D-0002 (exclude in module labs) matched no row of run 1: review it in mappings/decisions.toml"
        ],
        "{d:?}"
    );
}
