//! The use cases without HTTP: each rule proven once, against a real SQLite
//! file (the HTTP layer and both engines are covered by the black-box tests).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test with a message"
)]

use curatore_domain::{
    EmailAddress, NewOrganization, NewUser, OrganizationId, Role, Secret, Slug, Username,
};
use curatore_service::{
    AuditEvent, AuditLogQuery, Client, Credentials, InitialAdmin, KeyQuery, NewKey,
    OrganizationChanges, RequestContext, Services,
};
use curatore_test_support::TestDatabase;
use serde_json::json;

mod common;

use common::{PASSWORD, admin, services, with_operator};

async fn actions(services: &Services, ctx: &RequestContext, event: AuditEvent) -> usize {
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

fn key(name: &str, scopes: &[&str]) -> NewKey {
    NewKey {
        name: name.into(),
        expires_in_days: None,
        expires_days: None,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[tokio::test]
async fn a_login_writes_its_audit_entry_in_the_same_transaction() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let ctx = admin(&services).await;
    assert_eq!(actions(&services, &ctx, AuditEvent::Login).await, 1);
    let err = services
        .anonymous(&Client::local())
        .login("admin", &Secret::new("wrong-password"))
        .await
        .expect_err("wrong password");
    assert!(
        matches!(
            err,
            curatore_service::ServiceError::Unauthenticated(
                curatore_service::Unauthenticated::InvalidCredentials
            )
        ),
        "{err:?}"
    );
    assert_eq!(actions(&services, &ctx, AuditEvent::Login).await, 2);
}

#[tokio::test]
async fn an_api_key_acts_only_within_its_scopes() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let ctx = admin(&services).await;
    let created = services
        .api_keys(&ctx)
        .create(key("reader", &["organization:read"]))
        .await
        .expect("create");
    let principal = services
        .authenticate(
            Credentials::ApiKey(created.secret.expose().to_owned()),
            Client::local(),
        )
        .await
        .expect("key authenticates");
    let as_key = principal;
    assert!(services.my_organization(&as_key).get().is_ok());
    let refused = services
        .my_organization(&as_key)
        .update(OrganizationChanges {
            display_name: Some("Renamed".into()),
            settings: None,
        })
        .await
        .expect_err("write without the scope");
    assert!(
        matches!(
            refused,
            curatore_service::ServiceError::Denied(curatore_service::Denied::Scope { .. })
        ),
        "{refused:?}"
    );
    let refused = services
        .audit_log(&as_key)
        .list(&AuditLogQuery::default())
        .await
        .expect_err("audit log without the scope");
    assert!(
        matches!(
            refused,
            curatore_service::ServiceError::Denied(curatore_service::Denied::Scope { .. })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn unknown_scopes_are_refused_at_creation() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let ctx = admin(&services).await;
    let err = services
        .api_keys(&ctx)
        .create(key("bad", &["admin"]))
        .await
        .expect_err("unknown scope");
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
}

#[tokio::test]
async fn another_organizations_key_is_not_found() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "alpha").await;
    let ctx_a = admin(&services).await;
    let key_a = services
        .api_keys(&ctx_a)
        .create(key("a", &[]))
        .await
        .expect("key");
    // A second organization with its own admin, in the same database.
    let raw = common::database(&db).await;
    let system = raw.system();
    let beta = system
        .organizations()
        .create(NewOrganization {
            name: "Beta".into(),
            display_name: "Beta".into(),
            slug: Slug::parse("beta").expect("slug"),
            settings: json!({}),
            created_by: None,
        })
        .await
        .expect("organization");
    let hash = common::config()
        .hasher()
        .hash(&Secret::new(PASSWORD))
        .await
        .expect("hash");
    common::database(&db)
        .await
        .tenant(beta.id)
        .users()
        .create(NewUser {
            organization_id: beta.id,
            email: EmailAddress::parse("boss@beta.example").expect("email"),
            username: Username::parse("boss").expect("username"),
            password_hash: hash,
            full_name: None,
            role: Role::OrgAdmin,
            is_verified: true,
        })
        .await
        .expect("user");
    let session = services
        .anonymous(&Client::local())
        .login("boss", &Secret::new(PASSWORD))
        .await
        .expect("login");
    let ctx_b = services
        .authenticate(Credentials::Bearer(session.access_token), Client::local())
        .await
        .expect("authenticate");
    assert_eq!(ctx_b.organization_id(), beta.id);
    // The id of alpha's key, asked for by beta's admin, is a 404, not a leak.
    for err in [
        services
            .api_keys(&ctx_b)
            .revoke(key_a.key.id)
            .await
            .expect_err("revoke"),
        services
            .api_keys(&ctx_b)
            .rename(key_a.key.id, "mine")
            .await
            .expect_err("rename"),
    ] {
        assert!(
            matches!(err, curatore_service::ServiceError::NotFound(_)),
            "{err:?}"
        );
    }
    let listed = services
        .api_keys(&ctx_b)
        .list(KeyQuery {
            everyone: true,
            ..KeyQuery::default()
        })
        .await
        .expect("list");
    assert!(listed.items.is_empty(), "beta sees none of alpha's keys");
}

#[tokio::test]
async fn revoking_twice_records_one_revocation() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let ctx = admin(&services).await;
    let created = services
        .api_keys(&ctx)
        .create(key("ci", &[]))
        .await
        .expect("key");
    services
        .api_keys(&ctx)
        .revoke(created.key.id)
        .await
        .expect("revoke");
    services
        .api_keys(&ctx)
        .revoke(created.key.id)
        .await
        .expect("revoke again");
    assert_eq!(actions(&services, &ctx, AuditEvent::ApiKeyRevoked).await, 1);
    let err = services
        .api_keys(&ctx)
        .rename(created.key.id, "new")
        .await
        .expect_err("rename revoked");
    assert!(
        matches!(
            err,
            curatore_service::ServiceError::Conflict(curatore_service::Conflict::ApiKeyRevoked)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn settings_must_be_an_object_and_changes_are_audited() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let ctx = admin(&services).await;
    let err = services
        .my_organization(&ctx)
        .update(OrganizationChanges {
            display_name: None,
            settings: Some(json!([1, 2])),
        })
        .await
        .expect_err("a list is not settings");
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
    let updated = services
        .my_organization(&ctx)
        .update(OrganizationChanges {
            display_name: Some("  Acme Research  ".into()),
            settings: Some(json!({"theme": "dark"})),
        })
        .await
        .expect("update");
    assert_eq!(updated.display_name, "Acme Research");
    assert_eq!(
        actions(&services, &ctx, AuditEvent::UpdateOrganization).await,
        1
    );
}

#[tokio::test]
async fn seeding_twice_creates_nothing_the_second_time() {
    let db = TestDatabase::sqlite();
    let (services, operator) = with_operator(&db, "acme").await;
    let again = operator
        .seed_initial_tenant(InitialAdmin {
            organization_name: "Other".into(),
            organization_slug: Slug::parse("other").expect("slug"),
            admin_email: EmailAddress::parse("x@other.example").expect("email"),
            admin_username: Username::parse("other").expect("username"),
            admin_password: Secret::new(PASSWORD),
            admin_full_name: None,
        })
        .await
        .expect("seed again");
    assert!(matches!(
        again,
        curatore_persistence::SeedOutcome::AlreadySeeded
    ));
    let _: OrganizationId = admin(&services).await.organization_id();
}

#[tokio::test]
async fn retention_deletes_only_entries_older_than_the_cutoff_and_says_so() {
    use sea_orm::ConnectionTrait;
    let db = TestDatabase::sqlite();
    let (services, operator) = with_operator(&db, "acme").await;
    let ctx = admin(&services).await;
    for i in 0..3 {
        services
            .api_keys(&ctx)
            .create(key(&format!("k{i}"), &[]))
            .await
            .unwrap();
    }
    // The seed, the login and two keys are from long ago; the last key is today's.
    common::database(&db)
        .await
        .connection()
        .execute_unprepared(
            "UPDATE audit_logs SET created_at = '2000-01-01 00:00:00+00:00' \
             WHERE NOT (action = 'api_key_created' AND details LIKE '%\"k2\"%')",
        )
        .await
        .unwrap();
    assert!(operator.purge_audit_log(0).await.is_err());
    let deleted = operator.purge_audit_log(30).await.unwrap();
    assert_eq!(deleted, 4);
    let left = services
        .audit_log(&ctx)
        .list(&Default::default())
        .await
        .unwrap();
    let actions: Vec<&str> = left.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["api_key_created"]);
    // The purge itself is recorded, as the system's (no organization's) entry.
    let purges = common::database(&db)
        .await
        .system()
        .audit_logs()
        .list_by_action("purge_audit_log", 5)
        .await
        .unwrap();
    assert_eq!(purges.len(), 1);
    assert_eq!(purges[0].details.as_ref().unwrap()["deleted"], 4);
    assert_eq!(operator.purge_audit_log(30).await.unwrap(), 0);
}

#[tokio::test]
async fn an_admin_operation_refused_to_a_member_is_recorded() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let ctx = admin(&services).await;
    let hash = common::config()
        .hasher()
        .hash(&Secret::new(PASSWORD))
        .await
        .unwrap();
    common::database(&db)
        .await
        .tenant(ctx.organization_id())
        .users()
        .create(NewUser {
            organization_id: ctx.organization_id(),
            email: EmailAddress::parse("member@acme.example").unwrap(),
            username: Username::parse("member").unwrap(),
            password_hash: hash,
            full_name: None,
            role: Role::Member,
            is_verified: true,
        })
        .await
        .unwrap();
    let session = services
        .anonymous(&Client::local())
        .login("member", &Secret::new(PASSWORD))
        .await
        .unwrap();
    let member = services
        .authenticate(Credentials::Bearer(session.access_token), Client::local())
        .await
        .unwrap();
    let err = services
        .my_organization(&member)
        .update(OrganizationChanges {
            display_name: Some("Mine now".into()),
            settings: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, curatore_service::ServiceError::Denied(_)),
        "{err:?}"
    );
    let denied = services
        .audit_log(&ctx)
        .list(&curatore_service::AuditLogQuery {
            actions: vec![AuditEvent::AccessDenied.into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(denied.items.len(), 1);
    let entry = &denied.items[0];
    assert_eq!(entry.user_id, member.principal().user_id());
    assert_eq!(
        entry.details.as_ref().unwrap()["operation"],
        "update_organization"
    );
    assert_eq!(entry.status.as_str(), "failure");
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_and_is_audited() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let client = Client::local();
    let first = services
        .anonymous(&client)
        .login("admin", &Secret::new(PASSWORD))
        .await
        .unwrap();
    let second = admin(&services).await;
    services.account(&second).logout_everywhere().await.unwrap();
    // The other session's refresh token and this session's access token both stop.
    let refreshed = services
        .anonymous(&client)
        .refresh(&first.refresh_token)
        .await;
    assert!(
        matches!(
            refreshed,
            Err(curatore_service::ServiceError::Unauthenticated(
                curatore_service::Unauthenticated::InvalidRefreshToken
            ))
        ),
        "{refreshed:?}"
    );
    let again = services
        .authenticate(Credentials::Bearer(first.access_token), client)
        .await;
    assert!(again.is_err());
    let third = admin(&services).await;
    let entries = services
        .audit_log(&third)
        .list(&AuditLogQuery {
            actions: vec![AuditEvent::Logout.into()],
            ..AuditLogQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.items.len(), 1);
    let details = entries.items[0].details.clone().unwrap();
    assert_eq!(details["everywhere"], json!(true));
    assert!(
        details["revoked_tokens"].as_u64().unwrap() >= 2,
        "{details}"
    );
}

#[tokio::test]
async fn users_are_searched_by_the_start_of_their_email_or_username() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let ctx = admin(&services).await;
    for name in ["alice", "alina", "bob"] {
        services
            .users(&ctx)
            .invite(curatore_service::Invitation {
                email: EmailAddress::parse(&format!("{name}@example.test")).unwrap(),
                username: Some(format!("u-{name}")),
                full_name: None,
                role: None,
                password: None,
                send_email: false,
            })
            .await
            .unwrap();
    }
    let search = |q: &str| curatore_service::UserQuery {
        search: Some(q.into()),
        limit: 1,
        ..curatore_service::UserQuery::default()
    };
    let first = services.users(&ctx).list(search("ALI")).await.unwrap();
    assert_eq!(first.items.len(), 1, "by e-mail, case-insensitively");
    assert_eq!(first.total, None, "a search carries no count");
    let next = first.next_cursor.clone().expect("a second match");
    let second = services
        .users(&ctx)
        .list(curatore_service::UserQuery {
            cursor: Some(next),
            ..search("ali")
        })
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert_ne!(second.items[0].id, first.items[0].id);
    assert!(second.next_cursor.is_none());
    let by_name = services.users(&ctx).list(search("u-bo")).await.unwrap();
    assert_eq!(by_name.items[0].username.as_str(), "u-bob");
}

#[tokio::test]
async fn organizations_are_searched_and_paged_by_keyset() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let ctx = admin(&services).await;
    for (name, slug) in [
        ("Globex One", "globex-one"),
        ("Globex Two", "globex-two"),
        ("Initech", "initech"),
    ] {
        services
            .organizations(&ctx)
            .create(curatore_service::NewTenant {
                name: name.into(),
                slug: slug.into(),
                display_name: None,
                admin: curatore_service::NewAdmin {
                    email: format!("admin@{slug}.test"),
                    username: format!("{slug}-admin"),
                    full_name: None,
                    password: Secret::new("a-long-admin-password-1"),
                },
            })
            .await
            .unwrap();
    }
    let orgs = services.organizations(&ctx);
    let first = orgs.search(Some("globex"), None, 1).await.unwrap();
    assert_eq!(first.items[0].slug.as_str(), "globex-one");
    let next = first.next_cursor.clone().expect("another match");
    let second = orgs.search(Some("globex"), Some(&next), 1).await.unwrap();
    assert_eq!(second.items[0].slug.as_str(), "globex-two");
    assert!(second.next_cursor.is_none());
    assert_eq!(orgs.search(None, None, 100).await.unwrap().items.len(), 4);
    let bad = orgs.search(None, Some("nope"), 1).await.unwrap_err();
    assert!(
        matches!(
            bad,
            curatore_service::ServiceError::Invalid(curatore_service::Invalid::UnknownCursor)
        ),
        "{bad:?}"
    );
}
