//! Who may do what: every form of credential against every class of operation, in one
//! table ([`MATRIX`]), and the bounds on what an API token may pass on ([`TokenScope`]).
//!
//! The server's authentication (`server::auth`) says which [`Principal`] a request is;
//! each handler names its [`Operation`]; [`permits`] reads the answer from the table.
//! Nothing else decides access, so the table is the policy.
//!
//! An API token is never an administrator: it acts only within its own scope. It may
//! create a token only for families it holds itself and expiring no later than itself
//! ([`TokenScope::child_lifetime`]), may revoke only tokens whose families it holds
//! ([`TokenScope::lacking`]), and may not manage service accounts. The metadata store
//! records which token created which, and revoking a token revokes every token created
//! through it.

use std::fmt;

use crate::family::ApiFamily;
use crate::ids::ApiTokenId;
use crate::project::Role;

/// A form of credential: the matrix's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// The public project token (in events, or HTTP Basic `TOKEN:`).
    ProjectToken,
    /// The project secret (HTTP Basic `SECRET:`).
    ProjectSecret,
    /// A service account with this role in the project.
    ServiceAccount(Role),
    /// A personal API token (`sx_...`); what it may do also depends on its families.
    ApiToken,
}

impl Principal {
    /// Every principal, in the matrix's column order.
    pub const ALL: [Principal; 7] = [
        Principal::ProjectToken,
        Principal::ProjectSecret,
        Principal::ServiceAccount(Role::Owner),
        Principal::ServiceAccount(Role::Admin),
        Principal::ServiceAccount(Role::Analyst),
        Principal::ServiceAccount(Role::Consumer),
        Principal::ApiToken,
    ];

    /// Its column in [`MATRIX`].
    const fn column(self) -> usize {
        match self {
            Principal::ProjectToken => 0,
            Principal::ProjectSecret => 1,
            Principal::ServiceAccount(Role::Owner) => 2,
            Principal::ServiceAccount(Role::Admin) => 3,
            Principal::ServiceAccount(Role::Analyst) => 4,
            Principal::ServiceAccount(Role::Consumer) => 5,
            Principal::ApiToken => 6,
        }
    }

    /// How messages name it.
    pub fn label(self) -> &'static str {
        match self {
            Principal::ProjectToken => "the project token",
            Principal::ProjectSecret => "the project secret",
            Principal::ServiceAccount(Role::Owner) => "a service account with the owner role",
            Principal::ServiceAccount(Role::Admin) => "a service account with the admin role",
            Principal::ServiceAccount(Role::Analyst) => "a service account with the analyst role",
            Principal::ServiceAccount(Role::Consumer) => "a service account with the consumer role",
            Principal::ApiToken => "an API token",
        }
    }
}

/// A class of operation: the matrix's rows. Each belongs to one API family, the family
/// whose rate limit it is charged to and that an API token needs for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Send data: `/track`, `/import`, `/engage`, `/groups`.
    Ingest,
    /// Read through the Query API: reports, profiles, the event stream, saved cohorts
    /// and funnels as the Query API lists them.
    Query,
    /// Raw event export.
    Export,
    /// Run JQL scripts (`/api/query/jql`): they read events and profiles as the Query
    /// API does, under their own rate limit.
    Jql,
    /// List lookup tables (`GET /lookup-tables`).
    ReadLookupTables,
    /// Replace a lookup table's rows (`PUT /lookup-tables/{id}`).
    ReplaceLookupTable,
    /// Read the App API's saved objects: cohorts, funnels, saved reports, lookup tables.
    AppRead,
    /// Create, change and delete them.
    AppWrite,
    /// List the project's API tokens (never the tokens themselves).
    ListApiTokens,
    /// Create an API token.
    CreateApiToken,
    /// Revoke an API token (and every token created through it).
    RevokeApiToken,
    /// List the project's service accounts and their roles.
    ListServiceAccounts,
    /// Create service accounts and change their roles (the CLI today; no HTTP endpoint).
    ManageServiceAccounts,
    /// Read annotations and their tags (every role: they label the charts readers see).
    ReadAnnotations,
    /// Create, change and delete annotations and tags (analyst and above, as Mixpanel's
    /// annotations spec says).
    WriteAnnotations,
    /// Read the Lexicon schemas (every role: the dictionary explains the data).
    ReadLexicon,
    /// Create, replace and delete Lexicon schemas (owners and admins: a schema can drop
    /// events at ingestion).
    WriteLexicon,
    /// Evaluate feature flags and read their definitions (`/flags`, `/flags/definitions`):
    /// the SDKs send the public project token.
    EvaluateFlags,
    /// Read feature flags and experiments through the App API (every role).
    ReadFlags,
    /// Create, change and archive feature flags and experiments (analyst and above).
    WriteFlags,
    /// Read the project's settings and its workspaces (every role: readers choose the
    /// workspace they read through, and reports use the project's timezone).
    ReadProject,
    /// Request, read and cancel GDPR and CCPA retrievals and deletions (owners, admins
    /// and the secret, as Mixpanel's GDPR token requires an owner or admin).
    Gdpr,
    /// Create, change, pause and read data pipelines (owners, admins and the secret: a
    /// pipeline writes the project's events out of the server).
    Pipelines,
}

impl Operation {
    /// Every operation, in the matrix's row order.
    pub const ALL: [Operation; 23] = [
        Operation::Ingest,
        Operation::Query,
        Operation::Export,
        Operation::Jql,
        Operation::ReadLookupTables,
        Operation::ReplaceLookupTable,
        Operation::AppRead,
        Operation::AppWrite,
        Operation::ListApiTokens,
        Operation::CreateApiToken,
        Operation::RevokeApiToken,
        Operation::ListServiceAccounts,
        Operation::ManageServiceAccounts,
        Operation::ReadAnnotations,
        Operation::WriteAnnotations,
        Operation::ReadLexicon,
        Operation::WriteLexicon,
        Operation::EvaluateFlags,
        Operation::ReadFlags,
        Operation::WriteFlags,
        Operation::ReadProject,
        Operation::Gdpr,
        Operation::Pipelines,
    ];

    /// The family the operation belongs to.
    pub const fn family(self) -> ApiFamily {
        match self {
            Operation::Ingest => ApiFamily::Ingestion,
            Operation::Query => ApiFamily::Query,
            Operation::Export => ApiFamily::Export,
            Operation::Jql => ApiFamily::Jql,
            Operation::ReadLookupTables | Operation::ReplaceLookupTable => ApiFamily::LookupTables,
            Operation::AppRead
            | Operation::AppWrite
            | Operation::ListApiTokens
            | Operation::CreateApiToken
            | Operation::RevokeApiToken
            | Operation::ListServiceAccounts
            | Operation::ManageServiceAccounts
            | Operation::ReadAnnotations
            | Operation::WriteAnnotations
            | Operation::ReadFlags
            | Operation::WriteFlags
            | Operation::ReadProject => ApiFamily::App,
            Operation::EvaluateFlags => ApiFamily::Flags,
            Operation::ReadLexicon | Operation::WriteLexicon => ApiFamily::Lexicon,
            Operation::Gdpr => ApiFamily::Gdpr,
            Operation::Pipelines => ApiFamily::Pipelines,
        }
    }

    /// What it does, as messages say it ("may not ...").
    pub fn describe(self) -> &'static str {
        match self {
            Operation::Ingest => "send data",
            Operation::Query => "read reports",
            Operation::Export => "export events",
            Operation::Jql => "run JQL scripts",
            Operation::ReadLookupTables => "list lookup tables",
            Operation::ReplaceLookupTable => "replace lookup tables",
            Operation::AppRead => "read the project's saved objects",
            Operation::AppWrite => "change the project's saved objects",
            Operation::ListApiTokens => "list API tokens",
            Operation::CreateApiToken => "create API tokens",
            Operation::RevokeApiToken => "revoke API tokens",
            Operation::ListServiceAccounts => "list service accounts",
            Operation::ManageServiceAccounts => "manage service accounts",
            Operation::ReadAnnotations => "read annotations",
            Operation::WriteAnnotations => "change annotations",
            Operation::ReadLexicon => "read Lexicon schemas",
            Operation::WriteLexicon => "change Lexicon schemas",
            Operation::EvaluateFlags => "evaluate feature flags",
            Operation::ReadFlags => "read feature flags and experiments",
            Operation::WriteFlags => "change feature flags and experiments",
            Operation::ReadProject => "read the project's settings and workspaces",
            Operation::Gdpr => "request GDPR and CCPA retrievals and deletions",
            Operation::Pipelines => "manage data pipelines",
        }
    }

    /// The read an endpoint of `family` performs, if the family has one.
    pub const fn read_of(family: ApiFamily) -> Option<Operation> {
        match family {
            ApiFamily::Query => Some(Operation::Query),
            ApiFamily::Export => Some(Operation::Export),
            ApiFamily::Jql => Some(Operation::Jql),
            ApiFamily::Flags => Some(Operation::EvaluateFlags),
            ApiFamily::LookupTables => Some(Operation::ReadLookupTables),
            ApiFamily::App => Some(Operation::AppRead),
            ApiFamily::Gdpr => Some(Operation::Gdpr),
            ApiFamily::Pipelines => Some(Operation::Pipelines),
            ApiFamily::Ingestion | ApiFamily::Lexicon => None,
        }
    }

    /// The write an endpoint of `family` performs, if the family has one.
    pub const fn write_of(family: ApiFamily) -> Option<Operation> {
        match family {
            ApiFamily::Ingestion => Some(Operation::Ingest),
            ApiFamily::LookupTables => Some(Operation::ReplaceLookupTable),
            ApiFamily::App => Some(Operation::AppWrite),
            ApiFamily::Gdpr => Some(Operation::Gdpr),
            ApiFamily::Pipelines => Some(Operation::Pipelines),
            ApiFamily::Query | ApiFamily::Export | ApiFamily::Jql | ApiFamily::Flags | ApiFamily::Lexicon => None,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// One cell of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Refused.
    Deny,
    /// Allowed, in the credential's own project.
    Allow,
    /// (API tokens) allowed when the token holds this family.
    Family(ApiFamily),
    /// (API tokens) allowed when the token holds this family, and only within the
    /// token's own scope: what it creates or revokes holds no family the token lacks,
    /// and what it creates expires no later than the token ([`TokenScope`]).
    WithinScope(ApiFamily),
}

impl Rule {
    /// Whether a credential under this rule may perform the operation at all;
    /// `families` are an API token's (empty for other credentials). A
    /// [`Rule::WithinScope`] operation must then be bounded with [`TokenScope`].
    pub fn admits(self, families: &[ApiFamily]) -> bool {
        match self {
            Rule::Deny => false,
            Rule::Allow => true,
            Rule::Family(f) | Rule::WithinScope(f) => families.contains(&f),
        }
    }
}

const N: Rule = Rule::Deny;
const Y: Rule = Rule::Allow;
const fn tok(f: ApiFamily) -> Rule {
    Rule::Family(f)
}
const fn tok_within(f: ApiFamily) -> Rule {
    Rule::WithinScope(f)
}

/// The role and credential matrix: for each operation, what each principal (in
/// [`Principal::ALL`]'s order) may do. Every credential acts on its own project only.
/// `Family(f)`: an API token holding `f`; `WithinScope(f)`: the same, bounded by the
/// token's own families and expiry.
#[rustfmt::skip]
pub const MATRIX: [(Operation, [Rule; 7]); 23] = {
    use ApiFamily::{App, Export, Flags, Gdpr, Ingestion, Jql, Lexicon, LookupTables, Pipelines, Query};
    [
        //                                 project  project  owner  admin  analyst  consumer  API token
        //                                 token    secret
        (Operation::Ingest,                [Y,      Y,       Y,     Y,     N,       N,        tok(Ingestion)]),
        (Operation::Query,                 [N,      Y,       Y,     Y,     Y,       Y,        tok(Query)]),
        (Operation::Export,                [N,      Y,       Y,     Y,     Y,       Y,        tok(Export)]),
        (Operation::Jql,                   [N,      Y,       Y,     Y,     Y,       Y,        tok(Jql)]),
        (Operation::ReadLookupTables,      [N,      Y,       Y,     Y,     Y,       Y,        tok(LookupTables)]),
        (Operation::ReplaceLookupTable,    [N,      Y,       Y,     Y,     N,       N,        tok(LookupTables)]),
        (Operation::AppRead,               [N,      Y,       Y,     Y,     N,       N,        tok(App)]),
        (Operation::AppWrite,              [N,      Y,       Y,     Y,     N,       N,        tok(App)]),
        (Operation::ListApiTokens,         [N,      Y,       Y,     Y,     N,       N,        tok(App)]),
        (Operation::CreateApiToken,        [N,      Y,       Y,     Y,     N,       N,        tok_within(App)]),
        (Operation::RevokeApiToken,        [N,      Y,       Y,     Y,     N,       N,        tok_within(App)]),
        (Operation::ListServiceAccounts,   [N,      Y,       Y,     Y,     N,       N,        tok(App)]),
        (Operation::ManageServiceAccounts, [N,      Y,       Y,     Y,     N,       N,        N]),
        (Operation::ReadAnnotations,       [N,      Y,       Y,     Y,     Y,       Y,        tok(App)]),
        (Operation::WriteAnnotations,      [N,      Y,       Y,     Y,     Y,       N,        tok(App)]),
        (Operation::ReadLexicon,           [N,      Y,       Y,     Y,     Y,       Y,        tok(Lexicon)]),
        (Operation::WriteLexicon,          [N,      Y,       Y,     Y,     N,       N,        tok(Lexicon)]),
        (Operation::EvaluateFlags,         [Y,      Y,       Y,     Y,     Y,       Y,        tok(Flags)]),
        (Operation::ReadFlags,             [N,      Y,       Y,     Y,     Y,       Y,        tok(App)]),
        (Operation::WriteFlags,            [N,      Y,       Y,     Y,     Y,       N,        tok(App)]),
        (Operation::ReadProject,           [N,      Y,       Y,     Y,     Y,       Y,        tok(App)]),
        (Operation::Gdpr,                  [N,      Y,       Y,     Y,     N,       N,        tok(Gdpr)]),
        (Operation::Pipelines,             [N,      Y,       Y,     Y,     N,       N,        tok(Pipelines)]),
    ]
};

/// The cell of `principal` for `op`.
pub fn rule(principal: Principal, op: Operation) -> Rule {
    MATRIX.iter().find(|(o, _)| *o == op).map_or(Rule::Deny, |(_, row)| row[principal.column()])
}

/// Whether `principal` (an API token holding `families`) may perform `op` at all.
pub fn permits(principal: Principal, families: &[ApiFamily], op: Operation) -> bool {
    let families: &[ApiFamily] = if principal == Principal::ApiToken { families } else { &[] };
    rule(principal, op).admits(families)
}

/// The principals `op` is open to, as messages list them (API tokens by family).
pub fn allowed_to(op: Operation) -> Vec<String> {
    Principal::ALL
        .into_iter()
        .filter_map(|p| match rule(p, op) {
            Rule::Deny => None,
            Rule::Allow => Some(p.label().to_string()),
            Rule::Family(f) | Rule::WithinScope(f) => Some(format!("an API token scoped to `{f}`")),
        })
        .collect()
}

/// An API token as presented: what it may pass on to the tokens it creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenScope {
    /// Its id.
    pub id: ApiTokenId,
    /// The families it holds.
    pub families: Vec<ApiFamily>,
    /// When it expires, epoch ms.
    pub expires_at_ms: i64,
}

/// Why an API token may not create (or revoke) a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeRefusal {
    /// The token asked for families it does not hold.
    Families {
        /// The families it holds.
        held: Vec<ApiFamily>,
        /// The ones it lacks.
        lacking: Vec<ApiFamily>,
    },
    /// The token asked for a lifetime past its own expiry.
    Outlives {
        /// The lifetime asked for, ms.
        requested_ms: i64,
        /// What is left of the creator's, ms (0 when it has run out).
        remaining_ms: i64,
        /// The creator's expiry, epoch ms.
        expires_at_ms: i64,
    },
}

impl fmt::Display for ScopeRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeRefusal::Families { held, lacking } => write!(
                f,
                "an API token may create or revoke only tokens within its own families ({}); this one does not hold: {}",
                names(held),
                names(lacking)
            ),
            ScopeRefusal::Outlives { requested_ms, remaining_ms, expires_at_ms } => write!(
                f,
                "a token created by an API token may not outlive it: `expires_in` asks for {} s, but the creating token \
                 expires at {} UTC (in {} s); ask for at most {} s",
                requested_ms / 1000,
                crate::time::format_datetime_ms(*expires_at_ms),
                remaining_ms / 1000,
                remaining_ms / 1000
            ),
        }
    }
}

fn names(families: &[ApiFamily]) -> String {
    families.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
}

impl TokenScope {
    /// Whether it holds `family`.
    pub fn holds(&self, family: ApiFamily) -> bool {
        self.families.contains(&family)
    }

    /// The families of `families` it does not hold, sorted, each once (empty: a subset).
    pub fn lacking(&self, families: &[ApiFamily]) -> Vec<ApiFamily> {
        let mut lacking: Vec<ApiFamily> = families.iter().copied().filter(|f| !self.holds(*f)).collect();
        lacking.sort();
        lacking.dedup();
        lacking
    }

    /// Refuses a token with families it lacks (to create or to revoke).
    pub fn covers(&self, families: &[ApiFamily]) -> Result<(), ScopeRefusal> {
        let lacking = self.lacking(families);
        if lacking.is_empty() {
            return Ok(());
        }
        Err(ScopeRefusal::Families { held: self.families.clone(), lacking })
    }

    /// The lifetime (ms) of a token it creates with `families`, asked for as
    /// `requested_ms` (`None`: the server's default, `default_ms`), at `now_ms`.
    ///
    /// The rules: the families must be a subset of its own; an explicit lifetime must
    /// end no later than it does (else refused, rather than silently shortened); the
    /// default lifetime is capped to what is left of its own.
    pub fn child_lifetime(
        &self,
        families: &[ApiFamily],
        requested_ms: Option<i64>,
        default_ms: i64,
        now_ms: i64,
    ) -> Result<i64, ScopeRefusal> {
        self.covers(families)?;
        let remaining_ms = self.expires_at_ms.saturating_sub(now_ms).max(0);
        let outlives = |requested_ms: i64| ScopeRefusal::Outlives {
            requested_ms,
            remaining_ms,
            expires_at_ms: self.expires_at_ms,
        };
        match requested_ms {
            Some(r) if r > remaining_ms => Err(outlives(r)),
            Some(r) => Ok(r),
            None if remaining_ms == 0 => Err(outlives(default_ms)),
            None => Ok(default_ms.min(remaining_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrix, spelled out cell by cell: changing a cell means changing this test.
    #[test]
    fn the_matrix_enumerated() {
        use ApiFamily::*;
        use Operation as O;
        let expected: [(Operation, [Rule; 7]); 23] = [
            (O::Ingest, [Y, Y, Y, Y, N, N, Rule::Family(Ingestion)]),
            (O::Query, [N, Y, Y, Y, Y, Y, Rule::Family(Query)]),
            (O::Export, [N, Y, Y, Y, Y, Y, Rule::Family(Export)]),
            (O::Jql, [N, Y, Y, Y, Y, Y, Rule::Family(Jql)]),
            (O::ReadLookupTables, [N, Y, Y, Y, Y, Y, Rule::Family(LookupTables)]),
            (O::ReplaceLookupTable, [N, Y, Y, Y, N, N, Rule::Family(LookupTables)]),
            (O::AppRead, [N, Y, Y, Y, N, N, Rule::Family(App)]),
            (O::AppWrite, [N, Y, Y, Y, N, N, Rule::Family(App)]),
            (O::ListApiTokens, [N, Y, Y, Y, N, N, Rule::Family(App)]),
            (O::CreateApiToken, [N, Y, Y, Y, N, N, Rule::WithinScope(App)]),
            (O::RevokeApiToken, [N, Y, Y, Y, N, N, Rule::WithinScope(App)]),
            (O::ListServiceAccounts, [N, Y, Y, Y, N, N, Rule::Family(App)]),
            (O::ManageServiceAccounts, [N, Y, Y, Y, N, N, N]),
            (O::ReadAnnotations, [N, Y, Y, Y, Y, Y, Rule::Family(App)]),
            (O::WriteAnnotations, [N, Y, Y, Y, Y, N, Rule::Family(App)]),
            (O::ReadLexicon, [N, Y, Y, Y, Y, Y, Rule::Family(Lexicon)]),
            (O::WriteLexicon, [N, Y, Y, Y, N, N, Rule::Family(Lexicon)]),
            (O::EvaluateFlags, [Y, Y, Y, Y, Y, Y, Rule::Family(Flags)]),
            (O::ReadFlags, [N, Y, Y, Y, Y, Y, Rule::Family(App)]),
            (O::WriteFlags, [N, Y, Y, Y, Y, N, Rule::Family(App)]),
            (O::ReadProject, [N, Y, Y, Y, Y, Y, Rule::Family(App)]),
            (O::Gdpr, [N, Y, Y, Y, N, N, Rule::Family(Gdpr)]),
            (O::Pipelines, [N, Y, Y, Y, N, N, Rule::Family(Pipelines)]),
        ];
        for (op, row) in expected {
            for (principal, cell) in Principal::ALL.into_iter().zip(row) {
                assert_eq!(rule(principal, op), cell, "{op:?} for {principal:?}");
            }
        }
        // One row per operation, in `Operation::ALL`'s order; one column per principal.
        assert_eq!(MATRIX.map(|(op, _)| op), Operation::ALL);
        for (i, p) in Principal::ALL.into_iter().enumerate() {
            assert_eq!(p.column(), i);
        }
    }

    #[test]
    fn every_cell_decided_for_every_token_scope() {
        // Every principal, every operation, and for API tokens every single-family scope
        // and the full one: a token needs the operation's family, other credentials
        // ignore families, and no token manages service accounts.
        for op in Operation::ALL {
            for principal in Principal::ALL {
                let cell = rule(principal, op);
                if principal == Principal::ApiToken {
                    assert!(!permits(principal, &[], op), "{op:?}: a token with no family");
                    for f in ApiFamily::ALL {
                        let expected = cell != Rule::Deny && f == op.family();
                        assert_eq!(permits(principal, &[f], op), expected, "{op:?} with a `{f}` token");
                    }
                    let all = permits(principal, &ApiFamily::ALL, op);
                    assert_eq!(all, op != Operation::ManageServiceAccounts, "{op:?} with an all-family token");
                } else {
                    assert!(matches!(cell, Rule::Allow | Rule::Deny), "{op:?} for {principal:?}: {cell:?}");
                    assert_eq!(permits(principal, &ApiFamily::ALL, op), cell == Rule::Allow);
                    assert_eq!(permits(principal, &[], op), cell == Rule::Allow);
                }
            }
        }
    }

    #[test]
    fn the_matrix_agrees_with_the_roles() {
        for role in Role::ALL {
            let p = Principal::ServiceAccount(role);
            assert_eq!(permits(p, &[], Operation::Ingest), role.may_ingest(), "{role}");
            assert_eq!(permits(p, &[], Operation::Query), role.may_read(), "{role}");
            assert_eq!(permits(p, &[], Operation::Export), role.may_read(), "{role}");
            for op in [Operation::AppWrite, Operation::CreateApiToken, Operation::ManageServiceAccounts] {
                assert_eq!(permits(p, &[], op), role.may_administer(), "{role} {op:?}");
            }
        }
        // The project token sends data and evaluates flags (the SDKs ship it to every
        // browser and app), and does nothing else; the secret does everything.
        for op in Operation::ALL {
            let public = matches!(op, Operation::Ingest | Operation::EvaluateFlags);
            assert_eq!(permits(Principal::ProjectToken, &[], op), public, "{op:?}");
            assert!(permits(Principal::ProjectSecret, &[], op), "{op:?}");
        }
    }

    #[test]
    fn reads_and_writes_of_a_family_are_its_operations() {
        for f in ApiFamily::ALL {
            for op in [Operation::read_of(f), Operation::write_of(f)].into_iter().flatten() {
                assert_eq!(op.family(), f);
            }
        }
        let listed = allowed_to(Operation::CreateApiToken);
        assert!(listed.contains(&"an API token scoped to `app`".to_string()), "{listed:?}");
        assert!(!listed.iter().any(|l| l.contains("analyst")), "{listed:?}");
    }

    fn app_only(expires_at_ms: i64) -> TokenScope {
        TokenScope { id: ApiTokenId(1), families: vec![ApiFamily::App], expires_at_ms }
    }

    #[test]
    fn a_token_passes_on_only_its_families() {
        let scope = app_only(1_000_000);
        let wide = [ApiFamily::Ingestion, ApiFamily::Query, ApiFamily::Export, ApiFamily::App];
        let refused = scope.child_lifetime(&wide, Some(1000), 4000, 0).unwrap_err();
        assert_eq!(
            refused,
            ScopeRefusal::Families {
                held: vec![ApiFamily::App],
                lacking: vec![ApiFamily::Ingestion, ApiFamily::Query, ApiFamily::Export]
            }
        );
        assert!(refused.to_string().contains("does not hold: ingestion, query, export"), "{refused}");
        assert_eq!(scope.child_lifetime(&[ApiFamily::App], Some(1000), 4000, 0), Ok(1000));
        assert!(scope.covers(&[ApiFamily::App, ApiFamily::App]).is_ok());
        assert!(scope.covers(&[ApiFamily::Query]).is_err());
    }

    #[test]
    fn a_token_creates_nothing_that_outlives_it() {
        let now = 1_700_000_000_000;
        let scope = app_only(now + 600_000); // ten minutes left
        let ten_years = 10 * 366 * 86_400 * 1000;
        let refused = scope.child_lifetime(&[ApiFamily::App], Some(ten_years), 4 * 3_600_000, now).unwrap_err();
        assert!(matches!(refused, ScopeRefusal::Outlives { remaining_ms: 600_000, .. }), "{refused:?}");
        assert!(refused.to_string().contains("at most 600 s"), "{refused}");
        // Exactly the remaining lifetime is allowed; the default is capped to it.
        assert_eq!(scope.child_lifetime(&[ApiFamily::App], Some(600_000), 1, now), Ok(600_000));
        assert_eq!(scope.child_lifetime(&[ApiFamily::App], None, 4 * 3_600_000, now), Ok(600_000));
        assert_eq!(scope.child_lifetime(&[ApiFamily::App], None, 60_000, now), Ok(60_000));
        // A token that has run out passes on nothing.
        let spent = app_only(now - 1);
        assert!(spent.child_lifetime(&[ApiFamily::App], None, 60_000, now).is_err());
        assert!(spent.child_lifetime(&[ApiFamily::App], Some(1), 60_000, now).is_err());
    }
}
