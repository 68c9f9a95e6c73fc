//! Projects, their identity-merge mode, and the roles a service account can hold.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{OrgId, ProjectId};

/// A project as the control plane knows it. The project secret is never kept here:
/// only its hash is stored, and it is shown once, when created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Numeric project id, as Mixpanel's `project_id`.
    pub id: ProjectId,
    /// The organisation that owns the project.
    pub org_id: OrgId,
    /// Display name.
    pub name: String,
    /// The public project token that SDKs put in every event (`properties.token`).
    pub token: String,
    /// IANA timezone name used by reports (`UTC` by default).
    pub timezone: String,
    /// How identities are merged.
    pub identity_mode: IdentityMode,
    /// Creation time, epoch milliseconds.
    pub created_at_ms: i64,
    /// Whether string `==`, `!=` and `in` in expressions respect case (default: no,
    /// as Mixpanel documents).
    #[serde(default)]
    pub case_sensitive_strings: bool,
    /// Where the project's data lives; requests must come through that region's hosts.
    #[serde(default)]
    pub region: Region,
}

/// Mixpanel's data-residency regions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// United States (`api.mixpanel.com`).
    #[default]
    Us,
    /// European Union (`api-eu.mixpanel.com`).
    Eu,
    /// India (`api-in.mixpanel.com`).
    In,
}

impl Region {
    /// Every region.
    pub const ALL: [Region; 3] = [Region::Us, Region::Eu, Region::In];

    /// `us`, `eu` or `in`.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Eu => "eu",
            Region::In => "in",
        }
    }

    /// The name people use: `US`, `EU`, `IN`.
    pub fn label(self) -> &'static str {
        match self {
            Region::Us => "US",
            Region::Eu => "EU",
            Region::In => "IN",
        }
    }
}

impl FromStr for Region {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown region `{s}`; expected us, eu or in"))
    }
}

/// Mixpanel's two identity-merge systems.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMode {
    /// Simplified ID Merge (`$device_id` / `$user_id`), Mixpanel's default for new projects.
    #[default]
    Simplified,
    /// Original ID Merge (`$identify`, `$create_alias`, `$merge`).
    Original,
}

impl IdentityMode {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityMode::Simplified => "simplified",
            IdentityMode::Original => "original",
        }
    }
}

impl FromStr for IdentityMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "simplified" => Ok(IdentityMode::Simplified),
            "original" => Ok(IdentityMode::Original),
            other => Err(format!("unknown identity mode `{other}` (expected simplified or original)")),
        }
    }
}

/// A service account's role in one project, as Mixpanel defines them.
/// Ordered from most to least privileged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Full control, including members and project deletion.
    Owner,
    /// Manages data and settings; may import.
    Admin,
    /// Reads and writes reports; may not import.
    Analyst,
    /// Reads only.
    Consumer,
}

impl Role {
    /// All roles, most privileged first.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Analyst, Role::Consumer];

    /// Whether this role may do everything `other` may (it is `other` or above it).
    pub fn covers(self, other: Role) -> bool {
        let rank = |r: Role| Role::ALL.iter().position(|x| *x == r).unwrap_or(Role::ALL.len());
        rank(self) <= rank(other)
    }

    /// The stored and displayed spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Consumer => "consumer",
        }
    }

    /// Whether the role may send data through `/import` (Mixpanel: Owner or Admin).
    pub fn may_ingest(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Whether the role may read data (export and queries): every role may.
    pub fn may_read(self) -> bool {
        true
    }

    /// Whether the role may manage projects and service accounts.
    pub fn may_administer(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown role `{s}` (expected owner, admin, analyst or consumer)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn only_owner_and_admin_may_ingest() {
        assert!(Role::Owner.may_ingest() && Role::Admin.may_ingest());
        assert!(!Role::Analyst.may_ingest() && !Role::Consumer.may_ingest());
    }
}
