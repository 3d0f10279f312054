//! Login and registration limits: sliding windows of attempts, in process.
//!
//! A login attempt is counted (reserved) *before* its password is checked,
//! with the check of the limit and the reservation under one lock, so however
//! many attempts arrive at once, at most the limit are verified. While a
//! reservation is in flight it holds its place; when the limit is reached
//! only because of attempts still in flight, a new attempt waits (at most
//! [`WAIT_CAP`]) for them to finish instead of being refused, so parallel
//! logins with the right password are served, one limit's worth at a time.
//! A successful login gives its reservation back; a failed one keeps it.
//!
//! Login budgets (a client address is an IPv4 address or an IPv6 network,
//! see [`ClientNetworks`]):
//! - per client address, across accounts (`per_ip`);
//! - per (account, client address) pair (`per_account`): a guesser locks out
//!   their own address, never the account's owner elsewhere;
//! - per account, across addresses: once `per_account` attempts are in the
//!   window, every further attempt on the account waits a growing, bounded
//!   delay before it is verified (failures spread over many addresses slow
//!   the account down instead of refusing its owner).
//!
//! The account is the user's id when the login names a user (so username
//! and e-mail share one budget), else the normalised login string.
//!
//! In process, and on PostgreSQL also shared: one server process sees all
//! of its own attempts; with several servers on one PostgreSQL database the
//! same budgets are also kept in the database ([`shared`]), reserved with
//! the same reserve-before-verify rule, so attempts spread over servers are
//! refused at the limit in total. Each attempt must pass both counts.

mod networks;
mod shared;

pub use networks::{ClientNetworks, DEFAULT_IPV6_PREFIX};
pub(crate) use shared::SharedCounts;
use shared::Slot;

use curatore_domain::UserId;
use curatore_persistence::Settlement;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How many failures are tolerated, and over how long.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures for one account from one client address within the window
    /// before that address is refused for that account.
    pub per_account: u32,
    /// Failures from one client address within the window before it is refused.
    pub per_ip: u32,
    /// The sliding window.
    pub window: Duration,
}

/// How many registrations one client address may attempt, and over how long.
#[derive(Debug, Clone, Copy)]
pub struct RegistrationLimits {
    /// Attempts from one client address within the window.
    pub per_ip: u32,
    /// The sliding window.
    pub window: Duration,
}

/// The first delay once an account is under attack from several addresses;
/// each further attempt in the window doubles it, up to [`SLOWDOWN_CAP`].
const SLOWDOWN_BASE: Duration = Duration::from_millis(250);
/// The longest an attempt on an account under attack waits before it is verified.
const SLOWDOWN_CAP: Duration = Duration::from_secs(4);
/// The longest an attempt waits for attempts in flight to leave it room.
const WAIT_CAP: Duration = Duration::from_secs(5);

/// Beyond this many tracked keys, expired ones are swept on insert.
const SWEEP_ABOVE: usize = 10_000;

/// An attempt refused by a limit: retry after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) retry_after: Duration,
}

/// What a limit says to one more attempt right now.
#[derive(Debug)]
enum Admission<T> {
    Admitted(T),
    /// The failures alone reach the limit.
    Refused(Duration),
    /// Attempts in flight fill the limit: ask again when one finishes.
    Full,
}

/// One counted attempt in a window.
#[derive(Debug)]
struct Entry {
    at: Instant,
    id: u64,
    ip: IpAddr,
    /// Reserved, and not yet known to have failed.
    in_flight: bool,
}

/// Sliding windows of attempts per key.
#[derive(Debug)]
struct Windows<K> {
    window: Duration,
    next_id: u64,
    map: HashMap<K, VecDeque<Entry>>,
}

impl<K: Hash + Eq + Clone> Windows<K> {
    fn new(window: Duration) -> Self {
        Self {
            window,
            next_id: 0,
            map: HashMap::new(),
        }
    }

    /// The attempts of `key` inside the window: all of them, and the failed.
    fn count(&mut self, key: &K, now: Instant) -> (usize, usize) {
        let window = self.window;
        self.map.get_mut(key).map_or((0, 0), |entries| {
            while entries
                .front()
                .is_some_and(|e| now.duration_since(e.at) >= window)
            {
                entries.pop_front();
            }
            let failed = entries.iter().filter(|e| !e.in_flight).count();
            (entries.len(), failed)
        })
    }

    /// Whether one more attempt under `key` fits in `limit`.
    fn admit(&mut self, key: &K, limit: u32, now: Instant) -> Admission<()> {
        let (all, failed) = self.count(key, now);
        if failed >= limit as usize {
            Admission::Refused(self.retry_after(key, now))
        } else if all >= limit as usize {
            Admission::Full
        } else {
            Admission::Admitted(())
        }
    }

    /// How long until the oldest failure of `key` leaves the window.
    fn retry_after(&self, key: &K, now: Instant) -> Duration {
        self.map
            .get(key)
            .and_then(|entries| entries.iter().find(|e| !e.in_flight))
            .map_or(Duration::ZERO, |e| {
                self.window.saturating_sub(now.duration_since(e.at))
            })
    }

    /// Counts an attempt under every key in `keys`, with one id.
    fn push(&mut self, keys: &[K], ip: IpAddr, in_flight: bool, now: Instant) -> u64 {
        if self.map.len() > SWEEP_ABOVE {
            let window = self.window;
            self.map.retain(|_, entries| {
                entries
                    .back()
                    .is_some_and(|e| now.duration_since(e.at) < window)
            });
        }
        self.next_id += 1;
        let id = self.next_id;
        for key in keys {
            self.map.entry(key.clone()).or_default().push_back(Entry {
                at: now,
                id,
                ip,
                in_flight,
            });
        }
        id
    }

    /// Drops the entries of `key` that `remove` selects.
    fn remove(&mut self, key: &K, remove: impl Fn(&Entry) -> bool) {
        if let Some(entries) = self.map.get_mut(key) {
            entries.retain(|e| !remove(e));
            if entries.is_empty() {
                self.map.remove(key);
            }
        }
    }

    /// Marks the attempt `id` under `key` as failed.
    fn settle(&mut self, key: &K, id: u64) {
        if let Some(entry) = self
            .map
            .get_mut(key)
            .and_then(|entries| entries.iter_mut().find(|e| e.id == id))
        {
            entry.in_flight = false;
        }
    }
}

/// Whom a login attempt is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Account {
    /// The login named this user (by username or e-mail).
    User(UserId),
    /// No such user: the login, trimmed and lower-cased.
    Unknown(String),
}

impl Account {
    /// The account for a login that names no user.
    pub(crate) fn unknown(login: &str) -> Self {
        Self::Unknown(login.trim().to_lowercase())
    }

    /// How the shared counts name it.
    fn shared_name(&self) -> String {
        match self {
            Self::User(id) => format!("u:{}", id.as_uuid()),
            Self::Unknown(login) => format!("n:{login}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LoginKey {
    Ip(IpAddr),
    Account(Account),
    Pair(Account, IpAddr),
}

#[derive(Debug)]
struct Shared {
    limits: LoginLimits,
    networks: ClientNetworks,
    /// The counts every server on the database shares (PostgreSQL).
    counts: Option<SharedCounts>,
    windows: Mutex<Windows<LoginKey>>,
    /// Woken whenever an attempt in flight finishes or gives its place back.
    finished: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Windows<LoginKey>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An attempt counted against its client address only (the account is not
/// known yet). Dropped without [`LoginLimiter::reserve_account`] taking it,
/// it gives its place back: nothing was verified.
#[derive(Debug)]
pub(crate) struct IpReservation {
    shared: Arc<Shared>,
    ip: IpAddr,
    id: u64,
    taken: bool,
    /// Its place in the shared counts.
    slots: Vec<Slot>,
}

impl Drop for IpReservation {
    fn drop(&mut self) {
        if !self.taken {
            if let Some(counts) = &self.shared.counts {
                let slots = std::mem::take(&mut self.slots);
                counts.settle(slots.into_iter().map(|s| (s, Settlement::GiveBack)));
            }
            self.shared
                .lock()
                .remove(&LoginKey::Ip(self.ip), |e| e.id == self.id);
            self.shared.finished.notify_waiters();
        }
    }
}

/// An attempt counted against its address, its account and the pair.
/// Dropped without [`LoginAttempt::succeeded`] or [`LoginAttempt::abandon`],
/// it counts as a failure.
#[derive(Debug)]
pub(crate) struct LoginAttempt {
    shared: Arc<Shared>,
    ip: IpAddr,
    ip_id: u64,
    account: Account,
    id: u64,
    /// Wait this long before verifying: the account is under attack.
    pub(crate) delay: Duration,
    settled: bool,
    /// Its places in the shared counts: the address's, the pair's, the account's.
    slots: Vec<(Slot, SlotKind)>,
}

/// Which key a shared slot counts under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotKind {
    Ip,
    Pair,
    Whole,
}

impl LoginAttempt {
    fn pair(&self) -> LoginKey {
        LoginKey::Pair(self.account.clone(), self.ip)
    }

    fn whole(&self) -> LoginKey {
        LoginKey::Account(self.account.clone())
    }

    fn settle_with(
        mut self,
        change: impl FnOnce(&mut Windows<LoginKey>, &Self),
        how: impl Fn(SlotKind) -> Settlement,
    ) {
        self.settled = true;
        change(&mut self.shared.lock(), &self);
        self.settle_shared(how);
        self.shared.finished.notify_waiters();
    }

    fn settle_shared(&mut self, how: impl Fn(SlotKind) -> Settlement) {
        if let Some(counts) = &self.shared.counts {
            let slots = std::mem::take(&mut self.slots);
            counts.settle(slots.into_iter().map(|(s, kind)| (s, how(kind))));
        }
    }

    /// The right password: the attempt no longer counts, and neither do the
    /// earlier failures of this address on this account.
    pub(crate) fn succeeded(self) {
        self.settle_with(
            |w, a| {
                w.remove(&LoginKey::Ip(a.ip), |e| e.id == a.ip_id);
                w.remove(&a.pair(), |e| e.id == a.id || !e.in_flight);
                w.remove(&a.whole(), |e| {
                    e.id == a.id || (e.ip == a.ip && !e.in_flight)
                });
            },
            |kind| match kind {
                SlotKind::Pair => Settlement::ClearFailures,
                SlotKind::Ip | SlotKind::Whole => Settlement::GiveBack,
            },
        );
    }

    /// A wrong password (or a refused user): the attempt counts as a failure.
    pub(crate) fn failed(self) {
        self.settle_with(Self::mark_failed, |_| Settlement::Failed);
    }

    /// The attempt could not be verified (the server was busy or failed):
    /// it no longer counts.
    pub(crate) fn abandon(self) {
        self.settle_with(
            |w, a| {
                w.remove(&LoginKey::Ip(a.ip), |e| e.id == a.ip_id);
                w.remove(&a.pair(), |e| e.id == a.id);
                w.remove(&a.whole(), |e| e.id == a.id);
            },
            |_| Settlement::GiveBack,
        );
    }

    fn mark_failed(w: &mut Windows<LoginKey>, a: &Self) {
        w.settle(&LoginKey::Ip(a.ip), a.ip_id);
        w.settle(&a.pair(), a.id);
        w.settle(&a.whole(), a.id);
    }
}

impl Drop for LoginAttempt {
    fn drop(&mut self) {
        if !self.settled {
            Self::mark_failed(&mut self.shared.lock(), self);
            self.settle_shared(|_| Settlement::Failed);
            self.shared.finished.notify_waiters();
        }
    }
}

#[derive(Debug)]
pub(crate) struct LoginLimiter {
    shared: Arc<Shared>,
}

impl LoginLimiter {
    pub(crate) fn new(
        limits: LoginLimits,
        networks: ClientNetworks,
        counts: Option<SharedCounts>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                limits,
                networks,
                counts,
                windows: Mutex::new(Windows::new(limits.window)),
                finished: Notify::new(),
            }),
        }
    }

    /// Counts an attempt from `ip` (its network, for IPv6), unless the
    /// address has used its budget (waiting for attempts in flight if they
    /// fill it).
    pub(crate) async fn reserve_ip(&self, ip: IpAddr) -> Result<IpReservation, Refused> {
        let ip = self.shared.networks.budget_key(ip);
        let deadline = tokio::time::Instant::now() + WAIT_CAP;
        let mut reservation = self.wait_for_room(|| self.try_reserve_ip(ip)).await?;
        if let Some(counts) = &self.shared.counts {
            let names = [(format!("login-ip|{ip}"), Some(self.shared.limits.per_ip))];
            // Refused, the local reservation is dropped and so given back.
            let (slots, _) = counts.reserve_waiting(&names, deadline).await?;
            reservation.slots = slots;
        }
        Ok(reservation)
    }

    /// Counts the attempt against `account` (and the pair with its address),
    /// unless this address has used its budget for this account (waiting for
    /// attempts in flight if they fill it). Refused, the address reservation
    /// is given back: the attempt is not verified.
    pub(crate) async fn reserve_account(
        &self,
        mut reservation: IpReservation,
        account: Account,
    ) -> Result<LoginAttempt, Refused> {
        let deadline = tokio::time::Instant::now() + WAIT_CAP;
        let mut attempt = self
            .wait_for_room(|| self.try_reserve_account(&mut reservation, &account))
            .await?;
        if let Some(counts) = &self.shared.counts {
            let name = account.shared_name();
            let ip = attempt.ip;
            let names = [
                (
                    format!("login-pair|{name}|{ip}"),
                    Some(self.shared.limits.per_account),
                ),
                (format!("login-account|{name}"), None),
            ];
            match counts.reserve_waiting(&names, deadline).await {
                Ok((slots, earlier)) => {
                    let kinds = [SlotKind::Pair, SlotKind::Whole];
                    attempt.slots.extend(slots.into_iter().zip(kinds));
                    let delay = slowdown(earlier, self.shared.limits.per_account);
                    attempt.delay = attempt.delay.max(delay);
                }
                Err(refused) => {
                    // Not verified: nothing counts, the address's place included.
                    attempt.abandon();
                    return Err(refused);
                }
            }
        }
        Ok(attempt)
    }

    /// Asks `try_once` until it admits or refuses, waking when an attempt in
    /// flight finishes; after [`WAIT_CAP`] the answer is a refusal.
    async fn wait_for_room<T>(
        &self,
        mut try_once: impl FnMut() -> Admission<T>,
    ) -> Result<T, Refused> {
        let deadline = tokio::time::Instant::now() + WAIT_CAP;
        loop {
            // Registered before asking, so a finish in between is not missed.
            let finished = self.shared.finished.notified();
            let mut finished = std::pin::pin!(finished);
            finished.as_mut().enable();
            match try_once() {
                Admission::Admitted(t) => return Ok(t),
                Admission::Refused(retry_after) => return Err(Refused { retry_after }),
                Admission::Full => {}
            }
            if tokio::time::timeout_at(deadline, finished).await.is_err() {
                return Err(Refused {
                    retry_after: Duration::from_secs(1),
                });
            }
        }
    }

    fn try_reserve_ip(&self, ip: IpAddr) -> Admission<IpReservation> {
        let now = Instant::now();
        let mut w = self.shared.lock();
        let key = LoginKey::Ip(ip);
        match w.admit(&key, self.shared.limits.per_ip, now) {
            Admission::Admitted(()) => {
                let id = w.push(&[key], ip, true, now);
                Admission::Admitted(IpReservation {
                    shared: self.shared.clone(),
                    ip,
                    id,
                    taken: false,
                    slots: Vec::new(),
                })
            }
            Admission::Refused(wait) => Admission::Refused(wait),
            Admission::Full => Admission::Full,
        }
    }

    fn try_reserve_account(
        &self,
        reservation: &mut IpReservation,
        account: &Account,
    ) -> Admission<LoginAttempt> {
        let now = Instant::now();
        let ip = reservation.ip;
        let mut w = self.shared.lock();
        let pair = LoginKey::Pair(account.clone(), ip);
        match w.admit(&pair, self.shared.limits.per_account, now) {
            Admission::Admitted(()) => {
                let whole = LoginKey::Account(account.clone());
                let (earlier, _) = w.count(&whole, now);
                let id = w.push(&[pair, whole], ip, true, now);
                reservation.taken = true;
                Admission::Admitted(LoginAttempt {
                    shared: self.shared.clone(),
                    ip,
                    ip_id: reservation.id,
                    account: account.clone(),
                    id,
                    delay: slowdown(earlier, self.shared.limits.per_account),
                    settled: false,
                    slots: std::mem::take(&mut reservation.slots)
                        .into_iter()
                        .map(|s| (s, SlotKind::Ip))
                        .collect(),
                })
            }
            Admission::Refused(wait) => Admission::Refused(wait),
            Admission::Full => Admission::Full,
        }
    }
}

/// The delay for an attempt on an account with `earlier` attempts in the
/// window: none below `limit`, then 250 ms doubling per attempt up to the cap.
fn slowdown(earlier: usize, limit: u32) -> Duration {
    let Some(excess) = earlier.checked_sub(limit as usize) else {
        return Duration::ZERO;
    };
    let doublings = u32::try_from(excess).unwrap_or(u32::MAX).min(16);
    SLOWDOWN_BASE
        .saturating_mul(1 << doublings)
        .min(SLOWDOWN_CAP)
}

/// Registration attempts per client address. Every attempt counts, whatever
/// its outcome, so the endpoint cannot be used to probe for taken names.
#[derive(Debug)]
pub(crate) struct RegistrationLimiter {
    /// The prefix of its shared counts' keys.
    name: &'static str,
    per_ip: u32,
    networks: ClientNetworks,
    windows: Mutex<Windows<IpAddr>>,
    /// The counts every server on the database shares (PostgreSQL).
    counts: Option<SharedCounts>,
}

impl RegistrationLimiter {
    pub(crate) fn new(
        limits: RegistrationLimits,
        networks: ClientNetworks,
        counts: Option<SharedCounts>,
    ) -> Self {
        Self::named("registration-ip", limits, networks, counts)
    }

    /// The same limiter for another kind of attempt, counted apart under `name`.
    pub(crate) fn named(
        name: &'static str,
        limits: RegistrationLimits,
        networks: ClientNetworks,
        counts: Option<SharedCounts>,
    ) -> Self {
        Self {
            name,
            per_ip: limits.per_ip,
            networks,
            windows: Mutex::new(Windows::new(limits.window)),
            counts,
        }
    }

    /// Counts an attempt from `ip` (its network, for IPv6) here and, on
    /// PostgreSQL, for every server, unless the address has used its budget.
    pub(crate) async fn reserve(&self, ip: IpAddr) -> Result<(), Refused> {
        let ip = self.networks.budget_key(ip);
        self.reserve_here(ip)?;
        if let Some(counts) = &self.counts {
            let names = [(format!("{}|{ip}", self.name), Some(self.per_ip))];
            let deadline = tokio::time::Instant::now() + WAIT_CAP;
            let (slots, _) = counts.reserve_waiting(&names, deadline).await?;
            // Every registration counts, whatever its outcome.
            counts.settle_now(slots, Settlement::Failed).await;
        }
        Ok(())
    }

    /// Counts an attempt from `ip` in this process.
    fn reserve_here(&self, ip: IpAddr) -> Result<(), Refused> {
        let now = Instant::now();
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        match w.admit(&ip, self.per_ip, now) {
            Admission::Admitted(()) => {
                w.push(&[ip], ip, false, now);
                Ok(())
            }
            Admission::Refused(retry_after) => Err(Refused { retry_after }),
            // Registrations are never in flight: every attempt counts at once.
            Admission::Full => Err(Refused {
                retry_after: w.window,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const MINUTE: Duration = Duration::from_secs(60);

    fn limiter(per_account: u32, per_ip: u32) -> LoginLimiter {
        LoginLimiter::new(
            LoginLimits {
                per_account,
                per_ip,
                window: MINUTE,
            },
            ClientNetworks::default(),
            None,
        )
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn user() -> Account {
        Account::User(UserId::new())
    }

    /// Reserves without waiting: the attempt, or `Err(None)` when attempts
    /// in flight fill the limit, or `Err(Some(refusal))`.
    fn try_attempt(
        l: &LoginLimiter,
        account: &Account,
        from: IpAddr,
    ) -> Result<LoginAttempt, Option<Refused>> {
        let mut reservation = match l.try_reserve_ip(from) {
            Admission::Admitted(r) => r,
            Admission::Refused(retry_after) => return Err(Some(Refused { retry_after })),
            Admission::Full => return Err(None),
        };
        match l.try_reserve_account(&mut reservation, account) {
            Admission::Admitted(a) => Ok(a),
            Admission::Refused(retry_after) => Err(Some(Refused { retry_after })),
            Admission::Full => Err(None),
        }
    }

    /// One failed attempt (its delay), or the refusal.
    fn fail(l: &LoginLimiter, account: &Account, from: IpAddr) -> Result<Duration, Refused> {
        let attempt = try_attempt(l, account, from).map_err(|e| e.expect("not in flight"))?;
        let delay = attempt.delay;
        attempt.failed();
        Ok(delay)
    }

    fn succeed(l: &LoginLimiter, account: &Account, from: IpAddr) {
        try_attempt(l, account, from).unwrap().succeeded();
    }

    #[test]
    fn an_address_is_locked_out_of_an_account_after_the_limit_and_not_elsewhere() {
        let l = limiter(2, 100);
        let victim = user();
        let attacker = ip("10.0.0.1");
        fail(&l, &victim, attacker).unwrap();
        fail(&l, &victim, attacker).unwrap();
        let refused = fail(&l, &victim, attacker).unwrap_err();
        assert!(refused.retry_after <= MINUTE && refused.retry_after > MINUTE / 2);
        // The owner, from elsewhere, is not refused.
        succeed(&l, &victim, ip("10.0.0.2"));
        // Other accounts from the attacker's address are not refused either.
        fail(&l, &user(), attacker).unwrap();
    }

    #[test]
    fn success_clears_the_pair_and_gives_back_the_reservation() {
        let l = limiter(2, 4);
        let alice = user();
        let from = ip("10.0.0.1");
        fail(&l, &alice, from).unwrap();
        succeed(&l, &alice, from);
        // The pair starts over (2 more); the address keeps its one failure.
        fail(&l, &alice, from).unwrap();
        fail(&l, &alice, from).unwrap();
        assert!(fail(&l, &alice, from).is_err(), "pair: 2 since the success");
        fail(&l, &user(), from).unwrap();
        assert!(fail(&l, &user(), from).is_err(), "address: 4 failures");
    }

    #[test]
    fn abandoned_and_unused_reservations_do_not_count() {
        let l = limiter(1, 1);
        let alice = user();
        let from = ip("10.0.0.1");
        try_attempt(&l, &alice, from).unwrap().abandon();
        // An address reservation dropped before the account was known.
        let Admission::Admitted(reservation) = l.try_reserve_ip(from) else {
            panic!("room expected");
        };
        drop(reservation);
        fail(&l, &alice, from).unwrap();
    }

    #[test]
    fn an_attempt_dropped_unsettled_counts_as_a_failure() {
        let l = limiter(1, 10);
        let alice = user();
        drop(try_attempt(&l, &alice, ip("10.0.0.1")).unwrap());
        assert!(fail(&l, &alice, ip("10.0.0.1")).is_err());
    }

    #[test]
    fn an_address_is_limited_across_accounts() {
        let l = limiter(100, 3);
        let from = ip("2001:db8::1");
        for name in ["a", "b", "c"] {
            fail(&l, &Account::unknown(name), from).unwrap();
        }
        assert!(fail(&l, &Account::unknown("d"), from).is_err());
        fail(&l, &Account::unknown("d"), ip("2001:db8::2")).unwrap();
    }

    #[test]
    fn a_locked_pair_gives_back_the_address_reservation() {
        let l = limiter(1, 3);
        let alice = user();
        let from = ip("10.0.0.1");
        fail(&l, &alice, from).unwrap();
        for _ in 0..5 {
            assert!(fail(&l, &alice, from).is_err());
        }
        // Refusals were not verified, so they did not use the address's budget.
        fail(&l, &user(), from).unwrap();
        fail(&l, &user(), from).unwrap();
    }

    #[test]
    fn unknown_logins_are_normalised() {
        assert_eq!(
            Account::unknown("  Bob@Example.COM "),
            Account::unknown("bob@example.com")
        );
    }

    #[test]
    fn failures_spread_over_addresses_slow_the_account_down_boundedly() {
        let l = limiter(3, 100);
        let victim = user();
        let delays: Vec<u128> = (0..12)
            .map(|n| {
                let from = IpAddr::from([10, 0, 1, n]);
                fail(&l, &victim, from).unwrap().as_millis()
            })
            .collect();
        assert_eq!(
            delays,
            [0, 0, 0, 250, 500, 1000, 2000, 4000, 4000, 4000, 4000, 4000]
        );
        // The owner is slowed, never refused.
        let owner = try_attempt(&l, &victim, ip("192.0.2.1")).unwrap();
        assert_eq!(owner.delay, SLOWDOWN_CAP);
        owner.succeeded();
        // Other accounts are not slowed.
        assert_eq!(fail(&l, &user(), ip("10.0.1.1")).unwrap(), Duration::ZERO);
    }

    #[test]
    fn parallel_reservations_never_exceed_the_limit() {
        let l = limiter(5, 20);
        let victim = user();
        let admitted = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..32 {
                scope.spawn(|| {
                    if let Ok(attempt) = try_attempt(&l, &victim, ip("10.0.0.1")) {
                        admitted.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        attempt.failed();
                    }
                });
            }
        });
        assert_eq!(admitted.load(Ordering::SeqCst), 5);
        assert!(fail(&l, &victim, ip("10.0.0.1")).is_err());
    }

    /// Attempts that all fail: at most the limit verified, the rest refused
    /// once the failures are in. Attempts that all succeed: all served.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_attempts_are_refused_after_failures_and_served_after_successes() {
        for right_password in [false, true] {
            let l = Arc::new(limiter(5, 20));
            let victim = user();
            let tasks: Vec<_> = (0..40)
                .map(|_| {
                    let (l, victim) = (l.clone(), victim.clone());
                    tokio::spawn(async move {
                        let reservation = l.reserve_ip(ip("10.0.0.1")).await?;
                        let attempt = l.reserve_account(reservation, victim).await?;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        if right_password {
                            attempt.succeeded();
                        } else {
                            attempt.failed();
                        }
                        Ok::<_, Refused>(())
                    })
                })
                .collect();
            let mut verified = 0;
            for task in tasks {
                if task.await.unwrap().is_ok() {
                    verified += 1;
                }
            }
            let expected = if right_password { 40 } else { 5 };
            assert_eq!(verified, expected, "right password: {right_password}");
        }
    }

    #[test]
    fn registrations_are_limited_per_address_in_parallel() {
        let l = RegistrationLimiter::new(
            RegistrationLimits {
                per_ip: 3,
                window: MINUTE,
            },
            ClientNetworks::default(),
            None,
        );
        let admitted = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..16 {
                scope.spawn(|| {
                    if l.reserve_here(ip("10.0.0.1")).is_ok() {
                        admitted.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(admitted.load(Ordering::SeqCst), 3);
        let refused = l.reserve_here(ip("10.0.0.1")).unwrap_err();
        assert!(refused.retry_after > Duration::ZERO && refused.retry_after <= MINUTE);
        l.reserve_here(ip("10.0.0.2")).unwrap();
    }
}
