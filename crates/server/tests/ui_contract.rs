//! The original's web UI against this server, black-box on both engines: each
//! request its `frontend/lib/api.ts` makes for signing in, the profile, the
//! health poll, the status routes and System Health cards, the users pages
//! (with its role names), the settings and connections pages, sent from its origin
//! (`http://localhost:3000`) with its paths and bodies, and every field the
//! UI reads checked; preflights, 401, 404, 405 and 429 carry the CORS
//! headers, and every error the `detail` the UI shows.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use support::{Reply, Server, assert_cors, on_both};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";
const UI: &str = support::UI_ORIGIN;

fn start(db: &TestDatabase) -> Server {
    Server::start(
        &db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "2"),
        ],
    )
}

/// A request as the UI's browser sends it: with its `Origin`, and the bearer
/// token when given.
fn ui(s: &Server, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("origin", UI)];
    if let Some(auth) = auth.as_deref() {
        headers.push(("authorization", auth));
    }
    s.call(method, &format!("/api/v1{path}"), &headers, body)
}

/// An error the UI can show: CORS headers, our code, and `detail` = message.
fn assert_ui_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert_cors(r);
    assert_eq!(r.error_code(), code, "{r:?}");
    let body = r.json();
    assert_eq!(body["detail"], body["error"]["message"], "{body}");
}

fn str_field<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string `{field}` in {v}"))
}

/// `authApi.login`: the tokens and `user` with the fields the UI keeps.
fn login(s: &Server, who: &str, password: &str) -> (String, Value) {
    let r = ui(
        s,
        "POST",
        "/auth/login",
        None,
        Some(&json!({"email_or_username": who, "password": password})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_cors(&r);
    let body = r.json();
    for field in ["access_token", "refresh_token", "token_type"] {
        str_field(&body, field);
    }
    let user = &body["user"];
    for field in ["id", "email", "username", "role", "organization_id"] {
        str_field(user, field);
    }
    assert!(user.get("full_name").is_some(), "{user}");
    (str_field(&body, "access_token").to_owned(), body)
}

async fn signing_in_and_the_profile(db: TestDatabase) {
    let s = start(&db);

    // The preflight of the login form: answered without credentials.
    let r = s.call(
        "OPTIONS",
        "/api/v1/auth/login",
        &[
            ("origin", UI),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type,authorization",
            ),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_cors(&r);
    let methods = r.header("access-control-allow-methods").unwrap_or_default();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        assert!(methods.contains(method), "{method} not allowed: {r:?}");
    }
    let headers = r
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        headers.contains("content-type") && headers.contains("authorization"),
        "{r:?}"
    );
    // Another origin gets no permission, and a JSON refusal.
    let r = s.call(
        "OPTIONS",
        "/api/v1/auth/login",
        &[
            ("origin", "http://evil.example"),
            ("access-control-request-method", "POST"),
        ],
        None,
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
    assert_eq!(r.error_code(), "bad_request");

    let (token, _) = login(&s, "admin", ADMIN_PASSWORD);

    // `authApi.getCurrentUser`: the flat profile.
    let r = ui(&s, "GET", "/auth/me", Some(&token), None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_cors(&r);
    let me = r.json();
    for field in [
        "id",
        "email",
        "username",
        "role",
        "organization_id",
        "organization_name",
        "created_at",
    ] {
        str_field(&me, field);
    }
    assert_eq!(me["username"], "admin");
    assert_eq!(me["role"], "org_admin", "roles are not renamed for the UI");
    assert_eq!(me["is_active"], true);
    assert!(me["is_verified"].is_boolean(), "{me}");
    assert!(me["last_login_at"].is_string(), "signed in just now: {me}");
    assert!(me.get("full_name").is_some(), "{me}");

    // `authApi.register` as the admin: the same profile, 201.
    let r = ui(
        &s,
        "POST",
        "/auth/register",
        Some(&token),
        Some(&json!({
            "email": "reg@example.test",
            "username": "reg",
            "password": ADMIN_PASSWORD,
            "full_name": "Reg Istered",
            "organization_name": "ignored",
        })),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_cors(&r);
    let profile = r.json();
    assert_eq!(profile["email"], "reg@example.test");
    assert_eq!(profile["username"], "reg");
    assert_eq!(profile["full_name"], "Reg Istered");
    assert_eq!(profile["role"], "member");
    assert_eq!(profile["organization_id"], me["organization_id"]);
    assert_eq!(profile["organization_name"], me["organization_name"]);
    assert_eq!(profile["is_active"], true);
    assert!(profile["is_verified"].is_boolean(), "{profile}");
    str_field(&profile, "created_at");

    // `systemApi.getHealth`, polled by every page, signed in or not.
    for token in [Some(token.as_str()), None] {
        let r = ui(&s, "GET", "/health", token, None);
        assert_eq!(r.status, 200, "{r:?}");
        assert_cors(&r);
        let health = r.json();
        assert_eq!(health["status"], "healthy", "{health}");
        assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(health["llm_connected"], false, "no llm connection yet");
        assert_eq!(health["storage_available"], true);
        str_field(&health, "timestamp");
    }

    // Errors the browser must be allowed to read, each with `detail`.
    let r = ui(&s, "GET", "/auth/me", None, None);
    assert_ui_error(&r, 401, "authentication_required");
    let r = ui(&s, "GET", "/auth/me", Some("not-a-token"), None);
    assert_ui_error(&r, 401, "invalid_token");
    for path in [
        "/config/supported-formats",
        "/config/defaults",
        "/system/queues",
    ] {
        let r = ui(&s, "GET", path, Some(&token), None);
        assert_ui_error(&r, 404, "not_found");
    }
    let r = ui(&s, "DELETE", "/auth/login", None, None);
    assert_ui_error(&r, 405, "method_not_allowed");
    // Bad JSON is rewritten by the middleware and keeps its headers too.
    let r = ui(&s, "POST", "/auth/login", None, Some(&json!({"nope": 1})));
    assert_eq!(r.status / 100, 4, "{r:?}");
    assert_cors(&r);
    assert!(r.json()["detail"].is_string(), "{r:?}");

    // Failed logins until the limit: the 429 carries CORS and Retry-After.
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..6 {
        let r = ui(
            &s,
            "POST",
            "/auth/login",
            None,
            Some(&json!({"email_or_username": "reg", "password": "wrong-password"})),
        );
        statuses.push(r.status);
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_ui_error(&r, 401, "invalid_credentials");
    }
    let r = limited.unwrap_or_else(|| panic!("never limited: {statuses:?}"));
    assert_ui_error(&r, 429, "too_many_attempts");
    assert!(r.header("retry-after").is_some(), "{r:?}");
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(exposed.contains("retry-after"), "{r:?}");

    // Another origin's request is served, but without CORS headers: the
    // browser hides the answer.
    let r = s.call(
        "GET",
        "/api/v1/health",
        &[("origin", "http://evil.example")],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
}

async fn the_users_pages(db: TestDatabase) {
    let s = start(&db);
    let (admin, admin_login) = login(&s, "admin", ADMIN_PASSWORD);
    let admin_id = str_field(&admin_login["user"], "id").to_owned();

    // `usersApi.inviteUser`: no username, the password generated.
    let r = ui(
        &s,
        "POST",
        "/users/invite",
        Some(&admin),
        Some(&json!({
            "email": "Jane.Doe@example.test",
            "role": "member",
            "full_name": "Jane Doe",
            "send_email": true,
        })),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_cors(&r);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let invited = r.json();
    assert!(
        str_field(&invited, "message").contains("no e-mail was sent"),
        "{invited}"
    );
    let jane = invited["user"].clone();
    assert_eq!(jane["email"], "jane.doe@example.test");
    assert_eq!(jane["username"], "jane.doe", "derived from the e-mail");
    assert_eq!(jane["full_name"], "Jane Doe");
    assert_eq!(jane["role"], "member");
    let jane_id = str_field(&jane, "id").to_owned();
    let temporary = str_field(&invited, "temporary_password").to_owned();
    assert!(temporary.len() >= 16, "{invited}");
    // The same local part elsewhere gets a username of its own.
    let r = ui(
        &s,
        "POST",
        "/users/invite",
        Some(&admin),
        Some(&json!({"email": "jane.doe@other.test", "role": "viewer"})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json()["user"]["username"], "jane.doe2");
    assert_eq!(r.json()["user"]["role"], "viewer");
    // The invite form's own role names: `admin` is org_admin, `user` member;
    // the answers use ours.
    for (email, ui_role, role) in [
        ("ui.admin@example.test", "admin", "org_admin"),
        ("ui.user@example.test", "user", "member"),
    ] {
        let r = ui(
            &s,
            "POST",
            "/users/invite",
            Some(&admin),
            Some(
                &json!({"email": email, "role": ui_role, "full_name": "From the form", "send_email": false}),
            ),
        );
        assert_eq!(r.status, 201, "{ui_role}: {r:?}");
        assert_eq!(r.json()["user"]["role"], role, "{r:?}");
        // ... who signs in with the temporary password shown once.
        let password = str_field(&r.json(), "temporary_password").to_owned();
        let (_, signed_in) = login(&s, email, &password);
        assert_eq!(signed_in["password_change_required"], json!(true));
        assert_eq!(signed_in["user"]["role"], role);
    }
    // The list's role filter reads them too.
    let r = ui(&s, "GET", "/users?role=admin", Some(&admin), None);
    assert_eq!(r.status, 200, "{r:?}");
    let roles: Vec<Value> = r.json()["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["role"].clone())
        .collect();
    assert_eq!(roles, [json!("org_admin"), json!("org_admin")], "{r:?}");
    // A role the server does not know is refused, naming the roles.
    let r = ui(
        &s,
        "POST",
        "/users/invite",
        Some(&admin),
        Some(&json!({"email": "x@example.test", "role": "owner"})),
    );
    assert_ui_error(&r, 400, "validation_failed");
    assert!(
        r.json()["detail"].as_str().unwrap().contains("org_admin"),
        "{r:?}"
    );
    // Our own routes keep our names only.
    let r = ui(
        &s,
        "POST",
        "/organizations/me/users",
        Some(&admin),
        Some(&json!({"email": "y@example.test", "username": "yname", "role": "admin"})),
    );
    assert_ui_error(&r, 400, "validation_failed");

    // The invited user signs in with the password shown once, and must
    // change it before anything else.
    let (jane_token, jane_login) = login(&s, "jane.doe@example.test", &temporary);
    assert_eq!(jane_login["password_change_required"], json!(true));
    let r = ui(&s, "GET", "/auth/me", Some(&jane_token), None);
    assert_ui_error(&r, 403, "password_change_required");
    let r = ui(
        &s,
        "POST",
        "/auth/change-password",
        Some(&jane_token),
        Some(&json!({"current_password": temporary, "new_password": "janes-own-password"})),
    );
    assert_eq!(r.status, 204, "{r:?}");

    // `usersApi.listUsers`: every field the table reads.
    let r = ui(&s, "GET", "/users", Some(&admin), None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_cors(&r);
    let list = r.json();
    assert_eq!(list["total"], 5, "{list}");
    let users = list["users"].as_array().unwrap();
    let row = users
        .iter()
        .find(|u| u["id"] == jane_id.as_str())
        .unwrap_or_else(|| panic!("jane not listed: {list}"));
    for field in [
        "id",
        "email",
        "username",
        "role",
        "organization_id",
        "created_at",
    ] {
        str_field(row, field);
    }
    assert_eq!(row["is_active"], true);
    assert!(row["last_login"].is_string(), "signed in: {row}");
    assert_eq!(row["last_login"], row["last_login_at"]);
    assert!(row.get("full_name").is_some());

    // A member may not see the users page's API.
    let r = ui(&s, "GET", "/users", Some(&jane_token), None);
    assert_ui_error(&r, 403, "forbidden");

    // `usersApi.getUser`.
    let r = ui(&s, "GET", &format!("/users/{jane_id}"), Some(&admin), None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["email"], "jane.doe@example.test");
    let r = ui(
        &s,
        "GET",
        "/users/00000000-0000-4000-8000-000000000000",
        Some(&admin),
        None,
    );
    assert_ui_error(&r, 404, "not_found");

    // `usersApi.updateUser`, the edit form's whole body.
    let r = ui(
        &s,
        "PUT",
        &format!("/users/{jane_id}"),
        Some(&admin),
        Some(&json!({
            "email": "jane@example.test",
            "username": "jane",
            "full_name": "Jane Q. Doe",
            "role": "viewer",
            "is_active": true,
        })),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_cors(&r);
    let updated = r.json();
    str_field(&updated, "message");
    let user = &updated["user"];
    assert_eq!(
        (
            &user["email"],
            &user["username"],
            &user["full_name"],
            &user["role"]
        ),
        (
            &json!("jane@example.test"),
            &json!("jane"),
            &json!("Jane Q. Doe"),
            &json!("viewer")
        )
    );
    // The form's role names work on edit too (and the answer says ours).
    let r = ui(
        &s,
        "PUT",
        &format!("/users/{jane_id}"),
        Some(&admin),
        Some(&json!({"role": "user"})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["user"]["role"], "member", "{r:?}");
    // Another user's e-mail or username: 409, and nothing of the request is kept.
    for (field, taken, code) in [
        ("username", "admin", "username_taken"),
        ("email", "admin@example.com", "email_taken"),
    ] {
        let r = ui(
            &s,
            "PUT",
            &format!("/users/{jane_id}"),
            Some(&admin),
            Some(&json!({"full_name": "Not kept", field: taken})),
        );
        assert_ui_error(&r, 409, code);
    }
    let r = ui(&s, "GET", &format!("/users/{jane_id}"), Some(&admin), None);
    assert_eq!(r.json()["full_name"], "Jane Q. Doe", "{r:?}");
    // The admin's own row from the same form: role and deactivation refused.
    let r = ui(
        &s,
        "PUT",
        &format!("/users/{admin_id}"),
        Some(&admin),
        Some(&json!({"is_active": false})),
    );
    assert_ui_error(&r, 403, "forbidden");
    let r = ui(
        &s,
        "PUT",
        &format!("/users/{admin_id}"),
        Some(&admin),
        Some(&json!({"role": "member", "full_name": "Admin", "is_active": true})),
    );
    assert_ui_error(&r, 403, "forbidden");

    // `usersApi.changePassword` by the admin for jane: her sessions end.
    let r = ui(
        &s,
        "PUT",
        &format!("/users/{jane_id}/password"),
        Some(&admin),
        Some(&json!({"new_password": "set-by-the-admin-1"})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    str_field(&r.json(), "message");
    let r = ui(
        &s,
        "POST",
        "/auth/login",
        None,
        Some(&json!({"email_or_username": "jane", "password": temporary})),
    );
    assert_ui_error(&r, 401, "invalid_credentials");
    let (jane_token, _) = login(&s, "jane", "set-by-the-admin-1");
    let (jane_other, _) = login(&s, "jane", "set-by-the-admin-1");
    // ... and by jane for herself: her other session ends, this one stays.
    let r = ui(
        &s,
        "PUT",
        &format!("/users/{jane_id}/password"),
        Some(&jane_token),
        Some(&json!({"new_password": "chosen-by-jane-22"})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        ui(&s, "GET", "/auth/me", Some(&jane_token), None).status,
        200
    );
    let r = ui(&s, "GET", "/auth/me", Some(&jane_other), None);
    assert_eq!(r.status, 401, "the other session ended: {r:?}");
    let r = ui(
        &s,
        "PUT",
        &format!("/users/{jane_id}/password"),
        Some(&jane_token),
        Some(&json!({"new_password": "short"})),
    );
    assert_ui_error(&r, 400, "weak_password");
    // A member cannot set another user's password.
    let r = ui(
        &s,
        "PUT",
        &format!("/users/{admin_id}/password"),
        Some(&jane_token),
        Some(&json!({"new_password": "taken-over-admin-1"})),
    );
    assert_ui_error(&r, 403, "forbidden");
    login(&s, "jane", "chosen-by-jane-22");

    // `usersApi.deleteUser`: 200 with a message, a soft deactivation that
    // ends her access at once.
    let r = ui(
        &s,
        "DELETE",
        &format!("/users/{jane_id}"),
        Some(&admin),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_cors(&r);
    str_field(&r.json(), "message");
    let r = ui(&s, "GET", &format!("/users/{jane_id}"), Some(&admin), None);
    assert_eq!(r.json()["is_active"], false, "the row stays");
    let r = ui(&s, "GET", "/auth/me", Some(&jane_token), None);
    assert_eq!(r.status, 401, "{r:?}");
    let r = ui(
        &s,
        "DELETE",
        &format!("/users/{admin_id}"),
        Some(&admin),
        None,
    );
    assert_ui_error(&r, 403, "forbidden");
    // The edit form's `is_active: true` brings her back.
    let r = ui(
        &s,
        "PUT",
        &format!("/users/{jane_id}"),
        Some(&admin),
        Some(&json!({"is_active": true})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["user"]["is_active"], true);
    login(&s, "jane", "chosen-by-jane-22");
}

/// The status every page's layout polls, and the System Health page's
/// cards: the organization's default LLM and extraction connections, from
/// their stored state (no call out). Without credentials, the default
/// organization's, as the original answered; the deployment's details only
/// under `HEALTH_DETAILS=public` (the default); never a secret.
async fn the_status_routes(db: TestDatabase) {
    let s = start(&db);
    let (admin, _) = login(&s, "admin", ADMIN_PASSWORD);
    for (path, kind) in [("/llm/status", "llm"), ("/extractor/status", "extraction")] {
        for token in [Some(admin.as_str()), None] {
            let r = ui(&s, "GET", path, token, None);
            assert_eq!(r.status, 200, "{r:?}");
            assert_cors(&r);
            let body = r.json();
            assert_eq!(body["connected"], false, "{body}");
            assert!(
                str_field(&body, "error").contains(&format!("no {kind} connection")),
                "{body}"
            );
        }
        // Credentials that are sent must be valid.
        let r = ui(&s, "GET", path, Some("not-a-token"), None);
        assert_ui_error(&r, 401, "invalid_token");
    }
    let r = ui(
        &s,
        "POST",
        "/connections",
        Some(&admin),
        Some(
            &json!({"name": "Model", "connection_type": "llm", "is_default": true,
            "test_on_save": false,
            "config": {"api_key": "sk-never-shown", "model": "gpt-x",
                       "base_url": "http://127.0.0.1:9/v1"}}),
        ),
    );
    assert_eq!(r.status, 201, "{r:?}");
    for token in [Some(admin.as_str()), None] {
        let r = ui(&s, "GET", "/llm/status", token, None);
        let body = r.json();
        assert_eq!(body["connected"], false, "never tested: {body}");
        assert_eq!(body["endpoint"], "http://127.0.0.1:9/v1", "{body}");
        assert_eq!(body["model"], "gpt-x", "{body}");
        assert_eq!(body["source"], "database", "{body}");
        assert!(str_field(&body, "error").contains("not tested"), "{body}");
        assert!(!r.body.contains("sk-never-shown"), "{body}");
    }
    let health = ui(&s, "GET", "/health", None, None).json();
    assert_eq!(health["llm_connected"], false, "{health}");

    // Another organization's admin gets their own organization's status.
    let r = ui(
        &s,
        "POST",
        "/organizations",
        Some(&admin),
        Some(&json!({"name": "Beta", "slug": "beta", "admin": {
            "email": "boss@beta.example", "username": "boss", "password": "a-long-beta-password"}})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let (boss, _) = login(&s, "boss", "a-long-beta-password");
    let body = ui(&s, "GET", "/llm/status", Some(&boss), None).json();
    assert!(body["model"].is_null(), "Beta has no connection: {body}");

    // The System Health page's cards, fetched without a token.
    let cards = |s: &Server| {
        let mut cards = serde_json::Map::new();
        for component in [
            "llm",
            "extraction",
            "sharepoint",
            "redis",
            "celery",
            "docling",
        ] {
            let r = ui(s, "GET", &format!("/system/health/{component}"), None, None);
            assert_eq!(r.status, 200, "{component}: {r:?}");
            assert_cors(&r);
            assert!(!r.body.contains("sk-never-shown"), "{r:?}");
            let card = r.json();
            str_field(&card, "message");
            cards.insert(component.to_owned(), card);
        }
        cards
    };
    let public = cards(&s);
    assert_eq!(
        public["llm"]["status"], "unknown",
        "never tested: {public:?}"
    );
    assert_eq!(public["llm"]["model"], "gpt-x");
    assert_eq!(public["llm"]["endpoint"], "http://127.0.0.1:9/v1");
    assert_eq!(public["llm"]["configured"], true);
    for component in ["extraction", "sharepoint"] {
        assert_eq!(public[component]["status"], "not_configured", "{public:?}");
        assert_eq!(public[component]["configured"], false);
    }
    for component in ["redis", "celery", "docling"] {
        assert_eq!(public[component]["status"], "not_applicable", "{public:?}");
        assert!(
            str_field(&public[component], "message").contains("not part of this server"),
            "{public:?}"
        );
    }
    s.stop();

    // With HEALTH_DETAILS=authenticated, anonymous callers learn only
    // whether it is connected; signed-in callers still see everything.
    let s = Server::start(
        &db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("HEALTH_DETAILS", "authenticated"),
        ],
    );
    let r = ui(&s, "GET", "/llm/status", None, None);
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    assert_eq!(body["connected"], false, "{body}");
    for field in [
        "endpoint",
        "model",
        "connection_id",
        "timeout",
        "ssl_verify",
    ] {
        assert!(body[field].is_null(), "{field}: {body}");
    }
    assert!(!r.body.contains("127.0.0.1:9"), "{body}");
    let (admin, _) = login(&s, "admin", ADMIN_PASSWORD);
    let body = ui(&s, "GET", "/llm/status", Some(&admin), None).json();
    assert_eq!(body["model"], "gpt-x", "{body}");
    let private = cards(&s);
    assert_eq!(private["llm"]["status"], "unknown", "{private:?}");
    assert!(private["llm"].get("model").is_none(), "{private:?}");
    assert!(private["llm"].get("endpoint").is_none(), "{private:?}");
    assert!(
        !private["llm"].to_string().contains("127.0.0.1"),
        "{private:?}"
    );
}

/// The settings and connections pages: every field their code reads.
async fn the_settings_and_connections_pages(db: TestDatabase) {
    let s = start(&db);
    let (admin, _) = login(&s, "admin", ADMIN_PASSWORD);
    // settingsApi.getOrganizationSettings / updateOrganizationSettings
    let r = ui(&s, "GET", "/settings/organization", Some(&admin), None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_cors(&r);
    let org = r.json();
    str_field(&org, "organization_id");
    str_field(&org, "organization_name");
    let loaded = org["settings"].clone();
    // The Admin Settings page loads what the original seeded into every
    // organization (its `create_default_organization`).
    assert_eq!(
        loaded,
        json!({"quality_thresholds": {"conversion": 70, "clarity": 7, "completeness": 7,
               "relevance": 7, "markdown": 7}, "auto_optimize": false}),
        "{org}"
    );
    // What the page loaded, it can save back.
    let r = ui(
        &s,
        "PUT",
        "/settings/organization",
        Some(&admin),
        Some(&json!({ "settings": loaded })),
    );
    assert_eq!(r.status, 200, "saving what was loaded: {r:?}");
    let r = ui(
        &s,
        "PUT",
        "/settings/organization",
        Some(&admin),
        Some(&json!({"settings": {"quality_thresholds": {"clarity": 8}, "auto_optimize": true}})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let saved = r.json();
    str_field(&saved, "message");
    assert_eq!(saved["settings"]["auto_optimize"], true, "{saved}");
    // ... and reads the change back.
    let r = ui(&s, "GET", "/settings/organization", Some(&admin), None);
    assert_eq!(
        r.json()["settings"],
        json!({"quality_thresholds": {"conversion": 70, "clarity": 8, "completeness": 7,
               "relevance": 7, "markdown": 7}, "auto_optimize": true}),
        "{r:?}"
    );
    let r = ui(
        &s,
        "PUT",
        "/settings/organization",
        Some(&admin),
        Some(&json!({"settings": {"no_such_key": 1}})),
    );
    assert!(r.status == 400 || r.status == 422, "{r:?}");
    assert_cors(&r);
    assert!(
        r.json()["detail"].as_str().unwrap().contains("no_such_key"),
        "{r:?}"
    );
    // settingsApi.getUserSettings / updateUserSettings / getSettingsSchema
    let user = ui(&s, "GET", "/settings/user", Some(&admin), None).json();
    str_field(&user, "user_id");
    assert!(user["settings"].is_object(), "{user}");
    let r = ui(
        &s,
        "PUT",
        "/settings/user",
        Some(&admin),
        Some(&json!({"settings": {"auto_optimize": false}})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    str_field(&r.json(), "message");
    let schema = ui(&s, "GET", "/settings/schema", Some(&admin), None).json();
    for field in ["organization_schema", "user_schema", "merged_example"] {
        assert!(schema[field].is_object(), "{field}: {schema}");
    }
    assert_eq!(
        schema["organization_schema"]["additionalProperties"], false,
        "{schema}"
    );
    // connectionsApi.listTypes: each type with its schema and an example.
    let types = ui(&s, "GET", "/connections/types", Some(&admin), None).json();
    let types = types["types"].as_array().unwrap().clone();
    assert_eq!(types.len(), 3, "{types:?}");
    for t in &types {
        for field in ["type", "display_name", "description"] {
            str_field(t, field);
        }
        assert!(
            t["config_schema"].is_object() && t["schema"].is_object(),
            "{t}"
        );
        assert!(t["example_config"].is_object(), "{t}");
    }
    // connectionsApi.createConnection / listConnections: the cards' fields.
    let r = ui(
        &s,
        "POST",
        "/connections",
        Some(&admin),
        Some(
            &json!({"name": "Extraction", "connection_type": "extraction", "test_on_save": false,
            "config": {"service_url": "http://127.0.0.1:9"}}),
        ),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_cors(&r);
    let list = ui(&s, "GET", "/connections", Some(&admin), None).json();
    assert_eq!(list["total"], 1, "{list}");
    let card = &list["connections"][0];
    for field in [
        "id",
        "name",
        "connection_type",
        "health_status",
        "scope",
        "created_at",
    ] {
        str_field(card, field);
    }
    assert_eq!(card["health_status"], "unknown", "{card}");
    for field in ["is_active", "is_default", "is_managed"] {
        assert!(card[field].is_boolean(), "{field}: {card}");
    }
}

on_both!(
    signing_in_and_the_profile,
    the_users_pages,
    the_status_routes,
    the_settings_and_connections_pages
);
