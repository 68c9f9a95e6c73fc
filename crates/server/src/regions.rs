//! Data residency: which hostnames serve which region, and the refusal of a request
//! that reaches a project through another region's host.
//!
//! Mixpanel splits its regions by hostname (`api.mixpanel.com`, `api-eu.mixpanel.com`,
//! `api-in.mixpanel.com`). Sextant reads the `Host` a request was sent to; a host that
//! matches a region's pattern serves only that region's projects. Hosts matching no
//! pattern (`localhost`, an IP address, a name of your own) serve every region.
//!
//! [`Scheme`] and [`base_url`]: how a request reached the server, for the links an
//! answer gives back (a GDPR retrieval's archive).

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use axum::http::header::HOST;
use sextant_model::{Project, Region};

use crate::error::ApiError;

/// Whether the connection a request came on is HTTPS: set by the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheme {
    /// HTTPS (the rustls listener) rather than plain HTTP.
    pub https: bool,
}

/// `scheme://host` as the client addressed the server: `X-Forwarded-Proto` when a proxy
/// in front says so, else the listener's scheme; the `Host` header (`localhost` when
/// absent).
pub fn base_url(headers: &HeaderMap, scheme: Option<Scheme>) -> String {
    let forwarded = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).map(str::trim);
    let scheme = match forwarded {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        Some(p) if p.eq_ignore_ascii_case("http") => "http",
        _ if scheme.is_some_and(|s| s.https) => "https",
        _ => "http",
    };
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// Host patterns per region: an exact name, or `prefix.*` for any host that starts with
/// `prefix.`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionHosts {
    rules: Vec<(String, Region)>,
}

impl Default for RegionHosts {
    /// Mixpanel's naming: `api.*`/`data.*` for the US, `api-eu.*`/`eu.*`/`data-eu.*`
    /// for the EU, `api-in.*`/`in.*`/`data-in.*` for India.
    fn default() -> Self {
        let mut map = BTreeMap::new();
        map.insert(Region::Us, vec!["api.*".to_string(), "data.*".to_string()]);
        map.insert(Region::Eu, vec!["api-eu.*".to_string(), "eu.*".to_string(), "data-eu.*".to_string()]);
        map.insert(Region::In, vec!["api-in.*".to_string(), "in.*".to_string(), "data-in.*".to_string()]);
        RegionHosts::new(&map)
    }
}

impl RegionHosts {
    /// Rules from the configuration file's `[regions]` table.
    pub fn new(map: &BTreeMap<Region, Vec<String>>) -> RegionHosts {
        let rules = map
            .iter()
            .flat_map(|(region, hosts)| hosts.iter().map(move |h| (h.trim().to_ascii_lowercase(), *region)))
            .filter(|(h, _)| !h.is_empty())
            .collect();
        RegionHosts { rules }
    }

    /// The region a host serves, if it is a regional host.
    pub fn region_of(&self, host: &str) -> Option<Region> {
        let host = host.to_ascii_lowercase();
        // Exact names first, so a configured name wins over a pattern.
        let exact = self.rules.iter().find(|(p, _)| !p.ends_with(".*") && *p == host);
        let pattern =
            || self.rules.iter().find(|(p, _)| p.strip_suffix('*').is_some_and(|prefix| host.starts_with(prefix)));
        exact.or_else(pattern).map(|(_, r)| *r)
    }

    /// Refuses a request for `project` that came through another region's host.
    pub fn check(&self, headers: &HeaderMap, project: &Project) -> Result<(), ApiError> {
        let host = host_name(headers);
        match self.region_of(&host) {
            Some(region) if region != project.region => Err(ApiError::forbidden(format!(
                "project {} stores its data in the {} region, but this request reached {host}, a host of the {} region; send it to {}",
                project.id,
                project.region.label(),
                region.label(),
                self.host_for(&host, project.region)
            ))),
            _ => Ok(()),
        }
    }

    /// The host to use instead: a configured exact name of the region, else the
    /// request's host with its regional label changed (`api-eu.x` → `api.x`).
    fn host_for(&self, host: &str, region: Region) -> String {
        if let Some((h, _)) = self.rules.iter().find(|(h, r)| *r == region && !h.ends_with(".*")) {
            return h.clone();
        }
        let (label, rest) = host.split_once('.').unwrap_or((host, ""));
        let base = label.trim_end_matches("-eu").trim_end_matches("-in");
        let base = if matches!(base, "eu" | "in") { "" } else { base };
        match (base.is_empty(), region) {
            (true, Region::Us) => rest.to_string(),
            (true, r) => format!("{}.{rest}", r.as_str()),
            (false, Region::Us) => format!("{base}.{rest}"),
            (false, r) => format!("{base}-{}.{rest}", r.as_str()),
        }
    }
}

/// The host a request was sent to, without the port.
pub fn host_name(headers: &HeaderMap) -> String {
    let host = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_string();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
        _ => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_map_to_regions_and_suggest_the_right_one() {
        let r = RegionHosts::default();
        assert_eq!(r.region_of("api-eu.sextant.example"), Some(Region::Eu));
        assert_eq!(r.region_of("API.sextant.example"), Some(Region::Us));
        assert_eq!(r.region_of("data-in.x.io"), Some(Region::In));
        assert_eq!(r.region_of("localhost"), None);
        assert_eq!(r.region_of("127.0.0.1"), None);
        assert_eq!(r.host_for("api-eu.x.io", Region::Us), "api.x.io");
        assert_eq!(r.host_for("api.x.io", Region::Eu), "api-eu.x.io");
        assert_eq!(r.host_for("eu.x.io", Region::In), "in.x.io");
        assert_eq!(r.host_for("eu.x.io", Region::Us), "x.io");
        let mut map = BTreeMap::new();
        map.insert(Region::Eu, vec!["eu.analytics.corp".to_string()]);
        let custom = RegionHosts::new(&map);
        assert_eq!(custom.region_of("eu.analytics.corp"), Some(Region::Eu));
        assert_eq!(custom.region_of("api.analytics.corp"), None);
        assert_eq!(custom.host_for("x", Region::Eu), "eu.analytics.corp");
    }
}
