use crate::cors::CorsPolicy;
use crate::rate_limit::{RateLimiter, RateLimits};
use curatore_domain::Secret;
use curatore_service::Services;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// What every handler shares: the services, and whether the server is
/// shutting down. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    services: Services,
    draining: Arc<AtomicBool>,
    request_timeout: Duration,
    health_details: HealthDetails,
    cors: CorsPolicy,
    metrics_token: Option<Secret>,
    rate_limiter: Option<Arc<RateLimiter>>,
}

impl AppState {
    /// State over the services (`curatore_server::Curatore::build` makes
    /// both from the settings).
    pub fn from_services(services: Services) -> Self {
        Self {
            services,
            draining: Arc::new(AtomicBool::new(false)),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            health_details: HealthDetails::default(),
            cors: CorsPolicy::default(),
            metrics_token: None,
            rate_limiter: None,
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

    /// Sets which browser origins may call the API
    /// ([`CorsPolicy::default`] unless set: localhost).
    #[must_use]
    pub fn with_cors(mut self, cors: CorsPolicy) -> Self {
        self.cors = cors;
        self
    }

    /// Which browser origins may call the API.
    pub fn cors(&self) -> &CorsPolicy {
        &self.cors
    }

    /// Requires `Authorization: Bearer <token>` to read `GET /metrics`
    /// (readable by anyone unless set).
    #[must_use]
    pub fn with_metrics_token(mut self, token: Option<Secret>) -> Self {
        self.metrics_token = token.filter(|t| !t.expose().is_empty());
        self
    }

    /// The token `GET /metrics` requires, if any.
    pub(crate) fn metrics_token(&self) -> Option<&Secret> {
        self.metrics_token.as_ref()
    }

    /// Limits request rates per client address and per principal (no limits
    /// unless set). Clones share the counts.
    #[must_use]
    pub fn with_rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limiter = Some(Arc::new(RateLimiter::new(limits)));
        self
    }

    pub(crate) fn rate_limiter(&self) -> Option<&RateLimiter> {
        self.rate_limiter.as_deref()
    }

    /// The use cases.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// From now on `/readyz` answers 503, so load balancers stop sending
    /// traffic while in-flight requests finish.
    pub fn begin_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether [`AppState::begin_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("services", &self.services)
            .field("draining", &self.is_draining())
            .field("request_timeout", &self.request_timeout)
            .field("health_details", &self.health_details)
            .field("cors", &self.cors)
            .field("metrics_token", &self.metrics_token.is_some())
            .field("rate_limits", &self.rate_limiter.is_some())
            .finish_non_exhaustive()
    }
}
