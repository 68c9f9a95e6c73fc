//! The limits themselves. Defaults are Mixpanel's published limits; the configuration
//! file may change any of them for every project (`[rate_limits.default.<family>]`) or
//! for one project (`[rate_limits.project.<id>.<family>]`). A value of 0 removes that
//! limit.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use sextant_model::{ApiFamily, ProjectId};

pub use sextant_model::rate_limits::{FamilyLimits, ProjectLimits, Unit, Window};

/// `[rate_limits.client_failures]`: the failures (401, 403) one client address may
/// have before it is refused with 429 (see [`super::clients`]); a 0 removes the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientFailureLimits {
    /// Failures in a burst.
    pub burst: u64,
    /// Failures earned back each second.
    pub per_second: u64,
}

impl Default for ClientFailureLimits {
    /// 100 at once, 10 a second: far more than a client with a typo in its secret makes
    /// before someone looks, far less than a credential-guessing flood.
    fn default() -> Self {
        ClientFailureLimits { burst: 100, per_second: 10 }
    }
}

/// Every family's limits, with per-project overrides, and the failures a client address
/// may have.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimits {
    defaults: BTreeMap<ApiFamily, FamilyLimits>,
    projects: HashMap<ProjectId, ProjectLimits>,
    /// Failures per client address.
    pub client_failures: ClientFailureLimits,
}

impl Default for RateLimits {
    fn default() -> Self {
        let defaults = ApiFamily::ALL.into_iter().map(|f| (f, FamilyLimits::mixpanel_default(f))).collect();
        RateLimits { defaults, projects: HashMap::new(), client_failures: ClientFailureLimits::default() }
    }
}

/// The `[rate_limits]` table of the configuration file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsFile {
    /// Overrides for every project.
    #[serde(default)]
    pub default: BTreeMap<ApiFamily, FamilyLimits>,
    /// Overrides for one project, by project id.
    #[serde(default)]
    pub project: BTreeMap<String, ProjectLimits>,
    /// Failures per client address.
    #[serde(default)]
    pub client_failures: ClientFailureLimits,
}

impl RateLimits {
    /// Mixpanel's defaults with the file's overrides applied.
    pub fn from_file(file: &RateLimitsFile) -> Result<RateLimits, String> {
        let mut limits = RateLimits { client_failures: file.client_failures, ..RateLimits::default() };
        for (family, o) in &file.default {
            let d = limits.defaults.entry(*family).or_default();
            *d = d.overridden_by(o);
        }
        for (id, families) in &file.project {
            let id: i64 = id.parse().map_err(|_| format!("rate_limits.project.{id}: not a project id"))?;
            let entry = limits.projects.entry(ProjectId(id)).or_default();
            for (family, o) in families {
                entry.insert(*family, limits.defaults.get(family).copied().unwrap_or_default().overridden_by(o));
            }
        }
        Ok(limits)
    }

    /// The limits that apply to `family` in `project`.
    pub fn for_project(&self, project: ProjectId, family: ApiFamily) -> FamilyLimits {
        self.projects
            .get(&project)
            .and_then(|p| p.get(&family))
            .or_else(|| self.defaults.get(&family))
            .copied()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_mixpanels_and_overrides_layer() {
        let text = r#"
            [default.query]
            per_hour = 120
            [project.7.export]
            per_second = 0
            concurrent = 2
        "#;
        let file: RateLimitsFile = toml::from_str(text).unwrap();
        let limits = RateLimits::from_file(&file).unwrap();
        let q = limits.for_project(ProjectId(1), ApiFamily::Query);
        assert_eq!((q.per_hour, q.concurrent), (Some(120), Some(5)));
        let e = limits.for_project(ProjectId(7), ApiFamily::Export);
        assert_eq!((e.per_second, e.per_hour, e.concurrent), (None, Some(60), Some(2)));
        let e1 = limits.for_project(ProjectId(1), ApiFamily::Export);
        assert_eq!((e1.per_second, e1.concurrent), (Some(3), Some(100)));
        assert!(toml::from_str::<RateLimitsFile>("[default.queries]\nper_hour = 1").is_err());
        assert!(toml::from_str::<RateLimitsFile>("[default.query]\nper_week = 1").is_err());
    }
}
