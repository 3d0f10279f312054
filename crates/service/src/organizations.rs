//! The caller's own organization.

use crate::audit::{AuditEvent, Entry};
use crate::cache::Forget;
use crate::context::{Access, RequestContext, Scope};
use crate::error::{Result, ServiceError};
use crate::services::Services;
use crate::text;
use curatore_domain::setting_keys::Layer;
use curatore_domain::settings::{check_settings, merge_settings};
use curatore_domain::{Organization, OrganizationId};
use serde_json::{Value, json};

const READ: Scope = Scope::new("organization", Access::Read);
const WRITE: Scope = Scope::new("organization", Access::Write);

/// What an organization may change about itself; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct OrganizationChanges {
    /// The name shown to people.
    pub display_name: Option<String>,
    /// Settings (a JSON object), replacing the stored ones.
    pub settings: Option<Value>,
}

impl Services {
    /// The caller's organization.
    ///
    /// # Errors
    /// 403 for a key without the `organization:read` scope.
    pub fn my_organization(&self, ctx: &RequestContext) -> Result<Organization> {
        ctx.principal.require_scope(READ)?;
        Ok(ctx.principal.organization().clone())
    }

    /// The organization with `id`, if it is the caller's; another tenant's
    /// answers exactly like a missing one.
    ///
    /// # Errors
    /// 404 `not_found`; 403 for a key without the `organization:read` scope.
    pub fn organization_by_id(
        &self,
        ctx: &RequestContext,
        id: OrganizationId,
    ) -> Result<Organization> {
        ctx.principal.require_scope(READ)?;
        if ctx.organization_id() != id {
            return Err(ServiceError::not_found("organization not found"));
        }
        Ok(ctx.principal.organization().clone())
    }

    /// Changes the caller's organization (org_admin), audited.
    ///
    /// # Errors
    /// 403 for non-admins and keys without `organization:write`; 400 for
    /// invalid values; 503 when the database is unavailable.
    pub async fn update_my_organization(
        &self,
        ctx: &RequestContext,
        changes: OrganizationChanges,
    ) -> Result<Organization> {
        self.require_admin(ctx, "update_organization").await?;
        ctx.principal.require_scope(WRITE)?;
        let display_name = changes
            .display_name
            .map(|n| text::required("display_name", &n, text::NAME_MAX))
            .transpose()?;
        if let Some(settings) = &changes.settings {
            check_settings(settings)?;
            self.setting_registry()
                .check_patch(Layer::Organization, settings, false)?;
        }
        let mut fields = Vec::new();
        if display_name.is_some() {
            fields.push("display_name");
        }
        if changes.settings.is_some() {
            fields.push("settings");
        }
        let org = ctx.organization_id();
        let tx = self.database().begin().await?;
        let tenant = tx.tenant(org);
        let updated = tenant
            .organization()
            .update_profile(display_name, changes.settings)
            .await?;
        tenant
            .audit_logs()
            .record(
                Entry::about("organization", org.as_uuid(), json!({ "fields": fields }))
                    .by(AuditEvent::UpdateOrganization, ctx),
            )
            .await?;
        tx.commit().await?;
        self.forget(Forget::Organization(org)).await;
        Ok(updated)
    }

    /// The caller's organization's settings.
    ///
    /// # Errors
    /// 403 for a key without the `organization:read` scope.
    pub fn organization_settings(&self, ctx: &RequestContext) -> Result<Value> {
        ctx.principal.require_scope(READ)?;
        Ok(ctx.principal.organization().settings.clone())
    }

    /// Merges `patch` into the caller's organization's settings (org_admin):
    /// objects merge key by key, lists and scalars replace, `null` removes
    /// the key. The stored settings are read and written in one transaction
    /// with the row locked, so concurrent merges each keep the other's keys.
    ///
    /// # Errors
    /// 403 for non-admins and keys without `organization:write`; 400 when
    /// the patch or the result is not an object within the bounds; 503 when
    /// the database is unavailable.
    pub async fn merge_organization_settings(
        &self,
        ctx: &RequestContext,
        patch: Value,
    ) -> Result<Value> {
        self.merge_org_settings(ctx, patch, false).await
    }

    /// The merge behind both settings routes: `strict` refuses unregistered
    /// keys (`/settings/organization`); otherwise they pass while registered
    /// ones are still type-checked (the free-form `organizations/me/settings`).
    pub(crate) async fn merge_org_settings(
        &self,
        ctx: &RequestContext,
        patch: Value,
        strict: bool,
    ) -> Result<Value> {
        self.require_admin(ctx, "update_organization_settings")
            .await?;
        ctx.principal.require_scope(WRITE)?;
        check_settings(&patch)?;
        self.setting_registry()
            .check_patch(Layer::Organization, &patch, strict)?;
        let org = ctx.organization_id();
        let keys: Vec<String> = patch
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let tx = self.database().begin().await?;
        let tenant = tx.tenant(org);
        let mut settings = tenant
            .organization()
            .get_for_update()
            .await?
            .ok_or_else(|| ServiceError::not_found("organization not found"))?
            .settings;
        merge_settings(&mut settings, patch);
        check_settings(&settings)?;
        let updated = tenant
            .organization()
            .update_profile(None, Some(settings))
            .await?;
        tenant
            .audit_logs()
            .record(
                Entry::about(
                    "organization",
                    org.as_uuid(),
                    json!({ "fields": ["settings"], "keys": keys }),
                )
                .by(AuditEvent::UpdateOrganizationSettings, ctx),
            )
            .await?;
        tx.commit().await?;
        self.forget(Forget::Organization(org)).await;
        Ok(updated.settings)
    }
}
