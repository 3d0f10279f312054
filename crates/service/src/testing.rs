//! Doors for tests (feature `test-util`, never in a release build): services
//! over a freshly migrated database, configured for speed (cheap password
//! hashing, no authentication cache), seeded with one organization and its
//! admin.
#![allow(clippy::expect_used, reason = "test setup: a failure is a failed test")]

use crate::{AuthConfig, InitialAdmin, LoginLimits, Operator, Services, ServicesConfig};
use curatore_auth::{Argon2Settings, PasswordHasher, SigningAlgorithm, TokenSettings, TokenSigner};
use curatore_domain::{DatabaseUrl, EmailAddress, Secret, Slug, Username};
use curatore_migration::{Migrator, MigratorTrait};
use curatore_persistence::{Database, DatabaseOptions};
use std::time::Duration;

/// The seeded admin's password.
pub const ADMIN_PASSWORD: &str = "a-long-admin-password";

/// Authentication for tests: a fixed signing secret, argon2id at its
/// cheapest, no authentication cache, a generous per-address login limit.
pub fn auth_config() -> AuthConfig {
    let signer = TokenSigner::new(TokenSettings {
        secret: Secret::new("test-signing-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye"),
        algorithm: SigningAlgorithm::HS256,
        issuer: "curatore".into(),
        audience: "curatore".into(),
        access_ttl: Duration::from_secs(600),
    });
    let hasher = PasswordHasher::new(Argon2Settings {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    })
    .expect("argon2 parameters");
    AuthConfig::new(signer, hasher)
        .with_refresh_ttl(Duration::from_secs(3600))
        .with_refresh_reuse_grace(Duration::ZERO)
        .with_cache_ttl(Duration::ZERO)
        .with_login_limits(LoginLimits {
            per_account: 5,
            per_ip: 50,
            window: Duration::from_secs(60),
        })
}

/// The services over the database at `url`, migrated to the newest schema.
///
/// # Panics
/// When the database cannot be reached or migrated.
pub async fn open(url: &str, config: ServicesConfig) -> (Services, Operator) {
    let url = DatabaseUrl::parse(url).expect("database URL");
    let db = Database::connect(&DatabaseOptions::new(url))
        .await
        .expect("connect");
    Migrator::up(db.connection(), None).await.expect("migrate");
    Services::open(db, config)
}

/// [`open`] with [`auth_config`], seeded with the organization `slug` and its
/// admin `admin` (e-mail `admin@<slug>.example`, password [`ADMIN_PASSWORD`]).
///
/// # Panics
/// When the database cannot be reached, migrated or seeded.
pub async fn seeded(url: &str, slug: &str) -> (Services, Operator) {
    let (services, operator) = open(url, ServicesConfig::new(auth_config())).await;
    seed(&operator, slug).await;
    (services, operator)
}

/// Seeds the organization `slug` and its admin, as [`seeded`] does.
///
/// # Panics
/// When seeding fails.
pub async fn seed(operator: &Operator, slug: &str) {
    operator
        .seed_initial_tenant(InitialAdmin {
            organization_name: format!("Org {slug}"),
            organization_slug: Slug::parse(slug).expect("slug"),
            admin_email: EmailAddress::parse(&format!("admin@{slug}.example")).expect("email"),
            admin_username: Username::parse("admin").expect("username"),
            admin_password: Secret::new(ADMIN_PASSWORD),
            admin_full_name: None,
        })
        .await
        .expect("seed");
}
