//! A few seconds of memory for "is this session / key still good?", so an
//! authenticated request costs no query on a hit. Changes made through this
//! process are forgotten at once; changes made elsewhere (another process,
//! SQL by hand) are seen within the time-to-live.

use curatore_domain::{ApiKeyId, OrganizationId, UserId};
use curatore_persistence::{AccessSnapshot, ApiKeySnapshot};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Above this many entries the cache is emptied rather than grown.
const MAX_ENTRIES: usize = 50_000;

type Entry<T> = (Instant, Arc<T>);

#[derive(Debug, Default)]
struct Maps {
    sessions: HashMap<(UserId, Uuid), Entry<AccessSnapshot>>,
    keys: HashMap<String, Entry<ApiKeySnapshot>>,
}

#[derive(Debug)]
pub(crate) struct AuthCache {
    ttl: Duration,
    maps: RwLock<Maps>,
}

impl AuthCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            maps: RwLock::new(Maps::default()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.maps.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn session(&self, user: UserId, session: Uuid) -> Option<Arc<AccessSnapshot>> {
        let maps = self.read();
        let (at, snap) = maps.sessions.get(&(user, session))?;
        (at.elapsed() < self.ttl).then(|| snap.clone())
    }

    pub(crate) fn store_session(&self, user: UserId, session: Uuid, snap: Arc<AccessSnapshot>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut maps = self.write();
        if maps.sessions.len() >= MAX_ENTRIES {
            maps.sessions.clear();
        }
        maps.sessions
            .insert((user, session), (Instant::now(), snap));
    }

    pub(crate) fn key(&self, hash: &str) -> Option<Arc<ApiKeySnapshot>> {
        let maps = self.read();
        let (at, snap) = maps.keys.get(hash)?;
        (at.elapsed() < self.ttl).then(|| snap.clone())
    }

    pub(crate) fn store_key(&self, hash: String, snap: Arc<ApiKeySnapshot>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut maps = self.write();
        if maps.keys.len() >= MAX_ENTRIES {
            maps.keys.clear();
        }
        maps.keys.insert(hash, (Instant::now(), snap));
    }

    /// After logout or reuse detection: the family's access tokens stop now.
    pub(crate) fn forget_session(&self, session: Uuid) {
        self.write().sessions.retain(|(_, s), _| *s != session);
    }

    /// After a change to the user (role, activity, password).
    pub(crate) fn forget_user(&self, user: UserId) {
        let mut maps = self.write();
        maps.sessions.retain(|(u, _), _| *u != user);
        maps.keys
            .retain(|_, (_, snap)| snap.user.as_ref().is_none_or(|u| u.id != user));
    }

    /// After a key is renamed or revoked.
    pub(crate) fn forget_key(&self, id: ApiKeyId) {
        self.write().keys.retain(|_, (_, snap)| snap.key.id != id);
    }

    /// After a change to the organization.
    pub(crate) fn forget_organization(&self, org: OrganizationId) {
        let mut maps = self.write();
        maps.sessions
            .retain(|_, (_, snap)| snap.organization.id != org);
        maps.keys.retain(|_, (_, snap)| snap.organization.id != org);
    }
}
