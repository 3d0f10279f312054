//! Managing the organization's users without HTTP: the rules that keep an
//! organization administrable, and changes that take effect at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test with a message"
)]

use curatore_domain::{Role, Secret, UserId};
use curatore_service::{
    AuditEvent, AuditLogQuery, Client, Credentials, Invitation, NewAdmin, NewKey, NewTenant,
    RequestContext, Services, ServicesConfig, UserChanges, UserQuery, testing,
};
use curatore_test_support::TestDatabase;

mod common;

use common::{PASSWORD, admin, services};

/// Registers `name` with `role` (as the admin of `ctx`) and signs them in.
async fn user(
    services: &Services,
    ctx: &RequestContext,
    name: &str,
    role: Role,
) -> (UserId, RequestContext, Secret) {
    let created = services
        .users(ctx)
        .register(curatore_service::Registration {
            email: format!("{name}@example.test"),
            username: name.into(),
            password: Secret::new(PASSWORD),
            full_name: None,
            role: Some(role),
        })
        .await
        .expect("register")
        .user;
    let session = services
        .anonymous(&Client::local())
        .login(name, &Secret::new(PASSWORD))
        .await
        .expect("login");
    let principal = services
        .authenticate(Credentials::Bearer(session.access_token), Client::local())
        .await
        .expect("authenticate");
    (created.id, principal, session.refresh_token)
}

fn role(r: &str) -> UserChanges {
    UserChanges {
        role: Some(r.parse().unwrap()),
        ..UserChanges::default()
    }
}

#[tokio::test]
async fn two_admins_demoting_each_other_leave_one_admin() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let admin = admin(&services).await;
    let admin_id = admin.principal().user_id().expect("a user");
    let (bob, bob_ctx, _) = user(&services, &admin, "bob", Role::OrgAdmin).await;
    // Both contexts were built while both were admins: the second demotion
    // comes from a context that no longer matches the database.
    services
        .users(&admin)
        .update(bob, role("member"))
        .await
        .expect("first demotion");
    let refused = services
        .users(&bob_ctx)
        .update(admin_id, role("member"))
        .await
        .expect_err("the last admin stays");
    assert!(
        matches!(refused, curatore_service::ServiceError::Denied(_)),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("last active org_admin"),
        "{refused:?}"
    );
    let refused = services
        .users(&bob_ctx)
        .deactivate(admin_id)
        .await
        .expect_err("the last admin stays active");
    assert!(
        matches!(refused, curatore_service::ServiceError::Denied(_)),
        "{refused:?}"
    );
    let admins = services
        .users(&admin)
        .list(UserQuery {
            role: Some(curatore_domain::Role::OrgAdmin),
            is_active: Some(true),
            ..UserQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(admins.total, Some(1));
}

#[tokio::test]
async fn not_even_the_system_may_remove_the_last_admin() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let admin = admin(&services).await;
    let admin_id = admin.principal().user_id().expect("a user");
    // With authentication off, every request is the system principal of the
    // default organization: the same database, served that way.
    let open = testing::open(
        &db.url(),
        ServicesConfig::new(common::config().with_enabled(false)),
    )
    .await
    .0;
    let system = open
        .authenticate(Credentials::None, Client::local())
        .await
        .expect("the system principal");
    for refused in [
        open.users(&system)
            .update(admin_id, role("viewer"))
            .await
            .expect_err("demotion"),
        open.users(&system)
            .deactivate(admin_id)
            .await
            .expect_err("deactivation"),
    ] {
        assert!(
            matches!(refused, curatore_service::ServiceError::Denied(_)),
            "{refused:?}"
        );
    }
    // A name change is no demotion.
    let renamed = open
        .users(&system)
        .update(
            admin_id,
            UserChanges {
                full_name: Some("Ada Admin".into()),
                role: Some(curatore_domain::Role::OrgAdmin),
                ..UserChanges::default()
            },
        )
        .await
        .expect("rename");
    assert_eq!(renamed.full_name.as_deref(), Some("Ada Admin"));
}

#[tokio::test]
async fn admins_cannot_change_their_own_role_or_deactivate_themselves() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let admin = admin(&services).await;
    let (_, bob_ctx, _) = user(&services, &admin, "bob", Role::OrgAdmin).await;
    let bob = bob_ctx.principal().user_id().expect("a user");
    let refused = services
        .users(&bob_ctx)
        .update(bob, role("member"))
        .await
        .expect_err("own role");
    assert!(
        matches!(refused, curatore_service::ServiceError::Denied(_)),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("your own role"));
    let refused = services
        .users(&bob_ctx)
        .deactivate(bob)
        .await
        .expect_err("oneself");
    assert!(
        matches!(refused, curatore_service::ServiceError::Denied(_)),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("yourself"));
}

#[tokio::test]
async fn deactivation_ends_sessions_tokens_and_keys_at_once() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let admin = admin(&services).await;
    let (bob, bob_ctx, refresh) = user(&services, &admin, "bob", Role::Member).await;
    let key = services
        .api_keys(&bob_ctx)
        .create(NewKey {
            name: "bob's".into(),
            expires_in_days: None,
            expires_days: None,
            scopes: vec![],
        })
        .await
        .expect("key");
    let token = services
        .anonymous(&Client::local())
        .login("bob", &Secret::new(PASSWORD))
        .await
        .expect("login")
        .access_token;
    services
        .users(&admin)
        .deactivate(bob)
        .await
        .expect("deactivate");
    let err = services
        .authenticate(Credentials::Bearer(token), Client::local())
        .await
        .expect_err("old access token");
    assert!(
        matches!(
            err,
            curatore_service::ServiceError::Unauthenticated(
                curatore_service::Unauthenticated::InvalidToken
            )
        ),
        "{err:?}"
    );
    let err = services
        .authenticate(
            Credentials::ApiKey(key.secret.expose().to_owned()),
            Client::local(),
        )
        .await
        .expect_err("key of an inactive user");
    assert!(
        matches!(
            err,
            curatore_service::ServiceError::Unauthenticated(
                curatore_service::Unauthenticated::InvalidApiKey
            )
        ),
        "{err:?}"
    );
    assert!(
        services
            .anonymous(&Client::local())
            .refresh(&refresh)
            .await
            .is_err()
    );
    // Reactivation restores the account, not the sessions.
    let back = services
        .users(&admin)
        .reactivate(bob)
        .await
        .expect("reactivate");
    assert!(back.is_active);
    assert!(
        services
            .anonymous(&Client::local())
            .refresh(&refresh)
            .await
            .is_err()
    );
    services
        .authenticate(
            Credentials::ApiKey(key.secret.expose().to_owned()),
            Client::local(),
        )
        .await
        .expect("the key works again: it was refused, not revoked");
    services
        .anonymous(&Client::local())
        .login("bob", &Secret::new(PASSWORD))
        .await
        .expect("bob signs in again");
}

#[tokio::test]
async fn a_role_change_ends_the_users_sessions() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let admin = admin(&services).await;
    let (bob, _, refresh) = user(&services, &admin, "bob", Role::Member).await;
    let updated = services
        .users(&admin)
        .update(bob, role("viewer"))
        .await
        .expect("demote");
    assert_eq!(updated.role, Role::Viewer);
    assert!(
        services
            .anonymous(&Client::local())
            .refresh(&refresh)
            .await
            .is_err()
    );
    // An empty or unknown role cannot be asked for: `Role` is typed (the web
    // layer refuses the text, see crates/web/src/routes/users.rs).
    assert!("".parse::<Role>().is_err());
}

#[tokio::test]
async fn another_organizations_user_is_not_found_and_never_listed() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "alpha").await;
    let admin = admin(&services).await;
    services
        .organizations(&admin)
        .create(NewTenant {
            name: "Beta".into(),
            slug: "beta".into(),
            display_name: None,
            admin: NewAdmin {
                email: "boss@beta.example".into(),
                username: "boss".into(),
                full_name: None,
                password: Secret::new(PASSWORD),
            },
        })
        .await
        .expect("organization");
    let beta_admin = common::sign_in(&services, "boss", PASSWORD).await;
    let alpha_admin = admin.principal().user_id().expect("a user");
    for err in [
        services
            .users(&beta_admin)
            .get(alpha_admin)
            .await
            .expect_err("get"),
        services
            .users(&beta_admin)
            .update(alpha_admin, role("viewer"))
            .await
            .expect_err("update"),
        services
            .users(&beta_admin)
            .deactivate(alpha_admin)
            .await
            .expect_err("deactivate"),
        services
            .users(&beta_admin)
            .reactivate(alpha_admin)
            .await
            .expect_err("reactivate"),
    ] {
        assert!(
            matches!(err, curatore_service::ServiceError::NotFound(_)),
            "{err:?}"
        );
    }
    let listed = services
        .users(&beta_admin)
        .list(UserQuery::default())
        .await
        .expect("list");
    let names: Vec<&str> = listed.items.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(
        (names, listed.total),
        (vec!["boss"], Some(1)),
        "only beta's own"
    );
}

#[tokio::test]
async fn a_key_needs_the_users_scopes() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let admin = admin(&services).await;
    let as_key = |scopes: &[&str]| {
        let services = &services;
        let admin = &admin;
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        async move {
            let created = services
                .api_keys(admin)
                .create(NewKey {
                    name: "k".into(),
                    expires_in_days: None,
                    expires_days: None,
                    scopes,
                })
                .await
                .expect("key");
            services
                .authenticate(
                    Credentials::ApiKey(created.secret.expose().to_owned()),
                    Client::local(),
                )
                .await
                .expect("authenticate")
        }
    };
    let reader = as_key(&["users:read"]).await;
    let (bob, _, _) = user(&services, &admin, "bob", Role::Member).await;
    services
        .users(&reader)
        .list(UserQuery::default())
        .await
        .expect("read");
    let err = services
        .users(&reader)
        .deactivate(bob)
        .await
        .expect_err("write without the scope");
    assert!(
        matches!(
            err,
            curatore_service::ServiceError::Denied(curatore_service::Denied::Scope { .. })
        ),
        "{err:?}"
    );
    let other = as_key(&["organization:read"]).await;
    let err = services
        .users(&other)
        .list(UserQuery::default())
        .await
        .expect_err("read without the scope");
    assert!(
        matches!(
            err,
            curatore_service::ServiceError::Denied(curatore_service::Denied::Scope { .. })
        ),
        "{err:?}"
    );
    let writer = as_key(&["write"]).await;
    services
        .users(&writer)
        .deactivate(bob)
        .await
        .expect("write");
}

fn invitation(name: &str, password: Option<&str>) -> Invitation {
    Invitation {
        email: curatore_domain::EmailAddress::parse(&format!("{name}@example.test")).unwrap(),
        username: Some(name.into()),
        full_name: None,
        role: None,
        password: password.map(Secret::new),
    }
}

#[tokio::test]
async fn an_invite_generates_a_password_only_when_none_is_given() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let admin = admin(&services).await;
    let invited = services
        .users(&admin)
        .invite(invitation("ivy", None))
        .await
        .expect("invite");
    assert_eq!(invited.user.role, Role::Member);
    let temporary = invited.temporary_password.expect("generated");
    assert!(temporary.expose().len() >= 24);
    assert!(invited.user.password_change_required);
    let session = services
        .anonymous(&Client::local())
        .login("ivy", &temporary)
        .await
        .expect("the temporary password signs in");
    assert!(session.user.password_change_required);
    // Unused past its expiry, it stops working, with a clear answer.
    common::database(&db)
        .await
        .tenant(admin.organization_id())
        .users()
        .require_password_change(
            invited.user.id,
            chrono::Utc::now() - chrono::Duration::seconds(1),
        )
        .await
        .expect("backdate");
    let expired = services
        .anonymous(&Client::local())
        .login("ivy", &temporary)
        .await
        .expect_err("expired");
    assert!(
        matches!(
            expired,
            curatore_service::ServiceError::Unauthenticated(
                curatore_service::Unauthenticated::TemporaryPasswordExpired
            )
        ),
        "{expired:?}"
    );
    let given = services
        .users(&admin)
        .invite(invitation("vic", Some("a-given-password")))
        .await
        .expect("invite");
    assert!(given.temporary_password.is_none());
    let weak = services
        .users(&admin)
        .invite(invitation("wes", Some("short")))
        .await
        .expect_err("policy");
    assert!(
        matches!(
            weak,
            curatore_service::ServiceError::Invalid(
                curatore_service::Invalid::WeakPassword(_)
                    | curatore_service::Invalid::SamePassword
            )
        ),
        "{weak:?}"
    );
    let taken = services
        .users(&admin)
        .invite(invitation("ivy", None))
        .await
        .expect_err("taken");
    assert!(
        matches!(
            taken,
            curatore_service::ServiceError::Conflict(curatore_service::Conflict::Taken { .. })
        ),
        "{taken:?}"
    );
    let (_, member, _) = user(&services, &admin, "bob", Role::Member).await;
    let refused = services
        .users(&member)
        .invite(invitation("eve", None))
        .await
        .expect_err("member");
    assert!(
        matches!(refused, curatore_service::ServiceError::Denied(_)),
        "{refused:?}"
    );
    let key = services
        .api_keys(&admin)
        .create(NewKey {
            name: "k".into(),
            expires_in_days: None,
            expires_days: None,
            scopes: vec!["users:write".into()],
        })
        .await
        .expect("key");
    let as_key = services
        .authenticate(
            Credentials::ApiKey(key.secret.expose().to_owned()),
            Client::local(),
        )
        .await
        .expect("authenticate");
    let refused = services
        .users(&as_key)
        .invite(invitation("kim", None))
        .await
        .expect_err("keys never create users");
    assert!(
        matches!(refused, curatore_service::ServiceError::Denied(_)),
        "{refused:?}"
    );
}

/// How many entries of `event` the trail holds about `user`.
async fn entries(
    services: &Services,
    ctx: &RequestContext,
    event: AuditEvent,
    user: UserId,
) -> usize {
    services
        .audit_log(ctx)
        .list(&AuditLogQuery {
            actions: vec![event.into()],
            entity_id: Some(user.as_uuid()),
            limit: Some(1000),
            ..AuditLogQuery::default()
        })
        .await
        .expect("audit log")
        .items
        .len()
}

#[tokio::test]
async fn every_change_writes_one_audit_entry_and_no_ops_write_none() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let admin = admin(&services).await;
    let (bob, _, _) = user(&services, &admin, "bob", Role::Member).await;
    services
        .users(&admin)
        .update(bob, role("viewer"))
        .await
        .expect("update");
    // The same role again changes nothing and records nothing.
    services
        .users(&admin)
        .update(bob, role("viewer"))
        .await
        .expect("no-op");
    services
        .users(&admin)
        .deactivate(bob)
        .await
        .expect("deactivate");
    services.users(&admin).deactivate(bob).await.expect("again");
    services
        .users(&admin)
        .reactivate(bob)
        .await
        .expect("reactivate");
    services.users(&admin).reactivate(bob).await.expect("again");
    for event in [
        AuditEvent::UserUpdated,
        AuditEvent::UserDeactivated,
        AuditEvent::UserReactivated,
    ] {
        assert_eq!(entries(&services, &admin, event, bob).await, 1, "{event:?}");
    }
    // A refused change records nothing either.
    let admin_id = admin.principal().user_id().expect("a user");
    services
        .users(&admin)
        .deactivate(admin_id)
        .await
        .expect_err("oneself");
    assert_eq!(
        entries(&services, &admin, AuditEvent::UserDeactivated, admin_id).await,
        0
    );
}

#[tokio::test]
async fn keyset_pages_walk_the_list_newest_first_without_gaps_or_repeats() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let admin = admin(&services).await;
    for name in ["ann", "ben", "cat", "dan", "eve", "fay", "gus"] {
        user(&services, &admin, name, Role::Member).await;
    }
    let all = services
        .users(&admin)
        .list(UserQuery::default())
        .await
        .expect("list");
    let expected: Vec<_> = all.items.iter().map(|u| u.id).collect();
    assert_eq!(expected.len(), 8, "seven members and the admin");
    let first = services
        .users(&admin)
        .list(UserQuery {
            limit: 3,
            ..UserQuery::default()
        })
        .await
        .expect("first page");
    assert_eq!(first.total, Some(8));
    let mut seen: Vec<_> = first.items.iter().map(|u| u.id).collect();
    let mut cursor = first.next_cursor;
    while let Some(c) = cursor {
        let page = services
            .users(&admin)
            .list(UserQuery {
                limit: 3,
                cursor: Some(c),
                ..UserQuery::default()
            })
            .await
            .expect("next page");
        assert_eq!(page.total, None, "keyset pages are not recounted");
        seen.extend(page.items.iter().map(|u| u.id));
        cursor = page.next_cursor;
    }
    assert_eq!(seen, expected);
    for (cursor, skip) in [("not-a-cursor", 0), ("00", 0)] {
        let refused = services
            .users(&admin)
            .list(UserQuery {
                cursor: Some(cursor.into()),
                skip,
                ..UserQuery::default()
            })
            .await
            .expect_err("a cursor this API did not issue");
        assert!(
            matches!(
                refused,
                curatore_service::ServiceError::Invalid(
                    curatore_service::Invalid::PageSize { .. }
                        | curatore_service::Invalid::Skip { .. }
                        | curatore_service::Invalid::SkipWithCursor
                        | curatore_service::Invalid::UnknownCursor
                        | curatore_service::Invalid::UnknownPosition
                )
            ),
            "{refused:?}"
        );
    }
}

#[tokio::test]
async fn an_invite_without_a_username_derives_a_free_one_from_the_email() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let admin = admin(&services).await;
    let mut names = Vec::new();
    for email in [
        "Jo.Ann+x@a.test",
        "jo.ann+x@b.test",
        "jo@c.test",
        "Ünï@d.test",
    ] {
        let invited = services
            .users(&admin)
            .invite(Invitation {
                email: curatore_domain::EmailAddress::parse(email).unwrap(),
                username: None,
                full_name: None,
                role: None,
                password: None,
            })
            .await
            .unwrap_or_else(|e| panic!("{email}: {e}"));
        names.push(invited.user.username.as_str().to_owned());
    }
    // Lower-cased, reduced to the allowed characters, at least 3 long, and
    // numbered when taken.
    assert_eq!(names, ["jo.annx", "jo.annx2", "jo_", "n__"]);
}

#[tokio::test]
async fn one_edit_changes_email_username_and_activity_or_nothing() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let admin = admin(&services).await;
    let (bob, _, bob_refresh) = user(&services, &admin, "bob", Role::Member).await;
    user(&services, &admin, "carol", Role::Member).await;

    // A taken username: 409, and the e-mail of the same edit is not kept.
    let err = services
        .users(&admin)
        .update(
            bob,
            UserChanges {
                email: Some(curatore_domain::EmailAddress::parse("robert@example.test").unwrap()),
                username: Some(curatore_domain::Username::parse("carol").unwrap()),
                ..UserChanges::default()
            },
        )
        .await
        .expect_err("taken");
    assert!(
        matches!(
            err,
            curatore_service::ServiceError::Conflict(curatore_service::Conflict::Taken {
                field: "username"
            })
        ),
        "{err:?}"
    );
    let unchanged = services.users(&admin).get(bob).await.expect("bob");
    assert_eq!(unchanged.email.as_str(), "bob@example.test");

    let changed = services
        .users(&admin)
        .update(
            bob,
            UserChanges {
                email: Some(curatore_domain::EmailAddress::parse("Robert@Example.test").unwrap()),
                username: Some(curatore_domain::Username::parse("robert").unwrap()),
                is_active: Some(false),
                ..UserChanges::default()
            },
        )
        .await
        .expect("edit");
    assert_eq!(changed.email.as_str(), "robert@example.test");
    assert_eq!(changed.username.as_str(), "robert");
    assert!(!changed.is_active);
    assert_eq!(
        entries(&services, &admin, AuditEvent::UserUpdated, bob).await,
        1
    );
    assert_eq!(
        entries(&services, &admin, AuditEvent::UserDeactivated, bob).await,
        1
    );
    // The deactivation ended his session, as DELETE does.
    assert!(
        services
            .anonymous(&Client::local())
            .refresh(&bob_refresh)
            .await
            .is_err()
    );
    assert!(
        services
            .anonymous(&Client::local())
            .login("robert", &Secret::new(PASSWORD))
            .await
            .is_err(),
        "a deactivated user cannot sign in"
    );
    let back = services
        .users(&admin)
        .update(
            bob,
            UserChanges {
                is_active: Some(true),
                ..UserChanges::default()
            },
        )
        .await
        .expect("reactivate");
    assert!(back.is_active);
    assert_eq!(
        entries(&services, &admin, AuditEvent::UserReactivated, bob).await,
        1
    );

    // The admin's own row: sent back unchanged it passes, deactivating it does not.
    let admin_id = admin.principal().user_id().expect("user");
    let me = services.users(&admin).get(admin_id).await.expect("me");
    services
        .users(&admin)
        .update(
            admin_id,
            UserChanges {
                role: Some(curatore_domain::Role::OrgAdmin),
                is_active: Some(true),
                email: Some(me.email.clone()),
                ..UserChanges::default()
            },
        )
        .await
        .expect("unchanged fields are ignored");
    let err = services
        .users(&admin)
        .update(
            admin_id,
            UserChanges {
                is_active: Some(false),
                ..UserChanges::default()
            },
        )
        .await
        .expect_err("not oneself");
    assert!(
        matches!(err, curatore_service::ServiceError::Denied(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn setting_ones_own_password_keeps_this_session_and_ends_the_others() {
    let db = TestDatabase::sqlite();
    let services = services(&db, "acme").await;
    let admin = admin(&services).await;
    let (bob, bob_ctx, bob_refresh) = user(&services, &admin, "bob", Role::Member).await;
    let other = services
        .anonymous(&Client::local())
        .login("bob", &Secret::new(PASSWORD))
        .await
        .expect("second session");
    services
        .users(&bob_ctx)
        .set_password(bob, Secret::new("bobs-new-password"))
        .await
        .expect("own password");
    assert!(
        services
            .anonymous(&Client::local())
            .refresh(&bob_refresh)
            .await
            .is_ok(),
        "this session stays"
    );
    assert!(
        services
            .anonymous(&Client::local())
            .refresh(&other.refresh_token)
            .await
            .is_err(),
        "the other session ended"
    );
    services
        .anonymous(&Client::local())
        .login("bob", &Secret::new("bobs-new-password"))
        .await
        .expect("the new password signs in");
    // A member cannot set someone else's.
    let admin_id = admin.principal().user_id().expect("user");
    let err = services
        .users(&bob_ctx)
        .set_password(admin_id, Secret::new("taken-over-123"))
        .await
        .expect_err("member");
    assert!(
        matches!(err, curatore_service::ServiceError::Denied(_)),
        "{err:?}"
    );
}
