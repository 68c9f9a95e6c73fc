//! What the control-plane commands share: the `--data-dir` and `--metadata-url` flags,
//! the arguments of every `list` and `delete`, opening the control plane they name,
//! looking up a project, and printing a list as JSON or one line an item.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;
use sextant_metadata::Metadata;
use sextant_model::{Project, ProjectId};

#[derive(Args)]
pub(crate) struct DataDirArg {
    /// Data directory holding metadata.sqlite.
    #[arg(long, env = "SEXTANT_DATA_DIR", default_value = "./sextant-data")]
    pub(crate) data_dir: PathBuf,
    /// The control plane's database when it is not the data directory's SQLite file:
    /// the server's --metadata-url (postgres://USER@HOST:PORT/DB).
    #[arg(long, env = "SEXTANT_METADATA_URL")]
    pub(crate) metadata_url: Option<String>,
}

/// What every `list` command takes: the project, `--json`, and where the control plane is.
#[derive(Args)]
pub(crate) struct ListArgs {
    /// Project id.
    #[arg(long)]
    pub(crate) project: i64,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) dir: DataDirArg,
}

/// What `delete` takes for an object with a numeric id: the project, the id, and where
/// the control plane is.
#[derive(Args)]
pub(crate) struct DeleteArgs {
    /// Project id.
    #[arg(long)]
    pub(crate) project: i64,
    /// The id of what to delete.
    #[arg(long)]
    pub(crate) id: i64,
    #[command(flatten)]
    pub(crate) dir: DataDirArg,
}

impl DataDirArg {
    /// The control plane these flags name.
    pub(crate) async fn open_metadata(&self) -> Result<Metadata> {
        if let Some(url) = &self.metadata_url {
            return Ok(Metadata::connect(url).await?);
        }
        let dir = &self.data_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Metadata::open(&dir.join("metadata.sqlite")).await?)
    }
}

/// The project with id `project`, or the error `no project {project}`.
pub(crate) async fn require_project(md: &Metadata, project: i64) -> Result<Project> {
    md.project(ProjectId(project)).await?.ok_or_else(|| anyhow::anyhow!("no project {project}"))
}

/// Prints `all` as one pretty JSON array of their `view`s (what the App API shows) with
/// `--json`, else each item by `print_one` (called with `json` false).
pub(crate) fn print_list<T, V: Serialize>(
    all: &[T],
    json: bool,
    view: impl Fn(&T) -> V,
    print_one: impl Fn(&T, bool) -> Result<()>,
) -> Result<()> {
    if json {
        let views: Vec<V> = all.iter().map(view).collect();
        println!("{}", serde_json::to_string_pretty(&views)?);
    } else {
        for item in all {
            print_one(item, false)?;
        }
    }
    Ok(())
}
