//! `curatore-migrate adopt` on the original's databases
//! (`tests/fixtures/curatore-py`: a SQLite file and a PostgreSQL dump), on
//! both engines: a dry run and every refusal change no byte (a checksum of
//! the SQLite file, a `pg_dump` of the PostgreSQL database), a bad value is
//! reported by table, id and column, the original's role names are mapped
//! and reported, every clear connection secret is sealed in the adoption's
//! transaction with the key the server uses, a failing statement rolls
//! everything back, and a second adoption does nothing. (The server's
//! adoption is tested in `crates/server/tests/adoption.rs`; that what
//! adoption sealed opens through the service layer, in
//! `crates/service/tests/adopted_secrets.rs`.)

// Helpers outside `#[test]` functions unwrap too, and clippy.toml's test
// exemption does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use curatore_domain::DatabaseUrl;
use curatore_test_support::{
    TestDatabase, assert_original_secrets_gone, each_engine, load_original, storage_checksum,
};
use sea_orm::{ConnectionTrait, Statement};
use std::process::{Command, Output};

/// base64 of 32 bytes: the key the tests give PostgreSQL adoptions.
const KEY: &str = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Runs the binary on `db` with a clean environment: no key, unless given.
fn migrate(db: &TestDatabase, env: &[(&str, &str)], args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_curatore-migrate"));
    cmd.env_clear()
        .current_dir(dir.path())
        .env("CURATORE_CONFIG_DIR", dir.path())
        .arg("--database-url")
        .arg(db.url())
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run curatore-migrate")
}

/// The key PostgreSQL adoptions need; SQLite uses its key file.
fn key_env(db: &TestDatabase) -> Vec<(&'static str, &'static str)> {
    if db.engine() == "postgresql" {
        vec![("SECRETS_ENCRYPTION_KEY", KEY)]
    } else {
        vec![]
    }
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `sql` on the original's database without changing its journal mode.
async fn exec(db: &TestDatabase, sql: &str) {
    let url = DatabaseUrl::parse(&db.url()).unwrap();
    let conn = curatore_migration::connect::connect_for_adoption(&url, false)
        .await
        .unwrap()
        .unwrap();
    conn.execute_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.unwrap();
}

/// One text column of a query, on our schema after adoption.
async fn texts(db: &TestDatabase, sql: &str) -> Vec<String> {
    let url = DatabaseUrl::parse(&db.url()).unwrap();
    let conn = curatore_migration::connect::connect_for_adoption(&url, true)
        .await
        .unwrap()
        .unwrap();
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.unwrap();
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
}

/// The id of a row of the original, as text.
async fn id_of(db: &TestDatabase, table: &str, condition: &str) -> String {
    texts(
        db,
        &format!("SELECT CAST(id AS TEXT) FROM {table} WHERE {condition}"),
    )
    .await
    .pop()
    .unwrap_or_else(|| panic!("no {table} row where {condition}"))
}

fn key_file(db: &TestDatabase) -> Option<std::path::PathBuf> {
    db.sqlite_path().map(curatore_config::key_file_for)
}

async fn a_dry_run_changes_no_byte(db: TestDatabase) {
    load_original(&db);
    let before = storage_checksum(&db);
    let out = stdout(&migrate(&db, &key_env(&db), &["adopt", "--dry-run"]));
    assert_eq!(storage_checksum(&db), before, "{}: {out}", db.engine());
    assert!(out.contains("plan         copy connections"), "{out}");
    assert!(
        out.contains("plan         apply m20260112_000001_create_organizations_and_users"),
        "{out}"
    );
    assert!(out.contains("dry run: nothing was changed"), "{out}");
    match key_file(&db) {
        Some(file) => {
            // The key file would be made when adopting, not by a dry run.
            let line = format!(
                "would seal   3 connection secret(s) with a new key file {} (made when adopting)",
                file.display()
            );
            assert!(out.contains(&line), "{line}\n{out}");
            assert!(!file.exists(), "a dry run made {}", file.display());
        }
        None => assert!(
            out.contains("would seal   3 connection secret(s) with SECRETS_ENCRYPTION_KEY"),
            "{out}"
        ),
    }
    // Still the original's, and adoptable.
    let again = stdout(&migrate(&db, &key_env(&db), &["adopt", "--dry-run"]));
    assert!(again.contains("dry run: nothing was changed"), "{again}");
    assert_eq!(storage_checksum(&db), before);
}

#[tokio::test]
async fn a_dry_run_opens_read_only_and_changes_no_byte() {
    each_engine(a_dry_run_changes_no_byte).await;
}

async fn unexpected_schema(db: TestDatabase) {
    load_original(&db);
    exec(&db, "ALTER TABLE users ADD COLUMN nickname TEXT").await;
    exec(&db, "CREATE TABLE documents (id TEXT)").await;
    let before = storage_checksum(&db);
    let err = stderr(&migrate(&db, &key_env(&db), &["adopt"]));
    assert!(
        err.contains("table users: unexpected column nickname"),
        "{err}"
    );
    assert!(
        err.contains("table documents: not one of the original's tables"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(storage_checksum(&db), before, "{}", db.engine());
}

#[tokio::test]
async fn an_unexpected_schema_is_reported_and_changes_no_byte() {
    each_engine(unexpected_schema).await;
}

async fn bad_values(db: TestDatabase) {
    load_original(&db);
    let member = id_of(&db, "users", "username = 'member'").await;
    let admin2 = id_of(&db, "users", "username = 'admin2'").await;
    let second = id_of(&db, "organizations", "slug = 'second'").await;
    let llm = id_of(&db, "connections", "name = 'Fixture LLM'").await;
    exec(
        &db,
        "UPDATE users SET role = 'superuser' WHERE username = 'member'",
    )
    .await;
    exec(
        &db,
        "UPDATE organizations SET settings = '[1]' WHERE slug = 'second'",
    )
    .await;
    exec(
        &db,
        "UPDATE connections SET name = 'Fixture LLM \u{202e}txt.exe' WHERE name = 'Fixture LLM'",
    )
    .await;
    // What each engine can hold that we cannot read: SQLite a boolean that
    // is not 0/1; PostgreSQL an infinite timestamp.
    let (bad_column, bad_sql) = if db.engine() == "postgresql" {
        (
            "last_login_at",
            "UPDATE users SET last_login_at = 'infinity' WHERE username = 'admin2'",
        )
    } else {
        (
            "is_active",
            "UPDATE users SET is_active = 7 WHERE username = 'admin2'",
        )
    };
    exec(&db, bad_sql).await;
    let before = storage_checksum(&db);
    let err = stderr(&migrate(&db, &key_env(&db), &["adopt"]));
    for line in [
        format!("table users, id {member}, column role: `superuser` is not a role"),
        format!("table organizations, id {second}, column settings: must be a JSON object"),
        format!("table connections, id {llm}, column name: must not contain"),
        format!("table users, id {admin2}, column {bad_column}:"),
    ] {
        assert!(err.contains(&line), "{}: {line}\n{err}", db.engine());
    }
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(storage_checksum(&db), before, "{}", db.engine());
    // The dry run says the same, and nothing changes either.
    let err = stderr(&migrate(&db, &key_env(&db), &["adopt", "--dry-run"]));
    assert!(err.contains("column role"), "{err}");
    assert_eq!(storage_checksum(&db), before, "{}", db.engine());
    if let Some(file) = key_file(&db) {
        assert!(!file.exists(), "a refused adoption made {}", file.display());
    }
}

#[tokio::test]
async fn bad_values_are_reported_by_table_id_and_column_and_change_no_byte() {
    each_engine(bad_values).await;
}

async fn role_names(db: TestDatabase) {
    load_original(&db);
    let admin = id_of(&db, "users", "username = 'admin'").await;
    let member = id_of(&db, "users", "username = 'member'").await;
    exec(
        &db,
        "UPDATE users SET role = 'admin' WHERE username = 'admin'",
    )
    .await;
    exec(
        &db,
        "UPDATE users SET role = 'user' WHERE username = 'member'",
    )
    .await;
    exec(
        &db,
        "UPDATE users SET email = 'Admin2@Second.Example.com' WHERE username = 'admin2'",
    )
    .await;
    let out = stdout(&migrate(&db, &key_env(&db), &["adopt"]));
    for line in [
        format!("mapped       table users, id {admin}, column role: `admin` stored as `org_admin`"),
        format!("mapped       table users, id {member}, column role: `user` stored as `member`"),
        "column email: `Admin2@Second.Example.com` stored as `admin2@second.example.com`"
            .to_owned(),
    ] {
        assert!(out.contains(&line), "{}: {line}\n{out}", db.engine());
    }
    let roles = texts(
        &db,
        "SELECT username || ':' || role || ':' || email FROM users ORDER BY username",
    )
    .await;
    assert_eq!(
        roles,
        [
            "admin:org_admin:admin@example.com",
            "admin2:org_admin:admin2@second.example.com",
            "member:member:member@example.com"
        ]
    );
}

#[tokio::test]
async fn the_originals_role_names_are_mapped_and_reported() {
    each_engine(role_names).await;
}

async fn seals_secrets(db: TestDatabase) {
    load_original(&db);
    let out = stdout(&migrate(&db, &key_env(&db), &["adopt"]));
    assert!(
        out.contains("done         drop the original_* tables"),
        "{out}"
    );
    assert!(
        !out.contains("in clear:"),
        "no claim it did not keep: {out}"
    );
    let sealed = match key_file(&db) {
        Some(file) => {
            // Made now, beside the database, readable by its owner only: the
            // file the server reads at start.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&file).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600);
            }
            format!(
                "sealed       3 connection secret(s) with the key file {}",
                file.display()
            )
        }
        None => "sealed       3 connection secret(s) with SECRETS_ENCRYPTION_KEY".to_owned(),
    };
    assert!(out.contains(&sealed), "{sealed}\n{out}");
    assert_original_secrets_gone(&db);
    let envelopes = texts(&db, "SELECT CAST(config AS TEXT) FROM connections").await;
    assert_eq!(
        envelopes.iter().filter(|c| c.contains("\"$enc\"")).count(),
        3,
        "{envelopes:?}"
    );
    let status = stdout(&migrate(&db, &[], &["status"]));
    assert!(status.contains("(up to date)"), "{status}");
    let again = stdout(&migrate(&db, &key_env(&db), &["adopt"]));
    assert!(again.contains("nothing to adopt"), "{again}");
}

#[tokio::test]
async fn adoption_seals_every_clear_secret_with_the_servers_key() {
    each_engine(seals_secrets).await;
}

#[tokio::test]
async fn without_a_key_postgres_adoption_is_refused_and_says_how() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    load_original(&db);
    let before = storage_checksum(&db);
    let err = stderr(&migrate(&db, &[], &["adopt"]));
    assert!(err.contains("3 secret(s) in clear"), "{err}");
    assert!(err.contains("SECRETS_ENCRYPTION_KEY"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(storage_checksum(&db), before);
}

async fn rolls_back(db: TestDatabase) {
    load_original(&db);
    // Two default `llm` connections in one organization: the original
    // allows it, our schema's unique index refuses it while copying.
    exec(
        &db,
        "UPDATE connections SET connection_type = 'llm', is_default = true \
         WHERE name = 'Fixture Extraction'",
    )
    .await;
    let before = storage_checksum(&db);
    let err = stderr(&migrate(&db, &key_env(&db), &["adopt"]));
    assert!(err.contains("rolled back"), "{err}");
    // The original's tables are back, with no history of ours and nothing
    // set aside; not a byte differs.
    assert_eq!(storage_checksum(&db), before, "{}", db.engine());
    let status = stdout(&migrate(&db, &[], &["status"]));
    assert!(status.contains("current      none"), "{status}");
}

#[tokio::test]
async fn a_failing_statement_rolls_everything_back() {
    each_engine(rolls_back).await;
}
