//! SQLite database files as whole objects, for backups and restores: an
//! online copy of the live database ([`Database::copy_into`]), what a copy
//! holds and whether it is intact ([`inspect_sqlite_file`]), and a claim
//! that no one else has a file open ([`claim_sqlite_file`]).
//!
//! Each works on a connection of its own, outside the pool's write gate,
//! and none takes or returns a driver type.

use crate::database::Database;
use crate::error::{PersistenceError, Result};
use curatore_domain::DatabaseKind;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteLockingMode};
use sqlx::{Connection, Row};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The most problems an integrity check lists.
const MAX_PROBLEMS: u32 = 20;

/// How thoroughly [`inspect_sqlite_file`] checks a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrityCheck {
    /// `PRAGMA quick_check`: every page and record well formed, in time
    /// proportional to the file; skips comparing indexes with their tables.
    Quick,
    /// `PRAGMA integrity_check`: everything `Quick` checks, and every index
    /// against its table (several times slower on large tables).
    Full,
}

/// What a SQLite database file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteFileReport {
    /// What the integrity check found wrong; empty when the file is intact.
    pub problems: Vec<String>,
    /// The exact row count of every table (SQLite's own tables aside).
    pub tables: BTreeMap<String, u64>,
    /// The migrations recorded as applied, oldest first (empty without
    /// SeaORM's `seaql_migrations` table).
    pub migrations: Vec<String>,
}

impl SqliteFileReport {
    /// The newest applied migration, if any.
    pub fn newest_migration(&self) -> Option<&str> {
        self.migrations.last().map(String::as_str)
    }
}

fn path_text(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        PersistenceError::Unavailable(format!(
            "the path {} is not valid UTF-8, which SQLite needs",
            path.display()
        ))
    })
}

impl Database {
    /// Writes a consistent copy of the whole SQLite database to `target`
    /// with `VACUUM INTO`, on one pooled connection: a read transaction, so
    /// writers carry on (WAL) and the copy holds exactly what was committed
    /// when it began. `target` must not exist; its folder must. The copy is
    /// compacted (no free pages) and in rollback-journal mode.
    ///
    /// # Errors
    /// [`PersistenceError::Unsupported`] on PostgreSQL (use its own tools);
    /// [`PersistenceError::Unavailable`] when the copy cannot be written (a
    /// full disk, no permission, `target` exists); a partly written
    /// `target` is then the caller's to remove.
    pub async fn copy_into(&self, target: &Path) -> Result<()> {
        if self.kind() != DatabaseKind::Sqlite {
            return Err(PersistenceError::Unsupported(
                "an online copy of the database file is for SQLite; back PostgreSQL up with pg_dump or a base backup",
            ));
        }
        let stmt = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "VACUUM INTO ?",
            [path_text(target)?.into()],
        );
        self.inner.conn.execute_raw(stmt).await?;
        Ok(())
    }
}

/// A connection to a file only, never creating it, failing at once on a lock.
fn file_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(Duration::ZERO)
        .foreign_keys(false)
}

/// Runs the integrity check on `path`, counts the rows of every table and
/// reads the migration history, on a read-only connection of its own.
///
/// # Errors
/// When the file cannot be opened or is not a SQLite database.
pub async fn inspect_sqlite_file(path: &Path, check: IntegrityCheck) -> Result<SqliteFileReport> {
    let options = file_options(path).read_only(true);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(PersistenceError::from_connect)?;
    let report = inspect(&mut conn, check).await;
    let _ = conn.close().await;
    report
}

async fn inspect(conn: &mut SqliteConnection, check: IntegrityCheck) -> Result<SqliteFileReport> {
    let pragma = match check {
        IntegrityCheck::Quick => "quick_check",
        IntegrityCheck::Full => "integrity_check",
    };
    // Both parts are constants of this module.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA {pragma}({MAX_PROBLEMS})"
    )))
    .fetch_all(&mut *conn)
    .await
    .map_err(sqlx_error)?;
    let mut problems = Vec::new();
    for row in rows {
        let line: String = row.try_get(0).map_err(sqlx_error)?;
        if line != "ok" {
            problems.push(line);
        }
    }
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(sqlx_error)?;
    let mut tables = BTreeMap::new();
    for name in &names {
        // A table name from the file itself, quoted as an identifier.
        let quoted = name.replace('"', "\"\"");
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{quoted}\""
        )))
        .fetch_one(&mut *conn)
        .await
        .map_err(sqlx_error)?;
        tables.insert(name.clone(), u64::try_from(count).unwrap_or(0));
    }
    let migrations = if tables.contains_key("seaql_migrations") {
        sqlx::query_scalar("SELECT version FROM seaql_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .map_err(sqlx_error)?
    } else {
        Vec::new()
    };
    Ok(SqliteFileReport {
        problems,
        tables,
        migrations,
    })
}

fn sqlx_error(err: sqlx::Error) -> PersistenceError {
    sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(err.into())).into()
}

/// Whether a driver error is SQLite's "busy" or "locked".
fn is_locked(err: &sqlx::Error) -> bool {
    let code = match err {
        sqlx::Error::Database(db) => db.code(),
        _ => None,
    };
    code.and_then(|c| c.parse::<i64>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// Sole use of a SQLite file ([`claim_sqlite_file`]): while held, no other
/// connection, in this process or another, can open the file's data.
/// Released by [`SqliteFileClaim::release`] or when dropped.
pub struct SqliteFileClaim {
    conn: SqliteConnection,
}

impl std::fmt::Debug for SqliteFileClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteFileClaim")
    }
}

/// Takes sole use of the SQLite database at `path` (which must exist), or
/// `None` when anything else has it open: every connection in WAL mode
/// keeps a shared lock on the file for as long as it is open, so a server
/// using it (even idle) or a `sqlite3` shell is found, not only one that is
/// writing. The claim is an exclusive lock held by a connection in
/// `locking_mode=EXCLUSIVE`; anyone opening the file meanwhile waits or
/// fails as "locked". Whatever the write-ahead log held is checkpointed into
/// the file first, so the file alone is the whole database.
///
/// # Errors
/// When the file cannot be opened, is not a SQLite database, or the
/// checkpoint fails.
pub async fn claim_sqlite_file(path: &Path) -> Result<Option<SqliteFileClaim>> {
    let options = file_options(path).locking_mode(SqliteLockingMode::Exclusive);
    let mut conn = match SqliteConnection::connect_with(&options).await {
        Ok(conn) => conn,
        Err(e) if is_locked(&e) => return Ok(None),
        Err(e) => return Err(PersistenceError::from_connect(e)),
    };
    // The exclusive lock, kept after COMMIT in this locking mode.
    match sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await {
        Ok(_) => {}
        Err(e) if is_locked(&e) => {
            let _ = conn.close().await;
            return Ok(None);
        }
        Err(e) => return Err(sqlx_error(e)),
    }
    sqlx::query("COMMIT")
        .execute(&mut conn)
        .await
        .map_err(sqlx_error)?;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .map_err(sqlx_error)?;
    if mode.eq_ignore_ascii_case("wal") {
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut conn)
            .await
            .map_err(sqlx_error)?;
        let busy: i64 = row.try_get(0).map_err(sqlx_error)?;
        if busy != 0 {
            return Err(PersistenceError::Unavailable(
                "the write-ahead log could not be checkpointed into the database file".into(),
            ));
        }
    }
    Ok(Some(SqliteFileClaim { conn }))
}

impl SqliteFileClaim {
    /// Gives the file back.
    ///
    /// # Errors
    /// When SQLite reports a problem closing the file (the lock goes anyway).
    pub async fn release(self) -> Result<()> {
        self.conn.close().await.map_err(sqlx_error)
    }
}
