//! Text the system refuses, black-box on both engines: U+0000 and other
//! control characters, invisible and direction-changing characters, and
//! repeated changes to a revoked key. Each answers a JSON 4xx; none is a 500.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use support::{Reply, Server, on_both};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";

fn start(db: &TestDatabase) -> Server {
    Server::start(
        &db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("AUTH_CACHE_SECONDS", "0"),
        ],
    )
}

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

fn send(s: &Server, method: &str, path: &str, auth: &str, body: Option<Value>) -> Reply {
    s.call(method, path, &[("authorization", auth)], body.as_ref())
}

fn assert_refused(r: &Reply, what: &str) {
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "validation_failed"),
        "{what}: {r:?}"
    );
}

async fn control_characters_are_refused(db: TestDatabase) {
    let s = start(&db);
    let auth = admin(&s);

    // Without authentication, where PostgreSQL used to answer 500.
    let r = s.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": "ad\u{0}min", "password": "x"})),
    );
    assert_refused(&r, "NUL in a login");

    let r = send(
        &s,
        "POST",
        "/api/v1/api-keys",
        &auth,
        Some(json!({"name": "k\u{0}"})),
    );
    assert_refused(&r, "NUL in a key name");
    let r = send(
        &s,
        "PATCH",
        "/api/v1/organizations/me",
        &auth,
        Some(json!({"display_name": "Acme\u{0}"})),
    );
    assert_refused(&r, "NUL in display_name");
    let r = send(
        &s,
        "PATCH",
        "/api/v1/organizations/me",
        &auth,
        Some(json!({"settings": {"nested": ["ok", "bad\u{0}"]}})),
    );
    assert_refused(&r, "NUL deep inside settings");
    let r = send(&s, "GET", "/api/v1/audit-logs?action=%00", &auth, None);
    assert_refused(&r, "NUL in an audit-log filter");

    // Line breaks in settings are text; in a name they are not.
    let r = send(
        &s,
        "PATCH",
        "/api/v1/organizations/me",
        &auth,
        Some(json!({"settings": {"prompt": "line one\nline two"}})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = send(
        &s,
        "PATCH",
        "/api/v1/organizations/me",
        &auth,
        Some(json!({"display_name": "two\nlines"})),
    );
    assert_refused(&r, "a line break in display_name");

    // Nothing half-written: the organization still has its last good values.
    let me = send(&s, "GET", "/api/v1/organizations/me", &auth, None).json();
    assert_eq!(me["settings"]["prompt"], "line one\nline two");
    assert!(me["settings"].get("nested").is_none(), "{me}");
}

async fn look_alike_identities_are_refused(db: TestDatabase) {
    let s = start(&db);
    let auth = admin(&s);
    for (email, username) in [
        ("admin\u{200b}@example.com", "lookalike1"),
        ("\u{feff}admin@example.com", "lookalike2"),
        ("admin@example.com\u{202e}", "lookalike3"),
        ("other@example.com", "rtl\u{202e}name"),
    ] {
        let r = send(
            &s,
            "POST",
            "/api/v1/auth/register",
            &auth,
            Some(json!({"email": email, "username": username, "password": "a-long-password-1"})),
        );
        assert_refused(&r, &format!("{email:?} / {username:?}"));
    }
    let r = send(
        &s,
        "POST",
        "/api/v1/auth/register",
        &auth,
        Some(json!({
            "email": "new@example.com", "username": "newuser",
            "full_name": "Mallory\u{2066}Admin", "password": "a-long-password-1"
        })),
    );
    assert_refused(&r, "an isolate in full_name");
    // The domain is lower-cased with the rest; the address registers once.
    let r = send(
        &s,
        "POST",
        "/api/v1/auth/register",
        &auth,
        Some(
            json!({"email": "New@EXAMPLE.com", "username": "newuser", "password": "a-long-password-1"}),
        ),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json()["email"], "new@example.com");
}

async fn a_revoked_key_stays_revoked_quietly(db: TestDatabase) {
    let s = start(&db);
    let auth = admin(&s);
    let r = send(
        &s,
        "POST",
        "/api/v1/api-keys",
        &auth,
        Some(json!({"name": "ci"})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/api-keys/{id}");

    for _ in 0..3 {
        let r = send(&s, "DELETE", &path, &auth, None);
        assert_eq!(r.status, 204, "{r:?}");
    }
    let r = send(&s, "PUT", &path, &auth, Some(json!({"name": "renamed"})));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (409, "api_key_revoked"),
        "{r:?}"
    );
    let log = send(
        &s,
        "GET",
        "/api/v1/audit-logs?action=api_key_revoked",
        &auth,
        None,
    )
    .json();
    assert_eq!(
        log["items"].as_array().unwrap().len(),
        1,
        "one revocation, one audit entry: {log}"
    );
}

on_both!(
    control_characters_are_refused,
    look_alike_identities_are_refused,
    a_revoked_key_stays_revoked_quietly,
);
