//! `curatore-server export` and `import`, black-box: an organization goes
//! from SQLite to a JSON file to PostgreSQL (a second SQLite database when
//! PostgreSQL is not available) and keeps its users, their logins, its API
//! keys and its connections' secrets; a second import changes nothing; the
//! default export holds no secret; a wrong passphrase is a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_auth::{PassphraseBox, PassphraseParams};
use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use support::Server;

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";
const BOB_PASSWORD: &str = "bob-password-4567";
const EXTRACTION_KEY: &str = "ex-key-91c3e7a5b0d2";
const PASSPHRASE: &str = "a long export passphrase";
const KEY: &str = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
/// Another server key for the target: secrets must be re-sealed, not copied.
const TARGET_KEY: &str = "k2:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

fn env(key: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("ENABLE_AUTH", "true"),
        ("JWT_SECRET_KEY", SECRET),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("AUTH_CACHE_SECONDS", "0"),
        ("LOGIN_MAX_FAILURES_PER_IP", "1000"),
        ("SECRETS_ENCRYPTION_KEY", key),
    ]
}

fn login(s: &Server, who: &str, password: &str) -> String {
    let r = s.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": who, "password": password})),
    );
    assert_eq!(r.status, 200, "{who}: {r:?}");
    format!("Bearer {}", r.json()["access_token"].as_str().unwrap())
}

fn post(s: &Server, path: &str, auth: &str, body: Value) -> Value {
    let r = s.call("POST", path, &[("authorization", auth)], Some(&body));
    assert!(r.status == 200 || r.status == 201, "{path}: {r:?}");
    r.json()
}

fn get(s: &Server, path: &str, auth: &str) -> Value {
    let r = s.call("GET", path, &[("authorization", auth)], None);
    assert_eq!(r.status, 200, "{path}: {r:?}");
    r.json()
}

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_goes_from_sqlite_to_another_database_and_back_unchanged() {
    let source = TestDatabase::sqlite();
    let target = match TestDatabase::postgres().await {
        Some(db) => db,
        None => TestDatabase::sqlite(),
    };
    let dir = tempfile::tempdir().unwrap();

    // The source: an admin, a member with a password, a key, a connection.
    let s = Server::start(&source.url(), &env(KEY));
    let admin = login(&s, "admin", ADMIN_PASSWORD);
    post(
        &s,
        "/api/v1/auth/register",
        &admin,
        json!({"email": "bob@example.com", "username": "bob", "password": BOB_PASSWORD}),
    );
    let key = post(&s, "/api/v1/api-keys", &admin, json!({"name": "ci"}))["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        &s,
        "/api/v1/connections",
        &admin,
        json!({"name": "Extractor", "connection_type": "extraction", "test_on_save": false,
               "config": {"service_url": "http://127.0.0.1:9", "api_key": EXTRACTION_KEY}}),
    );
    let org_before = get(&s, "/api/v1/organizations/me", &admin);
    drop(s);

    // The default export: no secret, no hash, on standard output.
    let out = support::run(&source.url(), &env(KEY), &["export", "--org", "default"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let plain = String::from_utf8(out.stdout.clone()).unwrap();
    let doc: Value = serde_json::from_str(&plain).expect("stdout is the document alone");
    assert!(!plain.contains(EXTRACTION_KEY), "{plain}");
    assert!(!plain.contains("$argon2"), "no password hash by default");
    assert!(plain.contains("***REDACTED***"));
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["users"].as_array().unwrap().len(), 2);
    assert!(doc["api_keys"][0].get("key_hash").is_none());

    // The full export, to a file only its owner reads.
    let file = dir.path().join("default.json");
    let file_arg = file.to_str().unwrap();
    let mut with_pass = env(KEY);
    with_pass.push(("CURATORE_EXPORT_PASSPHRASE", PASSPHRASE));
    let out = support::run(
        &source.url(),
        &with_pass,
        &[
            "export",
            "--org",
            "default",
            "--include-secrets",
            "--include-password-hashes",
            "--output",
            file_arg,
        ],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(EXTRACTION_KEY), "sealed, not in clear");
    assert!(text.contains("$argon2"), "hashes were asked for");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // No or a short passphrase: refused before anything is read.
    let out = support::run(
        &source.url(),
        &env(KEY),
        &["export", "--org", "default", "--include-secrets"],
    );
    assert!(!out.status.success());
    assert!(output_text(&out).contains("CURATORE_EXPORT_PASSPHRASE"));

    // A wrong passphrase: a clear error, nothing written.
    let mut wrong = env(TARGET_KEY);
    wrong.push(("CURATORE_EXPORT_PASSPHRASE", "not the passphrase at all"));
    let out = support::run(&target.url(), &wrong, &["import", file_arg]);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("wrong passphrase"),
        "{}",
        output_text(&out)
    );

    // The import, then a second one that changes nothing.
    let mut right = env(TARGET_KEY);
    right.push(("CURATORE_EXPORT_PASSPHRASE", PASSPHRASE));
    let out = support::run(&target.url(), &right, &["import", file_arg]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(output_text(&out).contains("changes written"));
    let out = support::run(&target.url(), &right, &["import", file_arg]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("nothing to change"),
        "{}",
        output_text(&out)
    );

    // The target keeps everything: logins, the key, the connection.
    let t = Server::start(&target.url(), &env(TARGET_KEY));
    let admin = login(&t, "admin", ADMIN_PASSWORD);
    login(&t, "bob", BOB_PASSWORD);
    let org_after = get(&t, "/api/v1/organizations/me", &admin);
    for field in ["name", "slug", "display_name", "is_active", "settings"] {
        assert_eq!(org_before[field], org_after[field], "{field}");
    }
    let me = t.call("GET", "/api/v1/auth/me", &[("x-api-key", &key)], None);
    assert_eq!(me.status, 200, "the key still works: {me:?}");
    let listed = get(&t, "/api/v1/connections", &admin);
    let text = listed.to_string();
    assert!(text.contains("Extractor") && text.contains("***REDACTED***"));
    assert!(!text.contains(EXTRACTION_KEY));
    let users = get(&t, "/api/v1/users", &admin);
    assert_eq!(users["total"], 2, "{users}");
    let audit = get(&t, "/api/v1/audit-logs?limit=1000", &admin).to_string();
    assert_eq!(
        audit.matches("\"import_organization\"").count(),
        1,
        "one entry for the import that wrote, none for the no-op: {audit}"
    );
    assert!(!audit.contains(EXTRACTION_KEY));
    drop(t);

    // The secret opens under the target's key: exported again, it is the same.
    let again = dir.path().join("again.json");
    let out = support::run(
        &target.url(),
        &right,
        &[
            "export",
            "--org",
            "default",
            "--include-secrets",
            "--output",
            again.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&again).unwrap()).unwrap();
    let params: PassphraseParams = serde_json::from_value(doc["passphrase"].clone()).unwrap();
    let pass = PassphraseBox::open_with(PASSPHRASE, params).unwrap();
    let sealed = doc["connections"][0]["config"]["api_key"]["$passphrase_sealed"]
        .as_str()
        .unwrap();
    assert_eq!(pass.open(sealed).unwrap(), EXTRACTION_KEY);
}
