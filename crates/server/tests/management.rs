//! Organization management, black-box on both engines: settings merges that
//! arrive at once keep each other's keys.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::json;
use support::{Server, on_both};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";

fn admin(s: &Server) -> String {
    let r = s.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": "admin", "password": ADMIN_PASSWORD})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    format!("Bearer {}", r.json()["access_token"].as_str().unwrap())
}

async fn parallel_settings_merges_lose_no_key(db: TestDatabase) {
    let s = Server::start(
        &db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    let auth = admin(&s);
    std::thread::scope(|scope| {
        for i in 0..16 {
            let (s, auth) = (&s, &auth);
            scope.spawn(move || {
                let r = s.call(
                    "PUT",
                    "/api/v1/organizations/me/settings",
                    &[("authorization", auth)],
                    Some(&json!({"settings": {"flags": {format!("k{i}"): i}}})),
                );
                assert_eq!(r.status, 200, "{r:?}");
            });
        }
    });
    let r = s.call(
        "GET",
        "/api/v1/organizations/me/settings",
        &[("authorization", &auth)],
        None,
    );
    let flags = r.json()["settings"]["flags"].clone();
    for i in 0..16 {
        assert_eq!(flags[format!("k{i}")], json!(i), "k{i} was lost: {flags}");
    }
}

on_both!(parallel_settings_merges_lose_no_key);

#[test]
fn audit_purge_runs_once_and_refuses_zero_days() {
    let db = TestDatabase::sqlite();
    let ok = support::run(&db.url(), &[], &["audit", "purge", "--older-than", "30"]);
    assert!(ok.status.success(), "{ok:?}");
    let logs =
        String::from_utf8_lossy(&ok.stdout).to_string() + &String::from_utf8_lossy(&ok.stderr);
    assert!(
        logs.contains("Audit entries older than 30 days deleted: 0"),
        "{logs}"
    );
    let zero = support::run(&db.url(), &[], &["audit", "purge", "--older-than", "0"]);
    assert_eq!(zero.status.code(), Some(2), "{zero:?}");
    let unset = support::run(&db.url(), &[], &["audit", "purge"]);
    assert_eq!(unset.status.code(), Some(2), "{unset:?}");
    let bad_env = support::run(
        &db.url(),
        &[("AUDIT_RETENTION_DAYS", "0")],
        &["audit", "purge"],
    );
    assert_eq!(bad_env.status.code(), Some(2), "{bad_env:?}");
}
