//! `sextant`: the one binary. `serve` runs the server; `import` and `export` move events
//! in and out of any server over its API; `project`, `service-account`,
//! `token`, `cohort`, `lookup-table`, `bookmark` and `funnel` manage the control plane
//! in a data directory (safe while the server runs: the control plane is SQLite in WAL
//! mode, and the server looks up unknown tokens afresh).
//!
//! This file holds the top-level command line and its dispatch; each command group is a
//! module under [`commands`]:
//!
//! - [`commands::serve`], `serve`.
//! - [`commands::project`], `project create|list|configure`.
//! - [`commands::service_account`], `service-account create|list|delete|add-to-project|remove-from-project`.
//! - [`commands::token`], `token create|list|revoke`.
//! - [`commands::cohort`], `cohort create|update|list|delete`.
//! - [`commands::lookup_table`], `lookup-table create|update|list|delete`.
//! - [`commands::bookmark`], `bookmark create|list|delete`.
//! - [`commands::funnel`], `funnel create|update|list|delete`.
//! - [`commands::import`], `import FILE|-`: events into a server over its API.
//! - [`commands::export`], `export --from --to`: events out of a server over its API.
//! - [`commands::query`], `query segmentation|funnels|retention|events|engage|jql`: a
//!   server's reports as tables, JSON or CSV.
//! - `completions SHELL` and `man`: shell completions and the man page, from the
//!   command line's own definition.
//! - [`commands::backup`], `backup NAME` (an online backup of a running server, over
//!   its API) and `restore SRC --data-dir DIR` (offline).
//! - [`commands::remote`], what the commands over the API share (`--url`, credentials,
//!   profiles).
//! - [`commands::common`], what they share (`--data-dir`, opening the metadata store,
//!   looking up a project, printing lists).

mod commands;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};

use commands::backup::{BackupArgs, RestoreArgs};
use commands::bookmark::BookmarkCommand;
use commands::cohort::CohortCommand;
use commands::export::ExportArgs;
use commands::flag::FlagCommand;
use commands::funnel::FunnelCommand;
use commands::gdpr::GdprCommand;
use commands::import::ImportArgs;
use commands::lookup_table::LookupTableCommand;
use commands::project::ProjectCommand;
use commands::query::QueryCommand;
use commands::serve::ServeArgs;
use commands::service_account::ServiceAccountCommand;
use commands::token::TokenCommand;

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
    /// Import events from a JSON, NDJSON or CSV file into a server (resumable).
    Import(ImportArgs),
    /// Export a date range of events from a server as JSON lines, CSV or Parquet.
    Export(ExportArgs),
    /// Run a report on a server: a table, JSON (--json) or CSV (--csv).
    #[command(subcommand)]
    Query(QueryCommand),
    /// Take an online backup of a running server (into its backups directory).
    Backup(BackupArgs),
    /// Restore a backup into a new data directory (offline; then `serve` it).
    Restore(RestoreArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
    /// Create and list projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Create, list and delete service accounts; add them to and remove them from projects.
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
    /// Create, replace, enable, disable, list and archive feature flags (served by
    /// `/flags` and `/flags/definitions`).
    #[command(subcommand)]
    Flag(FlagCommand),
    /// The audit trail of GDPR and CCPA jobs (requested over HTTP, run by the server).
    #[command(subcommand)]
    Gdpr(GdprCommand),
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => commands::serve::run(args).await,
        Command::Import(args) => commands::import::run(args).await,
        Command::Export(args) => commands::export::run(args).await,
        Command::Query(cmd) => commands::query::run(cmd).await,
        Command::Backup(args) => commands::backup::backup(args).await,
        Command::Restore(args) => commands::backup::restore(args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "sextant", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => Ok(clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?),
        Command::Project(cmd) => commands::project::run(cmd).await,
        Command::ServiceAccount(cmd) => commands::service_account::run(cmd).await,
        Command::Token(cmd) => commands::token::run(cmd).await,
        Command::Cohort(cmd) => commands::cohort::run(cmd).await,
        Command::LookupTable(cmd) => commands::lookup_table::run(cmd).await,
        Command::Bookmark(cmd) => commands::bookmark::run(cmd).await,
        Command::Funnel(cmd) => commands::funnel::run(cmd).await,
        Command::Flag(cmd) => commands::flag::run(cmd).await,
        Command::Gdpr(cmd) => commands::gdpr::run(cmd).await,
    }
}
