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
    /// Its own rate-limit overrides, per family (empty: the server's configuration).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub rate_limits: crate::rate_limits::ProjectLimits,
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

/// What a request says about a project's settings: every field it names, each checked
/// for its shape (the control plane checks the timezone's name).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new IANA timezone for reports.
    pub timezone: Option<String>,
    /// A new residency region.
    pub region: Option<Region>,
    /// Whether string comparisons respect case.
    pub case_sensitive_strings: Option<bool>,
    /// A new identity-merge mode (only while the project has no events).
    pub identity_mode: Option<IdentityMode>,
    /// Its own rate-limit overrides, replacing the ones it had (`{}`: none).
    pub rate_limits: Option<crate::rate_limits::ProjectLimits>,
}

/// The longest project name, in characters.
pub const MAX_PROJECT_NAME_CHARS: usize = 255;

impl ProjectChanges {
    /// Reads a request body; `creating` requires a name. Every problem is reported with
    /// its field.
    pub fn from_json(body: &serde_json::Value, creating: bool) -> Result<ProjectChanges, Vec<(String, String)>> {
        use serde_json::Value;
        let Some(object) = body.as_object() else {
            return Err(vec![("body".into(), "must be a JSON object".into())]);
        };
        let mut problems: Vec<(String, String)> = Vec::new();
        let mut change = ProjectChanges::default();
        let mut problem = |field: &str, message: String| problems.push((field.to_string(), message));
        for (key, value) in object {
            match (key.as_str(), value) {
                ("name", Value::String(s)) => {
                    let s = s.trim();
                    if s.is_empty() || s.chars().count() > MAX_PROJECT_NAME_CHARS || s.chars().any(char::is_control) {
                        problem(key, format!("1 to {MAX_PROJECT_NAME_CHARS} characters, no control characters"));
                    } else {
                        change.name = Some(s.to_string());
                    }
                }
                ("timezone", Value::String(s)) if !s.trim().is_empty() && s.len() <= 64 => {
                    change.timezone = Some(s.trim().to_string())
                }
                ("region", Value::String(s)) => match s.parse() {
                    Ok(region) => change.region = Some(region),
                    Err(e) => problem(key, e),
                },
                ("identity_merge" | "identity_mode", Value::String(s)) => match s.parse() {
                    Ok(mode) => change.identity_mode = Some(mode),
                    Err(e) => problem(key, e),
                },
                ("case_sensitive_strings", Value::Bool(b)) => change.case_sensitive_strings = Some(*b),
                ("rate_limits", Value::Object(_)) => match serde_json::from_value(value.clone()) {
                    Ok(limits) => change.rate_limits = Some(limits),
                    Err(e) => problem(
                        key,
                        format!("{e} (families: ingestion, query, export, jql, gdpr, lexicon, lookup_tables, app)"),
                    ),
                },
                ("name" | "timezone" | "region" | "identity_merge" | "identity_mode", _) => {
                    problem(key, "must be a non-empty string".into())
                }
                ("case_sensitive_strings", _) => problem(key, "must be true or false".into()),
                ("rate_limits", _) => problem(key, "must be an object of family -> limits".into()),
                // What answers show, sent back unchanged by a client that read one.
                (
                    "id" | "organization_id" | "token" | "created" | "workspaces" | "effective_rate_limits" | "secret",
                    _,
                ) => {}
                (other, _) => problem(other, "unknown field".into()),
            }
        }
        if creating && change.name.is_none() && !problems.iter().any(|(f, _)| f == "name") {
            problems.push(("name".into(), "required".into()));
        }
        if problems.is_empty() { Ok(change) } else { Err(problems) }
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
    fn project_changes_are_checked_field_by_field() {
        let body = serde_json::json!({"name": " Shop ", "region": "eu", "identity_merge": "original",
            "rate_limits": {"query": {"per_hour": 600, "concurrent": 0}}});
        let change = ProjectChanges::from_json(&body, true).unwrap();
        assert_eq!(change.name.as_deref(), Some("Shop"));
        assert_eq!((change.region, change.identity_mode), (Some(Region::Eu), Some(IdentityMode::Original)));
        let limits = change.rate_limits.unwrap();
        assert_eq!(limits[&crate::ApiFamily::Query].per_hour, Some(600));
        let bad = serde_json::json!({"region": "mars", "rate_limits": {"queries": {}}, "colour": 1,
            "case_sensitive_strings": "yes"});
        let fields: Vec<String> =
            ProjectChanges::from_json(&bad, true).unwrap_err().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["case_sensitive_strings", "colour", "rate_limits", "region", "name"]);
        let bad = serde_json::json!({"rate_limits": {"query": {"per_week": 1}}});
        assert!(ProjectChanges::from_json(&bad, false).is_err());
    }

    #[test]
    fn only_owner_and_admin_may_ingest() {
        assert!(Role::Owner.may_ingest() && Role::Admin.may_ingest());
        assert!(!Role::Analyst.may_ingest() && !Role::Consumer.may_ingest());
    }
}
