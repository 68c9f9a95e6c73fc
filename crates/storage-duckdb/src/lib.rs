//! The embedded store: events and profiles in one DuckDB database inside the data
//! directory.
//!
//! DuckDB connections are synchronous, so none is ever used from async code directly:
//! one writer thread owns the write connection and commits whatever batches are waiting
//! in one transaction (group commit), a compactor thread moves events from the
//! append-friendly tier to the query-friendly one, and each export runs on a blocking thread with
//! its own cloned connection, handing rows back through a bounded channel.
//!
//! # Layout
//! - [`schema`]: the table definitions and database settings.
//! - [`writer`]: the group-commit writer thread (appends to the hot tier).
//! - [`compactor`]: the background thread that moves events to the cold tier.
//! - [`copies`]: which copy of a duplicated event reports read (the last ingested).
//! - [`export`]: streaming reads for raw export.
//! - `backup`: an online copy of the database, one snapshot into a new file.
//! - [`identity`]: the identity graph (id to canonical id).
//! - [`erasure`]: removing people (GDPR deletions) and scrubbing the file of them.
//! - `interpreted`: events read whole for the interpreter, when an expression does not
//!   compile; and `quote`, the store's one way to write a text constant into SQL.
//! - [`profiles`]: user and group profiles, and engage snapshots.
//! - [`lookups`]: lookup-table rows.
//! - [`catalog`]: what each project has sent (event names, their properties and the
//!   kinds of value they held), kept by the writer as it commits events.
//! - [`kinds`]: the kinds of value each event property has held in the cold tier, so
//!   compiled expressions skip type tests.
//! - [`nullable`]: the event property names that have held JSON `null`, so queries
//!   test existence only for those.
//! - `tier`: one storage tier as a query's `SELECT` reads it (table, user id, profile
//!   join, expression columns), shared by [`reports`] and [`behaviour`].
//! - [`reports`]: segmentation counts.
//! - [`behaviour`]: each user's events in time order, for funnels and retention.
//! - [`timelines`]: the behavioural index: each closed day's events by user and time,
//!   kept by the compactor, read by [`behaviour`].
//! - [`space`]: the free-space reserve below which writes are refused.
//! - `pause`: the points where the fault tests stop the store to kill it.
//! - [`store`]: [`DuckDbStore`], the [`sextant_storage::EventStore`] implementation.

mod backup;
pub mod behaviour;
pub mod catalog;
pub mod compactor;
pub mod copies;
pub mod erasure;
pub mod export;
pub mod identity;
mod interpreted;
pub mod kinds;
pub mod lookups;
pub mod nullable;
pub mod pause;
pub mod profiles;
pub mod reports;
pub mod schema;
pub mod space;
pub mod store;
mod tier;
pub mod timelines;
pub mod writer;

pub use store::{DuckDbStore, StoreOptions};

/// Converts a DuckDB error into the storage boundary's error.
pub(crate) fn backend(e: duckdb::Error) -> sextant_storage::StorageError {
    sextant_storage::StorageError::Backend(e.to_string())
}
