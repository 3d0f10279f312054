//! One unit of work: how every write of a use case reaches the database.
//!
//! A use case opens a [`Work`], changes rows through it, declares what
//! other caches must forget and whose sessions end, and commits with the
//! audit entry that records the change: [`Work::commit`] takes that entry,
//! so a write without its entry does not compile. The entry is written in
//! the same transaction, and only after the commit are caches told to forget
//! (here, and through `NOTIFY` on every other instance). A `Work` dropped
//! without committing rolls back.

use crate::audit::{AuditEvent, Entry};
use crate::cache::Forget;
use crate::context::{Client, RequestContext};
use crate::error::Result;
use crate::services::Services;
use curatore_domain::{NewAuditLogEntry, OrganizationId, UserId};
use curatore_persistence::{System, Tenant, Transaction};
use uuid::Uuid;

/// On whose behalf the work is done: fills the actor fields of its entries.
#[derive(Clone, Copy)]
pub(crate) enum Origin<'a> {
    /// An authenticated caller, in its organization.
    Caller(&'a RequestContext),
    /// A client that has not authenticated (login, refresh, reset
    /// redemption): the entry names its organization and user itself.
    Client(&'a Client),
    /// The process itself (operator work): no address, no agent.
    Process,
}

impl Origin<'_> {
    fn finish(self, event: AuditEvent, entry: Entry) -> NewAuditLogEntry {
        match self {
            Origin::Caller(ctx) => entry.by(event, ctx),
            Origin::Client(client) => entry.done_from(event, client),
            Origin::Process => entry.done_from(event, &Client::local()),
        }
    }
}

/// An open write transaction and what to do after it commits.
pub(crate) struct Work<'a> {
    services: &'a Services,
    tx: Transaction,
    origin: Origin<'a>,
    entries: Vec<NewAuditLogEntry>,
    forget: Vec<Forget>,
}

impl<'a> Work<'a> {
    pub(crate) async fn begin(services: &'a Services, origin: Origin<'a>) -> Result<Self> {
        Ok(Self {
            tx: services.database().begin().await?,
            services,
            origin,
            entries: Vec::new(),
            forget: Vec::new(),
        })
    }

    /// What `org` owns, inside this transaction.
    pub(crate) fn tenant(&self, org: OrganizationId) -> Tenant<'_> {
        self.tx.tenant(org)
    }

    /// The caller's organization, inside this transaction (operator and
    /// anonymous work name the organization with [`Work::tenant`]).
    pub(crate) fn own(&self) -> Tenant<'_> {
        match self.origin {
            Origin::Caller(ctx) => self.tx.tenant(ctx.organization_id()),
            // Only request handles call this; anything else is a bug caught by tests.
            Origin::Client(_) | Origin::Process => {
                unreachable!("Work::own outside a request")
            }
        }
    }

    /// The cross-tenant operations, inside this transaction.
    pub(crate) fn system(&self) -> System<'_> {
        self.tx.system()
    }

    /// After the commit, forget `what` here and on every other instance.
    pub(crate) fn forget(&mut self, what: Forget) {
        if !self.forget.contains(&what) {
            self.forget.push(what);
        }
    }

    /// Ends every session of `user` in this transaction; their tokens stop
    /// working everywhere once it commits. Returns how many tokens ended.
    pub(crate) async fn end_sessions(&mut self, user: UserId) -> Result<u64> {
        let revoked = self
            .tx
            .system()
            .refresh_tokens()
            .revoke_all_for_user(user)
            .await?;
        self.forget(Forget::User(user));
        Ok(revoked)
    }

    /// Ends every session of `user` but `keep` (the one changing its password).
    pub(crate) async fn end_other_sessions(&mut self, user: UserId, keep: Uuid) -> Result<u64> {
        let revoked = self
            .tx
            .system()
            .refresh_tokens()
            .revoke_all_for_user_except(user, keep)
            .await?;
        self.forget(Forget::User(user));
        Ok(revoked)
    }

    /// Ends one session (a refresh-token family).
    pub(crate) async fn end_session(&mut self, family: Uuid) -> Result<u64> {
        let revoked = self
            .tx
            .system()
            .refresh_tokens()
            .revoke_family(family)
            .await?;
        self.forget(Forget::Session(family));
        Ok(revoked)
    }

    /// Records a further entry of this change (written with the last one,
    /// in order), for a change that is two events at once.
    pub(crate) fn audit(&mut self, event: AuditEvent, entry: Entry) {
        self.entries.push(self.origin.finish(event, entry));
    }

    /// Writes the audit entries (this one last), commits, then forgets what
    /// was declared.
    pub(crate) async fn commit(mut self, event: AuditEvent, entry: Entry) -> Result<()> {
        self.audit(event, entry);
        let audit = self.tx.system();
        for entry in std::mem::take(&mut self.entries) {
            audit.audit_logs().record(entry).await?;
        }
        self.tx.commit().await?;
        for what in self.forget {
            self.services.forget(what).await;
        }
        Ok(())
    }
}
