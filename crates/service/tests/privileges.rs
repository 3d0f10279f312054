//! Privilege changes need a person, and keys minted by a key die with it,
//! on both engines: an org_admin's API key (even unrestricted) cannot grant
//! or remove org_admin, change or (de)activate an org_admin, or set another
//! user's password (403 `person_required`), while the same admin signed in
//! can; revoking a key revokes every key minted from it, transitively, in
//! one unit of work, and none of them authenticates afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use curatore_domain::{Secret, UserId};
use curatore_service::{
    Client, Credentials, Denied, Invitation, NewKey, RequestContext, ServiceError, Services,
    Unauthenticated, UserChanges,
};
use curatore_test_support::{TestDatabase, each_engine};

async fn invite(services: &Services, admin: &RequestContext, name: &str, role: &str) -> UserId {
    services
        .users(admin)
        .invite(Invitation {
            email: curatore_domain::EmailAddress::parse(&format!("{name}@acme.example")).unwrap(),
            username: Some(name.into()),
            full_name: None,
            role: Some(role.parse().unwrap()),
            password: Some(Secret::new(format!("{name}-password-123456"))),
            send_email: false,
        })
        .await
        .unwrap()
        .user
        .id
}

async fn key(services: &Services, ctx: &RequestContext, scopes: &[&str]) -> String {
    services
        .api_keys(ctx)
        .create(NewKey {
            name: format!("key {}", scopes.join(" ")),
            expires_in_days: None,
            expires_days: None,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        })
        .await
        .unwrap()
        .secret
        .expose()
        .to_owned()
}

/// Signs in with `key`; `Err(KeyRefused)` when the key is not valid.
async fn as_key(services: &Services, key: &str) -> Result<RequestContext, KeyRefused> {
    services
        .authenticate(Credentials::ApiKey(key.to_owned()), Client::local())
        .await
        .map_err(|e| match e {
            ServiceError::Unauthenticated(Unauthenticated::InvalidApiKey) => KeyRefused,
            other => panic!("{other:?}"),
        })
}

#[derive(Debug, PartialEq)]
struct KeyRefused;

fn role(r: &str) -> UserChanges {
    UserChanges {
        role: Some(r.parse().unwrap()),
        ..UserChanges::default()
    }
}

async fn privileges_need_a_person(db: TestDatabase) {
    let engine = db.engine();
    let services = common::services(&db, "acme").await;
    let admin = common::admin(&services).await;
    let viewer = invite(&services, &admin, "viewer", "viewer").await;
    let other_admin = invite(&services, &admin, "boss", "org_admin").await;
    let admin_key = key(&services, &admin, &[]).await;
    let by_key = as_key(&services, &admin_key).await.unwrap();
    let users = services.users(&by_key);

    let refused = |r: Result<(), curatore_service::ServiceError>, what: &str| {
        let err = r.unwrap_err();
        assert!(
            matches!(
                err,
                ServiceError::Denied(Denied::KeyCannotChangePrivileges(_))
            ),
            "{engine}: {what}: {err:?}"
        );
    };
    refused(
        users.update(viewer, role("org_admin")).await.map(drop),
        "grant org_admin",
    );
    refused(
        users.update(other_admin, role("member")).await.map(drop),
        "remove org_admin",
    );
    refused(
        users
            .update(
                other_admin,
                UserChanges {
                    full_name: Some("Renamed".into()),
                    ..UserChanges::default()
                },
            )
            .await
            .map(drop),
        "change an org_admin",
    );
    refused(
        users.deactivate(other_admin).await.map(drop),
        "deactivate an org_admin",
    );
    refused(
        users.reset_password(viewer, None).await.map(drop),
        "reset another's password",
    );
    refused(
        users
            .set_password(viewer, Secret::new("a-new-password-123456"))
            .await,
        "set another's password",
    );
    // Nothing changed.
    let still = services.users(&admin).get(viewer).await.unwrap();
    assert_eq!(still.role.as_str(), "viewer", "{engine}");

    // What involves no org_admin, a key may still do.
    let member = users.update(viewer, role("member")).await.unwrap();
    assert_eq!(member.role.as_str(), "member");

    // Signed in, the same admin may.
    let admin_users = services.users(&admin);
    let promoted = admin_users.update(viewer, role("org_admin")).await.unwrap();
    assert_eq!(promoted.role.as_str(), "org_admin", "{engine}");
    admin_users
        .update(other_admin, role("member"))
        .await
        .unwrap();
    admin_users.reset_password(viewer, None).await.unwrap();
}

#[tokio::test]
async fn privilege_changes_need_a_signed_in_person() {
    each_engine(privileges_need_a_person).await;
}

async fn minted_keys_die_with_their_parent(db: TestDatabase) {
    let engine = db.engine();
    let services = common::services(&db, "acme").await;
    let admin = common::admin(&services).await;
    let minting = ["api_keys:write", "connections:read"];
    let parent = key(&services, &admin, &minting).await;
    let parent_ctx = as_key(&services, &parent).await.unwrap();
    let child = key(&services, &parent_ctx, &minting).await;
    let child_ctx = as_key(&services, &child).await.unwrap();
    let grandchild = key(&services, &child_ctx, &["connections:read"]).await;
    // A sibling minted by the admin herself is no descendant.
    let unrelated = key(&services, &admin, &["connections:read"]).await;
    for k in [&child, &grandchild, &unrelated] {
        as_key(&services, k).await.unwrap();
    }

    let keys = services
        .api_keys(&admin)
        .list(curatore_service::KeyQuery::default())
        .await
        .unwrap()
        .items;
    let parent_id = match parent_ctx.principal().actor() {
        curatore_service::Actor::ApiKey { key_id, .. } => *key_id,
        other => panic!("{other:?}"),
    };
    let child_record = keys
        .iter()
        .find(|k| child.starts_with(&k.prefix) && k.created_by_key_id.is_some())
        .unwrap();
    assert_eq!(child_record.created_by_key_id, Some(parent_id), "{engine}");

    services.api_keys(&admin).revoke(parent_id).await.unwrap();
    for (what, k) in [
        ("parent", &parent),
        ("child", &child),
        ("grandchild", &grandchild),
    ] {
        assert_eq!(
            as_key(&services, k).await.map(|_| ()),
            Err(KeyRefused),
            "{engine}: the {what} outlived the revocation"
        );
    }
    as_key(&services, &unrelated).await.unwrap();
    let active = services
        .api_keys(&admin)
        .list(curatore_service::KeyQuery {
            is_active: Some(true),
            ..curatore_service::KeyQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        active.total,
        Some(1),
        "{engine}: only the unrelated key is left"
    );

    // Each revocation is in the trail.
    let trail = services
        .audit_log(&admin)
        .list(&curatore_service::AuditLogQuery {
            actions: vec![curatore_domain::AuditAction::parse("api_key_revoked").unwrap()],
            ..curatore_service::AuditLogQuery::default()
        })
        .await
        .unwrap();
    let revoked = trail.items.len();
    assert_eq!(revoked, 3, "{engine}");
    // A second revocation changes and records nothing.
    services.api_keys(&admin).revoke(parent_id).await.unwrap();
}

#[tokio::test]
async fn keys_minted_by_a_key_are_revoked_with_it() {
    each_engine(minted_keys_die_with_their_parent).await;
}
