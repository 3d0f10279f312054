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
//! ```no_run
//! # async fn demo(org: curatore_domain::OrganizationId, id: curatore_domain::UserId)
//! # -> Result<(), curatore_persistence::PersistenceError> {
//! use curatore_persistence::{Database, DatabaseOptions};
//! let url = curatore_domain::DatabaseUrl::parse("sqlite://./data/curatore.db").unwrap();
//! let db = Database::connect(&DatabaseOptions::new(url)).await?;
//! let report = db.health_check().await;
//! println!("{} ({})", report.status.as_str(), report.database_type);
//! let user = db.tenant(org).users().get(id).await?;  // None if `id` is in another organization
//! let by_login = db.system().users().find_by_login("alice").await?;  // any organization
//! let tx = db.begin().await?;            // one write transaction …
//! if let Some(user) = user {
//!     tx.tenant(org).users().set_active(user.id, false).await?;
//! }
//! let _orgs = tx.system().organizations().count().await?;
//! tx.commit().await?;                    // … committed as a whole
//! # let _ = by_login;
//! db.close().await;
//! # Ok(()) }
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
    AuditFeedPosition, AuditFilter, ConnectionChanges, ConnectionFilter, MailOutbox, NewOutboxMail,
    OUTBOX_FAILED, OUTBOX_QUEUED, OUTBOX_SENT, Organizations, OutboxCounts, OutboxEntry,
    OutboxMail, RefreshTokens, RotateOutcome, System, SystemApiKeys, SystemAuditLogs,
    SystemConnections, SystemSettings, SystemUsers, Tenant, TenantApiKeys, TenantAuditLogs,
    TenantConnections, TenantOrganization, TenantUsers,
};
pub use seed::{InitialTenant, SeedOutcome};
#[cfg(feature = "sqlite")]
pub use sqlite_files::{
    IntegrityCheck, SqliteFileClaim, SqliteFileReport, claim_sqlite_file, inspect_sqlite_file,
};
pub use totals::Total;
