//! Curatore's database schema, as a sequence of SeaORM migrations.
//!
//! This crate is the schema's history: each `mYYYYMMDD_NNNNNN_*` module is
//! one step, applied in order and recorded in SeaORM's `seaql_migrations`
//! table (the role `alembic_version` played in the Python system). The
//! migrations are frozen: they define their own identifiers and never depend
//! on the entities in `curatore-persistence`, so changing an entity can never
//! rewrite history. A schema change is a new migration.
//!
//! The same migrations run on SQLite and PostgreSQL. PostgreSQL gets native
//! `uuid`, `jsonb` and `timestamptz`; SQLite gets the text (or, for UUIDs
//! written by SeaORM, blob) storage SeaORM reads back into the same Rust types.
//!
//! The `curatore-migrate` binary (`cli`, feature `cli`) applies and rolls
//! back migrations against the database the server is configured for;
//! [`connect`] opens the connections it and the server's adoption use.
//! Features: `sqlite` and `postgres` (the engines), `cli`; all on by default.

mod columns;
mod m20260112_000001_create_organizations_and_users;
mod m20260112_000002_create_api_keys_and_connections;
mod m20260112_000003_create_system_settings_and_audit_logs;
mod m20261125_000004_create_refresh_tokens;
mod m20261201_000005_audit_logs_keyset_index;
mod m20261202_000006_user_passwords_and_list_index;
mod m20261202_000007_connections_default_unique;
mod m20261202_000009_rate_limit_windows;
mod m20261207_000010_audit_logs_commit_order;
mod m20261220_000011_list_indexes;
mod m20261221_000012_cache_invalidations;
mod m20261222_000013_api_key_lineage;
mod m20261222_000014_mail_outbox;

pub mod adopt;
#[cfg(feature = "cli")]
pub mod cli;
pub mod connect;

pub use sea_orm_migration::{MigrationStatus, MigratorTrait};

use sea_orm_migration::{MigrationTrait, async_trait};

/// Every migration of Curatore's schema, oldest first.
///
/// Run them with [`MigratorTrait::up`], e.g. `Migrator::up(&db, None)`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260112_000001_create_organizations_and_users::Migration),
            Box::new(m20260112_000002_create_api_keys_and_connections::Migration),
            Box::new(m20260112_000003_create_system_settings_and_audit_logs::Migration),
            Box::new(m20261125_000004_create_refresh_tokens::Migration),
            Box::new(m20261201_000005_audit_logs_keyset_index::Migration),
            Box::new(m20261202_000006_user_passwords_and_list_index::Migration),
            Box::new(m20261202_000007_connections_default_unique::Migration),
            Box::new(m20261202_000009_rate_limit_windows::Migration),
            Box::new(m20261207_000010_audit_logs_commit_order::Migration),
            Box::new(m20261220_000011_list_indexes::Migration),
            Box::new(m20261221_000012_cache_invalidations::Migration),
            Box::new(m20261222_000013_api_key_lineage::Migration),
            Box::new(m20261222_000014_mail_outbox::Migration),
        ]
    }
}

/// The name of the newest migration: the schema version a fully migrated
/// database reports (for instance in the health endpoint and `status`).
///
/// Read from [`Migrator::migrations`], so adding a migration updates it.
pub fn latest_migration_name() -> String {
    Migrator::migrations()
        .last()
        .map(|m| m.name().to_owned())
        .unwrap_or_default()
}

/// The names of all migrations, oldest first.
pub fn migration_names() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_migration_is_the_last_one() {
        let names = migration_names();
        assert_eq!(names.last(), Some(&latest_migration_name()));
        assert!(!latest_migration_name().is_empty());
    }

    #[test]
    fn names_are_unique_and_sorted() {
        let names = migration_names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
