//! Tenancy by type: what organization A owns cannot be read, changed or
//! deleted through organization B's handle, on the pool or in a transaction,
//! and whatever the caller puts in a new record's `organization_id`, the
//! handle's organization is the one stored.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test with its message"
)]

use chrono::Utc;
use curatore_domain::{
    AuditAction, AuditStatus, ConnectionScope, ConnectionTestStatus, ConnectionType, EmailAddress,
    NewApiKey, NewAuditLogEntry, NewConnection, NewUser, Organization, OrganizationId,
    PasswordHash, Role, User, Username,
};
use curatore_persistence::{Database, PersistenceError, System, Tenant};
use curatore_test_support::{TestDatabase, each_engine};
use serde_json::json;

mod common;

async fn open(db: &TestDatabase) -> Database {
    common::open(db).await
}

async fn organization(db: &Database, slug: &str) -> Organization {
    common::organization(db, slug, json!({})).await
}

fn new_user(org: OrganizationId, name: &str) -> NewUser {
    NewUser {
        organization_id: org,
        email: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
        username: Username::parse(name).unwrap(),
        password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
        full_name: None,
        role: Role::Member,
        is_verified: true,
    }
}

async fn user(db: &Database, org: &Organization, name: &str) -> User {
    db.tenant(org.id)
        .users()
        .create(new_user(org.id, name))
        .await
        .expect("create user")
}

fn new_key(org: OrganizationId, user: Option<&User>, hash: &str) -> NewApiKey {
    NewApiKey {
        organization_id: org,
        user_id: user.map(|u| u.id),
        name: "ci".into(),
        key_hash: hash.into(),
        prefix: "cur_test".into(),
        scopes: vec![],
        expires_at: None,
        created_by_key_id: None,
    }
}

fn new_connection(org: OrganizationId, name: &str) -> NewConnection {
    NewConnection {
        organization_id: org,
        name: name.into(),
        description: None,
        connection_type: ConnectionType::parse("llm").unwrap(),
        config: json!({"api_key": "sk-secret"}),
        is_default: false,
        scope: ConnectionScope::Organization,
        owner_user_id: None,
        created_by: None,
        managed_by: None,
    }
}

fn entry(org: Option<OrganizationId>, action: &str) -> NewAuditLogEntry {
    NewAuditLogEntry {
        organization_id: org,
        user_id: None,
        action: AuditAction::parse(action).unwrap(),
        entity_type: None,
        entity_id: None,
        details: None,
        ip_address: None,
        user_agent: None,
        status: AuditStatus::Success,
        error_message: None,
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, PersistenceError>, what: &str) {
    assert!(
        matches!(result, Err(PersistenceError::NotFound)),
        "{what}: {result:?}"
    );
}

#[test]
fn handles_are_copy() {
    fn copy<T: Copy>() {}
    copy::<Tenant<'static>>();
    copy::<System<'static>>();
}

#[tokio::test]
async fn a_user_of_another_organization_cannot_be_read_changed_or_deleted() {
    each_engine(|t| async move {
        let db = open(&t).await;
        let a = organization(&db, "org-a").await;
        let b = organization(&db, "org-b").await;
        let alice = user(&db, &a, "alice").await;
        let bob = user(&db, &b, "bob").await;
        let other = db.tenant(b.id).users();

        assert_eq!(other.get(alice.id).await.unwrap(), None);
        assert_not_found(other.set_role(alice.id, Role::OrgAdmin).await, "set_role");
        assert_not_found(other.set_active(alice.id, false).await, "set_active");
        assert_not_found(
            other
                .set_password_hash(alice.id, &PasswordHash::new("stolen"))
                .await,
            "set_password_hash",
        );
        assert_not_found(other.record_login(alice.id, Utc::now()).await, "login");
        assert_not_found(other.delete(alice.id).await, "delete");
        assert_eq!(
            other
                .list(100, 0)
                .await
                .unwrap()
                .iter()
                .map(|u| u.id)
                .collect::<Vec<_>>(),
            vec![bob.id]
        );
        assert_eq!(other.count().await.unwrap(), 1);

        // Alice is untouched, and her own organization still reaches her.
        let own = db.tenant(a.id).users();
        assert_eq!(own.get(alice.id).await.unwrap().as_ref(), Some(&alice));
        assert_eq!(
            own.set_role(alice.id, Role::OrgAdmin).await.unwrap().role,
            Role::OrgAdmin
        );
        // The system handle finds users in any organization.
        assert_eq!(
            db.system().users().get(bob.id).await.unwrap().map(|u| u.id),
            Some(bob.id)
        );

        // Inside a transaction the same holds.
        let tx = db.begin().await.unwrap();
        assert_eq!(tx.tenant(b.id).users().get(alice.id).await.unwrap(), None);
        assert_not_found(tx.tenant(b.id).users().delete(alice.id).await, "tx delete");
        tx.commit().await.unwrap();
        assert!(own.get(alice.id).await.unwrap().is_some());
        own.delete(alice.id).await.unwrap();
        assert_eq!(own.get(alice.id).await.unwrap(), None);
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_new_user_joins_the_handles_organization_whatever_it_names() {
    each_engine(|t| async move {
        let db = open(&t).await;
        let a = organization(&db, "org-a").await;
        let b = organization(&db, "org-b").await;
        let mallory = db
            .tenant(b.id)
            .users()
            .create(new_user(a.id, "mallory"))
            .await
            .unwrap();
        assert_eq!(mallory.organization_id, b.id);
        assert_eq!(db.tenant(a.id).users().count().await.unwrap(), 0);
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn an_api_key_of_another_organization_cannot_be_read_renamed_or_revoked() {
    each_engine(|t| async move {
        let db = open(&t).await;
        let a = organization(&db, "org-a").await;
        let b = organization(&db, "org-b").await;
        let alice = user(&db, &a, "alice").await;
        let key = db
            .tenant(a.id)
            .api_keys()
            .create(new_key(a.id, Some(&alice), &"a".repeat(64)))
            .await
            .unwrap();
        let planted = db
            .tenant(b.id)
            .api_keys()
            .create(new_key(a.id, None, &"b".repeat(64)))
            .await
            .unwrap();
        assert_eq!(planted.organization_id, b.id, "org comes from the handle");

        let other = db.tenant(b.id).api_keys();
        assert_eq!(other.get(key.id).await.unwrap(), None);
        assert_not_found(other.rename(key.id, "mine now").await, "rename");
        assert!(
            !other.revoke(key.id).await.unwrap(),
            "revoke changes nothing"
        );
        assert_eq!(
            other
                .list(None)
                .await
                .unwrap()
                .iter()
                .map(|k| k.id)
                .collect::<Vec<_>>(),
            vec![planted.id]
        );
        assert!(other.list(Some(alice.id)).await.unwrap().is_empty());

        let tx = db.begin().await.unwrap();
        assert_not_found(
            tx.tenant(b.id).api_keys().rename(key.id, "tx").await,
            "tx rename",
        );
        assert!(!tx.tenant(b.id).api_keys().revoke(key.id).await.unwrap());
        tx.commit().await.unwrap();

        let own = db.tenant(a.id).api_keys();
        let kept = own.get(key.id).await.unwrap().unwrap();
        assert_eq!((kept.name.as_str(), kept.is_active), ("ci", true));
        assert_eq!(
            own.list(None)
                .await
                .unwrap()
                .iter()
                .map(|k| k.id)
                .collect::<Vec<_>>(),
            vec![key.id]
        );
        assert!(own.revoke(key.id).await.unwrap());
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_connection_of_another_organization_cannot_be_read_tested_or_deleted() {
    each_engine(|t| async move {
        let db = open(&t).await;
        let a = organization(&db, "org-a").await;
        let b = organization(&db, "org-b").await;
        let conn = db
            .tenant(a.id)
            .connections()
            .create(new_connection(a.id, "a's"))
            .await
            .unwrap();
        let planted = db
            .tenant(b.id)
            .connections()
            .create(new_connection(a.id, "planted"))
            .await
            .unwrap();
        assert_eq!(planted.organization_id, b.id, "org comes from the handle");

        let other = db.tenant(b.id).connections();
        assert_eq!(other.get(conn.id).await.unwrap(), None);
        assert_not_found(
            other
                .record_test(conn.id, ConnectionTestStatus::Unhealthy, None)
                .await,
            "record_test",
        );
        assert_not_found(other.delete(conn.id).await, "delete");
        assert_eq!(
            other
                .list(None)
                .await
                .unwrap()
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>(),
            vec![planted.id]
        );

        let tx = db.begin().await.unwrap();
        assert_not_found(
            tx.tenant(b.id).connections().delete(conn.id).await,
            "tx delete",
        );
        tx.commit().await.unwrap();

        let own = db.tenant(a.id).connections();
        let kept = own.get(conn.id).await.unwrap().unwrap();
        assert_eq!(kept.test_status, Some(ConnectionTestStatus::NotTested));
        own.delete(conn.id).await.unwrap();
        assert_eq!(own.get(conn.id).await.unwrap(), None);
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn audit_entries_stay_in_their_organization() {
    each_engine(|t| async move {
        let db = open(&t).await;
        let a = organization(&db, "org-a").await;
        let b = organization(&db, "org-b").await;
        let a_entry = db
            .tenant(a.id)
            .audit_logs()
            .record(entry(None, "login"))
            .await
            .unwrap();
        assert_eq!(
            a_entry.organization_id,
            Some(a.id),
            "forced to the handle's"
        );
        let planted = db
            .tenant(b.id)
            .audit_logs()
            .record(entry(Some(a.id), "login"))
            .await
            .unwrap();
        assert_eq!(
            planted.organization_id,
            Some(b.id),
            "forced to the handle's"
        );
        let failed = db
            .system()
            .audit_logs()
            .record(entry(None, "login"))
            .await
            .unwrap();
        assert_eq!(
            failed.organization_id, None,
            "the system handle keeps it as given"
        );

        let ids = |entries: Vec<curatore_domain::AuditLogEntry>| {
            entries.into_iter().map(|e| e.id).collect::<Vec<_>>()
        };
        assert_eq!(
            ids(db.tenant(a.id).audit_logs().list(None, 10).await.unwrap()),
            vec![a_entry.id]
        );
        assert_eq!(
            ids(db
                .tenant(b.id)
                .audit_logs()
                .list(Some("login"), 10)
                .await
                .unwrap()),
            vec![planted.id]
        );
        assert_eq!(
            db.system()
                .audit_logs()
                .list_by_action("login", 10)
                .await
                .unwrap()
                .len(),
            3
        );
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_tenant_reaches_only_its_own_organization() {
    each_engine(|t| async move {
        let db = open(&t).await;
        let a = organization(&db, "org-a").await;
        let b = organization(&db, "org-b").await;
        let tenant = db.tenant(a.id);
        assert_eq!(tenant.id(), a.id);
        assert_eq!(
            tenant.organization().get().await.unwrap().as_ref(),
            Some(&a)
        );
        let changed = tenant
            .organization()
            .update_profile(Some("Renamed".into()), Some(json!({"plan": "pro"})))
            .await
            .unwrap();
        assert_eq!(changed.display_name, "Renamed");
        assert!(
            !tenant
                .organization()
                .set_active(false)
                .await
                .unwrap()
                .is_active
        );
        let untouched = db.system().organizations().get(b.id).await.unwrap();
        assert_eq!(untouched.as_ref(), Some(&b));

        let nowhere = db.tenant(OrganizationId::new());
        assert_eq!(nowhere.organization().get().await.unwrap(), None);
        assert_not_found(
            nowhere.organization().update_profile(None, None).await,
            "update_profile",
        );
        assert_not_found(nowhere.organization().set_active(true).await, "set_active");
        db.close().await;
    })
    .await;
}
