//! Connections for migrating and for adopting the original's database: a
//! pool of one or two, outside `curatore-persistence` (this crate does not
//! depend on it). Each engine is there only with its feature (`sqlite`,
//! `postgres`); a URL for a missing one is refused by name.

use curatore_domain::DatabaseUrl;
use sea_orm_migration::sea_orm::{DatabaseConnection, DbErr, RuntimeErr};
use std::time::Duration;

/// How long to wait for a lock or a connection before giving up.
const WAIT: Duration = Duration::from_secs(5);

/// Opens a small connection pool suitable for migrating.
///
/// SQLite: creates the file's folder and the file if missing and turns on
/// WAL, a busy timeout and `foreign_keys` (SQLite enforces foreign keys only
/// when asked, on every connection). The pool holds one connection, so
/// pragmas a migration command sets (`fresh` turns foreign keys off while it
/// drops tables) apply to every statement that follows.
///
/// # Errors
/// [`DbErr::Conn`] when the folder cannot be created, the database cannot be
/// opened, or this build lacks the URL's engine.
pub async fn connect(url: &DatabaseUrl) -> Result<DatabaseConnection, DbErr> {
    match url {
        DatabaseUrl::Sqlite { path } => sqlite::migrating(path).await,
        DatabaseUrl::Postgres { url, .. } => postgres::connect(url, false, 2).await,
    }
}

/// Opens a connection for adopting that leaves the file as it is:
/// SQLite's journal mode is not touched (the original's `delete` stays
/// until the server first opens it) and a missing file is not made
/// (`None`). `read_only`: SQLite opens the file read-only, PostgreSQL's
/// transactions are read-only, so a dry run cannot write.
///
/// # Errors
/// [`DbErr::Conn`] when the database cannot be opened, or this build lacks
/// the URL's engine.
pub async fn connect_for_adoption(
    url: &DatabaseUrl,
    read_only: bool,
) -> Result<Option<DatabaseConnection>, DbErr> {
    match url {
        DatabaseUrl::Sqlite { path } => {
            if !path.exists() {
                return Ok(None);
            }
            sqlite::adopting(path, read_only).await.map(Some)
        }
        DatabaseUrl::Postgres { url, .. } => postgres::connect(url, read_only, 1).await.map(Some),
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn driver_error(e: sea_orm_migration::sea_orm::sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(std::sync::Arc::new(e)))
}

#[cfg(any(not(feature = "sqlite"), not(feature = "postgres")))]
fn missing(engine: &str, feature: &str) -> DbErr {
    DbErr::Conn(RuntimeErr::Internal(format!(
        "DATABASE_URL names a {engine} database, but this build has no {engine} support \
         (the `{feature}` feature of curatore-migration)"
    )))
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::{WAIT, driver_error};
    use sea_orm_migration::sea_orm::sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    use sea_orm_migration::sea_orm::{DatabaseConnection, DbErr, RuntimeErr, SqlxSqliteConnector};
    use std::path::Path;

    pub(super) async fn migrating(path: &Path) -> Result<DatabaseConnection, DbErr> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                DbErr::Conn(RuntimeErr::Internal(format!(
                    "cannot create the folder {} for the SQLite database: {e}",
                    parent.display()
                )))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(WAIT)
            .foreign_keys(true);
        pool(options).await
    }

    pub(super) async fn adopting(
        path: &Path,
        read_only: bool,
    ) -> Result<DatabaseConnection, DbErr> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(read_only)
            .busy_timeout(WAIT)
            .foreign_keys(true);
        pool(options).await
    }

    /// A pool of one connection: pragmas one command sets hold for all it does.
    async fn pool(options: SqliteConnectOptions) -> Result<DatabaseConnection, DbErr> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(WAIT)
            .connect_with(options)
            .await
            .map_err(driver_error)?;
        Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
    }
}

#[cfg(not(feature = "sqlite"))]
mod sqlite {
    use sea_orm_migration::sea_orm::{DatabaseConnection, DbErr};
    use std::path::Path;

    pub(super) async fn migrating(_: &Path) -> Result<DatabaseConnection, DbErr> {
        Err(super::missing("SQLite", "sqlite"))
    }

    pub(super) async fn adopting(_: &Path, _: bool) -> Result<DatabaseConnection, DbErr> {
        Err(super::missing("SQLite", "sqlite"))
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::{WAIT, driver_error};
    use sea_orm_migration::sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use sea_orm_migration::sea_orm::{
        DatabaseConnection, DbErr, RuntimeErr, SqlxPostgresConnector,
    };

    pub(super) async fn connect(
        url: &str,
        read_only: bool,
        connections: u32,
    ) -> Result<DatabaseConnection, DbErr> {
        let mut options: PgConnectOptions = url.parse().map_err(|_| {
            DbErr::Conn(RuntimeErr::Internal(
                "DATABASE_URL is not a valid PostgreSQL URL".to_owned(),
            ))
        })?;
        if read_only {
            options = options.options([("default_transaction_read_only", "on")]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(WAIT)
            .connect_with(options.application_name("curatore-migrate"))
            .await
            .map_err(driver_error)?;
        Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
    }
}

#[cfg(not(feature = "postgres"))]
mod postgres {
    use sea_orm_migration::sea_orm::{DatabaseConnection, DbErr};

    pub(super) async fn connect(_: &str, _: bool, _: u32) -> Result<DatabaseConnection, DbErr> {
        Err(super::missing("PostgreSQL", "postgres"))
    }
}
