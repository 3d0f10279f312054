use crate::database::Database;
use crate::error::{PersistenceError, Result};
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

impl Database {
    /// Creates the first organization and its `org_admin` when no
    /// organization exists, all in one transaction with an audit entry.
    /// Idempotent, also when two processes start at once: the loser of the
    /// race sees a unique conflict and reports `AlreadySeeded`.
    ///
    /// # Errors
    /// When the database fails; nothing is half-written then.
    pub async fn seed_initial_tenant(&self, seed: InitialTenant) -> Result<SeedOutcome> {
        let tx = self.begin().await?;
        if tx.organizations().any_exist().await? {
            return Ok(SeedOutcome::AlreadySeeded);
        }
        let created = async {
            let organization = tx
                .organizations()
                .create(NewOrganization {
                    name: seed.organization_name.clone(),
                    display_name: seed.organization_name.clone(),
                    slug: seed.organization_slug.clone(),
                    settings: serde_json::json!({}),
                    created_by: None,
                })
                .await?;
            let admin = tx
                .users()
                .create(NewUser {
                    organization_id: organization.id,
                    email: seed.admin_email.clone(),
                    username: seed.admin_username.clone(),
                    password_hash: seed.admin_password_hash.clone(),
                    full_name: seed.admin_full_name.clone(),
                    role: Role::OrgAdmin,
                    is_verified: true,
                })
                .await?;
            let organization = tx
                .organizations()
                .set_created_by(organization.id, admin.id)
                .await?;
            tx.audit_logs()
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
            Ok::<_, PersistenceError>((organization, admin))
        }
        .await;
        match created {
            Ok((organization, admin)) => {
                tx.commit().await?;
                Ok(SeedOutcome::Created {
                    organization,
                    admin,
                })
            }
            Err(PersistenceError::Conflict { .. }) => Ok(SeedOutcome::AlreadySeeded),
            Err(e) => Err(e),
        }
    }
}
