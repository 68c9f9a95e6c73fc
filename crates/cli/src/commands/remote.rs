//! What the commands that work over the API share: where the server is and who calls
//! it, from flags, the environment, or a profile in the user's configuration
//! directory (`~/.config/sextant/profiles.toml`), in that order of precedence:
//!
//! ```toml
//! [default]
//! url = "https://analytics.example.com"
//! username = "importer.1a2b"     # a service account ...
//! secret = "..."
//! project_id = 1
//! # api_secret = "..."           # ... or a project secret, or an `sx_` token:
//! # token = "sx_..."
//! # ca_cert = "/etc/sextant/ca.pem"
//! ```

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Deserialize;
use sextant_client::Client;

#[derive(Args, Clone, Debug, Default)]
pub(crate) struct RemoteArgs {
    /// The server's base URL.
    #[arg(long, env = "SEXTANT_URL")]
    pub(crate) url: Option<String>,
    /// The profile to read from ~/.config/sextant/profiles.toml (default: `default`).
    #[arg(long, env = "SEXTANT_PROFILE")]
    pub(crate) profile: Option<String>,
    /// A service account's username (with --secret and --project-id).
    #[arg(long, env = "SEXTANT_USERNAME")]
    pub(crate) username: Option<String>,
    /// The service account's secret.
    #[arg(long, env = "SEXTANT_SECRET", hide_env_values = true)]
    pub(crate) secret: Option<String>,
    /// The project, with a service account.
    #[arg(long, env = "SEXTANT_PROJECT_ID")]
    pub(crate) project_id: Option<i64>,
    /// A project's API secret, instead of a service account.
    #[arg(long, env = "SEXTANT_API_SECRET", hide_env_values = true)]
    pub(crate) api_secret: Option<String>,
    /// A personal API token (`sx_...`), instead of a service account.
    #[arg(long, env = "SEXTANT_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// A certificate authority to trust (PEM), such as a self-signed server's.
    #[arg(long, env = "SEXTANT_CA_CERT")]
    pub(crate) ca_cert: Option<PathBuf>,
}

/// One profile of the profiles file; every field optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    url: Option<String>,
    username: Option<String>,
    secret: Option<String>,
    project_id: Option<i64>,
    api_secret: Option<String>,
    token: Option<String>,
    ca_cert: Option<PathBuf>,
}

impl RemoteArgs {
    /// A client for the server these arguments (and the profile) name.
    pub(crate) fn client(&self) -> Result<Client> {
        let profile = self.profile()?;
        let url = self
            .url
            .clone()
            .or(profile.url.clone())
            .context("no server: give --url, set SEXTANT_URL, or add `url` to a profile")?;
        let mut builder = Client::builder()
            .base_url(url)
            .user_agent(format!("sextant-cli/{}", env!("CARGO_PKG_VERSION")))
            // A server silent this long is stuck: a batch is answered within its
            // deadline (60 s) and an export keeps sending.
            .read_timeout(std::time::Duration::from_secs(300));
        // The credential comes whole from one place: flags and variables when they name
        // one, else the profile (never a username from one and a token from the other).
        let given =
            self.username.is_some() || self.secret.is_some() || self.api_secret.is_some() || self.token.is_some();
        let project_id = self.project_id.or(profile.project_id);
        let from = if given {
            Profile {
                username: self.username.clone(),
                secret: self.secret.clone(),
                api_secret: self.api_secret.clone(),
                token: self.token.clone(),
                ..Profile::default()
            }
        } else {
            profile.clone()
        };
        builder = match (from.username, from.secret, from.api_secret, from.token) {
            (Some(username), Some(secret), _, _) => {
                let project_id = project_id
                    .context("a service account needs the project: give --project-id or set SEXTANT_PROJECT_ID")?;
                builder.service_account(username, secret, project_id)
            }
            (Some(_), None, _, _) => {
                bail!("a service account's username needs its secret (--secret or SEXTANT_SECRET)")
            }
            (None, _, Some(api_secret), _) => builder.project_secret(api_secret),
            (None, _, None, Some(token)) => builder.api_token(token),
            _ => bail!(
                "no credential: give --username/--secret/--project-id (a service account), --api-secret, or --token (or their SEXTANT_* variables, or a profile)"
            ),
        };
        if let Some(path) = self.ca_cert.clone().or(profile.ca_cert) {
            let pem = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            builder = builder.add_root_certificate_pem(pem);
        }
        builder.build().map_err(explain)
    }

    /// The named profile (or `default`), empty when there is no profiles file; a
    /// profile named explicitly must exist.
    fn profile(&self) -> Result<Profile> {
        let Some(path) = profiles_path() else { return Ok(Profile::default()) };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.profile.is_none() => {
                return Ok(Profile::default());
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut all: std::collections::BTreeMap<String, Profile> =
            toml::from_str(&text).with_context(|| format!("{} is not a valid profiles file", path.display()))?;
        match &self.profile {
            Some(name) => all.remove(name).with_context(|| format!("no profile `{name}` in {}", path.display())),
            None => Ok(all.remove("default").unwrap_or_default()),
        }
    }
}

/// `$XDG_CONFIG_HOME/sextant/profiles.toml`, else `~/.config/sextant/profiles.toml`.
fn profiles_path() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("sextant").join("profiles.toml"))
}

/// An error for the terminal: the message, and the client's hint when it has one.
pub(crate) fn explain(e: sextant_client::Error) -> anyhow::Error {
    match e.hint() {
        Some(hint) => anyhow::anyhow!("{e}\nhint: {hint}"),
        None => anyhow::Error::new(e),
    }
}
