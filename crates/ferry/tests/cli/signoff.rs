//! `ferry sample`, `ferry sample record` and `ferry report` on a generated clinic migrated with
//! the module library (`ferry demo`).

use super::workdir::Workdir;

/// A demo project (generated clinic, staged, migrated once: run 1 of snapshot 1).
fn demo() -> Workdir {
    let wd = Workdir::new();
    wd.run(&["demo", "--patients", "40", "--dir", "demo", "-q"])
        .ok();
    wd
}

fn in_demo<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["-C", "demo"];
    all.extend_from_slice(args);
    all
}

/// The patient keys of a verdict form, in order.
fn form_keys(wd: &Workdir, form: &str) -> Vec<String> {
    let text = std::fs::read_to_string(wd.join(form)).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().to_string())
        .collect()
}

/// Headings, table headers, list items and badges of a page, one per line (the structure, with
/// no timings or dates: those are in table cells and paragraphs).
fn outline(html: &str) -> String {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        let Some(tag_end) = rest.find('>') else { break };
        let tag = &rest[1..tag_end];
        let name = tag.split_whitespace().next().unwrap_or("");
        if matches!(name, "h1" | "h2" | "h3" | "th" | "li") || tag.contains("class=\"badge") {
            let close = format!("</{name}>");
            let body = &rest[tag_end + 1..];
            let end = body.find(&close).unwrap_or(body.len());
            let mut text = String::new();
            let mut in_tag = false;
            for ch in body[..end].chars() {
                match ch {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            out.push(format!(
                "{name}: {}",
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
        rest = &rest[tag_end + 1..];
    }
    out.join("\n")
}

#[test]
fn sample_is_seeded_stratified_and_shows_legacy_rows_beside_resources() {
    let wd = demo();
    let out = wd
        .run(&in_demo(&["sample", "--patients", "6", "--seed", "11"]))
        .ok();
    assert!(out.contains("Sample packet 1 of run 1"), "{out}");
    assert!(
        out.contains("PHI"),
        "the output says the packet is PHI: {out}"
    );
    assert!(!out.contains("(0 with exceptions)"), "stratified: {out}");
    let first = form_keys(&wd, "demo/reports/sample-0001-verdicts.csv");
    assert_eq!(first.len(), 6);
    // Same seed, same patients; another seed, others.
    wd.run(&in_demo(&[
        "sample",
        "--patients",
        "6",
        "--seed",
        "11",
        "-q",
    ]))
    .ok();
    assert_eq!(
        form_keys(&wd, "demo/reports/sample-0002-verdicts.csv"),
        first
    );
    wd.run(&in_demo(&[
        "sample",
        "--patients",
        "6",
        "--seed",
        "12",
        "-q",
    ]))
    .ok();
    assert_ne!(
        form_keys(&wd, "demo/reports/sample-0003-verdicts.csv"),
        first
    );

    let html = std::fs::read_to_string(wd.join("demo/reports/sample-0001.html")).unwrap();
    assert!(html.contains("Contains patient data (PHI)"));
    assert!(!html.contains("<script"), "no script");
    // One section per patient, with tick boxes, legacy rows and the resources made of them.
    assert_eq!(html.matches("<section class=\"patient\"").count(), 6);
    assert!(html.contains("class=\"box\""));
    assert!(
        html.contains("legacy patients row"),
        "the patient's own row"
    );
    assert!(
        html.contains("Patient <code>"),
        "the migrated Patient beside it"
    );
    // Within each patient: allergies, medications, problems, labs, then the rest.
    for section in html.split("<section class=\"patient\"").skip(1) {
        let at = |t: &str| section.find(&format!("<h3>{t} ("));
        let order: Vec<usize> = ["Patient", "Allergies", "Medications", "Problems", "Labs"]
            .iter()
            .filter_map(|t| at(t))
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "group order in {section:.300}"
        );
        if let (Some(labs), Some(vitals)) = (at("Labs"), at("vitals")) {
            assert!(labs < vitals, "labs before the rest");
        }
    }
}

/// A chronological group: the dates shown on its items never go backwards.
#[test]
fn items_of_a_group_are_chronological() {
    let wd = demo();
    wd.run(&in_demo(&[
        "sample",
        "--patients",
        "10",
        "--seed",
        "3",
        "-q",
    ]))
    .ok();
    let html = std::fs::read_to_string(wd.join("demo/reports/sample-0001.html")).unwrap();
    let mut checked = 0;
    for group in html.split("<h3>").skip(1) {
        let dates: Vec<&str> = group
            .split("<div class=\"muted\">legacy ")
            .skip(1)
            .filter_map(|item| {
                let head = item.split("</div>").next()?;
                head.split(" · ").nth(1)
            })
            .collect();
        // Undated items come last, so compare the dated prefix.
        assert!(
            dates.windows(2).all(|w| w[0] <= w[1]),
            "not chronological: {dates:?}"
        );
        checked += dates.len();
    }
    assert!(checked > 20, "dates were found: {checked}");
}

#[test]
fn recording_verdicts_checks_every_line_and_the_report_shows_them() {
    let wd = demo();
    wd.run(&in_demo(&[
        "sample",
        "--patients",
        "3",
        "--seed",
        "5",
        "-q",
    ]))
    .ok();
    let keys = form_keys(&wd, "demo/reports/sample-0001-verdicts.csv");
    // A bad form: a verdict that is not accept/reject, an unknown patient, no reviewer.
    wd.write(
        "bad.csv",
        format!(
            "packet,patient,verdict,reviewer,comment\n1,{},perhaps,Dr A,\n1,no-such-patient,accept,Dr A,\n1,{},accept,,\n",
            keys[0], keys[1]
        ),
    );
    let err = wd
        .run(&in_demo(&["sample", "record", "bad.csv"]))
        .fails_with(1);
    assert!(err.contains("line 2, column `verdict`"), "{err}");
    assert!(err.contains("line 3, column `patient`"), "{err}");
    assert!(err.contains("line 4, column `reviewer`"), "{err}");
    assert!(
        !err.contains("perhaps") && !err.contains("no-such-patient"),
        "no values: {err}"
    );
    assert!(err.contains("nothing was recorded"), "{err}");

    wd.write(
        "good.csv",
        format!(
            "packet,patient,verdict,reviewer,comment\n1,{},accept,Dr A. Jones,\n1,{},reject,Dr A. Jones,\"allergy missing, see <chart>\"\n1,{},,,\n",
            keys[0], keys[1], keys[2]
        ),
    );
    let out = wd.run(&in_demo(&["sample", "record", "good.csv"])).ok();
    assert!(out.contains("Recorded 2 verdicts of packet 1"), "{out}");
    assert!(out.contains("1 accepted, 1 rejected, 1 pending"), "{out}");

    let out = wd.run(&in_demo(&["report"])).ok();
    assert!(out.contains("NO-GO"), "{out}");
    assert!(
        out.contains(&format!("rejected the chart of patient {}", keys[1])),
        "{out}"
    );
    let html = std::fs::read_to_string(wd.join("demo/reports/signoff-0001.html")).unwrap();
    assert!(html.contains("Dr A. Jones"));
    assert!(
        html.contains("allergy missing, see &lt;chart&gt;"),
        "escaped comment"
    );
    assert!(html.contains("1 accepted") && html.contains("1 pending"));
}

#[test]
fn report_without_verification_is_no_go_with_the_checklist_books_and_signatures() {
    let wd = demo();
    // The demo verified its run 1; run 2 is not verified.
    wd.run(&in_demo(&["run", "--snapshot", "1", "-q"])).ok();
    let out = wd.run(&in_demo(&["report"])).ok();
    assert!(out.contains("Decision for run 2: NO-GO"), "{out}");
    assert!(out.contains("run 2 was not verified"), "{out}");
    let html = std::fs::read_to_string(wd.join("demo/reports/signoff-0002.html")).unwrap();
    assert!(html.contains("NOT VERIFIED"));
    assert!(
        !html.contains("<script") && !html.contains("src=\"http"),
        "offline"
    );
    // Snapshot file sha256s are shown.
    let sha = wd.run(&in_demo(&["snapshots", "1", "--json"])).ok();
    let s: serde_json::Value = serde_json::from_str(&sha).unwrap();
    let file_sha = s["files"][0]["sha256"].as_str().unwrap().to_string();
    assert!(
        html.contains(&file_sha),
        "file sha256 {file_sha} in the report"
    );
    insta::assert_snapshot!(outline(&html));
}

#[test]
fn report_compares_rehearsal_and_go_live_and_shows_the_verification() {
    let wd = demo();
    wd.run(&in_demo(&[
        "run",
        "--kind",
        "rehearsal",
        "--snapshot",
        "1",
        "-q",
    ]))
    .ok();
    // The verification's own exit code says go or no-go; either way it is recorded.
    let _ = wd.run(&in_demo(&["verify", "--run", "2", "-q"]));
    let out = wd
        .run(&in_demo(&[
            "report",
            "--run",
            "1",
            "--run",
            "2",
            "--out",
            "signoff.html",
        ]))
        .ok();
    assert!(out.contains("Decision for run 2"), "{out}");
    assert!(!out.contains("run 2 was not verified"), "{out}");
    let html = std::fs::read_to_string(wd.join("signoff.html")).unwrap();
    assert!(html.contains("run 1 (iteration)") && html.contains("run 2 (rehearsal)"));
    assert!(
        html.contains("<th colspan=\"2\">delta</th>"),
        "a delta column"
    );
    assert!(
        html.contains("Module allergies"),
        "a checklist row per module"
    );
    assert!(
        html.contains("<td>counts</td>"),
        "the verification's checks"
    );
    assert!(html.contains("Name") && html.contains("Signature") && html.contains("Date"));
}

#[test]
fn sampling_refuses_output_that_a_later_run_replaced() {
    let wd = demo();
    let path = wd.join("demo/output/latest/Patient.ndjson");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let first = text.lines().next().unwrap().to_string();
    text.push_str(&first);
    text.push('\n');
    std::fs::write(&path, text).unwrap();
    let err = wd
        .run(&in_demo(&["sample", "--patients", "2", "--seed", "1"]))
        .fails_with(1);
    assert!(err.contains("Patient.ndjson"), "{err}");
    assert!(
        err.contains("a later run replaced the output folder"),
        "{err}"
    );
    assert!(
        !wd.join("demo/reports/sample-0001.html").exists(),
        "no packet written"
    );
    let report = wd.run(&in_demo(&["report"])).ok();
    assert!(
        !report.contains("sample packet"),
        "no packet recorded: {report}"
    );
}
