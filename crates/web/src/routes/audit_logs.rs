//! The caller's organization's audit trail (read-only: it is append-only).

use crate::auth::OrgAdmin;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use curatore_domain::AuditLogEntry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/audit-logs").get(list));
}

const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u64>,
    action: Option<String>,
}

#[derive(Serialize)]
struct AuditLogBody {
    id: Uuid,
    organization_id: Option<Uuid>,
    user_id: Option<Uuid>,
    action: String,
    entity_type: Option<String>,
    entity_id: Option<Uuid>,
    details: Option<Value>,
    ip_address: Option<String>,
    user_agent: Option<String>,
    status: &'static str,
    error_message: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<AuditLogEntry> for AuditLogBody {
    fn from(e: AuditLogEntry) -> Self {
        Self {
            id: e.id.as_uuid(),
            organization_id: e.organization_id.map(|o| o.as_uuid()),
            user_id: e.user_id.map(|u| u.as_uuid()),
            action: e.action.as_str().to_owned(),
            entity_type: e.entity_type,
            entity_id: e.entity_id,
            details: e.details,
            ip_address: e.ip_address,
            user_agent: e.user_agent,
            status: e.status.as_str(),
            error_message: e.error_message,
            created_at: e.created_at,
        }
    }
}

/// Newest first, at most `limit` (1–100, default 50), optionally one action.
async fn list(
    OrgAdmin(principal): OrgAdmin,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query_parameter",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    if let Some(action) = &query.action {
        curatore_domain::text::check_line("action", action)?;
    }
    let entries = state
        .database()
        .audit_logs()
        .list(principal.organization_id(), query.action.as_deref(), limit)
        .await?;
    let items: Vec<AuditLogBody> = entries.into_iter().map(AuditLogBody::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items, "limit": limit })))
}
