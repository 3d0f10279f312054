//! What the service tests share: services over a migrated and seeded SQLite
//! database (through the `test-util` door), and its admin signed in.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "each test binary uses part of it; a panic in a test is a failed test"
)]

use curatore_domain::Secret;
use curatore_service::{
    AuthConfig, Client, Credentials, Operator, RequestContext, Services, testing,
};
use curatore_test_support::TestDatabase;

pub use testing::ADMIN_PASSWORD as PASSWORD;

/// Authentication fit for tests (cheap hashing, no cache).
pub fn config() -> AuthConfig {
    testing::auth_config()
}

/// Services over a fresh, migrated and seeded database.
pub async fn services(db: &TestDatabase, slug: &str) -> Services {
    testing::seeded(&db.url(), slug).await.0
}

/// [`services`] and their operator.
pub async fn with_operator(db: &TestDatabase, slug: &str) -> (Services, Operator) {
    testing::seeded(&db.url(), slug).await
}

/// Signs `login` in and authenticates the session: a context as the web
/// layer would build it.
pub async fn sign_in(services: &Services, login: &str, password: &str) -> RequestContext {
    let client = Client::local();
    let session = services
        .anonymous(&client)
        .login(login, &Secret::new(password))
        .await
        .expect("login");
    services
        .authenticate(Credentials::Bearer(session.access_token), client)
        .await
        .expect("authenticate")
}

/// The admin, signed in.
pub async fn admin(services: &Services) -> RequestContext {
    sign_in(services, "admin", PASSWORD).await
}

/// A second handle on the test's database, for what the tests set up or
/// inspect behind the services' back (rows written by hand, raw SQL).
pub async fn database(db: &TestDatabase) -> curatore_persistence::Database {
    let url = curatore_domain::DatabaseUrl::parse(&db.url()).expect("url");
    curatore_persistence::Database::connect(&curatore_persistence::DatabaseOptions::new(url))
        .await
        .expect("connect")
}
