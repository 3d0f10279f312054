//! A few seconds of memory for "is this session / key still good?", so an
//! authenticated request costs no query on a hit. Changes made through this
//! process are forgotten at once; on PostgreSQL they are also published
//! ([`Forget::payload`]) and every other server listening forgets them at
//! once too. Changes made otherwise (SQL by hand), or while a server's
//! listening connection is down, are seen within the time-to-live.

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

/// What to forget, here and on every other server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forget {
    /// After logout or reuse detection: the family's access tokens stop now.
    Session(Uuid),
    /// After a change to the user (role, activity, password).
    User(UserId),
    /// After a key is renamed or revoked.
    Key(ApiKeyId),
    /// After a change to the organization.
    Organization(OrganizationId),
    /// After a change that may touch any entry (settings).
    Everything,
}

impl Forget {
    /// How it travels between servers: `kind:uuid`, or `all`.
    pub(crate) fn payload(self) -> String {
        match self {
            Self::Session(id) => format!("session:{id}"),
            Self::User(id) => format!("user:{}", id.as_uuid()),
            Self::Key(id) => format!("key:{}", id.as_uuid()),
            Self::Organization(id) => format!("org:{}", id.as_uuid()),
            Self::Everything => "all".to_owned(),
        }
    }

    /// The payload read back; `None` for one this version does not know.
    pub(crate) fn parse(payload: &str) -> Option<Self> {
        if payload == "all" {
            return Some(Self::Everything);
        }
        let (kind, id) = payload.split_once(':')?;
        let id: Uuid = id.parse().ok()?;
        Some(match kind {
            "session" => Self::Session(id),
            "user" => Self::User(UserId::from(id)),
            "key" => Self::Key(ApiKeyId::from(id)),
            "org" => Self::Organization(OrganizationId::from(id)),
            _ => return None,
        })
    }
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

    pub(crate) fn forget(&self, what: Forget) {
        match what {
            Forget::Session(id) => self.forget_session(id),
            Forget::User(id) => self.forget_user(id),
            Forget::Key(id) => self.forget_key(id),
            Forget::Organization(id) => self.forget_organization(id),
            Forget::Everything => self.clear(),
        }
    }

    /// Forgets every entry.
    pub(crate) fn clear(&self) {
        let mut maps = self.write();
        maps.sessions.clear();
        maps.keys.clear();
    }

    /// After logout or reuse detection: the family's access tokens stop now.
    fn forget_session(&self, session: Uuid) {
        self.write().sessions.retain(|(_, s), _| *s != session);
    }

    /// After a change to the user (role, activity, password).
    fn forget_user(&self, user: UserId) {
        let mut maps = self.write();
        maps.sessions.retain(|(u, _), _| *u != user);
        maps.keys
            .retain(|_, (_, snap)| snap.user.as_ref().is_none_or(|u| u.id != user));
    }

    /// After a key is renamed or revoked.
    fn forget_key(&self, id: ApiKeyId) {
        self.write().keys.retain(|_, (_, snap)| snap.key.id != id);
    }

    /// After a change to the organization.
    fn forget_organization(&self, org: OrganizationId) {
        let mut maps = self.write();
        maps.sessions
            .retain(|_, (_, snap)| snap.organization.id != org);
        maps.keys.retain(|_, (_, snap)| snap.organization.id != org);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_read_back_as_what_was_sent() {
        let all = [
            Forget::Session(Uuid::new_v4()),
            Forget::User(UserId::new()),
            Forget::Key(ApiKeyId::from(Uuid::new_v4())),
            Forget::Organization(OrganizationId::from(Uuid::new_v4())),
            Forget::Everything,
        ];
        for what in all {
            assert_eq!(Forget::parse(&what.payload()), Some(what));
        }
        assert_eq!(Forget::parse("user:not-a-uuid"), None);
        assert_eq!(
            Forget::parse("shrug:00000000-0000-0000-0000-000000000000"),
            None
        );
    }
}
