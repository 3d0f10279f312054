//! The audit trail in commit order, for clients that pull it incrementally
//! and must miss nothing (migration `m20261207_000010_audit_logs_commit_order`).
//!
//! `created_at` is taken before a transaction commits, so a poller asking
//! for "entries since the newest I saw" misses an entry whose transaction
//! committed late. A feed position is instead:
//! - PostgreSQL: `(commit_xid, id)`, and a read returns only entries whose
//!   transaction id is below the `xmin` of the read's own snapshot. Every
//!   transaction below `xmin` has ended, so each of their entries is visible
//!   to the read (or never will be: rolled back); any transaction still
//!   running, or started later, has an id at or above `xmin`. So nothing can
//!   ever appear behind a position a read hands out, and a poller that
//!   resumes from it misses nothing and sees nothing twice. An entry waits
//!   (is not yet returned) while an older transaction anywhere on the server
//!   is still open.
//! - SQLite: `commit_seq`, a counter bumped inside the writing transaction.
//!   SQLite has one writer at a time, so numbers are handed out in commit
//!   order and a reader sees a prefix of them.

use super::{TenantAuditLogs, read};
use crate::entities::audit_log;
use crate::error::Result;
use curatore_domain::{AuditLogEntry, DatabaseKind};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};
use uuid::Uuid;

/// Where an incremental read of the audit trail stands: after the entry it
/// names, in commit order. Its text form ([`AuditFeedPosition::encode`]) is
/// what clients hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFeedPosition {
    /// Before the first entry.
    Start,
    /// SQLite: after the entry numbered so.
    Sequence(i64),
    /// PostgreSQL: after this transaction's entry with this id.
    Transaction(u64, Uuid),
}

impl AuditFeedPosition {
    /// The text a client holds: `0`, `s<number>` or `x<transaction>.<id>`.
    pub fn encode(&self) -> String {
        match self {
            Self::Start => "0".to_owned(),
            Self::Sequence(n) => format!("s{n}"),
            Self::Transaction(xid, id) => format!("x{xid}.{}", id.simple()),
        }
    }

    /// Reads a position written by [`AuditFeedPosition::encode`] for an
    /// `engine` database; `None` for anything else (another engine's too).
    pub fn decode(raw: &str, engine: DatabaseKind) -> Option<Self> {
        if raw == "0" {
            return Some(Self::Start);
        }
        match engine {
            DatabaseKind::Sqlite => raw
                .strip_prefix('s')
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .map(Self::Sequence),
            DatabaseKind::Postgresql => {
                let (xid, id) = raw.strip_prefix('x')?.split_once('.')?;
                let xid = xid.parse::<u64>().ok()?;
                let id = Uuid::try_parse(id).ok()?;
                Some(Self::Transaction(xid, id))
            }
        }
    }
}

/// The read of one feed page, per engine.
fn statement(backend: DbBackend, org: Uuid, after: AuditFeedPosition, limit: u64) -> Statement {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    match (backend, after) {
        (DbBackend::Sqlite, after) => {
            let after = match after {
                AuditFeedPosition::Sequence(n) => n,
                _ => 0,
            };
            Statement::from_sql_and_values(
                backend,
                "SELECT *, commit_seq AS feed_seq FROM audit_logs \
                 WHERE organization_id = ? AND commit_seq > ? \
                 ORDER BY commit_seq LIMIT ?",
                [Value::from(org), after.into(), limit.into()],
            )
        }
        (_, AuditFeedPosition::Transaction(xid, id)) => Statement::from_sql_and_values(
            backend,
            "SELECT *, CAST(commit_xid AS TEXT) AS feed_xid FROM audit_logs \
             WHERE organization_id = $1 \
               AND commit_xid < pg_snapshot_xmin(pg_current_snapshot()) \
               AND (commit_xid, id) > (CAST($2 AS xid8), $3) \
             ORDER BY commit_xid, id LIMIT $4",
            [
                Value::from(org),
                xid.to_string().into(),
                Value::from(id),
                limit.into(),
            ],
        ),
        (_, _) => Statement::from_sql_and_values(
            backend,
            "SELECT *, CAST(commit_xid AS TEXT) AS feed_xid FROM audit_logs \
             WHERE organization_id = $1 \
               AND commit_xid < pg_snapshot_xmin(pg_current_snapshot()) \
             ORDER BY commit_xid, id LIMIT $2",
            [Value::from(org), limit.into()],
        ),
    }
}

impl TenantAuditLogs<'_> {
    /// Up to `limit` of the organization's entries after `after`, in commit
    /// order, each with its position (see the module documentation for why
    /// a client resuming from the last one misses nothing).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn feed(
        &self,
        after: AuditFeedPosition,
        limit: u64,
    ) -> Result<Vec<(AuditFeedPosition, AuditLogEntry)>> {
        let org = self.org.as_uuid();
        let rows = read!(self.h, |c| {
            let backend = c.get_database_backend();
            c.query_all_raw(statement(backend, org, after, limit))
                .await?
        });
        rows.iter()
            .map(|row| {
                let model = audit_log::Model::from_query_result(row, "")?;
                let position = match row.try_get::<Option<i64>>("", "feed_seq") {
                    Ok(Some(n)) => AuditFeedPosition::Sequence(n),
                    _ => {
                        let xid: String = row.try_get("", "feed_xid")?;
                        let xid = xid.parse::<u64>().map_err(|_| {
                            sea_orm::DbErr::Custom(format!("transaction id {xid} is not a number"))
                        })?;
                        AuditFeedPosition::Transaction(xid, model.id)
                    }
                };
                Ok((position, AuditLogEntry::try_from(model)?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_belong_to_their_engine() {
        let id = Uuid::new_v4();
        for (p, kind) in [
            (AuditFeedPosition::Start, DatabaseKind::Sqlite),
            (AuditFeedPosition::Start, DatabaseKind::Postgresql),
            (AuditFeedPosition::Sequence(42), DatabaseKind::Sqlite),
            (
                AuditFeedPosition::Transaction(7_000_123, id),
                DatabaseKind::Postgresql,
            ),
        ] {
            assert_eq!(AuditFeedPosition::decode(&p.encode(), kind), Some(p));
        }
        assert_eq!(
            AuditFeedPosition::decode("s42", DatabaseKind::Postgresql),
            None
        );
        let pg = AuditFeedPosition::Transaction(1, id).encode();
        assert_eq!(AuditFeedPosition::decode(&pg, DatabaseKind::Sqlite), None);
        for bad in ["", "s", "s-1", "x1", "x1.nope", "zz"] {
            assert_eq!(AuditFeedPosition::decode(bad, DatabaseKind::Sqlite), None);
            assert_eq!(
                AuditFeedPosition::decode(bad, DatabaseKind::Postgresql),
                None
            );
        }
    }
}
