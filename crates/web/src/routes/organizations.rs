//! The caller's own organization.

use crate::audit::AuditContext;
use crate::auth::{AnyRole, OrgAdmin};
use crate::dto::OrganizationBody;
use crate::error::ApiError;
use crate::input::{NAME_MAX, required_text};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
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

async fn me(AnyRole(principal): AnyRole) -> HttpResponse {
    HttpResponse::Ok().json(OrganizationBody::from(principal.organization()))
}

/// Another tenant's organization answers exactly like a missing one.
async fn by_id(AnyRole(principal): AnyRole, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    if principal.organization_id().as_uuid() != *id {
        return Err(ApiError::not_found("organization not found"));
    }
    Ok(HttpResponse::Ok().json(OrganizationBody::from(principal.organization())))
}

/// The fields an organization may change about itself.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationUpdate {
    display_name: Option<String>,
    settings: Option<Value>,
}

async fn update_me(
    OrgAdmin(principal): OrgAdmin,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<OrganizationUpdate>,
) -> Result<HttpResponse, ApiError> {
    let OrganizationUpdate {
        display_name,
        settings,
    } = body.into_inner();
    let display_name = display_name
        .map(|n| required_text("display_name", &n, NAME_MAX))
        .transpose()?;
    if settings.as_ref().is_some_and(|s| !s.is_object()) {
        return Err(ApiError::bad_request(
            "validation_failed",
            "settings must be a JSON object",
        ));
    }
    if let Some(settings) = &settings {
        curatore_domain::text::check_json("settings", settings)?;
    }
    let mut changed = Vec::new();
    if display_name.is_some() {
        changed.push("display_name");
    }
    if settings.is_some() {
        changed.push("settings");
    }
    let org_id = principal.organization_id();
    let audit = AuditContext::new(&req, &state);
    let tx = state.database().begin().await?;
    let updated = tx
        .organizations()
        .update_profile(org_id, display_name, settings)
        .await?;
    tx.audit_logs()
        .record(audit.by(
            &principal,
            "update_organization",
            ("organization", org_id.as_uuid()),
            serde_json::json!({ "fields": changed }),
        )?)
        .await?;
    tx.commit().await?;
    state.auth().cache.forget_organization(org_id);
    Ok(HttpResponse::Ok().json(OrganizationBody::from(&updated)))
}
