//! Rolling windows and in-flight counts.
//!
//! Each window keeps its recent usage in up to 60 buckets (a sixtieth of the window
//! each), so memory stays small however many requests arrive. A bucket leaves the
//! window when its *latest* request is a full window old: the count is never lower than
//! the truth, and a client told to retry after N seconds is admitted then.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use sextant_model::rate_limits::{FamilyLimits, ProjectLimits};
use sextant_model::{ApiFamily, ErrorCode, ProjectId};

use super::clients::ClientBudgets;
use super::config::{RateLimits, Unit, Window};
use super::layer::LimitSlot;
use crate::error::ApiError;

/// What `X-RateLimit-*` report: the window closest to its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateStatus {
    /// `X-RateLimit-Limit`.
    pub limit: u64,
    /// `X-RateLimit-Remaining`.
    pub remaining: u64,
    /// `X-RateLimit-Reset`: UTC epoch seconds when the oldest use still counted leaves
    /// the window (and `remaining` grows again).
    pub reset: u64,
}

/// A request's place among those in flight; released when dropped.
#[derive(Debug)]
pub struct Permit(Arc<AtomicU64>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug)]
struct Bucket {
    start: Instant,
    last: Instant,
    used: u64,
}

#[derive(Debug)]
struct WindowState {
    window: Window,
    buckets: VecDeque<Bucket>,
    used: u64,
}

impl WindowState {
    fn length(&self) -> Duration {
        Duration::from_secs(self.window.seconds)
    }

    fn expire(&mut self, now: Instant) {
        while let Some(b) = self.buckets.front() {
            if now.duration_since(b.last) < self.length() {
                break;
            }
            self.used -= b.used;
            self.buckets.pop_front();
        }
    }

    /// How long until `cost` more fits; `None` if it fits now.
    fn wait_for(&self, cost: u64, now: Instant) -> Option<Duration> {
        if self.used + cost <= self.window.limit {
            return None;
        }
        if cost > self.window.limit {
            return Some(self.length());
        }
        let mut used = self.used;
        for b in &self.buckets {
            used -= b.used;
            if used + cost <= self.window.limit {
                return Some((b.last + self.length()).saturating_duration_since(now));
            }
        }
        Some(self.length())
    }

    fn add(&mut self, cost: u64, now: Instant) {
        let span = self.length() / 60;
        match self.buckets.back_mut() {
            Some(b) if now.duration_since(b.start) < span => {
                b.used += cost;
                b.last = now;
            }
            _ => self.buckets.push_back(Bucket { start: now, last: now, used: cost }),
        }
        self.used += cost;
    }

    fn status(&self, now: Instant, wall: SystemTime) -> RateStatus {
        let until =
            self.buckets.front().map_or(self.length(), |b| (b.last + self.length()).saturating_duration_since(now));
        let reset = wall.checked_add(until).unwrap_or(wall);
        let reset =
            reset.duration_since(UNIX_EPOCH).map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0)).unwrap_or(0);
        RateStatus { limit: self.window.limit, remaining: self.window.limit.saturating_sub(self.used), reset }
    }
}

#[derive(Debug)]
struct FamilyState {
    windows: Vec<WindowState>,
    concurrent: Option<u64>,
    in_flight: Arc<AtomicU64>,
}

impl FamilyState {
    fn new(limits: &FamilyLimits) -> FamilyState {
        let mut state = FamilyState { windows: Vec::new(), concurrent: None, in_flight: Arc::default() };
        state.retune(limits);
        state
    }

    /// Takes new limits, keeping what each window of the same length and unit has
    /// counted and the requests in flight: changing a limit neither forgives recent use
    /// nor lets more requests in at once than the new cap.
    fn retune(&mut self, limits: &FamilyLimits) {
        let mut old = std::mem::take(&mut self.windows);
        self.windows = limits
            .windows()
            .into_iter()
            .map(|window| {
                match old.iter().position(|w| (w.window.seconds, w.window.unit) == (window.seconds, window.unit)) {
                    Some(i) => WindowState { window, ..old.swap_remove(i) },
                    None => WindowState { window, buckets: VecDeque::new(), used: 0 },
                }
            })
            .collect();
        self.concurrent = limits.concurrent;
    }

    /// The window with the least left, the longer one on a tie.
    fn status(&self, now: Instant, wall: SystemTime) -> Option<RateStatus> {
        self.windows.iter().map(|w| w.status(now, wall)).min_by_key(|s| (s.remaining, std::cmp::Reverse(s.reset)))
    }
}

/// The limiter shared by all handlers.
#[derive(Debug)]
pub struct Limiter {
    limits: RateLimits,
    /// Overrides set through the projects API, by project (`Metadata::project_limits`);
    /// they apply over the configuration file's.
    projects: RwLock<HashMap<ProjectId, ProjectLimits>>,
    state: Mutex<HashMap<(ProjectId, ApiFamily), FamilyState>>,
    /// Failures per client address.
    pub clients: ClientBudgets,
}

/// A refusal: how long to wait, and what to tell the client.
#[derive(Debug)]
pub struct Refusal {
    /// Whole seconds until a retry can succeed (at least 1).
    pub retry_after: u64,
    /// The error to answer with.
    pub error: ApiError,
}

impl Limiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: RateLimits) -> Limiter {
        Limiter {
            clients: ClientBudgets::new(limits.client_failures),
            limits,
            projects: RwLock::default(),
            state: Mutex::new(HashMap::new()),
        }
    }

    /// The limits of `family` in `project`: the configuration's, then the project's own
    /// overrides.
    pub fn limits_of(&self, project: ProjectId, family: ApiFamily) -> FamilyLimits {
        let configured = self.limits.for_project(project, family);
        match self.projects.read().get(&project).and_then(|p| p.get(&family)) {
            Some(own) => configured.overridden_by(own),
            None => configured,
        }
    }

    /// Sets `project`'s own overrides (empty: none), applying them to the windows it
    /// is already counting. Returns whether anything changed.
    pub fn set_project_limits(&self, project: ProjectId, own: ProjectLimits) -> bool {
        {
            let mut projects = self.projects.write();
            let before = projects.get(&project).cloned().unwrap_or_default();
            if before == own {
                return false;
            }
            if own.is_empty() {
                projects.remove(&project);
            } else {
                projects.insert(project, own);
            }
        }
        let mut states = self.state.lock();
        for family in ApiFamily::ALL {
            if let Some(state) = states.get_mut(&(project, family)) {
                state.retune(&self.limits_of(project, family));
            }
        }
        true
    }

    /// Sets every project's own overrides at once: those listed, and none for the rest.
    pub fn load_project_limits(&self, all: Vec<(ProjectId, ProjectLimits)>) {
        let listed: HashMap<ProjectId, ProjectLimits> = all.into_iter().collect();
        let before: Vec<ProjectId> = self.projects.read().keys().copied().collect();
        for project in before.into_iter().filter(|p| !listed.contains_key(p)) {
            self.set_project_limits(project, ProjectLimits::new());
        }
        for (project, own) in listed {
            self.set_project_limits(project, own);
        }
    }

    /// Forgets a deleted project's counts and overrides.
    pub fn forget_project(&self, project: ProjectId) {
        self.projects.write().remove(&project);
        self.state.lock().retain(|(p, _), _| *p != project);
    }

    /// Admits one request of `family` for `project` carrying `volume` (uncompressed
    /// bytes for ingestion, schema entries and properties for Lexicon; what the
    /// family's volume windows count, while its request windows count the request
    /// once), or refuses it. Either way the verdict goes into `slot`, from which the
    /// response gets its headers (and keeps its permit).
    pub fn admit(&self, slot: &LimitSlot, project: ProjectId, family: ApiFamily, volume: u64) -> Result<(), ApiError> {
        self.settle(slot, self.check_cost(project, family, 1, volume))
    }

    /// Charges `volume` more to a request already admitted (its request windows are not
    /// counted again): for a handler that learns what a request carries only once its
    /// body is read. A volume larger than a window allows at all is refused as a bad
    /// request (it could never be admitted), without `Retry-After`.
    pub fn admit_volume(
        &self,
        slot: &LimitSlot,
        project: ProjectId,
        family: ApiFamily,
        volume: u64,
    ) -> Result<(), ApiError> {
        self.settle(slot, self.check_cost(project, family, 0, volume))
    }

    #[allow(clippy::type_complexity)]
    fn settle(
        &self,
        slot: &LimitSlot,
        verdict: Result<(Option<RateStatus>, Option<Permit>), (Option<RateStatus>, Refusal)>,
    ) -> Result<(), ApiError> {
        match verdict {
            Ok((status, permit)) => {
                slot.record(status, permit, None);
                Ok(())
            }
            Err((status, refusal)) => {
                let retry_after = (refusal.error.code == ErrorCode::RateLimited).then_some(refusal.retry_after);
                slot.record(status, None, retry_after);
                Err(refusal.error)
            }
        }
    }

    /// The decision for one request carrying `volume`.
    #[allow(clippy::type_complexity)]
    pub fn check(
        &self,
        project: ProjectId,
        family: ApiFamily,
        volume: u64,
    ) -> Result<(Option<RateStatus>, Option<Permit>), (Option<RateStatus>, Refusal)> {
        self.check_cost(project, family, 1, volume)
    }

    /// The decision for `requests` (1, or 0 for more volume of an admitted request)
    /// carrying `volume`.
    #[allow(clippy::type_complexity)]
    fn check_cost(
        &self,
        project: ProjectId,
        family: ApiFamily,
        requests: u64,
        volume: u64,
    ) -> Result<(Option<RateStatus>, Option<Permit>), (Option<RateStatus>, Refusal)> {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut states = self.state.lock();
        let state =
            states.entry((project, family)).or_insert_with(|| FamilyState::new(&self.limits_of(project, family)));
        for w in &mut state.windows {
            w.expire(now);
        }
        if let Some(w) = state.windows.iter().find(|w| w.window.cost(requests, volume) > w.window.limit) {
            let error = ApiError::new(ErrorCode::InvalidRequest, too_large_message(family, w.window, volume));
            return Err((state.status(now, wall), Refusal { retry_after: 0, error }));
        }
        let over = state
            .windows
            .iter()
            .filter_map(|w| w.wait_for(w.window.cost(requests, volume), now).map(|wait| (w.window, wait)))
            .max_by_key(|(_, wait)| *wait);
        if let Some((window, wait)) = over {
            let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let error =
                ApiError::new(ErrorCode::RateLimited, over_window_message(family, project, window, retry_after.max(1)));
            return Err((state.status(now, wall), Refusal { retry_after: retry_after.max(1), error }));
        }
        let permit = match state.concurrent {
            Some(_) if requests == 0 => None,
            Some(cap) => {
                if state.in_flight.load(Ordering::Acquire) >= cap {
                    let error = ApiError::new(
                        ErrorCode::RateLimited,
                        format!(
                            "too many concurrent {} requests for project {project}: at most {cap} at once; retry when one finishes",
                            family_noun(family)
                        ),
                    );
                    return Err((state.status(now, wall), Refusal { retry_after: 1, error }));
                }
                state.in_flight.fetch_add(1, Ordering::AcqRel);
                Some(Permit(state.in_flight.clone()))
            }
            None => None,
        };
        for w in &mut state.windows {
            w.add(w.window.cost(requests, volume), now);
        }
        Ok((state.status(now, wall), permit))
    }
}

fn family_noun(family: ApiFamily) -> &'static str {
    match family {
        ApiFamily::Ingestion => "ingestion",
        ApiFamily::Query => "query",
        ApiFamily::Export => "export",
        ApiFamily::Jql => "JQL",
        ApiFamily::Flags => "feature flag",
        ApiFamily::Gdpr => "GDPR",
        ApiFamily::Pipelines => "data pipelines",
        ApiFamily::Lexicon => "Lexicon",
        ApiFamily::LookupTables => "lookup table replace",
        ApiFamily::App => "App API",
    }
}

fn too_large_message(family: ApiFamily, w: Window, volume: u64) -> String {
    let what = match w.unit {
        Unit::Requests => "requests",
        Unit::Bytes => "bytes of uncompressed data",
        Unit::Items => "schema entries and properties",
    };
    format!(
        "this {} request alone carries {volume} {what}, more than the {} allowed in any {} s: split it",
        family_noun(family),
        w.limit,
        w.seconds
    )
}

fn over_window_message(family: ApiFamily, project: ProjectId, w: Window, retry_after: u64) -> String {
    let per = match w.seconds {
        1 => "second".to_string(),
        60 => "minute".to_string(),
        3600 => "hour".to_string(),
        86_400 => "24 hours".to_string(),
        s => format!("{s} seconds"),
    };
    let what = match w.unit {
        Unit::Requests => format!("{} requests", w.limit),
        Unit::Bytes => format!("{} bytes of uncompressed data", w.limit),
        Unit::Items => format!("{} schema entries and properties", w.limit),
    };
    format!(
        "{} rate limit exceeded for project {project}: at most {what} per rolling {per}; retry in {retry_after} s",
        family_noun(family)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::config::RateLimitsFile;

    fn limiter(text: &str) -> Limiter {
        let file: RateLimitsFile = toml::from_str(text).unwrap();
        Limiter::new(RateLimits::from_file(&file).unwrap())
    }

    #[test]
    fn a_projects_own_limits_apply_at_once_and_keep_what_was_counted() {
        let limiter = limiter("[default.app]\nper_minute = 3");
        let slot = LimitSlot::default();
        let p = ProjectId(4);
        for _ in 0..2 {
            limiter.admit(&slot, p, ApiFamily::App, 0).unwrap();
        }
        let own = ProjectLimits::from([(ApiFamily::App, FamilyLimits { per_minute: Some(2), ..Default::default() })]);
        assert!(limiter.set_project_limits(p, own.clone()));
        assert!(!limiter.set_project_limits(p, own), "unchanged");
        assert!(limiter.admit(&slot, p, ApiFamily::App, 0).is_err(), "two used of the new two");
        limiter.load_project_limits(Vec::new());
        assert_eq!(limiter.limits_of(p, ApiFamily::App).per_minute, Some(3), "back to the configuration's");
        limiter.admit(&slot, p, ApiFamily::App, 0).unwrap();
        let lifted =
            ProjectLimits::from([(ApiFamily::App, FamilyLimits { per_minute: Some(0), ..Default::default() })]);
        limiter.load_project_limits(vec![(p, lifted)]);
        for _ in 0..10 {
            limiter.admit(&slot, p, ApiFamily::App, 0).unwrap();
        }
    }

    #[test]
    fn a_window_counts_down_then_refuses_with_a_wait() {
        let l = limiter("");
        let p = ProjectId(1);
        let mut permits = vec![];
        for expected in [2, 1, 0] {
            let (status, permit) = l.check(p, ApiFamily::Export, 1).unwrap();
            assert_eq!(status.unwrap().remaining, expected);
            permits.push(permit);
        }
        let (_, refusal) = l.check(p, ApiFamily::Export, 1).unwrap_err();
        assert_eq!(refusal.retry_after, 1);
        assert_eq!(refusal.error.code, ErrorCode::RateLimited);
        // Other projects and families are not affected.
        assert!(l.check(ProjectId(2), ApiFamily::Export, 1).is_ok());
        assert!(l.check(p, ApiFamily::Query, 1).is_ok());
    }

    #[test]
    fn concurrency_is_refused_at_once_and_released_on_drop() {
        let l = limiter("[default.query]\nconcurrent = 1\nper_hour = 0");
        let p = ProjectId(1);
        let (_, first) = l.check(p, ApiFamily::Query, 1).unwrap();
        assert!(l.check(p, ApiFamily::Query, 1).is_err());
        drop(first);
        assert!(l.check(p, ApiFamily::Query, 1).is_ok());
    }

    #[test]
    fn bytes_count_for_ingestion() {
        let l = limiter("[default.ingestion]\nbytes_per_minute = 1000");
        let p = ProjectId(1);
        assert!(l.check(p, ApiFamily::Ingestion, 600).is_ok());
        let (status, refusal) = l.check(p, ApiFamily::Ingestion, 600).unwrap_err();
        assert_eq!(status.unwrap().remaining, 400);
        assert!((59..=60).contains(&refusal.retry_after), "{}", refusal.retry_after);
        assert!(l.check(p, ApiFamily::Ingestion, 400).is_ok());
    }

    #[test]
    fn a_request_window_counts_requests_beside_a_volume_window() {
        let l = limiter("");
        let p = ProjectId(1);
        let (status, _) = l.check(p, ApiFamily::Lexicon, 3_000).unwrap();
        assert_eq!(status.unwrap().remaining, 4, "5 requests a minute, one used; 1,000 items left is more");
        let (_, refusal) = l.check(p, ApiFamily::Lexicon, 1_001).unwrap_err();
        assert!(refusal.error.message.contains("4000 schema entries and properties"), "{}", refusal.error.message);
        let (_, refusal) = l.check(p, ApiFamily::Lexicon, 4_001).unwrap_err();
        assert_eq!(refusal.error.code, ErrorCode::InvalidRequest, "more than a window holds can never pass");
        for _ in 0..4 {
            l.check(p, ApiFamily::Lexicon, 1).unwrap();
        }
        let (_, refusal) = l.check(p, ApiFamily::Lexicon, 0).unwrap_err();
        assert!(refusal.error.message.contains("5 requests"), "{}", refusal.error.message);
        assert!((59..=60).contains(&refusal.retry_after));
    }

    #[test]
    fn no_limits_means_no_status() {
        let l = limiter("[default.gdpr]\nper_second = 0");
        let (status, permit) = l.check(ProjectId(1), ApiFamily::Gdpr, 1).unwrap();
        assert!(status.is_none() && permit.is_none());
        let _ = FamilyLimits::default();
    }
}
