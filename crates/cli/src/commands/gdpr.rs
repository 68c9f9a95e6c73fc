//! `sextant gdpr jobs`: the audit trail of a project's GDPR and CCPA jobs (who asked,
//! when, for which ids, what each job read or removed), newest first. The jobs
//! themselves are requested over HTTP (`/api/app/data-retrievals/v3.0`,
//! `/api/app/data-deletions/v3.0`) and run inside the server.
//!
//! `sextant gdpr opt-out | opt-in | opt-outs`: Sextant's own opt-out list, the ids
//! whose events and profile updates ingestion drops (a deletion is no opt-out).

use anyhow::Result;
use clap::Subcommand;
use sextant_model::ProjectId;

use super::common::{DataDirArg, ListArgs};

/// Audit records listed at most.
const LISTED: i64 = 10_000;

#[derive(Subcommand)]
pub(crate) enum GdprCommand {
    /// List a project's GDPR jobs, newest first.
    Jobs(ListArgs),
    /// Put ids on the project's opt-out list: ingestion drops what they send.
    OptOut(Ids),
    /// Take ids off the opt-out list.
    OptIn(Ids),
    /// List a project's opted-out ids.
    OptOuts(ListArgs),
}

#[derive(clap::Args)]
pub(crate) struct Ids {
    /// Project id.
    #[arg(long)]
    project: i64,
    /// A distinct id (repeat for several).
    #[arg(long = "id", required = true)]
    ids: Vec<String>,
    #[command(flatten)]
    dir: DataDirArg,
}

/// Runs a `gdpr` subcommand.
pub(crate) async fn run(cmd: GdprCommand) -> Result<()> {
    match cmd {
        GdprCommand::Jobs(ListArgs { project, json, dir }) => {
            let md = dir.open_metadata().await?;
            let jobs = md.gdpr_jobs(ProjectId(project), LISTED).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
                return Ok(());
            }
            println!(
                "{:<20} {:<10} {:<5} {:<8} {:>6} {:>10} {:>9} REQUESTED BY",
                "TRACKING ID", "KIND", "LAW", "STATUS", "IDS", "EVENTS", "PROFILES"
            );
            for j in jobs {
                println!(
                    "{:<20} {:<10} {:<5} {:<8} {:>6} {:>10} {:>9} {}",
                    j.tracking_id,
                    j.kind.as_str(),
                    j.compliance_type.as_str(),
                    j.status.as_str(),
                    j.distinct_ids.len(),
                    j.events_touched,
                    j.profiles_touched,
                    j.requesting_user
                );
            }
        }
        GdprCommand::OptOut(Ids { project, ids, dir }) => {
            let added = dir.open_metadata().await?.opt_out(ProjectId(project), &ids).await?;
            println!(
                "{added} ids added to project {project}'s opt-out list (running servers drop their data within 10 s)"
            );
        }
        GdprCommand::OptIn(Ids { project, ids, dir }) => {
            let removed = dir.open_metadata().await?.opt_in(ProjectId(project), &ids).await?;
            println!("{removed} ids taken off project {project}'s opt-out list");
        }
        GdprCommand::OptOuts(ListArgs { project, json, dir }) => {
            let md = dir.open_metadata().await?;
            let mut ids: Vec<String> = Vec::new();
            loop {
                let after = ids.last().map_or("", String::as_str);
                let page = md.opt_outs_after(ProjectId(project), after, 10_000).await?;
                if page.is_empty() {
                    break;
                }
                ids.extend(page);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&ids)?);
            } else {
                for id in ids {
                    println!("{id}");
                }
            }
        }
    }
    Ok(())
}
