//! The console's session: a cookie holding the refresh token (an opaque
//! reference the server stores only as a digest), and in this process the
//! access token it was last exchanged for. The access token never leaves
//! the server.
//!
//! When the cached access token is missing (another instance, a restart) or
//! about to expire, the refresh token is rotated through the same service
//! as `POST /auth/refresh` and the cookie replaced; the old cookie maps to
//! the new access token for as long as it lives, so requests already in
//! flight with it are served too (the service's reuse grace covers a
//! parallel rotation elsewhere).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The session cookie's name over plain HTTP. Over HTTPS it is
/// `__Host-` followed by this, which browsers accept only when `Secure`,
/// host-only and with `Path=/`.
pub const SESSION_COOKIE: &str = "curatore_console";

/// The pre-session cookie of the sign-in form (double-submit CSRF).
pub(crate) const LOGIN_COOKIE: &str = "curatore_console_login";

/// An access token is refreshed this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// Cached sessions beyond which expired entries are swept on insert.
const SWEEP_ABOVE: usize = 4096;

/// What this process knows about one cookie value.
#[derive(Clone)]
pub(crate) struct Cached {
    pub(crate) access_token: String,
    valid_until: Instant,
    /// The cookie that replaced this one, to hand to a browser still
    /// sending the old value.
    pub(crate) successor: Option<String>,
}

/// Cookie digests to access tokens.
#[derive(Default)]
pub(crate) struct SessionCache {
    entries: Mutex<HashMap<[u8; 32], Cached>>,
}

pub(crate) fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

impl SessionCache {
    pub(crate) fn get(&self, cookie: &str) -> Option<Cached> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&digest(cookie))
            .filter(|c| c.valid_until > Instant::now())
            .cloned()
    }

    /// Remembers that `cookie` (and `replaced`, the cookie it rotated)
    /// stand for `access_token` for `expires_in` seconds.
    pub(crate) fn put(
        &self,
        cookie: &str,
        replaced: Option<&str>,
        access_token: &str,
        expires_in: u64,
    ) {
        let valid_until =
            Instant::now() + Duration::from_secs(expires_in).saturating_sub(REFRESH_MARGIN);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > SWEEP_ABOVE {
            let now = Instant::now();
            entries.retain(|_, c| c.valid_until > now);
        }
        entries.insert(
            digest(cookie),
            Cached {
                access_token: access_token.to_owned(),
                valid_until,
                successor: None,
            },
        );
        if let Some(old) = replaced {
            entries.insert(
                digest(old),
                Cached {
                    access_token: access_token.to_owned(),
                    valid_until,
                    successor: Some(cookie.to_owned()),
                },
            );
        }
    }

    pub(crate) fn forget(&self, cookie: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&digest(cookie));
    }
}

/// The synchronizer token of a session (refresh-token family): the same for
/// the session's whole life, unguessable without the key, and useless for
/// any other session.
pub(crate) fn csrf_token(key: &[u8], session: Uuid) -> String {
    keyed(key, b"console-csrf", session.as_bytes())
}

/// HMAC-SHA256 of `data` under `key` and a purpose, base64url.
pub(crate) fn keyed(key: &[u8], purpose: &[u8], data: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(purpose);
    mac.update(b"\0");
    mac.update(data);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Compares two tokens in constant time.
pub(crate) fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A random token for the sign-in form.
pub(crate) fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A `Set-Cookie` value.
pub(crate) fn cookie(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> String {
    let name = cookie_name(name, secure);
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

/// `__Host-<name>` over HTTPS, `<name>` otherwise.
pub(crate) fn cookie_name(name: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_session_and_key() {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        assert_eq!(csrf_token(b"k", a), csrf_token(b"k", a));
        assert_ne!(csrf_token(b"k", a), csrf_token(b"k", b));
        assert_ne!(csrf_token(b"k", a), csrf_token(b"other", a));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    #[test]
    fn a_rotated_cookie_maps_to_its_successor() {
        let cache = SessionCache::default();
        cache.put("new", Some("old"), "token", 900);
        assert_eq!(cache.get("new").unwrap().access_token, "token");
        assert_eq!(cache.get("old").unwrap().successor.as_deref(), Some("new"));
        cache.forget("new");
        assert!(cache.get("new").is_none());
        // Expiring within the margin counts as expired.
        cache.put("short", None, "t", 10);
        assert!(cache.get("short").is_none());
    }

    #[test]
    fn cookies_are_host_only_strict_and_secure_over_https() {
        let c = cookie(SESSION_COOKIE, "v", true, None);
        assert_eq!(
            c,
            "__Host-curatore_console=v; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!cookie(SESSION_COOKIE, "v", false, Some(0)).contains("Secure"));
    }
}
