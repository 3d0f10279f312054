//! Response bodies: what the API shows of domain records (never a password
//! hash, key hash or connection secret).

use chrono::{DateTime, Utc};
use curatore_domain::{ApiKey, AuditLogEntry, Organization, User};
use curatore_service::{AuditFeedPage, AuditLogPage};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// An organization as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OrganizationBody {
    id: Uuid,
    name: String,
    display_name: String,
    slug: String,
    is_active: bool,
    #[schema(value_type = Object)]
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

/// A user as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserBody {
    id: Uuid,
    organization_id: Uuid,
    email: String,
    username: String,
    full_name: Option<String>,
    #[schema(value_type = crate::openapi::RoleName)]
    role: &'static str,
    is_active: bool,
    is_verified: bool,
    #[schema(value_type = Object)]
    settings: Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
}

impl From<&User> for UserBody {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.as_uuid(),
            organization_id: u.organization_id.as_uuid(),
            email: u.email.as_str().to_owned(),
            username: u.username.as_str().to_owned(),
            full_name: u.full_name.clone(),
            role: u.role.as_str(),
            is_active: u.is_active,
            is_verified: u.is_verified,
            settings: u.settings.clone(),
            created_at: u.created_at,
            updated_at: u.updated_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// A user as the original's web UI reads it: [`UserBody`] and `last_login`,
/// the UI's name for `last_login_at`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UiUserBody {
    #[serde(flatten)]
    user: UserBody,
    last_login: Option<DateTime<Utc>>,
}

impl From<&User> for UiUserBody {
    fn from(u: &User) -> Self {
        Self {
            user: UserBody::from(u),
            last_login: u.last_login_at,
        }
    }
}

/// An API key as the API shows it: never the key or its hash.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ApiKeyBody {
    id: Uuid,
    organization_id: Uuid,
    user_id: Option<Uuid>,
    name: String,
    prefix: String,
    scopes: Vec<String>,
    is_active: bool,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&ApiKey> for ApiKeyBody {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.as_uuid(),
            organization_id: k.organization_id.as_uuid(),
            user_id: k.user_id.map(|u| u.as_uuid()),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scopes: k.scopes.clone(),
            is_active: k.is_active,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            created_at: k.created_at,
            updated_at: k.updated_at,
        }
    }
}

/// One page of the audit trail: `limit` as asked, and `next_cursor` to pass
/// back as `cursor` (null on the last page).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuditLogPageBody {
    items: Vec<AuditLogBody>,
    limit: u64,
    next_cursor: Option<String>,
}

impl From<AuditLogPage> for AuditLogPageBody {
    fn from(page: AuditLogPage) -> Self {
        Self {
            items: page.items.into_iter().map(AuditLogBody::from).collect(),
            limit: page.limit,
            next_cursor: page.next_cursor,
        }
    }
}

/// A read of the audit feed: entries in commit order, and the `position` to
/// pass back as `after` (the same one again when nothing new was committed).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuditFeedBody {
    items: Vec<AuditLogBody>,
    limit: u64,
    position: String,
}

impl From<AuditFeedPage> for AuditFeedBody {
    fn from(page: AuditFeedPage) -> Self {
        Self {
            items: page.items.into_iter().map(AuditLogBody::from).collect(),
            limit: page.limit,
            position: page.position,
        }
    }
}

/// An audit entry as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuditLogBody {
    id: Uuid,
    organization_id: Option<Uuid>,
    user_id: Option<Uuid>,
    action: String,
    entity_type: Option<String>,
    entity_id: Option<Uuid>,
    details: Option<Value>,
    ip_address: Option<String>,
    user_agent: Option<String>,
    #[schema(value_type = String, examples("success", "failure"))]
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
