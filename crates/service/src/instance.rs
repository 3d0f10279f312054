//! Instance administration: organizations beyond one tenant.
//!
//! The instance administrators are the org_admins of the default
//! organization (`DEFAULT_ORG_ID`, else `DEFAULT_ORG_SLUG`, else the first).
//! Signed in (not with an API key), they may create, list, read, change and
//! deactivate any organization;
//! everyone else sees only their own, and another organization's id answers
//! 404 exactly like a missing one.

use crate::audit::{AuditEvent, Entry};
use crate::cache::Forget;
use crate::context::RequestContext;
use crate::error::{Conflict, Denied, Invalid, Result, ServiceError};
use crate::handle::Bound;
use crate::page::Page;
use crate::services::Services;
use crate::text;
use curatore_domain::settings::check_settings;
use curatore_domain::{
    EmailAddress, NewOrganization, NewUser, Organization, OrganizationId, Role, Secret, Slug, User,
    Username,
};
use serde_json::{Value, json};

/// The most organizations one page may hold.
pub const MAX_ORGANIZATION_PAGE: u64 = 1000;

/// A new organization and its first administrator.
#[derive(Debug)]
pub struct NewTenant {
    /// Unique internal name.
    pub name: String,
    /// Unique URL name (`^[a-z0-9]+(-[a-z0-9]+)*$`, 2–100).
    pub slug: String,
    /// Name shown to people; the name when absent.
    pub display_name: Option<String>,
    /// Its first org_admin.
    pub admin: NewAdmin,
}

/// The first administrator of a new organization.
#[derive(Debug)]
pub struct NewAdmin {
    /// E-mail address.
    pub email: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub full_name: Option<String>,
    /// Password (checked against the policy).
    pub password: Secret,
}

/// What an instance administrator may change about an organization.
#[derive(Debug, Default)]
pub struct TenantChanges {
    /// The name shown to people.
    pub display_name: Option<String>,
    /// Settings, replacing the stored ones.
    pub settings: Option<Value>,
    /// `false` deactivates: its users and keys are refused at once.
    pub is_active: Option<bool>,
}

fn not_found() -> ServiceError {
    ServiceError::not_found("organization")
}

/// Every organization, for the instance administrators
/// (`services.organizations(&ctx)`); anyone else sees only their own.
#[derive(Clone, Copy)]
pub struct Organizations<'a>(Bound<'a>);

impl Services {
    /// Organizations beyond the caller's own, for instance administrators.
    pub fn organizations<'a>(&'a self, ctx: &'a RequestContext) -> Organizations<'a> {
        Organizations(Bound::new(self, ctx))
    }

    /// Whether the caller administers the instance: a signed-in org_admin
    /// of the default organization (not an API key, even an admin's).
    pub(crate) async fn is_instance_admin(&self, ctx: &RequestContext) -> Result<bool> {
        let is_key = matches!(ctx.principal.actor(), crate::Actor::ApiKey { .. });
        if is_key || ctx.principal.role() != Role::OrgAdmin {
            return Ok(false);
        }
        Ok(self.default_organization().await?.id == ctx.organization_id())
    }
}

impl Bound<'_> {
    /// An instance administrator (refusals of non-admins audited as for
    /// [`Bound::admin`]).
    pub(crate) async fn instance_admin(&self, operation: &'static str) -> Result<()> {
        // No key scope: keys never administer the instance.
        self.admin_role(operation).await?;
        if !self.services.is_instance_admin(self.ctx).await? {
            return Err(Denied::NotInstanceAdmin.into());
        }
        Ok(())
    }
}

impl Organizations<'_> {
    /// Whether the caller administers the instance.
    ///
    /// # Errors
    /// 503 when the database is unavailable.
    pub async fn is_instance_admin(&self) -> Result<bool> {
        self.0.services.is_instance_admin(self.0.ctx).await
    }

    /// Creates an organization with its first org_admin (instance admins;
    /// not with an API key), audited in the caller's organization. It starts
    /// with the original's seeded settings (`quality_thresholds`,
    /// `auto_optimize`).
    ///
    /// # Errors
    /// 403 for anyone else; 400 for invalid values or a weak password; 409
    /// `slug_taken`/`name_taken`/`email_taken`/`username_taken`.
    pub async fn create(&self, new: NewTenant) -> Result<(Organization, User)> {
        self.0
            .principal()
            .refuse_api_key("API keys cannot create organizations; sign in as a user")?;
        self.0.instance_admin("create_organization").await?;
        let config = self.0.services.config();
        let name = text::required("name", &new.name, text::NAME_MAX)?;
        let slug = Slug::parse(&new.slug)?;
        let display_name = match new.display_name {
            Some(d) => text::required("display_name", &d, text::NAME_MAX)?,
            None => name.clone(),
        };
        let email = EmailAddress::parse(&new.admin.email)?;
        let username = Username::parse(&new.admin.username)?;
        let full_name = text::optional("full_name", new.admin.full_name, text::NAME_MAX)?;
        config.password_policy.check(&new.admin.password)?;
        let password_hash = config.hasher.hash(&new.admin.password).await?;
        let work = self.0.begin().await?;
        let organization = work
            .system()
            .organizations()
            .create(NewOrganization {
                name,
                display_name,
                slug,
                // The original seeded these into every organization it made.
                settings: self
                    .0
                    .services
                    .setting_registry()
                    .new_organization_settings(),
                // Not the instance admin: a user of another organization must
                // not show in this one's record. The instance's trail says who.
                created_by: None,
            })
            .await?;
        let admin = work
            .tenant(organization.id)
            .users()
            .create(NewUser {
                organization_id: organization.id,
                email,
                username,
                password_hash,
                full_name,
                role: Role::OrgAdmin,
                is_verified: false,
            })
            .await?;
        work.commit(
            AuditEvent::CreateOrganization,
            Entry::about(
                "organization",
                organization.id.as_uuid(),
                json!({"slug": organization.slug.as_str(), "admin": admin.username.as_str()}),
            ),
        )
        .await?;
        Ok((organization, admin))
    }

    /// Every organization, oldest first (instance admins).
    ///
    /// # Errors
    /// 403 for anyone else; 400 for a limit outside 1..=1000.
    pub async fn list(&self, skip: u64, limit: u64) -> Result<Page<Organization>> {
        self.0.instance_admin("list_organizations").await?;
        if !(1..=MAX_ORGANIZATION_PAGE).contains(&limit) {
            return Err(Invalid::PageSize {
                max: MAX_ORGANIZATION_PAGE,
            }
            .into());
        }
        crate::page::check_skip(skip)?;
        let (items, total) = self
            .0
            .services
            .database()
            .system()
            .organizations()
            .page(limit, skip)
            .await?;
        Ok(Page {
            items,
            total: Some(total.count),
            total_estimated: total.estimated,
            limit,
            offset: skip,
            next_cursor: None,
        })
    }

    /// Organizations, oldest first, by keyset (instance admins): those whose
    /// name, display name or slug contains `search`, after `cursor` (the
    /// previous page's `next_cursor`). No count: the same cost at any depth.
    ///
    /// # Errors
    /// 403 for anyone else; 400 for a limit outside 1..=1000, a search with
    /// control characters or a cursor this API did not issue.
    pub async fn search(
        &self,
        search: Option<&str>,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Page<Organization>> {
        self.0.instance_admin("list_organizations").await?;
        if !(1..=MAX_ORGANIZATION_PAGE).contains(&limit) {
            return Err(crate::error::Invalid::PageSize {
                max: MAX_ORGANIZATION_PAGE,
            }
            .into());
        }
        let search = search.map(str::trim).filter(|s| !s.is_empty());
        if let Some(s) = search {
            curatore_domain::text::check_line("search", s)?;
        }
        let after = match cursor {
            None => None,
            Some(raw) => Some(
                crate::page::cursor::decode(raw)
                    .map(|(at, id)| (at, OrganizationId::from_uuid(id)))
                    .ok_or_else(|| ServiceError::from(crate::error::Invalid::UnknownCursor))?,
            ),
        };
        let mut items = self
            .0
            .services
            .database()
            .system()
            .organizations()
            .page_after(search, after, limit + 1)
            .await?;
        let more = items.len() as u64 > limit;
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = if more {
            items
                .last()
                .map(|o| crate::page::cursor::encode(o.created_at, o.id.as_uuid()))
        } else {
            None
        };
        Ok(Page {
            items,
            total: None,
            total_estimated: false,
            limit,
            offset: 0,
            next_cursor,
        })
    }

    /// An organization by id: the caller's own, or any for an instance admin.
    ///
    /// # Errors
    /// 404 for any other (exactly as for a missing one).
    pub async fn get(&self, id: OrganizationId) -> Result<Organization> {
        if id == self.0.org() {
            return crate::organizations::MyOrganization(self.0).get_by_id(id);
        }
        self.0.principal().refuse_pending_password_change()?;
        if !self.is_instance_admin().await? {
            return Err(not_found());
        }
        self.0
            .services
            .database()
            .system()
            .organizations()
            .get(id)
            .await?
            .ok_or_else(not_found)
    }

    /// Changes an organization (instance admins): name shown, settings, and
    /// whether it is active. Deactivating refuses its users and keys at
    /// once; the default organization cannot be deactivated.
    ///
    /// # Errors
    /// 404 for organizations the caller may not see; 403 for non-instance
    /// admins; 409 `conflict` when deactivating the default organization.
    pub async fn update(&self, id: OrganizationId, changes: TenantChanges) -> Result<Organization> {
        if id != self.0.org() && !self.is_instance_admin().await? {
            return Err(not_found());
        }
        self.0.instance_admin("update_organization").await?;
        let services = self.0.services;
        let display_name = changes
            .display_name
            .map(|n| text::required("display_name", &n, text::NAME_MAX))
            .transpose()?;
        if let Some(settings) = &changes.settings {
            check_settings(settings)?;
            services.setting_registry().check_patch(
                curatore_domain::setting_keys::Layer::Organization,
                settings,
                false,
            )?;
        }
        if changes.is_active == Some(false) && id == services.default_organization().await?.id {
            return Err(Conflict::DefaultOrganization.into());
        }
        let mut work = self.0.begin().await?;
        let tenant = work.tenant(id);
        if tenant.organization().get_for_update().await?.is_none() {
            return Err(not_found());
        }
        let mut fields = Vec::new();
        let mut updated = None;
        if display_name.is_some() || changes.settings.is_some() {
            fields.extend(display_name.as_ref().map(|_| "display_name"));
            fields.extend(changes.settings.as_ref().map(|_| "settings"));
            updated = Some(
                tenant
                    .organization()
                    .update_profile(display_name, changes.settings)
                    .await?,
            );
        }
        if let Some(active) = changes.is_active {
            fields.push("is_active");
            updated = Some(tenant.organization().set_active(active).await?);
        }
        let updated = match updated {
            Some(org) => org,
            None => tenant.organization().get().await?.ok_or_else(not_found)?,
        };
        work.forget(Forget::Organization(id));
        work.commit(
            AuditEvent::UpdateOrganization,
            Entry::about(
                "organization",
                id.as_uuid(),
                json!({"fields": fields, "is_active": changes.is_active}),
            ),
        )
        .await?;
        Ok(updated)
    }
}
