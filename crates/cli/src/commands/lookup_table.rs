//! `sextant lookup-table`: create lookup tables, map them to properties, list and
//! delete them. Their rows are uploaded through the server's `/lookup-tables` API.

use anyhow::Result;
use clap::Subcommand;
use sextant_model::{Actor, ProjectId};

use sextant_server::lookup_tables::LookupTableView;

use super::common::{DataDirArg, ListArgs, print_list};

#[derive(Subcommand)]
pub(crate) enum LookupTableCommand {
    /// Create an empty table and map it to properties; upload its rows with
    /// `PUT /lookup-tables/{id}`.
    Create {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Table name.
        #[arg(long)]
        name: String,
        /// A property whose values are the table's keys: `event:song_id` or
        /// `user:plan_id`; repeat for several.
        #[arg(long = "map")]
        mappings: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Rename a table or replace its mappings (only what is given).
    Update {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Table id.
        #[arg(long)]
        id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// The complete new set of mappings, as for `create`.
        #[arg(long = "map")]
        mappings: Vec<String>,
        /// Remove every mapping.
        #[arg(long, conflicts_with = "mappings")]
        unmap_all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// List a project's tables.
    List(ListArgs),
    /// Delete a table and its mappings. Its rows stay in the event store, unused,
    /// until the server's App API deletes them (`DELETE .../lookup-tables/{id}`
    /// removes both).
    Delete {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Table id.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

fn print_lookup_table(t: &sextant_metadata::LookupTableInfo, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&LookupTableView::of(t, None))?);
    } else {
        let maps: Vec<String> = t.mappings.iter().map(|m| format!("{}:{}", m.target, m.property)).collect();
        println!("lookup table {} ({}): {} rows, mapped to [{}]", t.id, t.name, t.row_count, maps.join(", "));
    }
    Ok(())
}

fn mapping_args(args: &[String]) -> Result<Vec<sextant_metadata::LookupMapping>> {
    args.iter().map(|a| sextant_metadata::LookupMapping::parse(a).map_err(|e| anyhow::anyhow!("--map: {e}"))).collect()
}

/// Runs a `lookup-table` subcommand.
pub(crate) async fn run(cmd: LookupTableCommand) -> Result<()> {
    match cmd {
        LookupTableCommand::Create { project, name, mappings, json, dir } => {
            let md = dir.open_metadata().await?;
            let t = md.create_lookup_table(ProjectId(project), &name, &mapping_args(&mappings)?, &Actor::cli()).await?;
            print_lookup_table(&t, json)?;
        }
        LookupTableCommand::Update { project, id, name, mappings, unmap_all, json, dir } => {
            let md = dir.open_metadata().await?;
            let mappings = if unmap_all {
                Some(Vec::new())
            } else if mappings.is_empty() {
                None
            } else {
                Some(mapping_args(&mappings)?)
            };
            let changes = sextant_metadata::LookupTableChanges { name, mappings };
            let t = md.update_lookup_table(ProjectId(project), &id, changes).await?;
            print_lookup_table(&t, json)?;
        }
        LookupTableCommand::List(ListArgs { project, json, dir }) => {
            let md = dir.open_metadata().await?;
            let all = md.all_lookup_tables(ProjectId(project)).await?;
            print_list(&all, json, |t| LookupTableView::of(t, None), print_lookup_table)?;
        }
        LookupTableCommand::Delete { project, id, dir } => {
            let md = dir.open_metadata().await?;
            md.delete_lookup_table(ProjectId(project), &id).await?;
            println!("deleted lookup table {id}");
        }
    }
    Ok(())
}
