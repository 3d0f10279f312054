//! The limits' counts shared by every server on one PostgreSQL database.
//!
//! Each key counts in fixed windows (one row per key and window); a window's
//! estimate adds the failures of the window before, weighted by how much of
//! it still overlaps the sliding window, so the limit slides instead of
//! resetting at a boundary. Reservations are taken with one atomic UPSERT
//! before the password is checked, exactly like the in-process counts: of
//! attempts arriving at once on any number of servers, at most the limit
//! are verified. Settling (failed, given back) is sent in the background so
//! a login does not wait for it.

use super::Refused;
use curatore_persistence::{PersistenceError, RateLimitWindows, Settlement};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Expired rows are purged once every this many reservations…
const PURGE_EVERY: u64 = 256;
/// …at most this many at a time.
const PURGE_BATCH: u32 = 500;
/// How often an attempt waiting for room asks again.
const POLL: Duration = Duration::from_millis(25);

/// One reserved key: its window's key and the window before's.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    key: String,
    previous: String,
}

/// What the shared counts say to one more attempt.
#[derive(Debug)]
pub(crate) enum Shared {
    /// Reserved, with the estimated attempts under the unlimited keys
    /// before this one (for the slowdown).
    Admitted(Vec<Slot>, usize),
    Refused(Duration),
    /// Attempts in flight fill a limit: ask again shortly.
    Full,
}

/// The shared counts of one limiter.
#[derive(Debug, Clone)]
pub(crate) struct SharedCounts {
    store: RateLimitWindows,
    window: Duration,
    reservations: Arc<AtomicU64>,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

impl SharedCounts {
    pub(crate) fn new(store: RateLimitWindows, window: Duration) -> Self {
        Self {
            store,
            window: window.max(Duration::from_secs(1)),
            reservations: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The slot of `name` now, how much of the window before still
    /// overlaps the sliding window (0..=1), the row's expiry and the time
    /// left in the window.
    fn slot(&self, name: &str) -> (Slot, f64, i64, Duration) {
        let window = self.window.as_millis().max(1);
        let now = now_ms();
        let start = now / window * window;
        let elapsed = now - start;
        let overlap = 1.0 - elapsed as f64 / window as f64;
        // The row is read as "the window before" for one more window.
        let expires_at = i64::try_from((start + 2 * window) / 1000 + 1).unwrap_or(i64::MAX);
        let left = Duration::from_millis(u64::try_from(window - elapsed).unwrap_or(0));
        let slot = Slot {
            key: format!("{name}|{start}"),
            previous: format!("{name}|{}", start.saturating_sub(window)),
        };
        (slot, overlap, expires_at, left)
    }

    /// Reserves an attempt under every `(name, limit)`; a `None` limit only
    /// counts. Refused or full, whatever was reserved is given back.
    pub(crate) async fn reserve(
        &self,
        names: &[(String, Option<u32>)],
    ) -> Result<Shared, PersistenceError> {
        self.maybe_purge();
        let mut slots = Vec::with_capacity(names.len());
        let mut earlier = 0;
        for (name, limit) in names {
            let (slot, overlap, expires_at, left) = self.slot(name);
            let counts = self
                .store
                .reserve(&slot.key, &slot.previous, expires_at, false)
                .await;
            let counts = match counts {
                Ok(counts) => counts,
                Err(err) => {
                    self.settle(slots.into_iter().map(|s| (s, Settlement::GiveBack)));
                    return Err(err);
                }
            };
            let carried = (f64::from(counts.previous_failures) * overlap).floor() as usize;
            let failures = counts.failures as usize + carried;
            let attempts = counts.attempts as usize + carried;
            slots.push(slot);
            let verdict = match limit {
                None => {
                    earlier = earlier.max(attempts.saturating_sub(1));
                    None
                }
                Some(limit) if failures >= *limit as usize => {
                    Some(Shared::Refused(left.max(Duration::from_secs(1))))
                }
                Some(limit) if attempts > *limit as usize => Some(Shared::Full),
                Some(_) => None,
            };
            if let Some(verdict) = verdict {
                self.settle(slots.into_iter().map(|s| (s, Settlement::GiveBack)));
                return Ok(verdict);
            }
        }
        Ok(Shared::Admitted(slots, earlier))
    }

    /// [`SharedCounts::reserve`], waiting (polling) while attempts in flight
    /// fill a limit, at most until `deadline`. A database failure admits
    /// (the in-process counts still apply) and is logged.
    pub(crate) async fn reserve_waiting(
        &self,
        names: &[(String, Option<u32>)],
        deadline: tokio::time::Instant,
    ) -> Result<(Vec<Slot>, usize), Refused> {
        loop {
            match self.reserve(names).await {
                Ok(Shared::Admitted(slots, earlier)) => return Ok((slots, earlier)),
                Ok(Shared::Refused(retry_after)) => return Err(Refused { retry_after }),
                Ok(Shared::Full) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "shared rate-limit counts unavailable; counting in this process only");
                    return Ok((Vec::new(), 0));
                }
            }
            if tokio::time::Instant::now() + POLL >= deadline {
                return Err(Refused {
                    retry_after: Duration::from_secs(1),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Settles reservations in the background (nothing waits for it).
    pub(crate) fn settle(&self, slots: impl IntoIterator<Item = (Slot, Settlement)>) {
        let slots: Vec<_> = slots.into_iter().collect();
        if slots.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        runtime.spawn(async move {
            for (slot, how) in slots {
                if let Err(err) = store.settle(&slot.key, &slot.previous, how).await {
                    tracing::warn!(error = %err, "could not settle a shared rate-limit count");
                }
            }
        });
    }

    /// Settles reservations and waits for it (registrations count at once).
    pub(crate) async fn settle_now(&self, slots: Vec<Slot>, how: Settlement) {
        for slot in slots {
            if let Err(err) = self.store.settle(&slot.key, &slot.previous, how).await {
                tracing::warn!(error = %err, "could not settle a shared rate-limit count");
            }
        }
    }

    /// Every [`PURGE_EVERY`] reservations, deletes a batch of expired rows
    /// in the background.
    fn maybe_purge(&self) {
        if !self
            .reservations
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(PURGE_EVERY)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        let now = i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX);
        runtime.spawn(async move {
            if let Err(err) = store.purge_expired(now, PURGE_BATCH).await {
                tracing::warn!(error = %err, "could not purge expired rate-limit counts");
            }
        });
    }
}
