//! The Bulk Data `$import` manifest: for servers that ingest NDJSON themselves (Azure Health Data
//! Services, the HL7 Bulk Data Import proposal), a `Parameters` resource naming each NDJSON file
//! of a run by resource type and URL, which the server is asked to fetch.
//!
//! The files are the run's output as written: they carry no load tags, and the server writes
//! them without Ferry's journal, so an `$import` has no pre-images and `ferry rollback` cannot undo
//! it. Counts and SHA-256 of each file go beside the URL (as an extension-free `part`) so the
//! person who hands the files over can check them.

use serde_json::{Value, json};

/// One NDJSON file of the run.
#[derive(Debug, Clone)]
pub struct ManifestFile {
    pub resource_type: String,
    /// The file's name in the run's output folder.
    pub file: String,
    pub resources: u64,
    pub sha256: String,
}

/// The manifest: `inputFormat` `application/fhir+ndjson`, `inputSource` (the run's tag as a URN
/// unless a source URL is given), `mode` (`InitialLoad` or `IncrementalLoad`), and one `input`
/// per file with its `type` and `url` (`files_url` joined with the file's name).
pub fn import_manifest(
    files: &[ManifestFile],
    files_url: &str,
    input_source: &str,
    mode: &str,
) -> Value {
    let base = files_url.trim_end_matches('/');
    let mut parameter = vec![
        json!({"name": "inputFormat", "valueCode": "application/fhir+ndjson"}),
        json!({"name": "inputSource", "valueUri": input_source}),
        json!({"name": "mode", "valueString": mode}),
        json!({"name": "storageDetail", "part": [{"name": "type", "valueCode":
            if base.starts_with("file:") { "file" } else { "https" }}]}),
    ];
    for f in files {
        parameter.push(json!({"name": "input", "part": [
            {"name": "type", "valueCode": f.resource_type},
            {"name": "url", "valueUri": format!("{base}/{}", f.file)},
            {"name": "count", "valueInteger": f.resources},
            {"name": "sha256", "valueString": f.sha256},
        ]}));
    }
    json!({"resourceType": "Parameters", "parameter": parameter})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_file_is_one_input_with_its_type_url_count_and_hash() {
        let files = vec![
            ManifestFile {
                resource_type: "Patient".into(),
                file: "Patient.ndjson".into(),
                resources: 3,
                sha256: "ab".into(),
            },
            ManifestFile {
                resource_type: "Observation".into(),
                file: "Observation.ndjson".into(),
                resources: 9,
                sha256: "cd".into(),
            },
        ];
        let m = import_manifest(
            &files,
            "https://files.example.org/run-2/",
            "urn:ferry:run:p-run-0002",
            "InitialLoad",
        );
        assert_eq!(m["resourceType"], "Parameters");
        let p = m["parameter"].as_array().unwrap();
        assert_eq!(p[0]["valueCode"], "application/fhir+ndjson");
        let inputs: Vec<&Value> = p.iter().filter(|x| x["name"] == "input").collect();
        assert_eq!(inputs.len(), 2);
        assert_eq!(inputs[1]["part"][0]["valueCode"], "Observation");
        assert_eq!(
            inputs[1]["part"][1]["valueUri"],
            "https://files.example.org/run-2/Observation.ndjson"
        );
        assert_eq!(inputs[1]["part"][2]["valueInteger"], 9);
    }
}
