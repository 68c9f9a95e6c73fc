//! [`ClientBuilder`]: where the client sends, as whom, and how patiently.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use sextant_model::Region;

use crate::Client;
use crate::credential::Credential;
use crate::error::Error;
use crate::retry::RetryPolicy;
use crate::transport::Transport;

/// Builds a [`Client`].
///
/// ```
/// use sextant_client::{Client, RetryPolicy};
/// use std::time::Duration;
///
/// let client = Client::builder()
///     .base_url("http://127.0.0.1:8080")
///     .service_account("reader.1234", "its-secret", 1)
///     .timeout(Duration::from_secs(30))
///     .retry(RetryPolicy { max_attempts: 3, ..RetryPolicy::default() })
///     .build()?;
/// # Ok::<(), sextant_client::Error>(())
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    base: Option<String>,
    credential: Option<Credential>,
    timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    connect_timeout: Duration,
    user_agent: String,
    roots: Vec<Vec<u8>>,
    retry: RetryPolicy,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            base: None,
            credential: None,
            timeout: None,
            read_timeout: None,
            connect_timeout: Duration::from_secs(10),
            user_agent: format!("sextant-client/{}", env!("CARGO_PKG_VERSION")),
            roots: Vec::new(),
            retry: RetryPolicy::default(),
        }
    }
}

impl ClientBuilder {
    /// The server's base URL, such as `https://analytics.example.com` (required,
    /// unless [`ClientBuilder::region`] gives it).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base = Some(url.into());
        self
    }

    /// The host serving a data-residency region under `domain`, named as Mixpanel
    /// names its own: `https://api.DOMAIN` (US), `https://api-eu.DOMAIN`,
    /// `https://api-in.DOMAIN`. Sextant serves a project only through its region's host.
    pub fn region(self, region: Region, domain: &str) -> Self {
        let host = match region {
            Region::Us => "api",
            Region::Eu => "api-eu",
            Region::In => "api-in",
        };
        self.base_url(format!("https://{host}.{}", domain.trim_matches('.')))
    }

    /// The credential every call presents.
    pub fn credential(mut self, credential: Credential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// A service account, for `project_id`.
    pub fn service_account(self, username: impl Into<String>, secret: impl Into<String>, project_id: i64) -> Self {
        self.credential(Credential::ServiceAccount { username: username.into(), secret: secret.into(), project_id })
    }

    /// A project's API secret.
    pub fn project_secret(self, secret: impl Into<String>) -> Self {
        self.credential(Credential::ProjectSecret(secret.into()))
    }

    /// A personal API token (`sx_...`).
    pub fn api_token(self, token: impl Into<String>) -> Self {
        self.credential(Credential::ApiToken(token.into()))
    }

    /// A project's public token (ingestion by `/track`, `/engage` and `/groups` only).
    pub fn project_token(self, token: impl Into<String>) -> Self {
        self.credential(Credential::ProjectToken(token.into()))
    }

    /// The longest a call's attempt may take, answer included (default: none, as an
    /// export may stream for hours).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The longest the server may stay silent while an answer is awaited or streamed
    /// (default: none); unlike [`ClientBuilder::timeout`], a long export that keeps
    /// sending never reaches it.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// The longest opening a connection may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` (default `sextant-client/VERSION`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Trusts a certificate authority (PEM), such as the one a server in self-signed
    /// mode prints, besides the system's roots.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.roots.push(pem.into());
        self
    }

    /// When and how failed calls are tried again.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The client, or what is missing or malformed.
    pub fn build(self) -> Result<Client, Error> {
        let base = self.base.ok_or_else(|| Error::Invalid("no base URL: call `base_url` or `region`".into()))?;
        let mut base = Url::parse(&base).map_err(|e| Error::Invalid(format!("the base URL is not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            return Err(Error::Invalid(format!(
                "the base URL `{}` must be http:// or https:// with a host",
                crate::transport::redacted(&base)
            )));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(Error::Invalid("the base URL must not hold credentials: give them as a credential".into()));
        }
        // Paths join under the base's own path (a server behind a prefix).
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let credential = self.credential.ok_or_else(|| Error::Invalid("no credential: call `credential`".into()))?;
        if self.retry.max_attempts == 0 {
            return Err(Error::Invalid("the retry policy must allow at least one attempt".into()));
        }
        let mut http = reqwest::Client::builder().user_agent(self.user_agent).connect_timeout(self.connect_timeout);
        if let Some(timeout) = self.timeout {
            http = http.timeout(timeout);
        }
        if let Some(timeout) = self.read_timeout {
            http = http.read_timeout(timeout);
        }
        for pem in &self.roots {
            let certificate = reqwest::Certificate::from_pem(pem)
                .map_err(|e| Error::Invalid(format!("a root certificate is not PEM: {e}")))?;
            http = http.add_root_certificate(certificate);
        }
        let http = http.build().map_err(|e| Error::Invalid(format!("the HTTP client could not be built: {e}")))?;
        Ok(Client { transport: Arc::new(Transport { http, base, credential, retry: self.retry }) })
    }
}
