//! Several servers on one PostgreSQL database, black-box: started at the
//! same moment on an empty database, exactly one migrates and seeds while
//! the others wait, and all of them then serve; they share one failed-login
//! and one registration budget; what one of them revokes, the others refuse
//! at once although their caches would trust it for minutes (LISTEN/NOTIFY),
//! even after their listening connection was killed.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{Reply, Server, on_both};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_started_together_migrate_once_and_seed_once() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let url = db.url();
    let env = [
        ("ENABLE_AUTH", "true"),
        ("JWT_SECRET_KEY", SECRET),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("AUTO_MIGRATE", "true"),
    ];
    let servers: Vec<Server> = std::thread::scope(|scope| {
        let started: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| Server::start(&url, &env)))
            .collect();
        started.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut migrated = 0;
    let mut seeded = 0;
    for s in &servers {
        let logs = support::messages(&s.logs());
        migrated += logs
            .iter()
            .filter(|m| m.starts_with("Migrations applied"))
            .count();
        seeded += logs
            .iter()
            .filter(|m| m.contains("Default organization present"))
            .count();
        assert_eq!(s.get("/readyz").status, 200);
        let r = s.call(
            "POST",
            "/api/v1/auth/login",
            &[],
            Some(&json!({"email_or_username": "admin", "password": ADMIN_PASSWORD})),
        );
        assert_eq!(r.status, 200, "{r:?}");
    }
    assert_eq!(migrated, 1, "exactly one server applied the migrations");
    assert_eq!(seeded, 2, "the two others found the seeded organization");
    let r = servers[0].call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": "admin", "password": ADMIN_PASSWORD})),
    );
    let auth = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    let orgs = servers[1].call(
        "GET",
        "/api/v1/organizations",
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(orgs.json()["total"], json!(1), "{orgs:?}");
}

const USERS: &str = "/api/v1/organizations/me/users";
/// How soon another server must refuse what one revoked.
const PROPAGATION: Duration = Duration::from_millis(100);

/// `n` servers on `db` (started one after the other; the first migrates),
/// trusting cached credentials for ten minutes, so only a notification
/// can explain a revocation seen at once.
fn servers(db: &TestDatabase, n: usize, extra: &[(&str, &str)]) -> Vec<Server> {
    let mut env = vec![
        ("ENABLE_AUTH", "true"),
        ("JWT_SECRET_KEY", SECRET),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("AUTO_MIGRATE", "true"),
        ("AUTH_CACHE_SECONDS", "600"),
        ("REFRESH_TOKEN_REUSE_INTERVAL_SECONDS", "0"),
    ];
    env.extend_from_slice(extra);
    let url = db.url();
    (0..n).map(|_| Server::start(&url, &env)).collect()
}

fn login(s: &Server, who: &str, password: &str) -> Reply {
    s.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": who, "password": password})),
    )
}

/// Signs in; the `Authorization` value and the whole body.
fn session(s: &Server, who: &str) -> (String, Value) {
    let r = login(s, who, ADMIN_PASSWORD);
    assert_eq!(r.status, 200, "login {who}: {r:?}");
    let body = r.json();
    let auth = format!("Bearer {}", body["access_token"].as_str().unwrap());
    (auth, body)
}

fn me(s: &Server, credential: (&str, &str)) -> u16 {
    s.call("GET", "/api/v1/auth/me", &[credential], None).status
}

/// Polls `s` until `credential` is refused; how long that took after
/// `since`, or `None` when it was still accepted after a second.
fn refused_after(s: &Server, credential: (&str, &str), since: Instant) -> Option<Duration> {
    while since.elapsed() < Duration::from_secs(1) {
        if me(s, credential) == 401 {
            return Some(since.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn register(s: &Server, auth: &str, name: &str) -> String {
    let r = s.call(
        "POST",
        "/api/v1/auth/register",
        &[("authorization", auth)],
        Some(&json!({
            "email": format!("{name}@example.test"),
            "username": name,
            "password": ADMIN_PASSWORD,
            "role": "member",
        })),
    );
    assert_eq!(r.status, 201, "{r:?}");
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Waits until every server logs that it listens for invalidations.
fn wait_listening(servers: &mut [Server], times: usize) {
    for s in servers {
        s.wait_until(
            Duration::from_secs(20),
            "listening for invalidations",
            |lines| {
                support::messages(lines)
                    .iter()
                    .filter(|m| m.contains("listening for cache invalidations"))
                    .count()
                    >= times
            },
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_login_budget_is_shared_by_every_server() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let servers = servers(
        &db,
        3,
        &[
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "4"),
            ("LOGIN_MAX_FAILURES_PER_IP", "100"),
        ],
    );
    // Four failures spread over three servers use the budget up…
    for n in 0..4 {
        let r = login(&servers[n % 3], "admin", "wrong-password");
        assert_eq!(r.status, 401, "attempt {n}: {r:?}");
    }
    // …so every server refuses the next, the right password included
    // (each server alone has seen at most two failures).
    for (n, s) in servers.iter().enumerate() {
        let r = login(s, "admin", "wrong-password");
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (429, "too_many_attempts"),
            "server {n}: {r:?}"
        );
        assert!(r.header("retry-after").is_some(), "{r:?}");
    }
    let r = login(&servers[1], "admin", ADMIN_PASSWORD);
    assert_eq!(r.status, 429, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_over_servers_never_exceed_the_budget() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let servers = servers(
        &db,
        2,
        &[
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"),
            ("LOGIN_MAX_FAILURES_PER_IP", "100"),
        ],
    );
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let guesses: Vec<_> = (0..12)
            .map(|n| {
                let s = &servers[n % 2];
                scope.spawn(move || login(s, "admin", "wrong-password").status)
            })
            .collect();
        guesses.into_iter().map(|g| g.join().unwrap()).collect()
    });
    let verified = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((verified, refused), (3, 9), "{statuses:?}");
}

/// PostgreSQL: `NOTIFY`. SQLite (two processes on one file): the
/// `cache_invalidations` rows, read when `PRAGMA data_version` moves.
async fn what_one_server_revokes_the_others_refuse_at_once(db: TestDatabase) {
    let mut servers = servers(&db, 2, &[]);
    wait_listening(&mut servers, 1);
    let (a, b) = (&servers[0], &servers[1]);
    let (root, _) = session(a, "admin");

    // An API key revoked on A.
    let r = a.call(
        "POST",
        "/api/v1/api-keys",
        &[("authorization", &root)],
        Some(&json!({"name": "ci"})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let key = r.json()["api_key"].as_str().unwrap().to_owned();
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(me(b, ("x-api-key", &key)), 200, "B caches the key");
    let r = a.call(
        "DELETE",
        &format!("/api/v1/api-keys/{id}"),
        &[("authorization", &root)],
        None,
    );
    assert_eq!(r.status, 204, "{r:?}");
    let took = refused_after(b, ("x-api-key", &key), Instant::now());
    // The figure docs/benchmarks.md records (`-- --nocapture`).
    eprintln!(
        "propagation {}: a revoked key refused by B after {took:?}",
        db.engine()
    );
    assert!(took.is_some_and(|t| t <= PROPAGATION), "key on B: {took:?}");

    // A user deactivated on A.
    let bob = register(a, &root, "bob");
    let (bob_auth, _) = session(b, "bob");
    assert_eq!(me(b, ("authorization", &bob_auth)), 200, "B caches bob");
    let r = a.call(
        "DELETE",
        &format!("{USERS}/{bob}"),
        &[("authorization", &root)],
        None,
    );
    assert_eq!(r.status, 204, "{r:?}");
    let took = refused_after(b, ("authorization", &bob_auth), Instant::now());
    eprintln!(
        "propagation {}: a deactivated user refused by B after {took:?}",
        db.engine()
    );
    assert!(took.is_some_and(|t| t <= PROPAGATION), "bob on B: {took:?}");

    // A refresh token rotated on A and reused on B ends the session everywhere.
    register(a, &root, "carol");
    let (_, first) = session(a, "carol");
    let r = a.call(
        "POST",
        "/api/v1/auth/refresh",
        &[],
        Some(&json!({"refresh_token": first["refresh_token"]})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let second = r.json();
    let second_auth = format!("Bearer {}", second["access_token"].as_str().unwrap());
    assert_eq!(me(a, ("authorization", &second_auth)), 200, "A caches it");
    let r = b.call(
        "POST",
        "/api/v1/auth/refresh",
        &[],
        Some(&json!({"refresh_token": first["refresh_token"]})),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "invalid_refresh_token"),
        "reuse seen on B"
    );
    let took = refused_after(a, ("authorization", &second_auth), Instant::now());
    assert!(
        took.is_some_and(|t| t <= PROPAGATION),
        "session on A: {took:?}"
    );
    let r = a.call(
        "POST",
        "/api/v1/auth/refresh",
        &[],
        Some(&json!({"refresh_token": second["refresh_token"]})),
    );
    assert_eq!(r.status, 401, "the family is revoked: {r:?}");
}

on_both!(what_one_server_revokes_the_others_refuse_at_once);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listening_connection_comes_back_by_itself() {
    use sqlx::Executor;
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let mut servers = servers(&db, 2, &[]);
    wait_listening(&mut servers, 1);
    let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
    let listeners = "SELECT count(*) FROM pg_stat_activity \
        WHERE datname = current_database() AND application_name = 'curatore-listen'";
    let count: i64 = sqlx::query_scalar(listeners)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 2, "one listening connection per server");
    pool.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'curatore-listen'",
    )
    .await
    .unwrap();
    wait_listening(&mut servers, 2);
    let count: i64 = sqlx::query_scalar(listeners)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 2, "both listen again");
    pool.close().await;

    let (a, b) = (&servers[0], &servers[1]);
    let (root, _) = session(a, "admin");
    let r = a.call(
        "POST",
        "/api/v1/api-keys",
        &[("authorization", &root)],
        Some(&json!({"name": "ci"})),
    );
    let key = r.json()["api_key"].as_str().unwrap().to_owned();
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(me(b, ("x-api-key", &key)), 200);
    let r = a.call(
        "DELETE",
        &format!("/api/v1/api-keys/{id}"),
        &[("authorization", &root)],
        None,
    );
    assert_eq!(r.status, 204, "{r:?}");
    let took = refused_after(b, ("x-api-key", &key), Instant::now());
    assert!(took.is_some_and(|t| t <= PROPAGATION), "key on B: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registration_budget_is_shared_by_every_server() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let servers = servers(
        &db,
        2,
        &[
            ("ALLOW_REGISTRATION", "true"),
            ("REGISTRATION_LIMIT_PER_IP", "3"),
        ],
    );
    let statuses: Vec<u16> = (0..5)
        .map(|n| {
            servers[n % 2]
                .call(
                    "POST",
                    "/api/v1/auth/register",
                    &[],
                    Some(&json!({
                        "email": format!("user{n}@example.test"),
                        "username": format!("user{n}"),
                        "password": ADMIN_PASSWORD,
                    })),
                )
                .status
        })
        .collect();
    // Each server alone has seen at most three: counted apart, all five pass.
    assert_eq!(statuses, [201, 201, 201, 429, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_is_logged_against_max_connections() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let mut s = servers(&db, 1, &[("INSTANCE_COUNT", "1000")]).remove(0);
    // The test servers' pools: DB_POOL_SIZE=2, DB_MAX_OVERFLOW=6, plus the listener.
    let line = s.wait_for_log(Duration::from_secs(10), |m| {
        m.starts_with("Database pool of this instance")
    });
    assert!(line.contains("2 kept + 6 overflow"), "{line}");
    let line = s.wait_for_log(Duration::from_secs(10), |m| {
        m.starts_with("PostgreSQL allows")
    });
    assert!(line.contains("\"per_instance\":9"), "{line}");
    let line = s.wait_for_log(Duration::from_secs(10), |m| {
        m.starts_with("INSTANCE_COUNT=1000 instances of 9 connections exceed")
    });
    assert!(line.contains("WARN"), "{line}");
}
