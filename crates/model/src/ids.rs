//! Integer identifiers. Mixpanel's `project_id` is an integer on the wire, so ours are too.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A project: the unit of data isolation, with its own token, secret and timezone.
    ProjectId
);
id_type!(
    /// An organisation, which owns projects and service accounts.
    OrgId
);
id_type!(
    /// A service account, which holds a role in one or more projects.
    ServiceAccountId
);
id_type!(
    /// A personal API token.
    ApiTokenId
);
id_type!(
    /// A saved cohort.
    CohortId
);
