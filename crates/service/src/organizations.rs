//! The caller's own organization.

use crate::audit::{AuditEvent, Entry};
use crate::cache::Forget;
use crate::context::{Access, RequestContext, Scope};
use crate::error::{Result, ServiceError};
use crate::handle::Bound;
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

/// The caller's own organization (`services.my_organization(&ctx)`).
#[derive(Clone, Copy)]
pub struct MyOrganization<'a>(pub(crate) Bound<'a>);

impl Services {
    /// The caller's own organization.
    pub fn my_organization<'a>(&'a self, ctx: &'a RequestContext) -> MyOrganization<'a> {
        MyOrganization(Bound::new(self, ctx))
    }
}

impl MyOrganization<'_> {
    /// The caller's organization.
    ///
    /// # Errors
    /// 403 for a key without the `organization:read` scope.
    pub fn get(&self) -> Result<Organization> {
        self.0.scope(READ)?;
        Ok(self.0.principal().organization().clone())
    }

    /// The organization with `id`, if it is the caller's; another tenant's
    /// answers exactly like a missing one.
    ///
    /// # Errors
    /// 404 `not_found`; 403 for a key without the `organization:read` scope.
    pub fn get_by_id(&self, id: OrganizationId) -> Result<Organization> {
        self.0.scope(READ)?;
        if self.0.org() != id {
            return Err(ServiceError::not_found("organization"));
        }
        Ok(self.0.principal().organization().clone())
    }

    /// Changes the caller's organization (org_admin), audited.
    ///
    /// # Errors
    /// 403 for non-admins and keys without `organization:write`; 400 for
    /// invalid values; 503 when the database is unavailable.
    pub async fn update(&self, changes: OrganizationChanges) -> Result<Organization> {
        self.0.admin("update_organization", WRITE).await?;
        let display_name = changes
            .display_name
            .map(|n| text::required("display_name", &n, text::NAME_MAX))
            .transpose()?;
        if let Some(settings) = &changes.settings {
            check_settings(settings)?;
            self.0
                .services
                .setting_registry()
                .check_patch(Layer::Organization, settings, false)?;
        }
        let mut fields = Vec::new();
        if display_name.is_some() {
            fields.push("display_name");
        }
        if changes.settings.is_some() {
            fields.push("settings");
        }
        let org = self.0.org();
        let mut work = self.0.begin().await?;
        let updated = work
            .own()
            .organization()
            .update_profile(display_name, changes.settings)
            .await?;
        work.forget(Forget::Organization(org));
        work.commit(
            AuditEvent::UpdateOrganization,
            Entry::about("organization", org.as_uuid(), json!({ "fields": fields })),
        )
        .await?;
        Ok(updated)
    }

    /// The caller's organization's settings (the free-form document).
    ///
    /// # Errors
    /// 403 for a key without the `organization:read` scope.
    pub fn settings(&self) -> Result<Value> {
        self.0.scope(READ)?;
        Ok(self.0.principal().organization().settings.clone())
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
    pub async fn merge_settings(&self, patch: Value) -> Result<Value> {
        self.merge(patch, false).await
    }

    /// The merge behind both settings routes: `strict` refuses unregistered
    /// keys (`/settings/organization`); otherwise they pass while registered
    /// ones are still type-checked (the free-form `organizations/me/settings`).
    pub(crate) async fn merge(&self, patch: Value, strict: bool) -> Result<Value> {
        self.0.admin("update_organization_settings", WRITE).await?;
        check_settings(&patch)?;
        self.0
            .services
            .setting_registry()
            .check_patch(Layer::Organization, &patch, strict)?;
        let org = self.0.org();
        let keys: Vec<String> = patch
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let mut work = self.0.begin().await?;
        let tenant = work.own();
        let mut settings = tenant
            .organization()
            .get_for_update()
            .await?
            .ok_or_else(|| ServiceError::not_found("organization"))?
            .settings;
        merge_settings(&mut settings, patch);
        check_settings(&settings)?;
        let updated = tenant
            .organization()
            .update_profile(None, Some(settings))
            .await?;
        work.forget(Forget::Organization(org));
        work.commit(
            AuditEvent::UpdateOrganizationSettings,
            Entry::about(
                "organization",
                org.as_uuid(),
                json!({ "fields": ["settings"], "keys": keys }),
            ),
        )
        .await?;
        Ok(updated.settings)
    }
}
