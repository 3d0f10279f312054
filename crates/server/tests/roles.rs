//! The role matrix, black-box on both engines: every management route called
//! by every kind of caller (anonymous, viewer, member, an API key with narrow
//! scopes, an unrestricted API key of an org_admin, and an org_admin) and
//! the status each must get. One table says who may do what; a change of
//! rule shows here as a changed cell.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use support::{Server, on_both};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";
const PASSWORD: &str = "a-long-member-password";

/// The callers, in the order of every row's expected statuses.
const CALLERS: [&str; 6] = [
    "anonymous",
    "viewer",
    "member",
    "key:users:read",
    "key",
    "admin",
];

fn login(s: &Server, who: &str, password: &str) -> String {
    let r = s.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": who, "password": password})),
    );
    assert_eq!(r.status, 200, "login {who}: {r:?}");
    format!("Bearer {}", r.json()["access_token"].as_str().unwrap())
}

fn created(s: &Server, auth: &str, path: &str, body: Value) -> Value {
    let r = s.call("POST", path, &[("authorization", auth)], Some(&body));
    assert_eq!(r.status, 201, "{path}: {r:?}");
    r.json()
}

async fn every_route_answers_each_role_as_the_rules_say(db: TestDatabase) {
    let s = Server::start(
        &db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("AUTH_CACHE_SECONDS", "0"),
            ("LOGIN_MAX_FAILURES_PER_IP", "1000"),
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "1000"),
        ],
    );
    let admin = login(&s, "admin", ADMIN_PASSWORD);
    let me = s
        .call("GET", "/api/v1/auth/me", &[("authorization", &admin)], None)
        .json();
    let own_org = me["organization"]["id"].as_str().unwrap().to_owned();
    let users = "/api/v1/organizations/me/users";
    for (name, role) in [("vera", "viewer"), ("mike", "member"), ("tom", "member")] {
        created(
            &s,
            &admin,
            users,
            json!({"email": format!("{name}@example.test"), "username": name,
                   "password": PASSWORD, "role": role}),
        );
    }
    let tom = s
        .call("GET", users, &[("authorization", &admin)], None)
        .json()["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "tom")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let beta = created(
        &s,
        &admin,
        "/api/v1/organizations",
        json!({"name": "Beta", "slug": "beta", "admin": {
            "email": "boss@beta.example", "username": "boss", "password": "a-long-beta-password"}}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let narrow = created(
        &s,
        &admin,
        "/api/v1/api-keys",
        json!({"name": "narrow", "scopes": ["users:read"]}),
    );
    let full = created(&s, &admin, "/api/v1/api-keys", json!({"name": "full"}));
    let target = created(&s, &admin, "/api/v1/api-keys", json!({"name": "target"}))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let headers: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("authorization", login(&s, "vera", PASSWORD))],
        vec![("authorization", login(&s, "mike", PASSWORD))],
        vec![("x-api-key", narrow["key"].as_str().unwrap().to_owned())],
        vec![("x-api-key", full["key"].as_str().unwrap().to_owned())],
        vec![("authorization", admin.clone())],
    ];

    let user = format!("{users}/{tom}");
    let key = format!("/api/v1/api-keys/{target}");
    // (method, path, body, expected status per caller in CALLERS order)
    let table: Vec<(&str, String, Option<Value>, [u16; 6])> = vec![
        (
            "GET",
            "/api/v1/auth/me".into(),
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        (
            "GET",
            "/api/v1/organizations/me".into(),
            None,
            [401, 200, 200, 403, 200, 200],
        ),
        (
            "PUT",
            "/api/v1/organizations/me".into(),
            Some(json!({"display_name": "Acme"})),
            [401, 403, 403, 403, 200, 200],
        ),
        (
            "GET",
            "/api/v1/organizations/me/settings".into(),
            None,
            [401, 200, 200, 403, 200, 200],
        ),
        (
            "PUT",
            "/api/v1/organizations/me/settings".into(),
            Some(json!({"settings": {"theme": "dark"}})),
            [401, 403, 403, 403, 200, 200],
        ),
        (
            "GET",
            "/api/v1/organizations".into(),
            None,
            [401, 403, 403, 403, 403, 200],
        ),
        (
            "POST",
            "/api/v1/organizations".into(),
            Some(json!({"name": "Gamma", "slug": "gamma", "admin": {
                "email": "g@gamma.example", "username": "gamma-admin",
                "password": "a-long-gamma-password"}})),
            [401, 403, 403, 403, 403, 201],
        ),
        (
            "GET",
            format!("/api/v1/organizations/{own_org}"),
            None,
            [401, 200, 200, 403, 200, 200],
        ),
        (
            "GET",
            format!("/api/v1/organizations/{beta}"),
            None,
            [401, 404, 404, 404, 404, 200],
        ),
        (
            "PUT",
            format!("/api/v1/organizations/{beta}"),
            Some(json!({"display_name": "Beta Ltd"})),
            [401, 404, 404, 404, 404, 200],
        ),
        ("GET", users.into(), None, [401, 403, 403, 200, 200, 200]),
        (
            "POST",
            users.into(),
            Some(json!({"email": "new@example.test", "username": "newbie"})),
            [401, 403, 403, 403, 403, 201],
        ),
        ("GET", user.clone(), None, [401, 403, 403, 200, 200, 200]),
        (
            "PUT",
            user.clone(),
            Some(json!({"full_name": "Tom"})),
            [401, 403, 403, 403, 200, 200],
        ),
        ("DELETE", user.clone(), None, [401, 403, 403, 403, 204, 204]),
        (
            "POST",
            format!("{user}/reactivate"),
            None,
            [401, 403, 403, 403, 200, 200],
        ),
        (
            "POST",
            format!("{user}/reset-password"),
            Some(json!({"password": "a-new-password-for-tom"})),
            [401, 403, 403, 403, 403, 200],
        ),
        (
            "GET",
            "/api/v1/api-keys".into(),
            None,
            [401, 200, 200, 403, 200, 200],
        ),
        // `all` is an admin's; anyone else gets their own keys (checked below).
        (
            "GET",
            "/api/v1/api-keys?all=true".into(),
            None,
            [401, 200, 200, 403, 200, 200],
        ),
        (
            "POST",
            "/api/v1/api-keys".into(),
            Some(json!({"name": "another"})),
            // A viewer is read-only; a key mints only with api_keys:write.
            [401, 403, 201, 403, 403, 201],
        ),
        (
            "PUT",
            key.clone(),
            Some(json!({"name": "renamed"})),
            [401, 403, 404, 403, 403, 200],
        ),
        ("DELETE", key.clone(), None, [401, 403, 404, 403, 403, 204]),
        (
            "GET",
            "/api/v1/audit-logs".into(),
            None,
            [401, 403, 403, 403, 200, 200],
        ),
        (
            "GET",
            "/api/v1/audit-logs/export?format=ndjson".into(),
            None,
            [401, 403, 403, 403, 200, 200],
        ),
        (
            "POST",
            "/api/v1/auth/change-password".into(),
            Some(
                json!({"current_password": "not-the-password", "new_password": "whatever-new-pw"}),
            ),
            [401, 400, 400, 403, 403, 400],
        ),
    ];

    let mut wrong = Vec::new();
    for (method, path, body, expected) in &table {
        for (i, who) in CALLERS.iter().enumerate() {
            let h: Vec<(&str, &str)> = headers[i].iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = s.call(method, path, &h, body.as_ref());
            // Every refusal is the one JSON error shape (error_code asserts it).
            let code = if r.status >= 400 {
                r.error_code()
            } else {
                String::new()
            };
            if r.status != expected[i] {
                wrong.push(format!(
                    "{method} {path} as {who}: {} {code} (expected {})",
                    r.status, expected[i],
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // `?all=true` from a member lists the member's own keys, nobody else's.
    let h: Vec<(&str, &str)> = headers[2].iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mine = s.call("GET", "/api/v1/api-keys?all=true", &h, None);
    assert!(!mine.body.contains(&target), "{mine:?}");
    assert!(
        !mine.body.contains(full["id"].as_str().unwrap()),
        "{mine:?}"
    );
}

on_both!(every_route_answers_each_role_as_the_rules_say);
