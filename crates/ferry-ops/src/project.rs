//! A migration project: a folder with `ferry.toml`, found from the current directory upwards
//! (or given with `-C DIR`). Its root is always absolute, and every path Ferry records is
//! relative to it, so a project reads the same from any directory and after it is moved.

use crate::OpsError;
use serde::Deserialize;
use std::path::{Component, Path, PathBuf};

pub const CONFIG_FILE: &str = "ferry.toml";

/// `ferry.toml`. Unknown keys are errors, so a typo is caught rather than ignored.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub project: ProjectSection,
    #[serde(default)]
    pub workspace: DirSection,
    #[serde(default)]
    pub output: DirSection,
    #[serde(default)]
    pub reports: DirSection,
    #[serde(default)]
    pub stage: StageSection,
    /// Go/no-go thresholds of `ferry verify` (docs/verify.md); every key has a default.
    #[serde(default)]
    pub verify: ferry_verify::Thresholds,
    /// Duplicate patients (`ferry dedupe`, docs/dedupe.md): the patient table, its identity
    /// columns, blocking rules and threshold. Absent: proposed from column names.
    #[serde(default)]
    pub dedupe: Option<ferry_link::DedupeConfig>,
    /// Where `ferry load` sends a run or copies a snapshot (docs/load.md): `[targets.NAME]`,
    /// dispatched by `kind`.
    #[serde(default)]
    pub targets: std::collections::BTreeMap<String, TargetSection>,
    /// Where the audit trail's signing key and signed checkpoints live (docs/audit-trail.md).
    #[serde(default)]
    pub audit_trail: AuditTrailSection,
}

/// `[audit_trail]`: `dir`, the folder of the signing key and checkpoints (default
/// `$XDG_CONFIG_HOME/ferry/<project-id>/`); never inside the workspace.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditTrailSection {
    pub dir: Option<PathBuf>,
}

/// One `[targets.NAME]` section, by its `kind`: `fhir` (a FHIR R4 server `ferry load` sends a
/// run to) or `postgres` / `mysql` (a database `ferry load` copies a staged snapshot's tables
/// into).
#[derive(Debug, Clone)]
pub enum TargetSection {
    Fhir(ferry_load::TargetConfig),
    Database(ferry_legacydb::DbTargetConfig),
}

/// The kinds a `[targets.NAME]` section may have, for messages.
pub const TARGET_KINDS: &str = "\"fhir\" (a FHIR R4 server: ferry load --run), \"postgres\" or \"mysql\" (MariaDB/MySQL: the staged tables into a database, ferry load --snapshot)";

impl<'de> Deserialize<'de> for TargetSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = toml::Value::deserialize(d)?;
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .map(str::to_string);
        match kind.as_deref() {
            Some("fhir") => ferry_load::TargetConfig::deserialize(value)
                .map(TargetSection::Fhir)
                .map_err(|e| D::Error::custom(e.message())),
            Some("postgres" | "mysql") => ferry_legacydb::DbTargetConfig::deserialize(value)
                .map(TargetSection::Database)
                .map_err(|e| D::Error::custom(e.message())),
            Some(other) => Err(D::Error::custom(format!(
                "kind = \"{other}\" is not a target kind; the kinds are {TARGET_KINDS}"
            ))),
            None => Err(D::Error::custom(format!(
                "the target has no `kind`; set kind = one of {TARGET_KINDS}"
            ))),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectSection {
    /// Shown in reports.
    pub name: Option<String>,
    /// The namespace of the project's resource ids (UUID v5): keep it forever, so that every run
    /// gives a source row the same resource id.
    pub namespace: Option<String>,
    /// Offset for legacy local times without a zone, e.g. `-05:00` (fixed: no daylight saving).
    pub local_offset: Option<String>,
    /// IANA time zone for legacy local times without a zone, e.g. `America/New_York` (daylight
    /// saving followed); not with `local_offset`.
    pub time_zone: Option<String>,
    /// A local time shown twice (the night daylight saving ends): `earlier` (default), `later`
    /// or `exception`.
    pub ambiguous_time: Option<String>,
    /// A local time never shown (the spring-forward gap): `exception` (default) or `shift`.
    pub nonexistent_time: Option<String>,
    /// The base of the organisation's own identifier and code systems (`system('sid/mrn')` in
    /// a module): a URL or `urn:oid:...`.
    pub system_base: Option<String>,
    /// `[project.systems]`: a system path's own URI (`"sid/mrn" = "urn:oid:..."`).
    #[serde(default)]
    pub systems: std::collections::BTreeMap<String, String>,
}

impl ProjectSection {
    /// The local-time settings the mappings are loaded with.
    pub fn local_time(&self) -> ferry_map::LocalTime {
        ferry_map::LocalTime {
            local_offset: self.local_offset.clone(),
            time_zone: self.time_zone.clone(),
            ambiguous_time: self.ambiguous_time.clone(),
            nonexistent_time: self.nonexistent_time.clone(),
        }
    }

    /// Every setting the mappings are loaded with (local times and systems): the run, verify
    /// and check all load them from here.
    pub fn map_settings(&self) -> ferry_map::Settings {
        ferry_map::Settings {
            local_time: self.local_time(),
            systems: ferry_map::Systems {
                base: self.system_base.clone(),
                overrides: self.systems.clone(),
            },
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DirSection {
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StageSection {
    /// Force this encoding for delimited files instead of detecting it (a WHATWG label).
    pub csv_encoding: Option<String>,
    /// Force this delimiter for delimited files (one character).
    pub csv_delimiter: Option<String>,
}

/// An opened project.
#[derive(Debug, Clone)]
pub struct Project {
    /// Absolute.
    pub root: PathBuf,
    pub config: Config,
}

impl Project {
    /// Finds the project containing `start` (or `start` itself when given with `-C`).
    pub fn discover(explicit: Option<&Path>) -> Result<Project, OpsError> {
        let start = match explicit {
            Some(dir) => absolute(dir)?,
            None => std::env::current_dir().map_err(|e| OpsError::io(".", "reading", e))?,
        };
        let mut dir = start.as_path();
        loop {
            if dir.join(CONFIG_FILE).is_file() {
                return Project::load(dir);
            }
            if explicit.is_some() {
                break;
            }
            match dir.parent() {
                Some(parent) => dir = parent,
                None => break,
            }
        }
        Err(OpsError::NoProject {
            start,
            searched_up: explicit.is_none(),
        })
    }

    /// Opens the project in `root`.
    pub fn load(root: &Path) -> Result<Project, OpsError> {
        let root = absolute(root)?;
        let path = root.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| OpsError::io(&path, "reading", e))?;
        let config: Config = toml::from_str(&text).map_err(|e| OpsError::BadConfig {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let project = Project { root, config };
        project.check_folders()?;
        Ok(project)
    }

    fn dir(&self, configured: &Option<PathBuf>, default: &str) -> PathBuf {
        let d = configured.clone().unwrap_or_else(|| PathBuf::from(default));
        normalize(&self.root.join(d))
    }

    /// The workspace folder (holds PHI).
    pub fn workspace_dir(&self) -> PathBuf {
        self.dir(&self.config.workspace.dir, ".ferry")
    }

    /// The output folder: one `run-NNNN` folder per run, and `latest`.
    pub fn output_dir(&self) -> PathBuf {
        self.dir(&self.config.output.dir, "output")
    }

    pub fn reports_dir(&self) -> PathBuf {
        self.dir(&self.config.reports.dir, "reports")
    }

    pub fn mappings_dir(&self) -> PathBuf {
        self.root.join("mappings")
    }

    pub fn concept_maps_dir(&self) -> PathBuf {
        self.root.join("concept-maps")
    }

    /// The comparative searches of `ferry verify`.
    pub fn checks_dir(&self) -> PathBuf {
        self.root.join("checks")
    }

    /// The project's name for reports: `[project] name`, else the folder's name.
    pub fn name(&self) -> String {
        self.config.project.name.clone().unwrap_or_else(|| {
            self.root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "migration".to_string())
        })
    }

    /// A path as Ferry records it: relative to the project root when inside it, else absolute.
    pub fn relative(&self, path: &Path) -> String {
        let path = normalize(path);
        match path.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }

    /// A recorded path back to a real one (recorded relative paths are the project's).
    pub fn resolve(&self, recorded: &str) -> PathBuf {
        normalize(&self.root.join(recorded))
    }

    /// Opens the workspace without the project lock (for reading; writing operations go
    /// through [`crate::Session::writer`]).
    pub fn open_workspace(&self) -> Result<ferry_store::Workspace, OpsError> {
        Ok(ferry_store::Workspace::open(&self.workspace_dir())?)
    }

    /// The project's id namespace from ferry.toml.
    pub fn namespace(&self) -> Result<uuid::Uuid, OpsError> {
        let Some(text) = &self.config.project.namespace else {
            return Err(OpsError::Config(format!(
                "`{CONFIG_FILE}` has no `namespace` under [project]. Add `namespace = \"{}\"` (a new random one) and never change it: it makes resource ids stable across runs",
                uuid::Uuid::new_v4()
            )));
        };
        uuid::Uuid::parse_str(text).map_err(|_| {
            OpsError::Config(format!(
                "`namespace` in `{CONFIG_FILE}` is not a UUID (`{text}`); it must look like `{}`",
                uuid::Uuid::new_v4()
            ))
        })
    }

    /// Refuses folder settings under which one of Ferry's folders would hold another, or the
    /// project itself: an output folder of `.ferry` or `mappings` once meant that a run deleted
    /// the workspace or the mappings. Ferry writes only inside its own folders, and deletes only
    /// what it created.
    pub fn check_folders(&self) -> Result<(), OpsError> {
        let own = [
            ("[workspace] dir", self.workspace_dir()),
            ("[output] dir", self.output_dir()),
            ("[reports] dir", self.reports_dir()),
        ];
        let fixed = [
            ("the project folder", self.root.clone()),
            ("mappings/", self.mappings_dir()),
            ("concept-maps/", self.concept_maps_dir()),
            ("checks/", self.checks_dir()),
        ];
        let resolved = |p: &Path| resolve_links(p);
        let clash = |name: &str, dir: &PathBuf, other: &str, odir: &PathBuf| {
            let (d, o) = (resolved(dir), resolved(odir));
            let overlap = if other == "the project folder" {
                // Inside the project is where they belong; holding it is not.
                o.starts_with(&d)
            } else {
                d.starts_with(&o) || o.starts_with(&d)
            };
            if overlap {
                Err(OpsError::FolderOverlap {
                    setting: name.to_string(),
                    dir: dir.clone(),
                    other: other.to_string(),
                    other_dir: odir.clone(),
                })
            } else {
                Ok(())
            }
        };
        for (name, dir) in &own {
            for (other, odir) in &fixed {
                clash(name, dir, other, odir)?;
            }
        }
        for (i, (name, dir)) in own.iter().enumerate() {
            for (other, odir) in own.iter().skip(i + 1) {
                clash(name, dir, other, odir)?;
            }
        }
        Ok(())
    }
}

/// `path` made absolute against the current directory, without touching the disk.
fn absolute(path: &Path) -> Result<PathBuf, OpsError> {
    std::path::absolute(path)
        .map(|p| normalize(&p))
        .map_err(|e| OpsError::io(path, "resolving", e))
}

/// Removes `.` and folds `..` lexically.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The path with symbolic links resolved as far as it exists (the rest appended), so that two
/// spellings of one folder compare equal.
fn resolve_links(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut p = real;
            for part in rest.iter().rev() {
                p.push(part);
            }
            return p;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(config: &str) -> (tempfile::TempDir, Result<Project, OpsError>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), config).unwrap();
        let p = Project::load(dir.path());
        (dir, p)
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_line() {
        let err = toml::from_str::<Config>("[workspace]\ndri = \"x\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("dri"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn defaults_apply_when_sections_are_missing() {
        let p = Project {
            root: PathBuf::from("/p"),
            config: toml::from_str("").unwrap(),
        };
        assert_eq!(p.workspace_dir(), PathBuf::from("/p/.ferry"));
        assert_eq!(p.output_dir(), PathBuf::from("/p/output"));
        assert_eq!(
            p.relative(Path::new("/p/output/run-0001")),
            "output/run-0001"
        );
        assert_eq!(p.relative(Path::new("/elsewhere/out")), "/elsewhere/out");
        assert_eq!(
            p.resolve("output/run-0001"),
            PathBuf::from("/p/output/run-0001")
        );
        assert_eq!(p.resolve("/abs/out"), PathBuf::from("/abs/out"));
    }

    #[test]
    fn verify_thresholds_have_defaults_and_per_module_overrides() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.verify.max_exception_rate, 0.05);
        assert!(c.verify.searches_must_pass);
        let c: Config = toml::from_str(
            "[verify]\nmax_integrity_errors = 2\n[verify.modules.problems]\nmax_exception_rate = 0.1\n",
        )
        .unwrap();
        assert_eq!(c.verify.max_integrity_errors, 2);
        assert_eq!(c.verify.max_roundtrip_mismatches, 0);
        assert_eq!(c.verify.modules["problems"].max_exception_rate, Some(0.1));
        let err = toml::from_str::<Config>("[verify]\nmax_exeption_rate = 0.1\n").unwrap_err();
        assert!(err.to_string().contains("max_exeption_rate"), "{err}");
    }

    /// Regression: `[output] dir = ".ferry"` once deleted the whole workspace on the next run,
    /// and `dir = "mappings"` the mappings.
    #[test]
    fn an_output_folder_overlapping_the_workspace_or_a_project_folder_is_refused() {
        for (config, setting, other) in [
            (
                "[output]\ndir = \".ferry\"\n",
                "[workspace] dir",
                "[output] dir",
            ),
            (
                "[output]\ndir = \"mappings\"\n",
                "[output] dir",
                "mappings/",
            ),
            (
                "[output]\ndir = \"mappings/out\"\n",
                "[output] dir",
                "mappings/",
            ),
            (
                "[output]\ndir = \".\"\n",
                "[output] dir",
                "the project folder",
            ),
            (
                "[output]\ndir = \"..\"\n",
                "[output] dir",
                "the project folder",
            ),
            (
                "[output]\ndir = \".ferry/out\"\n",
                "[workspace] dir",
                "[output] dir",
            ),
            (
                "[reports]\ndir = \"output\"\n",
                "[output] dir",
                "[reports] dir",
            ),
            (
                "[workspace]\ndir = \"checks\"\n",
                "[workspace] dir",
                "checks/",
            ),
        ] {
            let (_d, p) = project(config);
            let err = p.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                err.contains(setting) && err.contains(other),
                "{config}: {err}"
            );
        }
        let (_d, p) = project("[output]\ndir = \"out/ndjson\"\n[reports]\ndir = \"out/reports\"\n");
        assert!(p.is_ok(), "{:?}", p.err());
    }
}
