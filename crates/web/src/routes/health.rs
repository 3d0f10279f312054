//! Health endpoints: liveness, readiness, and the seed's health reports.

use crate::auth::{Actor, client_of, resolve_optional};
use crate::error::ApiError;
use crate::state::{AppState, HealthDetails};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use curatore_persistence::{DatabaseHealth, HEALTH_TIMEOUT, HealthStatus};
use curatore_service::ServiceStatus;
use serde::Serialize;
use std::collections::BTreeMap;

/// The API's own version, reported by the health endpoints.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    // Resources (not bare routes), so a wrong method is a 405, not a 404.
    cfg.service(web::resource("/livez").get(livez))
        .service(web::resource("/readyz").get(readyz))
        .service(web::resource("/api/v1/health").get(ui_health))
        .service(web::resource("/api/v1/llm/status").get(llm_status))
        .service(web::resource("/api/v1/extractor/status").get(extractor_status))
        .service(web::resource("/api/v1/system/health").get(backend))
        .service(web::resource("/api/v1/system/health/backend").get(backend_alias))
        .service(web::resource("/api/v1/system/health/database").get(database))
        .service(web::resource("/api/v1/system/health/comprehensive").get(comprehensive));
}

/// `GET /api/v1/system/health/backend`: the answer of `/api/v1/system/health`
/// with the `message` the original UI's System Health card shows.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/system/health/backend", tag = "health", security(()),
    responses((status = 200, description = "The API answers", body = BackendBody))))]
async fn backend_alias() -> HttpResponse {
    HttpResponse::Ok().json(BackendBody {
        status: "healthy",
        message: Some("API is responding"),
        service: Some("curatore"),
        version: VERSION,
    })
}

/// A liveness or readiness answer.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct Probe {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl Probe {
    fn ok(status: &'static str) -> Self {
        Self {
            status,
            reason: None,
        }
    }

    fn not_ready(reason: impl Into<String>) -> Self {
        Self {
            status: "not_ready",
            reason: Some(reason.into()),
        }
    }
}

/// Answers as long as the process serves HTTP; never touches the database.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/livez", tag = "health", security(()),
    responses((status = 200, description = "The process serves HTTP", body = Probe))))]
async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(Probe::ok("alive"))
}

/// Ready when the database answers in time and the server is not draining.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, description = "Ready: the database answers", body = Probe),
        (status = 503, description = "Not ready (shutting down, or the database does not answer)", body = Probe))))]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.is_draining() {
        return HttpResponse::ServiceUnavailable()
            .json(Probe::not_ready("the server is shutting down"));
    }
    match tokio::time::timeout(HEALTH_TIMEOUT, state.services().ping_database()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(Probe::ok("ready")),
        Ok(Err(err)) => HttpResponse::ServiceUnavailable().json(Probe::not_ready(err.to_string())),
        Err(_) => HttpResponse::ServiceUnavailable()
            .json(Probe::not_ready("the database did not answer in time")),
    }
}

/// The API itself.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct BackendBody {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'static str>,
    version: &'static str,
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/system/health", tag = "health", security(()),
    responses((status = 200, description = "The API answers", body = BackendBody))))]
async fn backend() -> HttpResponse {
    HttpResponse::Ok().json(BackendBody {
        status: "healthy",
        message: None,
        service: Some("curatore"),
        version: VERSION,
    })
}

/// What the original's UI asks on every page.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct UiHealthBody {
    status: &'static str,
    timestamp: chrono::DateTime<chrono::Utc>,
    version: &'static str,
    /// The organization's default `llm` connection passed its last test.
    llm_connected: bool,
    /// Where the data is kept (the database) answers.
    storage_available: bool,
}

/// `status` is `healthy` while the database answers, else `unhealthy`
/// (still 200, as the original answered). The organization is the caller's,
/// or the default one for anonymous callers; bad credentials are not
/// refused here, since the UI polls this before and after signing in.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/health", tag = "health",
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The original's health answer: database and the default LLM connection's last test", body = UiHealthBody))))]
pub(crate) async fn ui_health(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let storage_available = matches!(
        tokio::time::timeout(HEALTH_TIMEOUT, state.services().ping_database()).await,
        Ok(Ok(()))
    );
    let services = state.services();
    let llm_connected = match resolve_optional(&req).await.ok().flatten() {
        _ if !storage_available => Ok(false),
        Some(ctx) => services.status(&ctx).llm_connected().await,
        None => {
            let client = client_of(&req, &state);
            services.anonymous(&client).llm_connected().await
        }
    }
    .unwrap_or(false);
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(UiHealthBody {
            status: if storage_available {
                "healthy"
            } else {
                "unhealthy"
            },
            timestamp: chrono::Utc::now(),
            version: VERSION,
            llm_connected,
            storage_available,
        })
}

/// The database report: the seed's fields plus counts, migration and latency.
/// The details are left out for anonymous callers under
/// [`HealthDetails::Authenticated`].
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct DatabaseBody {
    status: &'static str,
    message: String,
    database_type: &'static str,
    connected: bool,
    latency_ms: f64,
    /// Absent for anonymous callers under `HEALTH_DETAILS=authenticated`.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = DatabaseDetails))]
    details: Option<DatabaseDetails>,
}

/// What the report tells about the deployment: where the data is and how much.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct DatabaseDetails {
    #[cfg_attr(feature = "openapi", schema(required = false))]
    database_url: String,
    /// Row counts per table; `null` when they could not be read.
    #[cfg_attr(feature = "openapi", schema(required = false))]
    tables: Option<BTreeMap<&'static str, u64>>,
    /// Tables whose count is the engine's estimate rather than an exact count.
    #[cfg_attr(feature = "openapi", schema(required = false))]
    estimated_tables: Vec<&'static str>,
    #[cfg_attr(feature = "openapi", schema(required = false))]
    migration_version: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = false))]
    database_size_mb: Option<f64>,
    /// How old the counts, size and migration version are, in seconds.
    #[cfg_attr(feature = "openapi", schema(required = false))]
    stats_age_seconds: Option<f64>,
}

impl DatabaseBody {
    fn new(h: DatabaseHealth, with_details: bool) -> Self {
        let (tables, estimated_tables, migration_version, database_size_mb, stats_age_seconds) =
            match h.stats {
                Some(stats) => (
                    Some(stats.tables.iter().map(|(t, c)| (*t, c.rows)).collect()),
                    stats
                        .tables
                        .iter()
                        .filter(|(_, c)| !c.exact)
                        .map(|(t, _)| *t)
                        .collect(),
                    stats.migration_version,
                    stats.size_mb.map(round2),
                    Some(round2(stats.age.as_secs_f64())),
                ),
                None => (None, Vec::new(), None, None, None),
            };
        Self {
            status: h.status.as_str(),
            message: h.message,
            database_type: h.database_type.as_str(),
            connected: h.connected,
            latency_ms: round2(h.latency_ms),
            details: with_details.then_some(DatabaseDetails {
                database_url: h.database_url,
                tables,
                estimated_tables,
                migration_version,
                database_size_mb,
                stats_age_seconds,
            }),
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn status_code(status: HealthStatus) -> StatusCode {
    match status {
        HealthStatus::Healthy => StatusCode::OK,
        HealthStatus::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/system/health/database", tag = "health",
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The database is healthy (details per `HEALTH_DETAILS`)", body = DatabaseBody),
        (status = 503, description = "The database is unhealthy", body = DatabaseBody))))]
async fn database(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let with_details = shows_details(&state, &req).await;
    let report = state.services().database_health().await;
    HttpResponse::build(status_code(report.status)).json(DatabaseBody::new(report, with_details))
}

/// Whether the caller may see the report's details: anyone under
/// [`HealthDetails::Public`]; otherwise only a caller with a valid token or
/// API key. Without authentication enabled nobody qualifies; invalid
/// credentials get the anonymous report rather than an error, so a probe
/// with a stale token still learns whether the database is up.
async fn shows_details(state: &AppState, req: &HttpRequest) -> bool {
    match state.health_details() {
        HealthDetails::Public => true,
        HealthDetails::Authenticated => {
            state.services().auth_enabled()
                && matches!(
                    resolve_optional(req).await,
                    Ok(Some(ctx)) if !matches!(ctx.principal().actor(), Actor::System)
                )
        }
    }
}

/// The database component of the comprehensive report (no deployment details).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct DatabaseComponent {
    status: &'static str,
    message: String,
    database_type: &'static str,
    connected: bool,
    latency_ms: f64,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct Components {
    backend: BackendBody,
    database: DatabaseComponent,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct ComprehensiveBody {
    timestamp: String,
    overall_status: &'static str,
    version: &'static str,
    components: Components,
}

/// Every component this service really has, each really checked.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/system/health/comprehensive", tag = "health", security(()),
    responses((status = 200, description = "Every component's health", body = ComprehensiveBody),
        (status = 503, description = "A component is unhealthy", body = ComprehensiveBody))))]
async fn comprehensive(state: web::Data<AppState>) -> HttpResponse {
    let db = state.services().database_health().await;
    let overall = match db.status {
        HealthStatus::Healthy => "healthy",
        // The API still answers, but nothing that needs data works.
        HealthStatus::Unhealthy => "degraded",
    };
    let status = status_code(db.status);
    HttpResponse::build(status).json(ComprehensiveBody {
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        overall_status: overall,
        version: VERSION,
        components: Components {
            backend: BackendBody {
                status: "healthy",
                message: Some("API is serving requests"),
                service: None,
                version: VERSION,
            },
            database: DatabaseComponent {
                status: db.status.as_str(),
                message: db.message,
                database_type: db.database_type.as_str(),
                connected: db.connected,
                latency_ms: round2(db.latency_ms),
            },
        },
    })
}

/// The original's `LLMConnectionStatus`, for the organization's default
/// connection of a type (database default, then the environment), from its
/// last stored test: nothing is called out per request. Never a secret.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ServiceStatusBody {
    connected: bool,
    endpoint: Option<String>,
    model: Option<String>,
    error: Option<String>,
    /// Why it is not connected, as a code: `not_configured`, `not_tested`,
    /// `secret_decryption_failed`, or the last test's reason
    /// (`credentials_refused`, `timeout`, `unreachable`, …).
    error_code: Option<&'static str>,
    /// Seconds the last test took, when recorded.
    response_time: Option<f64>,
    ssl_verify: Option<bool>,
    timeout: Option<u64>,
    /// `database` or `environment`; null when nothing is configured.
    source: Option<&'static str>,
    connection_id: Option<uuid::Uuid>,
    last_tested_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ServiceStatus> for ServiceStatusBody {
    fn from(s: ServiceStatus) -> Self {
        Self {
            connected: s.connected,
            endpoint: s.endpoint,
            model: s.model,
            error: s.error,
            error_code: s.error_code,
            response_time: s.response_time,
            ssl_verify: s.ssl_verify,
            timeout: s.timeout,
            source: s.source,
            connection_id: s.connection_id,
            last_tested_at: s.last_tested_at,
        }
    }
}

/// The caller's organization's status; without credentials the default
/// organization's (the original's UI asks before signing in), with the
/// deployment's details only under `HEALTH_DETAILS=public`. Invalid
/// credentials are a 401.
async fn status_of(
    req: &HttpRequest,
    state: &AppState,
    connection_type: &str,
) -> Result<HttpResponse, ApiError> {
    let services = state.services();
    let status = match resolve_optional(req).await? {
        Some(ctx) => services.status(&ctx).service(connection_type).await?,
        None => {
            let client = client_of(req, state);
            let status = services
                .anonymous(&client)
                .service_status(connection_type)
                .await?;
            match state.health_details() {
                HealthDetails::Public => status,
                HealthDetails::Authenticated => status.without_details(),
            }
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(ServiceStatusBody::from(status)))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/llm/status", tag = "health",
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The organization's default LLM connection (without credentials: the default organization's; endpoint and model only under `HEALTH_DETAILS=public`)", body = ServiceStatusBody))))]
pub(crate) async fn llm_status(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    status_of(&req, &state, "llm").await
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/extractor/status", tag = "health",
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The organization's default extraction service (without credentials: the default organization's; endpoint only under `HEALTH_DETAILS=public`)", body = ServiceStatusBody))))]
pub(crate) async fn extractor_status(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    status_of(&req, &state, "extraction").await
}
