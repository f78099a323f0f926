//! `[targets.NAME]` in `ferry.toml`: where a load goes and how Ferry talks to it, and the HTTP
//! client built from it (rustls, TLS 1.2+; `http://` only to loopback and only when allowed).
//!
//! Secrets are never in `ferry.toml`: a bearer token comes from an environment variable or a
//! file named there, a SMART private key from a file named there, and no message ever prints
//! either (nor a SMART assertion or access token).

use crate::LoadError;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One target, as written in `ferry.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// `fhir` (a FHIR R4 REST server).
    pub kind: String,
    /// The server's base URL, e.g. `https://ehr.example.org/fhir/R4`.
    pub url: String,
    /// `none` (default), `bearer` or `smart` (SMART Backend Services).
    #[serde(default = "default_auth")]
    pub auth: String,
    /// For `auth = "bearer"`: the environment variable holding the token.
    pub token_env: Option<String>,
    /// For `auth = "bearer"`: a file holding the token (relative to the project).
    pub token_file: Option<PathBuf>,
    /// For `auth = "smart"`: the client id the EHR registered for Ferry.
    pub client_id: Option<String>,
    /// For `auth = "smart"`: the PEM private key (relative to the project), ES384 or RS384.
    pub private_key_file: Option<PathBuf>,
    /// For `auth = "smart"`: `ES384` or `RS384` (default: read from the key).
    pub alg: Option<String>,
    /// For `auth = "smart"`: the `kid` of the registered public key, sent in each assertion.
    pub key_id: Option<String>,
    /// For `auth = "smart"`: the scopes asked for (default [`crate::smart::DEFAULT_SCOPES`]).
    pub scopes: Option<String>,
    /// For `auth = "smart"`: the token URL (default: `token_endpoint` of
    /// `{url}/.well-known/smart-configuration`).
    pub token_url: Option<String>,
    /// Allow `http://` (only to 127.0.0.1, ::1 or localhost: a test server on this machine).
    #[serde(default)]
    pub allow_http: bool,
    /// PEM file of the hospital's own CA: trusted instead of the public roots.
    pub ca_file: Option<PathBuf>,
    /// Entries per Bundle (default 50: Medplum's limit for updates in one transaction).
    #[serde(default = "default_bundle_size")]
    pub bundle_size: usize,
    /// Bundles in flight at once (default 2).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Seconds one request may take (default 60).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Seconds a load keeps retrying a failing server before it stops (default 600); `ferry load
    /// --resume` continues it.
    #[serde(default = "default_retry_for")]
    pub retry_for_secs: u64,
}

fn default_auth() -> String {
    "none".into()
}
fn default_bundle_size() -> usize {
    50
}
fn default_concurrency() -> usize {
    2
}
fn default_timeout() -> u64 {
    60
}
fn default_retry_for() -> u64 {
    600
}

/// A target checked and ready: its name, settings and an HTTP client.
pub struct Target {
    pub name: String,
    pub config: TargetConfig,
    /// The base URL without a trailing `/`.
    pub base: String,
    pub(crate) client: crate::http::Client,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

pub(crate) fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

impl Target {
    /// Checks `config` (named `name` in ferry.toml) and builds its client. `project_root`
    /// resolves relative file settings.
    pub fn open(
        name: &str,
        config: &TargetConfig,
        project_root: &Path,
    ) -> Result<Target, LoadError> {
        let bad = |message: String| LoadError::Config {
            target: name.to_string(),
            message,
        };
        if config.kind != "fhir" {
            return Err(bad(format!(
                "kind = \"{}\" is not a target kind Ferry loads into; use kind = \"fhir\"",
                config.kind
            )));
        }
        let base = config.url.trim_end_matches('/').to_string();
        let uri: ureq::http::Uri = base
            .parse()
            .map_err(|e| bad(format!("url `{base}` is not a URL ({e})")))?;
        let host = uri.host().unwrap_or_default().to_string();
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if config.allow_http && is_loopback(&host) => {}
            Some("http") if config.allow_http => {
                return Err(bad(format!(
                    "url `{base}` is http:// to `{host}`, which is not this machine; plain HTTP is allowed only to 127.0.0.1, ::1 or localhost. Use https://"
                )));
            }
            Some("http") => {
                return Err(bad(format!(
                    "url `{base}` is plain http://; use https://, or for a test server on this machine add allow_http = true"
                )));
            }
            _ => return Err(bad(format!("url `{base}` must start with https://"))),
        }
        if config.bundle_size == 0 || config.bundle_size > 1000 {
            return Err(bad(format!(
                "bundle_size = {} must be between 1 and 1000",
                config.bundle_size
            )));
        }
        if config.concurrency == 0 || config.concurrency > 64 {
            return Err(bad(format!(
                "concurrency = {} must be between 1 and 64",
                config.concurrency
            )));
        }
        let smart_keys = [
            ("client_id", config.client_id.is_some()),
            ("private_key_file", config.private_key_file.is_some()),
            ("alg", config.alg.is_some()),
            ("key_id", config.key_id.is_some()),
            ("scopes", config.scopes.is_some()),
            ("token_url", config.token_url.is_some()),
        ];
        if config.auth != "smart"
            && let Some((key, _)) = smart_keys.iter().find(|(_, set)| *set)
        {
            return Err(bad(format!(
                "{key} is a setting of auth = \"smart\", but this target has auth = \"{}\"",
                config.auth
            )));
        }
        if config.auth != "bearer" && (config.token_env.is_some() || config.token_file.is_some()) {
            return Err(bad(format!(
                "token_env and token_file are settings of auth = \"bearer\", but this target has auth = \"{}\"",
                config.auth
            )));
        }
        let ca = match &config.ca_file {
            Some(p) => {
                let path = project_root.join(p);
                let pem = std::fs::read(&path)
                    .map_err(|e| bad(format!("cannot read ca_file `{}`: {e}", path.display())))?;
                let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c.to_owned()),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    return Err(bad(format!(
                        "ca_file `{}` holds no PEM certificate",
                        path.display()
                    )));
                }
                Some(certs)
            }
            None => None,
        };
        let agent = crate::http::agent(ca, Duration::from_secs(config.timeout_secs.max(1)));
        let auth = match config.auth.as_str() {
            "none" => crate::http::Auth::None,
            "bearer" => crate::http::Auth::Bearer(read_token(name, config, project_root)?),
            "smart" => {
                let (Some(client_id), Some(key)) = (&config.client_id, &config.private_key_file)
                else {
                    return Err(bad(
                        "auth = \"smart\" needs client_id = \"...\" and private_key_file = \"PATH\" (a PEM private key, ES384 or RS384; never the key itself)".into(),
                    ));
                };
                let settings = crate::smart::Settings {
                    client_id,
                    private_key_file: &project_root.join(key),
                    alg: config.alg.as_deref(),
                    key_id: config.key_id.as_deref(),
                    scopes: config.scopes.as_deref(),
                    token_url: config.token_url.as_deref(),
                };
                let smart = crate::smart::SmartClient::new(name, &base, settings, agent.clone())
                    .map_err(bad)?;
                crate::http::Auth::Smart(std::sync::Arc::new(smart))
            }
            other => {
                return Err(bad(format!(
                    "auth = \"{other}\" is not supported; use \"none\", \"bearer\" (with token_env or token_file) or \"smart\" (with client_id and private_key_file)"
                )));
            }
        };
        let client = crate::http::Client::new(agent, auth);
        Ok(Target {
            name: name.to_string(),
            config: config.clone(),
            base,
            client,
        })
    }

    /// The SMART Backend Services token source, when `auth = "smart"`.
    pub fn smart(&self) -> Option<&crate::smart::SmartClient> {
        match &self.client.auth {
            crate::http::Auth::Smart(s) => Some(s),
            _ => None,
        }
    }

    /// What to check when the server refuses Ferry's credentials (401/403).
    pub(crate) fn credentials_hint(&self) -> &'static str {
        match self.config.auth.as_str() {
            "smart" => {
                "that the EHR grants client_id the scopes asked for (scopes), and that its access tokens are meant for this url"
            }
            "none" => "whether the server needs auth = \"bearer\" or auth = \"smart\"",
            _ => "the token named by token_env or token_file, and the scopes the server grants",
        }
    }

    /// The URL of `path` (relative to the base, e.g. `Patient/abc`).
    pub fn url(&self, path: &str) -> String {
        if path.is_empty() {
            self.base.clone()
        } else {
            format!("{}/{}", self.base, path.trim_start_matches('/'))
        }
    }
}

fn read_token(name: &str, config: &TargetConfig, root: &Path) -> Result<String, LoadError> {
    let bad = |message: String| LoadError::Config {
        target: name.to_string(),
        message,
    };
    let token = match (&config.token_env, &config.token_file) {
        (Some(var), _) if std::env::var_os(var).is_some() => std::env::var(var).map_err(|_| {
            bad(format!(
                "the environment variable `{var}` is not valid UTF-8"
            ))
        })?,
        (Some(var), None) => {
            return Err(bad(format!(
                "auth = \"bearer\" reads the token from the environment variable `{var}`, which is not set"
            )));
        }
        (_, Some(file)) => {
            let path = root.join(file);
            std::fs::read_to_string(&path)
                .map_err(|e| bad(format!("cannot read token_file `{}`: {e}", path.display())))?
        }
        (None, None) => {
            return Err(bad(
                "auth = \"bearer\" needs token_env = \"VARIABLE\" or token_file = \"PATH\" (never the token itself)".into(),
            ));
        }
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(bad("the bearer token is empty".into()));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str, allow_http: bool) -> TargetConfig {
        toml::from_str::<TargetConfig>(&format!(
            "kind = \"fhir\"\nurl = \"{url}\"\nallow_http = {allow_http}\n"
        ))
        .unwrap()
    }

    #[test]
    fn plain_http_is_refused_unless_allowed_and_to_loopback() {
        let root = Path::new("/");
        let e = Target::open("t", &cfg("http://127.0.0.1:8080/fhir", false), root).unwrap_err();
        assert!(e.to_string().contains("allow_http"), "{e}");
        let e = Target::open("t", &cfg("http://ehr.example.org/fhir", true), root).unwrap_err();
        assert!(e.to_string().contains("not this machine"), "{e}");
        let t = Target::open("t", &cfg("http://127.0.0.1:8080/fhir/", true), root).unwrap();
        assert_eq!(t.url("Patient/a"), "http://127.0.0.1:8080/fhir/Patient/a");
        assert!(Target::open("t", &cfg("https://ehr.example.org/fhir", false), root).is_ok());
    }

    #[test]
    fn a_bearer_token_comes_from_a_named_variable_and_is_never_in_the_message() {
        let mut c = cfg("https://ehr.example.org/fhir", false);
        c.auth = "bearer".into();
        let e = Target::open("t", &c, Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("token_env"), "{e}");
        c.token_env = Some("FERRY_TEST_TOKEN_SURELY_UNSET".into());
        let e = Target::open("t", &c, Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("not set"), "{e}");
    }

    #[test]
    fn smart_settings_belong_to_auth_smart_which_needs_a_client_and_a_key_file() {
        let root = Path::new("/");
        let mut c = cfg("https://ehr.example.org/fhir", false);
        c.client_id = Some("ferry".into());
        let e = Target::open("t", &c, root).unwrap_err();
        assert!(
            e.to_string()
                .contains("client_id is a setting of auth = \"smart\""),
            "{e}"
        );
        c.auth = "smart".into();
        let e = Target::open("t", &c, root).unwrap_err();
        assert!(e.to_string().contains("private_key_file = \"PATH\""), "{e}");
        c.token_env = Some("X".into());
        let e = Target::open("t", &c, root).unwrap_err();
        assert!(
            e.to_string()
                .contains("token_env and token_file are settings of auth = \"bearer\""),
            "{e}"
        );
    }
}
