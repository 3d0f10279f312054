use crate::database::Database;
use crate::error::{PersistenceError, Result};
use crate::repositories::{Handle, System};
use curatore_domain::{
    AuditAction, AuditStatus, EmailAddress, NewAuditLogEntry, NewOrganization, NewUser,
    Organization, PasswordHash, Role, Slug, User, Username,
};

/// The first organization and its administrator, created on an empty database.
#[derive(Debug, Clone)]
pub struct InitialTenant {
    /// Organization name (also its display name).
    pub organization_name: String,
    /// Organization slug.
    pub organization_slug: Slug,
    /// Administrator e-mail address.
    pub admin_email: EmailAddress,
    /// Administrator username.
    pub admin_username: Username,
    /// Administrator password, already hashed.
    pub admin_password_hash: PasswordHash,
    /// Administrator full name.
    pub admin_full_name: Option<String>,
    /// The organization's first settings (an object).
    pub organization_settings: serde_json::Value,
}

/// What seeding did.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "made once per start-up; boxing would only add noise for callers"
)]
pub enum SeedOutcome {
    /// The database was empty; both were created.
    Created {
        /// The new organization.
        organization: Organization,
        /// Its administrator.
        admin: User,
    },
    /// An organization already existed; nothing was written.
    AlreadySeeded,
}

/// Creates the organization and its administrator with the audit entry,
/// through `sys` (inside a transaction); `None` when an organization exists.
async fn seed_in(sys: System<'_>, seed: InitialTenant) -> Result<Option<(Organization, User)>> {
    if sys.organizations().any_exist().await? {
        return Ok(None);
    }
    let organization = sys
        .organizations()
        .create(NewOrganization {
            name: seed.organization_name.clone(),
            display_name: seed.organization_name,
            slug: seed.organization_slug,
            settings: seed.organization_settings,
            created_by: None,
        })
        .await?;
    let tenant = sys.tenant(organization.id);
    let admin = tenant
        .users()
        .create(NewUser {
            organization_id: organization.id,
            email: seed.admin_email,
            username: seed.admin_username,
            password_hash: seed.admin_password_hash,
            full_name: seed.admin_full_name,
            role: Role::OrgAdmin,
            is_verified: true,
        })
        .await?;
    let organization = sys
        .organizations()
        .set_created_by(organization.id, admin.id)
        .await?;
    tenant
        .audit_logs()
        .record(NewAuditLogEntry {
            organization_id: Some(organization.id),
            user_id: Some(admin.id),
            action: AuditAction::parse("seed_initial_tenant")?,
            entity_type: Some("organization".into()),
            entity_id: Some(organization.id.as_uuid()),
            details: Some(serde_json::json!({
                "organization_slug": organization.slug.as_str(),
                "admin_username": admin.username.as_str(),
            })),
            ip_address: None,
            user_agent: None,
            status: AuditStatus::Success,
            error_message: None,
        })
        .await?;
    Ok(Some((organization, admin)))
}

impl<'a> System<'a> {
    /// Creates the first organization and its `org_admin` when no
    /// organization exists, with an audit entry, all in one transaction.
    ///
    /// On the pool handle (`db.system()`) it opens and commits its own
    /// transaction, and is idempotent also when two processes start at once:
    /// the loser of the race sees a unique conflict and reports
    /// `AlreadySeeded`. Inside a transaction (`tx.system()`) it writes into
    /// that transaction, which the caller commits; a lost race is then the
    /// [`PersistenceError::Conflict`] itself, since PostgreSQL has already
    /// aborted the caller's transaction.
    ///
    /// # Errors
    /// When the database fails; nothing is half-written then.
    // Not `async fn`: the future borrows the database, not the handle.
    pub fn seed_initial_tenant(
        &self,
        seed: InitialTenant,
    ) -> impl Future<Output = Result<SeedOutcome>> + use<'a> {
        seed_initial_tenant(*self, seed)
    }
}

async fn seed_initial_tenant(sys: System<'_>, seed: InitialTenant) -> Result<SeedOutcome> {
    let created = match sys.h {
        Handle::Tx(_) => seed_in(sys, seed).await?,
        Handle::Pool(db) => {
            let tx = db.begin().await?;
            match seed_in(tx.system(), seed).await {
                Ok(Some(created)) => {
                    tx.commit().await?;
                    Some(created)
                }
                Ok(None) | Err(PersistenceError::Conflict { .. }) => None,
                Err(e) => return Err(e),
            }
        }
    };
    Ok(match created {
        Some((organization, admin)) => SeedOutcome::Created {
            organization,
            admin,
        },
        None => SeedOutcome::AlreadySeeded,
    })
}

impl Database {
    /// [`System::seed_initial_tenant`] on the pool: `db.system().seed_initial_tenant(seed)`.
    ///
    /// # Errors
    /// When the database fails; nothing is half-written then.
    pub async fn seed_initial_tenant(&self, seed: InitialTenant) -> Result<SeedOutcome> {
        self.system().seed_initial_tenant(seed).await
    }
}
