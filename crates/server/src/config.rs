//! Server configuration: one struct, filled from defaults, then an optional TOML file,
//! then environment variables and command-line flags (the CLI passes both in as
//! [`ConfigOverrides`], since clap reads the environment for each flag). The `[http]`
//! table ([`HttpLimits`]) has no flags; its environment variables are read here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use std::collections::BTreeMap;

use sextant_model::Region;

use crate::limits::RateLimits;
use crate::limits::config::RateLimitsFile;
use crate::regions::RegionHosts;
use crate::tls::{DEFAULT_SELF_SIGNED_HOSTNAMES, DEFAULT_TLS_LISTEN, TlsConfig, TlsSettings};

/// Everything `sextant serve` needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Directory holding `events.duckdb`, `metadata.sqlite` and `bootstrap.json`.
    pub data_dir: PathBuf,
    /// The control plane's database (`sqlite:` or `postgres:`); `None`: the SQLite file
    /// `metadata.sqlite` in the data directory.
    pub metadata_url: Option<DatabaseUrl>,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// DuckDB's memory limit, such as `"4GB"`.
    pub duckdb_memory_limit: String,
    /// Free space (MiB) writes leave on the data directory's disk: below it, ingestion
    /// answers 503 until there is room again (0 turns the check off).
    pub min_free_disk_mb: u64,
    /// Log format: `text` or `json`.
    pub log_format: LogFormat,
    /// Rate and concurrency limits (Mixpanel's by default); only the file sets them.
    pub rate_limits: RateLimits,
    /// How long a personal API token lives when its creator does not say (seconds).
    pub api_token_ttl_seconds: u64,
    /// How long a GDPR retrieval's archive is served before it is deleted (seconds).
    pub gdpr_archive_ttl_seconds: u64,
    /// Where `fs-raw` pipelines write (`<data dir>/pipelines` when not set): every
    /// pipeline writes under `<this>/<its fs_prefix>/<project id>/`.
    pub pipelines_dir: Option<PathBuf>,
    /// How often the pipeline runner looks for partitions owed (seconds).
    pub pipeline_poll_seconds: u64,
    /// How long a `sync` pipeline's published partition goes before it is read again
    /// to see whether its events changed (seconds).
    pub pipeline_sync_seconds: u64,
    /// Where `files` warehouse sources are (`<data dir>/imports` when not set): a
    /// source's `path` is under it.
    pub imports_dir: Option<PathBuf>,
    /// Where online backups are written (`<data dir>/backups` when not set).
    pub backups_dir: Option<PathBuf>,
    /// The hosts warehouse sources may name (a PostgreSQL URL's host, an S3 source's
    /// endpoint's); `None`: any.
    pub warehouse_hosts: Option<Vec<String>>,
    /// How often the warehouse import runner looks for imports due (seconds).
    pub warehouse_poll_seconds: u64,
    /// Which hostnames serve which data-residency region.
    pub regions: RegionHosts,
    /// The HTTPS listener, when one is configured (beside the HTTP one).
    pub tls: Option<TlsConfig>,
    /// A MaxMind City database (GeoIP2 or GeoLite2 `.mmdb`) for placing events and
    /// profiles by IP address; none, no geolocation.
    pub geoip_database: Option<PathBuf>,
    /// A CSV table of places (`latitude,longitude,city,region,country_code,timezone`)
    /// for reverse geocoding `$latitude`/`$longitude`; none, no reverse geocoding.
    pub places_database: Option<PathBuf>,
    /// Connection cap, timeouts and per-request deadlines of the HTTP(S) listeners.
    pub http: HttpLimits,
    /// The JavaScript heap one JQL script may use, MiB.
    pub jql_memory_mb: u64,
    /// The largest JQL answer, MiB.
    pub jql_output_mb: u64,
}

/// A JQL script's heap: 1 GiB, so the JQL family's five concurrent scripts fit in
/// 5 GiB of a 24 GiB machine beside the store (Mixpanel's cap is 5 GB per query).
pub const DEFAULT_JQL_MEMORY_MB: u64 = 1024;
/// A JQL answer: at most 256 MiB of JSON (Mixpanel's cap is 2 GB).
pub const DEFAULT_JQL_OUTPUT_MB: u64 = 256;

/// What keeps slow or abusive clients from holding the server's connections: a cap on
/// open connections, timeouts on reading a request, and a deadline per request by API
/// family. The `[http]` table of the file sets them, and `SEXTANT_` followed by the key
/// in capitals (`SEXTANT_MAX_CONNECTIONS`, `SEXTANT_QUERY_DEADLINE_SECONDS`, ...) in the
/// environment overrides the file. In seconds; 0 removes a timeout or deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Open connections at most, HTTP and HTTPS together (`max_connections`). `None`:
    /// three quarters of the process's file descriptor limit, at most
    /// [`DEFAULT_MAX_CONNECTIONS`]. A connection over the cap is closed at once (plain
    /// HTTP first gets a `503` with `Retry-After: 1`).
    pub max_connections: Option<usize>,
    /// How long a client has to send a request's line and headers, counted from when
    /// the server starts waiting for them: on a new connection (after the TLS
    /// handshake), and on a kept-alive one after the previous answer, so it is also
    /// how long a kept-alive connection may sit idle (`header_read_timeout_seconds`).
    /// The connection is closed when it passes.
    pub header_read_timeout: Option<Duration>,
    /// How long a request body may send nothing while the server reads it
    /// (`body_idle_timeout_seconds`); the read then fails and the request is answered
    /// as a body that could not be read.
    pub body_idle_timeout: Option<Duration>,
    /// How long each API family's requests may take before their answer starts.
    pub deadlines: Deadlines,
}

/// Per-request deadlines by API family: from the request's head to the response's head
/// (a streamed body, once started, is not limited; only a stalled request body is).
/// A request past its deadline is answered `503` in its family's error shape, and the
/// work it started is abandoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// The Query API: `/api/query/...` and the legacy `/api/2.0/...` reports
    /// (`query_deadline_seconds`).
    pub query: Option<Duration>,
    /// JQL: `/api/query/jql`, `/api/2.0/jql` (`jql_deadline_seconds`).
    pub jql: Option<Duration>,
    /// Ingestion: `/track`, `/import`, `/engage`, `/groups`, body upload included
    /// (`ingest_deadline_seconds`).
    pub ingestion: Option<Duration>,
    /// Everything else: the App API, lookup tables, health and metrics
    /// (`other_deadline_seconds`). Raw export (`/api/2.0/export`) and the activity feed
    /// (`/api/query/stream/query`) stream for as long as they need and have none.
    pub other: Option<Duration>,
}

/// The connection cap when the process's file descriptor limit allows it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// A request's head must arrive within 10 seconds.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body may be silent for 30 seconds.
pub const DEFAULT_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Query API reports: 10 seconds (the seed's deadline).
pub const DEFAULT_QUERY_DEADLINE: Duration = Duration::from_secs(10);
/// JQL: 2 minutes (the seed's deadline).
pub const DEFAULT_JQL_DEADLINE: Duration = Duration::from_secs(120);
/// Ingestion: 60 seconds, upload of a 10 MB body included.
pub const DEFAULT_INGEST_DEADLINE: Duration = Duration::from_secs(60);
/// Every other endpoint: 60 seconds.
pub const DEFAULT_OTHER_DEADLINE: Duration = Duration::from_secs(60);

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: None,
            header_read_timeout: Some(DEFAULT_HEADER_READ_TIMEOUT),
            body_idle_timeout: Some(DEFAULT_BODY_IDLE_TIMEOUT),
            deadlines: Deadlines::default(),
        }
    }
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            query: Some(DEFAULT_QUERY_DEADLINE),
            jql: Some(DEFAULT_JQL_DEADLINE),
            ingestion: Some(DEFAULT_INGEST_DEADLINE),
            other: Some(DEFAULT_OTHER_DEADLINE),
        }
    }
}

/// How logs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./sextant-data"),
            metadata_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            duckdb_memory_limit: "4GB".into(),
            min_free_disk_mb: DEFAULT_MIN_FREE_DISK_MB,
            log_format: LogFormat::Text,
            rate_limits: RateLimits::default(),
            api_token_ttl_seconds: DEFAULT_API_TOKEN_TTL_SECONDS,
            gdpr_archive_ttl_seconds: DEFAULT_GDPR_ARCHIVE_TTL_SECONDS,
            pipelines_dir: None,
            pipeline_poll_seconds: DEFAULT_PIPELINE_POLL_SECONDS,
            pipeline_sync_seconds: DEFAULT_PIPELINE_SYNC_SECONDS,
            imports_dir: None,
            backups_dir: None,
            warehouse_hosts: None,
            warehouse_poll_seconds: DEFAULT_WAREHOUSE_POLL_SECONDS,
            regions: RegionHosts::default(),
            tls: None,
            geoip_database: None,
            places_database: None,
            http: HttpLimits::default(),
            jql_memory_mb: DEFAULT_JQL_MEMORY_MB,
            jql_output_mb: DEFAULT_JQL_OUTPUT_MB,
        }
    }
}

/// The TOML file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    data_dir: Option<PathBuf>,
    metadata_url: Option<DatabaseUrl>,
    listen: Option<SocketAddr>,
    duckdb_memory_limit: Option<String>,
    min_free_disk_mb: Option<u64>,
    log_format: Option<LogFormat>,
    rate_limits: Option<RateLimitsFile>,
    api_token_ttl_seconds: Option<u64>,
    gdpr_archive_ttl_seconds: Option<u64>,
    pipelines_dir: Option<PathBuf>,
    pipeline_poll_seconds: Option<u64>,
    pipeline_sync_seconds: Option<u64>,
    imports_dir: Option<PathBuf>,
    backups_dir: Option<PathBuf>,
    warehouse_hosts: Option<Vec<String>>,
    warehouse_poll_seconds: Option<u64>,
    regions: Option<BTreeMap<Region, Vec<String>>>,
    tls: Option<TlsFile>,
    geoip_database: Option<PathBuf>,
    places_database: Option<PathBuf>,
    http: Option<HttpFile>,
    jql_memory_mb: Option<u64>,
    jql_output_mb: Option<u64>,
}

/// The `[http]` table (see [`HttpLimits`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    max_connections: Option<usize>,
    header_read_timeout_seconds: Option<u64>,
    body_idle_timeout_seconds: Option<u64>,
    query_deadline_seconds: Option<u64>,
    jql_deadline_seconds: Option<u64>,
    ingest_deadline_seconds: Option<u64>,
    other_deadline_seconds: Option<u64>,
}

impl HttpFile {
    /// Replaces each key that `var` (the environment) sets as `SEXTANT_` and the key in
    /// capitals; an empty variable counts as unset.
    fn with_env(mut self, var: impl Fn(&str) -> Option<String>) -> Result<HttpFile, ConfigError> {
        fn read<T: std::str::FromStr>(
            var: &impl Fn(&str) -> Option<String>,
            key: &str,
            slot: &mut Option<T>,
        ) -> Result<(), ConfigError> {
            let name = format!("SEXTANT_{}", key.to_ascii_uppercase());
            if let Some(text) = var(name.as_str()).filter(|t| !t.trim().is_empty()) {
                let value = text
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError::Invalid(format!("{name} must be a whole number, got `{text}`")))?;
                *slot = Some(value);
            }
            Ok(())
        }
        read(&var, "max_connections", &mut self.max_connections)?;
        read(&var, "header_read_timeout_seconds", &mut self.header_read_timeout_seconds)?;
        read(&var, "body_idle_timeout_seconds", &mut self.body_idle_timeout_seconds)?;
        read(&var, "query_deadline_seconds", &mut self.query_deadline_seconds)?;
        read(&var, "jql_deadline_seconds", &mut self.jql_deadline_seconds)?;
        read(&var, "ingest_deadline_seconds", &mut self.ingest_deadline_seconds)?;
        read(&var, "other_deadline_seconds", &mut self.other_deadline_seconds)?;
        Ok(self)
    }

    /// The limits, with defaults for what is not set.
    fn limits(&self) -> Result<HttpLimits, ConfigError> {
        if self.max_connections == Some(0) {
            return Err(ConfigError::Invalid("max_connections must be at least 1".into()));
        }
        // Unset: the default; 0: none.
        let seconds = |value: Option<u64>, default: Duration| match value {
            None => Some(default),
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(s)),
        };
        Ok(HttpLimits {
            max_connections: self.max_connections,
            header_read_timeout: seconds(self.header_read_timeout_seconds, DEFAULT_HEADER_READ_TIMEOUT),
            body_idle_timeout: seconds(self.body_idle_timeout_seconds, DEFAULT_BODY_IDLE_TIMEOUT),
            deadlines: Deadlines {
                query: seconds(self.query_deadline_seconds, DEFAULT_QUERY_DEADLINE),
                jql: seconds(self.jql_deadline_seconds, DEFAULT_JQL_DEADLINE),
                ingestion: seconds(self.ingest_deadline_seconds, DEFAULT_INGEST_DEADLINE),
                other: seconds(self.other_deadline_seconds, DEFAULT_OTHER_DEADLINE),
            },
        })
    }
}

/// The `[tls]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    listen: Option<SocketAddr>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    self_signed: Option<bool>,
    hostnames: Option<Vec<String>>,
}

/// The store's own default reserve, in MiB (1024: see `sextant_storage_duckdb::space`).
pub const DEFAULT_MIN_FREE_DISK_MB: u64 = sextant_storage_duckdb::space::DEFAULT_MIN_FREE_BYTES >> 20;

/// A database URL, such as `postgres://sextant:PASSWORD@db:5432/sextant`. Its `Debug`
/// (what logs and panics print) hides the password.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = &self.0;
        let shown = match url.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((user_info, host)) => {
                    let user = user_info.split_once(':').map_or(user_info, |(user, _)| user);
                    let hidden = if user_info.contains(':') { ":***" } else { "" };
                    format!("{scheme}://{user}{hidden}@{host}")
                }
                None => url.clone(),
            },
            None => url.clone(),
        };
        write!(f, "DatabaseUrl({shown:?})")
    }
}

/// Four hours: personal API tokens expire unless their creator asks for longer.
pub const DEFAULT_API_TOKEN_TTL_SECONDS: u64 = 4 * 3600;

/// How long a GDPR retrieval's archive is served by default: a week.
pub const DEFAULT_GDPR_ARCHIVE_TTL_SECONDS: u64 = 7 * 86_400;

/// How often the pipeline runner looks for partitions owed by default: a minute (an
/// hourly partition is written within a minute of its end).
pub const DEFAULT_PIPELINE_POLL_SECONDS: u64 = 60;

/// How often a `sync` pipeline reads a published partition again by default: an hour
/// (each check exports the partition once more; see `crate::pipeline_jobs`).
pub const DEFAULT_PIPELINE_SYNC_SECONDS: u64 = 3_600;

/// How often the warehouse import runner looks for imports due by default: a minute
/// (a `manual-sync` wakes it at once).
pub const DEFAULT_WAREHOUSE_POLL_SECONDS: u64 = 60;

/// Values from flags or environment, which win over the file.
#[derive(Clone, Debug, Default)]
pub struct ConfigOverrides {
    /// `--data-dir` / `SEXTANT_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--metadata-url` / `SEXTANT_METADATA_URL`.
    pub metadata_url: Option<DatabaseUrl>,
    /// `--listen` / `SEXTANT_LISTEN`.
    pub listen: Option<SocketAddr>,
    /// `--duckdb-memory-limit` / `SEXTANT_DUCKDB_MEMORY_LIMIT`.
    pub duckdb_memory_limit: Option<String>,
    /// `--min-free-disk-mb` / `SEXTANT_MIN_FREE_DISK_MB`.
    pub min_free_disk_mb: Option<u64>,
    /// `--log-format` / `SEXTANT_LOG_FORMAT`.
    pub log_format: Option<LogFormat>,
    /// `--tls-listen` / `SEXTANT_TLS_LISTEN`.
    pub tls_listen: Option<SocketAddr>,
    /// `--tls-cert` / `SEXTANT_TLS_CERT`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key` / `SEXTANT_TLS_KEY`.
    pub tls_key: Option<PathBuf>,
    /// `--tls-self-signed` / `SEXTANT_TLS_SELF_SIGNED`.
    pub tls_self_signed: bool,
    /// `--geoip-db` / `SEXTANT_GEOIP_DB`.
    pub geoip_database: Option<PathBuf>,
    /// `--places-db` / `SEXTANT_PLACES_DB`.
    pub places_database: Option<PathBuf>,
    /// `--jql-memory-mb` / `SEXTANT_JQL_MEMORY_MB`.
    pub jql_memory_mb: Option<u64>,
    /// `--jql-output-mb` / `SEXTANT_JQL_OUTPUT_MB`.
    pub jql_output_mb: Option<u64>,
}

/// A configuration that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// Settings that cannot be used together.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Builds the configuration: defaults, then `file` if given, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: ConfigOverrides) -> Result<Config, ConfigError> {
        let from_file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
                Self::parse_file(&text).map_err(|message| ConfigError::Parse { path: path.to_path_buf(), message })?
            }
            None => ConfigFile::default(),
        };
        let d = Config::default();
        let tls = Self::tls(from_file.tls.unwrap_or_default(), &overrides)?;
        let http = from_file.http.unwrap_or_default().with_env(|name| std::env::var(name).ok())?.limits()?;
        Ok(Config {
            data_dir: overrides.data_dir.or(from_file.data_dir).unwrap_or(d.data_dir),
            metadata_url: overrides.metadata_url.or(from_file.metadata_url),
            listen: overrides.listen.or(from_file.listen).unwrap_or(d.listen),
            duckdb_memory_limit: overrides
                .duckdb_memory_limit
                .or(from_file.duckdb_memory_limit)
                .unwrap_or(d.duckdb_memory_limit),
            min_free_disk_mb: overrides.min_free_disk_mb.or(from_file.min_free_disk_mb).unwrap_or(d.min_free_disk_mb),
            log_format: overrides.log_format.or(from_file.log_format).unwrap_or(d.log_format),
            rate_limits: match &from_file.rate_limits {
                Some(r) => RateLimits::from_file(r).map_err(|message| ConfigError::Parse {
                    path: file.map(Path::to_path_buf).unwrap_or_default(),
                    message,
                })?,
                None => d.rate_limits,
            },
            api_token_ttl_seconds: from_file.api_token_ttl_seconds.unwrap_or(d.api_token_ttl_seconds),
            gdpr_archive_ttl_seconds: from_file.gdpr_archive_ttl_seconds.unwrap_or(d.gdpr_archive_ttl_seconds),
            pipelines_dir: from_file.pipelines_dir.clone(),
            pipeline_poll_seconds: from_file.pipeline_poll_seconds.unwrap_or(d.pipeline_poll_seconds).max(1),
            pipeline_sync_seconds: from_file.pipeline_sync_seconds.unwrap_or(d.pipeline_sync_seconds).max(1),
            imports_dir: from_file.imports_dir.clone(),
            backups_dir: from_file.backups_dir.clone(),
            warehouse_hosts: from_file.warehouse_hosts.clone(),
            warehouse_poll_seconds: from_file.warehouse_poll_seconds.unwrap_or(d.warehouse_poll_seconds).max(1),
            regions: from_file.regions.as_ref().map(RegionHosts::new).unwrap_or(d.regions),
            geoip_database: overrides.geoip_database.clone().or(from_file.geoip_database),
            places_database: overrides.places_database.clone().or(from_file.places_database),
            tls,
            http,
            jql_memory_mb: overrides.jql_memory_mb.or(from_file.jql_memory_mb).unwrap_or(d.jql_memory_mb).max(1),
            jql_output_mb: overrides.jql_output_mb.or(from_file.jql_output_mb).unwrap_or(d.jql_output_mb).max(1),
        })
    }

    /// Combines the `[tls]` table with the TLS flags: a certificate and key, or the
    /// self-signed mode, or no HTTPS at all.
    fn tls(file: TlsFile, overrides: &ConfigOverrides) -> Result<Option<TlsConfig>, ConfigError> {
        let listen = overrides.tls_listen.or(file.listen);
        let cert = overrides.tls_cert.clone().or(file.cert);
        let key = overrides.tls_key.clone().or(file.key);
        let self_signed = overrides.tls_self_signed || file.self_signed.unwrap_or(false);
        let settings = match (cert, key, self_signed) {
            (Some(_), Some(_), true) => {
                return Err(ConfigError::Invalid(
                    "choose either a certificate (--tls-cert, --tls-key) or --tls-self-signed, not both".into(),
                ));
            }
            (Some(cert), Some(key), false) => TlsSettings::Files { cert, key },
            (Some(_), None, _) | (None, Some(_), _) => {
                return Err(ConfigError::Invalid("--tls-cert and --tls-key must be given together".into()));
            }
            (None, None, true) => TlsSettings::SelfSigned {
                hostnames: file
                    .hostnames
                    .unwrap_or_else(|| DEFAULT_SELF_SIGNED_HOSTNAMES.iter().map(|h| h.to_string()).collect()),
            },
            (None, None, false) => {
                if listen.is_some() {
                    return Err(ConfigError::Invalid(
                        "an HTTPS listener needs --tls-cert and --tls-key, or --tls-self-signed".into(),
                    ));
                }
                return Ok(None);
            }
        };
        Ok(Some(TlsConfig { listen: listen.unwrap_or(DEFAULT_TLS_LISTEN), settings }))
    }

    fn parse_file(text: &str) -> Result<ConfigFile, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_url_hides_its_password_when_printed() {
        let url = DatabaseUrl("postgres://sextant:s3cret@db:5432/sextant".into());
        let shown = format!("{url:?}");
        assert!(!shown.contains("s3cret") && shown.contains("sextant:***@db:5432"), "{shown}");
        assert_eq!(format!("{:?}", DatabaseUrl("sqlite:///x.sqlite".into())), "DatabaseUrl(\"sqlite:///x.sqlite\")");
    }

    #[test]
    fn flags_beat_the_file_which_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sextant.toml");
        std::fs::write(&file, "data_dir = \"/srv/sextant\"\nlisten = \"0.0.0.0:9000\"\n").unwrap();
        let overrides = ConfigOverrides { listen: Some("127.0.0.1:1".parse().unwrap()), ..Default::default() };
        let config = Config::load(Some(&file), overrides).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/srv/sextant"));
        assert_eq!(config.listen, "127.0.0.1:1".parse().unwrap());
        assert_eq!(config.duckdb_memory_limit, "4GB");
    }

    #[test]
    fn tls_needs_a_certificate_and_key_or_the_self_signed_mode() {
        let load = |file: &str, o: ConfigOverrides| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("sextant.toml");
            std::fs::write(&path, file).unwrap();
            Config::load(Some(&path), o)
        };
        assert_eq!(load("", ConfigOverrides::default()).unwrap().tls, None);
        let signed = load("[tls]\nself_signed = true\nhostnames = [\"sextant.test\"]\n", Default::default()).unwrap();
        assert_eq!(
            signed.tls,
            Some(TlsConfig {
                listen: DEFAULT_TLS_LISTEN,
                settings: TlsSettings::SelfSigned { hostnames: vec!["sextant.test".into()] }
            })
        );
        let files = ConfigOverrides {
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            tls_listen: Some("0.0.0.0:443".parse().unwrap()),
            ..Default::default()
        };
        let tls = load("", files.clone()).unwrap().tls.unwrap();
        assert_eq!(tls.listen, "0.0.0.0:443".parse().unwrap());
        assert!(matches!(tls.settings, TlsSettings::Files { .. }));
        assert!(load("[tls]\nself_signed = true\n", files).is_err());
        assert!(load("", ConfigOverrides { tls_cert: Some("c.pem".into()), ..Default::default() }).is_err());
        assert!(load("[tls]\nlisten = \"127.0.0.1:8443\"\n", Default::default()).is_err());
    }

    #[test]
    fn http_limits_come_from_the_file_then_the_environment() {
        assert_eq!(HttpFile::default().limits().unwrap(), HttpLimits::default());
        let file: ConfigFile = Config::parse_file(
            "[http]\nmax_connections = 20\nheader_read_timeout_seconds = 2\nquery_deadline_seconds = 0\n",
        )
        .unwrap();
        let env = |name: &str| match name {
            "SEXTANT_HEADER_READ_TIMEOUT_SECONDS" => Some("5".to_string()),
            "SEXTANT_JQL_DEADLINE_SECONDS" => Some(" 30 ".to_string()),
            "SEXTANT_OTHER_DEADLINE_SECONDS" => Some(String::new()),
            _ => None,
        };
        let limits = file.http.unwrap().with_env(env).unwrap().limits().unwrap();
        assert_eq!(limits.max_connections, Some(20));
        assert_eq!(limits.header_read_timeout, Some(Duration::from_secs(5)));
        assert_eq!(limits.body_idle_timeout, Some(DEFAULT_BODY_IDLE_TIMEOUT));
        assert_eq!(limits.deadlines.query, None);
        assert_eq!(limits.deadlines.jql, Some(Duration::from_secs(30)));
        assert_eq!(limits.deadlines.other, Some(DEFAULT_OTHER_DEADLINE));
        let bad = HttpFile::default().with_env(|n| (n == "SEXTANT_MAX_CONNECTIONS").then(|| "many".to_string()));
        assert!(bad.is_err());
        let zero = HttpFile { max_connections: Some(0), ..Default::default() };
        assert!(zero.limits().is_err());
        assert!(Config::parse_file("[http]\nheader_timeout = 3\n").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(Config::parse_file("data_dri = \"x\"").is_err());
    }

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../../../config/sextant.example.toml");
        Config::parse_file(text).unwrap();
    }
}
