//! SMART Backend Services (`auth = "smart"`): access tokens for a FHIR target by the OAuth 2.0
//! `client_credentials` grant with a signed JWT client assertion (ES384 or RS384), as SMART App
//! Launch 2.x "Backend Services" specifies.
//!
//! - The token URL is `token_url` from ferry.toml, or else the `token_endpoint` of
//!   `{base}/.well-known/smart-configuration` (asked once, on the first token).
//! - Each assertion: `iss = sub = client_id`, `aud` = the token URL, `exp` 4 minutes ahead (the
//!   spec allows at most 5), a fresh random `jti`, `kid` in the header when `key_id` is set.
//! - The token is cached with its `expires_in` and renewed shortly before it expires, and once
//!   more when the FHIR server answers 401 to it (the caller then resends that request once).
//!   One lock guards the cache: workers sharing the client wait for one renewal, not one each.
//!
//! Secrets: the private key, each assertion and each access token are never in a message, a
//! `Debug` output or a log. A token endpoint's refusal is shown by its OAuth `error` code and
//! `error_description` (which RFC 6749 keeps free of credentials), never by what Ferry sent.

use crate::LoadError;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The scopes asked for when ferry.toml names none: SMART v2 create, read, update, delete and
/// search on every type (a load writes and reads pre-images, verify searches, rollback deletes).
pub const DEFAULT_SCOPES: &str = "system/*.cruds";

/// The assertion type of RFC 7523, which SMART Backend Services uses.
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid: under the 5 minutes SMART allows, with room for clock skew.
const ASSERTION_LIFETIME: u64 = 240;

/// Longest token-endpoint or discovery answer read.
const MAX_ANSWER: u64 = 1 << 20;

/// Why a token could not be had: a transport failure (the caller may retry) or a refusal.
#[derive(Debug)]
pub(crate) enum Failure {
    Transport(String),
    Refused(LoadError),
}

/// The claims of a client assertion.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
    jti: &'a str,
}

/// An access token as the token endpoint gave it. Its `Debug` never shows the token.
#[derive(Clone)]
pub struct Token {
    secret: String,
    /// Seconds it is valid for, as the server said (`expires_in`; 300 when it did not say).
    pub expires_in: u64,
    /// The scopes granted (`scope`), when the server said.
    pub scope: Option<String>,
}

impl Token {
    /// The token itself, to send as `Authorization: Bearer`. Never print it.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("secret", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

struct Cached {
    token: Token,
    renew_at: Instant,
}

#[derive(Default)]
struct State {
    token_url: Option<String>,
    cached: Option<Cached>,
}

/// The token source of one target: its client, key and cache. Shared by the load's workers.
pub struct SmartClient {
    target: String,
    base: String,
    client_id: String,
    key_path: PathBuf,
    key: EncodingKey,
    alg: Algorithm,
    key_id: Option<String>,
    scopes: String,
    agent: ureq::Agent,
    state: Mutex<State>,
    issued: AtomicU64,
}

impl std::fmt::Debug for SmartClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmartClient")
            .field("target", &self.target)
            .field("client_id", &self.client_id)
            .field("key_path", &self.key_path)
            .field("alg", &self.alg)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// The settings of `auth = "smart"` (from [`crate::TargetConfig`]).
pub(crate) struct Settings<'a> {
    pub client_id: &'a str,
    pub private_key_file: &'a Path,
    pub alg: Option<&'a str>,
    pub key_id: Option<&'a str>,
    pub scopes: Option<&'a str>,
    pub token_url: Option<&'a str>,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Reads a PEM private key and finds its algorithm: `alg` when given, else ES384 for an EC
/// P-384 key and RS384 for an RSA key. A trial signature proves the key signs with it.
fn read_key(path: &Path, alg: Option<&str>) -> Result<(EncodingKey, Algorithm), String> {
    let expected = "a PEM private key, unencrypted: EC P-384 in PKCS#8 (`-----BEGIN PRIVATE KEY-----`, for ES384) or RSA of 2048 bits or more (for RS384)";
    let pem = std::fs::read(path).map_err(|e| {
        format!(
            "cannot read private_key_file `{}`: {}",
            path.display(),
            e.kind()
        )
    })?;
    let text = String::from_utf8_lossy(&pem);
    let not_this = |what: &str| {
        format!(
            "private_key_file `{}` {what}; it must be {expected}",
            path.display()
        )
    };
    if text.contains("BEGIN ENCRYPTED PRIVATE KEY") {
        return Err(not_this(
            "is encrypted (Ferry cannot prompt for a passphrase)",
        ));
    }
    if text.contains("BEGIN EC PRIVATE KEY") {
        return Err(not_this(
            "is an EC key in SEC1 form (`BEGIN EC PRIVATE KEY`); convert it with `openssl pkcs8 -topk8 -nocrypt -in OLD.pem -out NEW.pem`, and",
        ));
    }
    if !text.contains("PRIVATE KEY-----") {
        return Err(not_this("holds no PEM private key"));
    }
    let candidates: Vec<Algorithm> = match alg {
        Some("ES384") => vec![Algorithm::ES384],
        Some("RS384") => vec![Algorithm::RS384],
        Some(other) => {
            return Err(format!(
                "alg = \"{other}\" is not a SMART Backend Services algorithm; use \"ES384\" or \"RS384\" (or leave it out: Ferry reads it from the key)"
            ));
        }
        None => vec![Algorithm::ES384, Algorithm::RS384],
    };
    for a in candidates {
        let key = match a {
            Algorithm::ES384 => EncodingKey::from_ec_pem(&pem),
            _ => EncodingKey::from_rsa_pem(&pem),
        };
        let Ok(key) = key else { continue };
        let probe = Claims {
            iss: "probe",
            sub: "probe",
            aud: "probe",
            exp: 0,
            iat: 0,
            jti: "probe",
        };
        if jsonwebtoken::encode(&Header::new(a), &probe, &key).is_ok() {
            return Ok((key, a));
        }
    }
    Err(match alg {
        Some(a) => not_this(&format!("cannot sign {a}")),
        None => not_this("is neither"),
    })
}

impl SmartClient {
    pub(crate) fn new(
        target: &str,
        base: &str,
        settings: Settings<'_>,
        agent: ureq::Agent,
    ) -> Result<SmartClient, String> {
        if settings.client_id.trim().is_empty() {
            return Err(
                "auth = \"smart\" needs client_id = \"...\" (the id the EHR registered for Ferry)"
                    .into(),
            );
        }
        let (key, alg) = read_key(settings.private_key_file, settings.alg)?;
        let scopes = settings
            .scopes
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_SCOPES)
            .to_string();
        if let Some(u) = settings.token_url {
            check_url(u).map_err(|m| format!("token_url `{u}` {m}"))?;
        }
        Ok(SmartClient {
            target: target.to_string(),
            base: base.to_string(),
            client_id: settings.client_id.to_string(),
            key_path: settings.private_key_file.to_path_buf(),
            key,
            alg,
            key_id: settings.key_id.map(str::to_string),
            scopes,
            agent,
            state: Mutex::new(State {
                token_url: settings.token_url.map(str::to_string),
                cached: None,
            }),
            issued: AtomicU64::new(0),
        })
    }

    /// The algorithm the key signs with (`ES384` or `RS384`).
    pub fn alg(&self) -> &'static str {
        match self.alg {
            Algorithm::ES384 => "ES384",
            _ => "RS384",
        }
    }

    /// How many tokens this client has been given so far.
    pub fn tokens_issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached token, or a new one when there is none or it is about to expire.
    pub(crate) fn bearer(&self) -> Result<String, Failure> {
        let mut st = self.lock();
        if let Some(c) = &st.cached
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.secret.clone());
        }
        self.renew_locked(&mut st)
    }

    /// After a 401 to `used`: a new token, unless another worker has already renewed it.
    pub(crate) fn bearer_after_401(&self, used: &str) -> Result<String, Failure> {
        let mut st = self.lock();
        if let Some(c) = &st.cached
            && c.token.secret != used
        {
            return Ok(c.token.secret.clone());
        }
        st.cached = None;
        self.renew_locked(&mut st)
    }

    fn renew_locked(&self, st: &mut State) -> Result<String, Failure> {
        let url = match &st.token_url {
            Some(u) => u.clone(),
            None => {
                let u = self.discover()?;
                st.token_url = Some(u.clone());
                u
            }
        };
        let asked = Instant::now();
        let assertion = self
            .assertion(
                &url,
                now_unix() + ASSERTION_LIFETIME,
                &uuid::Uuid::new_v4().to_string(),
            )
            .map_err(Failure::Refused)?;
        let token = self.request(&url, &assertion)?;
        // Renew a little before it expires: 30 s early, or half its life for short tokens.
        let life = Duration::from_secs(token.expires_in);
        let renew_at = asked + life - (life / 2).min(Duration::from_secs(30));
        let secret = token.secret.clone();
        st.cached = Some(Cached { token, renew_at });
        Ok(secret)
    }

    /// The token URL: `token_url`, or the `token_endpoint` of the server's SMART configuration.
    pub fn token_url(&self) -> Result<String, LoadError> {
        let mut st = self.lock();
        if let Some(u) = &st.token_url {
            return Ok(u.clone());
        }
        let u = self.discover().map_err(|f| self.fatal(f))?;
        st.token_url = Some(u.clone());
        Ok(u)
    }

    /// A fresh token (not cached): the whole exchange, as a load's first request does it.
    pub fn fetch_token(&self) -> Result<Token, LoadError> {
        let url = self.token_url()?;
        let assertion = self.assertion(
            &url,
            now_unix() + ASSERTION_LIFETIME,
            &uuid::Uuid::new_v4().to_string(),
        )?;
        self.request(&url, &assertion).map_err(|f| self.fatal(f))
    }

    /// Test hook: a token for a given assertion (see [`SmartClient::assertion`]).
    #[doc(hidden)]
    pub fn fetch_token_with(&self, token_url: &str, assertion: &str) -> Result<Token, LoadError> {
        self.request(token_url, assertion)
            .map_err(|f| self.fatal(f))
    }

    /// A signed client assertion for `token_url` expiring at `exp` (Unix seconds) with `jti`.
    /// Public as a test hook (expired and replayed assertions); Ferry makes a new one per token.
    #[doc(hidden)]
    pub fn assertion(&self, token_url: &str, exp: u64, jti: &str) -> Result<String, LoadError> {
        let mut header = Header::new(self.alg);
        header.typ = Some("JWT".into());
        header.kid = self.key_id.clone();
        let claims = Claims {
            iss: &self.client_id,
            sub: &self.client_id,
            aud: token_url,
            exp,
            iat: now_unix(),
            jti,
        };
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| {
            self.refused(format!(
                "cannot sign the client assertion with private_key_file `{}` ({}): {}",
                self.key_path.display(),
                self.alg(),
                e
            ))
        })
    }

    fn refused(&self, message: String) -> LoadError {
        LoadError::Auth {
            target: self.target.clone(),
            message,
        }
    }

    fn fatal(&self, f: Failure) -> LoadError {
        match f {
            Failure::Refused(e) => e,
            Failure::Transport(m) => self.refused(m),
        }
    }

    fn get_json(&self, url: &str) -> Result<(u16, Option<serde_json::Value>), String> {
        let mut resp = self
            .agent
            .get(url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| crate::http::describe(&e))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(|e| crate::http::describe(&e))?;
        Ok((status, serde_json::from_slice(&body).ok()))
    }

    /// `token_endpoint` from `{base}/.well-known/smart-configuration`.
    fn discover(&self) -> Result<String, Failure> {
        let url = format!("{}/.well-known/smart-configuration", self.base);
        let fix = "or set token_url = \"https://...\" in this target's settings";
        let (status, json) = self.get_json(&url).map_err(|e| {
            Failure::Transport(format!(
                "SMART discovery at `{url}`: {e}; check the server is up, {fix}"
            ))
        })?;
        if crate::http::retryable(status) {
            return Err(Failure::Transport(format!(
                "SMART discovery at `{url}` answered HTTP {status}"
            )));
        }
        if status != 200 {
            return Err(Failure::Refused(self.refused(format!(
                "SMART discovery at `{url}` answered HTTP {status}: this server publishes no SMART configuration there; ask the EHR for its token URL and set token_url = \"https://...\" in this target's settings"
            ))));
        }
        let endpoint = json
            .as_ref()
            .and_then(|j| j.get("token_endpoint"))
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| {
                Failure::Refused(self.refused(format!(
                    "SMART discovery at `{url}` gave no `token_endpoint` (not a SMART configuration document); {fix}"
                )))
            })?;
        check_url(endpoint).map_err(|m| {
            Failure::Refused(self.refused(format!(
                "SMART discovery at `{url}` gave token_endpoint `{endpoint}`, which {m}; {fix}"
            )))
        })?;
        Ok(endpoint.to_string())
    }

    /// The token request: `client_credentials` with the assertion, by form POST.
    fn request(&self, url: &str, assertion: &str) -> Result<Token, Failure> {
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", self.scopes.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ];
        let mut resp = self
            .agent
            .post(url)
            .header("Accept", "application/json")
            .send_form(form)
            .map_err(|e| {
                Failure::Transport(format!(
                    "token endpoint `{url}`: {}",
                    crate::http::describe(&e)
                ))
            })?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(|e| {
                Failure::Transport(format!(
                    "token endpoint `{url}`: {}",
                    crate::http::describe(&e)
                ))
            })?;
        if status == 200 {
            return self.parse_token(url, &body);
        }
        if crate::http::retryable(status) {
            return Err(Failure::Transport(format!(
                "token endpoint `{url}` answered HTTP {status}"
            )));
        }
        Err(Failure::Refused(self.refusal(url, status, &body)))
    }

    fn parse_token(&self, url: &str, body: &[u8]) -> Result<Token, Failure> {
        #[derive(Deserialize)]
        struct Answer {
            access_token: Option<String>,
            token_type: Option<String>,
            expires_in: Option<u64>,
            scope: Option<String>,
        }
        let bad = |what: &str| {
            Failure::Refused(
                self.refused(format!("token endpoint `{url}` answered 200 but {what}")),
            )
        };
        let a: Answer = serde_json::from_slice(body).map_err(|_| bad("not with a JSON token"))?;
        let secret = a
            .access_token
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| bad("gave no access_token"))?;
        if let Some(t) = &a.token_type
            && !t.eq_ignore_ascii_case("bearer")
        {
            return Err(bad(&format!(
                "gave token_type `{}`, not `bearer`",
                clean(t)
            )));
        }
        self.issued.fetch_add(1, Ordering::Relaxed);
        Ok(Token {
            secret,
            expires_in: a.expires_in.unwrap_or(300).clamp(1, 86_400),
            scope: a.scope,
        })
    }

    /// A token endpoint's refusal in words: its OAuth error and description, and the fix.
    fn refusal(&self, url: &str, status: u16, body: &[u8]) -> LoadError {
        let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let field = |k: &str| {
            json.as_ref()
                .and_then(|j| j.get(k))
                .and_then(serde_json::Value::as_str)
                .map(clean)
        };
        let id = &self.client_id;
        let (error, what) = match (field("error"), field("error_description")) {
            (Some(e), Some(d)) => (e.clone(), format!("{e}: {d}")),
            (Some(e), None) => (e.clone(), e),
            _ => (String::new(), "no OAuth error in its answer".to_string()),
        };
        let hint = match error.as_str() {
            "invalid_client" => format!(
                "check that client_id `{id}` is the id the EHR registered, and that the public key registered for it (its JWKS) is the public half of private_key_file `{}` ({}{})",
                self.key_path.display(),
                self.alg(),
                match &self.key_id {
                    Some(k) => format!(", key_id `{k}`"),
                    None => String::new(),
                }
            ),
            "invalid_scope" => format!(
                "the scopes asked for (`{}`) are not all granted to `{id}`; set scopes to what the EHR allows",
                self.scopes
            ),
            "unauthorized_client" => format!(
                "the EHR does not let `{id}` use the client_credentials grant; ask it to enable SMART Backend Services for this client"
            ),
            _ => format!("check the registration of client `{id}` with the EHR"),
        };
        self.refused(format!(
            "the token endpoint `{url}` refused client `{id}` (HTTP {status}, {what}); {hint}"
        ))
    }
}

/// The server's own words, made safe to print: one line, at most 300 characters.
fn clean(s: &str) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    one.trim().to_string()
}

/// An https URL, or http to this machine (a test server).
fn check_url(u: &str) -> Result<(), &'static str> {
    let uri: ureq::http::Uri = u.parse().map_err(|_| "is not a URL")?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if crate::target::is_loopback(uri.host().unwrap_or_default()) => Ok(()),
        _ => Err("must be an https:// URL (plain http only to this machine)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new PEM private key made by the openssl CLI (`genpkey` options), or `None` without it.
    fn key(dir: &Path, name: &str, opts: &[&str]) -> Option<PathBuf> {
        let path = dir.join(name);
        let st = std::process::Command::new("openssl")
            .arg("genpkey")
            .args(opts)
            .arg("-out")
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        st.success().then_some(path)
    }

    fn client(path: &Path) -> SmartClient {
        let settings = Settings {
            client_id: "ferry-test",
            private_key_file: path,
            alg: None,
            key_id: Some("k1"),
            scopes: None,
            token_url: Some("https://auth.example.org/token"),
        };
        SmartClient::new(
            "ehr",
            "https://ehr.example.org/fhir",
            settings,
            ureq::Agent::new_with_defaults(),
        )
        .unwrap()
    }

    #[test]
    fn the_algorithm_comes_from_the_key_and_other_curves_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let Some(ec) = key(
            dir.path(),
            "ec.pem",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        ) else {
            eprintln!("SKIPPED: no openssl CLI");
            return;
        };
        assert_eq!(read_key(&ec, None).unwrap().1, Algorithm::ES384);
        let e = read_key(&ec, Some("RS384")).err().unwrap();
        assert!(e.contains("cannot sign RS384"), "{e}");
        let p256 = key(
            dir.path(),
            "p256.pem",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        )
        .unwrap();
        let e = read_key(&p256, None).err().unwrap();
        assert!(
            e.contains("p256.pem` is neither") && e.contains("EC P-384"),
            "{e}"
        );
        let e = read_key(&ec, Some("HS256")).err().unwrap();
        assert!(e.contains("\"ES384\" or \"RS384\""), "{e}");
    }

    #[test]
    fn an_assertion_has_the_claims_smart_asks_for_and_debug_shows_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let Some(ec) = key(
            dir.path(),
            "ec.pem",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        ) else {
            eprintln!("SKIPPED: no openssl CLI");
            return;
        };
        let c = client(&ec);
        let a = c
            .assertion("https://auth.example.org/token", 1_900_000_000, "j-1")
            .unwrap();
        let part = |i: usize| -> serde_json::Value {
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(a.split('.').nth(i).unwrap())
                .unwrap();
            serde_json::from_slice(&raw).unwrap()
        };
        let (h, p) = (part(0), part(1));
        assert_eq!(
            (h["alg"].as_str(), h["kid"].as_str(), h["typ"].as_str()),
            (Some("ES384"), Some("k1"), Some("JWT"))
        );
        assert_eq!(p["iss"], "ferry-test");
        assert_eq!(p["sub"], "ferry-test");
        assert_eq!(p["aud"], "https://auth.example.org/token");
        assert_eq!(
            (p["exp"].as_u64(), p["jti"].as_str()),
            (Some(1_900_000_000), Some("j-1"))
        );
        let pem = std::fs::read_to_string(&ec).unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains(&a) && !debug.contains("eyJ"), "{debug}");
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!debug.contains(line), "{debug}");
        }
        let t = Token {
            secret: "s3cr3t-token".into(),
            expires_in: 5,
            scope: None,
        };
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_refusal_says_the_oauth_error_and_the_fix_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let Some(ec) = key(
            dir.path(),
            "ec.pem",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        ) else {
            eprintln!("SKIPPED: no openssl CLI");
            return;
        };
        let c = client(&ec);
        let e = c.refusal(
            "https://auth.example.org/token",
            401,
            br#"{"error":"invalid_client","error_description":"client authentication\nfailed"}"#,
        );
        assert_eq!(
            e.to_string(),
            format!(
                "target `ehr`: SMART Backend Services authorization failed: the token endpoint `https://auth.example.org/token` refused client `ferry-test` (HTTP 401, invalid_client: client authentication failed); check that client_id `ferry-test` is the id the EHR registered, and that the public key registered for it (its JWKS) is the public half of private_key_file `{}` (ES384, key_id `k1`)",
                ec.display()
            )
        );
        let e = c.refusal(
            "https://auth.example.org/token",
            400,
            br#"{"error":"invalid_scope"}"#,
        );
        assert!(
            e.to_string()
                .contains("(`system/*.cruds`) are not all granted"),
            "{e}"
        );
        let e = c.refusal("https://auth.example.org/token", 400, b"<html>");
        assert!(
            e.to_string().contains("no OAuth error in its answer"),
            "{e}"
        );
    }
}

/// The 401 rule end to end over a loopback socket: a token the server stops taking is renewed
/// once and the request resent once; a server that refuses every token is `Refused`.
#[cfg(test)]
mod renewal {
    use crate::{LoadError, Stats, Target, TargetConfig};
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// A one-thread HTTP/1.1 server: `/token` gives `t1`, `t2`, ...; any other path answers 200
    /// to a bearer token in `accepted` and 401 otherwise. Returns its URL and the token log.
    fn serve(accepted: &'static [&'static str]) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let mut issued = 0;
            for conn in listener.incoming().flatten() {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    let (mut len, mut auth) = (0usize, String::new());
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        if h.trim().is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap();
                        match k.to_ascii_lowercase().as_str() {
                            "content-length" => len = v.trim().parse().unwrap(),
                            "authorization" => auth = v.trim().trim_start_matches("Bearer ").into(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    let (status, answer) = if path == "/token" {
                        issued += 1;
                        let t = format!("t{issued}");
                        (
                            200,
                            format!(
                                r#"{{"access_token":"{t}","token_type":"bearer","expires_in":3600}}"#
                            ),
                        )
                    } else {
                        log.lock().unwrap().push(auth.clone());
                        if accepted.contains(&auth.as_str()) {
                            (200, "{}".to_string())
                        } else {
                            (401, "{}".to_string())
                        }
                    };
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                }
            }
        });
        (url, seen)
    }

    fn target(url: &str, dir: &std::path::Path) -> Option<Target> {
        let key = dir.join("k.pem");
        let ok = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-out",
            ])
            .arg(&key)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: no openssl CLI");
            return None;
        }
        let cfg: TargetConfig = toml::from_str(&format!(
            "kind = \"fhir\"\nurl = \"{url}/fhir\"\nallow_http = true\nauth = \"smart\"\nclient_id = \"c\"\nprivate_key_file = \"k.pem\"\ntoken_url = \"{url}/token\"\n"
        ))
        .unwrap();
        Some(Target::open("t", &cfg, dir).unwrap())
    }

    fn get(t: &Target) -> Result<u16, LoadError> {
        let deadline = Instant::now() + Duration::from_secs(5);
        crate::fhir::exchange(
            t,
            "GET",
            "Patient",
            None,
            None,
            deadline,
            &Stats::default(),
            &ferry_core::Cancel::new(),
        )
        .map(|r| r.status)
    }

    #[test]
    fn a_401_renews_the_token_once_and_resends_once() {
        let dir = tempfile::tempdir().unwrap();
        let (url, seen) = serve(&["t2", "t3"]);
        let Some(t) = target(&url, dir.path()) else {
            return;
        };
        assert_eq!(get(&t).unwrap(), 200);
        assert_eq!(*seen.lock().unwrap(), ["t1", "t2"]);
        assert_eq!(get(&t).unwrap(), 200, "the renewed token is cached");
        assert_eq!(*seen.lock().unwrap(), ["t1", "t2", "t2"]);
        assert_eq!(t.smart().unwrap().tokens_issued(), 2);
    }

    #[test]
    fn a_second_401_is_refused_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let (url, seen) = serve(&[]);
        let Some(t) = target(&url, dir.path()) else {
            return;
        };
        let e = get(&t).unwrap_err();
        assert!(matches!(e, LoadError::Refused { status: 401, .. }), "{e}");
        assert_eq!(
            *seen.lock().unwrap(),
            ["t1", "t2"],
            "one renewal, one resend"
        );
        assert!(!e.to_string().contains("t2"), "{e}");
    }
}
