//! List totals on both engines: a short list is counted exactly on every
//! page; a list at or above the exact-count limit is counted in full once
//! and that figure is reused, marked estimated, until the cache period ends.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test with its message"
)]

use curatore_domain::{
    DatabaseUrl, EmailAddress, NewUser, OrganizationId, PasswordHash, Role, Username,
};
use curatore_migration::{Migrator, MigratorTrait};
use curatore_persistence::{Database, DatabaseOptions, Total};
use curatore_test_support::{TestDatabase, each_engine};
use serde_json::json;
use std::time::Duration;

mod common;

/// The test database with an exact-count limit of 5 and the given cache period.
async fn open(t: &TestDatabase, ttl: Duration) -> Database {
    let url = DatabaseUrl::parse(&t.url()).expect("test URL");
    let db = Database::connect(&DatabaseOptions {
        exact_total_limit: 5,
        total_cache_ttl: ttl,
        ..DatabaseOptions::new(url)
    })
    .await
    .expect("connect");
    Migrator::up(db.connection(), None).await.expect("migrate");
    db
}

async fn add_user(db: &Database, org: OrganizationId, n: usize, role: Role) {
    db.tenant(org)
        .users()
        .create(NewUser {
            organization_id: org,
            email: EmailAddress::parse(&format!("u{n}@example.com")).unwrap(),
            username: Username::parse(&format!("user{n}")).unwrap(),
            password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            full_name: None,
            role,
            is_verified: false,
        })
        .await
        .expect("create user");
}

async fn total(db: &Database, org: OrganizationId, role: Option<Role>) -> Total {
    db.tenant(org)
        .users()
        .page(None, role, 0, 2)
        .await
        .expect("page")
        .1
}

#[tokio::test]
async fn long_lists_reuse_a_recent_count_marked_estimated_and_short_ones_are_exact() {
    each_engine(|t| async move {
        let db = open(&t, Duration::from_secs(3600)).await;
        let org = common::organization(&db, "acme", json!({})).await.id;
        for n in 0..4 {
            add_user(&db, org, n, Role::Member).await;
        }
        // Below the limit: exact, and it follows every change.
        assert_eq!(total(&db, org, None).await, Total::exact(4));
        add_user(&db, org, 4, Role::Viewer).await;
        // At the limit: counted in full for this page ...
        assert_eq!(total(&db, org, None).await, Total::exact(5));
        add_user(&db, org, 5, Role::Viewer).await;
        // ... and that count reused by the next pages, said to be estimated.
        let reused = total(&db, org, None).await;
        assert_eq!((reused.count, reused.estimated), (5, true));
        // Another filter is another list: two viewers, counted exactly.
        assert_eq!(total(&db, org, Some(Role::Viewer)).await, Total::exact(2));
        // Another organization's list is its own.
        let other = common::organization(&db, "other", json!({})).await.id;
        assert_eq!(total(&db, other, None).await, Total::exact(0));
        // The page itself is never stale.
        let (users, _) = db
            .tenant(org)
            .users()
            .page(None, None, 0, 10)
            .await
            .unwrap();
        assert_eq!(users.len(), 6);

        // With no cache period every page recounts in full: exact again.
        let fresh = open(&t, Duration::ZERO).await;
        assert_eq!(total(&fresh, org, None).await, Total::exact(6));
        add_user(&fresh, org, 6, Role::Member).await;
        assert_eq!(total(&fresh, org, None).await, Total::exact(7));
    })
    .await;
}

#[tokio::test]
async fn key_connection_and_organization_pages_use_the_same_totals() {
    each_engine(|t| async move {
        let db = open(&t, Duration::from_secs(3600)).await;
        let org = common::organization(&db, "acme", json!({})).await.id;
        for n in 0..6 {
            common::write_key(&db, org, &format!("key{n}"), 0)
                .await
                .unwrap();
        }
        let keys = db.tenant(org).api_keys();
        let (page, first) = keys.page(None, None, 0, 2).await.unwrap();
        assert_eq!((page.len(), first), (2, Total::exact(6)));
        common::write_key(&db, org, "key6", 0).await.unwrap();
        let (_, again) = keys.page(None, None, 0, 2).await.unwrap();
        assert_eq!((again.count, again.estimated), (6, true));
        let (_, active) = keys.page(None, Some(false), 0, 2).await.unwrap();
        assert_eq!(active, Total::exact(0));

        for n in 0..3 {
            common::organization(&db, &format!("org{n}"), json!({})).await;
        }
        let (orgs, total) = db.system().organizations().page(2, 0).await.unwrap();
        assert_eq!((orgs.len(), total), (2, Total::exact(4)));
    })
    .await;
}
