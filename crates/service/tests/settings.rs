//! Settings with precedence, without HTTP: resolution is cached, and every
//! write through the services forgets what it changed; writes are audited.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test with a message"
)]

mod common;

use common::PASSWORD;
use curatore_domain::Secret;
use curatore_domain::setting_keys::Layer;
use curatore_service::{
    AuditEvent, AuditLogQuery, Client, Credentials, RequestContext, Services, ServicesConfig,
    testing,
};
use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use std::time::Duration;

async fn services(db: &TestDatabase) -> Services {
    // Long enough that only an explicit invalidation explains a change.
    let auth = common::config().with_cache_ttl(Duration::from_secs(600));
    let (services, operator) = testing::open(&db.url(), ServicesConfig::new(auth)).await;
    testing::seed(&operator, "acme").await;
    services
}

/// The admin's access token.
async fn token(services: &Services) -> String {
    services
        .anonymous(&Client::local())
        .login("admin", &Secret::new(PASSWORD))
        .await
        .expect("login")
        .access_token
}

/// A context for `token`, as the web layer builds one per request.
async fn ctx(services: &Services, token: &str) -> RequestContext {
    services
        .authenticate(Credentials::Bearer(token.to_owned()), Client::local())
        .await
        .expect("authenticate")
}

async fn effective(services: &Services, token: &str, key: &str) -> (Value, Layer) {
    let ctx = ctx(services, token).await;
    let all = services
        .settings(&ctx)
        .effective()
        .await
        .expect("effective");
    let item = all.settings.iter().find(|r| r.key == key).expect("key");
    (item.value.clone(), item.source)
}

async fn count(services: &Services, ctx: &RequestContext, event: AuditEvent) -> usize {
    services
        .audit_log(ctx)
        .list(&AuditLogQuery {
            actions: vec![event.into()],
            limit: Some(1000),
            ..AuditLogQuery::default()
        })
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
    // A new organization holds the original's seeded values, which shadow
    // the system layer; removed, the defaults (and the system layer) show.
    assert_eq!(
        effective(&services, &token, "auto_optimize").await,
        (json!(false), Layer::Organization)
    );
    let admin = ctx(&services, &token).await;
    services
        .settings(&admin)
        .merge_organization(json!({"auto_optimize": null, "quality_thresholds": null}))
        .await
        .unwrap();
    assert_eq!(
        effective(&services, &token, "auto_optimize").await,
        (json!(false), Layer::Default)
    );

    // A row written behind the services' back is not seen while cached...
    common::database(&db)
        .await
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
        .settings(&admin)
        .merge_system(json!({"quality_thresholds": {"clarity": 9}}))
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
        .settings(&admin)
        .merge_organization(json!({"auto_optimize": false}))
        .await
        .unwrap();
    assert_eq!(
        effective(&services, &token, "auto_optimize").await,
        (json!(false), Layer::Organization)
    );
    let admin = ctx(&services, &token).await;
    let mine = services
        .settings(&admin)
        .merge_user(json!({"auto_optimize": true}))
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
        .settings(&admin)
        .merge_user(json!({"auto_optimize": null}))
        .await
        .unwrap();
    let admin = ctx(&services, &token).await;
    services
        .my_organization(&admin)
        .merge_settings(json!({"auto_optimize": true, "colour": "red"}))
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
        3
    );
}

#[tokio::test]
async fn unknown_keys_and_wrong_types_are_refused_naming_the_key_and_nothing_is_written() {
    let db = TestDatabase::sqlite();
    let services = services(&db).await;
    let token = token(&services).await;
    let admin = ctx(&services, &token).await;
    let cases = [
        (json!({"colour": "red"}), "unknown", "colour"),
        (json!({"auto_optimize": "yes"}), "invalid", "auto_optimize"),
        (
            json!({"quality_thresholds": {"clarity": 11}}),
            "invalid",
            "quality_thresholds.clarity",
        ),
        (json!({"enable_auth": false}), "not_writable", "enable_auth"),
    ];
    for (patch, code, key) in cases {
        for err in [
            services
                .settings(&admin)
                .merge_system(patch.clone())
                .await
                .unwrap_err(),
            services
                .settings(&admin)
                .merge_organization(patch.clone())
                .await
                .unwrap_err(),
            services
                .settings(&admin)
                .merge_user(patch.clone())
                .await
                .unwrap_err(),
        ] {
            use curatore_domain::setting_keys::SettingError as E;
            let reason = match &err {
                curatore_service::ServiceError::Invalid(curatore_service::Invalid::Setting(e)) => {
                    match e {
                        E::Unknown { .. } => "unknown",
                        E::Invalid { .. } => "invalid",
                        E::NotWritable { .. } => "not_writable",
                    }
                }
                other => panic!("{patch}: {other:?}"),
            };
            assert_eq!(reason, code, "{patch}");
            assert!(err.to_string().contains(key), "{patch}: {}", err);
        }
    }
    // The free-form route accepts an unknown key but still type-checks known ones.
    services
        .my_organization(&admin)
        .merge_settings(json!({"colour": "red"}))
        .await
        .unwrap();
    let err = services
        .my_organization(&admin)
        .merge_settings(json!({"auto_optimize": 1}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            curatore_service::ServiceError::Invalid(curatore_service::Invalid::Setting(
                curatore_domain::setting_keys::SettingError::Invalid { .. }
            ))
        ),
        "{err:?}"
    );
    assert!(
        common::database(&db)
            .await
            .system()
            .system_settings()
            .list(false)
            .await
            .unwrap()
            .is_empty()
    );
    let admin = ctx(&services, &token).await;
    let seeded = services.setting_registry().new_organization_settings();
    let mut expected = seeded.clone();
    expected["colour"] = json!("red");
    assert_eq!(
        services.my_organization(&admin).settings().unwrap(),
        expected
    );
    assert_eq!(
        Value::Object(services.settings(&admin).organization().unwrap()),
        seeded,
        "the refused patches left the seeded values as they were"
    );
}

#[tokio::test]
async fn every_organization_starts_with_the_originals_seeded_settings() {
    let db = TestDatabase::sqlite();
    let services = services(&db).await;
    let token = token(&services).await;
    let admin = ctx(&services, &token).await;
    // The original's `create_default_organization`: thresholds 70/7/7/7/7 and
    // no automatic optimisation, stored in the organization itself.
    let original = json!({
        "quality_thresholds": {"conversion": 70, "clarity": 7, "completeness": 7, "relevance": 7, "markdown": 7},
        "auto_optimize": false,
    });
    assert_eq!(
        services.my_organization(&admin).settings().unwrap(),
        original
    );
    let (created, _) = services
        .organizations(&admin)
        .create(curatore_service::NewTenant {
            name: "Second".into(),
            slug: "second".into(),
            display_name: None,
            admin: curatore_service::NewAdmin {
                email: "boss@second.example".into(),
                username: "boss".into(),
                full_name: None,
                password: Secret::new("another-long-password"),
            },
        })
        .await
        .unwrap();
    assert_eq!(created.settings, original);
}
