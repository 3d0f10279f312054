//! Throwaway databases for tests: a SQLite file in a temporary folder, or a
//! uniquely named PostgreSQL database that is dropped when the value is.
//!
//! PostgreSQL comes from `TEST_POSTGRES_URL` (a URL to any database on the
//! server, used only to create and drop the test's own). A missing variable
//! or an unreachable server fails the test: a machine without PostgreSQL
//! does not pass by skipping. `CURATORE_SKIP_POSTGRES=1` lets the PostgreSQL
//! tests be skipped instead, loudly (on the terminal, past the test
//! harness's capture, and in `scripts/test.sh`'s banner); under `CI` the
//! opt-out is refused, so CI cannot pass by skipping.

// Test-only code: a panic here fails the test with its message, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod original;
pub mod smtp;

pub use original::{
    ORIGINAL_CLEAR_SECRETS, assert_original_secrets_gone, load_original, psql, sqlite_bytes,
    storage_checksum,
};

use sqlx::{Connection, Executor, PgConnection};
use std::path::{Path, PathBuf};

/// The variable that points the tests at a PostgreSQL server.
pub const POSTGRES_URL_VARIABLE: &str = "TEST_POSTGRES_URL";

/// A database that exists for one test.
pub enum TestDatabase {
    /// A SQLite file; the folder holding it is removed on drop.
    Sqlite {
        /// Keeps the folder alive.
        dir: tempfile::TempDir,
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL database created for this test and dropped on drop.
    Postgres {
        /// The server URL without a database, for maintenance connections.
        server_url: String,
        /// The database's name.
        name: String,
    },
}

/// Whether an environment variable is set to something other than empty, `0` or `false`.
fn flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn in_ci() -> bool {
    flag("CI")
}

/// The variable that lets a machine without PostgreSQL skip its tests.
pub const SKIP_POSTGRES_VARIABLE: &str = "CURATORE_SKIP_POSTGRES";

/// What a PostgreSQL test does when PostgreSQL is missing (`why`): `Ok`
/// with the line saying it is skipped, or `Err` with why it must fail.
fn missing_postgres_verdict(why: &str, ci: bool, skip: bool) -> Result<String, String> {
    if ci {
        return Err(format!(
            "PostgreSQL test: {why}, and CI is set: PostgreSQL tests must run in CI \
             ({SKIP_POSTGRES_VARIABLE} is not honoured there)"
        ));
    }
    if !skip {
        return Err(format!(
            "PostgreSQL test: {why}. Start PostgreSQL and point {POSTGRES_URL_VARIABLE} at it \
             (scripts/test.sh defaults it to postgres://root@127.0.0.1:5432/test), \
             or set {SKIP_POSTGRES_VARIABLE}=1 to skip the PostgreSQL tests on purpose"
        ));
    }
    Ok(format!(
        "SKIPPED: PostgreSQL test ({why}; {SKIP_POSTGRES_VARIABLE}=1)"
    ))
}

/// PostgreSQL is missing (`why`): fails the test, unless the skip is asked
/// for outside CI; then says so where a person sees it and returns.
///
/// # Panics
/// Without `CURATORE_SKIP_POSTGRES=1`, and always under `CI`.
fn postgres_missing(why: &str) {
    let line = missing_postgres_verdict(why, in_ci(), flag(SKIP_POSTGRES_VARIABLE))
        .unwrap_or_else(|failure| panic!("{failure}"));
    // The harness captures a passing test's stderr; the terminal it cannot.
    // Once per test binary there, on every skipped test in stderr.
    static ON_TERMINAL: std::sync::Once = std::sync::Once::new();
    ON_TERMINAL.call_once(|| {
        use std::io::Write;
        if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
            let binary = std::env::args().next().unwrap_or_default();
            let binary = Path::new(&binary)
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let _ = writeln!(tty, "\n*** {binary}: {line} ***");
        }
    });
    eprintln!("{line}");
}

/// Splits `postgres://user@host:port/db?x` into (`postgres://user@host:port`, `?x`).
fn server_part(url: &str) -> (String, String) {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    (server.to_owned(), query)
}

impl TestDatabase {
    /// A fresh SQLite file (not created yet: the code under test creates it).
    pub fn sqlite() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("curatore-test-")
            .tempdir()
            .expect("create a temporary folder");
        let path = dir.path().join("data").join("curatore.db");
        Self::Sqlite { dir, path }
    }

    /// A fresh, empty PostgreSQL database, or `None` (with a message on the
    /// terminal saying the test is skipped) when PostgreSQL is missing and
    /// `CURATORE_SKIP_POSTGRES=1` is set outside CI.
    ///
    /// # Panics
    /// When `TEST_POSTGRES_URL` is missing or the server cannot be reached,
    /// unless the skip is asked for outside CI.
    pub async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var(POSTGRES_URL_VARIABLE) else {
            postgres_missing(&format!("{POSTGRES_URL_VARIABLE} is not set"));
            return None;
        };
        let name = format!("curatore_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = match PgConnection::connect(&admin_url).await {
            Ok(c) => c,
            Err(e) => {
                postgres_missing(&format!(
                    "cannot reach PostgreSQL at {POSTGRES_URL_VARIABLE}: {e}"
                ));
                return None;
            }
        };
        conn.execute(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .await
            .expect("create the test database");
        let _ = conn.close().await;
        let (server_url, _) = server_part(&admin_url);
        Some(Self::Postgres { server_url, name })
    }

    /// The `DATABASE_URL` for the code under test.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            Self::Postgres { server_url, name } => {
                let admin = std::env::var(POSTGRES_URL_VARIABLE).unwrap_or_default();
                let (_, query) = server_part(&admin);
                format!("{server_url}/{name}{query}")
            }
        }
    }

    /// The SQLite file, for SQLite databases.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Self::Sqlite { path, .. } => Some(path),
            Self::Postgres { .. } => None,
        }
    }

    /// `"sqlite"` or `"postgresql"`, for test messages.
    pub fn engine(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres { .. } => "postgresql",
        }
    }

    /// Simulates a PostgreSQL outage: refuses new connections to this
    /// database and terminates the open ones. Undo with [`Self::end_outage`].
    ///
    /// # Panics
    /// On SQLite, or when the server cannot be told.
    pub async fn begin_outage(&self) {
        let name = self.postgres_name();
        admin_execute(&format!(
            r#"ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false"#
        ))
        .await;
        admin_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .await;
    }

    /// Ends [`Self::begin_outage`]: the database accepts connections again.
    ///
    /// # Panics
    /// On SQLite, or when the server cannot be told.
    pub async fn end_outage(&self) {
        let name = self.postgres_name();
        admin_execute(&format!(
            r#"ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true"#
        ))
        .await;
    }

    fn postgres_name(&self) -> &str {
        match self {
            Self::Postgres { name, .. } => name,
            Self::Sqlite { .. } => panic!("outages are simulated on PostgreSQL only"),
        }
    }

    /// The folder holding a SQLite database (for tests that need a working directory).
    pub fn sqlite_dir(&self) -> Option<&Path> {
        match self {
            Self::Sqlite { dir, .. } => Some(dir.path()),
            Self::Postgres { .. } => None,
        }
    }
}

/// Runs one statement on the maintenance database named by `TEST_POSTGRES_URL`.
async fn admin_execute(sql: &str) {
    let admin = std::env::var(POSTGRES_URL_VARIABLE).expect("TEST_POSTGRES_URL");
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("connect to the PostgreSQL maintenance database");
    conn.execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .expect("run a maintenance statement");
    let _ = conn.close().await;
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Self::Postgres { name, .. } = self else {
            return;
        };
        let admin = std::env::var(POSTGRES_URL_VARIABLE).unwrap_or_default();
        let name = name.clone();
        // Drop may run inside a runtime, which cannot block: use a thread of its own.
        let result = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut conn = PgConnection::connect(&admin).await?;
                conn.execute(sqlx::AssertSqlSafe(format!(
                    r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                )))
                .await?;
                conn.close().await
            })
        })
        .join();
        if let Ok(Err(e)) = result {
            eprintln!("warning: could not drop a test database: {e}");
        }
    }
}

/// Runs `body` against a SQLite file and a PostgreSQL database (skipped
/// only as [`TestDatabase::postgres`] allows): the usual shape of an
/// engine-parametrised test.
pub async fn each_engine<F, Fut>(body: F)
where
    F: Fn(TestDatabase) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    body(TestDatabase::sqlite()).await;
    if let Some(pg) = TestDatabase::postgres().await {
        body(pg).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_part_strips_the_database() {
        assert_eq!(
            server_part("postgres://root@127.0.0.1:5432/test?sslmode=disable"),
            (
                "postgres://root@127.0.0.1:5432".to_owned(),
                "?sslmode=disable".to_owned()
            )
        );
        assert_eq!(server_part("postgres://h").0, "postgres://h");
    }

    #[test]
    fn missing_postgres_fails_unless_skipped_on_purpose_outside_ci() {
        let why = "cannot reach PostgreSQL";
        let failure = missing_postgres_verdict(why, false, false).unwrap_err();
        assert!(failure.contains(why) && failure.contains("CURATORE_SKIP_POSTGRES=1"));
        let skipped = missing_postgres_verdict(why, false, true).unwrap();
        assert!(skipped.starts_with("SKIPPED: PostgreSQL test") && skipped.contains(why));
        for skip in [false, true] {
            let failure = missing_postgres_verdict(why, true, skip).unwrap_err();
            assert!(failure.contains("CI is set"), "{failure}");
        }
    }
}
