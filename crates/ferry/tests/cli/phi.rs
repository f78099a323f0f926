//! No PHI where none is promised: a patient whose name, SSN, MRN, address and e-mail are canaries
//! goes through every command; the canaries must appear in no terminal output and in no file
//! Ferry writes that docs/phi.md does not list as holding PHI.

use super::workdir::Workdir;
use std::path::{Path, PathBuf};

/// The canary values put into patient 1 (and the forms mappings turn them into).
const CANARY_NAME: &str = "qzcanary";
const CANARY_SSN: &str = "219-09-9999";
const CANARY_SSN_DIGITS: &str = "219099999";
const CANARY_MRN: &str = "MQZ0000001";

fn has_canary(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    [CANARY_NAME, CANARY_SSN, CANARY_SSN_DIGITS]
        .into_iter()
        .find(|c| lower.contains(c))
        .or_else(|| text.contains(CANARY_MRN).then_some(CANARY_MRN))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Replaces patient 1's identifiers in a generated dump by the canaries (the dump is bytes: it
/// holds invalid UTF-8 on purpose).
fn plant_canaries(dump: &Path) {
    let bytes = std::fs::read(dump).unwrap();
    let start = find(&bytes, b"INSERT INTO `patients` VALUES (1,").expect("the dump has patient 1");
    let end = start + find(&bytes[start..], b"),(2,").expect("patient 2 follows");
    let row = String::from_utf8(bytes[start..end].to_vec()).expect("patient 1 is UTF-8");
    // (1,'MRN','SSN','EMP','LAST','FIRST','M','DOB','SEX','ADDRESS1',...
    let fields: Vec<&str> = row.split(",'").collect();
    let mut new_row = row.clone();
    for (i, canary) in [
        (1, CANARY_MRN.to_string()),
        (2, CANARY_SSN.to_string()),
        // First in alphabetical order: the column's minimum.
        (4, "AAAqzcanarylast".to_string()),
        (5, "Qzcanaryfirst".to_string()),
        (9, "77 Qzcanary Rd".to_string()),
    ] {
        let old = fields[i].split('\'').next().unwrap();
        assert!(!old.is_empty(), "field {i} of patient 1 is empty: {row}");
        new_row = new_row.replacen(&format!(",'{old}'"), &format!(",'{canary}'"), 1);
    }
    // The job title (free text after the employer, department and location ids), also the
    // column's minimum, seen once: a profile without samples must not show it.
    let job = (1..fields.len())
        .find(|&i| {
            let ids: Vec<&str> = fields[i - 1].rsplit(',').take(3).collect();
            ids.len() == 3 && ids.iter().all(|x| x.parse::<u32>().is_ok())
        })
        .expect("the ids before the job title");
    let old = fields[job].split('\'').next().unwrap();
    new_row = new_row.replacen(&format!(",'{old}'"), ",'AAAqzcanary job'", 1);
    assert_ne!(new_row, row);
    let mut out = bytes[..start].to_vec();
    out.extend_from_slice(new_row.as_bytes());
    out.extend_from_slice(&bytes[end..]);
    std::fs::write(dump, out).unwrap();
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The text of a file as a reader would see it (an .xlsx is unzipped cell by cell).
fn readable_text(path: &Path) -> String {
    if path.extension().is_some_and(|x| x == "xlsx") {
        use calamine::Reader;
        let mut wb: calamine::Xlsx<_> = calamine::open_workbook(path).unwrap();
        let mut text = String::new();
        for name in wb.sheet_names() {
            if let Ok(range) = wb.worksheet_range(&name) {
                for row in range.rows() {
                    for cell in row {
                        text.push_str(&cell.to_string());
                        text.push('\t');
                    }
                    text.push('\n');
                }
            }
        }
        return text;
    }
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
}

/// Files that hold PHI by design (docs/phi.md): the workspace, the output, the legacy snapshot,
/// duplicate-patient reports, sample packets.
fn documented_as_phi(rel: &str) -> bool {
    rel.starts_with(".ferry/")
        || rel.starts_with("output/")
        || rel.starts_with("legacy/")
        || (rel.starts_with("reports/dedupe-"))
        || (rel.starts_with("reports/sample-") && rel.ends_with(".html"))
}

#[test]
fn canaries_appear_in_no_output_and_no_file_not_documented_as_phi() {
    let wd = Workdir::new();
    wd.run(&["init", "p", "--library", "clinic", "-q"]).ok();
    wd.run(&[
        "generate",
        "p/legacy",
        "--patients",
        "60",
        "--sql-only",
        "-q",
    ])
    .ok();
    plant_canaries(&wd.join("p/legacy/clinic.sql"));
    let config = std::fs::read_to_string(wd.join("p/ferry.toml")).unwrap();
    std::fs::write(
        wd.join("p/ferry.toml"),
        config.replace("# max_exception_rate = 0.05", "max_exception_rate = 0.25"),
    )
    .unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["stage", "legacy/clinic.sql"],
        vec!["snapshots"],
        vec!["snapshots", "1"],
        vec!["snapshots", "--tables"],
        vec!["snapshots", "1", "--json"],
        vec!["profile", "--no-samples"],
        vec!["profile", "--no-samples", "--json"],
        vec!["audit"],
        vec!["audit", "--json"],
        vec!["check"],
        vec!["dedupe"],
        vec!["dedupe", "review", "--list"],
        vec!["run"],
        vec!["run", "--json"],
        vec!["runs"],
        vec!["runs", "--json"],
        vec!["exceptions"],
        vec!["exceptions", "--json"],
        vec!["verify"],
        vec!["verify", "--json"],
        vec!["report"],
        vec!["sample", "--patients", "60", "--seed", "1"],
        vec!["library", "list"],
    ];
    let mut leaks = Vec::new();
    for args in &commands {
        // `wd.command`: the same XDG_CONFIG_HOME, so the same audit-trail checkpoints.
        let out = wd.command(args).current_dir(wd.join("p")).output().unwrap();
        let code = out.status.code();
        assert!(
            code == Some(0) || code == Some(3),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            if let Some(c) = has_canary(&String::from_utf8_lossy(bytes)) {
                leaks.push(format!("`ferry {}` {stream}: {c}", args.join(" ")));
            }
        }
    }
    // The canaries did reach the places that hold PHI (so the search can find them).
    let ndjson = std::fs::read_to_string(wd.join("p/output/latest/Patient.ndjson")).unwrap();
    assert!(
        has_canary(&ndjson).is_some(),
        "the canary patient was not migrated"
    );
    let packet = std::fs::read_to_string(wd.join("p/reports/sample-0001.html")).unwrap();
    assert!(
        has_canary(&packet).is_some(),
        "the sample packet holds every patient"
    );
    // And nowhere else.
    let root = wd.join("p");
    let mut files = Vec::new();
    files_under(&root, &mut files);
    let mut checked = 0;
    for f in &files {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if documented_as_phi(&rel) {
            continue;
        }
        checked += 1;
        if let Some(c) = has_canary(&readable_text(f)) {
            leaks.push(format!("{rel}: {c}"));
        }
    }
    assert!(checked > 40, "only {checked} files checked");
    assert!(
        leaks.is_empty(),
        "PHI canaries leaked:\n{}",
        leaks.join("\n")
    );
}

const SSN_MODULE: &str = r#"[module]
name = "people"
[source]
query = "SELECT * FROM people"
key = "ssn"
[[resource]]
type = "Patient"
[resource.fields]
"birthDate" = "row.dob | date"
"#;

/// `ferry exceptions` shows the source keys of each reason; when a module's key column is PHI
/// (here an SSN) they are withheld unless asked for with `--show-values`.
#[test]
fn exceptions_withhold_keys_of_a_phi_key_column() {
    let wd = Workdir::project();
    wd.write(
        "legacy.sql",
        "CREATE TABLE `people` (`ssn` varchar(11), `dob` varchar(10));\n\
         INSERT INTO `people` VALUES ('219-09-9999','02/30/1970'),('078-05-1120','1970-01-01');\n",
    );
    wd.run(&["stage", "legacy.sql"]).ok();
    wd.write("mappings/people.toml", SSN_MODULE);
    wd.run(&["run", "-q"]).ok();
    let shown = wd.run(&["exceptions"]).ok();
    assert!(shown.contains("1 x people"), "{shown}");
    assert!(!shown.contains(CANARY_SSN), "{shown}");
    assert!(shown.contains("keys: (withheld)"), "{shown}");
    assert!(shown.contains("key column `ssn` holds PHI"), "{shown}");
    let json = wd.run(&["exceptions", "--json"]).ok();
    assert!(!json.contains(CANARY_SSN), "{json}");
    let asked = wd.run(&["exceptions", "--show-values"]).ok();
    assert!(asked.contains(CANARY_SSN), "{asked}");
}

/// `ferry verify` names the rows behind a NO-GO by module and key; a PHI key is withheld.
#[test]
fn verify_withholds_keys_of_a_phi_key_column() {
    let wd = Workdir::project();
    wd.write(
        "legacy.sql",
        "CREATE TABLE `people` (`ssn` varchar(11), `dob` varchar(10));\n\
         INSERT INTO `people` VALUES ('078-05-1120','1970-01-01'),('219-09-9999','1971-02-03');\n",
    );
    wd.run(&["stage", "legacy.sql"]).ok();
    wd.write("mappings/people.toml", SSN_MODULE);
    wd.run(&["run", "-q"]).ok();
    // Drop the first resource from the output: verify must name the row it came from.
    let out = wd.join("output/latest/Patient.ndjson");
    let text = std::fs::read_to_string(&out).unwrap();
    let rest: Vec<&str> = text.lines().skip(1).collect();
    std::fs::write(&out, format!("{}\n", rest.join("\n"))).unwrap();
    let run = wd.run(&["verify", "--examples", "50"]);
    assert_eq!(run.code(), 3, "{}", run.stdout());
    let shown = format!("{}{}", run.stdout(), run.stderr());
    assert!(shown.contains("module `people` key (withheld"), "{shown}");
    assert!(!shown.contains("078-05-1120"), "{shown}");
    assert!(!shown.contains(CANARY_SSN), "{shown}");
}
