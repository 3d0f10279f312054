//! What every request handle holds: the services and the authenticated
//! caller, and the checks every use case starts with.

use crate::audit::{AuditEvent, Entry};
use crate::context::{Principal, RequestContext, Scope};
use crate::error::Result;
use crate::services::Services;
use crate::work::{Origin, Work};
use curatore_domain::{OrganizationId, Role};
use curatore_persistence::Tenant;
use serde_json::json;

/// The services, bound to one authenticated caller. Resource handles wrap it.
#[derive(Clone, Copy)]
pub(crate) struct Bound<'a> {
    pub(crate) services: &'a Services,
    pub(crate) ctx: &'a RequestContext,
}

impl<'a> Bound<'a> {
    pub(crate) fn new(services: &'a Services, ctx: &'a RequestContext) -> Self {
        Self { services, ctx }
    }

    pub(crate) fn principal(&self) -> &'a Principal {
        &self.ctx.principal
    }

    pub(crate) fn org(&self) -> OrganizationId {
        self.ctx.organization_id()
    }

    /// What the caller's organization owns, outside any transaction (reads).
    pub(crate) fn tenant(&self) -> Tenant<'a> {
        self.services.database().tenant(self.org())
    }

    /// A unit of work on the caller's behalf.
    pub(crate) async fn begin(&self) -> Result<Work<'a>> {
        Work::begin(self.services, Origin::Caller(self.ctx)).await
    }

    /// Refuses a caller who must first change a temporary password (only
    /// [`crate::Account`] serves them), and an API key whose scopes do not
    /// include `scope`.
    pub(crate) fn scope(&self, scope: Scope) -> Result<()> {
        self.principal().refuse_pending_password_change()?;
        self.principal().require_scope(scope)
    }

    /// A caller with at least `role` (and no pending password change).
    pub(crate) fn role(&self, role: Role) -> Result<()> {
        self.principal().refuse_pending_password_change()?;
        self.principal().require_role(role)
    }

    /// An org_admin with `scope`. A refused caller is recorded in the
    /// organization's trail (`access_denied`, naming the operation): someone
    /// probing admin routes is worth knowing about. A failure to record is
    /// logged and does not change the answer.
    pub(crate) async fn admin(&self, operation: &'static str, scope: Scope) -> Result<()> {
        self.admin_role(operation).await?;
        self.scope(scope)
    }

    /// [`Bound::admin`] without a key scope (for what no key may do anyway).
    pub(crate) async fn admin_role(&self, operation: &'static str) -> Result<()> {
        self.principal().refuse_pending_password_change()?;
        if let Err(refused) = self.principal().require_role(Role::OrgAdmin) {
            let entry = Entry::anonymous(json!({"operation": operation, "needs": "org_admin"}))
                .failed("forbidden: this operation needs the org_admin role")
                .by(AuditEvent::AccessDenied, self.ctx);
            self.services.record_quietly(entry, operation).await;
            return Err(refused);
        }
        Ok(())
    }
}
