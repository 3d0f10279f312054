//! `curatore-server import` (`Operator::import_organization`) applies the
//! API's rules before it writes, on both engines: a file with an
//! unregistered connection type holding a secret in clear, a `base_url` the
//! API refuses, text with U+202E, a password hash no password matches, a key
//! whose user is not in the file, unknown scopes and a value sealed under a
//! key id this server does not have is refused with every problem named,
//! and nothing is written; the same file without them imports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use curatore_auth::SecretBox;
use curatore_service::{
    ConnectionsConfig, ExportDocument, Operator, Services, ServicesConfig, testing,
};
use curatore_test_support::{TestDatabase, each_engine};
use serde_json::{Value, json};
use std::sync::Arc;

const ALICE: &str = "00000000-0000-4000-8000-00000000000a";
const NOBODY: &str = "00000000-0000-4000-8000-0000000000ff";
const HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

async fn open(db: &TestDatabase) -> (Services, Operator) {
    let config = ServicesConfig {
        connections: ConnectionsConfig {
            secrets: Some(Arc::new(SecretBox::new([("k1", [6u8; 32])]).unwrap())),
            ..ConnectionsConfig::default()
        },
        ..ServicesConfig::new(common::config())
    };
    let (services, operator) = testing::open(&db.url(), config).await;
    testing::seed(&operator, "acme").await;
    (services, operator)
}

fn document(bad: bool) -> ExportDocument {
    let pick = |good: Value, wrong: Value| if bad { wrong } else { good };
    let doc = json!({
        "format_version": 1,
        "exported_at": "2026-12-01T00:00:00Z",
        "secrets": "redacted",
        "organization": {"name": "Imported", "slug": "imported",
            "display_name": pick(json!("Imported"), json!("Imported\u{202E}txt.exe")),
            "is_active": true, "settings": {}},
        "users": [{"id": ALICE, "email": "alice@imported.example", "username": "alice",
            "full_name": null, "role": "org_admin", "is_active": true, "is_verified": true,
            "settings": {}, "password_hash": pick(json!(HASH), json!("not-a-hash"))}],
        "api_keys": [{"id": "00000000-0000-4000-8000-0000000000b1",
            "user_id": pick(json!(ALICE), json!(NOBODY)), "name": "deploy", "prefix": "cur_abcd",
            "scopes": pick(json!(["connections:read"]), json!(["connections:read", "everything:write"])),
            "is_active": true, "expires_at": null, "key_hash": "ab".repeat(32)}],
        "connections": [
            {"name": "Models", "description": null,
             "connection_type": pick(json!("llm"), json!("unregistered")),
             "config": {"api_key": "***REDACTED***", "model": "m", "base_url": "https://api.example/v1"},
             "is_active": true, "is_default": true, "scope": "organization",
             "owner_user_id": null, "managed_by": null},
            {"name": "Steered", "description": null, "connection_type": "llm",
             "config": {"api_key": "***REDACTED***", "model": "m",
                        "base_url": pick(json!("https://api.example/v1"), json!("ftp://169.254.169.254/"))},
             "is_active": false, "is_default": false, "scope": "organization",
             "owner_user_id": null, "managed_by": null},
            {"name": "Sealed elsewhere", "description": null, "connection_type": "extraction",
             "config": {"service_url": "https://extract.example",
                        "api_key": pick(json!("***REDACTED***"), json!({"$enc": "v1:k9:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}))},
             "is_active": true, "is_default": false, "scope": "organization",
             "owner_user_id": null, "managed_by": null}
        ]
    });
    serde_json::from_value(doc).unwrap()
}

async fn import_applies_the_api_rules(db: TestDatabase) {
    let engine = db.engine();
    let (_services, operator) = open(&db).await;
    let err = operator
        .import_organization(&document(true), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            curatore_service::ServiceError::Invalid(curatore_service::Invalid::Rule(_))
        ),
        "{engine}: {err:?}"
    );
    let message = err.to_string();
    for expected in [
        "display_name",     // U+202E
        "password_hash",    // not-a-hash
        NOBODY,             // a key whose user is missing
        "everything:write", // an unknown scope
        "`unregistered`",   // a type nobody registered, a secret in clear
        "config.base_url",  // ftp://169.254.169.254/
        "key id `k9`",      // sealed under a key this server lacks
        "nothing was written",
    ] {
        assert!(
            message.contains(expected),
            "{engine}: `{expected}` is not named in: {message}"
        );
    }
    let database = common::database(&db).await;
    let created = database
        .system()
        .organizations()
        .find_by_slug("imported")
        .await
        .unwrap();
    assert!(created.is_none(), "{engine}: a refused import wrote");

    // Without the problems, the same file imports.
    let report = operator
        .import_organization(&document(false), None)
        .await
        .unwrap();
    assert!(report.organization_created, "{engine}");
    assert_eq!(report.users_created, 1);
    assert_eq!(report.api_keys_created, 1);
    assert_eq!(report.connections_created, 3);
    assert_eq!(report.secrets_missing.len(), 3, "{report:?}");
    let org = database
        .system()
        .organizations()
        .find_by_slug("imported")
        .await
        .unwrap()
        .unwrap();
    let conns = database
        .tenant(org.id)
        .connections()
        .list(None)
        .await
        .unwrap();
    let steered = conns.iter().find(|c| c.name == "Steered").unwrap();
    assert!(!steered.is_default && !steered.is_active);
    let models = conns.iter().find(|c| c.name == "Models").unwrap();
    assert!(models.is_default, "{engine}");
    assert_eq!(
        models.config["timeout"], 60,
        "defaults filled as the API fills them"
    );
}

#[tokio::test]
async fn import_refuses_what_the_api_refuses() {
    each_engine(import_applies_the_api_rules).await;
}
