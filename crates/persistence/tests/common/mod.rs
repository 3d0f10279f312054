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
    db.system()
        .organizations()
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

/// One write as the server makes it: an API key named `name` (its hash
/// derived from the name, so a repeated name is a conflict) and its audit
/// entry padded to `pad` bytes, in one transaction.
pub async fn write_key(
    db: &Database,
    org: curatore_domain::OrganizationId,
    name: &str,
    pad: usize,
) -> Result<(), curatore_persistence::PersistenceError> {
    use curatore_domain::{AuditAction, AuditStatus, NewApiKey, NewAuditLogEntry};
    let tx = db.begin().await?;
    let key = tx
        .tenant(org)
        .api_keys()
        .create(NewApiKey {
            organization_id: org,
            user_id: None,
            name: name.to_owned(),
            key_hash: key_hash_of(name),
            prefix: "cur_test".into(),
            scopes: vec![],
            expires_at: None,
            created_by_key_id: None,
        })
        .await?;
    tx.tenant(org)
        .audit_logs()
        .record(NewAuditLogEntry {
            organization_id: Some(org),
            user_id: None,
            action: AuditAction::parse("create_api_key").expect("action"),
            entity_type: Some("api_key".into()),
            entity_id: Some(key.id.as_uuid()),
            details: Some(serde_json::json!({"name": name, "pad": "x".repeat(pad)})),
            ip_address: None,
            user_agent: None,
            status: AuditStatus::Success,
            error_message: None,
        })
        .await?;
    tx.commit().await
}

/// The stored hash [`write_key`] gives a key named `name`.
pub fn key_hash_of(name: &str) -> String {
    format!("{name:0>64}")
}
