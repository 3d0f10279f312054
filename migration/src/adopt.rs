//! Adopting a database made by the original Python server: six tables
//! created by SQLAlchemy's `create_all`, no migration history of ours.
//!
//! [`inspect`] compares the schema it finds with the original's, table by
//! table and column by column, and reports every difference. [`adopt`] then
//! checks every value with the API's rules (roles, booleans, timestamps,
//! JSON, names and text) and refuses, naming each bad value by table, id and
//! column, before anything is changed. Only then, in one transaction (both
//! engines have transactional DDL), it renames the original tables (and, on
//! PostgreSQL, their indexes) aside, maps what it can map (the original's
//! role names `admin`/`user`, e-mail addresses in mixed case), applies all
//! of our migrations (which creates our tables and records the history),
//! copies every row converting what is stored differently (UUIDs,
//! timestamps, JSON), seals the original's clear connection secrets, and
//! drops the originals. A failure anywhere leaves the database as it was.
//! After the commit the storage is rewritten so the clear secrets are gone
//! from the files too ([`scrub`]).
//!
//! This module has its own SQL: like the migrations, it must not depend on
//! the entities of today (frozen history).

mod secrets;
mod values;

use crate::Migrator;
use curatore_auth::SecretBox;
use sea_orm_migration::MigratorTrait;
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionTrait,
};

/// How a column of the original is stored, which decides its conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Uuid,
    Text,
    Bool,
    Json,
    Time,
}

/// `(name, kind, nullable)` of one column of the original.
type Column = (&'static str, Kind, bool);

/// The original's tables in an order where every row's references were
/// copied before it (`organizations.created_by` is filled in afterwards).
const TABLES: &[(&str, &[Column])] = &[
    (
        "organizations",
        &[
            ("id", Kind::Uuid, false),
            ("name", Kind::Text, false),
            ("display_name", Kind::Text, false),
            ("slug", Kind::Text, false),
            ("is_active", Kind::Bool, false),
            ("settings", Kind::Json, false),
            ("created_at", Kind::Time, false),
            ("updated_at", Kind::Time, false),
            ("created_by", Kind::Uuid, true),
        ],
    ),
    (
        "users",
        &[
            ("id", Kind::Uuid, false),
            ("organization_id", Kind::Uuid, false),
            ("email", Kind::Text, false),
            ("username", Kind::Text, false),
            ("password_hash", Kind::Text, false),
            ("full_name", Kind::Text, true),
            ("is_active", Kind::Bool, false),
            ("is_verified", Kind::Bool, false),
            ("role", Kind::Text, false),
            ("settings", Kind::Json, false),
            ("created_at", Kind::Time, false),
            ("updated_at", Kind::Time, false),
            ("last_login_at", Kind::Time, true),
        ],
    ),
    (
        "api_keys",
        &[
            ("id", Kind::Uuid, false),
            ("organization_id", Kind::Uuid, false),
            ("user_id", Kind::Uuid, true),
            ("name", Kind::Text, false),
            ("key_hash", Kind::Text, false),
            ("prefix", Kind::Text, false),
            ("scopes", Kind::Json, false),
            ("is_active", Kind::Bool, false),
            ("last_used_at", Kind::Time, true),
            ("expires_at", Kind::Time, true),
            ("created_at", Kind::Time, false),
            ("updated_at", Kind::Time, false),
        ],
    ),
    (
        "connections",
        &[
            ("id", Kind::Uuid, false),
            ("organization_id", Kind::Uuid, false),
            ("name", Kind::Text, false),
            ("description", Kind::Text, true),
            ("connection_type", Kind::Text, false),
            ("config", Kind::Json, false),
            ("is_active", Kind::Bool, false),
            ("is_default", Kind::Bool, false),
            ("last_tested_at", Kind::Time, true),
            ("test_status", Kind::Text, true),
            ("test_result", Kind::Json, true),
            ("scope", Kind::Text, false),
            ("owner_user_id", Kind::Uuid, true),
            ("created_at", Kind::Time, false),
            ("updated_at", Kind::Time, false),
            ("created_by", Kind::Uuid, true),
        ],
    ),
    (
        "system_settings",
        &[
            ("id", Kind::Uuid, false),
            ("key", Kind::Text, false),
            ("value", Kind::Json, false),
            ("description", Kind::Text, true),
            ("is_public", Kind::Bool, false),
            ("created_at", Kind::Time, false),
            ("updated_at", Kind::Time, false),
        ],
    ),
    (
        "audit_logs",
        &[
            ("id", Kind::Uuid, false),
            ("organization_id", Kind::Uuid, true),
            ("user_id", Kind::Uuid, true),
            ("action", Kind::Text, false),
            ("entity_type", Kind::Text, true),
            ("entity_id", Kind::Uuid, true),
            ("details", Kind::Json, true),
            ("ip_address", Kind::Text, true),
            ("user_agent", Kind::Text, true),
            ("status", Kind::Text, false),
            ("error_message", Kind::Text, true),
            ("created_at", Kind::Time, false),
        ],
    ),
];

/// Where the original tables wait while ours are created.
const ASIDE: &str = "original_";

/// What [`inspect`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Our migration history is there (adopted already, or ours from the
    /// start), or the database is empty: nothing to adopt.
    NothingToAdopt,
    /// The original's six tables, as it made them: [`adopt`] can take them.
    Original,
    /// Some of the original's tables, or something else: each line says what
    /// is unexpected; nothing may be changed.
    Unexpected(Vec<String>),
}

/// Why adoption stopped.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    /// The schema is not the original's; nothing was changed.
    #[error("the database is not the original's as expected, nothing was changed:\n  {}", .0.join("\n  "))]
    Unexpected(Vec<String>),
    /// Values our API would refuse (each by table, id and column); nothing
    /// was changed.
    #[error(
        "the database holds values Curatore cannot use; nothing was changed. Correct them in the \
         original (or its copy) and adopt again:\n  {}",
        .0.join("\n  ")
    )]
    InvalidValues(Vec<String>),
    /// The original's connections hold secrets in clear and no key was
    /// given to seal them; nothing was changed.
    #[error(
        "the original's connections hold {0} secret(s) in clear and there is no key to seal them; \
         nothing was changed. Set SECRETS_ENCRYPTION_KEY to the key the server will use \
         (generate one with `openssl rand -base64 32`); with SQLite, the key file beside the \
         database is used or made when the variable is unset"
    )]
    NoSecretsKey(usize),
    /// The database failed; the transaction was rolled back.
    #[error("adoption failed and was rolled back: {0}")]
    Db(#[from] DbErr),
}

/// How to adopt.
#[derive(Debug, Clone, Copy, Default)]
pub struct Adoption<'a> {
    /// Check the schema and every value and return the plan; change nothing.
    pub dry_run: bool,
    /// Seals the original's clear connection secrets in the adoption's
    /// transaction. Without it a database holding any is refused. (A dry run
    /// seals nothing: a box only says that a key will be there.)
    pub secrets: Option<&'a SecretBox>,
}

/// What adoption did (or, with a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Whether anything was (or would be) changed.
    pub adopted: bool,
    /// One line per step, in order.
    pub steps: Vec<String>,
    /// One line per value stored differently than the original held it
    /// (its role names, e-mail addresses in mixed case).
    pub mapped: Vec<String>,
    /// How many connection secrets were (or would be) sealed.
    pub secrets_sealed: usize,
}

fn stmt(backend: DbBackend, sql: impl Into<String>) -> Statement {
    Statement::from_string(backend, sql.into())
}

async fn strings<C: ConnectionTrait>(c: &C, sql: &str) -> Result<Vec<String>, DbErr> {
    let backend = c.get_database_backend();
    c.query_all_raw(stmt(backend, sql))
        .await?
        .iter()
        .map(|r| r.try_get_by_index::<String>(0))
        .collect()
}

fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

async fn tables<C: ConnectionTrait>(c: &C) -> Result<Vec<String>, DbErr> {
    match c.get_database_backend() {
        DbBackend::Sqlite => {
            strings(
                c,
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .await
        }
        _ => {
            strings(
                c,
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                 ORDER BY table_name",
            )
            .await
        }
    }
}

/// `(name, declared type in lower case, nullable)` of a table's columns.
async fn columns<C: ConnectionTrait>(
    c: &C,
    table: &str,
) -> Result<Vec<(String, String, bool)>, DbErr> {
    let backend = c.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => format!(
            "SELECT name, lower(type), \"notnull\" = 0 FROM pragma_table_info({})",
            quoted(table)
        ),
        _ => format!(
            "SELECT column_name::text, data_type::text, is_nullable = 'YES' \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = {} ORDER BY ordinal_position",
            quoted(table)
        ),
    };
    c.query_all_raw(stmt(backend, sql))
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get_by_index::<String>(0)?,
                r.try_get_by_index::<String>(1)?,
                r.try_get_by_index::<bool>(2)?,
            ))
        })
        .collect()
}

/// Whether a declared type is one the original used for this kind of column.
fn type_fits(backend: DbBackend, kind: Kind, declared: &str) -> bool {
    match (backend, kind) {
        (DbBackend::Sqlite, Kind::Uuid) => {
            declared.starts_with("varchar") || declared == "char(36)"
        }
        (DbBackend::Sqlite, Kind::Text) => declared.starts_with("varchar") || declared == "text",
        (DbBackend::Sqlite, Kind::Bool) => declared == "boolean",
        (DbBackend::Sqlite, Kind::Json) => declared == "json",
        (DbBackend::Sqlite, Kind::Time) => declared == "datetime",
        (_, Kind::Uuid) => declared == "uuid",
        (_, Kind::Text) => declared == "character varying" || declared == "text",
        (_, Kind::Bool) => declared == "boolean",
        (_, Kind::Json) => declared == "json" || declared == "jsonb",
        (_, Kind::Time) => declared.starts_with("timestamp"),
    }
}

/// Compares the database with the original's schema, changing nothing.
///
/// # Errors
/// When the database cannot be read.
pub async fn inspect<C: ConnectionTrait>(c: &C) -> Result<Finding, DbErr> {
    let backend = c.get_database_backend();
    let present = tables(c).await?;
    if present.iter().any(|t| t == "seaql_migrations") {
        return Ok(Finding::NothingToAdopt);
    }
    let expected: Vec<&str> = TABLES.iter().map(|(t, _)| *t).collect();
    if !present.iter().any(|t| expected.contains(&t.as_str())) {
        return Ok(Finding::NothingToAdopt);
    }
    let mut problems = Vec::new();
    for table in &present {
        if !expected.contains(&table.as_str()) {
            problems.push(format!("table {table}: not one of the original's tables"));
        }
    }
    for (table, cols) in TABLES {
        if !present.iter().any(|t| t == table) {
            problems.push(format!("table {table}: missing"));
            continue;
        }
        let found = columns(c, table).await?;
        for (name, kind, nullable) in *cols {
            match found.iter().find(|(n, _, _)| n == name) {
                None => problems.push(format!("table {table}: column {name} missing")),
                Some((_, declared, found_nullable)) => {
                    if !type_fits(backend, *kind, declared) {
                        problems.push(format!(
                            "table {table}: column {name} has type {declared}, expected {}",
                            expected_type(backend, *kind)
                        ));
                    }
                    if found_nullable != nullable {
                        problems.push(format!(
                            "table {table}: column {name} is {}, expected {}",
                            null_word(*found_nullable),
                            null_word(*nullable)
                        ));
                    }
                }
            }
        }
        for (name, _, _) in &found {
            if !cols.iter().any(|(n, _, _)| n == name) {
                problems.push(format!("table {table}: unexpected column {name}"));
            }
        }
    }
    Ok(if problems.is_empty() {
        Finding::Original
    } else {
        Finding::Unexpected(problems)
    })
}

fn null_word(nullable: bool) -> &'static str {
    if nullable { "NULL" } else { "NOT NULL" }
}

fn expected_type(backend: DbBackend, kind: Kind) -> &'static str {
    match (backend, kind) {
        (DbBackend::Sqlite, Kind::Uuid) => "VARCHAR(36)",
        (DbBackend::Sqlite, Kind::Text) => "VARCHAR(n) or TEXT",
        (DbBackend::Sqlite, Kind::Bool) => "BOOLEAN",
        (DbBackend::Sqlite, Kind::Json) => "JSON",
        (DbBackend::Sqlite, Kind::Time) => "DATETIME",
        (_, Kind::Uuid) => "uuid",
        (_, Kind::Text) => "character varying or text",
        (_, Kind::Bool) => "boolean",
        (_, Kind::Json) => "json",
        (_, Kind::Time) => "timestamp",
    }
}

/// The expression that reads a column of the original as we store it.
fn convert(backend: DbBackend, kind: Kind, col: &str) -> String {
    let col = format!("\"{col}\"");
    match (backend, kind) {
        // 36-character text -> the 16-byte blob sqlx stores for a UUID.
        (DbBackend::Sqlite, Kind::Uuid) => format!("unhex(replace({col}, '-', ''))"),
        // `YYYY-MM-DD HH:MM:SS.ffffff` (naive UTC) -> RFC 3339 in UTC.
        (DbBackend::Sqlite, Kind::Time) => {
            format!("(replace({col}, ' ', 'T') || '+00:00')")
        }
        (DbBackend::Sqlite, _) => col,
        // Naive UTC -> timestamptz.
        (_, Kind::Time) => format!("({col} AT TIME ZONE 'UTC')"),
        (_, Kind::Json) => format!("{col}::jsonb"),
        (_, _) => col,
    }
}

fn copy_sql(backend: DbBackend, table: &str, cols: &[Column]) -> String {
    let names: Vec<String> = cols.iter().map(|(n, _, _)| format!("\"{n}\"")).collect();
    let values: Vec<String> = cols
        .iter()
        .map(|(n, kind, _)| {
            if table == "organizations" && *n == "created_by" {
                // Filled in once the users are there.
                "NULL".to_owned()
            } else {
                convert(backend, *kind, n)
            }
        })
        .collect();
    // The audit trail's commit-ordered position (SQLite: a number handed out
    // per insert) follows the original's order of events.
    let order = if table == "audit_logs" {
        " ORDER BY \"created_at\", \"id\""
    } else {
        ""
    };
    format!(
        "INSERT INTO \"{table}\" ({}) SELECT {} FROM \"{ASIDE}{table}\"{order}",
        names.join(", "),
        values.join(", ")
    )
}

/// The steps [`adopt`] takes, for the dry run and the report.
fn plan(backend: DbBackend, checked: &values::Checked) -> Vec<String> {
    let mut steps = vec![
        "check the schema: the original's six tables, column by column".to_owned(),
        "check every value with the API's rules (roles, booleans, timestamps, JSON, text)"
            .to_owned(),
        format!(
            "rename organizations, users, api_keys, connections, system_settings, audit_logs \
             to {ASIDE}<table>{}",
            if backend == DbBackend::Postgres {
                " (and their indexes)"
            } else {
                " (dropping their indexes)"
            }
        ),
    ];
    if !checked.fixes.is_empty() {
        steps.push(format!(
            "store {} value(s) as ours names them (listed below)",
            checked.fixes.len()
        ));
    }
    for m in Migrator::migrations() {
        steps.push(format!("apply {}", m.name()));
    }
    let (uuid, time, json) = match backend {
        DbBackend::Sqlite => (
            "36-character text -> 16-byte blob",
            "'YYYY-MM-DD HH:MM:SS.ffffff' naive UTC -> RFC 3339 UTC",
            "kept as text",
        ),
        _ => (
            "kept (uuid)",
            "timestamp without time zone (UTC) -> timestamptz",
            "json -> jsonb",
        ),
    };
    for (table, _) in TABLES {
        steps.push(format!(
            "copy {table} (UUIDs: {uuid}; timestamps: {time}; JSON: {json})"
        ));
    }
    steps.push("set organizations.created_by from the original".to_owned());
    steps.push(format!(
        "seal the original's {} clear connection secret(s) ({})",
        checked.clear_secrets,
        secrets::ORIGINAL_SECRET_FIELDS
            .iter()
            .map(|(t, f)| format!("{t}: {}", f.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    steps.push(format!("drop the {ASIDE}* tables"));
    steps.push("commit (any failure rolls everything back)".to_owned());
    if checked.clear_secrets > 0 {
        steps.push(
            match backend {
                DbBackend::Sqlite => {
                    "rewrite the file (VACUUM) so no clear secret stays in free pages"
                }
                _ => "VACUUM connections so no clear secret stays in dead row versions",
            }
            .to_owned(),
        );
    }
    steps
}

/// Renames, maps, migrates, copies and seals inside `tx`.
async fn convert_in(
    tx: &DatabaseTransaction,
    checked: &values::Checked,
    secrets: Option<&SecretBox>,
) -> Result<usize, DbErr> {
    let backend = tx.get_database_backend();
    for (table, _) in TABLES {
        set_aside(tx, table).await?;
    }
    for fix in &checked.fixes {
        let sql = match backend {
            DbBackend::Sqlite => format!(
                "UPDATE \"{ASIDE}{}\" SET \"{}\" = ? WHERE CAST(\"id\" AS TEXT) = ?",
                fix.table, fix.column
            ),
            _ => format!(
                "UPDATE \"{ASIDE}{}\" SET \"{}\" = $1 WHERE CAST(\"id\" AS TEXT) = $2",
                fix.table, fix.column
            ),
        };
        tx.execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [fix.value.clone().into(), fix.id.clone().into()],
        ))
        .await?;
    }
    Migrator::up(tx, None).await?;
    for (table, cols) in TABLES {
        tx.execute_raw(stmt(backend, copy_sql(backend, table, cols)))
            .await?;
    }
    let created_by =
        convert(backend, Kind::Uuid, "created_by").replace("\"created_by\"", "o.\"created_by\"");
    let id = convert(backend, Kind::Uuid, "id").replace("\"id\"", "o.\"id\"");
    tx.execute_raw(stmt(
        backend,
        format!(
            "UPDATE organizations SET created_by = (SELECT {created_by} \
             FROM \"{ASIDE}organizations\" o WHERE {id} = organizations.id)"
        ),
    ))
    .await?;
    // Checked before: without a box there is nothing in clear to seal.
    let sealed = match secrets {
        Some(secrets) => secrets::seal_copied(tx, secrets).await?,
        None => 0,
    };
    let aside: Vec<String> = TABLES
        .iter()
        .rev()
        .map(|(t, _)| format!("\"{ASIDE}{t}\""))
        .collect();
    match backend {
        DbBackend::Sqlite => {
            for table in &aside {
                tx.execute_raw(stmt(backend, format!("DROP TABLE {table}")))
                    .await?;
            }
        }
        _ => {
            tx.execute_raw(stmt(backend, format!("DROP TABLE {}", aside.join(", "))))
                .await?;
        }
    }
    Ok(sealed)
}

/// Renames one of the original's tables (and its indexes) aside.
async fn set_aside<C: ConnectionTrait>(tx: &C, table: &str) -> Result<(), DbErr> {
    let backend = tx.get_database_backend();
    match backend {
        DbBackend::Sqlite => {
            let indexes = strings(
                tx,
                &format!(
                    "SELECT name FROM sqlite_master WHERE type = 'index' \
                     AND tbl_name = {} AND sql IS NOT NULL",
                    quoted(table)
                ),
            )
            .await?;
            for index in indexes {
                tx.execute_raw(stmt(backend, format!("DROP INDEX \"{index}\"")))
                    .await?;
            }
        }
        _ => {
            let indexes = strings(
                tx,
                &format!(
                    "SELECT indexname::text FROM pg_indexes \
                     WHERE schemaname = current_schema() AND tablename = {}",
                    quoted(table)
                ),
            )
            .await?;
            for index in indexes {
                tx.execute_raw(stmt(
                    backend,
                    format!("ALTER INDEX \"{index}\" RENAME TO \"{ASIDE}{index}\""),
                ))
                .await?;
            }
        }
    }
    tx.execute_raw(stmt(
        backend,
        format!("ALTER TABLE \"{table}\" RENAME TO \"{ASIDE}{table}\""),
    ))
    .await?;
    Ok(())
}

/// Adopts the original's database: see the module documentation.
/// Idempotent: a database with our migration history (or an empty one) is
/// left alone. With `dry_run`, checks and returns the plan, and issues no
/// statement that writes (open the database read-only to be sure).
///
/// # Errors
/// Nothing changed: [`AdoptError::Unexpected`] when the schema is not the
/// original's, [`AdoptError::InvalidValues`] when values break the API's
/// rules, [`AdoptError::NoSecretsKey`] when clear secrets would have no key.
/// Rolled back: [`AdoptError::Db`] when a statement fails.
pub async fn adopt(db: &DatabaseConnection, how: Adoption<'_>) -> Result<Report, AdoptError> {
    let backend = db.get_database_backend();
    match inspect(db).await? {
        Finding::NothingToAdopt => {
            return Ok(Report {
                adopted: false,
                steps: vec!["nothing to adopt: no original tables without our history".into()],
                mapped: Vec::new(),
                secrets_sealed: 0,
            });
        }
        Finding::Unexpected(problems) => return Err(AdoptError::Unexpected(problems)),
        Finding::Original => {}
    }
    let checked = values::check(db).await?;
    if !checked.problems.is_empty() {
        return Err(AdoptError::InvalidValues(checked.report()));
    }
    if how.secrets.is_none() && checked.clear_secrets > 0 {
        return Err(AdoptError::NoSecretsKey(checked.clear_secrets));
    }
    let steps = plan(backend, &checked);
    if how.dry_run {
        return Ok(Report {
            adopted: true,
            steps,
            mapped: checked.mapped,
            secrets_sealed: checked.clear_secrets,
        });
    }
    let tx = db.begin().await?;
    let sealed = convert_in(&tx, &checked, how.secrets).await?;
    tx.commit().await?;
    if sealed > 0 {
        scrub(db).await?;
    }
    Ok(Report {
        adopted: true,
        steps,
        mapped: checked.mapped,
        secrets_sealed: sealed,
    })
}

/// After secrets stored in clear were sealed: rewrites the storage so the
/// clear values are not left behind in free pages (SQLite: `VACUUM`, then a
/// WAL checkpoint) or dead row versions (PostgreSQL: `VACUUM connections`).
/// Outside any transaction.
///
/// # Errors
/// When the database refuses.
pub async fn scrub(db: &DatabaseConnection) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    match backend {
        DbBackend::Sqlite => {
            db.execute_raw(stmt(backend, "VACUUM")).await?;
            db.execute_raw(stmt(backend, "PRAGMA wal_checkpoint(TRUNCATE)"))
                .await?;
        }
        _ => {
            db.execute_raw(stmt(backend, "VACUUM connections")).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_per_engine() {
        assert_eq!(
            convert(DbBackend::Sqlite, Kind::Uuid, "id"),
            "unhex(replace(\"id\", '-', ''))"
        );
        assert_eq!(
            convert(DbBackend::Postgres, Kind::Time, "created_at"),
            "(\"created_at\" AT TIME ZONE 'UTC')"
        );
        assert_eq!(
            convert(DbBackend::Postgres, Kind::Json, "config"),
            "\"config\"::jsonb"
        );
        let sql = copy_sql(DbBackend::Sqlite, "organizations", TABLES[0].1);
        assert!(
            sql.starts_with("INSERT INTO \"organizations\" (\"id\""),
            "{sql}"
        );
        assert!(
            sql.contains(", NULL FROM \"original_organizations\""),
            "{sql}"
        );
    }

    #[test]
    fn the_plan_names_every_migration() {
        let steps = plan(DbBackend::Postgres, &values::Checked::default());
        for m in Migrator::migrations() {
            assert!(steps.iter().any(|s| s.ends_with(m.name())));
        }
    }
}
