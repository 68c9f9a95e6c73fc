//! `sextant project`: create, list and configure projects (deleting one, which clears its
//! stored data, is the running server's: `DELETE /api/app/organizations/{org}/projects/{id}`).

use anyhow::Result;
use clap::Subcommand;
use sextant_model::{IdentityMode, ProjectChanges, ProjectId, Region};

use super::common::{DataDirArg, require_project};

#[derive(Subcommand)]
pub(crate) enum ProjectCommand {
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
    /// Change a project's settings (a running server sees them within 10 seconds).
    Configure {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new IANA timezone for reports.
        #[arg(long)]
        timezone: Option<String>,
        /// The project's own rate limits, as JSON replacing those it had:
        /// `{"query": {"per_hour": 600}}` (a 0 removes a limit; `{}` returns to the
        /// configuration file's).
        #[arg(long)]
        rate_limits: Option<String>,
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

fn parse_identity_mode(s: &str) -> Result<IdentityMode, String> {
    s.parse()
}

fn parse_region(s: &str) -> Result<Region, String> {
    s.parse()
}

/// Runs a `project` subcommand.
pub(crate) async fn run(cmd: ProjectCommand) -> Result<()> {
    match cmd {
        ProjectCommand::Create { name, timezone, region, identity_mode, json, dir } => {
            let md = dir.open_metadata().await?;
            let org = md.default_organization().await?;
            let settings = ProjectChanges {
                name: Some(name),
                timezone: Some(timezone),
                region: Some(region),
                identity_mode: Some(identity_mode),
                ..Default::default()
            };
            let created = md.create_project_with(org, &settings).await?;
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
            let md = dir.open_metadata().await?;
            let projects = md.list_projects().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&projects)?);
            } else {
                println!("{:<6} {:<32} {:<20} NAME", "ID", "TOKEN", "TIMEZONE");
                for p in projects {
                    println!("{:<6} {:<32} {:<20} {}", p.id, p.token, p.timezone, p.name);
                }
            }
        }
        ProjectCommand::Configure {
            project,
            name,
            timezone,
            rate_limits,
            case_sensitive_strings,
            region,
            json,
            dir,
        } => {
            let md = dir.open_metadata().await?;
            require_project(&md, project).await?;
            let rate_limits = match rate_limits {
                Some(text) => {
                    let body = serde_json::json!({"rate_limits": serde_json::from_str::<serde_json::Value>(&text)?});
                    ProjectChanges::from_json(&body, false)
                        .map_err(|problems| anyhow::anyhow!("--rate-limits: {}", problems[0].1))?
                        .rate_limits
                }
                None => None,
            };
            let changes =
                ProjectChanges { name, timezone, rate_limits, case_sensitive_strings, region, ..Default::default() };
            let p = md.update_project(ProjectId(project), &changes).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                println!(
                    "project {} ({}): timezone = {}, case_sensitive_strings = {}, region = {}, rate_limits = {}",
                    p.id,
                    p.name,
                    p.timezone,
                    p.case_sensitive_strings,
                    p.region.as_str(),
                    serde_json::to_string(&p.rate_limits)?
                );
            }
        }
    }
    Ok(())
}
