//! How App API views show times ([`iso`]) and the audit fields every saved object has
//! ([`AuditView`]: `created`, `modified`, `creator_id`, `creator_name`, `creator_type`,
//! the names Mixpanel's App API gives them), with seed 000's `expand=creator`
//! ([`Expand`], [`creators`]): the credential that made the object, as it is now.
//!
//! A leaf: the resource pattern and the handlers use it, it uses neither.

use std::collections::HashMap;

use serde::Serialize;
use sextant_ingest::Params;
use sextant_metadata::Metadata;
use sextant_model::{ActorKind, ApiTokenId, Audit, ProjectId};

/// An epoch-ms instant as RFC 3339 (UTC, milliseconds): how the App API shows times.
pub(crate) fn iso(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The audit fields of a saved object, flattened into its view.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditView {
    /// When it was created (RFC 3339).
    #[schema(required = false)]
    pub created: Option<String>,
    /// When it last changed (RFC 3339); its creation until it is changed.
    #[schema(required = false)]
    pub modified: Option<String>,
    /// The service account's or API token's id that created it; `null` for the project
    /// secret, the CLI, and objects saved before creators were recorded.
    #[schema(required = false)]
    pub creator_id: Option<i64>,
    /// Who created it: a service account's username, an API token's name,
    /// `project secret` or `sextant CLI`.
    #[schema(required = false)]
    pub creator_name: Option<String>,
    /// `service_account`, `api_token`, `project_secret`, `project_token` or `cli`.
    #[schema(required = false, value_type = Option<String>)]
    pub creator_type: Option<ActorKind>,
    /// With `expand=creator`: the credential that created it, as it is now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub creator: Option<CreatorView>,
}

impl AuditView {
    /// The view of `audit`, with the creator expanded when `expanded` says.
    pub fn of(audit: &Audit, expanded: Option<CreatorView>) -> AuditView {
        let creator = audit.creator.as_ref();
        AuditView {
            created: iso(audit.created_at_ms),
            modified: iso(audit.modified_at_ms),
            creator_id: creator.and_then(|c| c.id),
            creator_name: creator.map(|c| c.name.clone()),
            creator_type: creator.map(|c| c.kind),
            creator: expanded,
        }
    }
}

/// An object's creator, expanded: a service account with its role in the project, an
/// API token with its scope, or just the kind of credential. Fields of an account or
/// token that no longer exists are left out.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CreatorView {
    /// The kind of credential.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: ActorKind,
    /// The service account's or token's id.
    pub id: Option<i64>,
    /// Its name when it made the object.
    pub name: String,
    /// A service account's username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A service account's role in this project now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// An API token's API families.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub families: Option<Vec<String>>,
    /// When an API token expires (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// When an API token was revoked (RFC 3339), if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    /// Whether the account or token still exists (always true for other kinds).
    pub exists: bool,
}

/// The `expand` parameter of a saved object's list and get, as the OpenAPI document
/// lists it ([`Expand::parse`] reads it).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the parameter; `Expand::parse` reads it
pub struct ExpandParams {
    /// Comma-separated expansions: `creator` adds the credential that made each object.
    expand: Option<String>,
}

/// What a request asked to expand (`expand=creator`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expand {
    /// `creator`.
    pub creator: bool,
}

impl Expand {
    /// The expansions every saved object offers.
    pub const NAMES: [&str; 1] = ["creator"];

    /// Reads `expand`: a comma-separated list of [`Expand::NAMES`].
    pub fn parse(params: &Params) -> Result<Expand, String> {
        let mut expand = Expand::default();
        for name in params.get("expand").unwrap_or("").split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "creator" => expand.creator = true,
                other => {
                    return Err(format!(
                        "unknown expansion `{other}`; this resource expands: {}",
                        Expand::NAMES.join(", ")
                    ));
                }
            }
        }
        Ok(expand)
    }
}

/// The creators of `audits`, expanded, keyed by (kind, id): one query for the
/// project's service accounts and one per distinct API token.
pub async fn creators<'a>(
    md: &Metadata,
    project: ProjectId,
    audits: impl Iterator<Item = &'a Audit>,
) -> sextant_metadata::Result<HashMap<(ActorKind, Option<i64>), CreatorView>> {
    let mut found = HashMap::new();
    let mut accounts = None;
    for actor in audits.filter_map(|a| a.creator.as_ref()) {
        let key = (actor.kind, actor.id);
        if found.contains_key(&key) {
            continue;
        }
        let mut view = CreatorView {
            kind: actor.kind,
            id: actor.id,
            name: actor.name.clone(),
            username: None,
            role: None,
            families: None,
            expires: None,
            revoked: None,
            exists: true,
        };
        match (actor.kind, actor.id) {
            (ActorKind::ServiceAccount, Some(id)) => {
                if accounts.is_none() {
                    accounts = Some(md.list_service_accounts(project).await?);
                }
                let account = accounts.iter().flatten().find(|(info, _)| info.id.0 == id);
                view.exists = account.is_some();
                if let Some((info, role)) = account {
                    view.username = Some(info.username.clone());
                    view.role = Some(role.to_string());
                }
            }
            (ActorKind::ApiToken, Some(id)) => match md.api_token(project, ApiTokenId(id)).await {
                Ok(token) => {
                    view.families = Some(token.families.iter().map(|f| f.as_str().to_string()).collect());
                    view.expires = iso(token.expires_at_ms);
                    view.revoked = token.revoked_at_ms.and_then(iso);
                }
                Err(sextant_metadata::MetadataError::NotFound(_)) => view.exists = false,
                Err(e) => return Err(e),
            },
            _ => {}
        }
        found.insert(key, view);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansions_are_named() {
        let params = |q: &str| Params::parse(q.as_bytes());
        assert_eq!(Expand::parse(&params("")).unwrap(), Expand::default());
        assert!(Expand::parse(&params("expand=creator")).unwrap().creator);
        assert!(Expand::parse(&params("expand=%20creator,")).unwrap().creator);
        let refused = Expand::parse(&params("expand=creator,owner")).unwrap_err();
        assert!(refused.contains("`owner`") && refused.contains("creator"), "{refused}");
    }
}
