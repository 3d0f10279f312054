//! User management, black-box on both engines: admins removing each other at
//! the same moment leave exactly one admin, and a deactivation takes effect
//! at once even with the authentication cache on.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use support::{Server, on_both};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";
const USERS: &str = "/api/v1/organizations/me/users";

fn start(db: &TestDatabase) -> Server {
    Server::start(
        &db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("AUTH_CACHE_SECONDS", "30"),
        ],
    )
}

/// Signs in; answers the `Authorization` value and the response body.
fn login(s: &Server, name: &str) -> (String, Value) {
    let r = s.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": name, "password": ADMIN_PASSWORD})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    let auth = format!("Bearer {}", body["access_token"].as_str().unwrap());
    (auth, body)
}

/// Registers `name` as `role`; answers their id.
fn register(s: &Server, auth: &str, name: &str, role: &str) -> String {
    let r = s.call(
        "POST",
        "/api/v1/auth/register",
        &[("authorization", auth)],
        Some(&json!({
            "email": format!("{name}@example.test"),
            "username": name,
            "password": ADMIN_PASSWORD,
            "role": role,
        })),
    );
    assert_eq!(r.status, 201, "{r:?}");
    r.json()["id"].as_str().unwrap().to_owned()
}

/// The active org_admins: (username, id).
fn active_admins(s: &Server, auth: &str) -> Vec<(String, String)> {
    let r = s.call(
        "GET",
        &format!("{USERS}?role=org_admin&is_active=true"),
        &[("authorization", auth)],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let field = |f: &str| u[f].as_str().unwrap().to_owned();
            (field("username"), field("id"))
        })
        .collect()
}

/// Each round: two fresh admins, each removing the other at once (by
/// demotion in even rounds, by deactivation in odd ones). Exactly one request
/// wins; the other is refused, and one admin stays. The winner registers the
/// next round's pair.
async fn admins_removing_each_other_leave_one(db: TestDatabase) {
    let s = start(&db);
    let (mut root, _) = login(&s, "admin");
    for round in 0..6 {
        let (a, b) = (format!("alice{round}"), format!("bob{round}"));
        let a_id = register(&s, &root, &a, "org_admin");
        let b_id = register(&s, &root, &b, "org_admin");
        let (a_auth, _) = login(&s, &a);
        let (b_auth, _) = login(&s, &b);
        // Only a and b stay admins: whoever registered them steps down.
        for (name, id) in active_admins(&s, &a_auth) {
            if name != a && name != b {
                let r = s.call(
                    "PUT",
                    &format!("{USERS}/{id}"),
                    &[("authorization", &a_auth)],
                    Some(&json!({"role": "viewer"})),
                );
                assert_eq!(r.status, 200, "{r:?}");
            }
        }
        assert_eq!(active_admins(&s, &a_auth).len(), 2);
        let deactivate = round % 2 == 1;
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = [(&a_auth, &b_id), (&b_auth, &a_id)]
                .into_iter()
                .map(|(auth, target)| {
                    let s = &s;
                    scope.spawn(move || {
                        let path = format!("{USERS}/{target}");
                        let r = if deactivate {
                            s.call("DELETE", &path, &[("authorization", auth)], None)
                        } else {
                            s.call(
                                "PUT",
                                &path,
                                &[("authorization", auth)],
                                Some(&json!({"role": "member"})),
                            )
                        };
                        // The loser is refused: as the last admin's remover
                        // (403), or, when the winner committed first, as no
                        // longer an admin (403) or signed out (401).
                        assert!(matches!(r.status, 200 | 204 | 401 | 403), "{r:?}");
                        r.status
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won = if deactivate { 204 } else { 200 };
        assert_eq!(
            statuses.iter().filter(|s| **s == won).count(),
            1,
            "round {round}: {statuses:?}"
        );
        let survivor = if statuses[0] == won { a_auth } else { b_auth };
        let admins = active_admins(&s, &survivor);
        assert_eq!(admins.len(), 1, "round {round}: {admins:?}");
        root = survivor;
    }
}

/// A deactivated user's access token, refresh token and API key stop at once,
/// although the server caches authentications for 30 seconds.
async fn a_deactivation_takes_effect_at_once(db: TestDatabase) {
    let s = start(&db);
    let (root, _) = login(&s, "admin");
    let bob = register(&s, &root, "bob", "member");
    let (bob_auth, session) = login(&s, "bob");
    let r = s.call(
        "POST",
        "/api/v1/api-keys",
        &[("authorization", &bob_auth)],
        Some(&json!({"name": "bob's"})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let key = r.json()["key"].as_str().unwrap().to_owned();
    // Warm the cache for both credentials.
    for credential in [
        ("authorization", bob_auth.as_str()),
        ("x-api-key", key.as_str()),
    ] {
        let r = s.call("GET", "/api/v1/auth/me", &[credential], None);
        assert_eq!(r.status, 200, "{r:?}");
    }
    let r = s.call(
        "DELETE",
        &format!("{USERS}/{bob}"),
        &[("authorization", &root)],
        None,
    );
    assert_eq!(r.status, 204, "{r:?}");
    for credential in [
        ("authorization", bob_auth.as_str()),
        ("x-api-key", key.as_str()),
    ] {
        let r = s.call("GET", "/api/v1/auth/me", &[credential], None);
        assert_eq!(r.status, 401, "{credential:?}: {r:?}");
    }
    let r = s.call(
        "POST",
        "/api/v1/auth/refresh",
        &[],
        Some(&json!({"refresh_token": session["refresh_token"]})),
    );
    assert_eq!(r.status, 401, "{r:?}");
    let r = s.call(
        "POST",
        &format!("{USERS}/{bob}/reactivate"),
        &[("authorization", &root)],
        None,
    );
    assert_eq!(
        (r.status, r.json()["is_active"].clone()),
        (200, json!(true))
    );
}

/// An invite without a password answers a temporary one that signs in and
/// appears nowhere in the server's log.
async fn an_invite_returns_its_temporary_password_once(db: TestDatabase) {
    let s = start(&db);
    let (root, _) = login(&s, "admin");
    let r = s.call(
        "POST",
        USERS,
        &[("authorization", &root)],
        Some(&json!({"email": "ivy@example.test", "username": "ivy", "role": "viewer"})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let temporary = r.json()["temporary_password"].as_str().unwrap().to_owned();
    let r = s.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": "ivy", "password": temporary})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["password_change_required"], json!(true));
    let ivy_id = r.json()["user"]["id"].as_str().unwrap().to_owned();
    let ivy = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    let r = s.call(
        "GET",
        "/api/v1/organizations/me",
        &[("authorization", &ivy)],
        None,
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (403, json!("password_change_required")),
        "a session signed in with a temporary password may only change it"
    );
    let r = s.call(
        "POST",
        "/api/v1/auth/change-password",
        &[("authorization", &ivy)],
        Some(&json!({"current_password": temporary, "new_password": "ivys-chosen-password"})),
    );
    assert_eq!(r.status, 204, "{r:?}");
    let r = s.call(
        "GET",
        "/api/v1/organizations/me",
        &[("authorization", &ivy)],
        None,
    );
    assert_eq!(r.status, 200, "changed: the session works: {r:?}");
    // An admin's reset issues a one-time token, redeemed without signing in.
    let r = s.call(
        "POST",
        &format!("{USERS}/{ivy_id}/reset-password"),
        &[("authorization", &root)],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let token = r.json()["reset_token"].as_str().unwrap().to_owned();
    let redeem = json!({"token": token, "new_password": "ivys-second-password"});
    let r = s.call("POST", "/api/v1/auth/reset-password", &[], Some(&redeem));
    assert_eq!(r.status, 204, "{r:?}");
    let r = s.call("POST", "/api/v1/auth/reset-password", &[], Some(&redeem));
    assert_eq!(r.status, 400, "used once: {r:?}");
    let r = s.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": "ivy", "password": "ivys-second-password"})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["password_change_required"], json!(false));
    for secret in [&temporary, &token] {
        assert!(
            s.logs().iter().all(|line| !line.contains(secret.as_str())),
            "a temporary password or reset token was logged"
        );
    }
}

/// Fifty invites of one e-mail address at once: exactly one is created, the
/// others are told it is taken.
async fn parallel_invites_of_one_address_create_one_user(db: TestDatabase) {
    let s = Server::start(
        &db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("ARGON2_MEMORY_KIB", "1024"),
            ("ARGON2_ITERATIONS", "1"),
            ("ARGON2_PARALLELISM", "1"),
        ],
    );
    let (root, _) = login(&s, "admin");
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let (s, root) = (&s, &root);
                scope.spawn(move || {
                    let r = s.call(
                        "POST",
                        USERS,
                        &[("authorization", root)],
                        Some(&json!({"email": "ivy@example.test", "username": format!("ivy{i}")})),
                    );
                    if r.status != 201 {
                        assert_eq!(
                            (r.status, r.error_code()),
                            (409, "email_taken".into()),
                            "{r:?}"
                        );
                    }
                    r.status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
}

on_both!(
    admins_removing_each_other_leave_one,
    a_deactivation_takes_effect_at_once,
    an_invite_returns_its_temporary_password_once,
    parallel_invites_of_one_address_create_one_user,
);
