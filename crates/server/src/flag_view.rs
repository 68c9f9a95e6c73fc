//! How the App API shows a feature flag (Mixpanel's `FeatureFlagApiResponse`): the
//! flags handlers answer it, and an experiment embeds the flag it reads in it.

use serde::Serialize;
use serde_json::Value;
use sextant_flags::{FlagStatus, Ruleset, ServingMethod};
use sextant_metadata::FlagInfo;
use sextant_model::{Actor, ActorKind};

use crate::audit::iso;

/// A flag as the management API shows it (`FeatureFlagApiResponse`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct FeatureFlagView {
    /// Its id, a UUID.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// The key SDKs ask for.
    pub key: String,
    /// A note.
    pub description: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Its experiment.
    pub experiment_id: Option<String>,
    /// Whether the experiment runs.
    pub is_experiment_active: Option<bool>,
    /// `enabled`, `disabled` or `archived`.
    pub status: FlagStatus,
    /// The context key users are bucketed by.
    pub context: String,
    /// As sent.
    #[schema(value_type = Option<Object>)]
    pub data_group_id: Option<Value>,
    /// Where it may be evaluated.
    pub serving_method: ServingMethod,
    /// Variants, rollout groups, testers.
    pub ruleset: Ruleset,
    /// Its workspace.
    pub workspace_id: i64,
    /// Mixed into every hash.
    pub hash_salt: Option<String>,
    /// Its project.
    pub project_id: i64,
    /// The project's name.
    pub project_name: String,
    /// Always `feature-flags`.
    pub content_type: &'static str,
    /// When it was made (ISO 8601).
    pub created: String,
    /// The service account or API token that made it (none for the secret or the CLI).
    pub creator_id: Option<i64>,
    /// Its name.
    pub creator_name: Option<String>,
    /// Always null: credentials have no e-mail address.
    pub creator_email: Option<String>,
    /// When it last changed.
    pub modified: String,
    /// Who changed it last.
    pub last_modified_by_id: Option<i64>,
    /// Their name.
    pub last_modified_by_name: Option<String>,
    /// Always null.
    pub last_modified_by_email: Option<String>,
    /// When it was last enabled.
    pub enabled_at: Option<String>,
    /// When it was archived.
    pub deleted: Option<String>,
}

impl FeatureFlagView {
    /// `flag` as shown, in the project named `project_name`.
    pub fn of(flag: FlagInfo, project_name: &str) -> FeatureFlagView {
        let creator = flag.audit.creator.as_ref();
        let modifier = flag.modifier.as_ref();
        let spec = flag.spec;
        FeatureFlagView {
            id: flag.id,
            name: spec.name,
            key: spec.key,
            description: spec.description,
            tags: spec.tags,
            experiment_id: spec.experiment_id,
            is_experiment_active: spec.is_experiment_active,
            status: spec.status,
            context: spec.context,
            data_group_id: spec.data_group_id,
            serving_method: spec.serving_method,
            ruleset: spec.ruleset,
            workspace_id: flag.workspace_id,
            hash_salt: spec.hash_salt,
            project_id: flag.project_id.0,
            project_name: project_name.to_string(),
            content_type: "feature-flags",
            created: iso(flag.audit.created_at_ms).unwrap_or_default(),
            creator_id: creator.and_then(actor_id),
            creator_name: creator.map(|a| a.name.clone()),
            creator_email: None,
            modified: iso(flag.audit.modified_at_ms).unwrap_or_default(),
            last_modified_by_id: modifier.and_then(actor_id),
            last_modified_by_name: modifier.map(|a| a.name.clone()),
            last_modified_by_email: None,
            enabled_at: flag.enabled_at_ms.and_then(iso),
            deleted: flag.deleted_at_ms.and_then(iso),
        }
    }
}

/// The id an actor shows as `creator_id` or `last_modified_by_id`: a service account's
/// or an API token's (the secret and the CLI have none).
pub(crate) fn actor_id(a: &Actor) -> Option<i64> {
    a.id.filter(|_| matches!(a.kind, ActorKind::ServiceAccount | ActorKind::ApiToken))
}
