use crate::auth::{AuthConfig, AuthRuntime};
use crate::tenant::DefaultOrganization;
use curatore_domain::OrganizationId;
use curatore_persistence::Database;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// What every handler shares: the database, how the tenant of a request is
/// found, and whether the server is shutting down. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    default_organization: DefaultOrganization,
    auth: AuthRuntime,
    resolved_organization: RwLock<Option<OrganizationId>>,
    draining: AtomicBool,
}

impl AppState {
    /// State over an open database. With `auth.enabled` false, every
    /// request is served as `default_organization`.
    pub fn new(db: Database, default_organization: DefaultOrganization, auth: AuthConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                default_organization,
                auth: AuthRuntime::new(auth),
                resolved_organization: RwLock::new(None),
                draining: AtomicBool::new(false),
            }),
        }
    }

    /// The database service.
    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    pub(crate) fn auth(&self) -> &AuthRuntime {
        &self.inner.auth
    }

    /// How the default organization is chosen.
    pub fn default_organization(&self) -> &DefaultOrganization {
        &self.inner.default_organization
    }

    /// From now on `/readyz` answers 503, so load balancers stop sending
    /// traffic while in-flight requests finish.
    pub fn begin_draining(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }

    /// Whether [`AppState::begin_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    pub(crate) fn cached_organization(&self) -> Option<OrganizationId> {
        *self
            .inner
            .resolved_organization
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn cache_organization(&self, id: Option<OrganizationId>) {
        *self
            .inner
            .resolved_organization
            .write()
            .unwrap_or_else(|e| e.into_inner()) = id;
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("db", &self.inner.db)
            .field("draining", &self.is_draining())
            .finish_non_exhaustive()
    }
}
