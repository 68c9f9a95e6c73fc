//! `sextant serve`: load the configuration, open the data directory, bind the HTTP (and
//! HTTPS) listeners and run the server until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use sextant_server::config::DatabaseUrl;
use sextant_server::{Config, ConfigOverrides, Listeners, LogFormat, Server};

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Data directory (events, control plane, bootstrap.json).
    #[arg(long, env = "SEXTANT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on, such as 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long, env = "SEXTANT_LISTEN")]
    listen: Option<SocketAddr>,
    /// Optional TOML configuration file.
    #[arg(long, env = "SEXTANT_CONFIG")]
    config: Option<PathBuf>,
    /// DuckDB memory limit, such as 4GB.
    #[arg(long, env = "SEXTANT_DUCKDB_MEMORY_LIMIT")]
    duckdb_memory_limit: Option<String>,
    /// The control plane's database, `postgres://USER@HOST:PORT/DB` (the password from
    /// PGPASSWORD or ~/.pgpass, or in the URL; TLS with `?sslmode=verify-full&sslrootcert=CA.pem`,
    /// or `require` without checking the server) or `sqlite://PATH` (default: the file
    /// metadata.sqlite in the data directory).
    #[arg(long, env = "SEXTANT_METADATA_URL")]
    metadata_url: Option<String>,
    /// Free disk space (MiB) to keep on the data directory's file system: below it,
    /// ingestion answers 503 until there is room again (default 1024; 0 turns it off).
    #[arg(long, env = "SEXTANT_MIN_FREE_DISK_MB")]
    min_free_disk_mb: Option<u64>,
    /// Log format.
    #[arg(long, env = "SEXTANT_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormatArg>,
    /// Address of the HTTPS listener, beside the HTTP one (default 127.0.0.1:8443 when
    /// TLS is configured).
    #[arg(long, env = "SEXTANT_TLS_LISTEN")]
    tls_listen: Option<SocketAddr>,
    /// PEM certificate chain for HTTPS (with --tls-key).
    #[arg(long, env = "SEXTANT_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (with --tls-cert).
    #[arg(long, env = "SEXTANT_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate from a local authority created in DATA_DIR/tls/
    /// (clients trust its ca.crt); the hostnames come from `[tls] hostnames`.
    #[arg(long, env = "SEXTANT_TLS_SELF_SIGNED", conflicts_with_all = ["tls_cert", "tls_key"])]
    tls_self_signed: bool,
    /// A MaxMind City database (GeoIP2 or GeoLite2 .mmdb) to place events and profiles
    /// by IP address ($city, $region, mp_country_code; $country_code, $timezone).
    #[arg(long, env = "SEXTANT_GEOIP_DB")]
    geoip_db: Option<PathBuf>,
    /// A CSV table of places (latitude,longitude,city,region,country_code,timezone) to
    /// reverse geocode $latitude/$longitude.
    #[arg(long, env = "SEXTANT_PLACES_DB")]
    places_db: Option<PathBuf>,
    /// The JavaScript heap one JQL script may use, MiB (default 1024).
    #[arg(long, env = "SEXTANT_JQL_MEMORY_MB")]
    jql_memory_mb: Option<u64>,
    /// The largest JQL answer, MiB (default 256).
    #[arg(long, env = "SEXTANT_JQL_OUTPUT_MB")]
    jql_output_mb: Option<u64>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

/// Runs the server.
pub(crate) async fn run(args: ServeArgs) -> Result<()> {
    let overrides = ConfigOverrides {
        data_dir: args.data_dir,
        listen: args.listen,
        duckdb_memory_limit: args.duckdb_memory_limit,
        metadata_url: args.metadata_url.map(DatabaseUrl),
        min_free_disk_mb: args.min_free_disk_mb,
        log_format: args.log_format.map(|f| match f {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }),
        tls_listen: args.tls_listen,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        tls_self_signed: args.tls_self_signed,
        geoip_database: args.geoip_db,
        places_database: args.places_db,
        jql_memory_mb: args.jql_memory_mb,
        jql_output_mb: args.jql_output_mb,
    };
    let config = Config::load(args.config.as_deref(), overrides)?;
    init_logging(config.log_format);
    let server = Server::open(&config).await.context("cannot open the data directory")?;
    if let Some(b) = &server.bootstrap {
        print_bootstrap(b, &config.data_dir);
    }
    let listeners = Listeners::bind(&config).await?;
    let addr = listeners.http.local_addr()?;
    println!("sextant listening on http://{addr} (data in {})", config.data_dir.display());
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "listening");
    if let Some(https) = &listeners.https {
        let tls_addr = https.local_addr();
        match &listeners.ca_certificate {
            Some(ca) => println!("sextant listening on https://{tls_addr} (clients trust {})", ca.display()),
            None => println!("sextant listening on https://{tls_addr}"),
        }
        tracing::info!(addr = %tls_addr, "listening (HTTPS)");
    }
    server.run(listeners, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

fn print_bootstrap(b: &sextant_metadata::Bootstrap, dir: &Path) {
    let p = &b.project;
    let sa = &b.service_account;
    println!("================================================================");
    println!(" First start: created an organisation, a project and an owner.");
    println!(" These secrets are shown once; they are also in {}", dir.join(sextant_server::BOOTSTRAP_FILE).display());
    println!();
    println!("   project id              {}", p.project.id);
    println!("   project token           {}", p.project.token);
    println!("   project secret          {}", p.secret);
    println!("   service account user    {}", sa.username);
    println!("   service account secret  {}", sa.secret);
    println!("================================================================");
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
