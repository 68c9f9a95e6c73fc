//! `sextant service-account`: create service accounts.

use anyhow::Result;
use clap::Subcommand;
use sextant_model::{ProjectId, Role};

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

/// Runs a `service-account` subcommand.
pub(crate) async fn run(cmd: ServiceAccountCommand) -> Result<()> {
    match cmd {
        ServiceAccountCommand::Create { project, role, name, json, dir } => {
            let md = dir.open_metadata().await?;
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
