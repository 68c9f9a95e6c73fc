//! `sextant service-account`: create, list and delete service accounts, and add them
//! to or remove them from projects, on the rules of the organisation's App API
//! (`server::service_accounts`): projects and accounts must be the organisation's
//! (by default the first organisation), and a deleted account authenticates nowhere.

use anyhow::Result;
use clap::Subcommand;
use sextant_model::{Actor, OrgId, ProjectId, Role, ServiceAccountId};
use sextant_server::service_accounts::OrgServiceAccountView;

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
    /// List the organisation's service accounts.
    List {
        /// Organisation id (default: the first).
        #[arg(long)]
        org: Option<i64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Delete a service account from every project and the organisation.
    Delete {
        #[command(flatten)]
        account: AccountInOrg,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Give a service account a role in a project (replacing the role it had there).
    AddToProject {
        #[command(flatten)]
        account: AccountInOrg,
        /// Project id.
        #[arg(long)]
        project: i64,
        /// owner, admin, analyst or consumer.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Take a service account out of a project.
    RemoveFromProject {
        #[command(flatten)]
        account: AccountInOrg,
        /// Project id.
        #[arg(long)]
        project: i64,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

/// A service account of an organisation, as flags.
#[derive(clap::Args)]
pub(crate) struct AccountInOrg {
    /// Organisation id (default: the first).
    #[arg(long)]
    org: Option<i64>,
    /// The service account's id.
    #[arg(long)]
    id: i64,
}

/// The organisation `org` names, or the first.
async fn organization(md: &sextant_metadata::Metadata, org: Option<i64>) -> Result<OrgId> {
    Ok(match org {
        Some(id) => OrgId(id),
        None => md.default_organization().await?,
    })
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
        ServiceAccountCommand::List { org, json, dir } => {
            let md = dir.open_metadata().await?;
            let org = organization(&md, org).await?;
            let all = md.org_service_accounts(org).await?;
            if json {
                let views: Vec<_> = all.iter().map(OrgServiceAccountView::of).collect();
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else {
                for a in &all {
                    println!("service account {} ({}): {}", a.id.0, a.name, a.username);
                }
            }
        }
        ServiceAccountCommand::Delete { account: AccountInOrg { org, id }, dir } => {
            let md = dir.open_metadata().await?;
            let org = organization(&md, org).await?;
            md.delete_org_service_account(org, ServiceAccountId(id)).await?;
            println!("deleted service account {id}");
        }
        ServiceAccountCommand::AddToProject { account: AccountInOrg { org, id }, project, role, dir } => {
            let md = dir.open_metadata().await?;
            let org = organization(&md, org).await?;
            md.add_to_projects(org, &[ServiceAccountId(id)], &[(ProjectId(project), role)]).await?;
            println!("service account {id} has the role {role} in project {project}");
        }
        ServiceAccountCommand::RemoveFromProject { account: AccountInOrg { org, id }, project, dir } => {
            let md = dir.open_metadata().await?;
            let org = organization(&md, org).await?;
            md.remove_from_projects(org, &[(ProjectId(project), vec![ServiceAccountId(id)])]).await?;
            println!("service account {id} has no role in project {project}");
        }
    }
    Ok(())
}
