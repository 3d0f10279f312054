//! What several processes on one database share beyond the tables: attempt
//! counters for the login and registration limits ([`RateLimitWindows`], on
//! PostgreSQL; SQLite keeps them in memory), and cache invalidations
//! ([`Database::publish_invalidation`], [`Database::listen`]): on PostgreSQL
//! sent with `NOTIFY` and received on a `LISTEN` connection; on SQLite
//! written to `cache_invalidations` and read by every other process on the
//! file when `PRAGMA data_version` says the file changed.

use crate::database::Database;
use crate::error::Result;
use curatore_domain::DatabaseKind;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use std::time::Duration;

/// The channel cache invalidations travel on.
const CHANNEL: &str = "curatore_cache";

/// A `NOTIFY` payload is limited to 8000 bytes; ours are a few dozen (and
/// `cache_invalidations.payload` holds 200).
const MAX_PAYLOAD: usize = 200;

/// How often a SQLite process looks whether another changed the file: the
/// bound on how late a revocation made elsewhere is seen.
#[cfg(feature = "sqlite")]
const SQLITE_POLL: Duration = Duration::from_millis(20);

/// How long SQLite keeps an invalidation for the other processes to read:
/// far beyond any poll; a process that was stopped longer forgets
/// everything when it sees the gap.
const SQLITE_KEEP_SECONDS: i64 = 600;

/// Counts in one window of one key, after a reservation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCounts {
    /// Attempts reserved in this window (in flight or failed), this one included.
    pub attempts: u32,
    /// Those known to have failed.
    pub failures: u32,
    /// Failures in the window before, which the caller weighs to slide.
    pub previous_failures: u32,
}

/// How a reservation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// It failed: it keeps its place and counts as a failure.
    Failed,
    /// It was not verified or it succeeded: its place is given back.
    GiveBack,
    /// It succeeded and wipes the key's earlier failures (this window and the one before).
    ClearFailures,
}

/// Shared attempt counters in `rate_limit_windows`, one row per key and
/// fixed window. Every change is one atomic statement, so reservations made
/// at the same moment by several servers are counted exactly.
#[derive(Debug, Clone)]
pub struct RateLimitWindows {
    db: Database,
}

/// The row id: a digest of the key (a login never lands in the table in clear).
const ID: &str = "encode(sha256(convert_to($1, 'UTF8')), 'hex')";

impl RateLimitWindows {
    async fn run(
        &self,
        sql: String,
        values: Vec<sea_orm::Value>,
    ) -> Result<Option<sea_orm::QueryResult>> {
        let _probe = self.db.ensure_reachable()?;
        let stmt = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
        let row = self.db.inner.conn.query_one_raw(stmt).await;
        self.db.observe(row.map_err(Into::into))
    }

    /// Reserves one attempt under `key` (a window's key) and reads the
    /// counts, with `previous` the key of the window before. With
    /// `as_failure`, the attempt counts as failed at once. The row expires
    /// (may be deleted) at `expires_at`, in seconds since the Unix epoch.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn reserve(
        &self,
        key: &str,
        previous: &str,
        expires_at: i64,
        as_failure: bool,
    ) -> Result<WindowCounts> {
        let failed = i32::from(as_failure);
        let sql = format!(
            "WITH cur AS (
                INSERT INTO rate_limit_windows (id, attempts, failures, expires_at)
                VALUES ({ID}, 1, $3, $4)
                ON CONFLICT (id) DO UPDATE SET
                    attempts = rate_limit_windows.attempts + 1,
                    failures = rate_limit_windows.failures + $3
                RETURNING attempts, failures)
             SELECT cur.attempts, cur.failures, COALESCE(p.failures, 0) AS previous_failures
             FROM cur LEFT JOIN rate_limit_windows p
               ON p.id = encode(sha256(convert_to($2, 'UTF8')), 'hex')"
        );
        let row = self
            .run(
                sql,
                vec![
                    key.into(),
                    previous.into(),
                    failed.into(),
                    expires_at.into(),
                ],
            )
            .await?;
        let Some(row) = row else {
            return Ok(WindowCounts::default());
        };
        let count = |column: &str| -> Result<u32> {
            Ok(u32::try_from(row.try_get::<i32>("", column)?).unwrap_or(0))
        };
        Ok(WindowCounts {
            attempts: count("attempts")?,
            failures: count("failures")?,
            previous_failures: count("previous_failures")?,
        })
    }

    /// Ends a reservation made under `key` (`previous`: the window before,
    /// whose failures [`Settlement::ClearFailures`] wipes too).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn settle(&self, key: &str, previous: &str, how: Settlement) -> Result<()> {
        let sql = match how {
            Settlement::Failed => format!(
                "UPDATE rate_limit_windows SET failures = LEAST(failures + 1, attempts) WHERE id = {ID}"
            ),
            Settlement::GiveBack => format!(
                "UPDATE rate_limit_windows SET attempts = GREATEST(attempts - 1, failures) WHERE id = {ID}"
            ),
            Settlement::ClearFailures => format!(
                "UPDATE rate_limit_windows SET
                    attempts = GREATEST(attempts - failures - CASE WHEN id = {ID} THEN 1 ELSE 0 END, 0),
                    failures = 0
                 WHERE id IN ({ID}, encode(sha256(convert_to($2, 'UTF8')), 'hex'))"
            ),
        };
        let values = if how == Settlement::ClearFailures {
            vec![key.into(), previous.into()]
        } else {
            vec![key.into()]
        };
        self.run(sql, values).await.map(drop)
    }

    /// Deletes at most `batch` rows expired before `now` (seconds since the
    /// Unix epoch); returns how many.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn purge_expired(&self, now: i64, batch: u32) -> Result<u64> {
        let _probe = self.db.ensure_reachable()?;
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "DELETE FROM rate_limit_windows WHERE id IN (
                SELECT id FROM rate_limit_windows WHERE expires_at < $1 LIMIT $2)",
            [now.into(), i64::from(batch).into()],
        );
        let done = self.db.inner.conn.execute_raw(stmt).await;
        Ok(self.db.observe(done.map_err(Into::into))?.rows_affected())
    }
}

/// What the invalidation listener reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// A payload another server (or this one) published.
    Message(String),
    /// The listening connection was lost and is back: notifications sent
    /// meanwhile are lost, so everything cached may be stale.
    Reconnected,
}

/// The task listening for invalidations; stops when dropped.
#[derive(Debug)]
pub struct InvalidationListener {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for InvalidationListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Database {
    /// The shared attempt counters; `None` on SQLite (one process: counts
    /// in memory suffice).
    pub fn rate_limit_windows(&self) -> Option<RateLimitWindows> {
        (self.kind() == DatabaseKind::Postgresql).then(|| RateLimitWindows { db: self.clone() })
    }

    /// PostgreSQL's `max_connections` (shared by every server on it); `None` on SQLite.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn server_max_connections(&self) -> Result<Option<u32>> {
        if self.kind() != DatabaseKind::Postgresql {
            return Ok(None);
        }
        let stmt = Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_setting('max_connections')::int4 AS max_connections",
        );
        let row = self.inner.conn.query_one_raw(stmt).await?;
        Ok(match row {
            Some(row) => u32::try_from(row.try_get::<i32>("", "max_connections")?).ok(),
            None => None,
        })
    }

    /// Sends `payload` to every process listening ([`Database::listen`]).
    /// Call it after the change is committed.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn publish_invalidation(&self, payload: &str) -> Result<()> {
        if payload.len() > MAX_PAYLOAD {
            return Ok(());
        }
        if self.kind() == DatabaseKind::Sqlite {
            return self.publish_to_file(payload).await;
        }
        let _probe = self.ensure_reachable()?;
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        );
        let sent = self.inner.conn.execute_raw(stmt).await;
        self.observe(sent.map_err(Into::into)).map(drop)
    }

    /// SQLite: one row in `cache_invalidations` (and the rows past keeping
    /// pruned), in a transaction of its own through the write gate.
    async fn publish_to_file(&self, payload: &str) -> Result<()> {
        let now = chrono::Utc::now();
        let tx = self.begin().await?;
        let insert = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO cache_invalidations (payload, created_at) VALUES (?, ?)",
            [payload.into(), now.into()],
        );
        tx.tx.execute_raw(insert).await?;
        let prune = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "DELETE FROM cache_invalidations WHERE created_at < ?",
            [(now - chrono::Duration::seconds(SQLITE_KEEP_SECONDS)).into()],
        );
        tx.tx.execute_raw(prune).await?;
        tx.commit().await
    }

    /// Listens for invalidations on a connection of its own, calling
    /// `on_event` for each. PostgreSQL: `LISTEN` (application name
    /// `curatore-listen`); a lost connection is re-established by itself
    /// (retrying every `retry`), then reported as
    /// [`Invalidation::Reconnected`]. SQLite: every 20 ms `PRAGMA
    /// data_version` (no query while the file is unchanged), then the new
    /// `cache_invalidations` rows; a gap (rows pruned before this process
    /// read them) is reported as [`Invalidation::Reconnected`].
    ///
    /// Must be called inside a Tokio runtime.
    pub fn listen(
        &self,
        retry: Duration,
        on_event: impl Fn(Invalidation) + Send + Sync + 'static,
    ) -> Option<InvalidationListener> {
        let task = match &self.inner.url {
            curatore_domain::DatabaseUrl::Sqlite { path } => {
                self.listen_file(path.clone(), retry, on_event)
            }
            curatore_domain::DatabaseUrl::Postgres { .. } => self.listen_server(retry, on_event),
        };
        task.map(|task| InvalidationListener { task })
    }

    #[cfg(feature = "sqlite")]
    #[allow(clippy::unnecessary_wraps, reason = "None without the feature")]
    fn listen_file(
        &self,
        path: std::path::PathBuf,
        retry: Duration,
        on_event: impl Fn(Invalidation) + Send + Sync + 'static,
    ) -> Option<tokio::task::JoinHandle<()>> {
        Some(tokio::spawn(async move {
            watch_file(&path, retry, &on_event).await;
        }))
    }

    #[cfg(not(feature = "sqlite"))]
    fn listen_file(
        &self,
        _: std::path::PathBuf,
        _: Duration,
        _: impl Fn(Invalidation) + Send + Sync + 'static,
    ) -> Option<tokio::task::JoinHandle<()>> {
        None
    }

    #[cfg(not(feature = "postgres"))]
    fn listen_server(
        &self,
        _: Duration,
        _: impl Fn(Invalidation) + Send + Sync + 'static,
    ) -> Option<tokio::task::JoinHandle<()>> {
        None
    }

    #[cfg(feature = "postgres")]
    #[allow(clippy::unnecessary_wraps, reason = "None without the feature")]
    fn listen_server(
        &self,
        retry: Duration,
        on_event: impl Fn(Invalidation) + Send + Sync + 'static,
    ) -> Option<tokio::task::JoinHandle<()>> {
        use sqlx::postgres::PgPoolOptions;
        let main = self.inner.conn.get_postgres_connection_pool();
        let options = (*main.connect_options())
            .clone()
            .application_name("curatore-listen");
        // One connection, outside the main pool: it is held for good.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        Some(tokio::spawn(async move {
            let mut first = true;
            loop {
                let mut listener = match subscribe(&pool).await {
                    Ok(listener) => listener,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot listen for cache invalidations; retrying");
                        tokio::time::sleep(retry).await;
                        continue;
                    }
                };
                if first {
                    tracing::info!(channel = CHANNEL, "listening for cache invalidations");
                    first = false;
                } else {
                    tracing::info!(channel = CHANNEL, "listening for cache invalidations again");
                    on_event(Invalidation::Reconnected);
                }
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => on_event(Invalidation::Message(n.payload().to_owned())),
                        Ok(None) => {
                            // sqlx reconnected and listens again; say so.
                            tracing::warn!(
                                channel = CHANNEL,
                                "the invalidation connection was lost: listening for cache invalidations again"
                            );
                            on_event(Invalidation::Reconnected);
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "the invalidation connection failed");
                            break;
                        }
                    }
                }
                drop(listener);
                tokio::time::sleep(retry).await;
            }
        }))
    }
}

/// Watches a SQLite file for invalidations other processes wrote, for ever.
#[cfg(feature = "sqlite")]
async fn watch_file(
    path: &std::path::Path,
    retry: Duration,
    on_event: &(impl Fn(Invalidation) + Send + Sync),
) {
    let mut first = true;
    loop {
        match watch_once(path, &mut first, on_event).await {
            Ok(()) => return,
            Err(err) => {
                tracing::warn!(error = %err, "cannot watch the database file for cache invalidations; retrying");
                on_event(Invalidation::Reconnected);
                tokio::time::sleep(retry).await;
            }
        }
    }
}

#[cfg(feature = "sqlite")]
async fn watch_once(
    path: &std::path::Path,
    first: &mut bool,
    on_event: &(impl Fn(Invalidation) + Send + Sync),
) -> sqlx::Result<()> {
    use sqlx::{Connection, Row};
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(5));
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let version = |row: sqlx::sqlite::SqliteRow| row.try_get::<i64, _>(0);
    let mut seen = version(
        sqlx::query("PRAGMA data_version")
            .fetch_one(&mut conn)
            .await?,
    )?;
    let mut last: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) FROM cache_invalidations")
        .fetch_one(&mut conn)
        .await?
        .try_get(0)?;
    if *first {
        tracing::info!("listening for cache invalidations (watching the database file)");
        *first = false;
    }
    loop {
        tokio::time::sleep(SQLITE_POLL).await;
        let now = version(
            sqlx::query("PRAGMA data_version")
                .fetch_one(&mut conn)
                .await?,
        )?;
        if now == seen {
            continue;
        }
        seen = now;
        let rows = sqlx::query(
            "SELECT id, payload FROM cache_invalidations WHERE id > ? ORDER BY id LIMIT 1000",
        )
        .bind(last)
        .fetch_all(&mut conn)
        .await?;
        for row in rows {
            let id: i64 = row.try_get(0)?;
            if id > last + 1 && last > 0 {
                // Rows this process never read were pruned: anything cached may be stale.
                on_event(Invalidation::Reconnected);
            }
            last = id;
            on_event(Invalidation::Message(row.try_get(1)?));
        }
    }
}

#[cfg(feature = "postgres")]
async fn subscribe(pool: &sqlx::PgPool) -> sqlx::Result<sqlx::postgres::PgListener> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
