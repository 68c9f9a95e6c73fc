//! When a failed call is tried again, and how long the client waits first.
//!
//! - A 429 is always retried: the server refused the request before doing any of it.
//! - A 5xx, and a connection lost mid-request, only when the call is idempotent (a
//!   query, an export, an `/import` whose every event has an `$insert_id`): a request
//!   the server may have carried out (an ingestion request past its deadline may still
//!   commit) is never sent twice otherwise. A 503 is retried only when it says when
//!   (`Retry-After`): one without it is a query that ran out of time, and would again.
//! - A connection that could not be opened at all is always retried (nothing was sent).
//! - A 4xx other than 429 never is: the same request would fail the same way.
//!
//! The wait is exponential backoff with full jitter (a uniform draw between zero and
//! `base * 2^attempt`, capped), so that clients refused together do not come back
//! together; a `Retry-After` is a floor under it. A budget bounds the whole call: at
//! most [`RetryPolicy::max_attempts`] attempts and [`RetryPolicy::max_elapsed`] from
//! its start (attempts and waits alike); a `Retry-After` that would go past the budget
//! ends the call at once.

use std::time::Duration;

/// The retry settings of a client.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (1: never retry).
    pub max_attempts: u32,
    /// The backoff's first step.
    pub base_delay: Duration,
    /// The longest single wait the backoff draws (a `Retry-After` may ask for more).
    pub max_delay: Duration,
    /// The most time one call may take before its last attempt starts.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// 6 attempts, 250 ms doubling up to 30 s, at most 2 minutes of waiting: long
    /// enough for a per-second or per-minute rate limit to refill.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// The backoff before attempt `attempt + 1` (`attempt` counts from 1), drawn with
    /// `unit`, a number in `[0, 1)`.
    pub fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(self.max_delay);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// How long to wait before the next attempt, or `None` when the call ends here:
    /// `attempt` attempts made, `waited` since the call started, and the failure's
    /// verdict.
    pub fn next_wait(&self, attempt: u32, waited: Duration, verdict: Verdict, unit: f64) -> Option<Duration> {
        let floor = match verdict {
            Verdict::Final => return None,
            Verdict::Retry { after } => after.unwrap_or_default(),
        };
        if attempt >= self.max_attempts {
            return None;
        }
        let wait = floor + self.backoff(attempt, unit);
        // A wait the budget cannot cover ends the call now, with the server's answer,
        // rather than sleeping and failing anyway.
        (waited + floor <= self.max_elapsed).then(|| wait.min(self.max_elapsed.saturating_sub(waited)).max(floor))
    }
}

/// What a failure allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Tried again, not before `after` when the server said so.
    Retry {
        /// The server's `Retry-After`.
        after: Option<Duration>,
    },
    /// The call ends with this failure.
    Final,
}

/// The verdict on an HTTP status (not a success) for a call that is or is not
/// idempotent, with the answer's `Retry-After`.
pub fn on_status(status: u16, idempotent: bool, retry_after: Option<Duration>) -> Verdict {
    match status {
        429 => Verdict::Retry { after: retry_after },
        503 if idempotent && retry_after.is_some() => Verdict::Retry { after: retry_after },
        500..=599 if idempotent && status != 503 => Verdict::Retry { after: retry_after },
        _ => Verdict::Final,
    }
}

/// The verdict on a transport failure: `connect` when no connection was made.
pub fn on_transport(connect: bool, idempotent: bool) -> Verdict {
    if connect || idempotent { Verdict::Retry { after: None } } else { Verdict::Final }
}

/// A `Retry-After` header's delay: seconds (an HTTP date is not sent by Sextant and
/// is read as absent).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_retried() {
        let after = Some(Duration::from_secs(2));
        assert_eq!(on_status(429, false, after), Verdict::Retry { after });
        assert_eq!(on_status(503, true, after), Verdict::Retry { after });
        // A write past its deadline may still commit; a query past it would run out again.
        assert_eq!(on_status(503, false, after), Verdict::Final);
        assert_eq!(on_status(503, true, None), Verdict::Final);
        assert_eq!(on_status(500, false, None), Verdict::Final);
        assert_eq!(on_status(502, true, None), Verdict::Retry { after: None });
        for status in [400, 401, 403, 404, 409, 413] {
            assert_eq!(on_status(status, true, after), Verdict::Final, "{status}");
        }
        assert_eq!(on_transport(true, false), Verdict::Retry { after: None });
        assert_eq!(on_transport(false, false), Verdict::Final);
        assert_eq!(on_transport(false, true), Verdict::Retry { after: None });
    }

    #[test]
    fn backoff_is_full_jitter_under_a_doubling_ceiling() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 0.0), Duration::ZERO);
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(250));
        assert_eq!(p.backoff(3, 1.0), Duration::from_secs(1));
        assert_eq!(p.backoff(3, 0.5), Duration::from_millis(500));
        assert_eq!(p.backoff(30, 1.0), p.max_delay);
    }

    #[test]
    fn the_budget_ends_a_call() {
        let p = RetryPolicy { max_attempts: 3, max_elapsed: Duration::from_secs(10), ..RetryPolicy::default() };
        let retry = |s| Verdict::Retry { after: Some(Duration::from_secs(s)) };
        // Retry-After is a floor.
        assert!(p.next_wait(1, Duration::ZERO, retry(2), 0.5).unwrap() >= Duration::from_secs(2));
        // Attempts run out.
        assert_eq!(p.next_wait(3, Duration::ZERO, retry(1), 0.5), None);
        // A wait past the budget ends the call at once.
        assert_eq!(p.next_wait(1, Duration::from_secs(9), retry(2), 0.5), None);
        assert_eq!(p.next_wait(1, Duration::ZERO, Verdict::Final, 0.5), None);
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
