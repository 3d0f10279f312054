//! Authentication, black-box: the real binary with ENABLE_AUTH=true on a
//! random port, against SQLite and PostgreSQL.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use support::{Reply, Server, on_both};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";

fn start(db: &TestDatabase, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("ENABLE_AUTH", "true"),
        ("JWT_SECRET_KEY", SECRET),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("AUTH_CACHE_SECONDS", "0"),
    ];
    env.extend_from_slice(extra);
    Server::start(&db.url(), &env)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn login(s: &Server, who: &str, password: &str) -> Reply {
    s.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": who, "password": password})),
    )
}

fn tokens(s: &Server, who: &str, password: &str) -> (String, String, Value) {
    let r = login(s, who, password);
    assert_eq!(r.status, 200, "login {who}: {r:?}");
    let b = r.json();
    assert_eq!(b["token_type"], "bearer");
    assert!(b["expires_in"].as_u64().is_some_and(|e| e > 0));
    assert!(b["user"].get("password_hash").is_none());
    (
        b["access_token"].as_str().unwrap().to_owned(),
        b["refresh_token"].as_str().unwrap().to_owned(),
        b["user"].clone(),
    )
}

fn get(s: &Server, path: &str, auth: &str) -> Reply {
    s.call("GET", path, &[("authorization", auth)], None)
}

fn refresh(s: &Server, token: &str) -> Reply {
    s.call(
        "POST",
        "/api/v1/auth/refresh",
        &[],
        Some(&json!({ "refresh_token": token })),
    )
}

fn register(s: &Server, auth: Option<&str>, body: Value) -> Reply {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    s.call("POST", "/api/v1/auth/register", &headers, Some(&body))
}

/// Runs one SQL statement on the test database behind the server's back.
async fn sql(db: &TestDatabase, statement: &str) {
    use sqlx::Executor;
    if db.sqlite_path().is_some() {
        let pool = sqlx::SqlitePool::connect(&db.url()).await.unwrap();
        pool.execute(sqlx::AssertSqlSafe(statement.to_owned()))
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
        pool.execute(sqlx::AssertSqlSafe(statement.to_owned()))
            .await
            .unwrap();
        pool.close().await;
    }
}

fn audit_actions(s: &Server, admin: &str, action: &str) -> Vec<Value> {
    let r = get(
        s,
        &format!("/api/v1/audit-logs?action={action}&limit=100"),
        admin,
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["items"].as_array().unwrap().clone()
}

const BOB_PASSWORD: &str = "correct horse battery";

/// The admin's `Authorization` value.
fn admin_auth(s: &Server) -> String {
    let (access, _, _) = tokens(s, "admin", ADMIN_PASSWORD);
    bearer(&access)
}

/// Registers bob, a viewer, as the admin; returns the admin's `Authorization`.
fn admin_and_bob(s: &Server) -> String {
    let admin = admin_auth(s);
    let r = register(
        s,
        Some(&admin),
        json!({"email": "Bob@Example.com", "username": "bob", "password": BOB_PASSWORD, "role": "viewer"}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    admin
}

/// A server without the refresh reuse grace (see the `refresh_grace_*`
/// tests for it): every reuse ends the session.
fn start_without_grace(db: &TestDatabase) -> Server {
    start(db, &[("REFRESH_TOKEN_REUSE_INTERVAL_SECONDS", "0")])
}

// Sessions: credentials, registration, roles, refresh, logout, deactivation, audit.

async fn everything_but_health_needs_credentials(db: TestDatabase) {
    let s = start_without_grace(&db);
    assert_eq!(s.get("/api/v1/system/health/database").status, 200);
    let r = s.get("/api/v1/organizations/me");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "authentication_required")
    );
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer"))
    );
}

async fn a_login_identifies_the_caller_and_records_the_time(db: TestDatabase) {
    let s = start_without_grace(&db);
    let (admin_access, _, admin_user) = tokens(&s, "admin", ADMIN_PASSWORD);
    let me = get(&s, "/api/v1/auth/me", &bearer(&admin_access)).json();
    assert_eq!(me["user"]["username"], "admin");
    assert_eq!(me["role"], "org_admin");
    assert_eq!(me["auth_method"], "jwt");
    assert_eq!(me["organization"]["slug"], "default");
    assert!(
        admin_user["last_login_at"].is_string(),
        "login sets last_login_at"
    );
}

async fn registration_is_closed_to_all_but_admins_by_default(db: TestDatabase) {
    let s = start_without_grace(&db);
    let admin = admin_auth(&s);
    let bob = json!({"email": "Bob@Example.com", "username": "bob", "password": BOB_PASSWORD, "role": "viewer"});
    let r = register(&s, None, bob.clone());
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "authentication_required")
    );
    let r = register(&s, Some(&admin), bob);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json()["email"], "bob@example.com");
    assert_eq!(r.json()["role"], "viewer");
}

async fn registration_refuses_a_taken_email_or_username(db: TestDatabase) {
    let s = start_without_grace(&db);
    let admin = admin_and_bob(&s);
    let r = register(
        &s,
        Some(&admin),
        json!({"email": "BOB@example.COM", "username": "bobby", "password": BOB_PASSWORD}),
    );
    assert_eq!((r.status, r.error_code().as_str()), (409, "email_taken"));
    let r = register(
        &s,
        Some(&admin),
        json!({"email": "other@example.com", "username": "bob", "password": BOB_PASSWORD}),
    );
    assert_eq!((r.status, r.error_code().as_str()), (409, "username_taken"));
}

async fn registration_refuses_too_short_or_too_long_passwords(db: TestDatabase) {
    let s = start_without_grace(&db);
    let admin = admin_auth(&s);
    let r = register(
        &s,
        Some(&admin),
        json!({"email": "short@example.com", "username": "shorty", "password": "short"}),
    );
    assert_eq!((r.status, r.error_code().as_str()), (400, "weak_password"));
    let r = register(
        &s,
        Some(&admin),
        json!({"email": "long@example.com", "username": "longy", "password": "x".repeat(1025)}),
    );
    assert_eq!((r.status, r.error_code().as_str()), (400, "weak_password"));
}

async fn a_viewer_reads_but_never_writes_or_administers(db: TestDatabase) {
    let s = start_without_grace(&db);
    admin_and_bob(&s);
    let (bob_access, _, _) = tokens(&s, "BOB@example.com", BOB_PASSWORD);
    let viewer = bearer(&bob_access);
    assert_eq!(get(&s, "/api/v1/organizations/me", &viewer).status, 200);
    let r = s.call(
        "PATCH",
        "/api/v1/organizations/me",
        &[("authorization", &viewer)],
        Some(&json!({"display_name": "x"})),
    );
    assert_eq!((r.status, r.error_code().as_str()), (403, "forbidden"));
    assert_eq!(get(&s, "/api/v1/audit-logs", &viewer).status, 403);
    let r = s.call(
        "POST",
        "/api/v1/api-keys",
        &[("authorization", &viewer)],
        Some(&json!({"name": "k"})),
    );
    assert_eq!(r.status, 403, "a viewer cannot mint keys: {r:?}");
    let r = register(
        &s,
        Some(&viewer),
        json!({"email": "eve@example.com", "username": "eve", "password": BOB_PASSWORD}),
    );
    assert_eq!(r.status, 403);
}

async fn refresh_rotates_and_a_reuse_ends_the_whole_session(db: TestDatabase) {
    let s = start_without_grace(&db);
    let admin = admin_and_bob(&s);
    let (bob_access, bob_refresh, _) = tokens(&s, "bob", BOB_PASSWORD);
    let r = refresh(&s, &bob_refresh);
    assert_eq!(r.status, 200, "{r:?}");
    let second_access = r.json()["access_token"].as_str().unwrap().to_owned();
    let second_refresh = r.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, bob_refresh);
    assert_eq!(
        get(&s, "/api/v1/auth/me", &bearer(&second_access)).status,
        200
    );
    let r = refresh(&s, &bob_refresh);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "invalid_refresh_token")
    );
    let r = refresh(&s, &second_refresh);
    assert_eq!(r.status, 401, "family revoked after reuse: {r:?}");
    assert_eq!(
        get(&s, "/api/v1/auth/me", &bearer(&second_access)).status,
        401,
        "and its access tokens"
    );
    assert_eq!(get(&s, "/api/v1/auth/me", &bearer(&bob_access)).status, 401);
    assert!(!audit_actions(&s, &admin, "refresh_token_reuse").is_empty());
}

async fn logout_ends_the_session_at_once(db: TestDatabase) {
    let s = start_without_grace(&db);
    admin_and_bob(&s);
    // With the refresh token: refresh and access tokens both stop.
    let (access, refresh_token, _) = tokens(&s, "bob", BOB_PASSWORD);
    let r = s.call(
        "POST",
        "/api/v1/auth/logout",
        &[],
        Some(&json!({"refresh_token": refresh_token})),
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(get(&s, "/api/v1/auth/me", &bearer(&access)).status, 401);
    assert_eq!(refresh(&s, &refresh_token).status, 401);
    // With only the access token.
    let (access, refresh_token, _) = tokens(&s, "bob", BOB_PASSWORD);
    let r = s.call(
        "POST",
        "/api/v1/auth/logout",
        &[("authorization", &bearer(&access))],
        None,
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(refresh(&s, &refresh_token).status, 401);
}

async fn parallel_refreshes_of_one_token_have_one_winner(db: TestDatabase) {
    let s = start_without_grace(&db);
    admin_and_bob(&s);
    let (_, shared, _) = tokens(&s, "bob", BOB_PASSWORD);
    let statuses: Vec<u16> = parallel_refreshes(&s, &shared, 20)
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
}

async fn a_deactivated_user_loses_access_at_once(db: TestDatabase) {
    let s = start_without_grace(&db);
    admin_and_bob(&s);
    let (access, refresh_token, _) = tokens(&s, "bob", BOB_PASSWORD);
    sql(
        &db,
        "UPDATE users SET is_active = false WHERE username = 'bob'",
    )
    .await;
    assert_eq!(get(&s, "/api/v1/auth/me", &bearer(&access)).status, 401);
    assert_eq!(refresh(&s, &refresh_token).status, 401);
    assert_eq!(login(&s, "bob", BOB_PASSWORD).status, 401);
}

async fn a_deactivated_organization_loses_access_at_once(db: TestDatabase) {
    let s = start_without_grace(&db);
    let admin = admin_auth(&s);
    assert_eq!(get(&s, "/api/v1/auth/me", &admin).status, 200);
    sql(&db, "UPDATE organizations SET is_active = false").await;
    assert_eq!(get(&s, "/api/v1/auth/me", &admin).status, 401);
    assert_eq!(login(&s, "admin", ADMIN_PASSWORD).status, 401);
}

async fn the_trail_records_every_session_event_and_no_secret(db: TestDatabase) {
    let s = start_without_grace(&db);
    let (admin_access, _, _) = tokens(&s, "admin", ADMIN_PASSWORD);
    let admin = bearer(&admin_access);
    let r = register(
        &s,
        Some(&admin),
        json!({"email": "Bob@Example.com", "username": "bob", "password": BOB_PASSWORD, "role": "viewer"}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(login(&s, "bob", "not-bobs-password").status, 401);
    let (_, bob_refresh, _) = tokens(&s, "bob", BOB_PASSWORD);
    let r = refresh(&s, &bob_refresh);
    assert_eq!(r.status, 200, "{r:?}");
    let second_refresh = r.json()["refresh_token"].as_str().unwrap().to_owned();
    let r = s.call(
        "POST",
        "/api/v1/auth/logout",
        &[],
        Some(&json!({"refresh_token": second_refresh})),
    );
    assert_eq!(r.status, 204, "{r:?}");

    for action in ["register", "login", "logout", "token_refresh"] {
        assert!(
            !audit_actions(&s, &admin, action).is_empty(),
            "{action} audited"
        );
    }
    let failures: Vec<Value> = audit_actions(&s, &admin, "login")
        .into_iter()
        .filter(|e| e["status"] == "failure")
        .collect();
    assert!(!failures.is_empty());
    assert!(
        failures
            .iter()
            .all(|e| e["ip_address"].as_str().is_some_and(|ip| ip == "127.0.0.1"))
    );
    let trail = get(&s, "/api/v1/audit-logs?limit=100", &admin).body;
    for secret in [
        ADMIN_PASSWORD,
        BOB_PASSWORD,
        &bob_refresh,
        &second_refresh,
        &admin_access,
    ] {
        assert!(!trail.contains(secret), "a secret reached the audit log");
    }
    let (status, logs) = s.stop();
    assert!(status.success());
    let logs = logs.join("\n");
    for secret in [ADMIN_PASSWORD, BOB_PASSWORD, &bob_refresh, &admin_access] {
        assert!(!logs.contains(secret), "a secret reached the log");
    }
}

on_both!(
    everything_but_health_needs_credentials,
    a_login_identifies_the_caller_and_records_the_time,
    registration_is_closed_to_all_but_admins_by_default,
    registration_refuses_a_taken_email_or_username,
    registration_refuses_too_short_or_too_long_passwords,
    a_viewer_reads_but_never_writes_or_administers,
    refresh_rotates_and_a_reuse_ends_the_whole_session,
    logout_ends_the_session_at_once,
    parallel_refreshes_of_one_token_have_one_winner,
    a_deactivated_user_loses_access_at_once,
    a_deactivated_organization_loses_access_at_once,
    the_trail_records_every_session_event_and_no_secret,
);

// API keys.

/// Creates a key as `auth`; the creation reply's body.
fn create_key(s: &Server, auth: &str, body: Value) -> Value {
    let r = s.call(
        "POST",
        "/api/v1/api-keys",
        &[("authorization", auth)],
        Some(&body),
    );
    assert_eq!(r.status, 201, "{r:?}");
    r.json()
}

fn me_with_key(s: &Server, key: &str) -> Reply {
    s.call("GET", "/api/v1/auth/me", &[("x-api-key", key)], None)
}

async fn a_new_key_is_shown_once_and_never_its_hash(db: TestDatabase) {
    let s = start(&db, &[]);
    let admin = admin_auth(&s);
    let created = create_key(
        &s,
        &admin,
        json!({"name": "ci", "scopes": ["write", "read"], "expires_in_days": 30}),
    );
    let key = created["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("cur_") && key.len() >= 4 + 30 + 6, "{key}");
    assert_eq!(created["prefix"], key[..12]);
    assert_eq!(created["scopes"], json!(["read", "write"]));
    assert!(created.get("key_hash").is_none());
    let listed = get(&s, "/api/v1/api-keys", &admin);
    assert_eq!(listed.status, 200);
    assert!(!listed.body.contains(&key), "the key is shown once only");
    assert_eq!(listed.json()["items"].as_array().unwrap().len(), 1);
}

async fn a_key_acts_as_its_user_and_its_use_is_recorded(db: TestDatabase) {
    let s = start(&db, &[]);
    let admin = admin_auth(&s);
    let created = create_key(
        &s,
        &admin,
        json!({"name": "ci", "scopes": ["write", "read"]}),
    );
    let key = created["api_key"].as_str().unwrap().to_owned();
    for headers in [
        vec![("x-api-key", key.as_str())],
        vec![("authorization", &*format!("Bearer {key}"))],
    ] {
        let r = s.call("GET", "/api/v1/auth/me", &headers, None);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.json()["auth_method"], "api_key");
        assert_eq!(r.json()["role"], "org_admin", "the key acts as its user");
        assert_eq!(r.json()["scopes"], json!(["read", "write"]));
    }
    // Use is recorded outside the request (a slow write never delays the
    // answer): wait for it rather than race it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let items = loop {
        let items = get(&s, "/api/v1/api-keys", &admin).json()["items"]
            .as_array()
            .unwrap()
            .clone();
        if items[0]["last_used_at"].is_string() || std::time::Instant::now() > deadline {
            break items;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        items[0]["last_used_at"].is_string(),
        "use is recorded: {items:?}"
    );
}

async fn a_key_may_not_mint_keys(db: TestDatabase) {
    let s = start(&db, &[]);
    let admin = admin_auth(&s);
    let key = create_key(&s, &admin, json!({"name": "ci"}))["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s.call(
        "POST",
        "/api/v1/api-keys",
        &[("x-api-key", &key)],
        Some(&json!({"name": "child"})),
    );
    assert_eq!(r.status, 403);
}

async fn a_key_can_be_renamed_and_an_unknown_one_is_404(db: TestDatabase) {
    let s = start(&db, &[]);
    let admin = admin_auth(&s);
    let id = create_key(&s, &admin, json!({"name": "ci"}))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s.call(
        "PUT",
        &format!("/api/v1/api-keys/{id}"),
        &[("authorization", &admin)],
        Some(&json!({"name": "deploy"})),
    );
    assert_eq!((r.status, r.json()["name"].clone()), (200, json!("deploy")));
    let r = s.call(
        "PUT",
        "/api/v1/api-keys/0195d3a0-0000-7000-8000-000000000000",
        &[("authorization", &admin)],
        Some(&json!({"name": "x"})),
    );
    assert_eq!(r.status, 404);
}

async fn malformed_or_mistyped_keys_are_refused(db: TestDatabase) {
    let s = start(&db, &[]);
    let admin = admin_auth(&s);
    let key = create_key(&s, &admin, json!({"name": "ci"}))["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut typo = key.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == 'a' { 'b' } else { 'a' });
    for bad in [
        typo.as_str(),
        "cur_short",
        "cur_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    ] {
        let r = me_with_key(&s, bad);
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (401, "invalid_api_key"),
            "{bad}"
        );
    }
}

async fn an_expired_key_stops_working(db: TestDatabase) {
    let s = start(&db, &[]);
    let admin = admin_auth(&s);
    let old = create_key(&s, &admin, json!({"name": "old", "expires_in_days": 1}))["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(me_with_key(&s, &old).status, 200);
    sql(
        &db,
        "UPDATE api_keys SET expires_at = created_at WHERE name = 'old'",
    )
    .await;
    assert_eq!(me_with_key(&s, &old).status, 401);
}

async fn a_revoked_key_stops_at_once_and_no_key_reaches_the_trail(db: TestDatabase) {
    let s = start(&db, &[]);
    let admin = admin_auth(&s);
    let created = create_key(&s, &admin, json!({"name": "ci"}));
    let key = created["api_key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let r = s.call(
        "PUT",
        &format!("/api/v1/api-keys/{id}"),
        &[("authorization", &admin)],
        Some(&json!({"name": "deploy"})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(me_with_key(&s, &key).status, 200);
    let r = s.call(
        "DELETE",
        &format!("/api/v1/api-keys/{id}"),
        &[("authorization", &admin)],
        None,
    );
    assert_eq!(r.status, 204, "{r:?}");
    let r = me_with_key(&s, &key);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "invalid_api_key")
    );
    for action in ["api_key_created", "api_key_renamed", "api_key_revoked"] {
        let entries = audit_actions(&s, &admin, action);
        assert!(!entries.is_empty(), "{action}");
        assert!(
            !entries.iter().any(|e| e.to_string().contains(&key)),
            "no key in the trail"
        );
    }
}

on_both!(
    a_new_key_is_shown_once_and_never_its_hash,
    a_key_acts_as_its_user_and_its_use_is_recorded,
    a_key_may_not_mint_keys,
    a_key_can_be_renamed_and_an_unknown_one_is_404,
    malformed_or_mistyped_keys_are_refused,
    an_expired_key_stops_working,
    a_revoked_key_stops_at_once_and_no_key_reaches_the_trail,
);

// Tokens.

fn token_parts(claims: &Value, alg: &str) -> (String, String) {
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    (header, payload)
}

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// The claims of an access token.
fn claims(access: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

async fn an_access_token_carries_the_expected_claims(db: TestDatabase) {
    let s = start(&db, &[]);
    let (access, _, user) = tokens(&s, "admin", ADMIN_PASSWORD);
    assert_eq!(get(&s, "/api/v1/auth/me", &bearer(&access)).status, 200);
    let payload = claims(&access);
    assert_eq!(payload["sub"], user["id"]);
    assert_eq!(payload["typ"], "access");
    for claim in [
        "org", "role", "sid", "jti", "iat", "nbf", "exp", "iss", "aud",
    ] {
        assert!(payload.get(claim).is_some(), "{claim} in {payload}");
    }
}

async fn forged_expired_or_misused_tokens_are_refused(db: TestDatabase) {
    let s = start(&db, &[]);
    let (access, refresh_token, _) = tokens(&s, "admin", ADMIN_PASSWORD);
    let payload = claims(&access);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let with = |patch: Value| {
        let mut c = payload.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let (h, p) = token_parts(&payload, "none");
    let cases = [
        (
            "forged signature",
            sign(&payload, "another-secret-that-is-long-enough-000"),
        ),
        (
            "expired",
            sign(
                &with(json!({"exp": now - 3600, "iat": now - 7200, "nbf": now - 7200})),
                SECRET,
            ),
        ),
        (
            "not yet valid",
            sign(&with(json!({"nbf": now + 3600})), SECRET),
        ),
        (
            "refresh type",
            sign(&with(json!({"typ": "refresh"})), SECRET),
        ),
        (
            "other audience",
            sign(&with(json!({"aud": "someone-else"})), SECRET),
        ),
        ("other issuer", sign(&with(json!({"iss": "evil"})), SECRET)),
        ("alg none", format!("{h}.{p}.")),
        ("refresh token as bearer", refresh_token.clone()),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in cases {
        let r = get(&s, "/api/v1/auth/me", &bearer(&token));
        assert_eq!(r.status, 401, "{what}: {r:?}");
        assert!(r.header("www-authenticate").is_some(), "{what}");
        let code = r.error_code();
        let expected = if what == "expired" {
            "token_expired"
        } else {
            "invalid_token"
        };
        assert_eq!(code, expected, "{what}");
    }
}

async fn a_token_without_a_subject_is_refused(db: TestDatabase) {
    let s = start(&db, &[]);
    let (access, _, _) = tokens(&s, "admin", ADMIN_PASSWORD);
    let mut unsigned = claims(&access);
    unsigned.as_object_mut().unwrap().remove("sub");
    let r = get(&s, "/api/v1/auth/me", &bearer(&sign(&unsigned, SECRET)));
    assert_eq!(r.status, 401, "sub is required");
}

on_both!(
    an_access_token_carries_the_expected_claims,
    forged_expired_or_misused_tokens_are_refused,
    a_token_without_a_subject_is_refused,
);

// Guessing passwords.

fn start_with_login_limits(db: &TestDatabase) -> Server {
    start(
        db,
        &[
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"),
            ("LOGIN_MAX_FAILURES_PER_IP", "6"),
        ],
    )
}

async fn an_unknown_user_and_a_wrong_password_look_the_same(db: TestDatabase) {
    let s = start_with_login_limits(&db);
    let unknown = login(&s, "nobody", "whatever-password");
    let wrong = login(&s, "admin", "wrong-password");
    assert_eq!(unknown.status, 401);
    assert_eq!((unknown.status, &unknown.body), (wrong.status, &wrong.body));
    assert_eq!(wrong.error_code(), "invalid_credentials");
}

async fn an_address_locked_out_of_an_account_waits_even_with_the_right_password(db: TestDatabase) {
    let s = start_with_login_limits(&db);
    for _ in 0..3 {
        assert_eq!(login(&s, "admin", "wrong-password").status, 401);
    }
    // A forged X-Forwarded-For (no trusted proxy) does not help either.
    let r = s.call(
        "POST",
        "/api/v1/auth/login",
        &[("x-forwarded-for", "203.0.113.9")],
        Some(&json!({"email_or_username": "admin", "password": ADMIN_PASSWORD})),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (429, "too_many_attempts"),
        "{r:?}"
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900);
}

async fn the_address_limit_covers_every_account(db: TestDatabase) {
    let s = start_with_login_limits(&db);
    for i in 0..6 {
        let r = login(&s, &format!("nobody{i}"), "x-password");
        assert_eq!(r.status, 401, "failure {i}: {r:?}");
    }
    let r = login(&s, "fresh-account", "x-password");
    assert_eq!(r.status, 429, "per-address limit: {r:?}");
}

on_both!(
    an_unknown_user_and_a_wrong_password_look_the_same,
    an_address_locked_out_of_an_account_waits_even_with_the_right_password,
    the_address_limit_covers_every_account,
);

// Open registration (ALLOW_REGISTRATION=true).

fn register_newbie(s: &Server) -> Reply {
    register(
        s,
        None,
        json!({"email": "new@example.com", "username": "newbie", "password": "long enough pw"}),
    )
}

async fn open_registration_creates_members_only(db: TestDatabase) {
    let s = start(&db, &[("ALLOW_REGISTRATION", "true")]);
    let r = register_newbie(&s);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json()["role"], "member");
    let r = register(
        &s,
        None,
        json!({"email": "x@example.com", "username": "sneaky", "password": "long enough pw", "role": "org_admin"}),
    );
    assert_eq!(r.status, 403);
    let (access, _, _) = tokens(&s, "newbie", "long enough pw");
    let me = get(&s, "/api/v1/auth/me", &bearer(&access)).json();
    assert_eq!(me["organization"]["slug"], "default");
}

async fn a_member_may_mint_a_key_that_acts_as_a_member(db: TestDatabase) {
    let s = start(&db, &[("ALLOW_REGISTRATION", "true")]);
    assert_eq!(register_newbie(&s).status, 201);
    let (access, _, _) = tokens(&s, "newbie", "long enough pw");
    let key = create_key(&s, &bearer(&access), json!({"name": "mine"}))["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(me_with_key(&s, &key).json()["role"], "member");
}

on_both!(
    open_registration_creates_members_only,
    a_member_may_mint_a_key_that_acts_as_a_member,
);

// The refresh reuse grace (REFRESH_TOKEN_REUSE_INTERVAL_SECONDS): parallel
// refreshes of one token (two tabs, a retry) all get the same successor and
// the session lives on; a reuse after the interval still ends the session.

/// Refreshes `token` from `n` threads at once; the replies in order.
fn parallel_refreshes(s: &Server, token: &str, n: usize) -> Vec<(u16, Value)> {
    let url = format!("{}/api/v1/auth/refresh", s.base);
    let start = std::sync::Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let agent = s.agent();
            let url = url.clone();
            let token = token.to_owned();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let mut r = agent
                    .post(&url)
                    .header("content-type", "application/json")
                    .send(json!({"refresh_token": token}).to_string())
                    .expect("refresh answered");
                let status = r.status().as_u16();
                let body = r.body_mut().read_to_string().unwrap_or_default();
                (status, serde_json::from_str(&body).unwrap_or(Value::Null))
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

const GRACE_SECONDS: u64 = 3;

fn start_with_grace(db: &TestDatabase) -> Server {
    start(
        db,
        &[(
            "REFRESH_TOKEN_REUSE_INTERVAL_SECONDS",
            &GRACE_SECONDS.to_string(),
        )],
    )
}

/// Refreshes `token`, expecting success; the new refresh token.
fn rotate(s: &Server, token: &str) -> String {
    let r = refresh(s, token);
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["refresh_token"].as_str().unwrap().to_owned()
}

async fn parallel_refreshes_within_the_grace_share_one_successor(db: TestDatabase) {
    let s = start_with_grace(&db);
    let admin = admin_auth(&s);
    let (_, shared, _) = tokens(&s, "admin", ADMIN_PASSWORD);
    let replies = parallel_refreshes(&s, &shared, 10);
    assert!(
        replies.iter().all(|(status, _)| *status == 200),
        "{replies:?}"
    );
    let successor = replies[0].1["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(successor, shared);
    for (_, body) in &replies {
        assert_eq!(body["refresh_token"], successor.as_str(), "one successor");
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(get(&s, "/api/v1/auth/me", &bearer(access)).status, 200);
    }
    let graced: Vec<Value> = audit_actions(&s, &admin, "token_refresh")
        .into_iter()
        .filter(|e| e["details"]["reuse_grace"] == true)
        .collect();
    assert!(!graced.is_empty(), "grace refreshes audited as such");
    assert!(audit_actions(&s, &admin, "refresh_token_reuse").is_empty());
}

async fn a_retried_rotation_within_the_grace_gets_the_same_next_token(db: TestDatabase) {
    let s = start_with_grace(&db);
    let (_, first, _) = tokens(&s, "admin", ADMIN_PASSWORD);
    let successor = rotate(&s, &first);
    // The session goes on: the successor rotates as usual, and a retry of
    // that rotation gets the same next token.
    let third = rotate(&s, &successor);
    assert_ne!(third, successor);
    let r = refresh(&s, &successor);
    assert_eq!(r.status, 200, "a retry within the grace: {r:?}");
    assert_eq!(r.json()["refresh_token"], third.as_str());
}

async fn a_token_whose_successor_was_rotated_is_a_replay_even_within_the_grace(db: TestDatabase) {
    let s = start_with_grace(&db);
    let (_, first, _) = tokens(&s, "admin", ADMIN_PASSWORD);
    let successor = rotate(&s, &first);
    let third = rotate(&s, &successor);
    let r = refresh(&s, &first);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "invalid_refresh_token")
    );
    assert_eq!(refresh(&s, &third).status, 401, "family revoked");
}

async fn a_reuse_after_the_grace_ends_the_session(db: TestDatabase) {
    let s = start_with_grace(&db);
    let admin = admin_auth(&s);
    let (_, first, _) = tokens(&s, "admin", ADMIN_PASSWORD);
    let r = refresh(&s, &first);
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    let next = body["refresh_token"].as_str().unwrap().to_owned();
    let next_access = body["access_token"].as_str().unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(GRACE_SECONDS * 1000 + 300));
    let r = refresh(&s, &first);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "invalid_refresh_token")
    );
    assert_eq!(refresh(&s, &next).status, 401, "family revoked after reuse");
    assert_eq!(
        get(&s, "/api/v1/auth/me", &bearer(&next_access)).status,
        401
    );
    assert!(!audit_actions(&s, &admin, "refresh_token_reuse").is_empty());
}

on_both!(
    parallel_refreshes_within_the_grace_share_one_successor,
    a_retried_rotation_within_the_grace_gets_the_same_next_token,
    a_token_whose_successor_was_rotated_is_a_replay_even_within_the_grace,
    a_reuse_after_the_grace_ends_the_session,
);

#[tokio::test]
async fn with_auth_disabled_everything_is_the_default_organization() {
    let db = TestDatabase::sqlite();
    let s = Server::start(&db.url(), &[]);
    let me = s.get("/api/v1/auth/me").json();
    assert_eq!(me["auth_method"], "none");
    assert_eq!(me["role"], "org_admin");
    assert_eq!(me["organization"]["slug"], "default");
    assert!(me["user"].is_null());
    // Credentials are not needed, and not consulted.
    let r = s.call(
        "GET",
        "/api/v1/organizations/me",
        &[("authorization", "Bearer junk")],
        None,
    );
    assert_eq!(r.status, 200);
}

/// The request ids of the logins whose handler has run a query (the server
/// logs its queries at debug level, in the request's span).
fn logins_started(lines: &[String]) -> std::collections::HashSet<String> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "sqlx::query" && v["span"]["path"] == "/api/v1/auth/login")
        .filter_map(|v| v["span"]["request_id"].as_str().map(str::to_owned))
        .collect()
}

/// How many logins have been answered.
fn logins_served(lines: &[String]) -> usize {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["fields"]["message"] == "request served" && v["span"]["path"] == "/api/v1/auth/login"
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_logins_finish() {
    const LOGINS: usize = 24;
    let db = TestDatabase::sqlite();
    let mut s = start(&db, &[("LOG_LEVEL", "info,sqlx::query=debug")]);
    // Each login is ~25 ms of CPU by design: 24 at once keep the server busy
    // for several hundred milliseconds.
    let url = format!("{}/api/v1/auth/login", s.base);
    let body = json!({"email_or_username": "admin", "password": ADMIN_PASSWORD}).to_string();
    let threads: Vec<_> = (0..LOGINS)
        .map(|_| {
            let agent = s.agent();
            let (url, body) = (url.clone(), body.clone());
            std::thread::spawn(move || {
                agent
                    .post(&url)
                    .header("content-type", "application/json")
                    .send(body)
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    // The signal lands once every login has reached its handler.
    s.wait_until(
        std::time::Duration::from_secs(30),
        "every login in flight",
        |lines| logins_started(lines).len() == LOGINS,
    );
    let (status, logs) = s.stop();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(status.success(), "exit 0 after draining");
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every in-flight login answered: {statuses:?}"
    );
    let signal = logs
        .iter()
        .position(|l| support::message(l).is_some_and(|m| m.starts_with("SIGTERM received")))
        .unwrap();
    assert!(
        logins_served(&logs[..signal]) < LOGINS,
        "some logins were still in flight at the signal"
    );
    let said = support::messages(&logs);
    let signal = said
        .iter()
        .position(|m| m.starts_with("SIGTERM received"))
        .unwrap();
    let closed = said
        .iter()
        .position(|m| m == "Database connections closed")
        .unwrap();
    assert!(signal < closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weaker_stored_hashes_are_upgraded_on_login() {
    let db = TestDatabase::sqlite();
    // Seeded with a cheaper cost than the one configured later.
    let s = start(
        &db,
        &[("ARGON2_ITERATIONS", "1"), ("ARGON2_MEMORY_KIB", "8192")],
    );
    s.stop();
    let stored = || async {
        let pool = sqlx::SqlitePool::connect(&db.url()).await.unwrap();
        let hash: String =
            sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'admin'")
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;
        hash
    };
    assert!(stored().await.contains("m=8192,t=1,p=1"));
    let s = start(&db, &[]);
    tokens(&s, "admin", ADMIN_PASSWORD);
    let upgraded = stored().await;
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{upgraded}"
    );
    // And the new hash still lets the user in.
    tokens(&s, "admin", ADMIN_PASSWORD);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistyped_keys_are_refused_without_the_database() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let s = start(&db, &[("DB_CONNECT_TIMEOUT_SECONDS", "1")]);
    let format = curatore_auth::ApiKeyFormat::new("cur_");
    let unknown = format.generate().key.expose().to_owned();
    let mut typo = unknown.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == 'x' { 'y' } else { 'x' });
    db.begin_outage().await;
    // The checksum is wrong: answered without a query, so the outage does not show.
    let r = s.call("GET", "/api/v1/auth/me", &[("x-api-key", &typo)], None);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "invalid_api_key")
    );
    // A well-formed key has to be looked up, which the outage prevents.
    let r = s.call("GET", "/api/v1/auth/me", &[("x-api-key", &unknown)], None);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (503, "database_unavailable")
    );
    db.end_outage().await;
    let r = s.call("GET", "/api/v1/auth/me", &[("x-api-key", &unknown)], None);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "invalid_api_key")
    );
}

/// A login from `client` (the server must trust 127.0.0.1 as a proxy).
fn login_from(s: &Server, client: &str, who: &str, password: &str) -> Reply {
    s.call(
        "POST",
        "/api/v1/auth/login",
        &[("x-forwarded-for", client)],
        Some(&json!({"email_or_username": who, "password": password})),
    )
}

fn assert_too_many_attempts(r: &Reply, window: u64) {
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (429, "too_many_attempts"),
        "{r:?}"
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= window, "Retry-After {retry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_are_verified_at_most_the_limit() {
    let db = TestDatabase::sqlite();
    let s = start(&db, &[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "5")]);
    let replies: Vec<Reply> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..30)
            .map(|_| scope.spawn(|| login(&s, "admin", "wrong-password")))
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let refused = replies.iter().filter(|r| r.status == 401).count();
    let limited: Vec<&Reply> = replies.iter().filter(|r| r.status == 429).collect();
    assert!(
        (1..=5).contains(&refused),
        "at most the limit verified: {refused} × 401"
    );
    assert_eq!(refused + limited.len(), 30, "only 401 or 429: {replies:?}");
    for r in limited {
        assert_too_many_attempts(r, 900);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guessing_address_locks_itself_out_not_the_owner() {
    let db = TestDatabase::sqlite();
    let s = start(&db, &[("TRUSTED_PROXIES", "127.0.0.1")]);
    let attacker = "203.0.113.10";
    let statuses: Vec<u16> = (0..10)
        .map(|_| login_from(&s, attacker, "admin", "wrong-password").status)
        .collect();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
    // The attacker's address stays locked out, even with the right password.
    let r = login_from(&s, attacker, "admin", ADMIN_PASSWORD);
    assert_too_many_attempts(&r, 900);
    // The owner, from another address, still gets in.
    let r = login_from(&s, "198.51.100.20", "admin", ADMIN_PASSWORD);
    assert_eq!(r.status, 200, "{r:?}");
    // And the attacker's address may still try other accounts.
    let r = login_from(&s, attacker, "someone-else", "wrong-password");
    assert_eq!(r.status, 401, "{r:?}");
    // Six 429s for the account from that address: one audit entry, sampled.
    let admin = format!(
        "Bearer {}",
        r_json_token(&login_from(&s, "198.51.100.20", "admin", ADMIN_PASSWORD))
    );
    let limited = audit_actions(&s, &admin, "rate_limited");
    assert_eq!(limited.len(), 1, "{limited:?}");
    assert_eq!(limited[0]["ip_address"], attacker);
    assert_eq!(limited[0]["status"], "failure");
    assert_eq!(limited[0]["details"]["limit"], "login");
}

fn r_json_token(r: &Reply) -> String {
    r.json()["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_and_email_share_one_budget() {
    let db = TestDatabase::sqlite();
    let s = start(&db, &[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "4")]);
    for who in ["admin", "ADMIN@EXAMPLE.COM", "admin", " admin@example.com "] {
        let r = login(&s, who, "wrong-password");
        assert_eq!(r.status, 401, "{who}: {r:?}");
    }
    for who in ["admin", "Admin@Example.com"] {
        assert_too_many_attempts(&login(&s, who, "wrong-password"), 900);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_registration_is_limited_per_address() {
    let db = TestDatabase::sqlite();
    let s = start(
        &db,
        &[
            ("ALLOW_REGISTRATION", "true"),
            ("REGISTRATION_LIMIT_PER_IP", "3"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    );
    let replies: Vec<Reply> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..12)
            .map(|i| {
                let s = &s;
                scope.spawn(move || {
                    s.call(
                        "POST",
                        "/api/v1/auth/register",
                        &[("x-forwarded-for", "203.0.113.30")],
                        Some(&json!({
                            "email": format!("bot{i}@example.com"),
                            "username": format!("bot{i}"),
                            "password": "long enough pw",
                        })),
                    )
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 3, "{replies:?}");
    for r in replies.iter().filter(|r| r.status != 201) {
        assert_too_many_attempts(r, 3600);
    }
    // Another address is not affected.
    let r = s.call(
        "POST",
        "/api/v1/auth/register",
        &[("x-forwarded-for", "198.51.100.30")],
        Some(&json!({"email": "human@example.com", "username": "human", "password": "long enough pw"})),
    );
    assert_eq!(r.status, 201, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_cannot_create_users_or_keys() {
    let db = TestDatabase::sqlite();
    let s = start(&db, &[]);
    let (access, _, _) = tokens(&s, "admin", ADMIN_PASSWORD);
    let r = s.call(
        "POST",
        "/api/v1/api-keys",
        &[("authorization", &bearer(&access))],
        Some(&json!({"name": "admin key"})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let key = r.json()["api_key"].as_str().unwrap().to_owned();
    for auth in [("x-api-key", key.clone()), ("authorization", bearer(&key))] {
        let headers = [(auth.0, auth.1.as_str())];
        let r = s.call(
            "POST",
            "/api/v1/auth/register",
            &headers,
            Some(&json!({"email": "shadow@example.com", "username": "shadow", "password": "long enough pw", "role": "org_admin"})),
        );
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (403, "forbidden"),
            "{r:?}"
        );
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("API keys cannot create users")
        );
        let r = s.call(
            "POST",
            "/api/v1/api-keys",
            &headers,
            Some(&json!({"name": "child"})),
        );
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (403, "forbidden"),
            "{r:?}"
        );
    }
    // The same request with the admin's token works: the refusal is about the key.
    let r = register(
        &s,
        Some(&bearer(&access)),
        json!({"email": "shadow@example.com", "username": "shadow", "password": "long enough pw", "role": "org_admin"}),
    );
    assert_eq!(r.status, 201, "{r:?}");
}
