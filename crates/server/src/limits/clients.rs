//! Failures charged to the client address that caused them.
//!
//! A request that fails authentication (401, 403) costs the server a credential check
//! and, for ingestion, reading and decoding a body, yet names no project whose limits
//! could be charged. So each client address has a budget of failures, a token bucket
//! (`burst` failures, refilled at `per_second`, [`ClientFailureLimits`]); an address
//! that has spent it gets 429 with `Retry-After` before anything of its request is read.
//! A flood of bad credentials from one address then costs a map lookup per request, and
//! cannot keep the blocking pool busy for everyone else. Well-behaved clients never
//! fail this often.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::config::ClientFailureLimits;

/// Addresses remembered at most; past it, those whose budget is full again are forgotten.
const MAX_ADDRESSES: usize = 100_000;

/// The failure budgets of every client address.
#[derive(Debug)]
pub struct ClientBudgets {
    burst: f64,
    per_second: f64,
    budgets: Mutex<HashMap<IpAddr, Budget>>,
}

#[derive(Clone, Copy, Debug)]
struct Budget {
    left: f64,
    at: Instant,
}

impl ClientBudgets {
    /// Budgets of `limits`; none at all when either figure is 0.
    pub fn new(limits: ClientFailureLimits) -> ClientBudgets {
        ClientBudgets {
            burst: limits.burst as f64,
            per_second: limits.per_second as f64,
            budgets: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        self.burst > 0.0 && self.per_second > 0.0
    }

    /// `b` brought up to `now`.
    fn refilled(&self, b: Budget, now: Instant) -> Budget {
        let earned = now.saturating_duration_since(b.at).as_secs_f64() * self.per_second;
        Budget { left: (b.left + earned).min(self.burst), at: now }
    }

    /// `Err(wait)` when `client` has spent its budget: how long until one failure is
    /// allowed again.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        if !self.enabled() {
            return Ok(());
        }
        let now = Instant::now();
        match self.budgets.lock().get(&client).map(|b| self.refilled(*b, now)) {
            Some(b) if b.left < 1.0 => {
                Err(Duration::from_secs_f64((1.0 - b.left) / self.per_second).max(Duration::from_secs(1)))
            }
            _ => Ok(()),
        }
    }

    /// Charges one failure to `client`.
    pub fn charge(&self, client: IpAddr) {
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        let mut budgets = self.budgets.lock();
        if budgets.len() >= MAX_ADDRESSES && !budgets.contains_key(&client) {
            budgets.retain(|_, b| self.refilled(*b, now).left < self.burst);
        }
        let b = budgets.entry(client).or_insert(Budget { left: self.burst, at: now });
        *b = self.refilled(*b, now);
        b.left = (b.left - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_that_keeps_failing_is_stopped_and_others_are_not() {
        let budgets = ClientBudgets::new(ClientFailureLimits::default());
        let (bad, good): (IpAddr, IpAddr) = ("198.51.100.7".parse().unwrap(), "198.51.100.8".parse().unwrap());
        for _ in 0..ClientFailureLimits::default().burst {
            assert!(budgets.check(bad).is_ok());
            budgets.charge(bad);
        }
        let wait = budgets.check(bad).unwrap_err();
        assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(2), "{wait:?}");
        assert!(budgets.check(good).is_ok());
        budgets.charge(good);
        assert!(budgets.check(good).is_ok());
    }

    #[test]
    fn a_zero_turns_the_budget_off() {
        let budgets = ClientBudgets::new(ClientFailureLimits { burst: 0, per_second: 10 });
        let client: IpAddr = "198.51.100.9".parse().unwrap();
        for _ in 0..1000 {
            budgets.charge(client);
        }
        assert!(budgets.check(client).is_ok());
    }
}
