//! The HTML report: self-contained, escaped, with charts, showing only what the profile holds.

mod common;

use common::*;
use ferry_report::html::{render, write_profile_html};

#[test]
fn report_is_self_contained_escaped_and_has_charts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile.html");
    write_profile_html(&fixture(), &path).unwrap();
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "no script at all");
    assert!(!html.to_lowercase().contains("http"), "no links out");
    assert!(!html.contains("src="), "nothing loaded");
    assert!(
        !html.contains("@import") && !html.contains("url("),
        "no external CSS"
    );
    assert!(html.contains("<svg"));
    // Values with markup are escaped, never markup.
    assert!(!html.contains("<b>O'Brien"));
    assert!(html.contains("&lt;b&gt;O&#39;Brien &amp; Co&lt;/b&gt;"));
    assert!(html.contains("clinic &lt;export&gt; 2024"));
    assert!(!html.contains("<export>"));
    // Overview facts and PHI badges.
    assert!(html.contains("<b>3</b>tables"));
    assert!(html.contains("<b>3</b>PHI columns"));
    assert!(html.contains("<b>1</b>foreign key candidates"));
    assert!(html.contains("PHI: birth_date"));
    assert!(html.contains("values seen fewer than 5 times are never shown"));
    // An estimated distinct count is marked.
    assert!(html.contains("<span class=\"est\">~</span>12,345"));
}

#[test]
fn no_samples_profile_shows_no_values() {
    let mut p = fixture();
    p.options.samples = false;
    for t in &mut p.tables {
        for c in &mut t.columns {
            c.top_values.clear();
            c.samples.clear();
            if c.phi.is_some() {
                c.min = None;
                c.max = None;
            }
        }
    }
    let html = render(&p);
    assert!(!html.contains("Smith"));
    assert!(!html.contains("01/02/1931"));
    assert!(!html.contains("E11.9"));
    assert!(html.contains("profiled with --no-samples"));
}

#[test]
fn small_report_snapshot() {
    let mut p = fixture();
    p.tables.truncate(2);
    p.tables[1].columns.truncate(3);
    let html = render(&p);
    // The style sheet is left out of the snapshot; the structure and content are in it.
    let body = html.split("<body>").nth(1).unwrap();
    insta::assert_snapshot!(body);
}

#[test]
fn suppressed_min_and_max_say_why() {
    use ferry_profile::model::Suppressed;
    let mut p = fixture();
    let dob = p.tables[0]
        .columns
        .iter_mut()
        .find(|c| c.name == "dob")
        .unwrap();
    dob.min = None;
    dob.min_suppressed = Some(Suppressed::SmallCount);
    dob.max = None;
    dob.max_suppressed = Some(Suppressed::PhiColumn);
    let html = render(&p);
    assert!(
        html.contains("<span class=\"muted\">(suppressed: seen fewer than 5 times)</span>"),
        "{html}"
    );
    assert!(html.contains("<span class=\"muted\">(suppressed: PHI column)</span>"));
}
