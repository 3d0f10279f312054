//! Helpers shared by the migration tests.
#![allow(dead_code)]

use curatore_domain::DatabaseUrl;
use curatore_migration::connect::connect;
use curatore_test_support::TestDatabase;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, Value};

/// A pooled connection to `db`, opened the way `curatore-migrate` opens it.
pub async fn open(db: &TestDatabase) -> DatabaseConnection {
    let url = DatabaseUrl::parse(&db.url()).expect("test URL parses");
    connect(&url).await.expect("connect to the test database")
}

/// Runs `sql` with `values` and returns every row.
pub async fn rows(
    conn: &DatabaseConnection,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Vec<QueryResult> {
    let backend = conn.get_database_backend();
    conn.query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// SQLite's one-row counter behind `audit_logs.commit_seq`
/// (`m20261207_000010_audit_logs_commit_order`): part of the engine's
/// mechanics, not of the schema both engines share, so [`tables`] leaves it
/// out and the schema tests check it on their own.
pub const SQLITE_COUNTER_TABLE: &str = "audit_log_commit_counter";

/// The user tables, sorted, on either engine (without SQLite's counter).
pub async fn tables(conn: &DatabaseConnection) -> Vec<String> {
    let sql = match conn.get_database_backend() {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        _ => {
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        }
    };
    rows(conn, sql, [])
        .await
        .iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .filter(|name| name != SQLITE_COUNTER_TABLE)
        .collect()
}

/// Whether SQLite's counter table is there.
pub async fn has_counter_table(conn: &DatabaseConnection) -> bool {
    !rows(
        conn,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_log_commit_counter'",
        [],
    )
    .await
    .is_empty()
}

/// The tables of the schema, sorted: the six Phase 1 tables and `refresh_tokens`.
pub const SCHEMA_TABLES: [&str; 10] = [
    "api_keys",
    "audit_logs",
    "cache_invalidations",
    "connections",
    "mail_outbox",
    "organizations",
    "rate_limit_windows",
    "refresh_tokens",
    "system_settings",
    "users",
];

/// The migration history table.
pub const HISTORY_TABLE: &str = "seaql_migrations";
