//! `sextant`: the one binary. `serve` runs the server; `project`, `service-account`,
//! `token` and `cohort` manage the control plane in a data directory (safe while the
//! server runs: the control plane is SQLite in WAL mode, and the server looks up
//! unknown tokens afresh).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use sextant_metadata::Metadata;
use sextant_model::{ApiFamily, ApiTokenId, IdentityMode, PageRequest, PageStart, ProjectId, Region, Role};
use sextant_server::{Config, ConfigOverrides, Listeners, LogFormat, Server};

/// Ingestion allocates and frees many small strings and maps per event; mimalloc
/// handles that pattern with much less overhead than glibc's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "sextant", version, about = "A self-hosted analytics server that speaks Mixpanel's HTTP APIs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Create and list projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Create service accounts.
    #[command(subcommand)]
    ServiceAccount(ServiceAccountCommand),
    /// Create, list and revoke personal API tokens (`sx_...`).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Save, change, list and delete cohorts.
    #[command(subcommand)]
    Cohort(CohortCommand),
    /// Create lookup tables, map them to properties, list and delete them.
    #[command(subcommand)]
    LookupTable(LookupTableCommand),
    /// Save, list and delete reports (computed by `/api/query/insights?bookmark_id=`).
    #[command(subcommand)]
    Bookmark(BookmarkCommand),
    /// Save, change, list and delete funnels (computed by `/api/query/funnels?funnel_id=`).
    #[command(subcommand)]
    Funnel(FunnelCommand),
}

/// A funnel's steps and window, as flags.
#[derive(clap::Args)]
struct FunnelFlags {
    /// A step, in order (repeat for each): an event name, or a JSON object
    /// `{"event": "Purchase", "where": "properties[\"amount\"] > 5", "label": "Big purchase"}`.
    #[arg(long = "step")]
    steps: Vec<String>,
    /// The conversion window in `--length-unit`s (default 30; at most 90 days).
    #[arg(long)]
    length: Option<u32>,
    /// `day` (default), `hour`, `minute` or `second`.
    #[arg(long)]
    length_unit: Option<String>,
    /// `ordered` (default) or `any` (the steps after the first in any order).
    #[arg(long)]
    order: Option<String>,
}

impl FunnelFlags {
    /// The flags as the App API's body, which `sextant_server::funnels::definition_of` reads.
    fn body(&self, name: Option<&str>) -> Result<serde_json::Value> {
        let mut body = serde_json::json!({});
        if let Some(name) = name {
            body["name"] = name.into();
        }
        if !self.steps.is_empty() {
            let steps = self
                .steps
                .iter()
                .map(|s| {
                    if s.trim_start().starts_with('{') {
                        serde_json::from_str(s).map_err(|e| anyhow::anyhow!("--step {s}: {e}"))
                    } else {
                        Ok(serde_json::json!({"event": s}))
                    }
                })
                .collect::<Result<Vec<serde_json::Value>>>()?;
            body["steps"] = steps.into();
        }
        if let Some(l) = self.length {
            body["length"] = l.into();
        }
        if let Some(u) = &self.length_unit {
            body["length_unit"] = u.as_str().into();
        }
        if let Some(o) = &self.order {
            body["order"] = o.as_str().into();
        }
        Ok(body)
    }
}

#[derive(Subcommand)]
enum FunnelCommand {
    /// Save a funnel.
    Create {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Funnel name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        flags: FunnelFlags,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Change a funnel: its name, or its steps (all of them), window or ordering.
    Update {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Funnel id.
        #[arg(long)]
        id: i64,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        flags: FunnelFlags,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// List a project's funnels.
    List {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Delete a funnel.
    Delete {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Funnel id.
        #[arg(long)]
        id: i64,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

#[derive(Subcommand)]
enum BookmarkCommand {
    /// Save a report: its kind and its endpoint's parameters.
    Create {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Report name.
        #[arg(long)]
        name: String,
        /// `segmentation` or `events`.
        #[arg(long)]
        kind: String,
        /// The parameters as a query string, such as
        /// `event=Signed up&unit=week&last_days=30&on=properties["plan"]`
        /// (`last_days=N`: the N project days up to the day it runs).
        #[arg(long)]
        params: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// List a project's saved reports.
    List {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Delete a saved report.
    Delete {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Report id.
        #[arg(long)]
        id: i64,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

#[derive(Subcommand)]
enum LookupTableCommand {
    /// Create an empty table and map it to properties; upload its rows with
    /// `PUT /lookup-tables/{id}`.
    Create {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Table name.
        #[arg(long)]
        name: String,
        /// A property whose values are the table's keys: `event:song_id` or
        /// `user:plan_id`; repeat for several.
        #[arg(long = "map")]
        mappings: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Rename a table or replace its mappings (only what is given).
    Update {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Table id.
        #[arg(long)]
        id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// The complete new set of mappings, as for `create`.
        #[arg(long = "map")]
        mappings: Vec<String>,
        /// Remove every mapping.
        #[arg(long, conflicts_with = "mappings")]
        unmap_all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// List a project's tables.
    List {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Delete a table and its mappings. Its rows stay in the event store, unused,
    /// until the server's App API deletes them (`DELETE .../lookup-tables/{id}`
    /// removes both).
    Delete {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Table id.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

#[derive(Subcommand)]
enum CohortCommand {
    /// Save a cohort: a `where` over profile properties and/or behaviours.
    Create {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Cohort name.
        #[arg(long)]
        name: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
        /// A `where` over `properties[...]` and `behaviors[...]`.
        #[arg(long = "where")]
        where_: Option<String>,
        /// Behaviours as JSON: `[{"window": "30d", "name": "buys", "event_selectors": [{"event": "Purchase"}]}]`.
        #[arg(long)]
        behaviors: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Change a cohort (only what is given).
    Update {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Cohort id.
        #[arg(long)]
        id: i64,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        /// New `where` (replaces the definition's).
        #[arg(long = "where")]
        where_: Option<String>,
        /// New behaviours as JSON (replaces the definition's).
        #[arg(long)]
        behaviors: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// List a project's cohorts.
    List {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Delete a cohort.
    Delete {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Cohort id.
        #[arg(long)]
        id: i64,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token scoped to one project and some API families; prints it once.
    Create {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// API families it may call, comma-separated: ingestion, query, export, jql,
        /// gdpr, lexicon, lookup_tables, app.
        #[arg(long, value_delimiter = ',', required = true, value_parser = parse_family)]
        families: Vec<ApiFamily>,
        /// Display name.
        #[arg(long, default_value = "API token")]
        name: String,
        /// Lifetime in seconds (default 4 hours).
        #[arg(long, default_value_t = sextant_server::config::DEFAULT_API_TOKEN_TTL_SECONDS)]
        expires_in: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// List a project's tokens, newest first (never the tokens themselves).
    List {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Revoke a token at once.
    Revoke {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Token id (from `token list`).
        #[arg(long)]
        id: i64,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

fn parse_identity_mode(s: &str) -> Result<IdentityMode, String> {
    s.parse()
}

fn parse_region(s: &str) -> Result<Region, String> {
    s.parse()
}

fn parse_family(s: &str) -> Result<ApiFamily, String> {
    s.parse()
}

#[derive(Args)]
struct ServeArgs {
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
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Args)]
struct DataDirArg {
    /// Data directory holding metadata.sqlite.
    #[arg(long, env = "SEXTANT_DATA_DIR", default_value = "./sextant-data")]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Create a project and print its token and secret (the secret is shown only now).
    Create {
        /// Project name.
        #[arg(long)]
        name: String,
        /// IANA timezone for reports.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// Data-residency region: us, eu or in.
        #[arg(long, default_value = "us", value_parser = parse_region)]
        region: Region,
        /// Identity merge: simplified (Mixpanel's default) or original. Fixed once the
        /// project exists, as in Mixpanel.
        #[arg(long, default_value = "simplified", value_parser = parse_identity_mode)]
        identity_mode: IdentityMode,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// List projects.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Change a project's settings.
    Configure {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Whether string `==`, `!=` and `in` in `where`/`on` expressions respect case
        /// (Mixpanel's behaviour, and the default, is that they do not).
        #[arg(long)]
        case_sensitive_strings: Option<bool>,
        /// Data-residency region: us, eu or in. Requests through another region's
        /// hosts are refused.
        #[arg(long, value_parser = parse_region)]
        region: Option<Region>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

#[derive(Subcommand)]
enum ServiceAccountCommand {
    /// Create a service account with a role in one project and print its secret (shown only now).
    Create {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// owner, admin, analyst or consumer.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Display name.
        #[arg(long, default_value = "service account")]
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Project(cmd) => project(cmd).await,
        Command::ServiceAccount(cmd) => service_account(cmd).await,
        Command::Token(cmd) => token(cmd).await,
        Command::Cohort(cmd) => cohort(cmd).await,
        Command::LookupTable(cmd) => lookup_table(cmd).await,
        Command::Bookmark(cmd) => bookmark(cmd).await,
        Command::Funnel(cmd) => funnel(cmd).await,
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let overrides = ConfigOverrides {
        data_dir: args.data_dir,
        listen: args.listen,
        duckdb_memory_limit: args.duckdb_memory_limit,
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

async fn open_metadata(dir: &Path) -> Result<Metadata> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(Metadata::open(&dir.join("metadata.sqlite")).await?)
}

async fn project(cmd: ProjectCommand) -> Result<()> {
    match cmd {
        ProjectCommand::Create { name, timezone, region, identity_mode, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let org = md.default_organization().await?;
            let mut created = md.create_project(org, &name, &timezone).await?;
            if region != created.project.region {
                created.project = md.set_region(created.project.id, region).await?;
            }
            if identity_mode != created.project.identity_mode {
                created.project = md.set_identity_mode(created.project.id, identity_mode).await?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                let p = &created.project;
                println!("created project {} ({})", p.id, p.name);
                println!("  token     {}", p.token);
                println!("  secret    {}   (shown once)", created.secret);
                println!("  timezone  {}", p.timezone);
                println!("  identity  {}", p.identity_mode.as_str());
            }
        }
        ProjectCommand::List { json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let projects = md.list_projects().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&projects)?);
            } else {
                println!("{:<6} {:<32} {:<20} {}", "ID", "TOKEN", "TIMEZONE", "NAME");
                for p in projects {
                    println!("{:<6} {:<32} {:<20} {}", p.id, p.token, p.timezone, p.name);
                }
            }
        }
        ProjectCommand::Configure { project, case_sensitive_strings, region, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let id = ProjectId(project);
            let mut p = md.project(id).await?.ok_or_else(|| anyhow::anyhow!("no project {project}"))?;
            if let Some(on) = case_sensitive_strings {
                p = md.set_case_sensitive_strings(id, on).await?;
            }
            if let Some(region) = region {
                p = md.set_region(id, region).await?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                println!(
                    "project {}: case_sensitive_strings = {}, region = {}",
                    p.id,
                    p.case_sensitive_strings,
                    p.region.as_str()
                );
            }
        }
    }
    Ok(())
}

/// Reads `--behaviors` JSON.
fn behaviors_arg(text: Option<&str>) -> Result<Option<Vec<sextant_model::Behavior>>> {
    text.map(|t| serde_json::from_str(t).context("--behaviors must be a JSON list of {window, name, event_selectors}"))
        .transpose()
}

/// Checks a definition as the server will read it (expressions and windows).
async fn check_definition(md: &Metadata, project: i64, def: &sextant_model::CohortDefinition) -> Result<()> {
    let p = md.project(ProjectId(project)).await?.ok_or_else(|| anyhow::anyhow!("no project {project}"))?;
    sextant_server::cohorts::compile_definition(def, &p, 0)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("--where/--behaviors: {}", e.message))
}

fn print_cohort(c: &sextant_metadata::CohortInfo, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(c)?);
    } else {
        println!("cohort {} ({}): {}", c.id, c.name, serde_json::to_string(&c.definition)?);
    }
    Ok(())
}

async fn cohort(cmd: CohortCommand) -> Result<()> {
    match cmd {
        CohortCommand::Create { project, name, description, where_, behaviors, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let def = sextant_model::CohortDefinition {
                where_,
                behaviors: behaviors_arg(behaviors.as_deref())?.unwrap_or_default(),
            };
            check_definition(&md, project, &def).await?;
            let c = md.create_cohort(ProjectId(project), &name, &description, &def).await?;
            print_cohort(&c, json)?;
        }
        CohortCommand::Update { project, id, name, description, where_, behaviors, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let current = md.cohort(ProjectId(project), sextant_model::CohortId(id)).await?;
            let definition = if where_.is_some() || behaviors.is_some() {
                let def = sextant_model::CohortDefinition {
                    where_: where_.or(current.definition.where_.clone()),
                    behaviors: behaviors_arg(behaviors.as_deref())?.unwrap_or(current.definition.behaviors.clone()),
                };
                check_definition(&md, project, &def).await?;
                Some(def)
            } else {
                None
            };
            let changes = sextant_metadata::CohortChanges { name, description, definition, is_visible: None };
            let c = md.update_cohort(ProjectId(project), sextant_model::CohortId(id), changes).await?;
            print_cohort(&c, json)?;
        }
        CohortCommand::List { project, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let all = md.all_cohorts(ProjectId(project)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for c in &all {
                    print_cohort(c, false)?;
                }
            }
        }
        CohortCommand::Delete { project, id, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            md.delete_cohort(ProjectId(project), sextant_model::CohortId(id)).await?;
            println!("deleted cohort {id}");
        }
    }
    Ok(())
}

fn print_lookup_table(t: &sextant_metadata::LookupTableInfo, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(t)?);
    } else {
        let maps: Vec<String> = t.mappings.iter().map(|m| format!("{}:{}", m.target, m.property)).collect();
        println!("lookup table {} ({}): {} rows, mapped to [{}]", t.id, t.name, t.row_count, maps.join(", "));
    }
    Ok(())
}

fn mapping_args(args: &[String]) -> Result<Vec<sextant_metadata::LookupMapping>> {
    args.iter().map(|a| sextant_metadata::LookupMapping::parse(a).map_err(|e| anyhow::anyhow!("--map: {e}"))).collect()
}

async fn lookup_table(cmd: LookupTableCommand) -> Result<()> {
    match cmd {
        LookupTableCommand::Create { project, name, mappings, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let t = md.create_lookup_table(ProjectId(project), &name, &mapping_args(&mappings)?).await?;
            print_lookup_table(&t, json)?;
        }
        LookupTableCommand::Update { project, id, name, mappings, unmap_all, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let mappings = if unmap_all {
                Some(Vec::new())
            } else if mappings.is_empty() {
                None
            } else {
                Some(mapping_args(&mappings)?)
            };
            let changes = sextant_metadata::LookupTableChanges { name, mappings };
            let t = md.update_lookup_table(ProjectId(project), &id, changes).await?;
            print_lookup_table(&t, json)?;
        }
        LookupTableCommand::List { project, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let all = md.all_lookup_tables(ProjectId(project)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for t in &all {
                    print_lookup_table(t, false)?;
                }
            }
        }
        LookupTableCommand::Delete { project, id, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            md.delete_lookup_table(ProjectId(project), &id).await?;
            println!("deleted lookup table {id}");
        }
    }
    Ok(())
}

fn print_bookmark(b: &sextant_metadata::BookmarkInfo, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(b)?);
    } else {
        println!("report {} ({}): {} {}", b.id, b.name, b.kind, serde_json::to_string(&b.params)?);
    }
    Ok(())
}

async fn bookmark(cmd: BookmarkCommand) -> Result<()> {
    match cmd {
        BookmarkCommand::Create { project, name, kind, params, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let p = md.project(ProjectId(project)).await?.ok_or_else(|| anyhow::anyhow!("no project {project}"))?;
            let params = sextant_server::insights::params_of(&serde_json::Value::String(params))
                .map_err(|e| anyhow::anyhow!("--params: {}", e.message))?;
            sextant_server::insights::check(&p, &kind, &params).map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let b = md.create_bookmark(ProjectId(project), &name, &kind, &params).await?;
            print_bookmark(&b, json)?;
        }
        BookmarkCommand::List { project, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let all = md.all_bookmarks(ProjectId(project)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for b in &all {
                    print_bookmark(b, false)?;
                }
            }
        }
        BookmarkCommand::Delete { project, id, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            md.delete_bookmark(ProjectId(project), id).await?;
            println!("deleted report {id}");
        }
    }
    Ok(())
}

fn print_funnel(f: &sextant_metadata::FunnelInfo, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&sextant_server::funnels::FunnelView::of(f))?);
    } else {
        let steps: Vec<&str> = f.definition.steps.iter().map(|s| s.event.as_str()).collect();
        println!(
            "funnel {} ({}): {} within {} {:?}",
            f.id,
            f.name,
            steps.join(" -> "),
            f.definition.length,
            f.definition.length_unit
        );
    }
    Ok(())
}

async fn funnel(cmd: FunnelCommand) -> Result<()> {
    let invalid = |e: sextant_server::error::ApiError| anyhow::anyhow!("{}", e.message);
    match cmd {
        FunnelCommand::Create { project, name, flags, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let p = md.project(ProjectId(project)).await?.ok_or_else(|| anyhow::anyhow!("no project {project}"))?;
            let definition =
                sextant_server::funnels::definition_of(&flags.body(Some(&name))?, None).map_err(invalid)?;
            sextant_server::funnels::check(&p, &definition).map_err(invalid)?;
            let f = md.create_funnel(ProjectId(project), &name, &definition).await?;
            print_funnel(&f, json)?;
        }
        FunnelCommand::Update { project, id, name, flags, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let p = md.project(ProjectId(project)).await?.ok_or_else(|| anyhow::anyhow!("no project {project}"))?;
            let stored = md.funnel(ProjectId(project), id).await?;
            let definition =
                sextant_server::funnels::definition_of(&flags.body(name.as_deref())?, Some(&stored.definition))
                    .map_err(invalid)?;
            sextant_server::funnels::check(&p, &definition).map_err(invalid)?;
            let changes = sextant_metadata::FunnelChanges { name, definition: Some(definition) };
            let f = md.update_funnel(ProjectId(project), id, changes).await?;
            print_funnel(&f, json)?;
        }
        FunnelCommand::List { project, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let all = md.all_funnels(ProjectId(project)).await?;
            if json {
                let views: Vec<_> = all.iter().map(sextant_server::funnels::FunnelView::of).collect();
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else {
                for f in &all {
                    print_funnel(f, false)?;
                }
            }
        }
        FunnelCommand::Delete { project, id, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            md.delete_funnel(ProjectId(project), id).await?;
            println!("deleted funnel {id}");
        }
    }
    Ok(())
}

async fn service_account(cmd: ServiceAccountCommand) -> Result<()> {
    match cmd {
        ServiceAccountCommand::Create { project, role, name, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let sa = md.create_service_account(ProjectId(project), role, &name).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&sa)?);
            } else {
                println!("created service account {} with role {} in project {}", sa.id, sa.role, sa.project_id);
                println!("  username  {}", sa.username);
                println!("  secret    {}   (shown once)", sa.secret);
            }
        }
    }
    Ok(())
}

async fn token(cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create { project, families, name, expires_in, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let ttl_ms = i64::try_from(expires_in.saturating_mul(1000)).unwrap_or(i64::MAX);
            let t = md.create_api_token(ProjectId(project), &name, &families, ttl_ms).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&t)?);
            } else {
                let scope: Vec<_> = t.info.families.iter().map(|f| f.as_str()).collect();
                println!("created API token {} in project {} for {}", t.info.id, t.info.project_id, scope.join(", "));
                println!("  token    {}   (shown once)", t.token);
                println!("  expires  {}", format_ms(t.info.expires_at_ms));
            }
        }
        TokenCommand::List { project, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let mut all = Vec::new();
            let mut page = PageRequest { limit: sextant_model::page::MAX_PAGE_LIMIT, from: PageStart::Newest };
            loop {
                let p = md.list_api_tokens(ProjectId(project), page).await?;
                all.extend(p.items);
                match (p.has_next, p.next) {
                    (true, Some(c)) => page.from = PageStart::After(c),
                    _ => break,
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                println!(
                    "{:<6} {:<10} {:<26} {:<10} {:<30} {}",
                    "ID", "PREFIX", "EXPIRES", "STATE", "FAMILIES", "NAME"
                );
                let now = chrono::Utc::now().timestamp_millis();
                for t in all {
                    let state = if t.revoked_at_ms.is_some() {
                        "revoked"
                    } else if t.expires_at_ms <= now {
                        "expired"
                    } else {
                        "active"
                    };
                    let scope: Vec<_> = t.families.iter().map(|f| f.as_str()).collect();
                    println!(
                        "{:<6} {:<10} {:<26} {:<10} {:<30} {}",
                        t.id,
                        t.prefix,
                        format_ms(t.expires_at_ms),
                        state,
                        scope.join(","),
                        t.name
                    );
                }
            }
        }
        TokenCommand::Revoke { project, id, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let t = md.revoke_api_token(ProjectId(project), ApiTokenId(id)).await?;
            println!("revoked API token {} ({}) in project {}", t.id, t.prefix, t.project_id);
        }
    }
    Ok(())
}

fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339()).unwrap_or_default()
}
