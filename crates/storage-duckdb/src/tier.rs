//! One storage tier as a query reads it: what segmentation counts ([`crate::reports`])
//! and behavioural scans ([`crate::behaviour`]) share when they write a `SELECT` over
//! `events_cold` or `events_hot`: which table, the conditions every row meets, the
//! canonical user id, the profile join, and the columns compiled expressions read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sextant_expr::sql::{Columns, KindSet};

/// The two storage tiers (see [`crate::schema`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tier {
    /// `events_cold`: properties as VARIANT.
    Cold,
    /// `events_hot`: properties as JSON text.
    Hot,
}

impl Tier {
    /// The tier's table.
    pub(crate) fn table(self) -> &'static str {
        match self {
            Tier::Cold => "events_cold",
            Tier::Hot => "events_hot",
        }
    }
}

/// One tier's rows, as the statement reading them names them (`e`, and `p` for the
/// user's profile).
pub(crate) struct TierScan<'a> {
    /// Which tier.
    pub tier: Tier,
    /// The conditions on `e` every row meets (project, time range, event names).
    pub head: &'a str,
    /// The SQL of the row's canonical user id.
    pub uid: &'a str,
    /// Whether an expression reads the user's profile.
    pub join_user: bool,
    /// The project's property names that have held JSON `null` (see [`crate::nullable`]).
    pub nullable: &'a Arc<HashSet<String>>,
    /// What kinds of value each property holds, where known (the cold tier's).
    pub kinds: Option<&'a Arc<HashMap<String, KindSet>>>,
}

impl TierScan<'_> {
    /// The columns compiled expressions read.
    pub(crate) fn columns(&self) -> Columns {
        Columns {
            properties: "e.properties".into(),
            properties_text: self.tier == Tier::Hot,
            time_ms: "e.time_ms".into(),
            event: "e.event".into(),
            distinct_id: "e.distinct_id".into(),
            insert_id: "e.insert_id".into(),
            user: self.join_user.then(|| "p.properties".to_string()),
            user_text: true,
            nullable: Some(self.nullable.clone()),
            kinds: self.kinds.cloned(),
        }
    }

    /// `rows` (a `FROM` body with its `WHERE`) with each row's profile as `p`: the
    /// join needs the canonical id first, so the rows are read through a subquery
    /// that names it `e.uid`.
    pub(crate) fn with_profile(&self, rows: &str) -> String {
        format!(
            "(SELECT e.*, {} AS uid FROM {rows}) e LEFT JOIN profiles p \
             ON p.project_id = e.project_id AND p.group_key = '' AND p.id = e.uid",
            self.uid
        )
    }
}
