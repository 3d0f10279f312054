//! Settings with precedence, without HTTP: resolution is cached, and every
//! write through the services forgets what it changed; writes are audited.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test with a message"
)]

use curatore_auth::{
    ApiKeyFormat, Argon2Settings, PasswordHasher, PasswordPolicy, SigningAlgorithm, TokenSettings,
    TokenSigner,
};
use curatore_domain::setting_keys::Layer;
use curatore_domain::{DatabaseUrl, EmailAddress, Secret, Slug, Username};
use curatore_migration::{Migrator, MigratorTrait};
use curatore_persistence::{Database, DatabaseOptions};
use curatore_service::{
    AuditEvent, AuditLogQuery, AuthConfig, Client, Credentials, DefaultOrganization, ErrorCode,
    InitialAdmin, LoginLimits, RegistrationLimits, RequestContext, Services,
};
use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use std::time::Duration;

const PASSWORD: &str = "a-long-admin-password";

fn config() -> AuthConfig {
    AuthConfig {
        enabled: true,
        signer: TokenSigner::new(TokenSettings {
            secret: Secret::new("service-test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye"),
            algorithm: SigningAlgorithm::HS256,
            issuer: "curatore".into(),
            audience: "curatore".into(),
            access_ttl: Duration::from_secs(600),
        }),
        hasher: PasswordHasher::new(Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .expect("hasher"),
        password_policy: PasswordPolicy::default(),
        api_keys: ApiKeyFormat::new("cur_"),
        refresh_ttl: Duration::from_secs(3600),
        refresh_reuse_grace: Duration::ZERO,
        allow_registration: false,
        trusted_proxies: vec![],
        client_networks: curatore_service::ClientNetworks::default(),
        login_limits: LoginLimits {
            per_account: 5,
            per_ip: 20,
            window: Duration::from_secs(60),
        },
        registration_limits: RegistrationLimits {
            per_ip: 5,
            window: Duration::from_secs(3600),
        },
        // Long enough that only an explicit invalidation explains a change.
        cache_ttl: Duration::from_secs(600),
    }
}

async fn services(db: &TestDatabase) -> Services {
    let url = DatabaseUrl::parse(&db.url()).expect("url");
    let database = Database::connect(&DatabaseOptions::new(url))
        .await
        .expect("connect");
    Migrator::up(database.connection(), None)
        .await
        .expect("migrate");
    let services = Services::new(database, DefaultOrganization::default(), config());
    services
        .seed_initial_tenant(InitialAdmin {
            organization_name: "Acme".into(),
            organization_slug: Slug::parse("acme").expect("slug"),
            admin_email: EmailAddress::parse("admin@acme.example").expect("email"),
            admin_username: Username::parse("admin").expect("username"),
            admin_password: Secret::new(PASSWORD),
            admin_full_name: None,
        })
        .await
        .expect("seed");
    services
}

/// The admin's access token.
async fn token(services: &Services) -> String {
    services
        .login(&Client::local(), "admin", &Secret::new(PASSWORD))
        .await
        .expect("login")
        .access_token
}

/// A context for `token`, as the web layer builds one per request.
async fn ctx(services: &Services, token: &str) -> RequestContext {
    let principal = services
        .authenticate(Credentials::Bearer(token.to_owned()))
        .await
        .expect("authenticate");
    RequestContext {
        principal,
        client: Client::local(),
    }
}

async fn effective(services: &Services, token: &str, key: &str) -> (Value, Layer) {
    let ctx = ctx(services, token).await;
    let all = services.effective_settings(&ctx).await.expect("effective");
    let item = all.settings.iter().find(|r| r.key == key).expect("key");
    (item.value.clone(), item.source)
}

async fn count(services: &Services, ctx: &RequestContext, event: AuditEvent) -> usize {
    services
        .list_audit_log(
            ctx,
            &AuditLogQuery {
                actions: vec![event.as_str().to_owned()],
                limit: Some("1000".into()),
                ..AuditLogQuery::default()
            },
        )
        .await
        .expect("audit log")
        .items
        .len()
}

#[tokio::test]
async fn resolution_is_cached_and_each_write_forgets_what_it_changed() {
    let db = TestDatabase::sqlite();
    let services = services(&db).await;
    let token = token(&services).await;
    assert_eq!(
        effective(&services, &token, "auto_optimize").await,
        (json!(false), Layer::Default)
    );

    // A row written behind the services' back is not seen while cached...
    services
        .database()
        .system()
        .system_settings()
        .upsert("auto_optimize", json!(true), None, false)
        .await
        .unwrap();
    assert_eq!(
        effective(&services, &token, "auto_optimize").await.1,
        Layer::Default,
        "the resolution was not cached"
    );

    // ...and a system write through the services forgets every entry.
    let admin = ctx(&services, &token).await;
    let stored = services
        .merge_system_settings(&admin, json!({"quality_thresholds": {"clarity": 9}}))
        .await
        .unwrap();
    assert_eq!(stored["quality_thresholds"], json!({"clarity": 9}));
    assert_eq!(
        effective(&services, &token, "auto_optimize").await,
        (json!(true), Layer::System)
    );
    let (thresholds, source) = effective(&services, &token, "quality_thresholds").await;
    assert_eq!(source, Layer::System);
    assert_eq!(
        thresholds,
        json!({"conversion": 70, "clarity": 9, "completeness": 7, "relevance": 7, "markdown": 7})
    );

    // The organization layer, then the user layer, each win once written.
    let admin = ctx(&services, &token).await;
    services
        .merge_registered_organization_settings(&admin, json!({"auto_optimize": false}))
        .await
        .unwrap();
    assert_eq!(
        effective(&services, &token, "auto_optimize").await,
        (json!(false), Layer::Organization)
    );
    let admin = ctx(&services, &token).await;
    let mine = services
        .merge_my_user_settings(&admin, json!({"auto_optimize": true}))
        .await
        .unwrap();
    assert_eq!(mine.get("auto_optimize"), Some(&json!(true)));
    assert_eq!(
        effective(&services, &token, "auto_optimize").await,
        (json!(true), Layer::User)
    );
    // The free-form route is a write to the same layer: it forgets too.
    let admin = ctx(&services, &token).await;
    services
        .merge_my_user_settings(&admin, json!({"auto_optimize": null}))
        .await
        .unwrap();
    let admin = ctx(&services, &token).await;
    services
        .merge_organization_settings(&admin, json!({"auto_optimize": true, "colour": "red"}))
        .await
        .unwrap();
    assert_eq!(
        effective(&services, &token, "auto_optimize").await,
        (json!(true), Layer::Organization)
    );

    // Each write left its entry.
    let admin = ctx(&services, &token).await;
    assert_eq!(
        count(&services, &admin, AuditEvent::UpdateSystemSettings).await,
        1
    );
    assert_eq!(
        count(&services, &admin, AuditEvent::UpdateUserSettings).await,
        2
    );
    assert_eq!(
        count(&services, &admin, AuditEvent::UpdateOrganizationSettings).await,
        2
    );
}

#[tokio::test]
async fn unknown_keys_and_wrong_types_are_refused_naming_the_key_and_nothing_is_written() {
    let db = TestDatabase::sqlite();
    let services = services(&db).await;
    let token = token(&services).await;
    let admin = ctx(&services, &token).await;
    let cases = [
        (
            json!({"colour": "red"}),
            ErrorCode::UnknownSetting,
            "colour",
        ),
        (
            json!({"auto_optimize": "yes"}),
            ErrorCode::InvalidSettingValue,
            "auto_optimize",
        ),
        (
            json!({"quality_thresholds": {"clarity": 11}}),
            ErrorCode::InvalidSettingValue,
            "quality_thresholds.clarity",
        ),
        (
            json!({"enable_auth": false}),
            ErrorCode::SettingNotWritable,
            "enable_auth",
        ),
    ];
    for (patch, code, key) in cases {
        for err in [
            services
                .merge_system_settings(&admin, patch.clone())
                .await
                .unwrap_err(),
            services
                .merge_registered_organization_settings(&admin, patch.clone())
                .await
                .unwrap_err(),
            services
                .merge_my_user_settings(&admin, patch.clone())
                .await
                .unwrap_err(),
        ] {
            assert_eq!(err.code(), code, "{patch}");
            assert!(err.message().contains(key), "{patch}: {}", err.message());
        }
    }
    // The free-form route accepts an unknown key but still type-checks known ones.
    services
        .merge_organization_settings(&admin, json!({"colour": "red"}))
        .await
        .unwrap();
    let err = services
        .merge_organization_settings(&admin, json!({"auto_optimize": 1}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidSettingValue);
    assert!(
        services
            .database()
            .system()
            .system_settings()
            .list(false)
            .await
            .unwrap()
            .is_empty()
    );
    let admin = ctx(&services, &token).await;
    assert_eq!(
        services.organization_settings(&admin).unwrap(),
        json!({"colour": "red"})
    );
    assert!(
        services
            .registered_organization_settings(&admin)
            .unwrap()
            .is_empty()
    );
}
