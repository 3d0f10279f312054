//! Failed-login limits per account and per client address (sliding window).
//!
//! In-process: one server process sees all of its own attempts. Several
//! processes behind a load balancer would each keep their own counts (so the
//! effective limit multiplies by the number of processes); sharing them
//! needs a shared store such as Redis or a database table.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failures are tolerated, and over how long.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures for one account within the window before it is refused.
    pub per_account: u32,
    /// Failures from one client address within the window before it is refused.
    pub per_ip: u32,
    /// The sliding window.
    pub window: Duration,
}

/// Beyond this many tracked keys, expired ones are swept on insert.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug)]
pub(crate) struct LoginLimiter {
    limits: LoginLimits,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub(crate) fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn account_key(login: &str) -> String {
        format!("a:{}", login.trim().to_lowercase())
    }

    fn ip_key(ip: IpAddr) -> String {
        format!("i:{ip}")
    }

    /// `Some(wait)` when either limit is reached: refuse until `wait` passes.
    pub(crate) fn blocked(&self, login: &str, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = None::<Duration>;
        for (key, limit) in [
            (Self::account_key(login), self.limits.per_account),
            (Self::ip_key(ip), self.limits.per_ip),
        ] {
            if let Some(times) = map.get_mut(&key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.limits.window)
                {
                    times.pop_front();
                }
                if times.len() >= limit as usize
                    && let Some(oldest) = times.front()
                {
                    let left = self.limits.window - now.duration_since(*oldest);
                    wait = Some(wait.map_or(left, |w| w.max(left)));
                }
            }
        }
        wait
    }

    pub(crate) fn record_failure(&self, login: &str, ip: IpAddr) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > SWEEP_ABOVE {
            let window = self.limits.window;
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        for key in [Self::account_key(login), Self::ip_key(ip)] {
            map.entry(key).or_default().push_back(now);
        }
    }

    /// A successful login clears the account's failures (not the address's).
    pub(crate) fn record_success(&self, login: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&Self::account_key(login));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_account_limit_and_clears_on_success() {
        let l = LoginLimiter::new(LoginLimits {
            per_account: 2,
            per_ip: 10,
            window: Duration::from_secs(60),
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(l.blocked("Alice", ip).is_none());
        l.record_failure("alice", ip);
        l.record_failure("ALICE ", ip);
        let wait = l.blocked("alice", ip).expect("blocked");
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(l.blocked("bob", ip).is_none(), "other accounts unaffected");
        l.record_success("alice");
        assert!(l.blocked("alice", ip).is_none());
    }

    #[test]
    fn blocks_an_address_across_accounts() {
        let l = LoginLimiter::new(LoginLimits {
            per_account: 100,
            per_ip: 3,
            window: Duration::from_secs(60),
        });
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        for name in ["a", "b", "c"] {
            l.record_failure(name, ip);
        }
        assert!(l.blocked("d", ip).is_some());
        assert!(l.blocked("d", "2001:db8::2".parse().unwrap()).is_none());
    }
}
