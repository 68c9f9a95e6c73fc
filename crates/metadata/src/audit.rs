//! The audit columns every saved object's table has (`created_at_ms`,
//! `modified_at_ms`, `creator_kind`, `creator_id`, `creator_name`), read and written
//! once for all of them.

use sextant_model::{Actor, ActorKind, Audit};
use sqlx::Row;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;

use crate::Result;

/// The audit columns, for a `SELECT` list.
pub(crate) const AUDIT_COLUMNS: &str = "created_at_ms, modified_at_ms, creator_kind, creator_id, creator_name";

/// The columns a new row's audit fields go in, after `created_at_ms`, for an `INSERT`.
pub(crate) const CREATOR_COLUMNS: &str = "modified_at_ms, creator_kind, creator_id, creator_name";

/// A row's audit fields. A row saved before they were recorded has no creator, and
/// was last modified when it was made.
pub(crate) fn audit_from_row(row: &AnyRow) -> Result<Audit> {
    let created_at_ms: i64 = row.try_get("created_at_ms")?;
    let modified: Option<i64> = row.try_get("modified_at_ms")?;
    Ok(Audit { created_at_ms, modified_at_ms: modified.unwrap_or(created_at_ms), creator: creator_from_row(row)? })
}

/// A row's creator (`creator_kind`, `creator_id`, `creator_name`), if it was recorded.
pub(crate) fn creator_from_row(row: &AnyRow) -> Result<Option<Actor>> {
    let kind: Option<String> = row.try_get("creator_kind")?;
    Ok(match kind.as_deref().and_then(ActorKind::parse) {
        Some(kind) => Some(Actor {
            kind,
            id: row.try_get("creator_id")?,
            name: row.try_get::<Option<String>, _>("creator_name")?.unwrap_or_default(),
        }),
        None => None,
    })
}

/// Binds a new row's [`CREATOR_COLUMNS`]: modified when made, by `creator`.
pub(crate) fn bind_creator<'q>(
    query: Query<'q, sqlx::Any, AnyArguments<'q>>,
    now_ms: i64,
    creator: &'q Actor,
) -> Query<'q, sqlx::Any, AnyArguments<'q>> {
    query.bind(now_ms).bind(creator.kind.as_str()).bind(creator.id).bind(creator.name.as_str())
}

/// The columns of who changed a row last, aliased for [`modifier_from_row`].
pub(crate) const MODIFIER_COLUMNS: &str = "modifier_kind AS m_kind, modifier_id AS m_id, modifier_name AS m_name";

/// Who changed a row last ([`MODIFIER_COLUMNS`]), or its creator when nobody has since.
pub(crate) fn modifier_from_row(row: &AnyRow) -> Result<Option<Actor>> {
    let kind: Option<String> = row.try_get("m_kind")?;
    Ok(match kind.as_deref().and_then(ActorKind::parse) {
        Some(kind) => Some(Actor {
            kind,
            id: row.try_get("m_id")?,
            name: row.try_get::<Option<String>, _>("m_name")?.unwrap_or_default(),
        }),
        None => creator_from_row(row)?,
    })
}
