//! API keys: create (the key is shown once), list, rename, revoke.

use crate::audit::AuditContext;
use crate::auth::{AnyRole, Member, Principal};
use crate::dto::ApiKeyBody;
use crate::error::ApiError;
use crate::input::{NAME_MAX, required_text};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use curatore_domain::{ApiKey, ApiKeyId, NewApiKey, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/api-keys").get(list).post(create))
        .service(
            web::resource("/api/v1/api-keys/{id}")
                .put(rename)
                .delete(revoke),
        );
}

const MAX_SCOPES: usize = 32;
const MAX_EXPIRY_DAYS: u32 = 3650;

fn check_scopes(scopes: Vec<String>) -> Result<Vec<String>, ApiError> {
    let valid = |s: &String| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b":._-".contains(&b))
    };
    if scopes.len() > MAX_SCOPES || !scopes.iter().all(valid) {
        return Err(ApiError::bad_request(
            "validation_failed",
            format!(
                "scopes: at most {MAX_SCOPES}, each 1-64 characters of a-z, 0-9, ':', '.', '_', '-'"
            ),
        ));
    }
    let mut scopes = scopes;
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// Keys cannot mint or manage keys: a leaked key must not be able to
/// outlive its own revocation.
fn refuse_api_key_actor(principal: &Principal) -> Result<(), ApiError> {
    principal.refuse_api_key("API keys cannot manage API keys; sign in as a user")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    expires_in_days: Option<u32>,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Serialize)]
struct CreatedKey {
    #[serde(flatten)]
    key: ApiKeyBody,
    /// The full key: shown here once, never again.
    api_key: String,
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(principal): Member,
    body: web::Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    refuse_api_key_actor(&principal)?;
    let CreateRequest {
        name,
        expires_in_days,
        scopes,
    } = body.into_inner();
    let name = required_text("name", &name, NAME_MAX)?;
    let scopes = check_scopes(scopes)?;
    let expires_at = match expires_in_days {
        Some(days) if (1..=MAX_EXPIRY_DAYS).contains(&days) => {
            Some(chrono::Utc::now() + chrono::Duration::days(i64::from(days)))
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "validation_failed",
                format!("expires_in_days must be 1 to {MAX_EXPIRY_DAYS}"),
            ));
        }
        None => None,
    };
    let generated = state.auth().config.api_keys.generate();
    let audit = AuditContext::new(&req, &state);
    let tx = state.database().begin().await?;
    let key = tx
        .api_keys()
        .create(NewApiKey {
            organization_id: principal.organization_id(),
            user_id: principal.user_id(),
            name,
            key_hash: generated.hash,
            prefix: generated.display_prefix,
            scopes,
            expires_at,
        })
        .await?;
    tx.audit_logs()
        .record(audit.by(
            &principal,
            "api_key_created",
            ("api_key", key.id.as_uuid()),
            json!({"name": key.name, "prefix": key.prefix, "scopes": key.scopes}),
        )?)
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedKey {
            key: ApiKeyBody::from(&key),
            api_key: generated.key.expose().to_owned(),
        }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Admins: every key of the organization, not only their own.
    #[serde(default)]
    all: bool,
}

async fn list(
    state: web::Data<AppState>,
    AnyRole(principal): AnyRole,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let everyone =
        principal.user_id().is_none() || (query.all && principal.role() == Role::OrgAdmin);
    let owner = if everyone { None } else { principal.user_id() };
    let keys = state
        .database()
        .api_keys()
        .list(principal.organization_id(), owner)
        .await?;
    let items: Vec<ApiKeyBody> = keys.iter().map(ApiKeyBody::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// The key, if the caller may manage it; otherwise the same 404 as a
/// missing key (another tenant's or another user's key is not disclosed).
async fn manageable(state: &AppState, principal: &Principal, id: Uuid) -> Result<ApiKey, ApiError> {
    let key = state
        .database()
        .api_keys()
        .get(principal.organization_id(), ApiKeyId::from_uuid(id))
        .await?
        .ok_or_else(|| ApiError::not_found("API key not found"))?;
    let own = key.user_id.is_some() && key.user_id == principal.user_id();
    if own || principal.role() == Role::OrgAdmin {
        Ok(key)
    } else {
        Err(ApiError::not_found("API key not found"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameRequest {
    name: String,
}

async fn rename(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(principal): Member,
    id: web::Path<Uuid>,
    body: web::Json<RenameRequest>,
) -> Result<HttpResponse, ApiError> {
    refuse_api_key_actor(&principal)?;
    let name = required_text("name", &body.name, NAME_MAX)?;
    let key = manageable(&state, &principal, *id).await?;
    if !key.is_active {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "api_key_revoked",
            "the API key is revoked and cannot be changed",
        ));
    }
    let audit = AuditContext::new(&req, &state);
    let tx = state.database().begin().await?;
    let renamed = tx
        .api_keys()
        .rename(principal.organization_id(), key.id, &name)
        .await?;
    tx.audit_logs()
        .record(audit.by(
            &principal,
            "api_key_renamed",
            ("api_key", key.id.as_uuid()),
            json!({"from": key.name, "to": renamed.name}),
        )?)
        .await?;
    tx.commit().await?;
    state.auth().cache.forget_key(key.id);
    Ok(HttpResponse::Ok().json(ApiKeyBody::from(&renamed)))
}

async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(principal): Member,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    refuse_api_key_actor(&principal)?;
    let key = manageable(&state, &principal, *id).await?;
    let audit = AuditContext::new(&req, &state);
    let tx = state.database().begin().await?;
    // Revoking a revoked key changes nothing and records nothing (still 204:
    // DELETE is idempotent).
    if !tx
        .api_keys()
        .revoke(principal.organization_id(), key.id)
        .await?
    {
        return Ok(HttpResponse::NoContent().finish());
    }
    tx.audit_logs()
        .record(audit.by(
            &principal,
            "api_key_revoked",
            ("api_key", key.id.as_uuid()),
            json!({"name": key.name, "prefix": key.prefix}),
        )?)
        .await?;
    tx.commit().await?;
    state.auth().cache.forget_key(key.id);
    Ok(HttpResponse::NoContent().finish())
}
