//! `[targets.NAME]` with `kind = "postgres"` or `kind = "mysql"`, and the connection settings
//! checked from it. The password never comes from ferry.toml, the URL or the command line:
//! `password_env` names an environment variable, `password_file` a file.

use crate::{DbError, Engine};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One database target, as written in `ferry.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbTargetConfig {
    /// `postgres` or `mysql` (MariaDB or MySQL).
    pub kind: String,
    /// `postgres://USER@HOST:PORT/DATABASE` or `mysql://USER@HOST:PORT/DATABASE`, without a
    /// password.
    pub url: String,
    /// The environment variable holding the password.
    pub password_env: Option<String>,
    /// A file holding the password (relative to the project; one trailing newline ignored).
    pub password_file: Option<PathBuf>,
    /// The schema (PostgreSQL) or database (MariaDB/MySQL) the copy goes into (default `legacy`).
    #[serde(default = "default_schema")]
    pub schema: String,
    /// PEM file of the hospital's own CA: trusted instead of the public roots.
    pub ca_file: Option<PathBuf>,
    /// TLS: on by default, and required unless the host is this machine (loopback or a Unix
    /// socket), where `tls = false` is allowed and is the default.
    pub tls: Option<bool>,
    /// Seconds to wait for a connection (default 10).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

fn default_schema() -> String {
    "legacy".into()
}
fn default_connect_timeout() -> u64 {
    10
}

/// Settings checked and the secret read: ready to connect.
pub struct Connection {
    pub target: String,
    pub engine: Engine,
    pub url: String,
    pub password: Option<String>,
    /// Where the password came from, for messages (`$VAR`, `file x`).
    pub password_source: String,
    pub schema: String,
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: std::time::Duration,
    /// `host:port/database` (no user, no password), for messages.
    pub server: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("target", &self.target)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// True for 127.0.0.0/8, ::1 and `localhost`.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// True when the URL's user part carries a password (`user:secret@`) or its query a
/// `password=` / `pass=` parameter.
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && userinfo.contains(':')
    {
        return true;
    }
    url.split_once('?').is_some_and(|(_, q)| {
        q.split('&').any(|kv| {
            let k = kv.split('=').next().unwrap_or("").to_ascii_lowercase();
            k == "password" || k == "pass"
        })
    })
}

impl Connection {
    pub fn from_config(
        target: &str,
        cfg: &DbTargetConfig,
        project_root: &Path,
    ) -> Result<Connection, DbError> {
        let bad = |message: String| DbError::Config {
            target: target.to_string(),
            message,
        };
        let engine = match cfg.kind.as_str() {
            "postgres" => Engine::Postgres,
            "mysql" => Engine::Mysql,
            other => {
                return Err(bad(format!(
                    "kind = \"{other}\" is not a database kind; use \"postgres\" or \"mysql\" (MariaDB or MySQL)"
                )));
            }
        };
        if url_has_password(&cfg.url) {
            return Err(bad(
                "the url holds a password, and ferry.toml is no place for one (it is read by everyone who reads the project, and lands in git). Remove it from the url and set password_env = \"VAR\" (an environment variable) or password_file = \"PATH\" instead".to_string(),
            ));
        }
        let schemes: &[&str] = match engine {
            Engine::Postgres => &["postgres://", "postgresql://"],
            Engine::Mysql => &["mysql://"],
        };
        if !schemes.iter().any(|s| cfg.url.starts_with(s)) {
            return Err(bad(format!(
                "url must start with {} for kind = \"{}\" (e.g. {}://ferry@127.0.0.1/ehr)",
                schemes.join(" or "),
                cfg.kind,
                schemes[0].trim_end_matches("://")
            )));
        }
        let schema = cfg.schema.clone();
        if schema.is_empty()
            || schema.len() > 40
            || !schema
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            || schema.as_bytes()[0].is_ascii_digit()
        {
            return Err(bad(format!(
                "schema = \"{}\" must be 1 to 40 letters, digits or `_`, not starting with a digit (Ferry adds `__ferry_tmp` beside it while copying)",
                schema
            )));
        }
        let (password, password_source) = match (&cfg.password_env, &cfg.password_file) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "set one of password_env and password_file, not both".to_string()
                ));
            }
            (Some(var), None) => match std::env::var(var) {
                Ok(p) => (Some(p), format!("the environment variable {var}")),
                Err(_) => {
                    return Err(bad(format!(
                        "password_env = \"{var}\", but the environment variable {var} is not set (or not UTF-8); export it in the shell that runs ferry"
                    )));
                }
            },
            (None, Some(file)) => {
                let path = project_root.join(file);
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        let p = text
                            .strip_suffix('\n')
                            .map(|t| t.strip_suffix('\r').unwrap_or(t))
                            .unwrap_or(&text)
                            .to_string();
                        (Some(p), format!("the file {}", path.display()))
                    }
                    Err(e) => {
                        return Err(bad(format!(
                            "password_file `{}` cannot be read ({e}); create it (mode 0600) holding only the password",
                            path.display()
                        )));
                    }
                }
            }
            (None, None) => (None, "no password (none is set)".to_string()),
        };
        let (host, server) = host_of(engine, &cfg.url).map_err(bad)?;
        let local = host.is_empty() || host.starts_with('/') || is_loopback(&host);
        let tls = cfg.tls.unwrap_or(!local);
        if !tls && !local {
            return Err(bad(format!(
                "tls = false, but host `{host}` is not this machine; Ferry sends patient data to another machine only over TLS. Remove tls = false (and set ca_file = \"PATH\" if the server's certificate is from the hospital's own CA)"
            )));
        }
        if !tls && cfg.ca_file.is_some() {
            return Err(bad(
                "ca_file is set but tls = false; remove one of them".to_string()
            ));
        }
        Ok(Connection {
            target: target.to_string(),
            engine,
            url: cfg.url.clone(),
            password,
            password_source,
            schema,
            tls,
            ca_file: cfg.ca_file.as_ref().map(|f| project_root.join(f)),
            connect_timeout: std::time::Duration::from_secs(cfg.connect_timeout_secs.max(1)),
            server,
        })
    }

    pub fn server_error(&self, message: String) -> DbError {
        DbError::Server {
            target: self.target.clone(),
            server: self.server.clone(),
            message,
        }
    }

    pub fn config_error(&self, message: String) -> DbError {
        DbError::Config {
            target: self.target.clone(),
            message,
        }
    }

    /// The rustls client settings: the hospital's CA when given, else the public roots.
    pub fn rustls_config(&self) -> Result<rustls::ClientConfig, DbError> {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| {
                        self.config_error(format!(
                            "ca_file `{}` cannot be read as PEM certificates ({e})",
                            path.display()
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        self.config_error(format!(
                            "ca_file `{}` holds a certificate that is not valid PEM ({e})",
                            path.display()
                        ))
                    })?;
                for c in certs {
                    roots.add(c).map_err(|e| {
                        self.config_error(format!(
                            "ca_file `{}`: a certificate is not usable as a CA ({e})",
                            path.display()
                        ))
                    })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| self.config_error(format!("TLS settings: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }
}

/// The host (empty or a socket folder for local sockets) and `host:port/database` of a URL.
fn host_of(engine: Engine, url: &str) -> Result<(String, String), String> {
    match engine {
        Engine::Postgres => {
            let cfg: postgres::Config = url
                .parse()
                .map_err(|e| format!("url is not a PostgreSQL connection URL ({e})"))?;
            let host = match cfg.get_hosts().first() {
                Some(postgres::config::Host::Tcp(h)) => h.clone(),
                Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
                None => String::new(),
            };
            let port = cfg.get_ports().first().copied().unwrap_or(5432);
            let db = cfg.get_dbname().unwrap_or("");
            Ok((host.clone(), format!("PostgreSQL at {host}:{port}/{db}")))
        }
        Engine::Mysql => {
            let opts = ::mysql::Opts::from_url(url)
                .map_err(|e| format!("url is not a MySQL connection URL ({e})"))?;
            let host = opts.get_ip_or_hostname().to_string();
            let db = opts.get_db_name().unwrap_or("");
            Ok((
                host.clone(),
                format!("MariaDB/MySQL at {host}:{}/{db}", opts.get_tcp_port()),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_found() {
        assert!(url_has_password("postgres://ferry:s3cret@127.0.0.1/ehr"));
        assert!(url_has_password(
            "postgres://127.0.0.1/ehr?user=x&password=y"
        ));
        assert!(url_has_password("mysql://ferry:@h/db"));
        assert!(!url_has_password("postgres://ferry@127.0.0.1:5432/ehr"));
        assert!(!url_has_password("mysql://ferry@[::1]:3306/ehr"));
    }
}
