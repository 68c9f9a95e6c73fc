//! Who made a saved object and when it last changed: the audit fields every App API
//! resource shows (`created`, `modified`, `creator_id`, `creator_name`, as Mixpanel's
//! own App API spells them).

use serde::Serialize;

/// What kind of credential acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A service account (its id is the account's).
    ServiceAccount,
    /// A personal API token (its id is the token's).
    ApiToken,
    /// The project secret: no one in particular.
    ProjectSecret,
    /// The public project token (it may send data only, so it makes nothing).
    ProjectToken,
    /// The `sextant` command line, on the server's machine.
    Cli,
}

impl ActorKind {
    /// Every kind.
    pub const ALL: [ActorKind; 5] = [
        ActorKind::ServiceAccount,
        ActorKind::ApiToken,
        ActorKind::ProjectSecret,
        ActorKind::ProjectToken,
        ActorKind::Cli,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::ServiceAccount => "service_account",
            ActorKind::ApiToken => "api_token",
            ActorKind::ProjectSecret => "project_secret",
            ActorKind::ProjectToken => "project_token",
            ActorKind::Cli => "cli",
        }
    }

    /// The kind a stored name names.
    pub fn parse(text: &str) -> Option<ActorKind> {
        ActorKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// The credential behind a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// What kind of credential.
    pub kind: ActorKind,
    /// The service account's or the token's id; none for the secret and the CLI.
    pub id: Option<i64>,
    /// A name to show: the service account's username, the token's name, or the kind.
    pub name: String,
}

impl Actor {
    /// The command line.
    pub fn cli() -> Actor {
        Actor { kind: ActorKind::Cli, id: None, name: "sextant CLI".into() }
    }

    /// The project secret.
    pub fn project_secret() -> Actor {
        Actor { kind: ActorKind::ProjectSecret, id: None, name: "project secret".into() }
    }

    /// The project token.
    pub fn project_token() -> Actor {
        Actor { kind: ActorKind::ProjectToken, id: None, name: "project token".into() }
    }
}

/// When a saved object was made and last changed, and by whom it was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Audit {
    /// Created, epoch ms.
    pub created_at_ms: i64,
    /// Last changed (the creation, until it is changed), epoch ms.
    pub modified_at_ms: i64,
    /// Who created it; unknown for objects saved before Sextant recorded it.
    pub creator: Option<Actor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_from_their_stored_names() {
        for kind in ActorKind::ALL {
            assert_eq!(ActorKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ActorKind::parse("someone"), None);
    }
}
