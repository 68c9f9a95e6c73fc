//! `sextant funnel`: save, change, list and delete funnels (computed by
//! `/api/query/funnels?funnel_id=`). The flags are read into a funnel's typed fields and
//! checked by `sextant_query::funnels::definition`, as the App API's body is.

use anyhow::Result;
use clap::Subcommand;
use sextant_model::{Actor, FunnelStep, ProjectId};
use sextant_query::FieldErrors;
use sextant_query::funnels::definition::{self, FunnelSpec};
use sextant_server::funnels::FunnelView;

use super::common::{DataDirArg, DeleteArgs, ListArgs, print_list, require_project};

/// A funnel's steps and window, as flags.
#[derive(clap::Args)]
pub(crate) struct FunnelFlags {
    /// A step, in order (repeat for each): an event name, or a JSON object
    /// `{"event": "Purchase", "where": "properties[\"amount\"] > 5", "label": "Big purchase"}`.
    #[arg(long = "step")]
    steps: Vec<String>,
    /// The conversion window in `--length-unit`s (default 30; at most 90 days).
    #[arg(long)]
    length: Option<u32>,
    /// `day` (default), `hour`, `minute` or `second`.
    #[arg(long)]
    length_unit: Option<String>,
    /// `ordered` (default) or `any` (the steps after the first in any order).
    #[arg(long)]
    order: Option<String>,
}

impl FunnelFlags {
    /// The flags as a funnel's typed fields, for a new funnel when `creating`. They are
    /// read in the order the App API reads its body, so a command with several mistakes
    /// is told about the same one: each `--step`'s JSON, `--length-unit`, whether a new
    /// funnel has steps at all, `--order`, then each step's fields.
    fn spec(&self, creating: bool) -> Result<FunnelSpec> {
        let steps = self
            .steps
            .iter()
            .map(|s| {
                if s.trim_start().starts_with('{') {
                    serde_json::from_str(s).map_err(|e| anyhow::anyhow!("--step {s}: {e}"))
                } else {
                    Ok(serde_json::json!({"event": s}))
                }
            })
            .collect::<Result<Vec<serde_json::Value>>>()?;
        let mut spec = FunnelSpec { length: self.length, ..FunnelSpec::default() };
        if let Some(unit) = &self.length_unit {
            spec.length_unit = Some(definition::length_unit(unit).map_err(invalid)?);
        }
        if creating && steps.is_empty() {
            // `define` refuses a new funnel without steps, whatever else is given.
            return Ok(spec);
        }
        spec.order = self.order.as_deref().map(definition::order).transpose().map_err(invalid)?;
        if !steps.is_empty() {
            let step = |v: serde_json::Value| {
                serde_json::from_value::<FunnelStep>(v)
                    .map_err(|e| invalid(FieldErrors::one(definition::INVALID, "body", e.to_string())))
            };
            spec.steps = Some(steps.into_iter().map(step).collect::<Result<Vec<FunnelStep>>>()?);
        }
        Ok(spec)
    }
}

/// A funnel's mistake, worded as the App API words it.
fn invalid(e: FieldErrors) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

#[derive(Subcommand)]
pub(crate) enum FunnelCommand {
    /// Save a funnel.
    Create {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Funnel name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        flags: FunnelFlags,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Change a funnel: its name, or its steps (all of them), window or ordering.
    Update {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Funnel id.
        #[arg(long)]
        id: i64,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        flags: FunnelFlags,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// List a project's funnels.
    List(ListArgs),
    /// Delete a funnel.
    Delete(DeleteArgs),
}

fn print_funnel(f: &sextant_metadata::FunnelInfo, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&FunnelView::of(f, None))?);
    } else {
        let steps: Vec<&str> = f.definition.steps.iter().map(|s| s.event.as_str()).collect();
        println!(
            "funnel {} ({}): {} within {} {:?}",
            f.id,
            f.name,
            steps.join(" -> "),
            f.definition.length,
            f.definition.length_unit
        );
    }
    Ok(())
}

/// Runs a `funnel` subcommand.
pub(crate) async fn run(cmd: FunnelCommand) -> Result<()> {
    match cmd {
        FunnelCommand::Create { project, name, flags, json, dir } => {
            let md = dir.open_metadata().await?;
            let p = require_project(&md, project).await?;
            let options = sextant_query::expression_options(&p);
            let definition = definition::define(flags.spec(true)?, None, &options).map_err(invalid)?;
            let f = md.create_funnel(ProjectId(project), &name, &definition, &Actor::cli()).await?;
            print_funnel(&f, json)?;
        }
        FunnelCommand::Update { project, id, name, flags, json, dir } => {
            let md = dir.open_metadata().await?;
            let p = require_project(&md, project).await?;
            let stored = md.funnel(ProjectId(project), id).await?;
            let options = sextant_query::expression_options(&p);
            let definition =
                definition::define(flags.spec(false)?, Some(&stored.definition), &options).map_err(invalid)?;
            let changes = sextant_metadata::FunnelChanges { name, definition: Some(definition) };
            let f = md.update_funnel(ProjectId(project), id, changes).await?;
            print_funnel(&f, json)?;
        }
        FunnelCommand::List(ListArgs { project, json, dir }) => {
            let md = dir.open_metadata().await?;
            let all = md.all_funnels(ProjectId(project)).await?;
            print_list(&all, json, |f| FunnelView::of(f, None), print_funnel)?;
        }
        FunnelCommand::Delete(DeleteArgs { project, id, dir }) => {
            let md = dir.open_metadata().await?;
            md.delete_funnel(ProjectId(project), id).await?;
            println!("deleted funnel {id}");
        }
    }
    Ok(())
}
