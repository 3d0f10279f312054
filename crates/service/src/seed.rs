//! The first organization and its administrator.

use crate::error::Result;
use crate::operator::Operator;
use curatore_domain::{EmailAddress, Secret, Slug, Username};
use curatore_persistence::{InitialTenant, SeedOutcome};

/// The first organization and its administrator, as configured.
#[derive(Debug, Clone)]
pub struct InitialAdmin {
    /// Organization name (also its display name).
    pub organization_name: String,
    /// Organization slug.
    pub organization_slug: Slug,
    /// Administrator e-mail address.
    pub admin_email: EmailAddress,
    /// Administrator username.
    pub admin_username: Username,
    /// Administrator password (checked against the policy, then hashed).
    pub admin_password: Secret,
    /// Administrator full name.
    pub admin_full_name: Option<String>,
}

impl Operator {
    /// Creates the organization (with the original's seeded settings, see
    /// [`curatore_domain::setting_keys::SEEDED_ORGANIZATION_KEYS`]) and its
    /// administrator, with an audit entry, when no organization exists;
    /// otherwise does nothing (and hashes
    /// nothing). Safe to race: one caller creates, the others see it done.
    ///
    /// # Errors
    /// 400 `weak_password` when the password breaks the policy; 503 when
    /// the database is unavailable.
    pub async fn seed_initial_tenant(&self, seed: InitialAdmin) -> Result<SeedOutcome> {
        let services = &self.services;
        let system = services.database().system();
        if system.organizations().any_exist().await? {
            return Ok(SeedOutcome::AlreadySeeded);
        }
        services
            .config()
            .password_policy
            .check(&seed.admin_password)?;
        let admin_password_hash = services.config().hasher.hash(&seed.admin_password).await?;
        Ok(system
            .seed_initial_tenant(InitialTenant {
                organization_name: seed.organization_name,
                organization_slug: seed.organization_slug,
                admin_email: seed.admin_email,
                admin_username: seed.admin_username,
                admin_password_hash,
                admin_full_name: seed.admin_full_name,
                organization_settings: services.setting_registry().new_organization_settings(),
            })
            .await?)
    }
}
