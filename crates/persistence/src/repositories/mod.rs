//! Repositories: the operations later layers call, one type per table.
//!
//! Each works either on the pool (`db.users()`) or inside a write transaction
//! (`tx.users()`), so several changes and their audit entry commit together.

mod api_keys;
mod audit_logs;
mod connections;
mod organizations;
mod refresh_tokens;
mod system_settings;
mod users;

pub use api_keys::ApiKeys;
pub use audit_logs::AuditLogs;
pub use connections::Connections;
pub use organizations::Organizations;
pub use refresh_tokens::{RefreshTokens, RotateOutcome};
pub use system_settings::SystemSettings;
pub use users::Users;

use crate::database::{Database, Transaction};
use sea_orm::DatabaseTransaction;

/// Where a repository runs its statements.
#[derive(Clone, Copy)]
pub(crate) enum Handle<'a> {
    Pool(&'a Database),
    Tx(&'a DatabaseTransaction),
}

/// Runs `$body` with `$c` bound to a connection for reading. On the pool it
/// fails at once while the database is known to be down.
macro_rules! read {
    ($h:expr, |$c:ident| $body:expr) => {
        match $h {
            $crate::repositories::Handle::Pool(db) => {
                let _probe = db.ensure_reachable()?;
                let $c = &db.inner.conn;
                db.observe(async { Ok::<_, $crate::error::PersistenceError>($body) }.await)?
            }
            $crate::repositories::Handle::Tx(tx) => {
                let $c = tx;
                $body
            }
        }
    };
}

/// Runs `$body` with `$c` bound to a connection for writing; on the pool it
/// first waits its turn at the SQLite write gate.
macro_rules! write {
    ($h:expr, |$c:ident| $body:expr) => {
        match $h {
            $crate::repositories::Handle::Pool(db) => {
                let _probe = db.ensure_reachable()?;
                let _turn = db.write_turn().await;
                let $c = &db.inner.conn;
                db.observe(async { Ok::<_, $crate::error::PersistenceError>($body) }.await)?
            }
            $crate::repositories::Handle::Tx(tx) => {
                let $c = tx;
                $body
            }
        }
    };
}
pub(crate) use {read, write};

macro_rules! accessors {
    ($($(#[$doc:meta])* $name:ident => $repo:ident),+ $(,)?) => {
        impl Database {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> $repo<'_> {
                    $repo { h: Handle::Pool(self) }
                }
            )+
        }
        impl Transaction {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> $repo<'_> {
                    $repo { h: Handle::Tx(&self.tx) }
                }
            )+
        }
    };
}

accessors! {
    /// Organizations (tenants).
    organizations => Organizations,
    /// Users.
    users => Users,
    /// API keys.
    api_keys => ApiKeys,
    /// Connections to outside services.
    connections => Connections,
    /// System-wide settings.
    system_settings => SystemSettings,
    /// The audit trail.
    audit_logs => AuditLogs,
    /// Refresh tokens (stored as SHA-256), their families and rotation.
    refresh_tokens => RefreshTokens,
}

/// Current time, truncated to microseconds so every engine stores and returns
/// the same value (PostgreSQL keeps microseconds).
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}
