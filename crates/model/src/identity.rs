//! Identity clusters: which ids are one user, and the operations that join them
//! (wire-semantics §2).
//!
//! [`Clusters`] holds the part of a project's identity graph a batch touches; every
//! store loads those clusters, applies the batch's [`IdentityOp`]s in arrival order
//! with [`Clusters::apply`], and writes them back, so the rules live here once.
//! Queries and exports read each event's `distinct_id` through the graph: the cluster's
//! canonical id, retroactively.
//!
//! Choices where Mixpanel's documents are silent (see `docs/compatibility.md`): the
//! canonical id is the `$user_id` (Simplified), the identified id (`$identify`), the
//! existing id (`$create_alias`) and the first id's (`$merge`); failure reasons other
//! than `errAnonDistinctIdNonGUIDForm` are Sextant's own spelling.

use std::collections::HashMap;

use crate::ids::ProjectId;

/// Most ids one cluster may hold in Original ID Merge.
pub const MAX_CLUSTER_IDS: usize = 500;

/// Most ids one cluster may hold in Simplified ID Merge: the user id and its devices.
/// Mixpanel removed the cap for Simplified ID Merge; Sextant keeps one, ours, because
/// every batch that touches a user reads that user's cluster, so a client sending one
/// `$user_id` with a new random `$device_id` each time would otherwise make each commit
/// slower than the last. Past it a new device is not mapped (the event is still stored
/// under its `$user_id`, with `$identity_failure_reason: "errClusterSizeLimitExceeded"`);
/// only that device's anonymous events stay unattributed. Ten thousand devices is far
/// more than a person has.
pub const MAX_SIMPLIFIED_CLUSTER_IDS: usize = 10_000;

/// An operation on the identity graph, carried by an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityOp {
    /// Simplified ID Merge: the first event with both `$device_id` and `$user_id` maps
    /// the device (`$device:<id>`) to the user.
    DeviceToUser {
        /// `$device:` and the device id.
        device: String,
        /// The user id, the cluster's canonical id.
        user: String,
    },
    /// Original ID Merge `$identify`: the anonymous id joins the identified id's cluster.
    Identify {
        /// `$anon_id` (or `$anon_distinct_id`).
        anon: String,
        /// `$identified_id`.
        identified: String,
    },
    /// Original ID Merge `$create_alias`: the alias joins the id's cluster.
    Alias {
        /// The new id.
        alias: String,
        /// The existing id.
        distinct_id: String,
    },
    /// Original ID Merge `$merge` (only through `/import`): two clusters become one.
    Merge {
        /// The first id; its cluster's canonical id survives.
        a: String,
        /// The second id.
        b: String,
    },
}

impl IdentityOp {
    /// The event property that records why the operation was refused: Simplified
    /// projects use `$identity_failure_reason`, Original ones `$failure_reason`.
    pub fn failure_property(&self) -> &'static str {
        match self {
            IdentityOp::DeviceToUser { .. } => "$identity_failure_reason",
            _ => "$failure_reason",
        }
    }

    /// The ids the operation reads.
    pub fn ids(&self) -> [&str; 2] {
        match self {
            IdentityOp::DeviceToUser { device, user } => [device, user],
            IdentityOp::Identify { anon, identified } => [anon, identified],
            IdentityOp::Alias { alias, distinct_id } => [alias, distinct_id],
            IdentityOp::Merge { a, b } => [a, b],
        }
    }
}

/// An identity operation carried by the event at `row` of an append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityEdge {
    /// The project whose graph changes.
    pub project_id: ProjectId,
    /// The index of the carrying event in its append; it records a refusal.
    pub row: usize,
    /// What to do.
    pub op: IdentityOp,
}

/// Why an operation was refused.
pub type Refusal = &'static str;

/// The clusters of one project that a batch touches: id to canonical id, and each
/// canonical id's members (itself included).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Clusters {
    canonical: HashMap<String, String>,
    members: HashMap<String, Vec<String>>,
}

impl Clusters {
    /// Records a stored membership (when loading).
    pub fn insert(&mut self, id: String, canonical: String) {
        self.members.entry(canonical.clone()).or_default().push(id.clone());
        self.canonical.insert(id, canonical);
    }

    /// The canonical id of `id`'s cluster, if it is in one.
    pub fn canonical(&self, id: &str) -> Option<&str> {
        self.canonical.get(id).map(String::as_str)
    }

    /// Every membership, for writing back.
    pub fn memberships(&self) -> impl Iterator<Item = (&str, &str)> {
        self.canonical.iter().map(|(id, c)| (id.as_str(), c.as_str()))
    }

    /// Applies one operation; a refusal changes nothing.
    pub fn apply(&mut self, op: &IdentityOp) -> Result<(), Refusal> {
        match op {
            IdentityOp::DeviceToUser { device, user } => match self.canonical(device) {
                Some(c) if c == user => Ok(()),
                Some(_) => Err("device_already_identified_as_another_user"),
                None => self.join(device, user, MAX_SIMPLIFIED_CLUSTER_IDS),
            },
            IdentityOp::Identify { anon, identified } => {
                if !is_guid(anon) {
                    return Err("errAnonDistinctIdNonGUIDForm");
                }
                self.join_once(anon, identified, "errAnonDistinctIdAlreadyMerged")
            }
            IdentityOp::Alias { alias, distinct_id } => self.join_once(alias, distinct_id, "errAliasAlreadyMapped"),
            IdentityOp::Merge { a, b } => {
                let (ca, cb) = (self.root(a), self.root(b));
                if ca == cb {
                    return Ok(());
                }
                if self.size(&ca) + self.size(&cb) > MAX_CLUSTER_IDS {
                    return Err("errClusterSizeLimitExceeded");
                }
                self.ensure(&ca);
                self.ensure(&cb);
                let moved = self.members.remove(&cb).unwrap_or_default();
                for id in &moved {
                    self.canonical.insert(id.clone(), ca.clone());
                }
                self.members.entry(ca).or_default().extend(moved);
                Ok(())
            }
        }
    }

    /// `id` joins `target`'s cluster unless it is already in another one.
    fn join_once(&mut self, id: &str, target: &str, refusal: Refusal) -> Result<(), Refusal> {
        if id == target {
            return Ok(());
        }
        let root = self.root(target);
        match self.canonical(id) {
            Some(c) if c == root => Ok(()),
            Some(_) => Err(refusal),
            None => self.join(id, &root, MAX_CLUSTER_IDS),
        }
    }

    /// Adds `id` (in no cluster) to the cluster whose canonical id is `root`'s.
    fn join(&mut self, id: &str, target: &str, limit: usize) -> Result<(), Refusal> {
        let root = self.root(target);
        if self.size(&root) + 1 > limit {
            return Err("errClusterSizeLimitExceeded");
        }
        self.ensure(&root);
        self.canonical.insert(id.to_string(), root.clone());
        self.members.entry(root).or_default().push(id.to_string());
        Ok(())
    }

    /// The canonical id `id` resolves to (itself when in no cluster).
    fn root(&self, id: &str) -> String {
        self.canonical(id).unwrap_or(id).to_string()
    }

    fn size(&self, root: &str) -> usize {
        self.members.get(root).map_or(1, Vec::len)
    }

    /// Makes `root` a cluster of its own if it is in none.
    fn ensure(&mut self, root: &str) {
        if !self.canonical.contains_key(root) {
            self.insert(root.to_string(), root.to_string());
        }
    }
}

/// `8-4-4-4-12` hexadecimal digits: the form Original ID Merge wants of anonymous ids.
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANON: &str = "0b4f3f3e-3c1d-4b5e-9f6a-1a2b3c4d5e6f";
    const ANON2: &str = "1b4f3f3e-3c1d-4b5e-9f6a-1a2b3c4d5e6f";

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn simplified_maps_each_device_to_one_user() {
        let mut c = Clusters::default();
        assert_eq!(c.apply(&IdentityOp::DeviceToUser { device: s("$device:d1"), user: s("u1") }), Ok(()));
        assert_eq!(c.apply(&IdentityOp::DeviceToUser { device: s("$device:d2"), user: s("u1") }), Ok(()));
        assert_eq!(c.apply(&IdentityOp::DeviceToUser { device: s("$device:d1"), user: s("u1") }), Ok(()));
        assert!(c.apply(&IdentityOp::DeviceToUser { device: s("$device:d1"), user: s("u2") }).is_err());
        assert_eq!(c.canonical("$device:d2"), Some("u1"));
        assert_eq!(c.canonical("u1"), Some("u1"));
        assert_eq!(c.canonical("u2"), None);
    }

    #[test]
    fn original_identify_alias_and_merge() {
        let mut c = Clusters::default();
        assert_eq!(
            c.apply(&IdentityOp::Identify { anon: s("not-a-guid"), identified: s("u1") }),
            Err("errAnonDistinctIdNonGUIDForm")
        );
        assert_eq!(c.apply(&IdentityOp::Identify { anon: s(ANON), identified: s("u1") }), Ok(()));
        assert!(c.apply(&IdentityOp::Identify { anon: s(ANON), identified: s("u2") }).is_err());
        assert_eq!(c.apply(&IdentityOp::Alias { alias: s("email@x"), distinct_id: s(ANON) }), Ok(()));
        assert_eq!(c.canonical("email@x"), Some("u1"), "an alias of a member joins the cluster");
        assert!(c.apply(&IdentityOp::Alias { alias: s("email@x"), distinct_id: s("u9") }).is_err());
        assert_eq!(c.apply(&IdentityOp::Identify { anon: s(ANON2), identified: s("u2") }), Ok(()));
        assert_eq!(c.apply(&IdentityOp::Merge { a: s("u2"), b: s("email@x") }), Ok(()));
        for id in ["u1", ANON, "email@x", "u2", ANON2] {
            assert_eq!(c.canonical(id), Some("u2"), "{id}");
        }
    }

    #[test]
    fn clusters_stop_at_500_ids_in_original_mode() {
        let mut c = Clusters::default();
        for i in 0..499 {
            assert_eq!(c.apply(&IdentityOp::Alias { alias: format!("a{i}"), distinct_id: s("u") }), Ok(()));
        }
        assert_eq!(
            c.apply(&IdentityOp::Alias { alias: s("one-too-many"), distinct_id: s("u") }),
            Err("errClusterSizeLimitExceeded")
        );
        assert_eq!(c.canonical("one-too-many"), None);
        assert_eq!(c.apply(&IdentityOp::Merge { a: s("u"), b: s("v") }), Err("errClusterSizeLimitExceeded"));
    }

    #[test]
    fn simplified_clusters_stop_at_their_own_cap() {
        let mut c = Clusters::default();
        let device = |i: usize| IdentityOp::DeviceToUser { device: format!("$device:{i}"), user: s("u") };
        // The user id itself is a member, so the cap leaves room for one device fewer.
        for i in 0..MAX_SIMPLIFIED_CLUSTER_IDS - 1 {
            assert_eq!(c.apply(&device(i)), Ok(()));
        }
        assert_eq!(c.apply(&device(MAX_SIMPLIFIED_CLUSTER_IDS)), Err("errClusterSizeLimitExceeded"));
        assert_eq!(c.canonical(&format!("$device:{MAX_SIMPLIFIED_CLUSTER_IDS}")), None);
        assert_eq!(c.apply(&device(0)), Ok(()), "a known device still maps");
    }
}
