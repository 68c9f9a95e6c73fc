//! `sextant`: the one binary. `serve` runs the server; `project` and `service-account`
//! manage the control plane in a data directory (safe while the server runs: the
//! control plane is SQLite in WAL mode, and the server looks up unknown tokens afresh).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use sextant_metadata::Metadata;
use sextant_model::{ProjectId, Role};
use sextant_server::{Config, ConfigOverrides, LogFormat, Server};

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
    };
    let config = Config::load(args.config.as_deref(), overrides)?;
    init_logging(config.log_format);
    let server = Server::open(&config).await.context("cannot open the data directory")?;
    if let Some(b) = &server.bootstrap {
        print_bootstrap(b, &config.data_dir);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    println!("sextant listening on http://{addr} (data in {})", config.data_dir.display());
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "listening");
    server.run(listener, shutdown_signal()).await?;
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
        ProjectCommand::Create { name, timezone, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let org = md.default_organization().await?;
            let created = md.create_project(org, &name, &timezone).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                let p = &created.project;
                println!("created project {} ({})", p.id, p.name);
                println!("  token     {}", p.token);
                println!("  secret    {}   (shown once)", created.secret);
                println!("  timezone  {}", p.timezone);
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
        ProjectCommand::Configure { project, case_sensitive_strings, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let id = ProjectId(project);
            let mut p = md.project(id).await?.ok_or_else(|| anyhow::anyhow!("no project {project}"))?;
            if let Some(on) = case_sensitive_strings {
                p = md.set_case_sensitive_strings(id, on).await?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                println!("project {}: case_sensitive_strings = {}", p.id, p.case_sensitive_strings);
            }
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
