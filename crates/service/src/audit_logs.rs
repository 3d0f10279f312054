//! The organization's audit trail (read-only: it is append-only).

use crate::context::{Access, RequestContext, Scope};
use crate::error::{Result, ServiceError};
use crate::page::Page;
use crate::services::Services;
use curatore_domain::{AuditLogEntry, Role};

/// How many entries a page holds unless asked otherwise.
pub const DEFAULT_AUDIT_LIMIT: u64 = 50;
/// The most entries one page may hold.
pub const MAX_AUDIT_LIMIT: u64 = 100;

const READ: Scope = Scope::new("audit_logs", Access::Read);

impl Services {
    /// The caller's organization's audit trail, newest first, at most
    /// `limit` entries (1 to [`MAX_AUDIT_LIMIT`]), optionally one action.
    ///
    /// # Errors
    /// 403 for non-admins and keys without `audit_logs:read`; 400 for a bad
    /// limit or action; 503 when the database is unavailable.
    pub async fn list_audit_log(
        &self,
        ctx: &RequestContext,
        action: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<AuditLogEntry>> {
        ctx.principal.require_role(Role::OrgAdmin)?;
        ctx.principal.require_scope(READ)?;
        let limit = limit.unwrap_or(DEFAULT_AUDIT_LIMIT);
        if !(1..=MAX_AUDIT_LIMIT).contains(&limit) {
            return Err(ServiceError::new(
                crate::ErrorCode::InvalidQueryParameter,
                format!("limit must be between 1 and {MAX_AUDIT_LIMIT}"),
            ));
        }
        if let Some(action) = action {
            curatore_domain::text::check_line("action", action)?;
        }
        let items = self
            .database()
            .tenant(ctx.organization_id())
            .audit_logs()
            .list(action, limit)
            .await?;
        Ok(Page {
            items,
            total: None,
            limit,
            offset: 0,
        })
    }
}
