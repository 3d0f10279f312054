//! 429s in the audit trail, sampled: the first refusal of a client address
//! by a limit in each minute is recorded, with how many went unrecorded
//! before it; the rest are only counted. A flood of refused requests never
//! becomes a flood of writes (on SQLite every write takes the one write turn).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One record per client address and limit per window.
const WINDOW: Duration = Duration::from_secs(60);

/// Addresses remembered at most; past it, expired windows are dropped, and
/// while every window is current new addresses are counted, not recorded.
const MAX_ADDRESSES: usize = 10_000;

struct Window {
    started: Instant,
    unrecorded: u64,
}

/// Which refusals the audit trail records.
#[derive(Default)]
pub(crate) struct RefusalSampler {
    windows: Mutex<HashMap<(IpAddr, &'static str), Window>>,
}

impl RefusalSampler {
    /// `Some(n)` when this refusal is to be recorded (`n` refusals of the
    /// same address and limit went unrecorded since the last record);
    /// `None` when it is only counted.
    pub(crate) fn sample(&self, ip: IpAddr, limit: &'static str) -> Option<u64> {
        self.sample_at(ip, limit, Instant::now())
    }

    fn sample_at(&self, ip: IpAddr, limit: &'static str, now: Instant) -> Option<u64> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = windows.get_mut(&(ip, limit)) {
            if now.duration_since(w.started) < WINDOW {
                w.unrecorded += 1;
                return None;
            }
            let unrecorded = w.unrecorded;
            *w = Window {
                started: now,
                unrecorded: 0,
            };
            return Some(unrecorded);
        }
        if windows.len() >= MAX_ADDRESSES {
            windows.retain(|_, w| now.duration_since(w.started) < WINDOW);
            if windows.len() >= MAX_ADDRESSES {
                return None;
            }
        }
        windows.insert(
            (ip, limit),
            Window {
                started: now,
                unrecorded: 0,
            },
        );
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_refusal_of_a_window_is_recorded_with_the_count_before_it() {
        let s = RefusalSampler::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let t0 = Instant::now();
        assert_eq!(s.sample_at(ip, "login", t0), Some(0));
        for _ in 0..5 {
            assert_eq!(s.sample_at(ip, "login", t0 + Duration::from_secs(1)), None);
        }
        assert_eq!(s.sample_at(ip, "registration", t0), Some(0), "per limit");
        assert_eq!(s.sample_at(ip, "login", t0 + WINDOW), Some(5));
        assert_eq!(s.sample_at(ip, "login", t0 + WINDOW), None);
    }
}
