//! A migration project: a folder with `ferry.toml`, found from the current directory upwards
//! (or given with `-C DIR`).

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "ferry.toml";

/// `ferry.toml`. Unknown keys are errors, so a typo is caught rather than ignored.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    #[allow(dead_code)] // shown in reports (later issues)
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
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // `name` is shown in reports (later issues)
pub struct ProjectSection {
    pub name: Option<String>,
    /// The namespace of the project's resource ids (UUID v5): keep it forever, so that every run
    /// gives a source row the same resource id.
    pub namespace: Option<String>,
    /// Offset for legacy local times without a zone, e.g. `-05:00`.
    pub local_offset: Option<String>,
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
    pub root: PathBuf,
    pub config: Config,
}

impl Project {
    /// Finds the project containing `start` (or `start` itself when given with `-C`).
    pub fn discover(explicit: Option<&Path>) -> Result<Project> {
        let start = match explicit {
            // Absolute, so that nothing recorded depends on the caller's directory.
            Some(dir) => std::path::absolute(dir)
                .with_context(|| format!("cannot resolve `{}`", dir.display()))?,
            None => std::env::current_dir().context("cannot read the current directory")?,
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
        bail!(
            "no `{CONFIG_FILE}` found in `{}`{}. Run `ferry init DIR` to create a project, or pass `-C DIR` to name one",
            start.display(),
            if explicit.is_some() {
                ""
            } else {
                " or any folder above it"
            }
        )
    }

    pub fn load(root: &Path) -> Result<Project> {
        let path = root.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        let config: Config = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "`{}` is not valid: {e}\nFix the setting, or compare with the file `ferry init` writes",
                path.display()
            )
        })?;
        Ok(Project {
            root: root.to_path_buf(),
            config,
        })
    }

    fn dir(&self, configured: &Option<PathBuf>, default: &str) -> PathBuf {
        let d = configured.clone().unwrap_or_else(|| PathBuf::from(default));
        if d.is_absolute() {
            d
        } else {
            self.root.join(d)
        }
    }

    /// The workspace folder (holds PHI).
    pub fn workspace_dir(&self) -> PathBuf {
        self.dir(&self.config.workspace.dir, ".ferry")
    }

    pub fn output_dir(&self) -> PathBuf {
        self.dir(&self.config.output.dir, "output")
    }

    #[allow(dead_code)] // used by `ferry profile` (later issues)
    pub fn reports_dir(&self) -> PathBuf {
        self.dir(&self.config.reports.dir, "reports")
    }

    /// The project's id namespace from ferry.toml.
    pub fn namespace(&self) -> Result<uuid::Uuid> {
        let Some(text) = &self.config.project.namespace else {
            bail!(
                "`{CONFIG_FILE}` has no `namespace` under [project]. Add `namespace = \"{}\"` (a new random one) and never change it: it makes resource ids stable across runs",
                uuid::Uuid::new_v4()
            );
        };
        uuid::Uuid::parse_str(text).map_err(|_| {
            anyhow::anyhow!(
                "`namespace` in `{CONFIG_FILE}` is not a UUID (`{text}`); it must look like `{}`",
                uuid::Uuid::new_v4()
            )
        })
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

    pub fn open_workspace(&self) -> Result<ferry_store::Workspace> {
        let dir = self.workspace_dir();
        ferry_store::Workspace::open(&dir)
            .with_context(|| format!("cannot open the workspace `{}`", dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
