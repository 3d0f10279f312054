//! A small live database for the backup tests: migrated, one organization,
//! one connection whose secret is sealed with the key the test chooses.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "each test binary uses part of it; a panic in a test is a failed test"
)]

use curatore_auth::SecretBox;
use curatore_backup::{BackupSource, SecretsKeySource};
use curatore_config::{DEFAULT_SECRET_KEY_ID, SecretKeys, key_file_for};
use curatore_domain::{
    ConnectionScope, ConnectionType, DatabaseUrl, NewConnection, NewOrganization, OrganizationId,
    Slug,
};
use curatore_migration::{Migrator, MigratorTrait};
use curatore_persistence::{Database, DatabaseOptions};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The plain text of the sealed secret every fixture stores.
pub const SECRET: &str = "sk-backup-test-4f1c9e7a";

pub fn keys(byte: u8) -> SecretKeys {
    SecretKeys::from_keys(vec![(DEFAULT_SECRET_KEY_ID.to_owned(), [byte; 32])])
}

pub fn secret_box(keys: &SecretKeys) -> SecretBox {
    SecretBox::new(keys.keys().iter().map(|(id, k)| (id.clone(), *k))).unwrap()
}

/// Where the key is for a fixture: a key file beside the database holding
/// `keys`, or `SECRETS_ENCRYPTION_KEY` = `keys`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyIn {
    File,
    Environment,
}

pub struct Fixture {
    pub path: PathBuf,
    pub db: Database,
    pub org: OrganizationId,
    pub keys: SecretKeys,
    pub source: BackupSource,
}

pub async fn connect(path: &Path) -> Database {
    let url = DatabaseUrl::Sqlite {
        path: path.to_owned(),
    };
    Database::connect(&DatabaseOptions::new(url)).await.unwrap()
}

/// A live database at `dir/curatore.db`, migrated up to `migrations`
/// steps (all when `None`), with one organization and one sealed secret.
pub async fn fixture(dir: &Path, key_in: KeyIn, migrations: Option<u32>) -> Fixture {
    let path = dir.join("curatore.db");
    let db = connect(&path).await;
    Migrator::up(db.connection(), migrations).await.unwrap();
    let keys = keys(42);
    let org = db
        .system()
        .organizations()
        .create(NewOrganization {
            name: "Backed up".into(),
            display_name: "Backed up".into(),
            slug: Slug::parse("backed-up").unwrap(),
            settings: json!({}),
            created_by: None,
        })
        .await
        .unwrap()
        .id;
    // An older schema has no room for today's connection rows.
    if migrations.is_none() {
        store_secret(&db, org, &keys).await;
    }
    let source = match key_in {
        KeyIn::File => {
            let file = key_file_for(&path);
            std::fs::write(&file, format!("{}\n", keys.to_text())).unwrap();
            SecretsKeySource::KeyFile(file)
        }
        KeyIn::Environment => SecretsKeySource::Environment(keys.clone()),
    };
    Fixture {
        source: BackupSource::new(db.clone(), path.clone(), source),
        path,
        db,
        org,
        keys,
    }
}

/// The names of the connections in the SQLite file at `path`.
pub async fn connection_names(path: &Path) -> Vec<String> {
    let db = connect(path).await;
    let names = db
        .system()
        .connections()
        .batch_after(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    db.close().await;
    names
}

/// Stores one connection whose secret is sealed with `keys`.
pub async fn store_secret(db: &Database, org: OrganizationId, keys: &SecretKeys) {
    db.tenant(org)
        .connections()
        .create(NewConnection {
            organization_id: org,
            name: "Model".into(),
            description: None,
            connection_type: ConnectionType::parse("llm").unwrap(),
            config: json!({"api_key": {"$enc": secret_box(keys).seal(SECRET)}, "model": "m"}),
            is_default: false,
            scope: ConnectionScope::Organization,
            owner_user_id: None,
            created_by: None,
            managed_by: None,
        })
        .await
        .unwrap();
}
