//! Black-box tests: the real binary on a random port, against a fresh SQLite
//! file and a fresh PostgreSQL database.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::json;
use support::{Reply, Server, messages, on_both};

const TABLES: [&str; 6] = [
    "organizations",
    "users",
    "api_keys",
    "connections",
    "system_settings",
    "audit_logs",
];

// Health and liveness.

async fn health_and_backend_report_the_version(db: TestDatabase) {
    let server = Server::start(&db.url(), &[]);
    for path in ["/api/v1/system/health", "/api/v1/system/health/backend"] {
        let r = server.get(path);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(r.json()["status"], "healthy");
        assert_eq!(r.json()["version"], env!("CARGO_PKG_VERSION"));
    }
}

async fn database_health_reports_the_seeded_tables_migration_and_size(db: TestDatabase) {
    let server = Server::start(&db.url(), &[]);
    let r = server.get("/api/v1/system/health/database");
    assert_eq!(r.status, 200, "{r:?}");
    let h = r.json();
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["connected"], true);
    assert_eq!(h["database_type"], db.engine());
    assert!(h["message"].as_str().is_some_and(|m| !m.is_empty()));
    for table in TABLES {
        assert!(h["tables"][table].is_u64(), "{table} missing in {h}");
    }
    assert_eq!(
        h["tables"]["organizations"], 1,
        "seeded one organization: {h}"
    );
    assert_eq!(h["tables"]["users"], 1, "seeded one admin: {h}");
    assert_eq!(h["tables"]["audit_logs"], 1, "seeding is audited: {h}");
    assert!(
        h["migration_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("m2026")),
        "{h}"
    );
    assert!(
        h["database_size_mb"].as_f64().is_some_and(|s| s > 0.0),
        "{h}"
    );
    assert!(h["latency_ms"].as_f64().is_some_and(|l| l >= 0.0), "{h}");
    assert!(!h["database_url"].as_str().unwrap().contains('@'), "{h}");
    if let Some(path) = db.sqlite_path() {
        assert!(path.exists(), "the database file was created");
    }
}

async fn comprehensive_health_lists_only_real_components(db: TestDatabase) {
    let server = Server::start(&db.url(), &[]);
    let r = server.get("/api/v1/system/health/comprehensive");
    assert_eq!(r.status, 200);
    let c = r.json();
    assert_eq!(c["overall_status"], "healthy");
    assert!(c["timestamp"].as_str().is_some());
    assert_eq!(c["components"]["backend"]["status"], "healthy");
    assert_eq!(c["components"]["database"]["status"], "healthy");
    assert_eq!(c["components"]["database"]["database_type"], db.engine());
    assert_eq!(c["components"]["database"]["connected"], true);
    let components = c["components"].as_object().unwrap();
    assert_eq!(components.len(), 2, "only real components: {c}");
}

async fn livez_and_readyz_answer_when_all_is_well(db: TestDatabase) {
    let server = Server::start(&db.url(), &[]);
    assert_eq!(server.get("/livez").status, 200);
    let r = server.get("/readyz");
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("ready"))
    );
}

on_both!(
    health_and_backend_report_the_version,
    database_health_reports_the_seeded_tables_migration_and_size,
    comprehensive_health_lists_only_real_components,
    livez_and_readyz_answer_when_all_is_well,
);

// The organization.

async fn the_caller_sees_its_organization_and_no_other(db: TestDatabase) {
    let server = Server::start(&db.url(), &[]);
    let r = server.get("/api/v1/organizations/me");
    assert_eq!(r.status, 200, "{r:?}");
    let org = r.json();
    assert_eq!(org["slug"], "default");
    assert_eq!(org["name"], "Default Organization");
    assert_eq!(org["display_name"], "Default Organization");
    assert_eq!(org["is_active"], true);
    // Seeded at first start with the original's organization settings.
    assert_eq!(
        org["settings"],
        json!({"quality_thresholds": {"conversion": 70, "clarity": 7, "completeness": 7,
               "relevance": 7, "markdown": 7}, "auto_optimize": false})
    );
    assert!(org["created_by"].is_string(), "the admin created it: {org}");
    for field in ["id", "created_at", "updated_at"] {
        assert!(org[field].is_string(), "{field} in {org}");
    }
    let id = org["id"].as_str().unwrap();
    let r = server.get(&format!("/api/v1/organizations/{id}"));
    assert_eq!((r.status, r.json()["id"].clone()), (200, json!(id)));
    // Someone else's (or no) organization: the same 404 either way.
    let r = server.get("/api/v1/organizations/0195d3a0-0000-7000-8000-000000000000");
    assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"));
}

async fn an_organization_change_is_written_with_its_audit_entry(db: TestDatabase) {
    let server = Server::start(&db.url(), &[]);
    let org = server.get("/api/v1/organizations/me").json();
    let id = org["id"].as_str().unwrap();
    let r = server.send(
        "PATCH",
        "/api/v1/organizations/me",
        "application/json",
        br#"{"display_name":"  Acme Research  ","settings":{"theme":"dark","limits":[1,2]}}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["display_name"], "Acme Research");
    assert_eq!(r.json()["settings"], json!({"theme":"dark","limits":[1,2]}));
    let me = server.get("/api/v1/organizations/me").json();
    assert_eq!(me["settings"]["theme"], "dark");
    assert_ne!(me["updated_at"], org["updated_at"]);
    let r = server.get("/api/v1/audit-logs?action=update_organization&limit=10");
    assert_eq!(r.status, 200, "{r:?}");
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["entity_id"], json!(id));
    assert_eq!(
        items[0]["details"]["fields"],
        json!(["display_name", "settings"])
    );
    assert_eq!(items[0]["status"], "success");
}

on_both!(
    the_caller_sees_its_organization_and_no_other,
    an_organization_change_is_written_with_its_audit_entry,
);

// Start-up and shutdown.

async fn start_up_and_shutdown_are_logged_in_order(db: TestDatabase) {
    let server = Server::start(&db.url(), &[]);
    let (status, logs) = server.stop();
    assert!(status.success(), "SIGTERM exits 0: {status}");
    let said = messages(&logs);
    for expected in [
        "Initializing database...",
        &format!("Database connected ({})", db.engine()),
        "Database tables initialized",
        "Authentication: disabled (backward compatibility mode)",
        "Database connections closed",
    ] {
        assert!(
            said.iter().any(|m| m == expected),
            "no {expected:?} in {said:#?}"
        );
    }
    let order: Vec<usize> = [
        "Initializing database...",
        "Database tables initialized",
        "Listening on",
        "SIGTERM received",
        "Database connections closed",
    ]
    .iter()
    .map(|p| {
        said.iter()
            .position(|m| m.starts_with(p))
            .unwrap_or_else(|| panic!("{p} not logged"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "start-up/shutdown order: {said:#?}"
    );
}

async fn restart_seeds_nothing_twice(db: TestDatabase) {
    let first = Server::start(&db.url(), &[]);
    let org = first.get("/api/v1/organizations/me").json();
    let (status, logs) = first.stop();
    assert!(status.success());
    assert!(
        messages(&logs).iter().any(|m| m.starts_with(
            "Default organization 'Default Organization' (default) and admin 'admin' created"
        )),
        "{logs:#?}"
    );

    let second = Server::start(&db.url(), &[]);
    let h = second.get("/api/v1/system/health/database").json();
    assert_eq!(h["tables"]["organizations"], 1, "{h}");
    assert_eq!(h["tables"]["users"], 1, "{h}");
    assert_eq!(
        second.get("/api/v1/organizations/me").json()["id"],
        org["id"]
    );
    let (status, logs) = second.stop();
    assert!(status.success());
    let said = messages(&logs);
    assert!(
        said.iter().any(|m| m == "Migrations up to date"),
        "{said:#?}"
    );
    assert!(
        said.iter()
            .any(|m| m == "Default organization present; nothing to seed"),
        "{said:#?}"
    );

    // The explicit seed command is idempotent too.
    let out = support::run(&db.url(), &[], &["seed"]);
    assert!(out.status.success(), "{out:?}");
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("nothing to seed"), "{out}");
}

on_both!(
    start_up_and_shutdown_are_logged_in_order,
    restart_seeds_nothing_twice,
);

// Errors.

/// Each reply has the status and code given, in the JSON error shape, with
/// a request id and no SQL.
fn assert_json_errors(cases: Vec<(Reply, u16, &str)>) {
    for (reply, status, code) in cases {
        assert_eq!(reply.status, status, "{reply:?}");
        assert_eq!(reply.error_code(), code, "{reply:?}");
        assert!(reply.header("x-request-id").is_some(), "{reply:?}");
        assert!(
            !reply.body.to_lowercase().contains("select "),
            "no SQL in errors: {reply:?}"
        );
    }
}

async fn unknown_routes_and_methods_are_json_errors(db: TestDatabase) {
    let server = Server::start(&db.url(), &[]);
    assert_json_errors(vec![
        (server.get("/no/such/route"), 404, "not_found"),
        (
            server.send("POST", "/api/v1/system/health", "application/json", b"{}"),
            405,
            "method_not_allowed",
        ),
        (
            server.send(
                "DELETE",
                "/api/v1/organizations/me",
                "application/json",
                b"",
            ),
            405,
            "method_not_allowed",
        ),
    ]);
}

async fn bad_path_and_query_parameters_are_json_errors(db: TestDatabase) {
    let server = Server::start(&db.url(), &[]);
    assert_json_errors(vec![
        (
            server.get("/api/v1/organizations/not-a-uuid"),
            400,
            "invalid_path_parameter",
        ),
        (
            server.get("/api/v1/audit-logs?limit=abc"),
            400,
            "invalid_query_parameter",
        ),
        (
            server.get("/api/v1/audit-logs?limit=0"),
            400,
            "invalid_query_parameter",
        ),
        (
            server.get("/api/v1/audit-logs?limit=1001"),
            400,
            "invalid_query_parameter",
        ),
        (
            server.get("/api/v1/audit-logs?unknown=1"),
            400,
            "invalid_query_parameter",
        ),
    ]);
}

async fn bad_bodies_are_json_errors_and_change_nothing(db: TestDatabase) {
    let server = Server::start(&db.url(), &[]);
    let patch = |content_type: &str, body: &[u8]| {
        server.send("PATCH", "/api/v1/organizations/me", content_type, body)
    };
    assert_json_errors(vec![
        (
            patch("application/json", b"{\"display_name\": "),
            400,
            "invalid_json",
        ),
        (
            patch("application/json", br#"{"is_active": false}"#),
            400,
            "invalid_body",
        ),
        (
            patch("application/json", br#"{"display_name": 7}"#),
            400,
            "invalid_body",
        ),
        (
            patch("application/json", br#"{"display_name": "   "}"#),
            400,
            "validation_failed",
        ),
        (
            patch("application/json", br#"{"settings": [1]}"#),
            400,
            "validation_failed",
        ),
        (patch("text/plain", b"{}"), 415, "unsupported_media_type"),
        (
            patch(
                "application/json",
                format!(r#"{{"display_name":"{}"}}"#, "x".repeat(300 * 1024)).as_bytes(),
            ),
            413,
            "payload_too_large",
        ),
    ]);
    // Rejected writes changed nothing.
    let me = server.get("/api/v1/organizations/me").json();
    assert_eq!(me["display_name"], "Default Organization");
    assert_eq!(me["is_active"], true);
}

async fn request_ids_are_echoed_and_logged_or_made_up(db: TestDatabase) {
    let mut server = Server::start(&db.url(), &[]);
    let r = server.get_with(
        "/api/v1/system/health",
        &[("x-request-id", "trace-abc-123")],
    );
    assert_eq!(r.header("x-request-id"), Some("trace-abc-123"));
    let generated = server.get("/api/v1/system/health");
    let id = generated.header("x-request-id").unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let bad = server.get_with("/livez", &[("x-request-id", &"z".repeat(500))]);
    assert_ne!(bad.header("x-request-id"), Some("z".repeat(500).as_str()));
    server.wait_until(
        std::time::Duration::from_secs(5),
        "the access log line of trace-abc-123",
        |lines| {
            lines
                .iter()
                .any(|l| l.contains("trace-abc-123") && l.contains("request served"))
        },
    );
}

on_both!(
    unknown_routes_and_methods_are_json_errors,
    bad_path_and_query_parameters_are_json_errors,
    bad_bodies_are_json_errors_and_change_nothing,
    request_ids_are_echoed_and_logged_or_made_up,
);

#[tokio::test]
async fn postgres_outage_fails_fast_and_recovers_without_restart() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let server = Server::start(&db.url(), &[]);
    assert_eq!(server.get("/api/v1/organizations/me").status, 200);

    db.begin_outage().await;
    let started = std::time::Instant::now();
    let r = server.get("/api/v1/system/health/database");
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.json()["status"], "unhealthy");
    assert_eq!(r.json()["connected"], false);
    assert!(r.json()["message"].as_str().is_some_and(|m| !m.is_empty()));
    let r = server.get("/api/v1/organizations/me");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (503, "database_unavailable")
    );
    assert!(r.header("retry-after").is_some(), "{r:?}");
    assert_eq!(server.get("/readyz").status, 503);
    assert_eq!(
        server.get("/livez").status,
        200,
        "liveness never needs the database"
    );
    let c = server.get("/api/v1/system/health/comprehensive");
    assert_eq!(c.json()["overall_status"], "degraded");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(12),
        "the outage answers are bounded: {:?}",
        started.elapsed()
    );

    db.end_outage().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let r = server.get("/api/v1/organizations/me");
        if r.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no recovery: {r:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(server.get("/api/v1/system/health/database").status, 200);
    assert_eq!(server.get("/readyz").status, 200);
    let (status, _) = server.stop();
    assert!(status.success());
}

#[tokio::test]
async fn unreachable_database_at_start_retries_then_exits() {
    let started = std::time::Instant::now();
    let out = support::run(
        "postgres://curatore:hunter2@127.0.0.1:1/nowhere",
        &[
            ("DB_STARTUP_RETRY_SECONDS", "4"),
            ("DB_CONNECT_TIMEOUT_SECONDS", "1"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("could not reach the database"), "{stderr}");
    assert!(stderr.contains("DB_STARTUP_RETRY_SECONDS"), "{stderr}");
    assert!(
        stdout.matches("Database not reachable yet").count() >= 2,
        "each try is logged: {stdout}"
    );
    assert!(
        !stdout.contains("hunter2") && !stderr.contains("hunter2"),
        "no password in output"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[tokio::test]
async fn bad_configuration_is_refused_with_the_variable_named() {
    let db = TestDatabase::sqlite();
    for (env, variable) in [
        (vec![("DB_POOL_SIZE", "abc")], "DB_POOL_SIZE"),
        (vec![("ENABLE_AUTH", "maybe")], "ENABLE_AUTH"),
        (vec![("DATABASE_URL", "mysql://u:pw@h/db")], "DATABASE_URL"),
        (vec![("ENABLE_AUTH", "true")], "JWT_SECRET_KEY"),
        (
            vec![("ENABLE_AUTH", "true"), ("JWT_SECRET_KEY", "short")],
            "JWT_SECRET_KEY",
        ),
        (vec![("LOG_LEVEL", "loud=,=")], "LOG_LEVEL"),
    ] {
        let out = support::run(&db.url(), &env, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {stderr}");
        assert!(stderr.contains(variable), "{env:?}: {stderr}");
        assert!(!stderr.contains(":pw@"), "{stderr}");
    }
}

#[tokio::test]
async fn unknown_default_org_id_is_refused() {
    let db = TestDatabase::sqlite();
    let out = support::run(
        &db.url(),
        &[("DEFAULT_ORG_ID", "0195d3a0-0000-7000-8000-000000000000")],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("DEFAULT_ORG_ID"), "{stderr}");
}

#[tokio::test]
async fn pending_migrations_without_auto_migrate_are_refused() {
    let db = TestDatabase::sqlite();
    let out = support::run(&db.url(), &[("AUTO_MIGRATE", "false")], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("AUTO_MIGRATE=false"), "{stderr}");
    assert!(
        stderr.contains("m20260112_000001"),
        "names the pending migrations: {stderr}"
    );
}

#[tokio::test]
async fn auth_enabled_replaces_the_placeholder_admin_password() {
    let db = TestDatabase::sqlite();
    let server = Server::start(
        &db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", "k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye-extra"),
        ],
    );
    let (status, logs) = server.stop();
    assert!(status.success());
    let said = messages(&logs);
    assert!(
        said.iter().any(|m| m == "Authentication: enabled"),
        "{said:#?}"
    );
    let line = said
        .iter()
        .find(|m| m.contains("generated admin password (shown once): "))
        .unwrap_or_else(|| panic!("{said:#?}"));
    let password = line.rsplit(": ").next().unwrap();
    assert_eq!(password.len(), 24);
    assert_ne!(password, "changeme");
    // The stored hash is argon2id, never the password itself.
    let conn = sqlx::SqlitePool::connect(&db.url()).await.unwrap();
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&conn)
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(password));
}

#[tokio::test]
async fn config_command_shows_sources_and_hides_secrets() {
    let db = TestDatabase::sqlite();
    let out = support::run(
        "postgresql+asyncpg://curatore:hunter2@db.internal:5432/curatore",
        &[
            ("JWT_SECRET_KEY", "a-very-secret-value-that-is-long-enough"),
            ("ADMIN_PASSWORD", "s3cret-admin"),
        ],
        &["config"],
    );
    drop(db);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    for hidden in ["hunter2", "a-very-secret-value", "s3cret-admin"] {
        assert!(!stdout.contains(hidden), "{hidden} leaked: {stdout}");
    }
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing: {stdout}"))
            .to_owned()
    };
    assert!(line("DATABASE_URL").contains("db.internal"), "{stdout}");
    assert!(line("DATABASE_URL").contains("environment"), "{stdout}");
    assert!(line("JWT_SECRET_KEY").contains("[REDACTED]"), "{stdout}");
    assert!(line("PORT").contains("environment"), "{stdout}");
    assert!(
        line("DB_POOL_RECYCLE").contains("3600") && line("DB_POOL_RECYCLE").contains("default"),
        "{stdout}"
    );
}

#[tokio::test]
async fn help_documents_the_subcommands() {
    let out = support::run("sqlite::memory:", &[], &["--help"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for word in ["serve", "seed", "config"] {
        assert!(stdout.contains(word), "{stdout}");
    }
}
