//! `ferry init DIR`: a new migration project folder; module libraries built into Ferry and
//! installed into a project (`ferry init --library NAME`, `ferry library add NAME`).

use crate::project::CONFIG_FILE;
use crate::{OpsError, Project};
use ferry_core::atomic::{self, Contents};
use std::path::{Path, PathBuf};

const GITIGNORE: &str = "\
# Ferry keeps protected health information (PHI) in these folders. Never commit them.
/.ferry/
/output/
/reports/
/legacy/
*.sql
*.sql.gz
*.db
";

/// What `create_project` made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Created {
    pub dir: PathBuf,
    pub name: String,
    /// The library installed, when one was asked for.
    pub library: Option<Installed>,
}

/// Writes a new project into `dir`, refusing to overwrite an existing one; installs `library`
/// when given.
pub fn create_project(dir: &Path, name: &str, library: Option<&str>) -> Result<Created, OpsError> {
    if dir.join(CONFIG_FILE).exists() {
        return Err(OpsError::Other(format!(
            "`{}` already holds a Ferry project ({CONFIG_FILE} exists). Choose another folder",
            dir.display()
        )));
    }
    if let Some(lib) = library {
        find_library(lib)?;
    }
    for sub in ["mappings", "concept-maps", "checks"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).map_err(|e| OpsError::io(&p, "creating", e))?;
        atomic::write(&p.join(".gitkeep"), Contents::Project, b"")?;
    }
    let gi = dir.join(".gitignore");
    if !gi.exists() {
        atomic::write(&gi, Contents::Project, GITIGNORE.as_bytes())?;
    }
    // Before ferry.toml, which makes the folder a project: a project always has its runbook.
    let runbook = dir.join(crate::runbook::RUNBOOK_FILE);
    if !runbook.exists() {
        atomic::write(
            &runbook,
            Contents::Project,
            crate::runbook::TEMPLATE.as_bytes(),
        )?;
    }
    atomic::write(
        &dir.join(CONFIG_FILE),
        Contents::Project,
        config_template(name).as_bytes(),
    )?;
    let installed = match library {
        Some(lib) => Some(install_library(&Project::load(dir)?, lib)?),
        None => None,
    };
    Ok(Created {
        dir: dir.to_path_buf(),
        name: name.to_string(),
        library: installed,
    })
}

/// A module library built into Ferry.
pub struct Library {
    pub name: &'static str,
    pub description: String,
    dir: &'static include_dir::Dir<'static>,
    settings: LibrarySettings,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LibraryFile {
    name: String,
    description: String,
    #[serde(default)]
    project: LibrarySettings,
}

/// Project settings a library's modules need.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LibrarySettings {
    local_offset: Option<String>,
    system_base: Option<String>,
}

static CLINIC: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../../modules/ferry-clinic");

/// Every library built into this Ferry.
pub fn libraries() -> Vec<Library> {
    [("clinic", &CLINIC)]
        .into_iter()
        .filter_map(|(name, dir)| {
            let text = dir.get_file("library.toml")?.contents_utf8()?;
            let file: LibraryFile = toml::from_str(text).ok()?;
            debug_assert_eq!(file.name, name);
            Some(Library {
                name,
                description: file.description,
                dir,
                settings: file.project,
            })
        })
        .collect()
}

fn find_library(name: &str) -> Result<Library, OpsError> {
    let all = libraries();
    let names: Vec<&str> = all.iter().map(|l| l.name).collect();
    let names = names.join(", ");
    all.into_iter().find(|l| l.name == name).ok_or_else(|| {
        OpsError::Other(format!(
            "no module library named `{name}`; the libraries built into Ferry are: {names} (`ferry library list`)"
        ))
    })
}

/// What installing a library did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Installed {
    pub library: String,
    /// Files written, relative to the project.
    pub written: Vec<String>,
    /// Files that were already there with the same content.
    pub unchanged: Vec<String>,
    /// Settings written into ferry.toml (`local_offset = "-05:00"`).
    pub settings: Vec<String>,
}

/// The folders of a library that go into a project, and where.
const PARTS: [&str; 3] = ["mappings", "concept-maps", "checks"];

/// Copies a library's modules, concept maps and comparative searches into the project, and the
/// project settings its modules need into ferry.toml. Never overwrites a file that differs from
/// the library's: it refuses, naming them, and writes nothing.
pub fn install_library(project: &Project, name: &str) -> Result<Installed, OpsError> {
    let lib = find_library(name)?;
    let mut plan: Vec<(PathBuf, &'static [u8])> = Vec::new();
    let mut out = Installed {
        library: lib.name.to_string(),
        ..Default::default()
    };
    let mut conflicts = Vec::new();
    for part in PARTS {
        let Some(src) = lib.dir.get_dir(part) else {
            continue;
        };
        for f in src.files() {
            let Some(file_name) = f.path().file_name() else {
                continue;
            };
            let to = project.root.join(part).join(file_name);
            let rel = project.relative(&to);
            match std::fs::read(&to) {
                Ok(existing) if existing == f.contents() => out.unchanged.push(rel),
                Ok(_) => conflicts.push(rel),
                Err(_) => plan.push((to, f.contents())),
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(OpsError::Other(format!(
            "library `{name}` was not installed: these files exist and differ from the library's: {}. Move them aside (or keep yours and copy the rest by hand); nothing was written",
            conflicts.join(", ")
        )));
    }
    let config_path = project.root.join(CONFIG_FILE);
    let config_text = std::fs::read_to_string(&config_path)
        .map_err(|e| OpsError::io(&config_path, "reading", e))?;
    let mut new_config = config_text.clone();
    if let Some(offset) = &lib.settings.local_offset {
        match &project.config.project.local_offset {
            Some(have) if have == offset => {}
            Some(have) => {
                return Err(OpsError::Config(format!(
                    "library `{name}` needs `local_offset = \"{offset}\"` under [project], but ferry.toml sets `\"{have}\"`. Its legacy times would be read in the wrong zone: set it to \"{offset}\" (or keep yours if you know better), then install again"
                )));
            }
            None => {
                new_config = set_project_key(&new_config, "local_offset", offset);
                out.settings.push(format!("local_offset = \"{offset}\""));
            }
        }
    }
    if let Some(base) = &lib.settings.system_base {
        // The project's own base wins: the library's modules name paths under whatever base
        // the project has (`system('sid/mrn')`).
        if project.config.project.system_base.is_none() {
            new_config = set_project_key(&new_config, "system_base", base);
            out.settings.push(format!("system_base = \"{base}\""));
        }
    }
    for (to, bytes) in &plan {
        atomic::write(to, Contents::Project, bytes)?;
        out.written.push(project.relative(to));
    }
    if new_config != config_text {
        // Checked before it is written: a library never leaves an unreadable ferry.toml.
        toml::from_str::<crate::Config>(&new_config).map_err(|e| OpsError::BadConfig {
            path: config_path.clone(),
            message: e.to_string(),
        })?;
        atomic::write(&config_path, Contents::Project, new_config.as_bytes())?;
    }
    Ok(out)
}

/// Sets `key = "value"` under `[project]`: replaces the template's commented line for it, or
/// adds the line after the `[project]` header (or a new section at the end).
fn set_project_key(text: &str, key: &str, value: &str) -> String {
    let line = format!("{key} = \"{value}\"");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let commented = format!("# {key} = ");
    if let Some(i) = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&commented))
    {
        lines[i] = line;
    } else if let Some(i) = lines.iter().position(|l| l.trim() == "[project]") {
        lines.insert(i + 1, line);
    } else {
        lines.push(String::new());
        lines.push("[project]".to_string());
        lines.push(line);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn config_template(name: &str) -> String {
    let name = toml_string(name);
    let namespace = uuid::Uuid::new_v4();
    format!(
        r#"# Ferry migration project. Keep this folder in git: it holds settings and mappings, never
# patient data (see .gitignore). Reference: docs/commands.md.

[project]
# Shown in reports.
name = {name}
# The namespace of this project's resource ids (UUID v5 of module, type and source key in it).
# Never change it: it is what makes a re-run update resources instead of duplicating them.
namespace = "{namespace}"
# Offset given to legacy local times that carry no zone (e.g. "-05:00"); unset: such times are
# exceptions rather than guesses.
# local_offset = "-05:00"
# Or the IANA time zone they were recorded in, daylight saving followed (not with local_offset),
# and what to do on the nights the clocks change (docs/mapping.md, "Time zones"):
# time_zone = "America/New_York"
# ambiguous_time = "earlier"       # an hour shown twice (fall back): earlier | later | exception
# nonexistent_time = "exception"   # an hour skipped (spring forward): exception | shift
# The base of your organisation's own identifier and code systems, which modules name with
# `system('sid/mrn')` (docs/mapping.md, "Your own systems"): your URL ("https://fhir.hospital.example",
# giving https://fhir.hospital.example/sid/mrn) or OID ("urn:oid:2.16.840.1.113883.3.1234"; an OID
# names each system in [project.systems]). Unset: a module using `system(...)` fails `ferry check`.
# system_base = "https://fhir.hospital.example"

[workspace]
# Staged snapshots and the run ledger. Holds PHI: must stay out of git.
dir = ".ferry"

[output]
# Where migrated FHIR resources are written.
dir = "output"

[reports]
# Profiles, audits and sign-off reports (may hold samples of PHI).
dir = "reports"

[stage]
# Defaults for `ferry stage`; command-line flags win.
# Force an encoding for delimited files instead of detecting it (e.g. "windows-1252").
# csv_encoding = "windows-1252"
# Force a delimiter for delimited files instead of sniffing it.
# csv_delimiter = "|"

# [dedupe]
# Duplicate patients (`ferry dedupe`, docs/dedupe.md). Unset keys are proposed from column names.
# table = "patients"
# key = "patient_id"
# given = "first_name"
# family = "last_name"
# birth_date = "dob"
# sex = "sex"
# ssn = "ssn"
# phone = "home_phone"
# address = "address1"          # or several columns: ["street_number", "address_1"]
# city = "city"
# postal_code = "zip"
# updated = "modified_dt"       # survivorship: the most recent record survives a merge
# threshold = 0.9               # match probability at which two records are linked
# blocking = ["birth_date_any_order", "ssn", "family_phonetic+given_initial", "names_any_order", "phone", "address+postal_code"]

[verify]
# Go/no-go thresholds of `ferry verify` (docs/verify.md). Exit 0 = go, exit 3 = no-go.
# Largest share of a module's source rows that may be exceptions (0.05 = 5%).
# max_exception_rate = 0.05
# Dangling references plus clinical resources without their patient.
# max_integrity_errors = 0
# Fields that differ between the output and a re-evaluation of the mappings.
# max_roundtrip_mismatches = 0
# Resources that are not valid FHIR R4.
# max_invalid = 0
# Every comparative search in checks/ must be within its tolerance.
# searches_must_pass = true
# A different exception rate for one module:
# [verify.modules.problems]
# max_exception_rate = 0.10
"#
    )
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_as_config() {
        let text = config_template("Clinic \"A\" \\ B");
        let cfg: crate::Config = toml::from_str(&text).unwrap();
        assert_eq!(cfg.project.name.as_deref(), Some("Clinic \"A\" \\ B"));
        assert!(cfg.project.local_offset.is_none());
        // The systems' base is written commented, with what it is for: a module that uses
        // `system(...)` fails `ferry check` until the project sets its own.
        assert!(cfg.project.system_base.is_none());
        assert!(text.contains("\n# system_base = \"https://fhir.hospital.example\"\n"));
        assert!(text.contains("`system('sid/mrn')`"));
    }

    /// The library's placeholder base goes only into a project without its own.
    #[test]
    fn a_library_keeps_the_projects_own_system_base() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        create_project(&root, "p", None).unwrap();
        let config = std::fs::read_to_string(root.join(CONFIG_FILE)).unwrap();
        std::fs::write(
            root.join(CONFIG_FILE),
            config.replace(
                "# system_base = \"https://fhir.hospital.example\"",
                "system_base = \"urn:oid:2.16.840.1.113883.3.1234\"",
            ),
        )
        .unwrap();
        let inst = install_library(&Project::load(&root).unwrap(), "clinic").unwrap();
        assert_eq!(inst.settings, ["local_offset = \"-05:00\""]);
        let p = Project::load(&root).unwrap();
        assert_eq!(
            p.config.project.system_base.as_deref(),
            Some("urn:oid:2.16.840.1.113883.3.1234")
        );
    }

    #[test]
    fn a_library_installs_its_files_and_settings_and_never_overwrites_a_changed_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        let created = create_project(&root, "p", Some("clinic")).unwrap();
        let inst = created.library.unwrap();
        assert!(
            inst.written.contains(&"mappings/patients.toml".to_string()),
            "{inst:?}"
        );
        assert!(
            inst.written.contains(&"checks/clinic.toml".to_string()),
            "{inst:?}"
        );
        assert_eq!(
            inst.settings,
            [
                "local_offset = \"-05:00\"",
                "system_base = \"http://ferry.example\""
            ]
        );
        let p = Project::load(&root).unwrap();
        assert_eq!(p.config.project.local_offset.as_deref(), Some("-05:00"));
        assert_eq!(
            p.config.project.system_base.as_deref(),
            Some("http://ferry.example")
        );
        // Installing again changes nothing.
        let again = install_library(&p, "clinic").unwrap();
        assert!(
            again.written.is_empty() && again.settings.is_empty(),
            "{again:?}"
        );
        // A file the user changed is never overwritten; nothing else is written either.
        std::fs::write(root.join("mappings/vitals.toml"), "# mine\n").unwrap();
        std::fs::remove_file(root.join("mappings/patients.toml")).unwrap();
        let err = install_library(&p, "clinic").unwrap_err().to_string();
        assert!(err.contains("mappings/vitals.toml"), "{err}");
        assert_eq!(
            std::fs::read_to_string(root.join("mappings/vitals.toml")).unwrap(),
            "# mine\n"
        );
        assert!(!root.join("mappings/patients.toml").exists());
        let err = install_library(&p, "nope").unwrap_err().to_string();
        assert!(err.contains("`clinic`") || err.contains("clinic"), "{err}");
    }

    #[test]
    fn set_project_key_replaces_the_commented_line_or_adds_one() {
        let t = set_project_key(
            "[project]\nname = \"x\"\n# local_offset = \"-05:00\"\n",
            "local_offset",
            "-06:00",
        );
        assert_eq!(t, "[project]\nname = \"x\"\nlocal_offset = \"-06:00\"\n");
        let t = set_project_key("[project]\nname = \"x\"\n", "local_offset", "-05:00");
        assert_eq!(t, "[project]\nlocal_offset = \"-05:00\"\nname = \"x\"\n");
        let t = set_project_key("[output]\ndir = \"o\"\n", "local_offset", "-05:00");
        assert!(
            toml::from_str::<crate::Config>(&t)
                .unwrap()
                .project
                .local_offset
                .is_some()
        );
    }
}
