//! What adoption sealed, the service opens: the original's database
//! (`tests/fixtures/curatore-py`) is adopted with a key, then services over
//! the same database and key read every connection's secret back through
//! the service layer (`active_connection`, the connection config's `open`)
//! and answer it redacted; a wrong key cannot open it. Both engines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use curatore_auth::SecretBox;
use curatore_domain::{DatabaseUrl, Secret};
use curatore_migration::adopt::{Adoption, adopt};
use curatore_persistence::{Database, DatabaseOptions};
use curatore_service::connections::config::{REDACTED, open};
use curatore_service::{
    Client, ConnectionsConfig, Credentials, Operator, Services, ServicesConfig,
};
use curatore_test_support::{TestDatabase, each_engine, load_original};
use std::sync::Arc;

/// `(organization slug, connection name, type, secret field, secret)` of
/// the fixture.
const SECRETS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "default",
        "Fixture LLM",
        "llm",
        "api_key",
        "sk-fixture-llm-5f0c3a9e71d24b86",
    ),
    (
        "default",
        "Fixture Extraction",
        "extraction",
        "api_key",
        "ext-fixture-2b7d64c1",
    ),
    (
        "second",
        "Second Org LLM",
        "llm",
        "api_key",
        "sk-fixture-org2-8e41d0c7",
    ),
];

fn key(byte: u8) -> SecretBox {
    SecretBox::new([("k1", [byte; 32])]).unwrap()
}

async fn services(db: &TestDatabase, secrets: SecretBox) -> (Services, Operator) {
    let url = DatabaseUrl::parse(&db.url()).unwrap();
    let database = Database::connect(&DatabaseOptions::new(url)).await.unwrap();
    let config = ServicesConfig {
        connections: ConnectionsConfig {
            secrets: Some(Arc::new(secrets)),
            ..ConnectionsConfig::default()
        },
        ..ServicesConfig::new(common::config())
    };
    Services::open(database, config)
}

async fn sealed_by_adoption_opens_through_the_service(db: TestDatabase) {
    load_original(&db);
    let url = DatabaseUrl::parse(&db.url()).unwrap();
    let conn = curatore_migration::connect::connect_for_adoption(&url, false)
        .await
        .unwrap()
        .unwrap();
    let report = adopt(
        &conn,
        Adoption {
            dry_run: false,
            secrets: Some(&key(7)),
        },
    )
    .await
    .unwrap();
    conn.close().await.unwrap();
    assert_eq!(report.secrets_sealed, 3);

    let (services, operator) = services(&db, key(7)).await;
    let raw = common::database(&db).await;
    let registry = curatore_service::ConnectionRegistry::builtin();
    let mut llm_id = None;
    for (slug, name, kind, field, secret) in SECRETS {
        let org = raw
            .system()
            .organizations()
            .find_by_slug(slug)
            .await
            .unwrap()
            .unwrap();
        let stored = raw
            .tenant(org.id)
            .connections()
            .list(None)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.name == *name)
            .unwrap();
        let text = stored.config.to_string();
        assert!(
            !text.contains(secret),
            "{}: stored in clear: {text}",
            db.engine()
        );
        // The service's own reading of its stored form.
        let paths = registry.get(kind).unwrap().secret_fields();
        let mut config = stored.config.clone();
        open(&mut config, &paths, &key(7)).unwrap();
        assert_eq!(config[*field], *secret, "{}: {name}", db.engine());
        if *name == "Fixture LLM" {
            llm_id = Some(stored.id);
        }
        if *kind == "llm" {
            // What importing services ask for: the default connection, open.
            let active = operator
                .active_connection(org.id, "llm")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(active.secret(field).unwrap().expose(), *secret);
        }
        let wrong = key(8);
        assert!(open(&mut stored.config.clone(), &paths, &wrong).is_err());
    }
    // Answers, even to an org_admin, show it redacted.
    let client = Client::local();
    let session = services
        .anonymous(&client)
        .login("admin", &Secret::new("Fixture-Admin-7q2"))
        .await
        .unwrap();
    let principal = services
        .authenticate(Credentials::Bearer(session.access_token), Client::local())
        .await
        .unwrap();
    let ctx = principal;
    let shown = services
        .connections(&ctx)
        .get(llm_id.unwrap())
        .await
        .unwrap();
    assert_eq!(shown.config["api_key"], REDACTED, "{}", db.engine());
    operator.close().await;
    raw.close().await;
}

#[tokio::test]
async fn what_adoption_sealed_opens_through_the_service_layer() {
    each_engine(sealed_by_adoption_opens_through_the_service).await;
}
