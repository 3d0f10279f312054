use crate::auth::{AuthConfig, AuthRuntime};
use crate::tenant::DefaultOrganization;
use curatore_domain::OrganizationId;
use curatore_persistence::Database;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How long a client may take to send a request body when nothing else is
/// configured: the default of `REQUEST_TIMEOUT_SECONDS`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Who sees the details of the database health report (URL, row counts,
/// size, migration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthDetails {
    /// Every caller, as the Python system did.
    #[default]
    Public,
    /// Only callers with a valid bearer token or API key; others get the
    /// status, message, connection, database type and latency.
    Authenticated,
}

/// What every handler shares: the database, how the tenant of a request is
/// found, and whether the server is shutting down. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
    request_timeout: Duration,
    health_details: HealthDetails,
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
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            health_details: HealthDetails::default(),
        }
    }

    /// Sets how long a client may take to send a request body, counted from
    /// the moment its headers were read ([`DEFAULT_REQUEST_TIMEOUT`] unless
    /// set; `Duration::ZERO`: no limit). A body that is late is answered 408
    /// `request_timeout` and the connection closed; a handler that already
    /// has its body is never cut off. The headers themselves are bounded by
    /// the server (`HttpServer::client_request_timeout`).
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The body deadline set by [`AppState::with_request_timeout`].
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Sets who sees the details of the database health report
    /// ([`HealthDetails::Public`] unless set).
    #[must_use]
    pub fn with_health_details(mut self, details: HealthDetails) -> Self {
        self.health_details = details;
        self
    }

    /// Who sees the details of the database health report.
    pub fn health_details(&self) -> HealthDetails {
        self.health_details
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
            .field("request_timeout", &self.request_timeout)
            .field("health_details", &self.health_details)
            .finish_non_exhaustive()
    }
}
