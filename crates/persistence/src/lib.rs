//! Curatore's persistence layer: the database service, the tables as
//! SeaORM entities, and repositories that speak `curatore_domain` records.
//!
//! ```no_run
//! # async fn demo() -> Result<(), curatore_persistence::PersistenceError> {
//! use curatore_persistence::{Database, DatabaseOptions};
//! let url = curatore_domain::DatabaseUrl::parse("sqlite://./data/curatore.db").unwrap();
//! let db = Database::connect(&DatabaseOptions::new(url)).await?;
//! let report = db.health_check().await;
//! println!("{} ({})", report.status.as_str(), report.database_type);
//! let tx = db.begin().await?;            // one write transaction …
//! let _orgs = tx.organizations().count().await?;
//! tx.commit().await?;                    // … committed as a whole
//! db.close().await;
//! # Ok(()) }
//! ```
//!
//! Migrations live in the separate `curatore-migration` crate (frozen
//! history, independent of these entities); run them on
//! [`Database::connection`].

mod access;
mod database;
pub mod entities;
mod error;
mod health;
mod repositories;
mod seed;

pub use access::{AccessSnapshot, ApiKeySnapshot};
pub use database::{Database, DatabaseOptions, Transaction};
pub use error::{PersistenceError, Result};
pub use health::{DatabaseHealth, DatabaseStats, HEALTH_TIMEOUT, HealthStatus, RowCount, TABLES};
pub use repositories::{
    ApiKeys, AuditLogs, Connections, Organizations, RefreshTokens, RotateOutcome, SystemSettings,
    Users,
};
pub use seed::{InitialTenant, SeedOutcome};
