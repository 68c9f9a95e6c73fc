//! The API families: the groups of endpoints that share a rate limit, and that a
//! personal API token may be scoped to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One family of endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiFamily {
    /// `/track`, `/import`, `/engage`, `/groups`.
    Ingestion,
    /// The Query API: `/api/query/...` and the legacy `/api/2.0/...` reports.
    Query,
    /// Raw event export, `/api/2.0/export`.
    Export,
    /// `/api/query/jql`.
    Jql,
    /// Feature flags as the SDKs read them: `/flags` and `/flags/definitions`.
    Flags,
    /// GDPR data retrieval and deletion jobs.
    Gdpr,
    /// Data pipelines: `/api/2.0/nessie/pipeline/...`.
    Pipelines,
    /// Lexicon schemas.
    Lexicon,
    /// `PUT /lookup-tables/{id}` (replacing a table).
    LookupTables,
    /// Sextant's own App API: saved objects, service accounts, API tokens. A token
    /// holding it is no administrator: it creates and revokes tokens only within its
    /// own families and lifetime ([`crate::access`]).
    App,
}

impl ApiFamily {
    /// Every family.
    pub const ALL: [ApiFamily; 10] = [
        ApiFamily::Ingestion,
        ApiFamily::Query,
        ApiFamily::Export,
        ApiFamily::Jql,
        ApiFamily::Flags,
        ApiFamily::Gdpr,
        ApiFamily::Pipelines,
        ApiFamily::Lexicon,
        ApiFamily::LookupTables,
        ApiFamily::App,
    ];

    /// The stable name used in configuration, token scopes and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiFamily::Ingestion => "ingestion",
            ApiFamily::Query => "query",
            ApiFamily::Export => "export",
            ApiFamily::Jql => "jql",
            ApiFamily::Flags => "flags",
            ApiFamily::Gdpr => "gdpr",
            ApiFamily::Pipelines => "pipelines",
            ApiFamily::Lexicon => "lexicon",
            ApiFamily::LookupTables => "lookup_tables",
            ApiFamily::App => "app",
        }
    }
}

impl ApiFamily {
    /// The largest request body the family's endpoints read, decompressed: Mixpanel's
    /// published limits (10 MB for `/import`, 8 MB for Lexicon schemas, 100 MB for a
    /// lookup-table CSV), 2 MB for query-style requests, 1 MB for Sextant's App API,
    /// 256 KB for a flag evaluation's context.
    pub const fn max_request_bytes(self) -> usize {
        const MB: usize = 1024 * 1024;
        match self {
            ApiFamily::Ingestion => crate::limits::MAX_REQUEST_BYTES,
            ApiFamily::Query | ApiFamily::Export | ApiFamily::Jql | ApiFamily::Gdpr => 2 * MB,
            ApiFamily::Lexicon => 8 * MB,
            ApiFamily::LookupTables => 100 * MB,
            ApiFamily::App | ApiFamily::Pipelines => MB,
            ApiFamily::Flags => MB / 4,
        }
    }
}

impl fmt::Display for ApiFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApiFamily {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        ApiFamily::ALL.into_iter().find(|f| f.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            let names: Vec<_> = ApiFamily::ALL.iter().map(|f| f.as_str()).collect();
            format!("unknown API family `{s}`; expected one of {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in ApiFamily::ALL {
            assert_eq!(f.as_str().parse::<ApiFamily>().unwrap(), f);
        }
        assert!("queries".parse::<ApiFamily>().is_err());
    }
}
