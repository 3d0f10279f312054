//! The cards of the original UI's System Health page,
//! `GET /api/v1/system/health/{component}`, in the original's shape
//! (`status`, `message`, and the component's own fields).
//!
//! `llm`, `extraction` and `sharepoint` are the default connections of those
//! types, read from their last stored test (no request goes out). `redis`,
//! `celery` and `docling` belong to the original's document-processing
//! backend: this server answers 200 `not_applicable` for them, so the page
//! shows them as not part of this server rather than failed; in the
//! side-by-side deployment the proxy sends those paths to that backend.

use crate::auth::{client_of, resolve_optional};
use crate::error::ApiError;
use crate::state::{AppState, HealthDetails};
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use curatore_service::ComponentHealth;
use serde::Serialize;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/system/health/llm").get(llm))
        .service(web::resource("/api/v1/system/health/extraction").get(extraction))
        .service(web::resource("/api/v1/system/health/sharepoint").get(sharepoint))
        .service(web::resource("/api/v1/system/health/redis").get(redis))
        .service(web::resource("/api/v1/system/health/celery").get(celery))
        .service(web::resource("/api/v1/system/health/docling").get(docling));
}

/// How a component stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "snake_case"))]
#[allow(dead_code, reason = "describes `ComponentBody::status`")]
pub(crate) enum ComponentStatusName {
    /// The default connection passed its last test.
    Healthy,
    /// It failed its last test.
    Unhealthy,
    /// It was never tested.
    Unknown,
    /// No connection of the type is configured.
    NotConfigured,
    /// The component is not part of this server.
    NotApplicable,
}

/// One card of the System Health page. Fields that do not apply are absent.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ComponentBody {
    #[cfg_attr(feature = "openapi", schema(value_type = ComponentStatusName))]
    status: &'static str,
    message: String,
    /// A connection of the type is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    configured: Option<bool>,
    /// The model (`llm`; under `HEALTH_DETAILS=public` or signed in).
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    /// The model's base URL (`llm`; as `model`).
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    /// The extraction service's URL (`extraction`; as `model`).
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    /// The Microsoft Graph base URL (`sharepoint`; as `model`).
    #[serde(skip_serializing_if = "Option::is_none")]
    graph_endpoint: Option<String>,
    /// The last test obtained a token and reached Graph (`sharepoint`, once tested).
    #[serde(skip_serializing_if = "Option::is_none")]
    authenticated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_tested_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ComponentBody {
    fn of(connection_type: &str, card: ComponentHealth) -> Self {
        let tested = card.last_tested_at.is_some();
        let healthy = card.status == curatore_service::ComponentStatus::Healthy;
        let (mut model, mut endpoint, mut url, mut graph_endpoint) = (None, None, None, None);
        match connection_type {
            "llm" => (model, endpoint) = (card.model, card.endpoint),
            "extraction" => url = card.endpoint,
            _ => graph_endpoint = card.endpoint,
        }
        Self {
            status: card.status.as_str(),
            message: card.message,
            configured: Some(card.configured),
            model,
            endpoint,
            url,
            graph_endpoint,
            authenticated: (connection_type == "sharepoint" && tested).then_some(healthy),
            last_tested_at: card.last_tested_at,
        }
    }

    fn not_applicable(component: &str) -> Self {
        Self {
            status: "not_applicable",
            message: format!(
                "{component} is not part of this server: it belongs to the document-processing backend"
            ),
            configured: None,
            model: None,
            endpoint: None,
            url: None,
            graph_endpoint: None,
            authenticated: None,
            last_tested_at: None,
        }
    }
}

/// The caller's organization's card, or without (valid) credentials the
/// default organization's; deployment details for anonymous callers only
/// under `HEALTH_DETAILS=public`. Like the other health reports, invalid
/// credentials get the anonymous answer rather than a 401.
async fn card(
    req: &HttpRequest,
    state: &AppState,
    connection_type: &str,
) -> Result<HttpResponse, ApiError> {
    let services = state.services();
    let card = match resolve_optional(req).await.ok().flatten() {
        Some(ctx) => {
            services
                .status(&ctx)
                .component_health(connection_type)
                .await?
        }
        None => {
            let client = client_of(req, state);
            let card = services
                .anonymous(&client)
                .component_health(connection_type)
                .await?;
            match state.health_details() {
                HealthDetails::Authenticated => card.without_details(),
                HealthDetails::Public => card,
            }
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(ComponentBody::of(connection_type, card)))
}

fn not_applicable(component: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(ComponentBody::not_applicable(component))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/system/health/llm", tag = "health",
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The default `llm` connection's last test (the caller's organization, else the default one)", body = ComponentBody))))]
pub(crate) async fn llm(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    card(&req, &state, "llm").await
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/system/health/extraction", tag = "health",
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The default `extraction` connection's last test (the caller's organization, else the default one)", body = ComponentBody))))]
pub(crate) async fn extraction(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    card(&req, &state, "extraction").await
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/system/health/sharepoint", tag = "health",
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The default `sharepoint` connection's last test (the caller's organization, else the default one)", body = ComponentBody))))]
pub(crate) async fn sharepoint(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    card(&req, &state, "sharepoint").await
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/system/health/redis", tag = "health", security(()),
    responses((status = 200, description = "`not_applicable`: Redis belongs to the document-processing backend", body = ComponentBody))))]
pub(crate) async fn redis() -> HttpResponse {
    not_applicable("Redis")
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/system/health/celery", tag = "health", security(()),
    responses((status = 200, description = "`not_applicable`: the Celery workers belong to the document-processing backend", body = ComponentBody))))]
pub(crate) async fn celery() -> HttpResponse {
    not_applicable("The Celery worker")
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/system/health/docling", tag = "health", security(()),
    responses((status = 200, description = "`not_applicable`: Docling belongs to the document-processing backend", body = ComponentBody))))]
pub(crate) async fn docling() -> HttpResponse {
    not_applicable("Docling")
}
