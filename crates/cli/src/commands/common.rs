//! What the control-plane commands share: the `--data-dir` flag, opening the metadata
//! store in it, looking up a project, and printing a list as JSON or one line an item.

use std::path::{Path, PathBuf};

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
}

pub(crate) async fn open_metadata(dir: &Path) -> Result<Metadata> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(Metadata::open(&dir.join("metadata.sqlite")).await?)
}

/// The project with id `project`, or the error `no project {project}`.
pub(crate) async fn require_project(md: &Metadata, project: i64) -> Result<Project> {
    md.project(ProjectId(project)).await?.ok_or_else(|| anyhow::anyhow!("no project {project}"))
}

/// Prints `all` as one pretty JSON array with `--json`, else each item by `print_one`
/// (called with `json` false).
pub(crate) fn print_list<T: Serialize>(
    all: &[T],
    json: bool,
    print_one: impl Fn(&T, bool) -> Result<()>,
) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(all)?);
    } else {
        for item in all {
            print_one(item, false)?;
        }
    }
    Ok(())
}
