//! Credentials made by the original Python server keep working: a bcrypt
//! password hash is accepted and replaced by argon2id at the first login; a
//! `cur_` + 64-hex key stored as bcrypt is accepted and then stored as our
//! SHA-256 digest. On SQLite and PostgreSQL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test with a message"
)]

use curatore_domain::Secret;
use curatore_service::{Client, Credentials, NewKey, Services};
use curatore_test_support::{TestDatabase, each_engine};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

mod common;

use common::PASSWORD;
/// The fixture's `admin`, hashed by the original (Python `bcrypt`, cost 12).
const ORIGINAL_PASSWORD: &str = "Fixture-Admin-7q2";
const ORIGINAL_HASH: &str = "$2b$12$WDIQ2QnmtyvI0kSE.V9JqO1beo7j7DAVX2DynYqq7aEO2peHLKDC2";
const ORIGINAL_KEY: &str = "cur_987aaed5ca5c129772a338ecc6babb0706277eb76fd7bb6f15cff2c0acaf7bfe";

async fn services(db: &TestDatabase) -> Services {
    common::services(db, "acme").await
}

async fn exec(db: &TestDatabase, sql: &str, values: Vec<sea_orm::Value>) {
    let database = common::database(db).await;
    let c = database.connection();
    let backend = c.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => sql.replace("?1", "$1").replace("?2", "$2"),
        _ => sql.to_owned(),
    };
    c.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .expect("exec");
}

async fn text(db: &TestDatabase, sql: &str) -> String {
    let database = common::database(db).await;
    let c = database.connection();
    let row = c
        .query_one_raw(Statement::from_string(c.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("a row");
    row.try_get::<String>("", "v").expect("text")
}

#[tokio::test]
async fn a_bcrypt_password_is_accepted_once_and_replaced_by_argon2id() {
    each_engine(|db| async move {
        let services = services(&db).await;
        exec(
            &db,
            "UPDATE users SET password_hash = ?1 WHERE username = 'admin'",
            vec![ORIGINAL_HASH.into()],
        )
        .await;
        let wrong = services
            .anonymous(&Client::local())
            .login("admin", &Secret::new("Fixture-Admin-7q3"))
            .await
            .expect_err("wrong password");
        assert!(
            matches!(
                wrong,
                curatore_service::ServiceError::Unauthenticated(
                    curatore_service::Unauthenticated::InvalidCredentials
                )
            ),
            "{wrong:?}"
        );
        assert_eq!(
            text(
                &db,
                "SELECT password_hash AS v FROM users WHERE username = 'admin'"
            )
            .await,
            ORIGINAL_HASH
        );
        services
            .anonymous(&Client::local())
            .login("admin", &Secret::new(ORIGINAL_PASSWORD))
            .await
            .expect("the original's password");
        let stored = text(
            &db,
            "SELECT password_hash AS v FROM users WHERE username = 'admin'",
        )
        .await;
        assert!(stored.starts_with("$argon2id$v=19$"), "{stored}");
        services
            .anonymous(&Client::local())
            .login("admin", &Secret::new(ORIGINAL_PASSWORD))
            .await
            .expect("still the same password, now argon2id");
    })
    .await;
}

#[tokio::test]
async fn an_original_key_is_verified_by_bcrypt_once_then_by_its_digest() {
    each_engine(|db| async move {
        let services = services(&db).await;
        let client = Client::local();
        let session = services
            .anonymous(&client)
            .login("admin", &Secret::new(PASSWORD))
            .await
            .expect("login");
        let principal = services
            .authenticate(Credentials::Bearer(session.access_token), Client::local())
            .await
            .expect("authenticate");
        let ctx = principal;
        let created = services
            .api_keys(&ctx)
            .create(NewKey {
                name: "from the original".into(),
                expires_in_days: None,
                expires_days: None,
                scopes: vec![],
            })
            .await
            .expect("create");
        // Made as the original stored its keys: bcrypt of the whole key,
        // found by the first 12 characters.
        let bcrypt = bcrypt::hash(ORIGINAL_KEY, 4).expect("bcrypt");
        exec(
            &db,
            "UPDATE api_keys SET key_hash = ?1, prefix = ?2",
            vec![bcrypt.clone().into(), ORIGINAL_KEY[..12].into()],
        )
        .await;
        // Same prefix, different key: refused, and nothing is converted.
        let forged = format!("{}{}", &ORIGINAL_KEY[..12], "0".repeat(56));
        let refused = services
            .authenticate(Credentials::ApiKey(forged), Client::local())
            .await
            .expect_err("another key with the same prefix");
        assert!(
            matches!(
                refused,
                curatore_service::ServiceError::Unauthenticated(
                    curatore_service::Unauthenticated::InvalidApiKey
                )
            ),
            "{refused:?}"
        );
        assert_eq!(
            text(&db, "SELECT key_hash AS v FROM api_keys").await,
            bcrypt
        );

        let principal = services
            .authenticate(Credentials::ApiKey(ORIGINAL_KEY.into()), Client::local())
            .await
            .expect("the original's key");
        assert_eq!(principal.organization_id(), ctx.organization_id());
        assert!(matches!(
            principal.principal().actor(),
            curatore_service::Actor::ApiKey { .. }
        ));
        let stored = text(&db, "SELECT key_hash AS v FROM api_keys").await;
        assert_eq!(stored.len(), 64, "{stored}");
        assert!(stored.bytes().all(|b| b.is_ascii_hexdigit()), "{stored}");
        // A second use is found by the digest (cache off in these tests).
        services
            .authenticate(Credentials::ApiKey(ORIGINAL_KEY.into()), Client::local())
            .await
            .expect("the original's key, again");
        assert_eq!(
            text(&db, "SELECT key_hash AS v FROM api_keys").await,
            stored
        );
        assert_ne!(created.secret.expose(), ORIGINAL_KEY);
    })
    .await;
}
