//! The services value: everything the use cases share.

use crate::audit::{AuditEvent, Entry};
use crate::auth_config::AuthConfig;
use crate::cache::{AuthCache, Forget};
use crate::connections::ConnectionsConfig;
use crate::context::{Actor, Client, Principal, RequestContext};
use crate::error::{Denied, NotFound, Result, ServiceError, Unauthenticated};
use crate::limiter::{LoginLimiter, RegistrationLimiter, SharedCounts};
use crate::operator::Operator;
use crate::refusals::RefusalSampler;
use crate::registry::{AuditActions, ScopeRegistry};
use curatore_auth::TokenError;
use curatore_domain::{ApiKeyId, NewAuditLogEntry, Organization, OrganizationId, Role};
use curatore_persistence::{Database, Invalidation, InvalidationListener, PersistenceError};
use serde_json::json;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How the default organization is chosen: `DEFAULT_ORG_ID` when set,
/// otherwise the one with `DEFAULT_ORG_SLUG`, otherwise the first created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefaultOrganization {
    /// An explicit organization; it must exist.
    pub id: Option<OrganizationId>,
    /// The slug to look for when no id is given.
    pub slug: Option<String>,
}

impl DefaultOrganization {
    /// Finds the default organization. With an explicit id, only that one
    /// counts (no fallback, so a typo is noticed rather than papered over).
    ///
    /// # Errors
    /// When the database fails.
    pub(crate) async fn resolve(
        &self,
        db: &Database,
    ) -> std::result::Result<Option<Organization>, PersistenceError> {
        let organizations = db.system().organizations();
        if let Some(id) = self.id {
            return organizations.get(id).await;
        }
        if let Some(slug) = &self.slug
            && let Some(org) = organizations.find_by_slug(slug).await?
        {
            return Ok(Some(org));
        }
        organizations.first().await
    }
}

/// How often `last_used_at` of one key is written at most.
const LAST_USED_EVERY: Duration = Duration::from_secs(60);

/// Credentials as a request presents them.
#[derive(Debug)]
pub enum Credentials {
    /// None were sent.
    None,
    /// An access token (possibly empty or malformed).
    Bearer(String),
    /// An API key.
    ApiKey(String),
}

/// The use cases and what they share. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Services {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    config: AuthConfig,
    default_organization: DefaultOrganization,
    resolved_organization: RwLock<Option<OrganizationId>>,
    pub(crate) cache: AuthCache,
    pub(crate) limiter: LoginLimiter,
    pub(crate) registrations: RegistrationLimiter,
    refusals: RefusalSampler,
    settings: crate::settings::SettingsState,
    last_used: Mutex<HashMap<ApiKeyId, Instant>>,
    connections: ConnectionsConfig,
    scopes: ScopeRegistry,
    audit_actions: AuditActions,
}

/// Forgets `what` in this process: the authentication cache and the
/// resolved settings that depend on it.
fn forget_here(inner: &Inner, what: Forget) {
    inner.cache.forget(what);
    match what {
        Forget::User(id) => inner.settings.forget_user(id),
        Forget::Organization(id) => inner.settings.forget_organization(id),
        Forget::Everything => inner.settings.forget_all(),
        Forget::Session(_) | Forget::Key(_) => {}
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("db", &self.inner.db)
            .field("auth_enabled", &self.inner.config.enabled)
            .finish_non_exhaustive()
    }
}

/// What the services are built from: authentication, connections, and how
/// the default organization is chosen. `curatore_server::Curatore::build`
/// makes one from the settings; others start from
/// [`AuthConfig::new`] (defaults, then `with_…` setters) and [`ConnectionsConfig::default`].
#[derive(Debug, Clone)]
pub struct ServicesConfig {
    /// Tokens, passwords, keys, limits.
    pub auth: AuthConfig,
    /// Connection types, secret keys, outbound policy, environment fallback.
    pub connections: ConnectionsConfig,
    /// Which organization unauthenticated requests and instance
    /// administration belong to.
    pub default_organization: DefaultOrganization,
    /// The resources API keys may be scoped to (ours, and an embedding
    /// service's).
    pub scopes: ScopeRegistry,
    /// An embedding service's own audit actions.
    pub audit_actions: AuditActions,
}

impl ServicesConfig {
    /// Authentication as given, the built-in connection types without a
    /// secrets key, the first organization as the default.
    pub fn new(auth: AuthConfig) -> Self {
        Self {
            auth,
            connections: ConnectionsConfig::default(),
            default_organization: DefaultOrganization::default(),
            scopes: ScopeRegistry::builtin(),
            audit_actions: AuditActions::default(),
        }
    }
}

impl Services {
    /// The services over an open (migrated) database, and the one
    /// [`Operator`] of this process: the handle for seeding, export and
    /// import, secret rotation, retention and the environment import. It is
    /// handed out here, once, to whoever builds the services; nothing
    /// reachable from a request makes another.
    pub fn open(db: Database, config: ServicesConfig) -> (Self, Operator) {
        let ServicesConfig {
            auth: config,
            connections,
            default_organization,
            scopes,
            audit_actions,
        } = config;
        let services = Self {
            inner: Arc::new(Inner {
                cache: AuthCache::new(config.cache_ttl),
                limiter: LoginLimiter::new(
                    config.login_limits,
                    config.client_networks,
                    db.rate_limit_windows()
                        .map(|store| SharedCounts::new(store, config.login_limits.window)),
                ),
                registrations: RegistrationLimiter::new(
                    config.registration_limits,
                    config.client_networks,
                    db.rate_limit_windows()
                        .map(|store| SharedCounts::new(store, config.registration_limits.window)),
                ),
                refusals: RefusalSampler::default(),
                settings: crate::settings::SettingsState::new(&config),
                last_used: Mutex::new(HashMap::new()),
                resolved_organization: RwLock::new(None),
                connections,
                default_organization,
                scopes,
                audit_actions,
                config,
                db,
            }),
        };
        let operator = Operator::new(services.clone());
        (services, operator)
    }

    pub(crate) fn database(&self) -> &Database {
        &self.inner.db
    }

    pub(crate) fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// `ENABLE_AUTH`: whether requests must authenticate (when not, every
    /// request acts as the default organization).
    pub fn auth_enabled(&self) -> bool {
        self.inner.config.enabled
    }

    /// How client addresses are grouped by the limits (IPv6 per network).
    pub fn client_networks(&self) -> crate::limiter::ClientNetworks {
        self.inner.config.client_networks
    }

    /// The resources API keys may be scoped to.
    pub fn scopes(&self) -> &ScopeRegistry {
        &self.inner.scopes
    }

    pub(crate) fn audit_actions(&self) -> &AuditActions {
        &self.inner.audit_actions
    }

    /// The proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &[IpAddr] {
        &self.inner.config.trusted_proxies
    }

    pub(crate) fn default_organization_rule(&self) -> &DefaultOrganization {
        &self.inner.default_organization
    }

    pub(crate) fn connections_runtime(&self) -> &ConnectionsConfig {
        &self.inner.connections
    }

    pub(crate) fn settings_state(&self) -> &crate::settings::SettingsState {
        &self.inner.settings
    }

    /// Forgets `what` from the cache here and, on PostgreSQL, tells every
    /// other server to forget it too. Call it after the change is committed.
    pub(crate) async fn forget(&self, what: Forget) {
        forget_here(&self.inner, what);
        if let Err(err) = self.inner.db.publish_invalidation(&what.payload()).await {
            // The others still see the change within AUTH_CACHE_SECONDS.
            tracing::warn!(error = %err, "could not tell other servers to forget a cached entry");
        }
    }

    /// See [`Operator::listen_for_invalidations`].
    pub(crate) fn listen_for_invalidations(&self) -> Option<InvalidationListener> {
        let services = Arc::downgrade(&self.inner);
        self.inner.db.listen(Duration::from_secs(1), move |event| {
            let Some(inner) = services.upgrade() else {
                return;
            };
            match event {
                Invalidation::Message(payload) => match Forget::parse(&payload) {
                    Some(what) => forget_here(&inner, what),
                    None => tracing::warn!(payload, "unknown cache invalidation ignored"),
                },
                Invalidation::Reconnected => forget_here(&inner, Forget::Everything),
            }
        })
    }

    /// Writes an audit entry that records no change of its own (a refusal,
    /// a failed login) outside any transaction. A failure to record is
    /// logged and does not change the answer.
    pub(crate) async fn record_quietly(&self, entry: NewAuditLogEntry, what: &'static str) {
        if let Err(err) = self.inner.db.system().audit_logs().record(entry).await {
            tracing::warn!(error = %err, what, "could not record an audit entry");
        }
    }

    pub(crate) fn limiter(&self) -> &LoginLimiter {
        &self.inner.limiter
    }

    pub(crate) fn registrations(&self) -> &RegistrationLimiter {
        &self.inner.registrations
    }

    /// The 429 for a client refused by `limit` (`login`, `registration`),
    /// recorded in the audit trail (in `organization`'s, when known) when the
    /// sampler says so. A failure to record is logged and does not change
    /// the answer.
    pub(crate) async fn refused(
        &self,
        client: &Client,
        organization: Option<OrganizationId>,
        limit: &'static str,
        retry_after: std::time::Duration,
        what: &'static str,
    ) -> ServiceError {
        if let Some(unrecorded) = self.inner.refusals.sample(client.ip, limit) {
            let entry = Entry::anonymous(json!({
                "limit": limit,
                "retry_after_seconds": retry_after.as_secs(),
                "refused_unrecorded_before": unrecorded,
            }))
            .by_user(organization, None)
            .failed("too many attempts")
            .done_from(AuditEvent::RateLimited, client);
            self.record_quietly(entry, "rate-limit refusal").await;
        }
        ServiceError::too_many_attempts(retry_after, what)
    }

    /// The default organization; its id is remembered so later requests need
    /// one lookup by primary key.
    ///
    /// # Errors
    /// 404 `organization_not_found` before seeding, 403
    /// `organization_inactive`, 503 when the database is unavailable.
    pub(crate) async fn default_organization(&self) -> Result<Organization> {
        let organizations = self.inner.db.system().organizations();
        let remembered = *self
            .inner
            .resolved_organization
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let cached = match remembered {
            Some(id) => organizations.get(id).await?,
            None => None,
        };
        let organization = match cached {
            Some(org) => org,
            None => {
                let found = self
                    .inner
                    .default_organization
                    .resolve(&self.inner.db)
                    .await?;
                *self
                    .inner
                    .resolved_organization
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = found.as_ref().map(|o| o.id);
                found.ok_or_else(|| ServiceError::from(NotFound::NoDefaultOrganization))?
            }
        };
        if !organization.is_active {
            return Err(Denied::OrganizationInactive.into());
        }
        Ok(organization)
    }

    /// Whether `value` has the shape of an API key (so `Authorization:
    /// Bearer <key>` can be told from a token without a lookup).
    pub fn looks_like_api_key(&self, value: &str) -> bool {
        self.inner.config.api_keys.looks_like_key(value)
    }

    /// Who the credentials belong to, as the context every request handle
    /// is built from. With authentication disabled, the default
    /// organization's system principal, whatever was sent.
    ///
    /// A user signed in with a temporary password is refused until they
    /// change it; [`Services::authenticate_pending`] lets them through for
    /// the operations they may still call.
    ///
    /// # Errors
    /// 401 (`authentication_required`, `invalid_token`, `token_expired`,
    /// `invalid_api_key`); 403 `password_change_required`; 503 when the
    /// database is unavailable.
    pub async fn authenticate(
        &self,
        credentials: Credentials,
        client: Client,
    ) -> Result<RequestContext> {
        let ctx = self.authenticate_pending(credentials, client).await?;
        ctx.principal.refuse_pending_password_change()?;
        Ok(ctx)
    }

    /// Like [`Services::authenticate`], but also a user who must still change
    /// a temporary password: only for changing it and for logging out (the
    /// request handles refuse such a caller everything else).
    ///
    /// # Errors
    /// As [`Services::authenticate`], without `password_change_required`.
    pub async fn authenticate_pending(
        &self,
        credentials: Credentials,
        client: Client,
    ) -> Result<RequestContext> {
        let principal = if !self.inner.config.enabled {
            Principal::system(self.default_organization().await?)
        } else {
            match credentials {
                Credentials::None => return Err(authentication_required()),
                Credentials::Bearer(token) => self.principal_of_token(&token).await?,
                Credentials::ApiKey(key) => self.principal_of_api_key(&key).await?,
            }
        };
        Ok(RequestContext::new(principal, client))
    }

    async fn principal_of_token(&self, token: &str) -> Result<Principal> {
        let claims = self
            .inner
            .config
            .signer
            .verify_access(token)
            .map_err(|e| match e {
                TokenError::Expired => ServiceError::from(Unauthenticated::TokenExpired),
                _ => invalid_token(),
            })?;
        let cache = &self.inner.cache;
        let snap = match cache.session(claims.user_id, claims.session_id) {
            Some(snap) => snap,
            None => {
                let snap = self
                    .inner
                    .db
                    .system()
                    .access_snapshot(claims.user_id, claims.session_id)
                    .await?
                    .ok_or_else(invalid_token)?;
                let snap = Arc::new(snap);
                cache.store_session(claims.user_id, claims.session_id, snap.clone());
                snap
            }
        };
        if !snap.session_active
            || !snap.user.is_active
            || !snap.organization.is_active
            || snap.user.organization_id != claims.organization_id
        {
            return Err(invalid_token());
        }
        Ok(Principal {
            actor: Actor::User {
                user_id: snap.user.id,
                session_id: claims.session_id,
            },
            // The role as it is now, not as it was when the token was issued.
            role: snap.user.role,
            organization: snap.organization.clone(),
            user: Some(snap.user.clone()),
            scopes: Vec::new(),
        })
    }

    async fn principal_of_api_key(&self, key: &str) -> Result<Principal> {
        // Malformed or mistyped keys stop here, without a query; a key of
        // the original's format goes on to be looked up by its digest.
        let original = curatore_auth::original_key(key);
        let hash = match (&original, self.inner.config.api_keys.check(key)) {
            (_, Ok(hash)) => hash,
            (Some((_, digest)), Err(_)) => digest.clone(),
            (None, Err(_)) => return Err(invalid_key()),
        };
        let cache = &self.inner.cache;
        let snap = match cache.key(&hash) {
            Some(snap) => snap,
            None => {
                let system = self.inner.db.system();
                let mut found = system.api_key_snapshot(&hash).await?;
                if found.is_none()
                    && let Some((prefix, _)) = &original
                    && self.convert_original_key(key, prefix, &hash).await?
                {
                    found = system.api_key_snapshot(&hash).await?;
                }
                let snap = found.ok_or_else(invalid_key)?;
                // The index found it; compare the digests anyway, in constant time.
                if !curatore_auth::constant_time_eq(snap.key.key_hash.as_bytes(), hash.as_bytes()) {
                    return Err(invalid_key());
                }
                let snap = Arc::new(snap);
                cache.store_key(hash, snap.clone());
                snap
            }
        };
        let expired = snap
            .key
            .expires_at
            .is_some_and(|at| at <= chrono::Utc::now());
        let user_ok = snap.user.as_ref().is_none_or(|u| u.is_active);
        if !snap.key.is_active || expired || !user_ok || !snap.organization.is_active {
            return Err(invalid_key());
        }
        if self.due_for_last_used(snap.key.id) {
            // Outside the request: a slow write never delays the answer.
            let db = self.inner.db.clone();
            let id = snap.key.id;
            tokio::spawn(async move {
                if let Err(e) = db
                    .system()
                    .api_keys()
                    .touch_last_used(id, chrono::Utc::now())
                    .await
                {
                    tracing::debug!(error = %e, "could not record API key use");
                }
            });
        }
        Ok(Principal {
            actor: Actor::ApiKey {
                key_id: snap.key.id,
                user_id: snap.user.as_ref().map(|u| u.id),
            },
            role: snap.user.as_ref().map_or(Role::Member, |u| u.role),
            organization: snap.organization.clone(),
            user: snap.user.clone(),
            scopes: snap.key.scopes.clone(),
        })
    }

    /// Verifies a key of the original Python server against the bcrypt
    /// hashes stored under its display prefix (on the hashing pool), and on a
    /// match stores our SHA-256 digest in place of the bcrypt hash, so the
    /// next use is an indexed lookup. Returns whether a key matched.
    async fn convert_original_key(&self, key: &str, prefix: &str, digest: &str) -> Result<bool> {
        let keys = self.inner.db.system().api_keys();
        let presented = curatore_domain::Secret::new(key);
        for (id, stored) in keys.bcrypt_candidates(prefix).await? {
            if self
                .inner
                .config
                .hasher
                .verify_bcrypt(&presented, &stored)
                .await?
            {
                if keys.replace_bcrypt_hash(id, &stored, digest).await? {
                    tracing::info!(key_id = %id, "API key of the original server now stored as SHA-256");
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether this request should write the key's `last_used_at`.
    fn due_for_last_used(&self, id: ApiKeyId) -> bool {
        let now = Instant::now();
        let mut map = self
            .inner
            .last_used
            .lock()
            .unwrap_or_else(|e| e.into_inner());
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

/// 401 `authentication_required`.
pub fn authentication_required() -> ServiceError {
    Unauthenticated::Missing.into()
}

fn invalid_token() -> ServiceError {
    Unauthenticated::InvalidToken.into()
}

fn invalid_key() -> ServiceError {
    Unauthenticated::InvalidApiKey.into()
}
