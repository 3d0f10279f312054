//! `audit_logs`: a position in commit order, so a client that pulls the
//! trail incrementally (`GET /audit-logs/feed?after=…`) provably misses no
//! entry. `created_at` cannot do it: it is taken before the transaction
//! commits, so an entry of a slow transaction appears after a poller has
//! already moved past its timestamp.
//!
//! - PostgreSQL: `commit_xid xid8 DEFAULT pg_current_xact_id()`, the id of
//!   the writing transaction. A reader returns only entries whose
//!   transaction id is below the `xmin` of its own snapshot: every such
//!   transaction has ended, so every such entry that will ever exist is
//!   already visible, and nothing can later appear behind the position it
//!   hands out. Ordered by `(commit_xid, id)`; index `(organization_id,
//!   commit_xid, id)`.
//! - SQLite: one writer at a time, so a counter bumped inside the writing
//!   transaction is in commit order. `commit_seq`, set by a trigger from the
//!   one-row table `audit_log_commit_counter` (never reset, not even when a
//!   purge empties the trail); index `(organization_id, commit_seq)`.
//!
//! Existing entries: on PostgreSQL they all get this migration's
//! transaction id (ordered among themselves by id); on SQLite they are
//! numbered by `(created_at, id)`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// Adds the commit-ordered position to `audit_logs`.
#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE audit_logs ADD COLUMN commit_xid xid8 NOT NULL DEFAULT pg_current_xact_id()",
    "CREATE INDEX ix_audit_logs_org_commit ON audit_logs (organization_id, commit_xid, id)",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX ix_audit_logs_org_commit",
    "ALTER TABLE audit_logs DROP COLUMN commit_xid",
];

const SQLITE_UP: &[&str] = &[
    "ALTER TABLE audit_logs ADD COLUMN commit_seq INTEGER",
    "CREATE TABLE audit_log_commit_counter (\
       id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1), \
       value INTEGER NOT NULL)",
    "UPDATE audit_logs SET commit_seq = numbered.n FROM (\
       SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM audit_logs\
     ) AS numbered WHERE audit_logs.id = numbered.id",
    "INSERT INTO audit_log_commit_counter (id, value) \
     SELECT 1, COALESCE(MAX(commit_seq), 0) FROM audit_logs",
    "CREATE TRIGGER audit_logs_commit_seq AFTER INSERT ON audit_logs FOR EACH ROW BEGIN \
       UPDATE audit_log_commit_counter SET value = value + 1 WHERE id = 1; \
       UPDATE audit_logs SET commit_seq = (SELECT value FROM audit_log_commit_counter WHERE id = 1) \
         WHERE rowid = NEW.rowid; \
     END",
    "CREATE INDEX ix_audit_logs_org_commit ON audit_logs (organization_id, commit_seq)",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP INDEX ix_audit_logs_org_commit",
    "DROP TRIGGER audit_logs_commit_seq",
    "DROP TABLE audit_log_commit_counter",
    "ALTER TABLE audit_logs DROP COLUMN commit_seq",
];

async fn run(manager: &SchemaManager<'_>, postgres: &[&str], sqlite: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let statements = match db.get_database_backend() {
        DbBackend::Sqlite => sqlite,
        _ => postgres,
    };
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, POSTGRES_UP, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, POSTGRES_DOWN, SQLITE_DOWN).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
