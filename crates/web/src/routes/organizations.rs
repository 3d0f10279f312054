//! The caller's own organization.

use crate::error::ApiError;
use crate::request::RequestId;
use crate::tenant::OrganizationContext;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use curatore_domain::{AuditAction, AuditStatus, NewAuditLogEntry, Organization};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/organizations/me")
            .route(web::get().to(me))
            .route(web::patch().to(update_me)),
    )
    .service(web::resource("/api/v1/organizations/{id}").route(web::get().to(by_id)));
}

/// An organization as the API shows it.
#[derive(Serialize)]
pub(crate) struct OrganizationBody {
    id: Uuid,
    name: String,
    display_name: String,
    slug: String,
    is_active: bool,
    settings: Value,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&Organization> for OrganizationBody {
    fn from(o: &Organization) -> Self {
        Self {
            id: o.id.as_uuid(),
            name: o.name.clone(),
            display_name: o.display_name.clone(),
            slug: o.slug.as_str().to_owned(),
            is_active: o.is_active,
            settings: o.settings.clone(),
            created_by: o.created_by.map(|u| u.as_uuid()),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

async fn me(ctx: OrganizationContext) -> HttpResponse {
    HttpResponse::Ok().json(OrganizationBody::from(ctx.organization()))
}

/// Another tenant's organization answers exactly like a missing one.
async fn by_id(ctx: OrganizationContext, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    if ctx.organization_id().as_uuid() != *id {
        return Err(ApiError::not_found("organization not found"));
    }
    Ok(HttpResponse::Ok().json(OrganizationBody::from(ctx.organization())))
}

/// The fields an organization may change about itself.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationUpdate {
    display_name: Option<String>,
    settings: Option<Value>,
}

const DISPLAY_NAME_MAX: usize = 255;

async fn update_me(
    ctx: OrganizationContext,
    req: HttpRequest,
    request_id: RequestId,
    body: web::Json<OrganizationUpdate>,
) -> Result<HttpResponse, ApiError> {
    let OrganizationUpdate {
        display_name,
        settings,
    } = body.into_inner();
    if let Some(name) = &display_name {
        let chars = name.trim().chars().count();
        if chars == 0 || chars > DISPLAY_NAME_MAX {
            return Err(ApiError::bad_request(
                "validation_failed",
                format!("display_name must be 1 to {DISPLAY_NAME_MAX} characters"),
            ));
        }
    }
    if settings.as_ref().is_some_and(|s| !s.is_object()) {
        return Err(ApiError::bad_request(
            "validation_failed",
            "settings must be a JSON object",
        ));
    }
    let mut changed = Vec::new();
    if display_name.is_some() {
        changed.push("display_name");
    }
    if settings.is_some() {
        changed.push("settings");
    }
    let state = req
        .app_data::<web::Data<crate::AppState>>()
        .ok_or_else(ApiError::internal)?;
    let org_id = ctx.organization_id();
    let tx = state.database().begin().await?;
    let updated = tx
        .organizations()
        .update_profile(org_id, display_name.map(|n| n.trim().to_owned()), settings)
        .await?;
    tx.audit_logs()
        .record(NewAuditLogEntry {
            organization_id: Some(org_id),
            user_id: None,
            action: AuditAction::parse("update_organization")?,
            entity_type: Some("organization".into()),
            entity_id: Some(org_id.as_uuid()),
            details: Some(serde_json::json!({
                "fields": changed,
                "request_id": request_id.as_str(),
            })),
            ip_address: req.peer_addr().map(|a| a.ip().to_string()),
            user_agent: req
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            status: AuditStatus::Success,
            error_message: None,
        })
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(OrganizationBody::from(&updated)))
}
