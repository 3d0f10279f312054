//! Curatore's persistence layer: the database service, the tables as
//! SeaORM entities, and repositories that speak `curatore_domain` records.
//!
//! Tenancy is in the types. What an organization owns is reached through a
//! [`Tenant`] handle, `db.tenant(org)`, whose every query filters by that
//! organization: another tenant's rows read as absent. The few operations
//! that must cross organizations (seeding, login by name, lookups by key or
//! token hash, instance administration) go through [`System`],
//! `db.system()`, so an unscoped query is always written out on purpose.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = format!("sqlite://{}/curatore.db", dir.path().display());
//! use curatore_domain::{DatabaseUrl, NewOrganization, Slug, UserId};
//! use curatore_persistence::{Database, DatabaseOptions};
//! let db = Database::connect(&DatabaseOptions::new(DatabaseUrl::parse(&path)?)).await?;
//! # use curatore_migration::MigratorTrait;
//! # curatore_migration::Migrator::up(db.connection(), None).await?;
//! let report = db.health_check().await;
//! assert_eq!(report.database_type.as_str(), "sqlite");
//!
//! let tx = db.begin().await?;            // one write transaction …
//! let acme = tx.system().organizations().create(NewOrganization {
//!     name: "acme".into(),
//!     display_name: "Acme".into(),
//!     slug: Slug::parse("acme")?,
//!     settings: serde_json::json!({}),
//!     created_by: None,
//! }).await?;
//! tx.commit().await?;                    // … committed as a whole
//!
//! // Everything Acme owns is reached through its tenant handle; a user of
//! // another organization reads as absent.
//! let stranger = UserId::new();
//! assert!(db.tenant(acme.id).users().get(stranger).await?.is_none());
//! assert_eq!(db.system().organizations().count().await?, 1);
//! db.close().await;
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
//!
//! Migrations live in the separate `curatore-migration` crate (frozen
//! history, independent of these entities); the start-up path runs them on
//! `Database::connection`, a door opened only by the `raw-connection`
//! feature (see its documentation).

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("curatore-persistence needs an engine: the `sqlite` feature, `postgres`, or both");

mod access;
mod database;
mod entities;
mod error;
mod health;
mod instances;
pub mod metrics;
mod repositories;
mod seed;
#[cfg(feature = "sqlite")]
mod sqlite_files;
mod totals;

pub use access::{AccessSnapshot, ApiKeySnapshot};
pub use database::{Database, DatabaseOptions, InstanceLock, PoolStatus, Transaction};
pub use error::{PersistenceError, Result};
pub use health::{DatabaseHealth, DatabaseStats, HEALTH_TIMEOUT, HealthStatus, RowCount, TABLES};
pub use instances::{
    Invalidation, InvalidationListener, RateLimitWindows, Settlement, WindowCounts,
};
pub use repositories::{
    AuditFeedPosition, AuditFilter, ConnectionChanges, ConnectionFilter, Organizations,
    RefreshTokens, RotateOutcome, System, SystemApiKeys, SystemAuditLogs, SystemConnections,
    SystemSettings, SystemUsers, Tenant, TenantApiKeys, TenantAuditLogs, TenantConnections,
    TenantOrganization, TenantUsers,
};
pub use seed::{InitialTenant, SeedOutcome};
#[cfg(feature = "sqlite")]
pub use sqlite_files::{
    IntegrityCheck, SqliteFileClaim, SqliteFileReport, claim_sqlite_file, inspect_sqlite_file,
};
pub use totals::Total;
