//! `sextant bookmark`: save, list and delete reports (computed by
//! `/api/query/insights?bookmark_id=`). A report is checked by `sextant_query::insights`
//! before it is saved, as the App API checks it.

use anyhow::Result;
use clap::Subcommand;
use sextant_model::{Actor, ProjectId};
use sextant_query::insights;

use sextant_server::insights::BookmarkView;

use super::common::{DataDirArg, DeleteArgs, ListArgs, print_list, require_project};

#[derive(Subcommand)]
pub(crate) enum BookmarkCommand {
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
    List(ListArgs),
    /// Delete a saved report.
    Delete(DeleteArgs),
}

fn print_bookmark(b: &sextant_metadata::BookmarkInfo, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&BookmarkView::of(b, None))?);
    } else {
        println!("report {} ({}): {} {}", b.id, b.name, b.kind, serde_json::to_string(&b.params)?);
    }
    Ok(())
}

/// Runs a `bookmark` subcommand.
pub(crate) async fn run(cmd: BookmarkCommand) -> Result<()> {
    match cmd {
        BookmarkCommand::Create { project, name, kind, params, json, dir } => {
            let md = dir.open_metadata().await?;
            let p = require_project(&md, project).await?;
            let params = insights::params_from_query(&params);
            let now = chrono::Utc::now().timestamp_millis();
            insights::check(&kind, &params, &sextant_query::expression_options(&p), now)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let b = md.create_bookmark(ProjectId(project), &name, &kind, &params, &Actor::cli()).await?;
            print_bookmark(&b, json)?;
        }
        BookmarkCommand::List(ListArgs { project, json, dir }) => {
            let md = dir.open_metadata().await?;
            let all = md.all_bookmarks(ProjectId(project)).await?;
            print_list(&all, json, |b| BookmarkView::of(b, None), print_bookmark)?;
        }
        BookmarkCommand::Delete(DeleteArgs { project, id, dir }) => {
            let md = dir.open_metadata().await?;
            md.delete_bookmark(ProjectId(project), id).await?;
            println!("deleted report {id}");
        }
    }
    Ok(())
}
