//! Taking over a database made by the original Python server, black-box on
//! both engines: the fixture (`tests/fixtures/curatore-py`, a copy of the shared fixtures: a SQLite file
//! and a PostgreSQL dump, made by the original's own code) is loaded, the
//! server starts on it with `AUTO_MIGRATE=true` and adopts it; the
//! original's users log in with their passwords, its API keys work, its
//! connections answer redacted (and are sealed at rest, the clear values gone
//! from the database), its settings are there; a second start adopts nothing.
//! A value the API would refuse stops the start before any byte changes; a
//! secret found in clear at any later start is sealed and counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::{
    ORIGINAL_CLEAR_SECRETS, TestDatabase, assert_original_secrets_gone, load_original, psql,
    sqlite_bytes, storage_checksum,
};
use serde_json::{Value, json};
use support::{Server, on_both, run};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
/// base64 of 32 bytes.
const KEY: &str = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const REDACTED: &str = "***REDACTED***";

/// `(login, password, username)` of the fixture's users.
const USERS: &[(&str, &str, &str)] = &[
    ("admin@example.com", "Fixture-Admin-7q2", "admin"),
    ("member", "Fixture-Member-4k9", "member"),
    ("admin2@second.example.com", "Fixture-Admin2-3x8", "admin2"),
];

/// `(key, username)` of the fixture's API keys: they differ between files.
fn keys(engine: &str) -> [(&'static str, &'static str); 3] {
    if engine == "postgresql" {
        [
            (
                "cur_3fc0e4af554b78d53b2bbeb5b986aadff369d29c88a313929f825bb5c91dcd63",
                "admin",
            ),
            (
                "cur_02bbbe8efbccaa03c4a69dede8a3617057ea81a32c690c0ac45ba68c9afe10c7",
                "member",
            ),
            (
                "cur_167fac45d484310bc7dd2c86a5b200e6ba1960d58119fd52d49e3fbe173f295c",
                "admin2",
            ),
        ]
    } else {
        [
            (
                "cur_987aaed5ca5c129772a338ecc6babb0706277eb76fd7bb6f15cff2c0acaf7bfe",
                "admin",
            ),
            (
                "cur_2032ff5d208a86f4060545e56e1d5ad45b38322d4ccd626fb3636256581b72db",
                "member",
            ),
            (
                "cur_ebdb0702f4f438c8389e5a4a0220fbb246e1dd94bbca99ea8c003f96f62dd6a9",
                "admin2",
            ),
        ]
    }
}

fn env(db: &TestDatabase) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![
        ("ENABLE_AUTH", "true"),
        ("AUTO_MIGRATE", "true"),
        ("JWT_SECRET_KEY", SECRET),
        ("AUTH_CACHE_SECONDS", "0"),
        ("LOGIN_MAX_FAILURES_PER_IP", "1000"),
    ];
    if db.engine() == "postgresql" {
        env.push(("SECRETS_ENCRYPTION_KEY", KEY));
    } else {
        // SQLite makes its own key file beside the database.
        env.push(("SECRETS_ENCRYPTION_KEY", ""));
    }
    env
}

fn start(db: &TestDatabase) -> Server {
    Server::start(&db.url(), &env(db))
}

fn login(s: &Server, who: &str, password: &str) -> String {
    let r = s.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": who, "password": password})),
    );
    assert_eq!(r.status, 200, "{who}: {r:?}");
    format!("Bearer {}", r.json()["access_token"].as_str().unwrap())
}

fn me(s: &Server, headers: &[(&str, &str)]) -> Value {
    let r = s.call("GET", "/api/v1/auth/me", headers, None);
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
}

/// Everything the original's users had still works.
fn use_the_original(s: &Server, engine: &str) {
    for (login_as, password, username) in USERS {
        let auth = login(s, login_as, password);
        assert_eq!(me(s, &[("authorization", &auth)])["username"], *username);
        let wrong = s.call(
            "POST",
            "/api/v1/auth/login",
            &[],
            Some(&json!({"email_or_username": login_as, "password": "Wrong-Password-1"})),
        );
        assert_eq!(wrong.status, 401, "{wrong:?}");
    }
    for (key, username) in keys(engine) {
        // Twice: bcrypt the first time (after adoption), our digest after.
        for _ in 0..2 {
            assert_eq!(me(s, &[("x-api-key", key)])["username"], username);
        }
    }
    let forged = format!("{}{}", &keys(engine)[0].0[..12], "0".repeat(56));
    let r = s.call("GET", "/api/v1/auth/me", &[("x-api-key", &forged)], None);
    assert_eq!(r.status, 401, "{r:?}");

    let admin = login(s, USERS[0].0, USERS[0].1);
    let r = s.call(
        "GET",
        "/api/v1/connections",
        &[("authorization", &admin)],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    let text = body.to_string();
    for secret in ORIGINAL_CLEAR_SECRETS {
        assert!(!text.contains(secret), "{text}");
    }
    let items = body["connections"].as_array().unwrap().clone();
    let mut names: Vec<&str> = items.iter().map(|c| c["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Fixture Extraction", "Fixture LLM"], "{text}");
    let llm = items.iter().find(|c| c["name"] == "Fixture LLM").unwrap();
    assert_eq!(llm["config"]["api_key"], REDACTED, "{llm}");
    assert_eq!(llm["config"]["model"], "gpt-4o-mini", "{llm}");
    assert_eq!(llm["is_default"], true, "{llm}");

    // Only registered keys are served; the rows themselves are checked in
    // the database (`assert_rows_kept`).
    let r = s.call(
        "GET",
        "/api/v1/settings/system",
        &[("authorization", &admin)],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
}

/// One text column of a query, on either engine.
async fn texts(db: &TestDatabase, sql: &str) -> Vec<String> {
    match db.sqlite_path() {
        Some(_) => {
            let pool = sqlx::SqlitePool::connect(&db.url()).await.unwrap();
            let rows = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            rows
        }
        None => psql(db, sql).lines().map(str::to_owned).collect(),
    }
}

/// Runs one statement, on either engine. SQLite through a pool with sqlx's
/// defaults, which leave the journal mode as the file has it.
async fn exec(db: &TestDatabase, sql: &str) {
    match db.sqlite_path() {
        Some(_) => {
            let pool = sqlx::SqlitePool::connect(&db.url()).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        None => {
            psql(db, sql);
        }
    }
}

/// What an admin of the original had changed in the second organization's
/// settings before the switch: adoption must keep it, not seed over it.
const EDITED_SETTINGS: &str = r#"{"quality_thresholds": {"conversion": 55, "clarity": 6, "completeness": 7, "relevance": 7, "markdown": 7}, "auto_optimize": true, "colour": "red"}"#;

/// The settings, the audit trail and the row counts survived adoption.
async fn assert_rows_kept(db: &TestDatabase) {
    let json = if db.engine() == "postgresql" {
        "::text"
    } else {
        ""
    };
    let value = texts(
        db,
        &format!("SELECT value{json} FROM system_settings WHERE key = 'fixture.example'"),
    )
    .await;
    let value: Value = serde_json::from_str(&value[0]).unwrap();
    assert_eq!(value, json!({"enabled": true}));
    let settings =
        |slug: &str| format!("SELECT settings{json} FROM organizations WHERE slug = '{slug}'");
    let default = texts(db, &settings("default")).await;
    let default: Value = serde_json::from_str(&default[0]).unwrap();
    assert_eq!(
        default,
        json!({"quality_thresholds": {"conversion": 70, "clarity": 7, "completeness": 7,
               "relevance": 7, "markdown": 7}, "auto_optimize": false})
    );
    let second = texts(db, &settings("second")).await;
    let second: Value = serde_json::from_str(&second[0]).unwrap();
    assert_eq!(
        second,
        serde_json::from_str::<Value>(EDITED_SETTINGS).unwrap()
    );
    let actions = texts(db, "SELECT action FROM audit_logs ORDER BY action").await;
    assert!(
        actions.contains(&"create_connection".to_owned()),
        "{actions:?}"
    );
    let count = |t: &str| format!("SELECT CAST(COUNT(*) AS TEXT) FROM {t}");
    for (table, n) in [("users", "3"), ("api_keys", "3"), ("connections", "3")] {
        assert_eq!(texts(db, &count(table)).await, [n], "{table}");
    }
}

async fn the_original_database_is_adopted(db: TestDatabase) {
    load_original(&db);
    exec(
        &db,
        &format!("UPDATE organizations SET settings = '{EDITED_SETTINGS}' WHERE slug = 'second'"),
    )
    .await;
    let s = start(&db);
    let logs = s.logs().join("\n");
    assert!(
        logs.contains("Original database adopted (3 connection secrets sealed)"),
        "{logs}"
    );
    use_the_original(&s, db.engine());
    let (status, _) = s.stop();
    assert!(status.success());
    assert_original_secrets_gone(&db);
    assert_rows_kept(&db).await;

    // A second start finds our history and adopts nothing; all still works
    // (passwords are argon2id now, keys stored as digests).
    let s = start(&db);
    let logs = s.logs().join("\n");
    assert!(!logs.contains("adopting"), "{logs}");
    assert!(logs.contains("Migrations up to date"), "{logs}");
    use_the_original(&s, db.engine());
    let (status, _) = s.stop();
    assert!(status.success());
    let hashes = texts(&db, "SELECT password_hash FROM users").await;
    assert_eq!(hashes.len(), 3, "{hashes:?}");
    assert!(
        hashes.iter().all(|h| h.starts_with("$argon2id$")),
        "{hashes:?}"
    );
    let keys = texts(&db, "SELECT key_hash FROM api_keys").await;
    assert!(keys.iter().all(|k| k.len() == 64), "{keys:?}");
}

on_both!(the_original_database_is_adopted);

async fn a_bad_value_stops_the_start(db: TestDatabase) {
    load_original(&db);
    let member = texts(
        &db,
        "SELECT CAST(id AS TEXT) FROM users WHERE username = 'member'",
    )
    .await
    .pop()
    .unwrap();
    exec(
        &db,
        "UPDATE users SET role = 'superuser' WHERE username = 'member'",
    )
    .await;
    let before = storage_checksum(&db);
    let out = run(&db.url(), &env(&db), &[]);
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "table users, id {member}, column role: `superuser` is not a role"
        )),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(storage_checksum(&db), before, "{}", db.engine());
}

/// A clear secret written into an adopted database (by hand, a restored
/// backup, an older tool) is sealed at the next start, and counted.
async fn clear_secrets_are_sealed_at_every_start(db: TestDatabase) {
    load_original(&db);
    let s = start(&db);
    let logs = s.logs().join("\n");
    assert!(logs.contains("Original database adopted"), "{logs}");
    let (status, _) = s.stop();
    assert!(status.success());
    let clear = r#"{"api_key": "sk-written-in-clear-7Qx9", "model": "m", "base_url": "http://127.0.0.1:9/v1", "timeout": 60, "verify_ssl": true}"#;
    exec(
        &db,
        &format!("UPDATE connections SET config = '{clear}' WHERE name = 'Second Org LLM'"),
    )
    .await;
    let s = start(&db);
    let logs = s.logs().join("\n");
    assert!(
        logs.contains("Connection secrets found in clear at start: 1 connections sealed"),
        "{logs}"
    );
    let (status, _) = s.stop();
    assert!(status.success());
    let configs = texts(&db, "SELECT CAST(config AS TEXT) FROM connections")
        .await
        .join("\n");
    assert!(!configs.contains("sk-written-in-clear-7Qx9"), "{configs}");
    if let Some(bytes) = sqlite_bytes(&db) {
        assert!(
            !bytes.windows(24).any(|w| w == b"sk-written-in-clear-7Qx9"),
            "the clear value is still in the file"
        );
    }
    // The next start finds none.
    let s = start(&db);
    let logs = s.logs().join("\n");
    assert!(
        logs.contains("Connection secrets found in clear at start: 0 connections sealed"),
        "{logs}"
    );
    let (status, _) = s.stop();
    assert!(status.success());
}

on_both!(
    a_bad_value_stops_the_start,
    clear_secrets_are_sealed_at_every_start
);
