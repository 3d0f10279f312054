//! Connections, black-box on both engines, against a stub of the outside
//! services on 127.0.0.1 (an OpenAI-like `/chat/completions`, an extraction
//! service's health, a Microsoft token endpoint and Graph): healthy,
//! unauthorised, slow and garbage answers; secrets encrypted at rest and
//! redacted everywhere; one default per type under concurrent requests;
//! another organization's connections answer 404.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;
use support::{Server, on_both};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";
/// base64 of 32 bytes.
const KEY: &str = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

const GOOD_KEY: &str = "sk-good-7f3a9c1e5b2d";
const BAD_KEY: &str = "sk-wrong-4e8b2a6c0d1f";
const EXTRACTION_KEY: &str = "ex-key-91c3e7a5b0d2";
const CLIENT_SECRET: &str = "ms-secret-5d1f9b3e7a0c";
const REDACTED: &str = "***REDACTED***";

/// A stub of the outside services; answers one request per connection.
fn stub() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    base
}

fn answer(mut stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or_default();
        let (name, value) = (name.trim().to_lowercase(), value.trim().to_owned());
        if name == "content-length" {
            length = value.parse().unwrap_or(0);
        }
        headers.push((name, value));
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (status, reply) = match (method.as_str(), path.as_str()) {
        ("POST", "/llm/chat/completions") => {
            let auth = header("authorization");
            let sent: Value = serde_json::from_slice(&body).unwrap_or_default();
            if auth == format!("Bearer {GOOD_KEY}") && sent["max_tokens"] == 5 {
                (
                    200,
                    json!({"choices": [{"message": {"content": "OK"}}]}).to_string(),
                )
            } else {
                // Echoes the key back, as some upstreams do.
                (
                    401,
                    json!({"error": format!("invalid api key: {auth}")}).to_string(),
                )
            }
        }
        ("POST", "/slow/chat/completions") => {
            std::thread::sleep(Duration::from_secs(4));
            (200, "{}".to_owned())
        }
        ("POST", "/garbage/chat/completions") => (200, "<html>surprise</html>".to_owned()),
        ("GET", "/api/v1/system/health") => {
            if header("x-api-key") == EXTRACTION_KEY {
                (200, json!({"status": "healthy"}).to_string())
            } else {
                (401, json!({"detail": "bad key"}).to_string())
            }
        }
        ("POST", "/tenant-1/oauth2/v2.0/token") => {
            let form = String::from_utf8_lossy(&body).to_string();
            if form.contains("client_secret=ms-secret-5d1f9b3e7a0c")
                && form.contains("grant_type=client_credentials")
            {
                (
                    200,
                    json!({"access_token": "graph-token-abc123"}).to_string(),
                )
            } else {
                (401, json!({"error": "invalid_client"}).to_string())
            }
        }
        ("GET", "/graph/sites/root") if header("authorization") == "Bearer graph-token-abc123" => {
            (200, json!({"id": "root"}).to_string())
        }
        _ => (404, "{}".to_owned()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    );
}

fn start(db: &TestDatabase, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("ENABLE_AUTH", "true"),
        ("JWT_SECRET_KEY", SECRET),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("AUTH_CACHE_SECONDS", "0"),
        ("LOGIN_MAX_FAILURES_PER_IP", "1000"),
    ];
    // SQLite makes its own key file; PostgreSQL with auth needs one given.
    if db.engine() == "postgresql" {
        env.push(("SECRETS_ENCRYPTION_KEY", KEY));
    } else {
        env.push(("SECRETS_ENCRYPTION_KEY", ""));
    }
    env.extend_from_slice(extra);
    Server::start(&db.url(), &env)
}

fn login(s: &Server, who: &str, password: &str) -> String {
    let r = s.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": who, "password": password})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    format!("Bearer {}", r.json()["access_token"].as_str().unwrap())
}

fn create(s: &Server, auth: &str, body: Value) -> Value {
    let r = s.call(
        "POST",
        "/api/v1/connections",
        &[("authorization", auth)],
        Some(&body),
    );
    assert_eq!(r.status, 201, "{body}: {r:?}");
    r.json()
}

/// Every row of the tables that could hold a secret, as text.
async fn database_text(db: &TestDatabase) -> String {
    if let Some(path) = db.sqlite_path() {
        let mut all = Vec::new();
        for suffix in ["", "-wal"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            if let Ok(bytes) = std::fs::read(&p) {
                all.extend(bytes);
            }
        }
        return String::from_utf8_lossy(&all).into_owned();
    }
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
    let mut text = String::new();
    for table in [
        "connections",
        "audit_logs",
        "organizations",
        "users",
        "api_keys",
        "system_settings",
    ] {
        let row: (Option<String>,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT string_agg(t::text, ' ') FROM {table} t"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        text.push_str(&row.0.unwrap_or_default());
    }
    text
}

async fn the_three_types_work_against_the_stub_and_secrets_stay_secret(db: TestDatabase) {
    let base = stub();
    let s = start(&db, &[]);
    let auth = login(&s, "admin", ADMIN_PASSWORD);
    let h = [("authorization", auth.as_str())];

    let types = s.call("GET", "/api/v1/connections/types", &h, None).json();
    let names: Vec<&str> = types["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["extraction", "llm", "sharepoint"]);
    for t in types["types"].as_array().unwrap() {
        assert_eq!(t["schema"], t["config_schema"]);
        assert!(t["example_config"].is_object());
    }

    let llm = create(
        &s,
        &auth,
        json!({"name": "LLM", "connection_type": "llm", "is_default": true,
               "config": {"api_key": GOOD_KEY, "model": "m", "base_url": format!("{base}/llm")}}),
    );
    assert_eq!(llm["test_status"], "healthy", "{llm}");
    assert_eq!(llm["health_status"], "healthy");
    assert_eq!(llm["config"]["api_key"], REDACTED);
    assert_eq!(llm["config"]["timeout"], 60, "defaults filled");
    assert_eq!(llm["is_default"], true);
    assert_eq!(llm["is_managed"], false);

    // A wrong key: saved all the same, reported unhealthy, and the key the
    // stub echoed back is scrubbed from the result.
    let wrong = create(
        &s,
        &auth,
        json!({"name": "Wrong", "connection_type": "llm",
               "config": {"api_key": BAD_KEY, "model": "m", "base_url": format!("{base}/llm")}}),
    );
    assert_eq!(wrong["test_status"], "unhealthy", "{wrong}");
    assert!(
        wrong["test"]["message"].as_str().unwrap().contains("401"),
        "{wrong}"
    );
    assert!(!wrong.to_string().contains(BAD_KEY), "{wrong}");

    let slow = create(
        &s,
        &auth,
        json!({"name": "Slow", "connection_type": "llm",
               "config": {"api_key": GOOD_KEY, "model": "m", "base_url": format!("{base}/slow"), "timeout": 1}}),
    );
    assert_eq!(slow["test_status"], "unhealthy");
    assert!(
        slow["test"]["message"]
            .as_str()
            .unwrap()
            .contains("in time"),
        "{slow}"
    );
    let garbage = create(
        &s,
        &auth,
        json!({"name": "Garbage", "connection_type": "llm",
               "config": {"api_key": GOOD_KEY, "model": "m", "base_url": format!("{base}/garbage")}}),
    );
    assert_eq!(garbage["test_status"], "unhealthy", "{garbage}");

    let extraction = create(
        &s,
        &auth,
        json!({"name": "Extraction", "connection_type": "extraction",
               "config": {"service_url": base, "api_key": EXTRACTION_KEY}}),
    );
    assert_eq!(extraction["test_status"], "healthy", "{extraction}");
    let sharepoint = create(
        &s,
        &auth,
        json!({"name": "SharePoint", "connection_type": "sharepoint",
               "config": {"tenant_id": "tenant-1", "client_id": "c", "client_secret": CLIENT_SECRET,
                          "authority_url": base, "graph_base_url": format!("{base}/graph")}}),
    );
    assert_eq!(sharepoint["test_status"], "healthy", "{sharepoint}");
    assert!(!sharepoint.to_string().contains("graph-token-abc123"));

    // Not tested when asked not to; absent secrets stay absent.
    let untested = create(
        &s,
        &auth,
        json!({"name": "Quiet", "connection_type": "extraction", "test_on_save": false,
               "config": {"service_url": base}}),
    );
    assert_eq!(untested["test_status"], "not_tested");
    assert_eq!(untested["health_status"], "unknown");
    assert!(untested["config"].get("api_key").is_none(), "{untested}");

    // Bad input names the field.
    let r = s.call(
        "POST",
        "/api/v1/connections",
        &h,
        Some(&json!({"name": "x", "connection_type": "nope", "config": {}})),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "validation_failed")
    );
    let r = s.call(
        "POST",
        "/api/v1/connections",
        &h,
        Some(&json!({"name": "x", "connection_type": "llm",
                     "config": {"api_key": "k", "model": "m", "base_url": base, "timeout": 0}})),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("config.timeout"),
        "{r:?}"
    );

    // A form echoing the GET back keeps the stored secret: the test still passes.
    let id = llm["id"].as_str().unwrap();
    let got = s
        .call("GET", &format!("/api/v1/connections/{id}"), &h, None)
        .json();
    let r = s.call(
        "PUT",
        &format!("/api/v1/connections/{id}"),
        &h,
        Some(&json!({"name": "LLM renamed", "config": got["config"]})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["config"]["api_key"], REDACTED);
    let tested = s.call("POST", &format!("/api/v1/connections/{id}/test"), &h, None);
    assert_eq!(tested.status, 200, "{tested:?}");
    assert_eq!(tested.json()["status"], "healthy", "{tested:?}");
    assert_eq!(tested.json()["connection_id"], id);
    let r = s.call(
        "PUT",
        &format!("/api/v1/connections/{id}"),
        &h,
        Some(&json!({"connection_type": "extraction"})),
    );
    assert_eq!(r.status, 400, "type is immutable");

    // The default moves; is_default:false clears it.
    let wrong_id = wrong["id"].as_str().unwrap();
    let r = s.call(
        "POST",
        &format!("/api/v1/connections/{wrong_id}/set-default"),
        &h,
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let defaults = s
        .call(
            "GET",
            "/api/v1/connections?connection_type=llm&is_default=true",
            &h,
            None,
        )
        .json();
    assert_eq!(defaults["total"], 1);
    assert_eq!(defaults["connections"][0]["id"], wrong_id);
    let r = s.call(
        "PUT",
        &format!("/api/v1/connections/{wrong_id}"),
        &h,
        Some(&json!({"is_default": false})),
    );
    assert_eq!(r.json()["is_default"], false);
    let defaults = s
        .call(
            "GET",
            "/api/v1/connections?connection_type=llm&is_default=true",
            &h,
            None,
        )
        .json();
    assert_eq!(defaults["total"], 0);

    let page = s
        .call("GET", "/api/v1/connections?skip=1&limit=2", &h, None)
        .json();
    assert_eq!(page["total"], 7);
    assert_eq!(page["connections"].as_array().unwrap().len(), 2);

    let r = s.call(
        "DELETE",
        &format!("/api/v1/connections/{wrong_id}"),
        &h,
        None,
    );
    assert_eq!(r.status, 204);
    let r = s.call("GET", &format!("/api/v1/connections/{wrong_id}"), &h, None);
    assert_eq!(r.status, 404);

    // Nothing secret anywhere: database (any table), audit entries, logs.
    let stored = database_text(&db).await;
    assert!(stored.contains("v1:k1:"), "sealed secrets are stored");
    let audit = s.call("GET", "/api/v1/audit-logs?limit=200", &h, None);
    let logs = s.logs().join("\n");
    for secret in [
        GOOD_KEY,
        BAD_KEY,
        EXTRACTION_KEY,
        CLIENT_SECRET,
        "graph-token-abc123",
    ] {
        assert!(!stored.contains(secret), "{secret} found in the database");
        assert!(
            !audit.body.contains(secret),
            "{secret} found in the audit trail"
        );
        assert!(!logs.contains(secret), "{secret} found in the logs");
    }
    assert!(audit.body.contains("create_connection"), "{}", audit.body);
}

on_both!(the_three_types_work_against_the_stub_and_secrets_stay_secret);

async fn one_default_per_type_under_concurrent_requests(db: TestDatabase) {
    let s = start(&db, &[("AUTO_TEST_CONNECTIONS", "false")]);
    let auth = login(&s, "admin", ADMIN_PASSWORD);
    let ids: Vec<String> = (0..8)
        .map(|i| {
            create(
                &s,
                &auth,
                json!({"name": format!("E{i}"), "connection_type": "extraction", "is_default": i % 2 == 0,
                       "config": {"service_url": "http://127.0.0.1:9"}}),
            )["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    std::thread::scope(|scope| {
        for id in &ids {
            let (s, auth) = (&s, &auth);
            scope.spawn(move || {
                for _ in 0..3 {
                    let r = s.call(
                        "POST",
                        &format!("/api/v1/connections/{id}/set-default"),
                        &[("authorization", auth)],
                        None,
                    );
                    assert_eq!(r.status, 200, "{r:?}");
                }
            });
        }
    });
    let list = s
        .call(
            "GET",
            "/api/v1/connections?connection_type=extraction&is_default=true",
            &[("authorization", &auth)],
            None,
        )
        .json();
    assert_eq!(list["total"], 1, "{list}");
}

on_both!(one_default_per_type_under_concurrent_requests);

async fn another_organizations_connections_are_not_there(db: TestDatabase) {
    let s = start(&db, &[("AUTO_TEST_CONNECTIONS", "false")]);
    let root = login(&s, "admin", ADMIN_PASSWORD);
    let r = s.call(
        "POST",
        "/api/v1/organizations",
        &[("authorization", &root)],
        Some(&json!({"name": "Beta", "slug": "beta", "admin": {
            "email": "boss@beta.example", "username": "boss", "password": "a-long-beta-password"}})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let beta = login(&s, "boss", "a-long-beta-password");
    let theirs = create(
        &s,
        &beta,
        json!({"name": "Theirs", "connection_type": "extraction", "config": {"service_url": "http://127.0.0.1:9"}}),
    );
    let id = theirs["id"].as_str().unwrap();
    let h = [("authorization", root.as_str())];
    for (method, path) in [
        ("GET", format!("/api/v1/connections/{id}")),
        ("PUT", format!("/api/v1/connections/{id}")),
        ("DELETE", format!("/api/v1/connections/{id}")),
        ("POST", format!("/api/v1/connections/{id}/test")),
        ("POST", format!("/api/v1/connections/{id}/set-default")),
    ] {
        let body = (method == "PUT").then(|| json!({"name": "mine now"}));
        let r = s.call(method, &path, &h, body.as_ref());
        assert_eq!(r.status, 404, "{method} {path}: {r:?}");
    }
    let list = s.call("GET", "/api/v1/connections", &h, None).json();
    assert_eq!(list["total"], 0, "{list}");
}

on_both!(another_organizations_connections_are_not_there);

async fn the_environment_becomes_managed_connections(db: TestDatabase) {
    let base = stub();
    let key = KEY.to_owned();
    let s = start(
        &db,
        &[
            ("SECRETS_ENCRYPTION_KEY", key.as_str()),
            ("OPENAI_API_KEY", GOOD_KEY),
            ("OPENAI_BASE_URL", &format!("{base}/llm")),
            ("EXTRACTION_SERVICE_URL", &base),
        ],
    );
    let auth = login(&s, "admin", ADMIN_PASSWORD);
    let h = [("authorization", auth.as_str())];
    let list = s.call("GET", "/api/v1/connections", &h, None).json();
    assert_eq!(list["total"], 2, "{list}");
    let llm = list["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["connection_type"] == "llm")
        .unwrap()
        .clone();
    assert_eq!(llm["name"], "Default LLM");
    assert_eq!(llm["is_managed"], true);
    assert_eq!(llm["is_default"], true);
    assert!(
        llm["managed_by"]
            .as_str()
            .unwrap()
            .contains("OPENAI_API_KEY")
    );
    let id = llm["id"].as_str().unwrap();
    for (method, body) in [("PUT", Some(json!({"name": "x"}))), ("DELETE", None)] {
        let r = s.call(
            method,
            &format!("/api/v1/connections/{id}"),
            &h,
            body.as_ref(),
        );
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (403, "managed_connection"),
            "{r:?}"
        );
        assert!(r.body.contains("environment"), "{r:?}");
    }
    let tested = s.call("POST", &format!("/api/v1/connections/{id}/test"), &h, None);
    assert_eq!(tested.json()["status"], "healthy", "{tested:?}");
    let logs = s.logs().join("\n");
    assert!(logs.contains("llm: created"), "{logs}");
    assert!(logs.contains("sharepoint: skipped"), "{logs}");
    drop(s);

    // The OpenAI variables disappear: the managed connection is deactivated;
    // the extraction one is unchanged.
    let s = start(
        &db,
        &[
            ("SECRETS_ENCRYPTION_KEY", key.as_str()),
            ("EXTRACTION_SERVICE_URL", &base),
        ],
    );
    let logs = s.logs().join("\n");
    assert!(logs.contains("llm: deactivated"), "{logs}");
    assert!(logs.contains("extraction: unchanged"), "{logs}");
    let auth = login(&s, "admin", ADMIN_PASSWORD);
    let got = s
        .call(
            "GET",
            &format!("/api/v1/connections/{id}"),
            &[("authorization", &auth)],
            None,
        )
        .json();
    assert_eq!(got["is_active"], false, "{got}");
}

on_both!(the_environment_becomes_managed_connections);

#[test]
fn postgresql_with_auth_and_no_key_refuses_to_start() {
    let out = support::run(
        "postgres://nobody@127.0.0.1:1/none",
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("SECRETS_ENCRYPTION_KEY", ""),
        ],
        &["serve"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SECRETS_ENCRYPTION_KEY"), "{stderr}");
}

/// Tests wait on the network with no transaction open and no SQLite write
/// turn held: with 20 tests stuck on a slow service (4 s each), logins (which
/// write a refresh token and an audit entry) still commit at once.
async fn slow_tests_in_flight_never_hold_up_writes(db: TestDatabase) {
    let base = stub();
    let s = start(&db, &[]);
    let auth = login(&s, "admin", ADMIN_PASSWORD);
    let ids: Vec<String> = (0..20)
        .map(|i| {
            create(
                &s,
                &auth,
                json!({"name": format!("Slow {i}"), "connection_type": "llm", "test_on_save": false,
                       "config": {"api_key": GOOD_KEY, "model": "m", "base_url": format!("{base}/slow"), "timeout": 10}}),
            )["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        let testers: Vec<_> = ids
            .iter()
            .map(|id| {
                let (s, auth) = (&s, &auth);
                scope.spawn(move || {
                    s.call(
                        "POST",
                        &format!("/api/v1/connections/{id}/test"),
                        &[("authorization", auth)],
                        None,
                    )
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        let mut slowest = Duration::ZERO;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            login(&s, "admin", ADMIN_PASSWORD);
            slowest = slowest.max(t.elapsed());
        }
        // Every login finished while the tests were still waiting.
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        assert!(slowest < Duration::from_secs(2), "a login took {slowest:?}");
        eprintln!("20 slow tests in flight; slowest of 5 logins: {slowest:?}");
        for t in testers {
            let r = t.join().unwrap();
            assert_eq!(r.status, 200, "{r:?}");
            assert_eq!(r.json()["status"], "unhealthy", "{r:?}");
        }
    });
    assert!(started.elapsed() >= Duration::from_secs(4));
}

on_both!(slow_tests_in_flight_never_hold_up_writes);

/// `secrets rotate` re-encrypts every secret under the first key, so the old
/// key can then be dropped; a key that does not match is a clear error.
async fn secrets_rotate_moves_every_secret_to_the_new_key(db: TestDatabase) {
    const OLD: &str = "old:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const NEW: &str = "new:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
    const IMPOSTOR: &str = "new:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let base = stub();
    let s = start(&db, &[("SECRETS_ENCRYPTION_KEY", OLD)]);
    let auth = login(&s, "admin", ADMIN_PASSWORD);
    let mut ids = Vec::new();
    for i in 0..5 {
        let c = create(
            &s,
            &auth,
            json!({"name": format!("E{i}"), "connection_type": "extraction", "test_on_save": false,
                   "config": {"service_url": base, "api_key": EXTRACTION_KEY}}),
        );
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    drop(s);
    assert!(database_text(&db).await.contains("v1:old:"));

    let both = format!("{NEW},{OLD}");
    let out = support::run(
        &db.url(),
        &[("SECRETS_ENCRYPTION_KEY", both.as_str())],
        &["secrets", "rotate", "--batch-size", "2"],
    );
    assert!(out.status.success(), "{out:?}");
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(logs.contains("5 connections re-encrypted"), "{logs}");
    let stored = database_text(&db).await;
    assert!(stored.contains("v1:new:") && !stored.contains("v1:old:"));

    // Only the new key now: the secrets still work.
    let s = start(&db, &[("SECRETS_ENCRYPTION_KEY", NEW)]);
    let auth = login(&s, "admin", ADMIN_PASSWORD);
    let h = [("authorization", auth.as_str())];
    let r = s.call(
        "POST",
        &format!("/api/v1/connections/{}/test", ids[0]),
        &h,
        None,
    );
    assert_eq!(r.json()["status"], "healthy", "{r:?}");
    drop(s);

    // Another key under the same id: an error naming the key, not garbage.
    let s = start(&db, &[("SECRETS_ENCRYPTION_KEY", IMPOSTOR)]);
    let auth = login(&s, "admin", ADMIN_PASSWORD);
    let r = s.call(
        "POST",
        &format!("/api/v1/connections/{}/test", ids[0]),
        &[("authorization", auth.as_str())],
        None,
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (500, "secret_decryption_failed"),
        "{r:?}"
    );
    assert!(r.body.contains("does not decrypt with key `new`"), "{r:?}");
}

on_both!(secrets_rotate_moves_every_secret_to_the_new_key);

/// A listener that counts the requests it gets and answers each as a model
/// would: where a connection test went is where the count goes up.
fn counting_listener() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some((name, value)) = h.split_once(':')
                    && name.trim().eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let reply = json!({"choices": [{"message": {"content": "OK"}}]}).to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (address, hits)
}

/// `HTTP_PROXY` and its kin in the server's environment do not carry
/// connection tests (a proxy resolves the name again, past the address
/// guard); `CONNECTIONS_TEST_PROXY` does, when an operator asks for it.
async fn proxy_variables_are_ignored_unless_configured(db: TestDatabase) {
    use std::sync::atomic::Ordering;
    let (target, target_hits) = counting_listener();
    let (proxy, proxy_hits) = counting_listener();
    let proxy_url = format!("http://{proxy}");
    let mut env: Vec<(&str, &str)> = [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .into_iter()
    .map(|name| (name, proxy_url.as_str()))
    .collect();
    let body = json!({"name": "LLM", "connection_type": "llm", "test_on_save": true,
        "config": {"api_key": GOOD_KEY, "model": "m", "base_url": format!("http://{target}/v1")}});

    let s = start(&db, &env);
    let auth = login(&s, "admin", ADMIN_PASSWORD);
    let made = create(&s, &auth, body.clone());
    assert_eq!(made["test_status"], "healthy", "{made}");
    assert_eq!(
        proxy_hits.load(Ordering::SeqCst),
        0,
        "went through HTTP_PROXY"
    );
    assert_eq!(target_hits.load(Ordering::SeqCst), 1, "{made}");
    let (status, _) = s.stop();
    assert!(status.success());

    env.push(("CONNECTIONS_TEST_PROXY", proxy_url.as_str()));
    let s = start(&db, &env);
    let auth = login(&s, "admin", ADMIN_PASSWORD);
    let id = made["id"].as_str().unwrap();
    let r = s.call(
        "POST",
        &format!("/api/v1/connections/{id}/test"),
        &[("authorization", auth.as_str())],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(proxy_hits.load(Ordering::SeqCst), 1, "{r:?}");
    assert_eq!(target_hits.load(Ordering::SeqCst), 1, "the proxy answered");
    let (status, _) = s.stop();
    assert!(status.success());
}

on_both!(proxy_variables_are_ignored_unless_configured);

/// A service that answers every request with 401 and the whole request in a
/// JSON body: the token endpoint of the issue that echoed `client_secret`.
fn echoing_listener() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = Vec::new();
                let mut length = 0usize;
                loop {
                    let mut line = Vec::new();
                    if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    request.extend_from_slice(&line);
                    let text = String::from_utf8_lossy(&line).to_lowercase();
                    if let Some(v) = text.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if line == b"\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                request.extend_from_slice(&body);
                let echo = String::from_utf8_lossy(&request).into_owned();
                let reply = json!({"error": "invalid_client", "you_sent": echo}).to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 401 X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            });
        }
    });
    base
}

/// The case over HTTP: a SharePoint connection whose authority
/// echoes the token request (so the secret comes back URL-encoded) and an
/// LLM whose API echoes its headers; secrets with quotes, `%`, `+`,
/// non-ASCII letters and 1,000 characters; a viewer reads the connection.
async fn echoed_secrets_are_not_shown_to_a_viewer(db: TestDatabase) {
    let base = echoing_listener();
    let s = start(&db, &[]);
    let auth = login(&s, "admin", ADMIN_PASSWORD);
    let h = [("authorization", auth.as_str())];
    let r = s.call(
        "POST",
        "/api/v1/organizations/me/users",
        &h,
        Some(
            &json!({"email": "vic@acme.example", "username": "vic", "role": "viewer",
                     "password": "viewer-password-123456"}),
        ),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let viewer = login(&s, "vic", "viewer-password-123456");
    let mut secret = "sp-\"q'uo%2B+plus é ü ✓ ".to_owned();
    while secret.chars().count() < 1000 {
        secret.push_str("Zx9+Qw%7\"Lm'ñö");
    }
    let secret: String = secret.chars().take(1000).collect();
    let llm_secret: String = secret.replacen("sp-", "ll-", 1);
    let sharepoint = create(
        &s,
        &auth,
        json!({"name": "SharePoint", "connection_type": "sharepoint",
               "config": {"tenant_id": "t", "client_id": "c", "client_secret": secret,
                          "authority_url": base}}),
    );
    let llm = create(
        &s,
        &auth,
        json!({"name": "LLM", "connection_type": "llm",
               "config": {"api_key": llm_secret, "model": "m", "base_url": base}}),
    );
    for (c, secret) in [(&sharepoint, &secret), (&llm, &llm_secret)] {
        let id = c["id"].as_str().unwrap();
        let tested = s.call("POST", &format!("/api/v1/connections/{id}/test"), &h, None);
        let seen = s.call(
            "GET",
            &format!("/api/v1/connections/{id}"),
            &[("authorization", viewer.as_str())],
            None,
        );
        assert_eq!(seen.status, 200, "{seen:?}");
        assert_eq!(
            seen.json()["test_result"]["error"],
            "credentials_refused",
            "{seen:?}"
        );
        let shown = format!("{c} {} {}", tested.body, seen.body);
        for form in curatore_service::connections::config::encodings(secret) {
            let chars: Vec<char> = form.chars().collect();
            for w in chars.windows(8) {
                let w: String = w.iter().collect();
                assert!(!shown.contains(&w), "`{w}` of the secret is in {shown}");
            }
        }
        assert!(!shown.contains("you_sent"), "{shown}");
    }

    // Steering the stored secret elsewhere needs it sent again; the marker
    // is no secret.
    let id = sharepoint["id"].as_str().unwrap();
    let r = s.call(
        "PUT",
        &format!("/api/v1/connections/{id}"),
        &h,
        Some(&json!({"config": {"authority_url": "http://collector.example", "client_secret": REDACTED}})),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (409, "secret_must_be_resent"),
        "{r:?}"
    );
    let r = s.call(
        "POST",
        "/api/v1/connections",
        &h,
        Some(&json!({"name": "Marker", "connection_type": "llm",
                     "config": {"api_key": REDACTED, "model": "m", "base_url": base}})),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "secret_is_redaction_marker"),
        "{r:?}"
    );

    // An org_admin's key cannot promote the viewer; signed in, she can.
    let key = s.call(
        "POST",
        "/api/v1/api-keys",
        &h,
        Some(&json!({"name": "ops"})),
    );
    assert_eq!(key.status, 201, "{key:?}");
    let key = key.json()["key"].as_str().unwrap().to_owned();
    let vic = s
        .call("GET", "/api/v1/organizations/me/users?limit=100", &h, None)
        .json()["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "vic")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let promote = json!({"role": "org_admin"});
    let path = format!("/api/v1/organizations/me/users/{vic}");
    let r = s.call("PUT", &path, &[("x-api-key", key.as_str())], Some(&promote));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "person_required"),
        "{r:?}"
    );
    let r = s.call("PUT", &path, &h, Some(&promote));
    assert_eq!(r.status, 200, "{r:?}");
}

on_both!(echoed_secrets_are_not_shown_to_a_viewer);

/// A wrong `SECRETS_ENCRYPTION_KEY` is said at start (a warning with the
/// count), the status answers 200 with `connected: false` and a code (the
/// error logged once, not per request), and a `PUT` with a new secret
/// replaces the one that no longer opens.
async fn a_wrong_key_is_found_at_start_and_the_secret_can_be_replaced(db: TestDatabase) {
    const OTHER: &str = "k1:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
    let quiet = ("AUTO_TEST_CONNECTIONS", "false");
    let s = start(&db, &[("SECRETS_ENCRYPTION_KEY", KEY), quiet]);
    let auth = login(&s, "admin", ADMIN_PASSWORD);
    let llm = create(
        &s,
        &auth,
        json!({"name": "LLM", "connection_type": "llm", "is_default": true,
               "config": {"api_key": GOOD_KEY, "model": "m", "base_url": "http://127.0.0.1:9/v1"}}),
    );
    let id = llm["id"].as_str().unwrap().to_owned();
    drop(s);

    let mut s = start(&db, &[("SECRETS_ENCRYPTION_KEY", OTHER), quiet]);
    let warning = s.wait_for_log(Duration::from_secs(10), |l| {
        l.contains("hold secrets that do not open")
    });
    assert!(
        warning.contains("WARN") && warning.contains(&id),
        "{warning}"
    );
    assert!(warning.contains("\"unopenable\":1"), "{warning}");
    let auth = login(&s, "admin", ADMIN_PASSWORD);
    let h = [("authorization", auth.as_str())];
    for _ in 0..3 {
        for headers in [&h[..], &[]] {
            let r = s.call("GET", "/api/v1/llm/status", headers, None);
            assert_eq!(r.status, 200, "{r:?}");
            assert_eq!(r.json()["connected"], false, "{r:?}");
            assert_eq!(r.json()["error_code"], "secret_decryption_failed", "{r:?}");
        }
    }
    let logs = s.logs();
    let errors = logs
        .iter()
        .filter(|l| l.contains("a stored connection secret does not open"))
        .count();
    assert_eq!(errors, 1, "logged once per connection: {logs:#?}");

    // Kept, it cannot work; replaced, it does.
    let path = format!("/api/v1/connections/{id}");
    let r = s.call("PUT", &path, &h, Some(&json!({"config": {"model": "n"}})));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (500, "secret_decryption_failed"),
        "{r:?}"
    );
    let r = s.call(
        "PUT",
        &path,
        &h,
        Some(&json!({"config": {"api_key": "sk-replaced-123456"}})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = s.call("GET", "/api/v1/llm/status", &h, None);
    assert_eq!(r.json()["error_code"], "not_tested", "{r:?}");
    let logs = s.logs().join("\n");
    assert!(!logs.contains(GOOD_KEY) && !logs.contains("sk-replaced-123456"));
}

on_both!(a_wrong_key_is_found_at_start_and_the_secret_can_be_replaced);
