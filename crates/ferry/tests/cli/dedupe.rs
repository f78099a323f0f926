//! `ferry dedupe` finds the duplicate patients the generator seeded (ground truth in
//! manifest.json), keeps values out of the terminal, and re-applies reviewed decisions to a
//! later snapshot with the same cluster ids.

use super::workdir::Workdir;
use std::collections::{BTreeMap, BTreeSet};

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}):\n{s}"))
}

/// All pairs of records that are one person, from the manifest (a duplicate of a duplicate's
/// original joins its group).
fn true_pairs(manifest: &serde_json::Value) -> BTreeSet<(u64, u64)> {
    let mut groups: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for d in manifest["duplicates"].as_array().unwrap() {
        let o = d["original_id"].as_u64().unwrap();
        let g = groups.entry(o).or_default();
        g.insert(o);
        g.insert(d["duplicate_id"].as_u64().unwrap());
    }
    let mut out = BTreeSet::new();
    for g in groups.values() {
        let v: Vec<u64> = g.iter().copied().collect();
        for (i, a) in v.iter().enumerate() {
            for b in v.iter().skip(i + 1) {
                out.insert((*a, *b));
            }
        }
    }
    out
}

fn found_pairs(summary: &serde_json::Value) -> BTreeSet<(u64, u64)> {
    let mut out = BTreeSet::new();
    for c in summary["clusters"].as_array().unwrap() {
        let mut keys: Vec<u64> = c["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().parse().unwrap())
            .collect();
        keys.sort();
        for (i, a) in keys.iter().enumerate() {
            for b in keys.iter().skip(i + 1) {
                out.insert((*a, *b));
            }
        }
    }
    out
}

#[test]
fn dedupe_finds_the_seeded_duplicates_of_a_generated_clinic_with_high_precision_and_recall() {
    let wd = Workdir::project();
    wd.run(&["generate", "legacy", "--patients", "2000", "--csv-only"])
        .ok();
    wd.run(&["stage", "legacy/csv"]).ok();
    let out = json(&wd.run(&["dedupe", "--json"]).ok());
    let manifest = json(&std::fs::read_to_string(wd.join("legacy/manifest.json")).unwrap());
    let truth = true_pairs(&manifest);
    let found = found_pairs(&out);
    assert!(
        truth.len() >= 20,
        "too few seeded duplicates: {}",
        truth.len()
    );
    let tp = truth.intersection(&found).count() as f64;
    let precision = tp / found.len().max(1) as f64;
    let recall = tp / truth.len() as f64;
    assert!(
        precision >= 0.95 && recall >= 0.95,
        "precision {precision:.3} recall {recall:.3}\nmissed: {:?}\nwrong: {:?}",
        truth.difference(&found).collect::<Vec<_>>(),
        found.difference(&truth).collect::<Vec<_>>()
    );
    // Every pair is reported once with a probability at or above the threshold.
    let pairs = out["pairs"].as_array().unwrap();
    let mut seen = BTreeSet::new();
    for p in pairs {
        assert!(p["probability"].as_f64().unwrap() >= 0.9);
        assert!(seen.insert((p["a"].to_string(), p["b"].to_string())));
    }
    // Reports exist; the JSON report holds the explanation of each pair.
    let report = json(&std::fs::read_to_string(wd.join("reports/dedupe-0001.json")).unwrap());
    let first = &report["pairs"][0];
    let sum: f64 = first["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["weight"].as_f64().unwrap())
        .sum::<f64>()
        + report["prior_weight"].as_f64().unwrap();
    assert!((sum - first["weight"].as_f64().unwrap()).abs() < 1e-6);
    assert!(wd.join("reports/dedupe-0001.html").exists());
    // EM trains every comparison at clinic size (it trained none while duplicates' new phones
    // and e-mails made every rule's estimate look implausible), so nothing is warned about.
    let untrained: Vec<&str> = report["model"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["trained"] != true)
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(untrained, Vec::<&str>::new());
    assert_eq!(out["warnings"], serde_json::json!([]));
    let run = wd.run(&["dedupe"]);
    run.ok();
    assert!(!run.stderr().contains("warning"), "{}", run.stderr());
}

#[test]
fn a_comparison_em_cannot_train_is_warned_about_with_what_to_do() {
    let wd = Workdir::project();
    wd.write("legacy/patients.csv", PATIENTS_CSV);
    wd.run(&["stage", "legacy/patients.csv"]).ok();
    let cfg = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    wd.write(
        "ferry.toml",
        format!(
            "{cfg}\n[dedupe]\ngiven = \"first_name\"\nfamily = \"last_name\"\nbirth_date = \"dob\"\nblocking = [\"birth_date\"]\n"
        ),
    );
    let run = wd.run(&["dedupe", "--json"]);
    let out = json(&run.ok());
    let warnings = out["warnings"].as_array().unwrap();
    let fields: Vec<(&str, &str)> = warnings
        .iter()
        .map(|w| (w["field"].as_str().unwrap(), w["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("given", "too_few_pairs"),
            ("family", "too_few_pairs"),
            ("birth_date", "every_rule_blocks_on_it"),
        ]
    );
    assert_eq!(warnings[0]["pairs"], 0);
    let given = "EM could not train `given`: the blocking rules that leave it out found at most 0 candidate pairs (20 needed); its prior weights are used. Add a broader blocking rule that does not use `given`, or check the weights in the report before accepting clusters";
    assert_eq!(warnings[0]["message"], given);
    let stderr = run.stderr();
    assert!(stderr.contains(&format!("warning: {given}\n")), "{stderr}");
    assert!(
        stderr.contains("warning: EM could not train `birth_date`: every blocking rule uses it"),
        "{stderr}"
    );
    // The HTML report says it too.
    let html = std::fs::read_to_string(wd.join("reports/dedupe-0001.html")).unwrap();
    assert!(html.contains("EM could not train `family`"), "{html}");
}

#[test]
fn terminal_output_shows_keys_but_no_values() {
    let wd = Workdir::project();
    wd.run(&["generate", "legacy", "--patients", "300", "--csv-only"])
        .ok();
    wd.run(&["stage", "legacy/csv"]).ok();
    let run = wd.run(&["dedupe"]);
    let stdout = run.ok();
    let text = format!("{stdout}{}", run.stderr());
    let report = json(&std::fs::read_to_string(wd.join("reports/dedupe-0001.json")).unwrap());
    let clusters = report["clusters"].as_array().unwrap();
    assert!(!clusters.is_empty());
    for c in clusters {
        assert!(stdout.contains(c["id"].as_str().unwrap()));
        for m in c["members"].as_array().unwrap() {
            for (field, v) in m["values"].as_object().unwrap() {
                let v = v.as_str().unwrap();
                if ["given", "family", "ssn", "phone", "address", "email"].contains(&field.as_str())
                    && v.len() > 3
                {
                    assert!(
                        !text.to_lowercase().contains(v),
                        "the terminal shows a {field} value"
                    );
                }
            }
        }
    }
}

#[test]
fn review_decisions_survive_restaging_with_stable_cluster_ids() {
    let wd = Workdir::project();
    wd.run(&["generate", "legacy", "--patients", "600", "--csv-only"])
        .ok();
    wd.run(&["stage", "legacy/csv"]).ok();
    let first = json(&wd.run(&["dedupe", "--json"]).ok());
    let clusters = first["clusters"].as_array().unwrap();
    assert!(clusters.len() >= 3, "{clusters:?}");
    let accept = clusters[0]["id"].as_str().unwrap().to_string();
    let reject = clusters[1]["id"].as_str().unwrap().to_string();
    wd.run(&[
        "dedupe", "review", "--accept", &accept, "--reject", &reject, "--by", "tester",
    ])
    .ok();
    let text = std::fs::read_to_string(wd.join("mappings/duplicates.toml")).unwrap();
    assert!(text.contains(&accept) && text.contains(&reject), "{text}");
    assert!(text.contains("decision = \"accept\"") && text.contains("survivor ="));
    assert!(text.contains("by = \"tester\""));
    // Reviewing again with the same decisions gives the same file (apart from timestamps).
    let strip = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with("at ="))
            .collect::<Vec<_>>()
            .join("\n")
    };
    wd.run(&[
        "dedupe", "review", "--accept", &accept, "--reject", &reject, "--by", "tester",
    ])
    .ok();
    let again = std::fs::read_to_string(wd.join("mappings/duplicates.toml")).unwrap();
    assert_eq!(strip(&text), strip(&again));

    // A later snapshot: decisions re-applied, ids unchanged.
    wd.run(&["stage", "legacy/csv"]).ok();
    let second = json(&wd.run(&["dedupe", "--json"]).ok());
    assert_eq!(second["snapshot"], 2);
    let by_id: BTreeMap<&str, &serde_json::Value> = second["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c))
        .collect();
    assert_eq!(by_id[accept.as_str()]["status"], "accepted");
    assert!(
        !by_id.contains_key(reject.as_str()),
        "a rejected cluster came back"
    );
    for c in clusters.iter().skip(2) {
        let id = c["id"].as_str().unwrap();
        assert_eq!(by_id[id]["members"], c["members"], "cluster {id} changed");
        assert_eq!(by_id[id]["status"], "pending");
    }
    let list = wd.run(&["dedupe", "review", "--list"]).ok();
    assert!(
        list.contains(&accept) && list.contains("accepted"),
        "{list}"
    );
    let err = wd
        .run(&["dedupe", "review", "--accept", "dup-000000000000"])
        .fails_with(1);
    assert!(
        err.contains("dup-000000000000") && err.contains("--list"),
        "{err}"
    );
}

const PATIENTS_CSV: &str = "\
patient_id,first_name,last_name,dob,sex,ssn,zip
1,John,Smith,1970-03-04,M,212-45-6789,12345
2,Mary,Jones,1980-11-02,F,312-55-1234,23456
3,Ann,Lee,1990-01-20,F,,34567
4,Peter,Brown,1965-07-07,M,412-66-2345,45678
5,Luis,Garcia,1955-12-30,M,512-77-3456,56789
6,Rita,Moore,1999-05-05,F,612-88-4567,67890
";

#[test]
fn dedupe_against_a_target_export_pairs_snapshot_keys_with_target_patients() {
    let wd = Workdir::project();
    wd.write("legacy/patients.csv", PATIENTS_CSV);
    wd.run(&["stage", "legacy/patients.csv"]).ok();
    wd.write(
        "target.ndjson",
        concat!(
            r#"{"resourceType":"Patient","id":"t1","name":[{"family":"Smith","given":["Jon"]}],"birthDate":"1970-03-04","gender":"male","identifier":[{"system":"http://hl7.org/fhir/sid/us-ssn","value":"212456789"}],"address":[{"postalCode":"12345"}]}"#,
            "\n",
            r#"{"resourceType":"Patient","id":"t2","name":[{"family":"Lee","given":["Anne"]}],"birthDate":"1990-01-20","gender":"female","address":[{"postalCode":"34567"}]}"#,
            "\n",
            r#"{"resourceType":"Patient","id":"t3","name":[{"family":"Zed","given":["Zoe"]}],"birthDate":"2001-02-03","gender":"female"}"#,
            "\n"
        ),
    );
    let out = json(
        &wd.run(&[
            "dedupe",
            "--against",
            "target.ndjson",
            "--threshold",
            "0.5",
            "--json",
        ])
        .ok(),
    );
    let pairs: BTreeSet<(String, String)> = out["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["a"].as_str().unwrap().to_string(),
                p["b"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        pairs.contains(&("1".into(), "Patient/t1".into())),
        "{pairs:?}"
    );
    assert!(
        pairs.contains(&("3".into(), "Patient/t2".into())),
        "{pairs:?}"
    );
    assert!(pairs.iter().all(|(_, b)| b != "Patient/t3"), "{pairs:?}");
    assert_eq!(out["target_records"], 3);
    assert!(wd.join("reports/dedupe-against-0001.json").exists());
    // A broken export is an error naming the file and line, not a value.
    wd.write(
        "bad.ndjson",
        "{\"resourceType\":\"Patient\",\"id\":\"a\"}\n{\"name\":\"Secret\"\n",
    );
    let err = wd.run(&["dedupe", "--against", "bad.ndjson"]).fails_with(1);
    assert!(
        err.contains("bad.ndjson") && err.contains("line 2"),
        "{err}"
    );
    assert!(!err.contains("Secret"), "{err}");
}

#[test]
fn a_dedupe_setting_naming_a_missing_column_is_an_error_naming_it() {
    let wd = Workdir::project();
    wd.write("legacy/patients.csv", PATIENTS_CSV);
    wd.run(&["stage", "legacy/patients.csv"]).ok();
    let cfg = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    wd.write(
        "ferry.toml",
        format!("{cfg}\n[dedupe]\ngiven = \"fname\"\nfamily = \"last_name\"\n"),
    );
    let err = wd.run(&["dedupe"]).fails_with(1);
    assert!(err.contains("`fname`") && err.contains("patients"), "{err}");
    wd.write(
        "ferry.toml",
        format!("{cfg}\n[dedupe]\nblocking = [\"dob\"]\n"),
    );
    let err = wd.run(&["dedupe"]).fails_with(1);
    assert!(err.contains("`dob`") && err.contains("birth_date"), "{err}");
}

#[test]
fn identity_columns_are_proposed_from_the_profile_s_phi_labels() {
    // `tax_ref` holds SSNs but its name says nothing: only the profile's value evidence finds it.
    let wd = Workdir::project();
    let mut csv = String::from("patient_id,first_name,last_name,dob,tax_ref\n");
    for i in 1..=40 {
        csv.push_str(&format!(
            "{i},Given{i},Family{i},19{:02}-0{}-1{},{:03}-{:02}-{:04}\n",
            50 + i % 40,
            1 + i % 9,
            i % 10,
            100 + i,
            10 + i % 80,
            1000 + i * 7
        ));
    }
    wd.write("legacy/patients.csv", csv);
    wd.run(&["stage", "legacy/patients.csv"]).ok();
    let run = wd.run(&["dedupe"]);
    run.ok();
    let before = run.stderr();
    assert!(!before.contains("ssn = \"tax_ref\""), "{before}");
    assert!(before.contains("run `ferry profile` first"), "{before}");
    wd.run(&["profile", "--snapshot", "1", "-q"]).ok();
    let run = wd.run(&["dedupe"]);
    run.ok();
    let after = run.stderr();
    assert!(after.contains("ssn = \"tax_ref\""), "{after}");
    assert!(after.contains("the profile's PHI labels"), "{after}");
}

/// Cluster ids of `ferry dedupe --json`, in output order.
fn cluster_ids(summary: &serde_json::Value) -> Vec<String> {
    summary["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// The `--list` line of one cluster, split on whitespace.
fn list_row(list: &str, id: &str) -> Vec<String> {
    let line = list
        .lines()
        .find(|l| l.trim_start().starts_with(id))
        .unwrap_or_else(|| panic!("no row for {id}:\n{list}"));
    line.split_whitespace().map(str::to_string).collect()
}

// Regression: review read each cluster's status from the report (written before anyone
// reviewed it), so `--accept-all-pending` accepted a cluster a reviewer had rejected, and
// `--list` showed accepted clusters as pending.
#[test]
fn accept_all_pending_keeps_a_reviewer_s_rejection_and_list_shows_decisions() {
    let wd = Workdir::project();
    wd.run(&["generate", "legacy", "--patients", "300", "--csv-only"])
        .ok();
    wd.run(&["stage", "legacy/csv"]).ok();
    let ids = cluster_ids(&json(&wd.run(&["dedupe", "--json"]).ok()));
    assert!(ids.len() >= 3, "{ids:?}");
    let rejected = ids[1].clone();
    wd.run(&["dedupe", "review", "--reject", &rejected, "--by", "ana"])
        .ok();
    let out = wd
        .run(&["dedupe", "review", "--accept-all-pending", "--by", "bob"])
        .ok();
    assert!(
        out.contains(&format!(
            "Recorded {} accepted and 0 rejected clusters",
            ids.len() - 1
        )),
        "{out}"
    );
    assert!(out.contains("(1 rejected cluster left as it is)"), "{out}");
    let decisions = ferry_link::Decisions::load(wd.path()).unwrap();
    let by_id: BTreeMap<&str, &ferry_link::Decision> = decisions
        .clusters
        .iter()
        .map(|d| (d.id.as_str(), d))
        .collect();
    assert_eq!(by_id.len(), ids.len());
    let r = by_id[rejected.as_str()];
    assert_eq!(r.decision, ferry_link::Verdict::Reject);
    assert_eq!(r.by, "ana");
    assert_eq!(r.survivor, None);
    for id in ids.iter().filter(|i| **i != rejected) {
        assert_eq!(by_id[id.as_str()].decision, ferry_link::Verdict::Accept);
        assert_eq!(by_id[id.as_str()].by, "bob");
    }
    let list = wd.run(&["dedupe", "review", "--list"]).ok();
    assert!(
        list.contains(&format!(
            "Snapshot 1: {} clusters (0 pending review)",
            ids.len()
        )),
        "{list}"
    );
    let row = list_row(&list, &ids[0]);
    assert_eq!(&row[1..3], ["accepted", "bob"], "{list}");
    assert_eq!(row[3], by_id[ids[0].as_str()].at, "{list}");
    let row = list_row(&list, &rejected);
    assert_eq!(&row[1..3], ["rejected", "ana"], "{list}");
    // An explicit accept may change a rejection, and says whose.
    let out = wd
        .run(&["dedupe", "review", "--accept", &rejected, "--by", "bob"])
        .ok();
    assert!(
        out.contains(&format!(
            "accepted {rejected} (changes a rejection by ana on {})",
            &r.at[..10]
        )),
        "{out}"
    );
    let after = ferry_link::Decisions::load(wd.path()).unwrap();
    let d = after.clusters.iter().find(|d| d.id == rejected).unwrap();
    assert_eq!(
        (d.decision, d.by.as_str()),
        (ferry_link::Verdict::Accept, "bob")
    );
}

// Regression: without `--snapshot`, review took the newest snapshot, whose report did not
// exist when a later snapshot was staged after `ferry dedupe --snapshot 1`.
#[test]
fn review_without_snapshot_uses_the_report_dedupe_wrote_last() {
    let wd = Workdir::project();
    wd.run(&["generate", "legacy", "--patients", "300", "--csv-only"])
        .ok();
    wd.run(&["stage", "legacy/csv"]).ok();
    let ids = cluster_ids(&json(
        &wd.run(&["dedupe", "--snapshot", "1", "--json"]).ok(),
    ));
    wd.run(&["stage", "legacy/csv"]).ok();
    let run = wd.run(&["dedupe", "review", "--list"]);
    let list = run.ok();
    assert!(
        run.stderr()
            .contains("Reviewing the dedupe report of snapshot 1 (`"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("dedupe-0001.json`, written 20"),
        "{}",
        run.stderr()
    );
    assert!(
        list.contains(&format!(
            "Snapshot 1: {} clusters ({} pending review)",
            ids.len(),
            ids.len()
        )),
        "{list}"
    );
    wd.run(&["dedupe", "review", "--accept", &ids[0], "--by", "ana"])
        .ok();
    let d = ferry_link::Decisions::load(wd.path()).unwrap();
    assert_eq!(d.clusters.len(), 1);
    assert_eq!(d.clusters[0].snapshot, Some(1));
    // Once snapshot 2 is deduplicated, its report is the newest.
    wd.run(&["dedupe", "--snapshot", "2"]).ok();
    let run = wd.run(&["dedupe", "review", "--list"]);
    let list = run.ok();
    assert!(
        run.stderr()
            .contains("Reviewing the dedupe report of snapshot 2"),
        "{}",
        run.stderr()
    );
    assert!(list.starts_with("Snapshot 2: "), "{list}");
    assert_eq!(
        &list_row(&list, &ids[0])[1..3],
        ["accepted", "ana"],
        "{list}"
    );
}
