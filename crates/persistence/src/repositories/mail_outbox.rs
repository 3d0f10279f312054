//! The mail outbox: messages written with the change they belong to, then
//! claimed, sent and marked by a worker (see `curatore_service`'s mail
//! module for the rules).

use super::{Handle, now, read, write};
use crate::entities::mail_outbox::{self, ActiveModel, Column, Entity};
use crate::entities::user;
use crate::error::Result;
use chrono::{DateTime, Utc};
use curatore_domain::{MailKind, OrganizationId, UserId};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use std::time::Duration;
use uuid::Uuid;

/// Waiting to be sent (or being sent under a claim).
pub const OUTBOX_QUEUED: &str = "queued";
/// Accepted by the SMTP server.
pub const OUTBOX_SENT: &str = "sent";
/// Given up: too many attempts, or refused for good.
pub const OUTBOX_FAILED: &str = "failed";

/// A message to write into the outbox.
#[derive(Debug, Clone)]
pub struct NewOutboxMail {
    /// The organization the recipient belongs to.
    pub organization_id: OrganizationId,
    /// The recipient's user, whose row shows the delivery status.
    pub user_id: Option<UserId>,
    /// What it is for.
    pub kind: MailKind,
    /// The address it goes to.
    pub recipient: String,
    /// What the message needs to be written (names, the one-time token).
    pub payload: serde_json::Value,
}

/// A claimed message, to be sent now.
#[derive(Debug, Clone)]
pub struct OutboxMail {
    /// The outbox row.
    pub id: Uuid,
    /// The organization the recipient belongs to.
    pub organization_id: OrganizationId,
    /// The recipient's user, if any.
    pub user_id: Option<UserId>,
    /// What it is for; `None` for a kind this version does not know.
    pub kind: Option<MailKind>,
    /// The stored kind, as written.
    pub kind_name: String,
    /// The address it goes to.
    pub recipient: String,
    /// What the message needs to be written.
    pub payload: serde_json::Value,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

impl From<mail_outbox::Model> for OutboxMail {
    fn from(m: mail_outbox::Model) -> Self {
        Self {
            id: m.id,
            organization_id: m.organization_id.into(),
            user_id: m.user_id.map(Into::into),
            kind: MailKind::parse(&m.kind),
            kind_name: m.kind,
            recipient: m.recipient,
            payload: m.payload,
            attempts: u32::try_from(m.attempts).unwrap_or(0),
        }
    }
}

/// One outbox row as an operator or a test sees it (no payload).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// The outbox row.
    pub id: Uuid,
    /// The recipient's user, if any.
    pub user_id: Option<UserId>,
    /// The stored kind.
    pub kind: String,
    /// The address it goes to.
    pub recipient: String,
    /// `queued`, `sent` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When it is due next.
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was accepted by the SMTP server.
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<mail_outbox::Model> for OutboxEntry {
    fn from(m: mail_outbox::Model) -> Self {
        Self {
            id: m.id,
            user_id: m.user_id.map(Into::into),
            kind: m.kind,
            recipient: m.recipient,
            status: m.status,
            attempts: u32::try_from(m.attempts).unwrap_or(0),
            next_attempt_at: m.next_attempt_at,
            last_error: m.last_error,
            sent_at: m.sent_at,
        }
    }
}

/// How many messages wait and how many were given up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Queued (due now or later).
    pub queued: u64,
    /// Given up.
    pub failed: u64,
}

/// The outbox (instance-wide: the worker serves every organization).
pub struct MailOutbox<'a> {
    pub(crate) h: Handle<'a>,
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl MailOutbox<'_> {
    /// Writes a message, due at once.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn enqueue(&self, new: NewOutboxMail) -> Result<Uuid> {
        let at = now();
        let id = Uuid::now_v7();
        let model = ActiveModel {
            id: Set(id),
            organization_id: Set(new.organization_id.into()),
            user_id: Set(new.user_id.map(Into::into)),
            kind: Set(new.kind.as_str().to_owned()),
            recipient: Set(new.recipient),
            payload: Set(new.payload),
            status: Set(OUTBOX_QUEUED.to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(at),
            claimed_until: Set(None),
            last_error: Set(None),
            created_at: Set(at),
            sent_at: Set(None),
        };
        write!(self.h, |c| model.insert(c).await?);
        Ok(id)
    }

    /// Claims up to `limit` due messages for `lease`: no other claim takes
    /// them until it runs out, and each claim counts as an attempt. One
    /// statement: on PostgreSQL the rows are locked with `FOR UPDATE SKIP
    /// LOCKED`, so instances claiming at once take different rows; on
    /// SQLite it runs at the write gate.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn claim_due(&self, lease: Duration, limit: u64) -> Result<Vec<OutboxMail>> {
        let at = now();
        let until = at + chrono_duration(lease);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = write!(self.h, |c| {
            let statement = match c.get_database_backend() {
                DbBackend::Postgres => Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "UPDATE mail_outbox SET claimed_until = $1, attempts = attempts + 1 \
                     WHERE id IN (SELECT id FROM mail_outbox \
                       WHERE status = 'queued' AND next_attempt_at <= $2 \
                         AND (claimed_until IS NULL OR claimed_until < $2) \
                       ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
                     RETURNING *",
                    [until.into(), at.into(), limit.into()],
                ),
                backend => Statement::from_sql_and_values(
                    backend,
                    "UPDATE mail_outbox SET claimed_until = ?, attempts = attempts + 1 \
                     WHERE id IN (SELECT id FROM mail_outbox \
                       WHERE status = 'queued' AND next_attempt_at <= ? \
                         AND (claimed_until IS NULL OR claimed_until < ?) \
                       ORDER BY next_attempt_at, id LIMIT ?) \
                     RETURNING *",
                    [until.into(), at.into(), at.into(), limit.into()],
                ),
            };
            Entity::find().from_raw_sql(statement).all(c).await?
        });
        Ok(rows.into_iter().map(OutboxMail::from).collect())
    }

    /// Marks a message sent: its payload (the one-time token) is wiped, and
    /// its user's row says so (`invitation_sent_at` for an invitation, the
    /// last mail error cleared).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn mark_sent(&self, mail: &OutboxMail) -> Result<()> {
        let at = now();
        let model = ActiveModel {
            status: Set(OUTBOX_SENT.to_owned()),
            payload: Set(serde_json::json!({})),
            claimed_until: Set(None),
            last_error: Set(None),
            sent_at: Set(Some(at)),
            ..Default::default()
        };
        write!(self.h, |c| Entity::update_many()
            .set(model.clone())
            .filter(Column::Id.eq(mail.id))
            .exec(c)
            .await?);
        if let Some(user) = mail.user_id {
            let mut changes = user::ActiveModel {
                last_mail_error: Set(None),
                ..Default::default()
            };
            if mail.kind == Some(MailKind::Invitation) {
                changes.invitation_sent_at = Set(Some(at));
            }
            write!(self.h, |c| user::Entity::update_many()
                .set(changes.clone())
                .filter(user::Column::Id.eq(user.as_uuid()))
                .exec(c)
                .await?);
        }
        Ok(())
    }

    /// Records a failed attempt: due again at `retry_at`, or given up
    /// (`None`: its payload wiped). The user's row gets the error.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn mark_failed(
        &self,
        mail: &OutboxMail,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let mut model = ActiveModel {
            claimed_until: Set(None),
            last_error: Set(Some(error.to_owned())),
            ..Default::default()
        };
        match retry_at {
            Some(at) => model.next_attempt_at = Set(at),
            None => {
                model.status = Set(OUTBOX_FAILED.to_owned());
                model.payload = Set(serde_json::json!({}));
            }
        }
        write!(self.h, |c| Entity::update_many()
            .set(model.clone())
            .filter(Column::Id.eq(mail.id))
            .exec(c)
            .await?);
        if let Some(user) = mail.user_id {
            let changes = user::ActiveModel {
                last_mail_error: Set(Some(error.to_owned())),
                ..Default::default()
            };
            write!(self.h, |c| user::Entity::update_many()
                .set(changes.clone())
                .filter(user::Column::Id.eq(user.as_uuid()))
                .exec(c)
                .await?);
        }
        Ok(())
    }

    /// When the next queued message is due (or its claim runs out); `None`
    /// when nothing waits.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let next = read!(self.h, |c| Entity::find()
            .filter(Column::Status.eq(OUTBOX_QUEUED))
            .order_by_asc(Column::NextAttemptAt)
            .one(c)
            .await?);
        Ok(next.map(|m| match m.claimed_until {
            Some(until) if until > m.next_attempt_at => until,
            _ => m.next_attempt_at,
        }))
    }

    /// How many messages wait and how many were given up.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn counts(&self) -> Result<OutboxCounts> {
        let count = |status: &'static str| async move {
            Ok::<_, crate::PersistenceError>(read!(self.h, |c| Entity::find()
                .filter(Column::Status.eq(status))
                .count(c)
                .await?))
        };
        Ok(OutboxCounts {
            queued: count(OUTBOX_QUEUED).await?,
            failed: count(OUTBOX_FAILED).await?,
        })
    }

    /// The messages to `user`, oldest first (no payloads).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn for_user(&self, user: UserId) -> Result<Vec<OutboxEntry>> {
        let rows = read!(self.h, |c| Entity::find()
            .filter(Column::UserId.eq(user.as_uuid()))
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .limit(1000)
            .all(c)
            .await?);
        Ok(rows.into_iter().map(OutboxEntry::from).collect())
    }

    /// Every message, oldest first (no payloads); for operators and tests.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn list(&self, limit: u64) -> Result<Vec<OutboxEntry>> {
        let rows = read!(self.h, |c| Entity::find()
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .limit(limit)
            .all(c)
            .await?);
        Ok(rows.into_iter().map(OutboxEntry::from).collect())
    }
}
