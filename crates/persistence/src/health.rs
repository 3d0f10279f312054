//! The database health report, cheap enough to serve thousands of times a second.
//!
//! Each call makes one round trip (`SELECT 1`) to measure latency and prove the
//! database answers. Row counts, size and migration version are gathered at
//! most once per cache period by one caller while the others reuse the last
//! figures, and counts of big tables come from the engine's own statistics, so
//! the cost does not grow with the data.

use crate::database::Database;
use crate::error::PersistenceError;
use curatore_domain::DatabaseKind;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The six tables the report counts.
pub const TABLES: [&str; 6] = [
    "organizations",
    "users",
    "api_keys",
    "connections",
    "system_settings",
    "audit_logs",
];

/// Tables with more rows than this are counted from statistics, not scanned.
const EXACT_COUNT_LIMIT: i64 = 100_000;

/// The longest a health check may take, whatever the database does.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the database works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// Connected and answering.
    Healthy,
    /// Not reachable, or not answering in time.
    Unhealthy,
}

impl HealthStatus {
    /// `healthy` or `unhealthy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// A table's row count and how it was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCount {
    /// The number of rows.
    pub rows: u64,
    /// `false` when taken from the engine's statistics (large tables).
    pub exact: bool,
}

/// Figures that are expensive enough to cache.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseStats {
    /// Rows per table, by table name.
    pub tables: BTreeMap<&'static str, RowCount>,
    /// The newest applied migration, if any.
    pub migration_version: Option<String>,
    /// Size on disk in MiB.
    pub size_mb: Option<f64>,
    /// How old these figures are.
    pub age: Duration,
}

/// What [`Database::health_check`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseHealth {
    /// Healthy or not.
    pub status: HealthStatus,
    /// One sentence for people.
    pub message: String,
    /// Whether a round trip succeeded.
    pub connected: bool,
    /// The engine.
    pub database_type: DatabaseKind,
    /// The URL without credentials.
    pub database_url: String,
    /// Counts, size and migration version; `None` when they could not be read.
    pub stats: Option<DatabaseStats>,
    /// The round trip's duration in milliseconds.
    pub latency_ms: f64,
}

struct Cached {
    at: Instant,
    stats: DatabaseStats,
}

pub(crate) struct HealthCache {
    ttl: Duration,
    last: Mutex<Option<Cached>>,
    refreshing: AtomicBool,
}

impl HealthCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            last: Mutex::new(None),
            refreshing: AtomicBool::new(false),
        }
    }

    fn fresh(&self, allow_stale: bool) -> Option<DatabaseStats> {
        let guard = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let cached = guard.as_ref()?;
        let age = cached.at.elapsed();
        (age < self.ttl || allow_stale).then(|| DatabaseStats {
            age,
            ..cached.stats.clone()
        })
    }

    fn store(&self, stats: DatabaseStats) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            at: Instant::now(),
            stats,
        });
    }
}

/// Clears the refreshing flag even if the refresh is cancelled by a timeout.
struct RefreshTurn<'a>(&'a AtomicBool);

impl Drop for RefreshTurn<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Database {
    /// Checks the database and reports on it. Never fails and never takes
    /// longer than [`HEALTH_TIMEOUT`]: an unreachable database is a report
    /// with status `Unhealthy` and the reason.
    pub async fn health_check(&self) -> DatabaseHealth {
        let started = Instant::now();
        let outcome = tokio::time::timeout(HEALTH_TIMEOUT, self.checked_stats()).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let (status, connected, message, stats) = match outcome {
            Ok(Ok((rtt, stats))) => (
                HealthStatus::Healthy,
                true,
                "Database connection successful".to_owned(),
                Some((rtt, stats)),
            ),
            Ok(Err(e)) => (HealthStatus::Unhealthy, false, unhealthy_message(&e), None),
            Err(_) => (
                HealthStatus::Unhealthy,
                false,
                format!(
                    "Database did not answer within {} ms",
                    HEALTH_TIMEOUT.as_millis()
                ),
                None,
            ),
        };
        let (latency_ms, stats) = match stats {
            Some((rtt, stats)) => (rtt, stats),
            None => (latency_ms, None),
        };
        DatabaseHealth {
            status,
            message,
            connected,
            database_type: self.kind(),
            database_url: self.redacted_url(),
            stats,
            latency_ms,
        }
    }

    /// The round trip (timed) and then the cached or refreshed figures.
    async fn checked_stats(&self) -> Result<(f64, Option<DatabaseStats>), PersistenceError> {
        let rtt_started = Instant::now();
        self.ping().await?;
        let rtt = rtt_started.elapsed().as_secs_f64() * 1000.0;
        let cache = &self.inner.health;
        if let Some(stats) = cache.fresh(false) {
            return Ok((rtt, Some(stats)));
        }
        let first = cache.fresh(true).is_none();
        if cache
            .refreshing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Someone else is refreshing: serve what we have rather than queue.
            return Ok((rtt, cache.fresh(true)));
        }
        let _turn = RefreshTurn(&cache.refreshing);
        match gather_stats(&self.inner.conn, self.kind(), self.inner.url.sqlite_path()).await {
            Ok(stats) => {
                cache.store(stats.clone());
                Ok((rtt, Some(stats)))
            }
            Err(e) if first => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "could not refresh database statistics");
                Ok((rtt, cache.fresh(true)))
            }
        }
    }
}

fn unhealthy_message(e: &PersistenceError) -> String {
    match e {
        PersistenceError::Unavailable(reason) => format!("Database unavailable: {reason}"),
        _ => "Database query failed".to_owned(),
    }
}

async fn scalar_i64(conn: &DatabaseConnection, sql: &str) -> Result<Option<i64>, PersistenceError> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            sql.to_owned(),
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get_by_index::<Option<i64>>(0)?,
        None => None,
    })
}

async fn gather_stats(
    conn: &DatabaseConnection,
    kind: DatabaseKind,
    sqlite_path: Option<&std::path::Path>,
) -> Result<DatabaseStats, PersistenceError> {
    let mut tables = BTreeMap::new();
    let estimates = match kind {
        DatabaseKind::Postgresql => postgres_estimates(conn).await?,
        DatabaseKind::Sqlite => BTreeMap::new(),
    };
    for table in TABLES {
        let estimate = match kind {
            DatabaseKind::Postgresql => estimates.get(table).copied().unwrap_or(-1),
            // Rowid tables: max(rowid) is an index lookup and equals the count when nothing was deleted.
            DatabaseKind::Sqlite => scalar_i64(conn, &format!("SELECT max(rowid) FROM {table}"))
                .await?
                .unwrap_or(0),
        };
        let count = if estimate > EXACT_COUNT_LIMIT {
            RowCount {
                rows: estimate as u64,
                exact: false,
            }
        } else {
            let rows = scalar_i64(conn, &format!("SELECT count(*) FROM {table}"))
                .await?
                .unwrap_or(0);
            RowCount {
                rows: rows.max(0) as u64,
                exact: true,
            }
        };
        tables.insert(table, count);
    }
    let migration_version = latest_migration(conn).await;
    let size_mb = match kind {
        DatabaseKind::Postgresql => scalar_i64(conn, "SELECT pg_database_size(current_database())")
            .await?
            .map(|bytes| bytes as f64 / 1_048_576.0),
        DatabaseKind::Sqlite => sqlite_path.map(|path| {
            let file = std::fs::metadata(path).map_or(0, |m| m.len());
            let wal_path = format!("{}-wal", path.display());
            let wal = std::fs::metadata(wal_path).map_or(0, |m| m.len());
            (file + wal) as f64 / 1_048_576.0
        }),
    };
    Ok(DatabaseStats {
        tables,
        migration_version,
        size_mb: size_mb.map(|mb| (mb * 100.0).round() / 100.0),
        age: Duration::ZERO,
    })
}

async fn postgres_estimates(
    conn: &DatabaseConnection,
) -> Result<BTreeMap<String, i64>, PersistenceError> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT c.relname::text, c.reltuples::bigint FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind = 'r'",
        ))
        .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        let name: String = row.try_get_by_index(0)?;
        let estimate: i64 = row.try_get_by_index(1)?;
        out.insert(name, estimate);
    }
    Ok(out)
}

/// The newest applied migration; `None` before the first migration (no table yet).
async fn latest_migration(conn: &DatabaseConnection) -> Option<String> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT version FROM seaql_migrations ORDER BY version DESC LIMIT 1",
        ))
        .await
        .ok()??;
    row.try_get_by_index::<String>(0).ok()
}
