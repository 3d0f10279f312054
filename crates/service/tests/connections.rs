//! What importing services call, and what an embedding service adds: the
//! active default connection, decrypted, with the environment as fallback;
//! a connection type registered from outside, its nested secret sealed,
//! redacted and given to its own test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use curatore_auth::SecretBox;
use curatore_domain::ConnectionScope;
use curatore_service::connections::outbound::Outbound;
use curatore_service::{
    ConnectionKind, ConnectionRegistry, ConnectionSource, ConnectionsConfig, EnvironmentConnection,
    NewConnectionRequest, Operator, Services, ServicesConfig, TestFuture, TestOutcome, testing,
};
use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use std::sync::Arc;

mod common;

use common::admin;

/// Services over a fresh, migrated and seeded SQLite database, with these
/// connection types and keys, and their operator.
async fn services(
    db: &TestDatabase,
    slug: &str,
    connections: ConnectionsConfig,
) -> (Services, Operator) {
    let config = ServicesConfig {
        connections,
        ..ServicesConfig::new(common::config())
    };
    let (services, operator) = testing::open(&db.url(), config).await;
    testing::seed(&operator, slug).await;
    (services, operator)
}

/// A type from outside: a nested secret, a test that checks it arrived open.
struct Vault;

impl ConnectionKind for Vault {
    fn type_name(&self) -> &'static str {
        "vault"
    }
    fn display_name(&self) -> &'static str {
        "Vault"
    }
    fn description(&self) -> &'static str {
        "a type registered by an embedding service"
    }
    fn schema(&self) -> Value {
        json!({"type": "object", "required": ["auth"], "properties": {
            "auth": {"type": "object", "required": ["token"], "properties": {
                "token": {"type": "string", "writeOnly": true},
                "role": {"type": "string", "default": "reader"}
            }}
        }})
    }
    fn example_config(&self) -> Value {
        json!({"auth": {"token": "<token>"}})
    }
    fn test<'a>(&'a self, config: &'a Value, _http: &'a Outbound) -> TestFuture<'a> {
        Box::pin(async move {
            if config["auth"]["token"] == "vault-token-1234" {
                TestOutcome::healthy("token ok", json!({"echo": config["auth"]["token"]}))
            } else {
                TestOutcome::unhealthy("bad token", "no", json!({}))
            }
        })
    }
}

fn connections_config() -> ConnectionsConfig {
    let mut registry = ConnectionRegistry::builtin();
    registry.register(Arc::new(Vault));
    ConnectionsConfig {
        registry,
        secrets: Some(Arc::new(SecretBox::new([("k1", [8u8; 32])]).unwrap())),
        environment: vec![EnvironmentConnection {
            connection_type: "llm".into(),
            name: "Default LLM".into(),
            variables: "OPENAI_API_KEY".into(),
            config: json!({"api_key": "sk-env-123456", "model": "m", "base_url": "http://127.0.0.1:9/v1"}),
        }],
        ..ConnectionsConfig::default()
    }
}

#[tokio::test]
async fn the_active_default_is_decrypted_and_the_environment_is_the_fallback() {
    let db = TestDatabase::sqlite();
    let (services, operator) = services(&db, "acme", connections_config()).await;
    let ctx = admin(&services).await;
    let org = ctx.organization_id();

    let env = operator
        .active_connection(org, "llm")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(env.source, ConnectionSource::Environment);
    assert_eq!(env.secret("api_key").unwrap().expose(), "sk-env-123456");
    assert_eq!(env.text("model"), Some("m"));
    assert!(env.settings.get("api_key").is_none());
    assert!(
        operator
            .active_connection(org, "extraction")
            .await
            .unwrap()
            .is_none()
    );
    let err = operator.active_connection(org, "nope").await.unwrap_err();
    assert!(
        matches!(
            err,
            curatore_service::ServiceError::Invalid(
                curatore_service::Invalid::Rule(_)
                    | curatore_service::Invalid::Value(_)
                    | curatore_service::Invalid::Text
            )
        ),
        "{err:?}"
    );

    let saved = services
        .connections(&ctx).create(NewConnectionRequest {
                name: "Ours".into(),
                description: None,
                connection_type: "llm".into(),
                config: json!({"api_key": "sk-db-abcdef", "model": "big", "base_url": "http://127.0.0.1:9/v1"}),
                is_default: true,
                scope: ConnectionScope::Organization,
                test_on_save: false,
            },
        )
        .await
        .unwrap();
    let active = operator
        .active_connection(org, "llm")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(active.source, ConnectionSource::Database);
    assert_eq!(active.connection_id, Some(saved.connection.id));
    assert_eq!(active.secret("api_key").unwrap().expose(), "sk-db-abcdef");
    assert_eq!(active.text("model"), Some("big"));
    let shown = format!("{active:?} {}", serde_json::to_string(&active).unwrap());
    assert!(!shown.contains("sk-db-abcdef"), "{shown}");
}

#[tokio::test]
async fn a_registered_type_gets_validation_sealing_redaction_and_its_own_test() {
    let db = TestDatabase::sqlite();
    let (services, _) = services(&db, "acme", connections_config()).await;
    let ctx = admin(&services).await;
    let types = services.connections(&ctx).types().unwrap();
    assert!(types.iter().any(|t| t.type_name == "vault"));

    let new = |config: Value| NewConnectionRequest {
        name: "Vault".into(),
        description: Some("secrets".into()),
        connection_type: "vault".into(),
        config,
        is_default: false,
        scope: ConnectionScope::Organization,
        test_on_save: true,
    };
    let err = services
        .connections(&ctx)
        .create(new(json!({"auth": {}})))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "config.auth.token is required");

    let saved = services
        .connections(&ctx)
        .create(new(
            json!({"auth": {"token": "vault-token-1234"}, "extra": 1}),
        ))
        .await
        .unwrap();
    let test = saved.test.unwrap();
    assert!(test.success, "{test:?}");
    // The test echoed the token; the stored and returned outcome does not.
    assert_eq!(test.details["echo"], "***REDACTED***");
    assert_eq!(
        saved.connection.config,
        json!({"auth": {"token": "***REDACTED***", "role": "reader"}})
    );
    let stored = common::database(&db)
        .await
        .tenant(ctx.organization_id())
        .connections()
        .get(saved.connection.id)
        .await
        .unwrap()
        .unwrap();
    let text = stored.config.to_string();
    assert!(
        text.contains("v1:k1:") && !text.contains("vault-token-1234"),
        "{text}"
    );
    let report = services
        .connections(&ctx)
        .test(saved.connection.id)
        .await
        .unwrap();
    assert!(report.outcome.success);
}

#[tokio::test]
async fn listing_and_reading_never_decrypt_the_secrets_they_redact() {
    let db = TestDatabase::sqlite();
    let (services, _) = services(&db, "acme", connections_config()).await;
    let ctx = admin(&services).await;
    let saved = services
        .connections(&ctx)
        .create(NewConnectionRequest {
                name: "Ours".into(),
                description: None,
                connection_type: "llm".into(),
                config: json!({"api_key": "sk-db-abcdef", "model": "big", "base_url": "http://127.0.0.1:9/v1"}),
                is_default: false,
                scope: ConnectionScope::Organization,
                test_on_save: false,
            })
        .await
        .unwrap();
    // The same database under another key with the same id: every secret
    // stored under the first fails to open, so any path that decrypts fails.
    let config = ServicesConfig {
        connections: ConnectionsConfig {
            secrets: Some(Arc::new(SecretBox::new([("k1", [9u8; 32])]).unwrap())),
            ..connections_config()
        },
        ..ServicesConfig::new(common::config())
    };
    let (impostor, _) = testing::open(&db.url(), config).await;
    let ctx = admin(&impostor).await;
    let err = impostor
        .connections(&ctx)
        .test(saved.connection.id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, curatore_service::ServiceError::Secrets(_)),
        "{err:?}"
    );

    let page = impostor
        .connections(&ctx)
        .list(curatore_service::ConnectionQuery::default())
        .await
        .expect("listing needs no decryption");
    let listed = page
        .items
        .iter()
        .find(|c| c.id == saved.connection.id)
        .expect("listed");
    assert_eq!(listed.config["api_key"], "***REDACTED***");
    assert_eq!(listed.config["model"], "big");
    let one = impostor
        .connections(&ctx)
        .get(saved.connection.id)
        .await
        .expect("reading one needs no decryption");
    assert_eq!(one.config["api_key"], "***REDACTED***");
}
