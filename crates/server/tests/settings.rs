//! Settings with precedence, black-box on both engines: who may read and
//! write each layer, the resolved value and its source after each write
//! (with a long cache, so only invalidation explains a change), refusals
//! naming the key, the free-form organization settings, and the shapes the
//! original's UI reads.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use support::{Reply, Server, on_both};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";
const PASSWORD: &str = "a-long-member-password";

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

fn get(s: &Server, auth: &str, path: &str) -> Reply {
    s.call("GET", path, &[("authorization", auth)], None)
}

fn put(s: &Server, auth: &str, path: &str, settings: Value) -> Reply {
    s.call(
        "PUT",
        path,
        &[("authorization", auth)],
        Some(&json!({ "settings": settings })),
    )
}

/// `(value, source)` of `key` in the caller's effective settings.
fn effective(s: &Server, auth: &str, key: &str) -> (Value, String) {
    let r = get(s, auth, "/api/v1/settings/effective");
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    assert_eq!(body["values"][key], body["settings"][key]["value"]);
    let item = &body["settings"][key];
    (
        item["value"].clone(),
        item["source"].as_str().unwrap().to_owned(),
    )
}

fn user(s: &Server, admin: &str, name: &str, role: &str) -> String {
    let r = s.call(
        "POST",
        "/api/v1/auth/register",
        &[("authorization", admin)],
        Some(
            &json!({"email": format!("{name}@alpha.example"), "username": name,
                     "password": PASSWORD, "role": role}),
        ),
    );
    assert_eq!(r.status, 201, "{r:?}");
    login(s, name, PASSWORD)
}

fn start(db: &TestDatabase) -> Server {
    Server::start(
        &db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
            // Long: a changed answer right after a write proves invalidation.
            ("AUTH_CACHE_SECONDS", "600"),
            ("LOGIN_MAX_FAILURES_PER_IP", "1000"),
        ],
    )
}

async fn each_layer_wins_in_turn_and_only_its_writers_may_change_it(db: TestDatabase) {
    let s = start(&db);
    let root = login(&s, "admin", ADMIN_PASSWORD);
    let member = user(&s, &root, "member", "member");
    let viewer = user(&s, &root, "viewer", "viewer");
    let key = s
        .call(
            "POST",
            "/api/v1/api-keys",
            &[("authorization", &root)],
            Some(&json!({"name": "admin key"})),
        )
        .json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let read_only_key = s
        .call(
            "POST",
            "/api/v1/api-keys",
            &[("authorization", &root)],
            Some(&json!({"name": "reader", "scopes": ["organization:read"]})),
        )
        .json()["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // A new organization holds the original's seeded values...
    assert_eq!(
        effective(&s, &member, "auto_optimize"),
        (json!(false), "organization".into())
    );
    assert_eq!(
        effective(&s, &member, "quality_thresholds"),
        (
            json!({"conversion": 70, "clarity": 7, "completeness": 7, "relevance": 7, "markdown": 7}),
            "organization".into()
        )
    );
    // ...which, removed (null), leave the defaults.
    let r = put(
        &s,
        &root,
        "/api/v1/settings/organization",
        json!({"auto_optimize": null, "quality_thresholds": null}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["settings"], json!({}));

    // Nothing stored: defaults, and the environment's own keys.
    assert_eq!(
        effective(&s, &member, "auto_optimize"),
        (json!(false), "default".into())
    );
    assert_eq!(
        effective(&s, &member, "quality_thresholds"),
        (
            json!({"conversion": 70, "clarity": 7, "completeness": 7, "relevance": 7, "markdown": 7}),
            "default".into()
        )
    );
    assert_eq!(
        effective(&s, &viewer, "enable_auth"),
        (json!(true), "environment".into())
    );

    // Anonymous callers see the public keys of the system settings only.
    let anonymous = s.get("/api/v1/settings/system");
    assert_eq!(anonymous.status, 200, "{anonymous:?}");
    let body = anonymous.json();
    assert_eq!(body["effective"]["enable_auth"]["value"], json!(true));
    assert_eq!(
        body["effective"]["allow_registration"]["source"],
        "environment"
    );
    assert!(body["effective"].get("auto_optimize").is_none(), "{body}");
    for path in [
        "/api/v1/settings/effective",
        "/api/v1/settings/organization",
        "/api/v1/settings/user",
        "/api/v1/settings/schema",
    ] {
        assert_eq!(s.get(path).status, 401, "{path}");
    }

    // System: instance administrators only (signed in).
    for (who, auth) in [("member", &member), ("viewer", &viewer)] {
        let r = put(
            &s,
            auth,
            "/api/v1/settings/system",
            json!({"auto_optimize": true}),
        );
        assert_eq!(
            (r.status, r.error_code()),
            (403, "forbidden".into()),
            "{who}"
        );
    }
    let r = s.call(
        "PUT",
        "/api/v1/settings/system",
        &[("x-api-key", &key)],
        Some(&json!({"settings": {"auto_optimize": true}})),
    );
    assert_eq!(
        r.status, 403,
        "an API key changed the system settings: {r:?}"
    );
    let r = put(
        &s,
        &root,
        "/api/v1/settings/system",
        json!({"auto_optimize": true, "quality_thresholds": {"conversion": 60}}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    assert!(body["message"].is_string());
    assert_eq!(
        body["settings"]["quality_thresholds"],
        json!({"conversion": 60})
    );
    assert_eq!(
        effective(&s, &member, "auto_optimize"),
        (json!(true), "system".into())
    );
    assert_eq!(
        effective(&s, &member, "quality_thresholds").0["conversion"],
        json!(60)
    );
    // Non-public keys stay with the instance administrators.
    let r = get(&s, &member, "/api/v1/settings/system").json();
    assert!(r["settings"].get("auto_optimize").is_none(), "{r}");
    let r = get(&s, &root, "/api/v1/settings/system").json();
    assert_eq!(r["settings"]["auto_optimize"], json!(true));
    assert_eq!(r["effective"]["auto_optimize"]["source"], "system");

    // Organization: any role reads, org_admin writes (a key of an admin too).
    for (who, auth) in [("member", &member), ("viewer", &viewer)] {
        let r = put(
            &s,
            auth,
            "/api/v1/settings/organization",
            json!({"auto_optimize": false}),
        );
        assert_eq!(
            (r.status, r.error_code()),
            (403, "forbidden".into()),
            "{who}"
        );
    }
    let r = s.call(
        "PUT",
        "/api/v1/settings/organization",
        &[("x-api-key", &read_only_key)],
        Some(&json!({"settings": {"auto_optimize": false}})),
    );
    assert_eq!(
        (r.status, r.error_code()),
        (403, "insufficient_scope".into())
    );
    let r = s.call(
        "PUT",
        "/api/v1/settings/organization",
        &[("x-api-key", &key)],
        Some(&json!({"settings": {"auto_optimize": false}})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["settings"], json!({"auto_optimize": false}));
    assert_eq!(
        effective(&s, &member, "auto_optimize"),
        (json!(false), "organization".into())
    );
    let r = get(&s, &viewer, "/api/v1/settings/organization");
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["settings"], json!({"auto_optimize": false}));
    assert!(body["organization_id"].is_string() && body["organization_name"].is_string());
    let r = s.call(
        "GET",
        "/api/v1/settings/effective",
        &[("x-api-key", &read_only_key)],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");

    // User: one's own, any role.
    for auth in [&member, &viewer] {
        let r = put(
            &s,
            auth,
            "/api/v1/settings/user",
            json!({"auto_optimize": true}),
        );
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.json()["settings"], json!({"auto_optimize": true}));
        assert!(r.json()["message"].is_string());
    }
    assert_eq!(
        effective(&s, &member, "auto_optimize"),
        (json!(true), "user".into())
    );
    assert_eq!(
        effective(&s, &root, "auto_optimize"),
        (json!(false), "organization".into()),
        "another user's settings leaked"
    );
    let r = get(&s, &member, "/api/v1/settings/user").json();
    assert!(r["user_id"].is_string());
    assert_eq!(r["settings"], json!({"auto_optimize": true}));
    // A threshold of one's own merges over the others' (field by field).
    put(
        &s,
        &member,
        "/api/v1/settings/user",
        json!({"quality_thresholds": {"clarity": 9}}),
    );
    assert_eq!(
        effective(&s, &member, "quality_thresholds"),
        (
            json!({"conversion": 60, "clarity": 9, "completeness": 7, "relevance": 7, "markdown": 7}),
            "user".into()
        )
    );
    // null removes.
    let r = put(
        &s,
        &member,
        "/api/v1/settings/user",
        json!({"auto_optimize": null, "quality_thresholds": null}),
    );
    assert_eq!(r.json()["settings"], json!({}));
    assert_eq!(
        effective(&s, &member, "auto_optimize"),
        (json!(false), "organization".into())
    );

    // Every write is in the trail.
    let r = get(
        &s,
        &root,
        "/api/v1/audit-logs?action=update_system_settings,update_organization_settings,update_user_settings&limit=1000",
    );
    let actions: Vec<String> = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for action in [
        "update_system_settings",
        "update_organization_settings",
        "update_user_settings",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} missing: {actions:?}"
        );
    }
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "update_user_settings")
            .count(),
        4
    );
    s.stop();
}

async fn another_organization_sees_only_the_system_layer(db: TestDatabase) {
    let s = start(&db);
    let root = login(&s, "admin", ADMIN_PASSWORD);
    let r = s.call(
        "POST",
        "/api/v1/organizations",
        &[("authorization", &root)],
        Some(&json!({"name": "Beta", "slug": "beta", "admin": {
            "email": "boss@beta.example", "username": "boss", "password": "a-long-beta-password"}})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let beta_id = r.json()["id"].as_str().unwrap().to_owned();
    let boss = login(&s, "boss", "a-long-beta-password");
    assert_eq!(
        put(
            &s,
            &root,
            "/api/v1/settings/organization",
            json!({"auto_optimize": true})
        )
        .status,
        200
    );
    // Beta's admin is not an instance administrator.
    let r = put(
        &s,
        &boss,
        "/api/v1/settings/system",
        json!({"auto_optimize": true}),
    );
    assert_eq!(r.status, 403);
    // Beta starts with the original's seeded settings, as every organization.
    assert_eq!(
        effective(&s, &boss, "auto_optimize"),
        (json!(false), "organization".into())
    );
    let r = get(&s, &boss, "/api/v1/settings/organization").json();
    assert_eq!(r["organization_id"], json!(beta_id));
    assert_eq!(r["organization_name"], "Beta");
    assert_eq!(
        r["settings"],
        json!({"quality_thresholds": {"conversion": 70, "clarity": 7, "completeness": 7,
               "relevance": 7, "markdown": 7}, "auto_optimize": false})
    );
    // Removed, the defaults show; the default organization's write did not reach Beta.
    let r = put(
        &s,
        &boss,
        "/api/v1/settings/organization",
        json!({"auto_optimize": null, "quality_thresholds": null}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        effective(&s, &boss, "auto_optimize"),
        (json!(false), "default".into())
    );
    let r = get(&s, &boss, "/api/v1/settings/effective").json();
    assert_eq!(r["organization_id"], json!(beta_id));
    // The system layer applies to every organization.
    put(
        &s,
        &root,
        "/api/v1/settings/system",
        json!({"auto_optimize": true}),
    );
    assert_eq!(
        effective(&s, &boss, "auto_optimize"),
        (json!(true), "system".into())
    );
    let r = put(
        &s,
        &boss,
        "/api/v1/settings/organization",
        json!({"auto_optimize": false}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        effective(&s, &boss, "auto_optimize"),
        (json!(false), "organization".into())
    );
    assert_eq!(
        effective(&s, &root, "auto_optimize"),
        (json!(true), "organization".into()),
        "Beta's write reached the default organization"
    );
    s.stop();
}

async fn unknown_keys_and_wrong_types_are_refused_naming_the_key(db: TestDatabase) {
    let s = start(&db);
    let root = login(&s, "admin", ADMIN_PASSWORD);
    let cases = [
        (json!({"colour": "red"}), 400, "unknown_setting", "colour"),
        (
            json!({"auto_optimize": "yes"}),
            422,
            "invalid_setting_value",
            "auto_optimize",
        ),
        (
            json!({"quality_thresholds": {"clarity": 50}}),
            422,
            "invalid_setting_value",
            "quality_thresholds.clarity",
        ),
        (
            json!({"quality_thresholds": {"speed": 1}}),
            422,
            "invalid_setting_value",
            "quality_thresholds.speed",
        ),
        (
            json!({"enable_auth": false}),
            400,
            "setting_not_writable",
            "enable_auth",
        ),
        (
            json!({"JWT_SECRET_KEY": "x"}),
            400,
            "setting_not_writable",
            "JWT_SECRET_KEY",
        ),
    ];
    for layer in ["system", "organization", "user"] {
        let path = format!("/api/v1/settings/{layer}");
        for (settings, status, code, key) in &cases {
            let r = put(&s, &root, &path, settings.clone());
            assert_eq!(
                (r.status, r.error_code()),
                (*status, (*code).to_owned()),
                "{path} {settings}"
            );
            let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
            assert!(message.contains(key), "{path}: {message}");
        }
        let r = s.call(
            "PUT",
            &path,
            &[("authorization", &root)],
            Some(&json!({"auto_optimize": true})),
        );
        assert_eq!(r.status, 400, "a body without `settings`: {r:?}");
    }
    // Nothing was stored by any of them: the organization holds what it
    // was seeded with.
    let seeded = json!({"quality_thresholds": {"conversion": 70, "clarity": 7, "completeness": 7,
                        "relevance": 7, "markdown": 7}, "auto_optimize": false});
    assert_eq!(
        get(&s, &root, "/api/v1/settings/system").json()["settings"],
        json!({})
    );
    assert_eq!(
        get(&s, &root, "/api/v1/settings/organization").json()["settings"],
        seeded
    );
    assert_eq!(
        get(&s, &root, "/api/v1/settings/user").json()["settings"],
        json!({})
    );

    // The free-form organization settings keep any key, type-checking known ones.
    let r = put(
        &s,
        &root,
        "/api/v1/organizations/me/settings",
        json!({"colour": "red", "auto_optimize": true}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let mut merged = seeded.clone();
    merged["colour"] = json!("red");
    merged["auto_optimize"] = json!(true);
    assert_eq!(r.json()["settings"], merged);
    let r = put(
        &s,
        &root,
        "/api/v1/organizations/me/settings",
        json!({"auto_optimize": "yes"}),
    );
    assert_eq!(
        (r.status, r.error_code()),
        (422, "invalid_setting_value".into())
    );
    let r = s.call(
        "PUT",
        "/api/v1/organizations/me",
        &[("authorization", &root)],
        Some(&json!({"settings": {"quality_thresholds": {"clarity": "high"}}})),
    );
    assert_eq!(
        (r.status, r.error_code()),
        (422, "invalid_setting_value".into())
    );
    // The registered view leaves the unknown key out, so the UI can save what it loads.
    let loaded = get(&s, &root, "/api/v1/settings/organization").json()["settings"].clone();
    let mut expected = seeded.clone();
    expected["auto_optimize"] = json!(true);
    assert_eq!(loaded, expected);
    assert_eq!(
        put(&s, &root, "/api/v1/settings/organization", loaded).status,
        200
    );
    assert_eq!(
        get(&s, &root, "/api/v1/organizations/me/settings").json()["settings"]["colour"],
        "red"
    );
    assert_eq!(
        effective(&s, &root, "auto_optimize"),
        (json!(true), "organization".into())
    );
    s.stop();
}

async fn the_schema_offers_only_registered_keys(db: TestDatabase) {
    let s = start(&db);
    let root = login(&s, "admin", ADMIN_PASSWORD);
    let viewer = user(&s, &root, "viewer", "viewer");
    let r = get(&s, &viewer, "/api/v1/settings/schema");
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    for schema in [&body["organization_schema"], &body["user_schema"]] {
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], json!(false));
        let q = &schema["properties"]["quality_thresholds"];
        assert_eq!(q["additionalProperties"], json!(false));
        for field in [
            "conversion",
            "clarity",
            "completeness",
            "relevance",
            "markdown",
        ] {
            assert_eq!(q["properties"][field]["type"], "number", "{field}");
        }
        assert_eq!(schema["properties"]["auto_optimize"]["type"], "boolean");
        assert!(schema["properties"].get("enable_auth").is_none());
    }
    let example = body["merged_example"].clone();
    assert_eq!(example["auto_optimize"], json!(false));
    assert_eq!(example["quality_thresholds"]["conversion"], json!(70));
    // The example is accepted as it is.
    assert_eq!(
        put(&s, &root, "/api/v1/settings/organization", example).status,
        200
    );
    s.stop();
}

async fn without_authentication_the_default_organization_has_no_user_layer(db: TestDatabase) {
    let s = Server::start(&db.url(), &[]);
    let r = s.get("/api/v1/settings/user");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json(), json!({"user_id": null, "settings": {}}));
    let r = s.call(
        "PUT",
        "/api/v1/settings/user",
        &[],
        Some(&json!({"settings": {"auto_optimize": true}})),
    );
    assert_eq!((r.status, r.error_code()), (403, "forbidden".into()));
    let r = s.call(
        "PUT",
        "/api/v1/settings/organization",
        &[],
        Some(&json!({"settings": {"auto_optimize": true}})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let body = s.get("/api/v1/settings/effective").json();
    assert_eq!(body["settings"]["auto_optimize"]["source"], "organization");
    assert_eq!(body["settings"]["enable_auth"]["value"], json!(false));
    assert_eq!(body["user_id"], Value::Null);
    s.stop();
}

on_both!(
    each_layer_wins_in_turn_and_only_its_writers_may_change_it,
    another_organization_sees_only_the_system_layer,
    unknown_keys_and_wrong_types_are_refused_naming_the_key,
    the_schema_offers_only_registered_keys,
    without_authentication_the_default_organization_has_no_user_layer,
);
