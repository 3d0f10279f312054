//! What an embedding service adds: its own key scopes, its own audit
//! actions, its own connection types, through the public API only.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test with a message"
)]

mod common;

use curatore_service::{
    Access, ActionEntry, AuditLogQuery, Client, ConnectionsConfig, Credentials, DeclaredKind,
    NewConnectionRequest, NewKey, Scope, Services, ServicesConfig, testing,
};
use curatore_test_support::TestDatabase;
use serde_json::json;
use std::sync::Arc;

/// Services that know the `documents` resource, the `summarize_document`
/// action and the `vector_store` type, with a secrets key.
async fn embedded(db: &TestDatabase) -> Services {
    let mut config = ServicesConfig::new(common::config());
    config
        .scopes
        .register("documents", "documents and their summaries")
        .unwrap();
    config.audit_actions.register("summarize_document").unwrap();
    let mut connections = ConnectionsConfig {
        secrets: Some(Arc::new(
            curatore_auth::SecretBox::new([("k1".to_owned(), [7u8; 32])]).unwrap(),
        )),
        ..ConnectionsConfig::default()
    };
    connections.registry.register(Arc::new(DeclaredKind {
        type_name: "vector_store",
        display_name: "Vector store",
        description: "Where embeddings are kept.",
        schema: json!({"type": "object", "required": ["url", "api_key"], "properties": {
            "url": {"type": "string", "format": "uri"},
            "api_key": {"type": "string", "writeOnly": true, "minLength": 1}}}),
        example_config: json!({"url": "https://vectors.example.com", "api_key": "…"}),
    }));
    config.connections = connections;
    let (services, operator) = testing::open(&db.url(), config).await;
    testing::seed(&operator, "acme").await;
    services
}

#[tokio::test]
async fn a_registered_resource_gives_key_scopes_and_an_unknown_one_is_refused_by_name() {
    let db = TestDatabase::sqlite();
    let services = embedded(&db).await;
    let admin = common::admin(&services).await;
    let key = services
        .api_keys(&admin)
        .create(NewKey {
            name: "summarizer".into(),
            expires_in_days: None,
            expires_days: None,
            scopes: vec!["documents:write".into()],
        })
        .await
        .expect("a documents:write key");
    let ctx = services
        .authenticate(
            Credentials::ApiKey(key.secret.expose().to_owned()),
            Client::local(),
        )
        .await
        .unwrap();
    let documents = Scope::new("documents", Access::Write);
    assert!(ctx.principal().require_scope(documents).is_ok());
    let users = ctx
        .principal()
        .require_scope(Scope::new("users", Access::Write))
        .unwrap_err();
    assert!(
        matches!(
            users,
            curatore_service::ServiceError::Denied(curatore_service::Denied::Scope { .. })
        ),
        "{users:?}"
    );
    let refused = services
        .api_keys(&admin)
        .create(NewKey {
            name: "typo".into(),
            expires_in_days: None,
            expires_days: None,
            scopes: vec!["document:write".into()],
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            curatore_service::ServiceError::Invalid(
                curatore_service::Invalid::Rule(_)
                    | curatore_service::Invalid::Value(_)
                    | curatore_service::Invalid::Text
            )
        ),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("documents"),
        "{}",
        refused.to_string()
    );
    assert!(
        services
            .scopes()
            .scopes()
            .contains(&"documents:read".to_owned())
    );
}

#[tokio::test]
async fn a_registered_action_is_recorded_from_the_context_and_listed_like_ours() {
    let db = TestDatabase::sqlite();
    let services = embedded(&db).await;
    let admin = common::admin(&services).await;
    let document = uuid::Uuid::new_v4();
    let written = services
        .audit_log(&admin)
        .record(
            ActionEntry::new("summarize_document")
                .about("document", document)
                .details(json!({"words": 120})),
        )
        .await
        .expect("recorded");
    assert_eq!(written.organization_id, Some(admin.organization_id()));
    assert_eq!(written.user_id, admin.principal().user_id());
    assert_eq!(written.entity_id, Some(document));
    let page = services
        .audit_log(&admin)
        .list(&AuditLogQuery {
            actions: vec![curatore_domain::AuditAction::parse("summarize_document").unwrap()],
            ..AuditLogQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].details.as_ref().unwrap()["words"], 120);
    let failed = services
        .audit_log(&admin)
        .record(ActionEntry::new("summarize_document").failed("the model timed out"))
        .await
        .unwrap();
    assert_eq!(failed.error_message.as_deref(), Some("the model timed out"));
    for refused in [
        ActionEntry::new("login"),
        ActionEntry::new("delete_everything"),
        ActionEntry::new("summarize_document").details(json!(["not", "an", "object"])),
        ActionEntry::new("summarize_document").about("", document),
    ] {
        let err = services
            .audit_log(&admin)
            .record(refused)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                curatore_service::ServiceError::Invalid(
                    curatore_service::Invalid::Rule(_)
                        | curatore_service::Invalid::Value(_)
                        | curatore_service::Invalid::Text
                )
            ),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_declared_type_is_validated_sealed_and_redacted() {
    let db = TestDatabase::sqlite();
    let services = embedded(&db).await;
    let admin = common::admin(&services).await;
    let saved = services
        .connections(&admin)
        .create(NewConnectionRequest {
            name: "Vectors".into(),
            description: None,
            connection_type: "vector_store".into(),
            config: json!({"url": "https://vectors.example.com", "api_key": "vs-secret-1"}),
            is_default: true,
            scope: curatore_domain::ConnectionScope::Organization,
            test_on_save: true,
        })
        .await
        .expect("saved");
    assert_eq!(saved.connection.config["api_key"], "***REDACTED***");
    assert_eq!(
        saved.test.map(|t| t.status.as_str().to_owned()).as_deref(),
        Some("not_tested")
    );
    let active = services
        .connections(&admin)
        .active("vector_store")
        .await
        .unwrap()
        .expect("the default");
    assert_eq!(active.secret("api_key").unwrap().expose(), "vs-secret-1");
    // A key scoped to the embedder's resource has the connection used on
    // its behalf, yet cannot read connections itself.
    let key = services
        .api_keys(&admin)
        .create(NewKey {
            name: "summarizer".into(),
            expires_in_days: None,
            expires_days: None,
            scopes: vec!["documents:write".into()],
        })
        .await
        .unwrap();
    let by_key = services
        .authenticate(
            Credentials::ApiKey(key.secret.expose().to_owned()),
            Client::local(),
        )
        .await
        .unwrap();
    let used = services
        .connections(&by_key)
        .active("vector_store")
        .await
        .unwrap()
        .expect("the default, for the key's organization");
    assert_eq!(used.secret("api_key").unwrap().expose(), "vs-secret-1");
    let listed = services.connections(&by_key).types().unwrap_err();
    assert!(
        matches!(
            listed,
            curatore_service::ServiceError::Denied(curatore_service::Denied::Scope { .. })
        ),
        "{listed:?}"
    );
    let stored = common::database(&db)
        .await
        .tenant(admin.organization_id())
        .connections()
        .get(saved.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.config.to_string().contains("vs-secret-1"));
}
