//! `ferry init DIR`: a new migration project folder.

use crate::commands::Global;
use crate::project::CONFIG_FILE;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder to create (or an existing empty folder).
    pub dir: PathBuf,
    /// Project name for reports (default: the folder's name).
    #[arg(long)]
    pub name: Option<String>,
}

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

pub fn exec(args: Args, global: &Global) -> Result<u8> {
    let name = args.name.clone().unwrap_or_else(|| {
        args.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "migration".into())
    });
    create_project(&args.dir, &name)?;
    if !global.quiet {
        println!("Created Ferry project `{name}` in {}", args.dir.display());
        println!(
            "Next: ferry -C {} stage PATH-TO-SNAPSHOT",
            args.dir.display()
        );
    }
    Ok(crate::exit::OK)
}

/// Writes a new project into `dir`, refusing to overwrite an existing one.
pub fn create_project(dir: &Path, name: &str) -> Result<()> {
    if dir.join(CONFIG_FILE).exists() {
        bail!(
            "`{}` already holds a Ferry project ({CONFIG_FILE} exists). Choose another folder",
            dir.display()
        );
    }
    for sub in ["mappings", "concept-maps", "checks"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).with_context(|| format!("cannot create `{}`", p.display()))?;
        let keep = p.join(".gitkeep");
        std::fs::write(&keep, "").with_context(|| format!("cannot write `{}`", keep.display()))?;
    }
    let config = config_template(name);
    let path = dir.join(CONFIG_FILE);
    std::fs::write(&path, config).with_context(|| format!("cannot write `{}`", path.display()))?;
    let gi = dir.join(".gitignore");
    if !gi.exists() {
        std::fs::write(&gi, GITIGNORE)
            .with_context(|| format!("cannot write `{}`", gi.display()))?;
    }
    Ok(())
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
        let cfg: crate::project::Config = toml::from_str(&text).unwrap();
        assert_eq!(cfg.project.name.as_deref(), Some("Clinic \"A\" \\ B"));
    }
}
