//! Repositories: the operations later layers call, one type per table.
//!
//! They are reached through two handles, on the pool (`db.tenant(org)`,
//! `db.system()`) or inside a write transaction (`tx.tenant(org)`,
//! `tx.system()`), so several changes and their audit entry commit together:
//! - [`Tenant`]: everything an organization owns; every statement filters by
//!   the handle's organization, so another tenant's rows are simply not there.
//! - [`System`]: the few operations that cross organizations (seeding, login
//!   by name, key and refresh-token lookups by hash, instance administration).

mod api_keys;
mod audit_feed;
mod audit_logs;
mod connections;
mod mail_outbox;
mod organizations;
mod refresh_tokens;
mod system_settings;
mod users;

pub use api_keys::{SystemApiKeys, TenantApiKeys};
pub use audit_feed::AuditFeedPosition;
pub use audit_logs::{AuditFilter, SystemAuditLogs, TenantAuditLogs};
pub use connections::{ConnectionChanges, ConnectionFilter, SystemConnections, TenantConnections};
pub use mail_outbox::{
    MailOutbox, NewOutboxMail, OUTBOX_FAILED, OUTBOX_QUEUED, OUTBOX_SENT, OutboxCounts,
    OutboxEntry, OutboxMail,
};
pub use organizations::{Organizations, TenantOrganization};
pub use refresh_tokens::{RefreshTokens, RotateOutcome};
pub use system_settings::SystemSettings;
pub use users::{SystemUsers, TenantUsers};

use crate::database::{Database, Transaction};
use curatore_domain::OrganizationId;
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

/// The total of a list: through the database's cache of long lists' counts
/// on the pool (see [`crate::totals`]), counted exactly inside a transaction.
/// `key` names the list and its filters, organization included.
pub(crate) async fn list_total<E>(
    h: Handle<'_>,
    key: &str,
    select: sea_orm::Select<E>,
) -> crate::error::Result<crate::Total>
where
    E: sea_orm::EntityTrait,
{
    use crate::totals::{count_all, count_at_most};
    match h {
        Handle::Pool(db) => {
            let capped = select.clone();
            db.inner
                .totals
                .total(
                    key,
                    |limit| async move { Ok(read!(h, |c| count_at_most(capped, limit, c).await?)) },
                    || async move { Ok(read!(h, |c| count_all(select, c).await?)) },
                )
                .await
        }
        Handle::Tx(tx) => Ok(crate::Total::exact(count_all(select, tx).await?)),
    }
}

/// Everything one organization owns. Every query made through it filters by
/// that organization: a row of another organization reads as absent and
/// cannot be changed or deleted ([`PersistenceError::NotFound`](crate::PersistenceError::NotFound)).
///
/// Get one with [`Database::tenant`] or [`Transaction::tenant`]; it is a
/// borrowed, `Copy` view, cheap to make per call. The repositories it hands
/// out borrow the database or transaction, not the handle, so
/// `let users = db.tenant(org).users();` works.
#[derive(Clone, Copy)]
pub struct Tenant<'a> {
    h: Handle<'a>,
    org: OrganizationId,
}

impl<'a> Tenant<'a> {
    /// The organization this handle is scoped to.
    pub fn id(&self) -> OrganizationId {
        self.org
    }

    /// The organization itself: read it, change its profile, (de)activate it.
    pub fn organization(&self) -> TenantOrganization<'a> {
        TenantOrganization {
            h: self.h,
            org: self.org,
        }
    }

    /// The organization's users.
    pub fn users(&self) -> TenantUsers<'a> {
        TenantUsers {
            h: self.h,
            org: self.org,
        }
    }

    /// The organization's API keys.
    pub fn api_keys(&self) -> TenantApiKeys<'a> {
        TenantApiKeys {
            h: self.h,
            org: self.org,
        }
    }

    /// The organization's connections to outside services.
    pub fn connections(&self) -> TenantConnections<'a> {
        TenantConnections {
            h: self.h,
            org: self.org,
        }
    }

    /// The organization's audit trail.
    pub fn audit_logs(&self) -> TenantAuditLogs<'a> {
        TenantAuditLogs {
            h: self.h,
            org: self.org,
        }
    }
}

/// The few operations that cross organizations: seeding, finding a user by
/// login name, a key or refresh token by its hash, the request-time access
/// snapshots, the audit entries of failed logins, instance administration.
///
/// It exists so that reaching across tenants is a choice written out at the
/// call site (`db.system()`), never the default: code that serves one
/// organization takes a [`Tenant`] and cannot see another's rows.
#[derive(Clone, Copy)]
pub struct System<'a> {
    pub(crate) h: Handle<'a>,
}

impl<'a> System<'a> {
    /// The tenant handle of `org` on the same connection or transaction, for
    /// cross-tenant operations (seeding) that go on to act inside one tenant.
    pub(crate) fn tenant(&self, org: OrganizationId) -> Tenant<'a> {
        Tenant { h: self.h, org }
    }

    /// Organizations (tenants): create, find, list, administer.
    pub fn organizations(&self) -> Organizations<'a> {
        Organizations { h: self.h }
    }

    /// Users looked up without knowing their organization (login, token checks).
    pub fn users(&self) -> SystemUsers<'a> {
        SystemUsers { h: self.h }
    }

    /// API keys looked up by hash, before their organization is known.
    pub fn api_keys(&self) -> SystemApiKeys<'a> {
        SystemApiKeys { h: self.h }
    }

    /// Refresh tokens (stored as SHA-256), their families and rotation.
    pub fn refresh_tokens(&self) -> RefreshTokens<'a> {
        RefreshTokens { h: self.h }
    }

    /// System-wide settings.
    pub fn system_settings(&self) -> SystemSettings<'a> {
        SystemSettings { h: self.h }
    }

    /// Audit entries of no or any organization.
    pub fn audit_logs(&self) -> SystemAuditLogs<'a> {
        SystemAuditLogs { h: self.h }
    }

    /// The mail outbox, which one worker per instance serves for every
    /// organization.
    pub fn mail_outbox(&self) -> MailOutbox<'a> {
        MailOutbox { h: self.h }
    }
}

impl Database {
    /// Everything organization `org` owns, on the pool.
    pub fn tenant(&self, org: OrganizationId) -> Tenant<'_> {
        Tenant {
            h: Handle::Pool(self),
            org,
        }
    }

    /// The cross-organization operations, on the pool.
    pub fn system(&self) -> System<'_> {
        System {
            h: Handle::Pool(self),
        }
    }
}

impl Transaction {
    /// Everything organization `org` owns, inside this transaction.
    pub fn tenant(&self, org: OrganizationId) -> Tenant<'_> {
        Tenant {
            h: Handle::Tx(&self.tx),
            org,
        }
    }

    /// The cross-organization operations, inside this transaction.
    pub fn system(&self) -> System<'_> {
        System {
            h: Handle::Tx(&self.tx),
        }
    }
}

/// Current time, truncated to microseconds so every engine stores and returns
/// the same value (PostgreSQL keeps microseconds).
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}
