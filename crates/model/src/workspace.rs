//! Workspaces, Mixpanel's data views: what a project's readers see through one.
//!
//! Every project has a default workspace, "All Project Data", that shows everything.
//! Another may show only some events and hide some event properties ([`Visibility`]),
//! and may list members: analysts and consumers of the project, who then read it only
//! through the workspaces listing them (owners and admins manage workspaces and read
//! everything). The Query API's and
//! export's `workspace_id` names the workspace a request reads through.
//!
//! What a request body may say about a workspace is checked here
//! ([`WorkspaceChange::from_json`]), so the server and the CLI refuse the same things.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::audit::Audit;
use crate::ids::{ProjectId, ServiceAccountId};

/// The most workspaces one project has, the default one included.
pub const MAX_WORKSPACES: usize = 100;
/// The most event names a workspace shows, and the most properties it hides.
pub const MAX_NAMES: usize = 5_000;
/// The most members one workspace lists.
pub const MAX_MEMBERS: usize = 1_000;
/// The longest workspace name, event name or property name, in characters.
pub const MAX_NAME_CHARS: usize = 255;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4_096;

/// The default workspace's name, as Mixpanel calls it.
pub const DEFAULT_NAME: &str = "All Project Data";

/// A workspace of a project.
#[derive(Clone, Debug, PartialEq)]
pub struct Workspace {
    /// Its id (`workspace_id`), unique across projects.
    pub id: i64,
    /// Its project.
    pub project_id: ProjectId,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Whether it is the project's default workspace (which shows everything and
    /// cannot be deleted or restricted).
    pub is_default: bool,
    /// What its readers see.
    pub visibility: Visibility,
    /// The service accounts confined to it (and to any other workspace listing them).
    pub members: Vec<ServiceAccountId>,
    /// Made and last changed, and by whom it was made.
    pub audit: Audit,
}

/// What readers see through a workspace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visibility {
    /// The event names shown; `None`: every event.
    pub events: Option<BTreeSet<String>>,
    /// The event properties hidden.
    pub hidden_properties: BTreeSet<String>,
}

impl Visibility {
    /// Whether it shows everything (the default workspace, or one with no restriction).
    pub fn is_everything(&self) -> bool {
        self.events.is_none() && self.hidden_properties.is_empty()
    }

    /// Whether events named `name` are shown.
    pub fn shows_event(&self, name: &str) -> bool {
        self.events.as_ref().is_none_or(|shown| shown.contains(name))
    }

    /// Whether the event property `name` is shown.
    pub fn shows_property(&self, name: &str) -> bool {
        !self.hidden_properties.contains(name)
    }

    /// Removes the hidden properties from an event's properties.
    pub fn strip(&self, properties: &mut Map<String, Value>) {
        if self.hidden_properties.is_empty() {
            return;
        }
        for name in &self.hidden_properties {
            properties.remove(name);
        }
    }

    /// Why `event` cannot be read through this workspace, if it cannot.
    pub fn refuse_event(&self, event: &str) -> Option<String> {
        (!self.shows_event(event)).then(|| format!("the event `{event}` is not shown in this workspace"))
    }

    /// Why an expression reading `properties` cannot run in this workspace, if it
    /// cannot: it names a hidden property.
    pub fn refuse_properties<'a>(&self, properties: impl IntoIterator<Item = &'a str>) -> Option<String> {
        let hidden: Vec<&str> = properties.into_iter().filter(|p| !self.shows_property(p)).collect();
        (!hidden.is_empty()).then(|| {
            let names: Vec<String> = hidden.iter().map(|p| format!("`{p}`")).collect();
            format!("the property {} is hidden in this workspace", names.join(", "))
        })
    }
}

/// The workspace a read goes through: the one it names (`workspace_id`), else, for a
/// service account confined to some workspaces, the first of them; `None`: the whole
/// project. A confined account naming another workspace is refused, with the reason.
pub fn choose(named: Option<i64>, confined: &[i64]) -> Result<Option<i64>, String> {
    match (named, confined.first()) {
        (named, None) => Ok(named),
        (None, Some(first)) => Ok(Some(*first)),
        (Some(id), Some(_)) if confined.contains(&id) => Ok(Some(id)),
        (Some(id), Some(_)) => {
            let list: Vec<String> = confined.iter().map(i64::to_string).collect();
            Err(format!("this service account reads the project only through workspace {} (not {id})", list.join(", ")))
        }
    }
}

/// What a request says about a workspace: every field it names, each checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkspaceChange {
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// The events shown: `Some(None)` every event, `Some(Some(names))` only those.
    pub events: Option<Option<BTreeSet<String>>>,
    /// The hidden properties.
    pub hidden_properties: Option<BTreeSet<String>>,
    /// The members.
    pub members: Option<Vec<ServiceAccountId>>,
}

/// A field of a request and what is wrong with it.
pub type Problem = (String, String);

impl WorkspaceChange {
    /// Reads a request body; `creating` requires a name. Every problem is reported,
    /// each with its field.
    pub fn from_json(body: &Value, creating: bool) -> Result<WorkspaceChange, Vec<Problem>> {
        let mut problems = Vec::new();
        let Some(object) = body.as_object() else {
            return Err(vec![("body".into(), "must be a JSON object".into())]);
        };
        let mut change = WorkspaceChange::default();
        for (key, value) in object {
            match key.as_str() {
                "name" => change.name = text(value, key, MAX_NAME_CHARS, false, &mut problems),
                "description" => change.description = text(value, key, MAX_DESCRIPTION_CHARS, true, &mut problems),
                "events" => {
                    change.events = match value {
                        Value::Null => Some(None),
                        Value::Array(items) if items.is_empty() => {
                            problems.push((key.clone(), "names at least one event (`null` shows every event)".into()));
                            None
                        }
                        _ => names(value, key, &mut problems).map(Some),
                    }
                }
                "hidden_properties" => change.hidden_properties = names(value, key, &mut problems),
                "members" => change.members = members(value, &mut problems),
                // What answers show, sent back unchanged by a client that read one.
                "id" | "project_id" | "is_default" | "created" | "modified" | "creator_id" | "creator_name"
                | "creator_type" | "creator" => {}
                other => problems.push((other.to_string(), "unknown field".into())),
            }
        }
        if creating && change.name.is_none() && !problems.iter().any(|(f, _)| f == "name") {
            problems.push(("name".into(), "required".into()));
        }
        if problems.is_empty() { Ok(change) } else { Err(problems) }
    }

    /// Whether it restricts what readers see (which the default workspace may not).
    pub fn restricts(&self) -> bool {
        matches!(self.events, Some(Some(_)))
            || self.hidden_properties.as_ref().is_some_and(|h| !h.is_empty())
            || self.members.as_ref().is_some_and(|m| !m.is_empty())
    }
}

fn text(value: &Value, field: &str, max: usize, may_be_empty: bool, problems: &mut Vec<Problem>) -> Option<String> {
    let Some(s) = value.as_str() else {
        problems.push((field.into(), "must be a string".into()));
        return None;
    };
    let s = s.trim();
    if s.is_empty() && !may_be_empty {
        problems.push((field.into(), "must not be empty".into()));
    } else if s.chars().count() > max {
        problems.push((field.into(), format!("at most {max} characters")));
    } else if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        problems.push((field.into(), "must not contain control characters".into()));
    } else {
        return Some(s.to_string());
    }
    None
}

fn names(value: &Value, field: &str, problems: &mut Vec<Problem>) -> Option<BTreeSet<String>> {
    let Some(items) = value.as_array() else {
        problems.push((field.into(), "must be an array of names".into()));
        return None;
    };
    if items.len() > MAX_NAMES {
        problems.push((field.into(), format!("at most {MAX_NAMES} names")));
        return None;
    }
    let before = problems.len();
    let mut out = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(s) if !s.is_empty() && s.chars().count() <= MAX_NAME_CHARS && !s.chars().any(char::is_control) => {
                out.insert(s.to_string());
            }
            _ => problems.push((
                format!("{field}[{i}]"),
                format!("must be a non-empty name of at most {MAX_NAME_CHARS} characters"),
            )),
        }
    }
    (problems.len() == before).then_some(out)
}

fn members(value: &Value, problems: &mut Vec<Problem>) -> Option<Vec<ServiceAccountId>> {
    let Some(items) = value.as_array() else {
        problems.push(("members".into(), "must be an array of service account ids".into()));
        return None;
    };
    if items.len() > MAX_MEMBERS {
        problems.push(("members".into(), format!("at most {MAX_MEMBERS} members")));
        return None;
    }
    let mut out: Vec<ServiceAccountId> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_i64() {
            Some(id) if id > 0 => out.push(ServiceAccountId(id)),
            _ => {
                problems.push((format!("members[{i}]"), "must be a service account id".into()));
                return None;
            }
        }
    }
    out.sort_by_key(|a| a.0);
    out.dedup();
    Some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_body_is_checked_field_by_field() {
        let ok = WorkspaceChange::from_json(
            &json!({"name": " Sales ", "events": ["Purchase", "Purchase"], "hidden_properties": ["email"], "members": [3, 2, 3]}),
            true,
        )
        .unwrap();
        assert_eq!(ok.name.as_deref(), Some("Sales"));
        assert_eq!(ok.events, Some(Some(BTreeSet::from(["Purchase".to_string()]))));
        assert_eq!(ok.members, Some(vec![ServiceAccountId(2), ServiceAccountId(3)]));
        assert!(ok.restricts());

        let all = WorkspaceChange::from_json(&json!({"events": null}), false).unwrap();
        assert_eq!(all.events, Some(None));
        assert!(!all.restricts());

        let bad = WorkspaceChange::from_json(&json!({"events": ["", 3], "colour": "red", "members": [-1]}), true)
            .unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["colour", "events[0]", "events[1]", "members[0]", "name"]);
        assert!(WorkspaceChange::from_json(&json!([1]), false).is_err());
        assert!(WorkspaceChange::from_json(&json!({"events": []}), false).is_err(), "null shows all, not []");
        assert!(WorkspaceChange::from_json(&json!({"name": "a\u{0}b"}), false).is_err());
    }

    #[test]
    fn confined_accounts_read_through_their_workspaces() {
        assert_eq!(choose(None, &[]), Ok(None));
        assert_eq!(choose(Some(7), &[]), Ok(Some(7)));
        assert_eq!(choose(None, &[4, 9]), Ok(Some(4)));
        assert_eq!(choose(Some(9), &[4, 9]), Ok(Some(9)));
        assert!(choose(Some(7), &[4, 9]).unwrap_err().contains("workspace 4, 9"));
    }

    #[test]
    fn visibility_shows_hides_and_strips() {
        let v = Visibility {
            events: Some(BTreeSet::from(["Purchase".to_string()])),
            hidden_properties: BTreeSet::from(["email".to_string()]),
        };
        assert!(v.shows_event("Purchase") && !v.shows_event("Login"));
        assert!(v.refuse_event("Login").is_some() && v.refuse_event("Purchase").is_none());
        assert!(v.refuse_properties(["plan", "email"]).unwrap().contains("`email`"));
        let mut props = json!({"email": "a@b", "plan": "pro"}).as_object().unwrap().clone();
        v.strip(&mut props);
        assert_eq!(Value::Object(props), json!({"plan": "pro"}));
        assert!(Visibility::default().is_everything() && !v.is_everything());
    }
}
