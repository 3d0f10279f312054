//! Shared set-up of the persistence integration tests.
#![allow(dead_code)]

use curatore_domain::{DatabaseUrl, NewOrganization, Organization, Slug};
use curatore_migration::{Migrator, MigratorTrait};
use curatore_persistence::{Database, DatabaseOptions};
use curatore_test_support::TestDatabase;

/// Connects to the test database and applies every migration.
pub async fn open(db: &TestDatabase) -> Database {
    let url = DatabaseUrl::parse(&db.url()).expect("test URL");
    let database = Database::connect(&DatabaseOptions::new(url))
        .await
        .expect("connect");
    Migrator::up(database.connection(), None)
        .await
        .expect("migrate");
    database
}

/// An organization with the given slug and settings.
pub async fn organization(db: &Database, slug: &str, settings: serde_json::Value) -> Organization {
    db.organizations()
        .create(NewOrganization {
            name: format!("Org {slug}"),
            display_name: format!("Organization {slug}"),
            slug: Slug::parse(slug).unwrap(),
            settings,
            created_by: None,
        })
        .await
        .expect("create organization")
}
