use crate::error::{PersistenceError, Result};
use crate::health::HealthCache;
use curatore_domain::{DatabaseKind, DatabaseUrl};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// How to reach the database and size the pool.
///
/// Built by the caller (the server maps its settings onto it), so this crate
/// does not depend on how configuration is loaded.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// Where the database is.
    pub url: DatabaseUrl,
    /// Most connections open at once (`DB_POOL_SIZE + DB_MAX_OVERFLOW`). SQLite
    /// opens at most two per core (4–16) below this cap: one file gains
    /// nothing from more readers.
    pub max_connections: u32,
    /// Connections kept open while idle (PostgreSQL: `DB_POOL_SIZE`, opened on demand).
    pub min_idle_connections: u32,
    /// A connection older than this is closed and replaced (`DB_POOL_RECYCLE`).
    pub max_lifetime: Duration,
    /// How long to wait for a connection before the request fails as unavailable.
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a lock held by another process before failing.
    pub busy_timeout: Duration,
    /// How long table counts and sizes in the health report may be reused.
    pub health_cache_ttl: Duration,
    /// SQLite only: the most the database file may grow to, in bytes
    /// (`PRAGMA max_page_count`). Beyond it writes fail as on a full disk.
    /// `None`: no limit but the disk's.
    pub sqlite_max_size_bytes: Option<u64>,
    /// Lists with fewer matching rows than this get an exact total on every
    /// page; longer ones a full count at most once per `total_cache_ttl`,
    /// reused meanwhile and marked as estimated ([`crate::Total`]).
    pub exact_total_limit: u64,
    /// How long the full count of a long list is reused.
    pub total_cache_ttl: Duration,
}

impl DatabaseOptions {
    /// Sensible defaults for `url`: the seed's pool sizes, 1 h recycle, 5 s timeouts.
    pub fn new(url: DatabaseUrl) -> Self {
        Self {
            url,
            max_connections: 60,
            min_idle_connections: 0,
            max_lifetime: Duration::from_secs(3600),
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
            health_cache_ttl: Duration::from_secs(5),
            sqlite_max_size_bytes: None,
            exact_total_limit: 10_000,
            total_cache_ttl: Duration::from_secs(5),
        }
    }
}

/// SQLite's default page size, which this crate never changes.
#[cfg(feature = "sqlite")]
const SQLITE_PAGE_SIZE: u64 = 4096;

/// Whether a SQLite connection coming back to the pool may be used again.
///
/// After a failed `COMMIT` or `ROLLBACK` (a full disk, an I/O error) the
/// driver still counts the connection as inside a transaction. Reused, its
/// next `BEGIN` would become a savepoint inside a transaction nobody owns:
/// every later "commit" would report success without saving anything, and
/// the orphaned transaction would hold the write lock. Such a connection is
/// closed instead, which makes SQLite roll back whatever it still holds.
#[cfg(feature = "sqlite")]
async fn sqlite_connection_is_clean(conn: &mut sqlx::SqliteConnection) -> sqlx::Result<bool> {
    use sqlx::Connection;
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    // A dropped transaction queues its rollback; the ping runs after it.
    conn.ping().await?;
    let clean = !conn.is_in_transaction();
    if !clean {
        tracing::warn!("closing a SQLite connection whose transaction could not be ended");
    }
    Ok(clean)
}

/// SQLite readers: enough to use every core twice over; more only costs memory.
#[cfg(feature = "sqlite")]
fn sqlite_reader_count() -> u32 {
    std::thread::available_parallelism()
        .map_or(4, |n| (n.get() as u32 * 2).max(4))
        .min(16)
}

/// The database service: a connection pool plus what keeps SQLite writes safe.
///
/// Cheap to clone; clones share the pool. SQLite allows one writer at a time
/// and a deferred transaction that reads then writes fails with "database is
/// locked" instead of waiting, so on SQLite every write goes through one gate
/// and waits its turn; reads never take it. PostgreSQL needs no gate.
#[derive(Clone)]
pub struct Database {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) conn: DatabaseConnection,
    pub(crate) url: DatabaseUrl,
    write_gate: Option<Arc<Mutex<()>>>,
    /// The sqlx pool under `conn`, kept for its statistics.
    pool: Pool,
    pub(crate) health: HealthCache,
    /// Full counts of long lists, reused for a few seconds.
    pub(crate) totals: crate::totals::Totals,
    outage: Outage,
}

/// PostgreSQL known to be unreachable. While it is, one request at a time
/// tries for real (and so notices the moment the server is back); every
/// other request fails at once instead of each waiting `acquire_timeout`.
#[derive(Default)]
struct Outage {
    down: AtomicBool,
    probing: AtomicBool,
}

/// The one request allowed to try the database during an outage.
pub(crate) struct ProbeTurn<'a>(&'a AtomicBool);

impl Drop for ProbeTurn<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens the pool and checks that one connection works.
    ///
    /// SQLite: creates the file and its folder if missing and sets WAL,
    /// `synchronous=NORMAL`, a busy timeout and `foreign_keys=ON` on every
    /// pooled connection.
    ///
    /// # Errors
    /// [`PersistenceError::Unavailable`] when no connection can be made.
    pub async fn connect(options: &DatabaseOptions) -> Result<Self> {
        let (conn, write_gate, pool) = match &options.url {
            DatabaseUrl::Sqlite { path } => connect_sqlite(path, options).await?,
            DatabaseUrl::Postgres { url, .. } => connect_postgres(url, options).await?,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                url: options.url.clone(),
                write_gate,
                pool,
                health: HealthCache::new(options.health_cache_ttl),
                totals: crate::totals::Totals::new(
                    options.exact_total_limit,
                    options.total_cache_ttl,
                ),
                outage: Outage::default(),
            }),
        })
    }

    /// Which engine this is.
    pub fn kind(&self) -> DatabaseKind {
        self.inner.url.kind()
    }

    /// The URL without credentials.
    pub fn redacted_url(&self) -> String {
        self.inner.url.redacted()
    }

    /// The SeaORM connection under the pool: the door for running
    /// `curatore-migration` (the start-up path) and for tests. It is behind
    /// the `raw-connection` feature because everything it does bypasses
    /// tenancy, the SQLite write gate, the audit trail and cache
    /// invalidation; everything else goes through [`Database::tenant`],
    /// [`Database::system`] and [`Database::begin`].
    #[cfg(feature = "raw-connection")]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.inner.conn
    }

    /// One round trip to the database.
    ///
    /// # Errors
    /// [`PersistenceError::Unavailable`] when it does not answer.
    pub async fn ping(&self) -> Result<()> {
        // Not gated by the outage state: a health check is itself a probe.
        let answered =
            self.observe(async { Ok(self.inner.conn.execute_unprepared("SELECT 1").await?) }.await);
        if answered.is_ok() {
            self.inner.outage.down.store(false, Ordering::Release);
        }
        answered.map(drop)
    }

    /// Fails at once while the database is known to be unreachable, unless
    /// this caller gets to be the one probe; keep the turn while trying.
    pub(crate) fn ensure_reachable(&self) -> Result<Option<ProbeTurn<'_>>> {
        let outage = &self.inner.outage;
        if !outage.down.load(Ordering::Acquire) {
            return Ok(None);
        }
        if outage.probing.swap(true, Ordering::AcqRel) {
            return Err(PersistenceError::Unavailable(
                "the database is unreachable; another request is checking whether it is back"
                    .into(),
            ));
        }
        Ok(Some(ProbeTurn(&outage.probing)))
    }

    /// Passes a result through, noting on PostgreSQL whether it shows the
    /// database down or back. (SQLite is a local file: a full disk is not an
    /// outage, and reads still work.)
    pub(crate) fn observe<T>(&self, result: Result<T>) -> Result<T> {
        if self.kind() == DatabaseKind::Postgresql {
            let down = matches!(result, Err(PersistenceError::Unavailable(_)));
            let outage = &self.inner.outage.down;
            // Read first: the common case writes nothing shared.
            if outage.load(Ordering::Acquire) != down && outage.swap(down, Ordering::AcqRel) != down
            {
                if down {
                    tracing::warn!("the database is unreachable; failing fast until it answers");
                } else {
                    tracing::info!("the database answers again");
                }
            }
        }
        result
    }

    /// Starts a write transaction. On SQLite it first waits its turn at the
    /// write gate, so concurrent writers queue instead of failing.
    ///
    /// # Errors
    /// [`PersistenceError::Unavailable`] when no connection can be had.
    pub async fn begin(&self) -> Result<Transaction> {
        let _probe = self.ensure_reachable()?;
        let gate = self.write_turn().await;
        let tx = self.observe(async { Ok(self.inner.conn.begin().await?) }.await)?;
        Ok(Transaction { tx, _gate: gate })
    }

    pub(crate) async fn write_turn(&self) -> Option<OwnedMutexGuard<()>> {
        let gate = self.inner.write_gate.as_ref()?;
        let asked = std::time::Instant::now();
        let turn = gate.clone().lock_owned().await;
        metrics::histogram!(crate::metrics::WRITE_GATE_WAIT).record(asked.elapsed().as_secs_f64());
        Some(turn)
    }

    /// How many connections the pool holds now, how many of them are idle,
    /// and how many it may open.
    pub fn pool_status(&self) -> PoolStatus {
        let (size, idle, max) = match &self.inner.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
        PoolStatus {
            open: size,
            in_use: size - idle,
            max,
        }
    }

    /// Waits for, then holds, the instance-wide lock `name`: on PostgreSQL
    /// an advisory lock taken by a transaction of its own, so that of several
    /// servers on one database exactly one migrates, seeds or purges at a
    /// time, and a crashed holder releases it with its connection. On SQLite
    /// (one process per file) it holds nothing.
    ///
    /// # Errors
    /// [`PersistenceError::Unavailable`] when the database cannot be reached.
    pub async fn lock_instances(&self, name: &str) -> Result<InstanceLock> {
        self.instance_lock(name, true)
            .await
            .map(|lock| lock.unwrap_or(InstanceLock { tx: None }))
    }

    /// Like [`Database::lock_instances`], without waiting: `None` when
    /// another server holds the lock (it is doing the work now).
    ///
    /// # Errors
    /// [`PersistenceError::Unavailable`] when the database cannot be reached.
    pub async fn try_lock_instances(&self, name: &str) -> Result<Option<InstanceLock>> {
        self.instance_lock(name, false).await
    }

    async fn instance_lock(&self, name: &str, wait: bool) -> Result<Option<InstanceLock>> {
        if self.kind() != DatabaseKind::Postgresql {
            return Ok(Some(InstanceLock { tx: None }));
        }
        let tx = self.observe(async { Ok(self.inner.conn.begin().await?) }.await)?;
        let function = if wait {
            "pg_advisory_xact_lock"
        } else {
            "pg_try_advisory_xact_lock"
        };
        // Prefixed, so a lock of ours never collides with another application's.
        let sql = format!("SELECT {function}(hashtext($1))::text AS taken");
        let row = tx
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                sql,
                [format!("curatore:{name}").into()],
            ))
            .await?;
        let taken = match row {
            Some(row) => row.try_get::<String>("", "taken")?,
            None => String::new(),
        };
        // pg_advisory_xact_lock returns void (''); the try variant true/false.
        if taken == "false" {
            tx.rollback().await?;
            return Ok(None);
        }
        Ok(Some(InstanceLock { tx: Some(tx) }))
    }

    /// Closes every pooled connection; later calls fail as unavailable.
    pub async fn close(&self) {
        let _ = self.inner.conn.close_by_ref().await;
    }
}

/// What a connect yields: the SeaORM connection, the SQLite write gate, the pool.
type Opened = (DatabaseConnection, Option<Arc<Mutex<()>>>, Pool);

#[cfg(feature = "sqlite")]
async fn connect_sqlite(path: &std::path::Path, options: &DatabaseOptions) -> Result<Opened> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            PersistenceError::Unavailable(format!(
                "cannot create the folder {} for the SQLite database: {e}",
                parent.display()
            ))
        })?;
    }
    let mut connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(options.busy_timeout)
        .foreign_keys(true);
    if let Some(bytes) = options.sqlite_max_size_bytes {
        let pages = (bytes / SQLITE_PAGE_SIZE).max(1);
        connect = connect.pragma("max_page_count", pages.to_string());
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(sqlite_reader_count().min(options.max_connections.max(2)))
        .min_connections(1)
        .acquire_timeout(options.acquire_timeout)
        .max_lifetime(None)
        .idle_timeout(Duration::from_secs(600))
        // A local file has no network to break: skip the extra
        // round trip sqlx makes on every acquire by default.
        .test_before_acquire(false)
        .after_release(|conn, _| Box::pin(sqlite_connection_is_clean(conn)))
        .connect_with(connect)
        .await
        .map_err(PersistenceError::from_connect)?;
    Ok((
        sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool.clone()),
        Some(Arc::new(Mutex::new(()))),
        Pool::Sqlite(pool),
    ))
}

#[cfg(not(feature = "sqlite"))]
async fn connect_sqlite(_: &std::path::Path, _: &DatabaseOptions) -> Result<Opened> {
    Err(PersistenceError::Unavailable(
        "DATABASE_URL names a SQLite file, but this build has no SQLite support \
         (the `sqlite` feature of curatore-persistence)"
            .into(),
    ))
}

#[cfg(feature = "postgres")]
async fn connect_postgres(url: &str, options: &DatabaseOptions) -> Result<Opened> {
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    let connect: PgConnectOptions = url.parse().map_err(|_| {
        PersistenceError::Unavailable("DATABASE_URL is not a valid PostgreSQL URL".into())
    })?;
    let connect = connect.application_name("curatore");
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .min_connections(options.min_idle_connections.min(options.max_connections))
        .acquire_timeout(options.acquire_timeout)
        .max_lifetime(options.max_lifetime)
        .idle_timeout(Duration::from_secs(600))
        .test_before_acquire(true)
        // The driver queues a rollback for a dropped transaction
        // and counts it ended; a connection still counted inside
        // one (a failed COMMIT) is closed, never reused.
        .after_release(|conn, _| {
            use sqlx::Connection;
            Box::pin(std::future::ready(Ok(!conn.is_in_transaction())))
        })
        // Lazily: the pool fills to its idle size in the background
        // instead of opening DB_POOL_SIZE connections before serving.
        .connect_lazy_with(connect);
    // One real connection now, so an unreachable server is an
    // error at start-up rather than at the first request.
    drop(
        pool.acquire()
            .await
            .map_err(PersistenceError::from_connect)?,
    );
    Ok((
        sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone()),
        None,
        Pool::Postgres(pool),
    ))
}

#[cfg(not(feature = "postgres"))]
async fn connect_postgres(_: &str, _: &DatabaseOptions) -> Result<Opened> {
    Err(PersistenceError::Unavailable(
        "DATABASE_URL names a PostgreSQL server, but this build has no PostgreSQL support \
         (the `postgres` feature of curatore-persistence)"
            .into(),
    ))
}

/// An instance-wide lock ([`Database::lock_instances`]); released by
/// [`InstanceLock::release`], or when dropped.
#[must_use = "the lock is released when dropped"]
pub struct InstanceLock {
    tx: Option<DatabaseTransaction>,
}

impl InstanceLock {
    /// Releases the lock.
    ///
    /// # Errors
    /// When the database fails (the lock is then released with the connection).
    pub async fn release(self) -> Result<()> {
        if let Some(tx) = self.tx {
            tx.commit().await?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for InstanceLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceLock")
            .field("held", &self.tx.is_some())
            .finish()
    }
}

/// The sqlx pool behind the SeaORM connection.
#[derive(Clone)]
enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// A snapshot of the connection pool ([`Database::pool_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open (idle or in use).
    pub open: u32,
    /// Connections lent out to a query or transaction.
    pub in_use: u32,
    /// The most the pool may open.
    pub max: u32,
}

/// A write transaction. Dropping it without [`Transaction::commit`] rolls it back.
pub struct Transaction {
    pub(crate) tx: DatabaseTransaction,
    _gate: Option<OwnedMutexGuard<()>>,
}

impl Transaction {
    /// Makes every change in the transaction permanent.
    ///
    /// # Errors
    /// When the database refuses the commit; nothing is kept then.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Discards every change in the transaction.
    ///
    /// # Errors
    /// When the database cannot be told; the changes are discarded regardless.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}
