//! `sextant token`: create, list and revoke personal API tokens (`sx_...`).

use anyhow::Result;
use clap::Subcommand;
use sextant_model::{ApiFamily, ApiTokenId, PageRequest, PageStart, ProjectId};

use super::common::{DataDirArg, ListArgs};

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
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
    List(ListArgs),
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

fn parse_family(s: &str) -> Result<ApiFamily, String> {
    s.parse()
}

/// Runs a `token` subcommand.
pub(crate) async fn run(cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create { project, families, name, expires_in, json, dir } => {
            let md = dir.open_metadata().await?;
            let ttl_ms = i64::try_from(expires_in.saturating_mul(1000)).unwrap_or(i64::MAX);
            let t = md.create_api_token(ProjectId(project), &name, &families, ttl_ms, None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&t)?);
            } else {
                let scope: Vec<_> = t.info.families.iter().map(|f| f.as_str()).collect();
                println!("created API token {} in project {} for {}", t.info.id, t.info.project_id, scope.join(", "));
                println!("  token    {}   (shown once)", t.token);
                println!("  expires  {}", format_ms(t.info.expires_at_ms));
            }
        }
        TokenCommand::List(ListArgs { project, json, dir }) => {
            let md = dir.open_metadata().await?;
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
                println!("{:<6} {:<10} {:<26} {:<10} {:<30} NAME", "ID", "PREFIX", "EXPIRES", "STATE", "FAMILIES");
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
            let md = dir.open_metadata().await?;
            let t = md.revoke_api_token(ProjectId(project), ApiTokenId(id)).await?;
            println!("revoked API token {} ({}) in project {}", t.id, t.prefix, t.project_id);
        }
    }
    Ok(())
}

fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339()).unwrap_or_default()
}
