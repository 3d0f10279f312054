//! Helpers shared by the migration tests.
#![allow(dead_code)]

use curatore_domain::DatabaseUrl;
use curatore_migration::cli::connect;
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

/// The user tables, sorted, on either engine.
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
        .collect()
}

/// The tables of the schema, sorted: the six Phase 1 tables and `refresh_tokens`.
pub const SCHEMA_TABLES: [&str; 8] = [
    "api_keys",
    "audit_logs",
    "connections",
    "organizations",
    "rate_limit_windows",
    "refresh_tokens",
    "system_settings",
    "users",
];

/// The migration history table.
pub const HISTORY_TABLE: &str = "seaql_migrations";
