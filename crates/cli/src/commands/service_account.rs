//! `sextant service-account`: create service accounts.

use anyhow::Result;
use clap::Subcommand;
use sextant_model::{Actor, ProjectId, Role};

use super::common::DataDirArg;

#[derive(Subcommand)]
pub(crate) enum ServiceAccountCommand {
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
        /// When it stops authenticating: RFC 3339 (`2027-01-01T00:00:00Z`); never when left out.
        #[arg(long, value_parser = parse_expiry)]
        expires: Option<i64>,
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

fn parse_expiry(s: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("`{s}` is not an RFC 3339 time such as 2027-01-01T00:00:00Z: {e}"))
}

/// Runs a `service-account` subcommand.
pub(crate) async fn run(cmd: ServiceAccountCommand) -> Result<()> {
    match cmd {
        ServiceAccountCommand::Create { project, role, name, expires, json, dir } => {
            let md = dir.open_metadata().await?;
            let sa = md.create_service_account(ProjectId(project), role, &name, expires, &Actor::cli()).await?;
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
