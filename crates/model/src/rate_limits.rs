//! Rate limits as data: what one API family may take in one project ([`FamilyLimits`]),
//! Mixpanel's published defaults, and how overrides layer over them. The server's
//! limiter (`server::limits`) enforces them; a project's own overrides
//! ([`ProjectLimits`]) are kept by the control plane and set through the projects API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::family::ApiFamily;

/// A project's overrides, per family: each value set replaces the default, and a 0
/// removes that limit.
pub type ProjectLimits = BTreeMap<ApiFamily, FamilyLimits>;

/// The limits of one family in one project. Counts are requests, except
/// `bytes_per_minute`, which counts uncompressed bytes received, and
/// `items_per_minute`, which counts Lexicon schema entries and the properties they
/// declare.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyLimits {
    /// Requests per rolling second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_second: Option<u64>,
    /// Requests per rolling minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<u64>,
    /// Requests per rolling hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_hour: Option<u64>,
    /// Requests per rolling 24 hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<u64>,
    /// Uncompressed request bytes per rolling minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_minute: Option<u64>,
    /// Lexicon schema entries and their properties per rolling minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_per_minute: Option<u64>,
    /// Requests in flight at once; one more is refused at once, never queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent: Option<u64>,
}

/// What a window counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Requests.
    Requests,
    /// Uncompressed bytes.
    Bytes,
    /// Schema entries and their properties.
    Items,
}

/// One rolling window: at most `limit` of `unit` in any `seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The most allowed.
    pub limit: u64,
    /// The window's length.
    pub seconds: u64,
    /// What is counted.
    pub unit: Unit,
}

impl Window {
    /// What `requests` carrying `volume` (bytes, items) cost in this window.
    pub fn cost(&self, requests: u64, volume: u64) -> u64 {
        match self.unit {
            Unit::Requests => requests,
            Unit::Bytes | Unit::Items => volume,
        }
    }
}

impl FamilyLimits {
    /// Mixpanel's published limit for `family` (wire-semantics and the rate-limit docs);
    /// Sextant's own App API takes the 120 requests a minute of `000_*.txt`.
    pub fn mixpanel_default(family: ApiFamily) -> FamilyLimits {
        let none = FamilyLimits::default();
        match family {
            ApiFamily::Ingestion => FamilyLimits { bytes_per_minute: Some(2 * 1024 * 1024 * 1024), ..none },
            ApiFamily::Query | ApiFamily::Jql => FamilyLimits { per_hour: Some(60), concurrent: Some(5), ..none },
            ApiFamily::Export => {
                FamilyLimits { per_hour: Some(60), per_second: Some(3), concurrent: Some(100), ..none }
            }
            ApiFamily::Gdpr => FamilyLimits { per_second: Some(1), ..none },
            ApiFamily::Lexicon => FamilyLimits { per_minute: Some(5), items_per_minute: Some(4_000), ..none },
            ApiFamily::LookupTables => FamilyLimits { per_day: Some(100), ..none },
            // Mixpanel publishes none for pipelines: they take the App API's.
            ApiFamily::App | ApiFamily::Pipelines => FamilyLimits { per_minute: Some(120), ..none },
            // Mixpanel publishes none: server SDKs poll definitions every 60 s from every
            // process and evaluate remotely per request, each costing microseconds.
            ApiFamily::Flags => none,
        }
    }

    /// These limits with every value `other` sets; a 0 there removes the limit.
    pub fn overridden_by(self, other: &FamilyLimits) -> FamilyLimits {
        let pick = |mine: Option<u64>, theirs: Option<u64>| match theirs {
            Some(0) => None,
            Some(v) => Some(v),
            None => mine,
        };
        FamilyLimits {
            per_second: pick(self.per_second, other.per_second),
            per_minute: pick(self.per_minute, other.per_minute),
            per_hour: pick(self.per_hour, other.per_hour),
            per_day: pick(self.per_day, other.per_day),
            bytes_per_minute: pick(self.bytes_per_minute, other.bytes_per_minute),
            items_per_minute: pick(self.items_per_minute, other.items_per_minute),
            concurrent: pick(self.concurrent, other.concurrent),
        }
    }

    /// The rolling windows, shortest first.
    pub fn windows(&self) -> Vec<Window> {
        let mut out = Vec::new();
        let mut add = |limit: Option<u64>, seconds, unit| {
            if let Some(limit) = limit {
                out.push(Window { limit, seconds, unit });
            }
        };
        add(self.per_second, 1, Unit::Requests);
        add(self.per_minute, 60, Unit::Requests);
        add(self.bytes_per_minute, 60, Unit::Bytes);
        add(self.items_per_minute, 60, Unit::Items);
        add(self.per_hour, 3600, Unit::Requests);
        add(self.per_day, 86_400, Unit::Requests);
        out
    }
}
