//! What the service tests share: authentication settings fit for tests, a
//! migrated and seeded SQLite database behind `Services`, and its admin.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "each test binary uses part of it; a panic in a test is a failed test"
)]

use curatore_auth::{
    ApiKeyFormat, Argon2Settings, PasswordHasher, PasswordPolicy, SigningAlgorithm, TokenSettings,
    TokenSigner,
};
use curatore_domain::{DatabaseUrl, EmailAddress, Secret, Slug, Username};
use curatore_migration::{Migrator, MigratorTrait};
use curatore_persistence::{Database, DatabaseOptions};
use curatore_service::{
    AuthConfig, Client, Credentials, DefaultOrganization, InitialAdmin, LoginLimits,
    RegistrationLimits, RequestContext, Services,
};
use curatore_test_support::TestDatabase;
use std::time::Duration;

pub const PASSWORD: &str = "a-long-admin-password";

pub fn config() -> AuthConfig {
    AuthConfig {
        enabled: true,
        signer: TokenSigner::new(TokenSettings {
            secret: Secret::new("service-test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye"),
            algorithm: SigningAlgorithm::HS256,
            issuer: "curatore".into(),
            audience: "curatore".into(),
            access_ttl: Duration::from_secs(600),
        }),
        hasher: PasswordHasher::new(Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .expect("hasher"),
        password_policy: PasswordPolicy::default(),
        api_keys: ApiKeyFormat::new("cur_"),
        refresh_ttl: Duration::from_secs(3600),
        refresh_reuse_grace: Duration::ZERO,
        allow_registration: false,
        trusted_proxies: vec![],
        client_networks: curatore_service::ClientNetworks::default(),
        login_limits: LoginLimits {
            per_account: 5,
            per_ip: 20,
            window: Duration::from_secs(60),
        },
        registration_limits: RegistrationLimits {
            per_ip: 5,
            window: Duration::from_secs(3600),
        },
        cache_ttl: Duration::ZERO,
    }
}

/// Services over a fresh, migrated and seeded SQLite database.
pub async fn services(db: &TestDatabase, slug: &str) -> Services {
    let url = DatabaseUrl::parse(&db.url()).expect("url");
    let database = Database::connect(&DatabaseOptions::new(url))
        .await
        .expect("connect");
    Migrator::up(database.connection(), None)
        .await
        .expect("migrate");
    let services = Services::new(database, DefaultOrganization::default(), config());
    services
        .seed_initial_tenant(InitialAdmin {
            organization_name: format!("Org {slug}"),
            organization_slug: Slug::parse(slug).expect("slug"),
            admin_email: EmailAddress::parse(&format!("admin@{slug}.example")).expect("email"),
            admin_username: Username::parse("admin").expect("username"),
            admin_password: Secret::new(PASSWORD),
            admin_full_name: None,
        })
        .await
        .expect("seed");
    services
}

/// The admin, signed in: a context as the web layer would build it.
pub async fn admin(services: &Services) -> RequestContext {
    let client = Client::local();
    let session = services
        .login(&client, "admin", &Secret::new(PASSWORD))
        .await
        .expect("login");
    let principal = services
        .authenticate(Credentials::Bearer(session.access_token))
        .await
        .expect("authenticate");
    RequestContext { principal, client }
}
