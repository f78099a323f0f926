//! One HTTP exchange with a FHIR server (ureq over rustls), and the retry rules the field uses:
//! exponential backoff with full jitter, `Retry-After` in seconds or as an HTTP date, retry on
//! 429, 5xx, connection resets and timeouts; never a resend of another 4xx.

use rand::Rng as _;
use std::time::{Duration, SystemTime};

/// Longest response body read (a Bundle response of 1,000 entries is far smaller).
const MAX_BODY: u64 = 256 << 20;

pub(crate) struct Client {
    agent: ureq::Agent,
    pub(crate) auth: Auth,
}

/// What a request carries as `Authorization`.
pub(crate) enum Auth {
    None,
    /// A fixed bearer token (`auth = "bearer"`).
    Bearer(String),
    /// A SMART Backend Services token, renewed before it expires and once after a 401.
    Smart(std::sync::Arc<crate::smart::SmartClient>),
}

/// Why a request got no answer to use: no HTTP answer (worth retrying), or no token to send.
#[derive(Debug)]
pub(crate) enum SendError {
    Transport(Transport),
    Auth(crate::LoadError),
}

impl From<crate::smart::Failure> for SendError {
    fn from(f: crate::smart::Failure) -> SendError {
        match f {
            crate::smart::Failure::Transport(m) => SendError::Transport(Transport(m)),
            crate::smart::Failure::Refused(e) => SendError::Auth(e),
        }
    }
}

/// The agent every request of a target goes through (FHIR requests and SMART token requests):
/// rustls with the target's CA when it names one, a global timeout, no redirects.
pub(crate) fn agent(
    ca: Option<Vec<ureq::tls::Certificate<'static>>>,
    timeout: Duration,
) -> ureq::Agent {
    let mut tls = ureq::tls::TlsConfig::builder().provider(ureq::tls::TlsProvider::Rustls);
    if let Some(certs) = ca {
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .tls_config(tls.build())
        .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
        .build();
    ureq::Agent::new_with_config(config)
}

/// A response: status, body and the headers a loader needs.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub etag: Option<String>,
    pub retry_after: Option<Duration>,
}

/// An exchange that got no HTTP answer (connection refused or reset, timeout, TLS).
#[derive(Debug, Clone)]
pub struct Transport(pub String);

impl Client {
    pub(crate) fn new(agent: ureq::Agent, auth: Auth) -> Client {
        Client { agent, auth }
    }

    /// One request; `body` is FHIR JSON. `if_match` is a version (`W/"3"` is sent). With a
    /// SMART token, a 401 renews the token and sends the request once more; the second answer
    /// is returned whatever it is.
    pub(crate) fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
        if_match: Option<&str>,
    ) -> Result<Response, SendError> {
        match &self.auth {
            Auth::None => self
                .send_once(method, url, body, if_match, None)
                .map_err(SendError::Transport),
            Auth::Bearer(t) => self
                .send_once(method, url, body, if_match, Some(t))
                .map_err(SendError::Transport),
            Auth::Smart(smart) => {
                let token = smart.bearer()?;
                let resp = self
                    .send_once(method, url, body, if_match, Some(&token))
                    .map_err(SendError::Transport)?;
                if resp.status != 401 {
                    return Ok(resp);
                }
                let renewed = smart.bearer_after_401(&token)?;
                self.send_once(method, url, body, if_match, Some(&renewed))
                    .map_err(SendError::Transport)
            }
        }
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
        if_match: Option<&str>,
        token: Option<&str>,
    ) -> Result<Response, Transport> {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("Accept", "application/fhir+json");
        if body.is_some() {
            req = req.header("Content-Type", "application/fhir+json");
        }
        if let Some(v) = if_match {
            req = req.header("If-Match", format!("W/\"{v}\""));
        }
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let req = req
            .body(body.map(<[u8]>::to_vec).unwrap_or_default())
            .map_err(|e| Transport(format!("cannot build the request: {e}")))?;
        let mut resp = self.agent.run(req).map_err(|e| Transport(describe(&e)))?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header("etag");
        let retry_after = header("retry-after").and_then(|v| retry_after(&v, SystemTime::now()));
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| Transport(describe(&e)))?;
        Ok(Response {
            status,
            body,
            etag,
            retry_after,
        })
    }
}

/// A transport error in words, without the URL's query or any header (never a token).
pub(crate) fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::Io(io) => format!("connection error: {}", io.kind()),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        other => other.to_string(),
    }
}

/// `Retry-After`: delay-seconds or an HTTP date (RFC 9110 10.2.3), capped at 5 minutes.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    let d = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = httpdate::parse_http_date(v).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(d.min(Duration::from_secs(300)))
}

/// Whether a status is worth sending again unchanged (429, 5xx; 408 request timeout).
pub fn retryable(status: u16) -> bool {
    status == 429 || status == 408 || (500..600).contains(&status)
}

/// The wait before attempt `attempt` (1-based retry count): full jitter over an exponential
/// ceiling (0.25 s doubling, at most 30 s), or the server's `Retry-After` when it said one.
pub fn backoff(attempt: u32, server_said: Option<Duration>) -> Duration {
    if let Some(d) = server_said {
        return d;
    }
    let ceiling_ms = (250u64 << attempt.min(7)).min(30_000);
    Duration::from_millis(rand::rng().random_range(0..=ceiling_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 02 Dec 2026 10:00:00 GMT").unwrap();
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Wed, 02 Dec 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Wed, 02 Dec 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("99999", now), Some(Duration::from_secs(300)));
    }

    #[test]
    fn only_429_408_and_5xx_are_resent() {
        for s in [429, 408, 500, 502, 503, 504] {
            assert!(retryable(s), "{s}");
        }
        for s in [200, 201, 400, 401, 403, 404, 409, 410, 412, 422] {
            assert!(!retryable(s), "{s}");
        }
    }

    #[test]
    fn backoff_stays_under_its_ceiling_and_honours_the_server() {
        for a in 0..12 {
            assert!(backoff(a, None) <= Duration::from_secs(30));
        }
        assert_eq!(
            backoff(3, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }
}
