//! Authentication: who the caller is, and what they may do.
//!
//! Credentials are a JWT access token (`Authorization: Bearer <jwt>`) or an
//! API key (`X-API-Key: <key>`, or `Authorization: Bearer cur_…`). With
//! authentication disabled every request is the [`Principal::system`] of
//! the default organization, so handlers never branch on the mode.

mod cache;
mod limiter;
mod login_gate;
mod principal;

pub use limiter::{LoginLimits, RegistrationLimits};
pub(crate) use principal::authentication_required;
pub use principal::{Actor, AnyRole, Member, OrgAdmin, Principal};

pub(crate) use cache::AuthCache;
pub(crate) use limiter::{LoginLimiter, RegistrationLimiter};
pub(crate) use login_gate::{CheckedLogin, check_login};

use curatore_auth::{ApiKeyFormat, PasswordHasher, PasswordPolicy, TokenSigner};
use curatore_domain::ApiKeyId;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Everything authentication needs, built by the caller from its settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `ENABLE_AUTH`: when false, every request acts as the default organization.
    pub enabled: bool,
    /// Signs and checks access tokens.
    pub signer: TokenSigner,
    /// Hashes and checks passwords off the async executor.
    pub hasher: PasswordHasher,
    /// What a new password must satisfy.
    pub password_policy: PasswordPolicy,
    /// The API key format (prefix, checksum).
    pub api_keys: ApiKeyFormat,
    /// Absolute lifetime of a refresh-token family.
    pub refresh_ttl: Duration,
    /// `REFRESH_TOKEN_REUSE_INTERVAL_SECONDS`: how long after its rotation a
    /// refresh token may be presented again and get the same successor
    /// instead of ending the session (zero: never).
    pub refresh_reuse_grace: Duration,
    /// `ALLOW_REGISTRATION`: anyone may register (into the default organization).
    pub allow_registration: bool,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Failed-login limits.
    pub login_limits: LoginLimits,
    /// Open-registration limits (`ALLOW_REGISTRATION=true`).
    pub registration_limits: RegistrationLimits,
    /// How long a checked session or key is trusted without asking the
    /// database again (changes made through this process apply at once).
    pub cache_ttl: Duration,
}

/// How often `last_used_at` of one key is written at most.
const LAST_USED_EVERY: Duration = Duration::from_secs(60);

/// [`AuthConfig`] plus the state it needs while serving.
#[derive(Debug)]
pub(crate) struct AuthRuntime {
    pub(crate) config: AuthConfig,
    pub(crate) cache: AuthCache,
    pub(crate) limiter: LoginLimiter,
    pub(crate) registrations: RegistrationLimiter,
    last_used: Mutex<HashMap<ApiKeyId, Instant>>,
}

impl AuthRuntime {
    pub(crate) fn new(config: AuthConfig) -> Self {
        Self {
            cache: AuthCache::new(config.cache_ttl),
            limiter: LoginLimiter::new(config.login_limits),
            registrations: RegistrationLimiter::new(config.registration_limits),
            last_used: Mutex::new(HashMap::new()),
            config,
        }
    }

    /// Whether this request should write the key's `last_used_at`.
    pub(crate) fn due_for_last_used(&self, id: ApiKeyId) -> bool {
        let now = Instant::now();
        let mut map = self.last_used.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 50_000 {
            map.retain(|_, at| now.duration_since(*at) < LAST_USED_EVERY);
        }
        match map.get(&id) {
            Some(at) if now.duration_since(*at) < LAST_USED_EVERY => false,
            _ => {
                map.insert(id, now);
                true
            }
        }
    }
}
