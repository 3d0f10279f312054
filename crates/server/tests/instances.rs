//! Several servers on one PostgreSQL database, black-box: started at the
//! same moment on an empty database, exactly one migrates and seeds while
//! the others wait, and all of them then serve.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::json;
use support::Server;

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
