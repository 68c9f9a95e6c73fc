//! `sextant flag`: create, replace, enable, disable, list, show and archive feature
//! flags on the control plane, as the management API does (the definition is the API's
//! body, read and checked by `sextant_flags::FlagRequest`). A running server serves a
//! change within ten seconds (it compares the project's flag version).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use sextant_flags::{FlagRequest, FlagStatus};
use sextant_metadata::{FlagInfo, Metadata};
use sextant_model::{Actor, ProjectId};
use sextant_server::flag_view::FeatureFlagView;

use super::common::{DataDirArg, print_list, require_project};

/// Where a definition comes from: a file, or the text itself.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct Definition {
    /// A JSON file holding the definition, as the management API's body.
    #[arg(long)]
    file: Option<PathBuf>,
    /// The definition as JSON text.
    #[arg(long)]
    definition: Option<String>,
}

impl Definition {
    fn read(&self) -> Result<FlagRequest> {
        let text = match (&self.file, &self.definition) {
            (Some(path), _) => {
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
            }
            (None, Some(text)) => text.clone(),
            (None, None) => anyhow::bail!("give --file or --definition"),
        };
        let body: serde_json::Value = serde_json::from_str(&text).context("the definition is not JSON")?;
        FlagRequest::parse(body).map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(|(field, problem)| format!("  {field}: {problem}")).collect();
            anyhow::anyhow!("invalid feature flag:\n{}", lines.join("\n"))
        })
    }
}

/// The project and flag a command acts on.
#[derive(clap::Args)]
pub(crate) struct FlagId {
    /// Project id.
    #[arg(long)]
    project: i64,
    /// The flag's id (a UUID).
    #[arg(long)]
    id: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    dir: DataDirArg,
}

#[derive(Subcommand)]
pub(crate) enum FlagCommand {
    /// Create a flag (a fresh hash salt unless the definition has one).
    Create {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// The workspace (default: the project's default workspace).
        #[arg(long)]
        workspace: Option<i64>,
        #[command(flatten)]
        definition: Definition,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Replace a flag's definition (its salt kept unless the definition has one or
    /// asks `reset_hash_salt`).
    Update {
        #[command(flatten)]
        flag: FlagId,
        #[command(flatten)]
        definition: Definition,
    },
    /// Serve a flag.
    Enable(FlagId),
    /// Stop serving a flag (kept, and listed).
    Disable(FlagId),
    /// Show one flag.
    Get(FlagId),
    /// Archive a flag (the API's delete): no longer served, its key free again.
    Delete(FlagId),
    /// List a workspace's flags.
    List {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// The workspace (default: the project's default workspace).
        #[arg(long)]
        workspace: Option<i64>,
        /// Archived flags too.
        #[arg(long)]
        include_archived: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

fn print_flag(f: &FlagInfo, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&FeatureFlagView::of(f.clone(), ""))?);
    } else {
        let variants: Vec<&str> = f.spec.ruleset.variants.iter().map(|v| v.key.as_str()).collect();
        println!(
            "flag {} `{}` ({}): {}, by {}, variants {}, {} rollout groups",
            f.id,
            f.spec.key,
            f.spec.name,
            f.spec.status.as_str(),
            f.spec.context,
            variants.join("/"),
            f.spec.ruleset.rollout.len()
        );
    }
    Ok(())
}

/// The workspace named, or the project's default one.
async fn workspace_or_default(md: &Metadata, project: i64, workspace: Option<i64>) -> Result<i64> {
    require_project(md, project).await?;
    match workspace {
        Some(id) => Ok(id),
        None => md
            .workspaces(ProjectId(project))
            .await?
            .into_iter()
            .find(|w| w.is_default)
            .map(|w| w.id)
            .ok_or_else(|| anyhow::anyhow!("project {project} has no default workspace")),
    }
}

/// Sets a flag's status, keeping the rest of its definition.
async fn set_status(flag: FlagId, status: FlagStatus) -> Result<()> {
    let md = flag.dir.open_metadata().await?;
    let project = ProjectId(flag.project);
    let mut f = md.flag(project, &flag.id).await?;
    f.spec.status = status;
    let f = md.update_flag(project, &flag.id, f.spec, false, &Actor::cli()).await?;
    print_flag(&f, flag.json)
}

/// Runs a `flag` subcommand.
pub(crate) async fn run(cmd: FlagCommand) -> Result<()> {
    match cmd {
        FlagCommand::Create { project, workspace, definition, json, dir } => {
            let request = definition.read()?;
            let md = dir.open_metadata().await?;
            let workspace = workspace_or_default(&md, project, workspace).await?;
            let f = md.create_flag(ProjectId(project), workspace, request.spec, &Actor::cli()).await?;
            print_flag(&f, json)?;
        }
        FlagCommand::Update { flag, definition } => {
            let request = definition.read()?;
            let md = flag.dir.open_metadata().await?;
            let project = ProjectId(flag.project);
            let f = md.update_flag(project, &flag.id, request.spec, request.reset_hash_salt, &Actor::cli()).await?;
            print_flag(&f, flag.json)?;
        }
        FlagCommand::Enable(flag) => set_status(flag, FlagStatus::Enabled).await?,
        FlagCommand::Disable(flag) => set_status(flag, FlagStatus::Disabled).await?,
        FlagCommand::Get(flag) => {
            let md = flag.dir.open_metadata().await?;
            print_flag(&md.flag(ProjectId(flag.project), &flag.id).await?, flag.json)?;
        }
        FlagCommand::Delete(flag) => {
            let md = flag.dir.open_metadata().await?;
            md.archive_flag(ProjectId(flag.project), &flag.id, &Actor::cli()).await?;
            println!("archived flag {}", flag.id);
        }
        FlagCommand::List { project, workspace, include_archived, json, dir } => {
            let md = dir.open_metadata().await?;
            let workspace = workspace_or_default(&md, project, workspace).await?;
            let all = md.list_flags(ProjectId(project), workspace, include_archived).await?;
            print_list(&all, json, |f| FeatureFlagView::of(f.clone(), ""), print_flag)?;
        }
    }
    Ok(())
}
