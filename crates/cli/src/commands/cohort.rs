//! `sextant cohort`: save, change, list and delete cohorts. A definition is checked as
//! the server will compile it (`sextant_query::cohorts`) before it is stored.

use anyhow::{Context, Result};
use clap::Subcommand;
use sextant_metadata::Metadata;
use sextant_model::{Actor, ProjectId};

use sextant_server::cohorts::CohortView;

use super::common::{DataDirArg, DeleteArgs, ListArgs, print_list, require_project};

#[derive(Subcommand)]
pub(crate) enum CohortCommand {
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
    List(ListArgs),
    /// Delete a cohort.
    Delete(DeleteArgs),
}

/// Reads `--behaviors` JSON.
fn behaviors_arg(text: Option<&str>) -> Result<Option<Vec<sextant_model::Behavior>>> {
    text.map(|t| serde_json::from_str(t).context("--behaviors must be a JSON list of {window, name, event_selectors}"))
        .transpose()
}

/// Checks a definition as the server will read it (expressions and windows).
async fn check_definition(md: &Metadata, project: i64, def: &sextant_model::CohortDefinition) -> Result<()> {
    let p = require_project(md, project).await?;
    sextant_query::cohorts::compile(def, &sextant_query::expression_options(&p), 0)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("--where/--behaviors: {e}"))
}

fn print_cohort(c: &sextant_metadata::CohortInfo, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&CohortView::of(c, None))?);
    } else {
        println!("cohort {} ({}): {}", c.id, c.name, serde_json::to_string(&c.definition)?);
    }
    Ok(())
}

/// Runs a `cohort` subcommand.
pub(crate) async fn run(cmd: CohortCommand) -> Result<()> {
    match cmd {
        CohortCommand::Create { project, name, description, where_, behaviors, json, dir } => {
            let md = dir.open_metadata().await?;
            let def = sextant_model::CohortDefinition {
                where_,
                behaviors: behaviors_arg(behaviors.as_deref())?.unwrap_or_default(),
            };
            check_definition(&md, project, &def).await?;
            let c = md.create_cohort(ProjectId(project), &name, &description, &def, &Actor::cli()).await?;
            print_cohort(&c, json)?;
        }
        CohortCommand::Update { project, id, name, description, where_, behaviors, json, dir } => {
            let md = dir.open_metadata().await?;
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
        CohortCommand::List(ListArgs { project, json, dir }) => {
            let md = dir.open_metadata().await?;
            let all = md.all_cohorts(ProjectId(project)).await?;
            print_list(&all, json, |c| CohortView::of(c, None), print_cohort)?;
        }
        CohortCommand::Delete(DeleteArgs { project, id, dir }) => {
            let md = dir.open_metadata().await?;
            md.delete_cohort(ProjectId(project), sextant_model::CohortId(id)).await?;
            println!("deleted cohort {id}");
        }
    }
    Ok(())
}
