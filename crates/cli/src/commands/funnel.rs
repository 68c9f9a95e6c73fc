//! `sextant funnel`: save, change, list and delete funnels (computed by
//! `/api/query/funnels?funnel_id=`). The flags are turned into the App API's funnel
//! body and read by the server's `sextant_server::funnels::definition_of`.

use anyhow::Result;
use clap::Subcommand;
use sextant_model::ProjectId;

use super::common::{DataDirArg, open_metadata, require_project};

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
    /// The flags as the App API's body, which `sextant_server::funnels::definition_of` reads.
    fn body(&self, name: Option<&str>) -> Result<serde_json::Value> {
        let mut body = serde_json::json!({});
        if let Some(name) = name {
            body["name"] = name.into();
        }
        if !self.steps.is_empty() {
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
            body["steps"] = steps.into();
        }
        if let Some(l) = self.length {
            body["length"] = l.into();
        }
        if let Some(u) = &self.length_unit {
            body["length_unit"] = u.as_str().into();
        }
        if let Some(o) = &self.order {
            body["order"] = o.as_str().into();
        }
        Ok(body)
    }
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
    List {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Delete a funnel.
    Delete {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Funnel id.
        #[arg(long)]
        id: i64,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

fn print_funnel(f: &sextant_metadata::FunnelInfo, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&sextant_server::funnels::FunnelView::of(f))?);
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
    let invalid = |e: sextant_server::error::ApiError| anyhow::anyhow!("{}", e.message);
    match cmd {
        FunnelCommand::Create { project, name, flags, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let p = require_project(&md, project).await?;
            let definition =
                sextant_server::funnels::definition_of(&flags.body(Some(&name))?, None).map_err(invalid)?;
            sextant_server::funnels::check(&p, &definition).map_err(invalid)?;
            let f = md.create_funnel(ProjectId(project), &name, &definition).await?;
            print_funnel(&f, json)?;
        }
        FunnelCommand::Update { project, id, name, flags, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let p = require_project(&md, project).await?;
            let stored = md.funnel(ProjectId(project), id).await?;
            let definition =
                sextant_server::funnels::definition_of(&flags.body(name.as_deref())?, Some(&stored.definition))
                    .map_err(invalid)?;
            sextant_server::funnels::check(&p, &definition).map_err(invalid)?;
            let changes = sextant_metadata::FunnelChanges { name, definition: Some(definition) };
            let f = md.update_funnel(ProjectId(project), id, changes).await?;
            print_funnel(&f, json)?;
        }
        FunnelCommand::List { project, json, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            let all = md.all_funnels(ProjectId(project)).await?;
            if json {
                let views: Vec<_> = all.iter().map(sextant_server::funnels::FunnelView::of).collect();
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else {
                for f in &all {
                    print_funnel(f, false)?;
                }
            }
        }
        FunnelCommand::Delete { project, id, dir } => {
            let md = open_metadata(&dir.data_dir).await?;
            md.delete_funnel(ProjectId(project), id).await?;
            println!("deleted funnel {id}");
        }
    }
    Ok(())
}
