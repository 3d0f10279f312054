//! The migrated schema, read back from each engine's catalogue, matches the
//! schema reference (`shared/spec/schema.md`): every column's type family and
//! nullability and default, every index with its uniqueness and columns, and
//! every foreign key with its target and ON DELETE rule.

// Helpers outside `#[test]` functions unwrap too, and clippy.toml's test
// exemption does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{HISTORY_TABLE, SCHEMA_TABLES, has_counter_table, open, rows, tables};
use curatore_migration::{Migrator, MigratorTrait, latest_migration_name, migration_names};
use curatore_test_support::{TestDatabase, each_engine};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Uuid,
    Varchar(u32),
    Text,
    Bool,
    Json,
    Timestamp,
    Int,
    BigInt,
    /// PostgreSQL's 64-bit transaction id.
    Xid8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DefaultValue {
    None,
    Bool(bool),
    Str(&'static str),
    JsonObject,
    JsonList,
    Now,
    /// PostgreSQL: the writing transaction's id.
    CurrentTransaction,
    /// A whole number.
    Int(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnDelete {
    Cascade,
    SetNull,
}

struct Col {
    name: &'static str,
    ty: Ty,
    nullable: bool,
    default: DefaultValue,
}

const fn req(name: &'static str, ty: Ty) -> Col {
    Col {
        name,
        ty,
        nullable: false,
        default: DefaultValue::None,
    }
}
const fn opt(name: &'static str, ty: Ty) -> Col {
    Col {
        name,
        ty,
        nullable: true,
        default: DefaultValue::None,
    }
}
const fn def(name: &'static str, ty: Ty, default: DefaultValue) -> Col {
    Col {
        name,
        ty,
        nullable: false,
        default,
    }
}

struct Table {
    name: &'static str,
    columns: Vec<Col>,
    /// (name, unique, columns)
    indexes: Vec<(&'static str, bool, Vec<&'static str>)>,
    /// (column, referenced table, on delete); the referenced column is always `id`.
    foreign_keys: Vec<(&'static str, &'static str, OnDelete)>,
}

/// `audit_logs`' position in commit order differs by engine
/// (`m20261207_000010_audit_logs_commit_order`): PostgreSQL the writing
/// transaction's id, SQLite a number set by a trigger.
fn with_commit_order(mut tables: Vec<Table>, backend: DbBackend) -> Vec<Table> {
    let audit = tables
        .iter_mut()
        .find(|t| t.name == "audit_logs")
        .expect("audit_logs");
    let (column, index) = match backend {
        DbBackend::Sqlite => (
            opt("commit_seq", Ty::Int),
            vec!["organization_id", "commit_seq"],
        ),
        _ => (
            def("commit_xid", Ty::Xid8, DefaultValue::CurrentTransaction),
            vec!["organization_id", "commit_xid", "id"],
        ),
    };
    audit.columns.push(column);
    audit
        .indexes
        .push(("ix_audit_logs_org_commit", false, index));
    tables
}

fn expected_schema() -> Vec<Table> {
    use DefaultValue::{Bool, JsonList, JsonObject, Now, Str};
    use OnDelete::{Cascade, SetNull};
    use Ty::{Json, Text, Timestamp, Uuid, Varchar};
    vec![
        Table {
            name: "organizations",
            columns: vec![
                req("id", Uuid),
                req("name", Varchar(255)),
                req("display_name", Varchar(255)),
                req("slug", Varchar(100)),
                def("is_active", Ty::Bool, Bool(true)),
                def("settings", Json, JsonObject),
                def("created_at", Timestamp, Now),
                def("updated_at", Timestamp, Now),
                opt("created_by", Uuid),
            ],
            indexes: vec![
                ("ix_organizations_name", true, vec!["name"]),
                ("ix_organizations_slug", true, vec!["slug"]),
                ("ix_organizations_is_active", false, vec!["is_active"]),
                (
                    "ix_organizations_created_id",
                    false,
                    vec!["created_at", "id"],
                ),
            ],
            foreign_keys: vec![("created_by", "users", SetNull)],
        },
        Table {
            name: "users",
            columns: vec![
                req("id", Uuid),
                req("organization_id", Uuid),
                req("email", Varchar(255)),
                req("username", Varchar(100)),
                req("password_hash", Varchar(255)),
                opt("full_name", Varchar(255)),
                def("is_active", Ty::Bool, Bool(true)),
                def("is_verified", Ty::Bool, Bool(false)),
                def("role", Varchar(50), Str("member")),
                def("settings", Json, JsonObject),
                def("created_at", Timestamp, Now),
                def("updated_at", Timestamp, Now),
                opt("last_login_at", Timestamp),
                def("password_change_required", Ty::Bool, Bool(false)),
                opt("password_expires_at", Timestamp),
                opt("password_reset_token_hash", Varchar(64)),
                opt("password_reset_expires_at", Timestamp),
                opt("invitation_sent_at", Timestamp),
                opt("last_mail_error", Text),
            ],
            indexes: vec![
                ("ix_users_organization_id", false, vec!["organization_id"]),
                (
                    "ix_users_org_created_id",
                    false,
                    vec!["organization_id", "created_at", "id"],
                ),
                (
                    "ix_users_password_reset_token_hash",
                    true,
                    vec!["password_reset_token_hash"],
                ),
                ("ix_users_email", true, vec!["email"]),
                ("ix_users_username", true, vec!["username"]),
                ("ix_users_is_active", false, vec!["is_active"]),
                ("ix_users_role", false, vec!["role"]),
            ],
            foreign_keys: vec![("organization_id", "organizations", Cascade)],
        },
        Table {
            name: "api_keys",
            columns: vec![
                req("id", Uuid),
                req("organization_id", Uuid),
                opt("user_id", Uuid),
                req("name", Varchar(255)),
                req("key_hash", Varchar(255)),
                req("prefix", Varchar(20)),
                def("scopes", Json, JsonList),
                def("is_active", Ty::Bool, Bool(true)),
                opt("last_used_at", Timestamp),
                opt("expires_at", Timestamp),
                def("created_at", Timestamp, Now),
                def("updated_at", Timestamp, Now),
                opt("created_by_key_id", Uuid),
            ],
            indexes: vec![
                (
                    "ix_api_keys_created_by_key_id",
                    false,
                    vec!["created_by_key_id"],
                ),
                (
                    "ix_api_keys_organization_id",
                    false,
                    vec!["organization_id"],
                ),
                ("ix_api_keys_user_id", false, vec!["user_id"]),
                ("ix_api_keys_key_hash", true, vec!["key_hash"]),
                ("ix_api_keys_prefix", false, vec!["prefix"]),
                ("ix_api_keys_is_active", false, vec!["is_active"]),
                (
                    "ix_api_keys_org_created_id",
                    false,
                    vec!["organization_id", "created_at", "id"],
                ),
            ],
            foreign_keys: vec![
                ("organization_id", "organizations", Cascade),
                ("user_id", "users", Cascade),
            ],
        },
        Table {
            name: "connections",
            columns: vec![
                req("id", Uuid),
                req("organization_id", Uuid),
                req("name", Varchar(255)),
                opt("description", Text),
                req("connection_type", Varchar(50)),
                def("config", Json, JsonObject),
                def("is_active", Ty::Bool, Bool(true)),
                def("is_default", Ty::Bool, Bool(false)),
                opt("last_tested_at", Timestamp),
                opt("test_status", Varchar(20)),
                opt("test_result", Json),
                def("scope", Varchar(20), Str("organization")),
                opt("owner_user_id", Uuid),
                opt("created_by", Uuid),
                def("created_at", Timestamp, Now),
                def("updated_at", Timestamp, Now),
                def("is_managed", Ty::Bool, Bool(false)),
                opt("managed_by", Varchar(255)),
            ],
            indexes: vec![
                (
                    "ux_connections_org_type_default",
                    true,
                    vec!["organization_id", "connection_type"],
                ),
                (
                    "ix_connections_organization_id",
                    false,
                    vec!["organization_id"],
                ),
                (
                    "ix_connections_connection_type",
                    false,
                    vec!["connection_type"],
                ),
                ("ix_connections_is_active", false, vec!["is_active"]),
                (
                    "ix_connections_org_type",
                    false,
                    vec!["organization_id", "connection_type"],
                ),
                (
                    "ix_connections_org_type_default",
                    false,
                    vec!["organization_id", "connection_type", "is_default"],
                ),
                (
                    "ix_connections_org_created_id",
                    false,
                    vec!["organization_id", "created_at", "id"],
                ),
            ],
            foreign_keys: vec![
                ("organization_id", "organizations", Cascade),
                ("owner_user_id", "users", Cascade),
                ("created_by", "users", SetNull),
            ],
        },
        Table {
            name: "system_settings",
            columns: vec![
                req("id", Uuid),
                req("key", Varchar(255)),
                req("value", Json),
                opt("description", Text),
                def("is_public", Ty::Bool, Bool(false)),
                def("created_at", Timestamp, Now),
                def("updated_at", Timestamp, Now),
            ],
            indexes: vec![("ix_system_settings_key", true, vec!["key"])],
            foreign_keys: vec![],
        },
        Table {
            name: "audit_logs",
            columns: vec![
                req("id", Uuid),
                opt("organization_id", Uuid),
                opt("user_id", Uuid),
                req("action", Varchar(100)),
                opt("entity_type", Varchar(50)),
                opt("entity_id", Uuid),
                opt("details", Json),
                opt("ip_address", Varchar(45)),
                opt("user_agent", Text),
                req("status", Varchar(20)),
                opt("error_message", Text),
                def("created_at", Timestamp, Now),
            ],
            indexes: vec![
                (
                    "ix_audit_logs_organization_id",
                    false,
                    vec!["organization_id"],
                ),
                ("ix_audit_logs_user_id", false, vec!["user_id"]),
                ("ix_audit_logs_action", false, vec!["action"]),
                ("ix_audit_logs_entity_type", false, vec!["entity_type"]),
                ("ix_audit_logs_created_at", false, vec!["created_at"]),
                (
                    "ix_audit_logs_org_created_id",
                    false,
                    vec!["organization_id", "created_at", "id"],
                ),
            ],
            foreign_keys: vec![
                ("organization_id", "organizations", SetNull),
                ("user_id", "users", SetNull),
            ],
        },
        Table {
            name: "cache_invalidations",
            columns: vec![
                req("id", Ty::BigInt),
                req("payload", Varchar(200)),
                req("created_at", Timestamp),
            ],
            indexes: vec![],
            foreign_keys: vec![],
        },
        Table {
            name: "mail_outbox",
            columns: vec![
                req("id", Uuid),
                req("organization_id", Uuid),
                opt("user_id", Uuid),
                req("kind", Varchar(30)),
                req("recipient", Varchar(255)),
                req("payload", Json),
                def("status", Varchar(20), Str("queued")),
                def("attempts", Ty::Int, DefaultValue::Int(0)),
                req("next_attempt_at", Timestamp),
                opt("claimed_until", Timestamp),
                opt("last_error", Text),
                def("created_at", Timestamp, Now),
                opt("sent_at", Timestamp),
            ],
            indexes: vec![
                (
                    "ix_mail_outbox_status_next_attempt_at",
                    false,
                    vec!["status", "next_attempt_at"],
                ),
                ("ix_mail_outbox_user_id", false, vec!["user_id"]),
                (
                    "ix_mail_outbox_organization_id",
                    false,
                    vec!["organization_id"],
                ),
            ],
            foreign_keys: vec![
                ("organization_id", "organizations", Cascade),
                ("user_id", "users", Cascade),
            ],
        },
        Table {
            name: "rate_limit_windows",
            columns: vec![
                req("id", Varchar(64)),
                req("attempts", Ty::Int),
                req("failures", Ty::Int),
                req("expires_at", Ty::BigInt),
            ],
            indexes: vec![(
                "ix_rate_limit_windows_expires_at",
                false,
                vec!["expires_at"],
            )],
            foreign_keys: vec![],
        },
        Table {
            name: "refresh_tokens",
            columns: vec![
                req("id", Uuid),
                req("user_id", Uuid),
                req("family_id", Uuid),
                req("token_hash", Varchar(64)),
                req("expires_at", Timestamp),
                opt("revoked_at", Timestamp),
                opt("replaced_by", Uuid),
                def("created_at", Timestamp, Now),
                opt("ip_address", Varchar(45)),
                opt("user_agent", Text),
            ],
            indexes: vec![
                ("ix_refresh_tokens_user_id", false, vec!["user_id"]),
                ("ix_refresh_tokens_family_id", false, vec!["family_id"]),
                ("ix_refresh_tokens_token_hash", true, vec!["token_hash"]),
            ],
            foreign_keys: vec![("user_id", "users", Cascade)],
        },
    ]
}

/// One column as the catalogue describes it, normalised across engines.
#[derive(Debug, PartialEq, Eq)]
struct ActualCol {
    ty: Ty,
    nullable: bool,
    default: DefaultValue,
}

fn sqlite_type(decl: &str) -> Ty {
    match decl.to_ascii_lowercase().as_str() {
        "uuid_text" => Ty::Uuid,
        "text" => Ty::Text,
        "boolean" => Ty::Bool,
        "jsonb_text" | "json_text" => Ty::Json,
        "timestamp_with_timezone_text" => Ty::Timestamp,
        "integer" => Ty::Int,
        "bigint" => Ty::BigInt,
        other => match other
            .strip_prefix("varchar(")
            .and_then(|s| s.strip_suffix(')'))
        {
            Some(n) => Ty::Varchar(n.parse().unwrap()),
            None => panic!("unexpected SQLite column type {other}"),
        },
    }
}

fn postgres_type(data_type: &str, len: Option<i32>) -> Ty {
    match data_type {
        "uuid" => Ty::Uuid,
        "text" => Ty::Text,
        "boolean" => Ty::Bool,
        "jsonb" => Ty::Json,
        "timestamp with time zone" => Ty::Timestamp,
        "integer" => Ty::Int,
        "bigint" => Ty::BigInt,
        "character varying" => Ty::Varchar(len.expect("varchar has a length") as u32),
        "xid8" => Ty::Xid8,
        other => panic!("unexpected PostgreSQL column type {other}"),
    }
}

fn parse_default(raw: Option<String>) -> DefaultValue {
    let Some(raw) = raw else {
        return DefaultValue::None;
    };
    // PostgreSQL adds casts (`'{}'::jsonb`); SQLite keeps the text as written.
    let value = raw.split("::").next().unwrap_or(&raw).trim();
    let lower = value.to_ascii_lowercase();
    match lower.as_str() {
        "true" => DefaultValue::Bool(true),
        "false" => DefaultValue::Bool(false),
        "'{}'" => DefaultValue::JsonObject,
        "'[]'" => DefaultValue::JsonList,
        "current_timestamp" => DefaultValue::Now,
        "pg_current_xact_id()" => DefaultValue::CurrentTransaction,
        _ if value.parse::<i64>().is_ok() => DefaultValue::Int(value.parse().unwrap_or_default()),
        _ if lower.contains("strftime('%y-%m-%dt%h:%m:%f+00:00', 'now')") => DefaultValue::Now,
        _ => match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            Some("member") => DefaultValue::Str("member"),
            Some("organization") => DefaultValue::Str("organization"),
            Some("queued") => DefaultValue::Str("queued"),
            _ => panic!("unexpected default {raw}"),
        },
    }
}

struct Catalogue {
    /// Columns in table order.
    columns: Vec<(String, ActualCol)>,
    primary_key: Vec<String>,
    /// name → (unique, columns)
    indexes: BTreeMap<String, (bool, Vec<String>)>,
    /// (column, referenced table, referenced column, on delete)
    foreign_keys: Vec<(String, String, String, OnDelete)>,
}

fn on_delete(raw: &str) -> OnDelete {
    match raw {
        "CASCADE" | "c" => OnDelete::Cascade,
        "SET NULL" | "n" => OnDelete::SetNull,
        other => panic!("unexpected ON DELETE rule {other}"),
    }
}

async fn read_sqlite(conn: &DatabaseConnection, table: &str) -> Catalogue {
    let mut columns = Vec::new();
    let mut primary_key = Vec::new();
    for r in rows(
        conn,
        r#"SELECT name, type, "notnull" AS nn, dflt_value, pk FROM pragma_table_info(?) ORDER BY cid"#,
        [table.into()],
    )
    .await
    {
        let name: String = r.try_get("", "name").unwrap();
        let decl: String = r.try_get("", "type").unwrap();
        let not_null: i32 = r.try_get("", "nn").unwrap();
        let default: Option<String> = r.try_get("", "dflt_value").unwrap();
        let pk: i32 = r.try_get("", "pk").unwrap();
        if pk > 0 {
            primary_key.push(name.clone());
        }
        columns.push((
            name,
            ActualCol {
                ty: sqlite_type(&decl),
                nullable: not_null == 0,
                default: parse_default(default),
            },
        ));
    }
    let mut indexes = BTreeMap::new();
    for r in rows(
        conn,
        r#"SELECT name, "unique" AS uniq, origin FROM pragma_index_list(?)"#,
        [table.into()],
    )
    .await
    {
        let name: String = r.try_get("", "name").unwrap();
        let unique: i32 = r.try_get("", "uniq").unwrap();
        let origin: String = r.try_get("", "origin").unwrap();
        if origin == "pk" {
            continue;
        }
        let cols = rows(
            conn,
            "SELECT name FROM pragma_index_info(?) ORDER BY seqno",
            [name.clone().into()],
        )
        .await
        .iter()
        .map(|c| c.try_get::<String>("", "name").unwrap())
        .collect();
        indexes.insert(name, (unique != 0, cols));
    }
    let foreign_keys = rows(
        conn,
        r#"SELECT "from" AS col, "table" AS ref_table, "to" AS ref_col, on_delete FROM pragma_foreign_key_list(?)"#,
        [table.into()],
    )
    .await
    .iter()
    .map(|r| {
        (
            r.try_get("", "col").unwrap(),
            r.try_get("", "ref_table").unwrap(),
            r.try_get("", "ref_col").unwrap(),
            on_delete(&r.try_get::<String>("", "on_delete").unwrap()),
        )
    })
    .collect();
    Catalogue {
        columns,
        primary_key,
        indexes,
        foreign_keys,
    }
}

async fn read_postgres(conn: &DatabaseConnection, table: &str) -> Catalogue {
    let columns = rows(
        conn,
        "SELECT column_name::text AS name, data_type::text AS data_type, \
                character_maximum_length::int4 AS len, is_nullable::text AS nullable, \
                column_default::text AS dflt \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        [table.into()],
    )
    .await
    .iter()
    .map(|r| {
        let data_type: String = r.try_get("", "data_type").unwrap();
        let len: Option<i32> = r.try_get("", "len").unwrap();
        let nullable: String = r.try_get("", "nullable").unwrap();
        (
            r.try_get::<String>("", "name").unwrap(),
            ActualCol {
                ty: postgres_type(&data_type, len),
                nullable: nullable == "YES",
                default: parse_default(r.try_get("", "dflt").unwrap()),
            },
        )
    })
    .collect();
    let mut primary_key = Vec::new();
    let mut indexes = BTreeMap::new();
    for r in rows(
        conn,
        "SELECT i.relname::text AS name, ix.indisunique AS uniq, ix.indisprimary AS pk, \
                array_to_string(ARRAY( \
                    SELECT a.attname::text FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) \
                    JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum \
                    ORDER BY k.ord), ',') AS cols \
         FROM pg_index ix \
         JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = current_schema() AND t.relname = $1",
        [table.into()],
    )
    .await
    {
        let cols: Vec<String> = r
            .try_get::<String>("", "cols")
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect();
        if r.try_get::<bool>("", "pk").unwrap() {
            primary_key = cols;
            continue;
        }
        indexes.insert(
            r.try_get("", "name").unwrap(),
            (r.try_get("", "uniq").unwrap(), cols),
        );
    }
    let foreign_keys = rows(
        conn,
        "SELECT a.attname::text AS col, rt.relname::text AS ref_table, \
                ra.attname::text AS ref_col, c.confdeltype::text AS on_delete, \
                c.conname::text AS name \
         FROM pg_constraint c \
         JOIN pg_class t ON t.oid = c.conrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         JOIN pg_class rt ON rt.oid = c.confrelid \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
         JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1] \
         WHERE c.contype = 'f' AND n.nspname = current_schema() AND t.relname = $1",
        [table.into()],
    )
    .await
    .iter()
    .map(|r| {
        let col: String = r.try_get("", "col").unwrap();
        let name: String = r.try_get("", "name").unwrap();
        assert_eq!(name, format!("fk_{table}_{col}"), "foreign key name");
        (
            col,
            r.try_get("", "ref_table").unwrap(),
            r.try_get("", "ref_col").unwrap(),
            on_delete(&r.try_get::<String>("", "on_delete").unwrap()),
        )
    })
    .collect();
    // Unique rules must be the named indexes, not extra constraints.
    let extra_unique = rows(
        conn,
        "SELECT count(*)::int4 AS n FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
         WHERE c.contype = 'u' AND t.relname = $1",
        [table.into()],
    )
    .await;
    assert_eq!(extra_unique[0].try_get::<i32>("", "n").unwrap(), 0);
    Catalogue {
        columns,
        primary_key,
        indexes,
        foreign_keys,
    }
}

async fn assert_schema_matches_spec(conn: &DatabaseConnection, engine: &str) {
    let mut names: Vec<String> = tables(conn).await;
    names.retain(|t| t != HISTORY_TABLE);
    assert_eq!(names, SCHEMA_TABLES, "{engine}: tables");

    for table in with_commit_order(expected_schema(), conn.get_database_backend()) {
        let actual = match conn.get_database_backend() {
            DbBackend::Sqlite => read_sqlite(conn, table.name).await,
            _ => read_postgres(conn, table.name).await,
        };
        let ctx = format!("{engine}: {}", table.name);

        let expected_cols: Vec<(String, ActualCol)> = table
            .columns
            .iter()
            .map(|c| {
                (
                    c.name.to_owned(),
                    ActualCol {
                        // SQLite has one integer type (64 bits).
                        ty: match (conn.get_database_backend(), c.ty) {
                            (DbBackend::Sqlite, Ty::BigInt) => Ty::Int,
                            (_, ty) => ty,
                        },
                        nullable: c.nullable,
                        default: c.default,
                    },
                )
            })
            .collect();
        assert_eq!(actual.columns, expected_cols, "{ctx}: columns");
        assert_eq!(
            actual.primary_key,
            vec!["id".to_owned()],
            "{ctx}: primary key"
        );

        let expected_indexes: BTreeMap<String, (bool, Vec<String>)> = table
            .indexes
            .iter()
            .map(|(name, unique, cols)| {
                (
                    (*name).to_owned(),
                    (*unique, cols.iter().map(|c| (*c).to_owned()).collect()),
                )
            })
            .collect();
        assert_eq!(actual.indexes, expected_indexes, "{ctx}: indexes");

        let mut expected_fks: Vec<(String, String, String, OnDelete)> = table
            .foreign_keys
            .iter()
            .map(|(col, ref_table, rule)| {
                (
                    (*col).to_owned(),
                    (*ref_table).to_owned(),
                    "id".to_owned(),
                    *rule,
                )
            })
            .collect();
        let mut actual_fks = actual.foreign_keys;
        expected_fks.sort_by(|a, b| a.0.cmp(&b.0));
        actual_fks.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(actual_fks, expected_fks, "{ctx}: foreign keys");
    }
}

async fn applied_names(conn: &DatabaseConnection) -> Vec<String> {
    Migrator::get_applied_migrations(conn)
        .await
        .unwrap()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

/// Up, down all, up again: the schema is complete and down leaves nothing behind.
async fn up_down_up(db: TestDatabase) {
    let engine = db.engine();
    let conn = open(&db).await;

    Migrator::up(&conn, None).await.expect("up");
    assert_schema_matches_spec(&conn, engine).await;
    assert_eq!(applied_names(&conn).await, migration_names());
    if conn.get_database_backend() == DbBackend::Sqlite {
        assert!(has_counter_table(&conn).await, "{engine}: commit counter");
    }

    Migrator::down(&conn, None).await.expect("down all");
    assert_eq!(
        tables(&conn).await,
        vec![HISTORY_TABLE.to_owned()],
        "{engine}: after down"
    );
    assert!(applied_names(&conn).await.is_empty());
    if conn.get_database_backend() == DbBackend::Sqlite {
        assert!(
            !has_counter_table(&conn).await,
            "{engine}: counter left after down"
        );
        let left = rows(
            &conn,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%'",
            [],
        )
        .await;
        assert!(left.is_empty(), "{engine}: indexes left after down");
    } else {
        let left = rows(
            &conn,
            "SELECT conname::text FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
             WHERE n.nspname = current_schema() AND conname LIKE 'fk_%'",
            [],
        )
        .await;
        assert!(left.is_empty(), "{engine}: constraints left after down");
    }

    Migrator::up(&conn, None).await.expect("up again");
    assert_schema_matches_spec(&conn, engine).await;
    conn.close().await.unwrap();
}

#[tokio::test]
async fn up_down_up_matches_the_spec() {
    each_engine(up_down_up).await;
}

/// One step at a time, each migration applies and rolls back on its own.
async fn step_by_step(db: TestDatabase) {
    let engine = db.engine();
    let conn = open(&db).await;
    let names = migration_names();
    // The tables after each of the first three steps; from the fourth on,
    // every table of the schema exists but those of `LATER_TABLES` not yet
    // added (a migration adding a table adds itself there).
    let early: [&[&str]; 3] = [
        &["organizations", "users"],
        &["api_keys", "connections", "organizations", "users"],
        &[
            "api_keys",
            "audit_logs",
            "connections",
            "organizations",
            "system_settings",
            "users",
        ],
    ];

    for step in 0..names.len() {
        let expected = tables_after(&early, &names, step + 1);
        Migrator::up(&conn, Some(1)).await.expect("up -n 1");
        assert_eq!(
            applied_names(&conn).await,
            names[..=step],
            "{engine}: step {step}"
        );
        let mut t = tables(&conn).await;
        t.retain(|t| t != HISTORY_TABLE);
        assert_eq!(t, expected, "{engine}: tables after step {step}");
    }
    assert_eq!(
        applied_names(&conn).await.last(),
        Some(&latest_migration_name())
    );

    for step in (0..names.len()).rev() {
        Migrator::down(&conn, Some(1)).await.expect("down -n 1");
        assert_eq!(
            applied_names(&conn).await,
            names[..step],
            "{engine}: down to {step}"
        );
        let mut t = tables(&conn).await;
        t.retain(|t| t != HISTORY_TABLE);
        let expected = tables_after(&early, &names, step);
        assert_eq!(t, expected, "{engine}: tables after rolling back to {step}");
    }
    conn.close().await.unwrap();
}

/// Tables created after the fourth step, with the migration that adds each.
const LATER_TABLES: [(&str, &str); 3] = [
    ("rate_limit_windows", "m20261202_000009_rate_limit_windows"),
    (
        "cache_invalidations",
        "m20261221_000012_cache_invalidations",
    ),
    ("mail_outbox", "m20261222_000014_mail_outbox"),
];

/// The tables once the first `applied` migrations have run.
fn tables_after(early: &[&[&'static str]], names: &[String], applied: usize) -> Vec<&'static str> {
    if applied == 0 {
        return Vec::new();
    }
    if let Some(t) = early.get(applied - 1) {
        return t.to_vec();
    }
    SCHEMA_TABLES
        .into_iter()
        .filter(|table| {
            LATER_TABLES
                .iter()
                .find(|(t, _)| t == table)
                .is_none_or(|(_, migration)| names[..applied].iter().any(|n| n == migration))
        })
        .collect()
}

#[tokio::test]
async fn step_by_step_up_and_down() {
    each_engine(step_by_step).await;
}

/// `fresh` replaces whatever is there, including data, with the full schema.
async fn fresh_rebuilds(db: TestDatabase) {
    let engine = db.engine();
    let conn = open(&db).await;
    Migrator::up(&conn, Some(2)).await.unwrap();
    conn.execute_unprepared("CREATE TABLE leftover (x integer)")
        .await
        .unwrap();
    Migrator::fresh(&conn).await.expect("fresh");
    let mut t = tables(&conn).await;
    t.retain(|t| t != HISTORY_TABLE);
    assert_eq!(t, SCHEMA_TABLES, "{engine}: after fresh");
    assert_schema_matches_spec(&conn, engine).await;
    conn.close().await.unwrap();
}

#[tokio::test]
async fn fresh_drops_everything_and_reapplies() {
    each_engine(fresh_rebuilds).await;
}
