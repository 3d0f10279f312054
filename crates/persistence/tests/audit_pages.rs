//! The audit trail read by filter and by keyset page, on both engines:
//! filters combine, and paging visits every entry exactly once, even when
//! many share one `created_at`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test with its message"
)]

use curatore_domain::{
    AuditAction, AuditLogEntry, AuditStatus, EmailAddress, NewAuditLogEntry, NewUser, Organization,
    PasswordHash, Role, User, Username,
};
use curatore_persistence::{AuditFilter, Database};
use curatore_test_support::each_engine;
use sea_orm::ConnectionTrait;
use serde_json::json;
use std::collections::HashSet;
use uuid::Uuid;

mod common;

async fn user(db: &Database, org: &Organization) -> User {
    db.tenant(org.id)
        .users()
        .create(NewUser {
            organization_id: org.id,
            email: EmailAddress::parse("auditor@example.com").unwrap(),
            username: Username::parse("auditor").unwrap(),
            password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            full_name: None,
            role: Role::Viewer,
            is_verified: false,
        })
        .await
        .expect("create user")
}

/// Entry `i` of 25: every fifth a login, every third a failure, the first
/// ten by `user` about users, the rest anonymous about API keys.
fn entry(i: usize, user: &User, about: Uuid) -> NewAuditLogEntry {
    NewAuditLogEntry {
        organization_id: None,
        user_id: (i < 10).then_some(user.id),
        action: AuditAction::parse(if i.is_multiple_of(5) {
            "login"
        } else {
            "update_user"
        })
        .unwrap(),
        entity_type: Some(if i < 10 { "user" } else { "api_key" }.into()),
        entity_id: Some(if i == 7 { about } else { Uuid::new_v4() }),
        details: None,
        ip_address: None,
        user_agent: None,
        status: if i.is_multiple_of(3) {
            AuditStatus::Failure
        } else {
            AuditStatus::Success
        },
        error_message: None,
    }
}

async fn count(db: &Database, org: &Organization, filter: AuditFilter) -> usize {
    db.tenant(org.id)
        .audit_logs()
        .page(&filter, None, 1000)
        .await
        .unwrap()
        .len()
}

fn action(a: &str) -> AuditAction {
    AuditAction::parse(a).unwrap()
}

#[tokio::test]
async fn filters_combine_and_keyset_pages_visit_every_entry_once() {
    each_engine(|t| async move {
        let db = common::open(&t).await;
        let org = common::organization(&db, "acme", json!({})).await;
        let other = common::organization(&db, "other", json!({})).await;
        let u = user(&db, &org).await;
        let about = Uuid::new_v4();
        let trail = db.tenant(org.id).audit_logs();
        for i in 0..25 {
            trail.record(entry(i, &u, about)).await.unwrap();
        }
        db.tenant(other.id)
            .audit_logs()
            .record(entry(0, &u, about))
            .await
            .unwrap();
        // The fifteen anonymous entries share one instant: ties broken by id.
        db.connection()
            .execute_unprepared(
                "UPDATE audit_logs SET created_at = (SELECT MAX(created_at) FROM audit_logs) \
                 WHERE user_id IS NULL",
            )
            .await
            .unwrap();
        let all = trail
            .page(&AuditFilter::default(), None, 1000)
            .await
            .unwrap();
        assert_eq!(all.len(), 25, "only this organization's");
        let newest = all[0].created_at;
        assert_eq!(all.iter().filter(|e| e.created_at == newest).count(), 15);

        let f = AuditFilter::default;
        let login = || vec![action("login")];
        assert_eq!(
            count(
                &db,
                &org,
                AuditFilter {
                    actions: login(),
                    ..f()
                }
            )
            .await,
            5
        );
        let both = vec![action("login"), action("update_user")];
        assert_eq!(
            count(
                &db,
                &org,
                AuditFilter {
                    actions: both,
                    ..f()
                }
            )
            .await,
            25
        );
        let by_user = AuditFilter {
            user_id: Some(u.id),
            ..f()
        };
        assert_eq!(count(&db, &org, by_user.clone()).await, 10);
        let login_by_user = AuditFilter {
            actions: login(),
            ..by_user
        };
        assert_eq!(count(&db, &org, login_by_user).await, 2);
        let failures = AuditFilter {
            status: Some(AuditStatus::Failure),
            ..f()
        };
        assert_eq!(count(&db, &org, failures).await, 9);
        let on_users = AuditFilter {
            entity_type: Some("user".into()),
            ..f()
        };
        assert_eq!(count(&db, &org, on_users).await, 10);
        let one = AuditFilter {
            entity_id: Some(about),
            ..f()
        };
        assert_eq!(count(&db, &org, one).await, 1);
        assert_eq!(
            count(
                &db,
                &org,
                AuditFilter {
                    since: Some(newest),
                    ..f()
                }
            )
            .await,
            15
        );
        assert_eq!(
            count(
                &db,
                &org,
                AuditFilter {
                    until: Some(newest),
                    ..f()
                }
            )
            .await,
            10
        );

        // 25 entries, 10 a page: 10, 10, 5, newest first, each once.
        let mut seen: Vec<AuditLogEntry> = Vec::new();
        let mut after = None;
        let mut sizes = Vec::new();
        loop {
            let page = trail
                .page(&AuditFilter::default(), after, 10)
                .await
                .unwrap();
            sizes.push(page.len());
            let Some(last) = page.last() else { break };
            after = Some((last.created_at, last.id));
            let full = page.len() == 10;
            seen.extend(page);
            if !full {
                break;
            }
        }
        assert_eq!(sizes, vec![10, 10, 5]);
        let ids: HashSet<_> = seen.iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), 25, "no duplicates");
        assert_eq!(ids, all.iter().map(|e| e.id).collect(), "no gaps");
        assert!(
            seen.windows(2)
                .all(|w| (w[0].created_at, w[0].id) > (w[1].created_at, w[1].id)),
            "strictly newest first by (created_at, id)"
        );
        // Paging and filtering together.
        let first = trail
            .page(
                &AuditFilter {
                    actions: login(),
                    ..f()
                },
                None,
                3,
            )
            .await
            .unwrap();
        let last = first.last().unwrap();
        let rest = trail
            .page(
                &AuditFilter {
                    actions: login(),
                    ..f()
                },
                Some((last.created_at, last.id)),
                3,
            )
            .await
            .unwrap();
        assert_eq!((first.len(), rest.len()), (3, 2));
        db.close().await;
    })
    .await;
}
