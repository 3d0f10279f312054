//! Refresh tokens and the per-request access lookups against real databases:
//! rotation is atomic (of 20 parallel rotations of one token exactly one
//! wins), reuse, expiry and unknown tokens are told apart, families revoke as
//! a whole, tokens go with their user, and the snapshots read user,
//! organization, session and API key in one query.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test with its message"
)]

use chrono::{DateTime, Duration, SubsecRound, Utc};
use curatore_domain::{
    EmailAddress, NewApiKey, NewRefreshToken, NewUser, Organization, PasswordHash,
    RefreshTokenRecord, Role, User, UserId, Username,
};
use curatore_persistence::{Database, PersistenceError, RotateOutcome};
use curatore_test_support::{TestDatabase, each_engine};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration as StdDuration;
use uuid::Uuid;

mod common;

async fn open(db: &TestDatabase) -> Database {
    common::open(db).await
}

async fn organization(db: &Database, slug: &str) -> Organization {
    common::organization(db, slug, json!({"plan": "pro"})).await
}

async fn user(db: &Database, org: &Organization, name: &str) -> User {
    db.tenant(org.id)
        .users()
        .create(NewUser {
            organization_id: org.id,
            email: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
            username: Username::parse(name).unwrap(),
            password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            full_name: None,
            role: Role::Member,
            is_verified: true,
        })
        .await
        .expect("create user")
}

/// A SHA-256-shaped digest (64 hex characters) for test token `n`.
fn hash(n: u32) -> String {
    format!("{n:064x}")
}

/// A time as the database keeps it (microseconds).
fn at(offset: Duration) -> DateTime<Utc> {
    (Utc::now() + offset).trunc_subsecs(6)
}

fn new_token(user: UserId, family: Uuid, n: u32, expires_at: DateTime<Utc>) -> NewRefreshToken {
    NewRefreshToken {
        user_id: user,
        family_id: family,
        token_hash: hash(n),
        expires_at,
        ip_address: Some("203.0.113.7".into()),
        user_agent: Some("tests/1.0".into()),
    }
}

async fn issue(db: &Database, user: UserId, family: Uuid, n: u32) -> RefreshTokenRecord {
    db.system()
        .refresh_tokens()
        .create(new_token(user, family, n, at(Duration::days(30))))
        .await
        .expect("create refresh token")
}

#[tokio::test]
async fn create_and_find_round_trip() {
    each_engine(|t| async move {
        let engine = t.engine();
        let db = open(&t).await;
        let org = organization(&db, "acme").await;
        let u = user(&db, &org, "alice").await;
        let family = Uuid::new_v4();
        let expires = at(Duration::days(30));

        let created = db
            .system()
            .refresh_tokens()
            .create(new_token(u.id, family, 1, expires))
            .await
            .unwrap();
        assert_eq!(created.user_id, u.id);
        assert_eq!(created.family_id, family);
        assert_eq!(created.token_hash, hash(1));
        assert_eq!(created.expires_at, expires, "{engine}");
        assert_eq!(created.revoked_at, None);
        assert_eq!(created.replaced_by, None);
        assert_eq!(created.ip_address.as_deref(), Some("203.0.113.7"));
        assert_eq!(created.user_agent.as_deref(), Some("tests/1.0"));
        assert!(created.created_at <= Utc::now());

        let found = db
            .system()
            .refresh_tokens()
            .find_by_hash(&hash(1))
            .await
            .unwrap();
        assert_eq!(found.as_ref(), Some(&created), "{engine}: round trip");
        assert!(
            db.system()
                .refresh_tokens()
                .find_by_hash(&hash(2))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            db.system()
                .refresh_tokens()
                .family_active(family)
                .await
                .unwrap()
        );
        assert!(
            !db.system()
                .refresh_tokens()
                .family_active(Uuid::new_v4())
                .await
                .unwrap()
        );

        // The hash is unique, and the user must exist.
        let dup = db
            .system()
            .refresh_tokens()
            .create(new_token(u.id, Uuid::new_v4(), 1, expires))
            .await;
        assert!(
            matches!(
                dup,
                Err(PersistenceError::Conflict {
                    field: "token_hash"
                })
            ),
            "{engine}: {dup:?}"
        );
        let orphan = db
            .system()
            .refresh_tokens()
            .create(new_token(UserId::new(), family, 3, expires))
            .await;
        assert!(
            matches!(orphan, Err(PersistenceError::MissingReference)),
            "{engine}: {orphan:?}"
        );
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn rotation_reuse_expiry_and_unknown() {
    each_engine(|t| async move {
        let engine = t.engine();
        let db = open(&t).await;
        let org = organization(&db, "acme").await;
        let u = user(&db, &org, "alice").await;
        let family = Uuid::new_v4();
        let first = issue(&db, u.id, family, 1).await;

        // Happy path: the old token is revoked and points at its successor,
        // which keeps the family, the user and the absolute expiry.
        let outcome = db
            .system()
            .refresh_tokens()
            .rotate(
                &hash(1),
                &hash(2),
                Some("2001:db8::2".into()),
                Some("tests/2.0".into()),
            )
            .await
            .unwrap();
        let RotateOutcome::Rotated { previous, current } = outcome else {
            panic!("{engine}: expected Rotated, got {outcome:?}");
        };
        assert_eq!(previous.id, first.id);
        assert!(previous.revoked_at.is_some(), "{engine}: old token revoked");
        assert_eq!(previous.replaced_by, Some(current.id));
        assert_eq!(current.token_hash, hash(2));
        assert_eq!(current.family_id, family);
        assert_eq!(current.user_id, u.id);
        assert_eq!(
            current.expires_at, first.expires_at,
            "{engine}: absolute expiry"
        );
        assert_eq!(current.revoked_at, None);
        assert_eq!(current.replaced_by, None);
        assert_eq!(current.ip_address.as_deref(), Some("2001:db8::2"));
        assert_eq!(current.user_agent.as_deref(), Some("tests/2.0"));
        assert_eq!(
            db.system()
                .refresh_tokens()
                .find_by_hash(&hash(1))
                .await
                .unwrap(),
            Some(previous.clone()),
            "{engine}: the stored old token is what rotate returned"
        );
        assert_eq!(
            db.system()
                .refresh_tokens()
                .find_by_hash(&hash(2))
                .await
                .unwrap(),
            Some(current.clone())
        );

        // Presenting the rotated token again is reuse, and writes nothing.
        let again = db
            .system()
            .refresh_tokens()
            .rotate(&hash(1), &hash(3), None, None)
            .await
            .unwrap();
        assert_eq!(
            again,
            RotateOutcome::Reused {
                family_id: family,
                user_id: u.id
            },
            "{engine}"
        );
        assert!(
            db.system()
                .refresh_tokens()
                .find_by_hash(&hash(3))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            db.system()
                .refresh_tokens()
                .find_by_hash(&hash(1))
                .await
                .unwrap(),
            Some(previous),
            "{engine}: reuse leaves the old row alone"
        );

        // The successor rotates in turn, inside a caller's transaction.
        let tx = db.begin().await.unwrap();
        let chained = tx
            .system()
            .refresh_tokens()
            .rotate(&hash(2), &hash(3), None, None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let RotateOutcome::Rotated { current: third, .. } = chained else {
            panic!("{engine}: expected Rotated, got {chained:?}");
        };
        assert_eq!(third.family_id, family);
        assert_eq!(third.expires_at, first.expires_at);

        // Expired, never revoked: Expired, and nothing is written.
        let old_family = Uuid::new_v4();
        db.system()
            .refresh_tokens()
            .create(new_token(u.id, old_family, 10, at(-Duration::seconds(1))))
            .await
            .unwrap();
        let expired = db
            .system()
            .refresh_tokens()
            .rotate(&hash(10), &hash(11), None, None)
            .await
            .unwrap();
        assert_eq!(
            expired,
            RotateOutcome::Expired {
                family_id: old_family,
                user_id: u.id
            },
            "{engine}"
        );
        assert!(
            db.system()
                .refresh_tokens()
                .find_by_hash(&hash(11))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            db.system()
                .refresh_tokens()
                .find_by_hash(&hash(10))
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            None
        );
        assert!(
            !db.system()
                .refresh_tokens()
                .family_active(old_family)
                .await
                .unwrap()
        );

        // Unknown.
        assert_eq!(
            db.system()
                .refresh_tokens()
                .rotate(&hash(99), &hash(100), None, None)
                .await
                .unwrap(),
            RotateOutcome::Unknown
        );
        let tx = db.begin().await.unwrap();
        assert_eq!(
            tx.system()
                .refresh_tokens()
                .rotate(&hash(99), &hash(100), None, None)
                .await
                .unwrap(),
            RotateOutcome::Unknown
        );
        tx.rollback().await.unwrap();
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_failed_rotation_leaves_nothing() {
    each_engine(|t| async move {
        let engine = t.engine();
        let db = open(&t).await;
        let org = organization(&db, "acme").await;
        let u = user(&db, &org, "alice").await;
        let family = Uuid::new_v4();
        issue(&db, u.id, family, 1).await;
        issue(&db, u.id, Uuid::new_v4(), 2).await;

        // The successor's hash is taken: the insert fails after the UPDATE.
        let on_pool = db
            .system()
            .refresh_tokens()
            .rotate(&hash(1), &hash(2), None, None)
            .await;
        assert!(
            matches!(
                on_pool,
                Err(PersistenceError::Conflict {
                    field: "token_hash"
                })
            ),
            "{engine}: {on_pool:?}"
        );
        let kept = db
            .system()
            .refresh_tokens()
            .find_by_hash(&hash(1))
            .await
            .unwrap();
        assert_eq!(kept.as_ref().and_then(|r| r.revoked_at), None, "{engine}");
        assert_eq!(kept.and_then(|r| r.replaced_by), None);

        // In a caller's transaction the failure is undone too, and the
        // transaction stays usable and committable.
        let tx = db.begin().await.unwrap();
        let in_tx = tx
            .system()
            .refresh_tokens()
            .rotate(&hash(1), &hash(2), None, None)
            .await;
        assert!(
            matches!(in_tx, Err(PersistenceError::Conflict { .. })),
            "{engine}: {in_tx:?}"
        );
        assert!(
            tx.system()
                .refresh_tokens()
                .family_active(family)
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        let kept = db
            .system()
            .refresh_tokens()
            .find_by_hash(&hash(1))
            .await
            .unwrap();
        assert_eq!(kept.and_then(|r| r.revoked_at), None, "{engine}");

        // The token still rotates normally afterwards.
        assert!(matches!(
            db.system()
                .refresh_tokens()
                .rotate(&hash(1), &hash(3), None, None)
                .await
                .unwrap(),
            RotateOutcome::Rotated { .. }
        ));
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn twenty_parallel_rotations_of_one_token_give_exactly_one_success() {
    each_engine(|t| async move {
        let engine = t.engine();
        let db = open(&t).await;
        let org = organization(&db, "acme").await;
        let u = user(&db, &org, "alice").await;
        let family = Uuid::new_v4();
        issue(&db, u.id, family, 1).await;

        const RACERS: u32 = 20;
        let start = Arc::new(tokio::sync::Barrier::new(RACERS as usize));
        let mut tasks = Vec::new();
        for n in 0..RACERS {
            let db = db.clone();
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let tx = db.begin().await?;
                let outcome = tx
                    .system()
                    .refresh_tokens()
                    .rotate(&hash(1), &hash(1000 + n), None, None)
                    .await?;
                if matches!(outcome, RotateOutcome::Rotated { .. }) {
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                }
                Ok::<_, PersistenceError>(outcome)
            }));
        }
        let mut rotated = Vec::new();
        let mut reused = 0;
        for task in tasks {
            match task.await.expect("task").expect("no rotation fails") {
                RotateOutcome::Rotated { current, .. } => rotated.push(current),
                RotateOutcome::Reused { family_id, user_id } => {
                    assert_eq!((family_id, user_id), (family, u.id));
                    reused += 1;
                }
                other => panic!("{engine}: unexpected {other:?}"),
            }
        }
        assert_eq!(rotated.len(), 1, "{engine}: exactly one rotation wins");
        assert_eq!(reused, RACERS - 1, "{engine}: the rest see reuse");

        // Exactly one successor exists, and the old token points at it.
        let mut successors = 0;
        for n in 0..RACERS {
            if let Some(r) = db
                .system()
                .refresh_tokens()
                .find_by_hash(&hash(1000 + n))
                .await
                .unwrap()
            {
                assert_eq!(r, rotated[0]);
                successors += 1;
            }
        }
        assert_eq!(successors, 1, "{engine}: one successor stored");
        let old = db
            .system()
            .refresh_tokens()
            .find_by_hash(&hash(1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(old.replaced_by, Some(rotated[0].id));
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn families_and_users_revoke_as_a_whole() {
    each_engine(|t| async move {
        let engine = t.engine();
        let db = open(&t).await;
        let org = organization(&db, "acme").await;
        let alice = user(&db, &org, "alice").await;
        let bob = user(&db, &org, "bob").await;
        let (f1, f2, f3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        issue(&db, alice.id, f1, 1).await;
        assert!(matches!(
            db.system()
                .refresh_tokens()
                .rotate(&hash(1), &hash(2), None, None)
                .await
                .unwrap(),
            RotateOutcome::Rotated { .. }
        ));
        issue(&db, alice.id, f2, 3).await;
        issue(&db, bob.id, f3, 4).await;

        // Only the live token of the family is revoked (the rotated one already is).
        assert!(
            db.system()
                .refresh_tokens()
                .family_active(f1)
                .await
                .unwrap()
        );
        assert_eq!(
            db.system()
                .refresh_tokens()
                .revoke_family(f1)
                .await
                .unwrap(),
            1
        );
        assert!(
            !db.system()
                .refresh_tokens()
                .family_active(f1)
                .await
                .unwrap(),
            "{engine}"
        );
        assert_eq!(
            db.system()
                .refresh_tokens()
                .revoke_family(f1)
                .await
                .unwrap(),
            0
        );
        assert!(matches!(
            db.system()
                .refresh_tokens()
                .rotate(&hash(2), &hash(5), None, None)
                .await
                .unwrap(),
            RotateOutcome::Reused { .. }
        ));
        assert!(
            db.system()
                .refresh_tokens()
                .family_active(f2)
                .await
                .unwrap()
        );

        // All of a user's families, nobody else's.
        let tx = db.begin().await.unwrap();
        assert_eq!(
            tx.system()
                .refresh_tokens()
                .revoke_all_for_user(alice.id)
                .await
                .unwrap(),
            1
        );
        tx.commit().await.unwrap();
        assert!(
            !db.system()
                .refresh_tokens()
                .family_active(f2)
                .await
                .unwrap()
        );
        assert!(
            db.system()
                .refresh_tokens()
                .family_active(f3)
                .await
                .unwrap()
        );

        // Deleting the user removes their tokens (ON DELETE CASCADE).
        db.tenant(alice.organization_id)
            .users()
            .delete(alice.id)
            .await
            .unwrap();
        for n in [1, 2, 3] {
            assert!(
                db.system()
                    .refresh_tokens()
                    .find_by_hash(&hash(n))
                    .await
                    .unwrap()
                    .is_none(),
                "{engine}: token {n} cascaded"
            );
        }
        assert!(
            db.system()
                .refresh_tokens()
                .find_by_hash(&hash(4))
                .await
                .unwrap()
                .is_some()
        );
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn access_snapshot_reads_user_organization_and_session() {
    each_engine(|t| async move {
        let engine = t.engine();
        let db = open(&t).await;
        let org = organization(&db, "acme").await;
        let alice = user(&db, &org, "alice").await;
        let bob = user(&db, &org, "bob").await;
        let session = Uuid::new_v4();
        issue(&db, alice.id, session, 1).await;
        let bobs_session = Uuid::new_v4();
        issue(&db, bob.id, bobs_session, 2).await;

        let snap = db
            .system()
            .access_snapshot(alice.id, session)
            .await
            .unwrap()
            .expect("known user");
        assert_eq!(snap.user, alice, "{engine}");
        assert_eq!(snap.organization, org, "{engine}");
        assert!(snap.session_active, "{engine}");

        // After a rotation the family is still live.
        db.system()
            .refresh_tokens()
            .rotate(&hash(1), &hash(3), None, None)
            .await
            .unwrap();
        assert!(
            db.system()
                .access_snapshot(alice.id, session)
                .await
                .unwrap()
                .unwrap()
                .session_active
        );

        // Someone else's session, or an unknown one, is not active.
        let other = db
            .system()
            .access_snapshot(alice.id, bobs_session)
            .await
            .unwrap()
            .unwrap();
        assert!(!other.session_active, "{engine}: not alice's family");
        assert!(
            !db.system()
                .access_snapshot(alice.id, Uuid::new_v4())
                .await
                .unwrap()
                .unwrap()
                .session_active
        );

        // Revoked: still the user, no longer a session.
        db.system()
            .refresh_tokens()
            .revoke_family(session)
            .await
            .unwrap();
        let tx = db.begin().await.unwrap();
        let revoked = tx
            .system()
            .access_snapshot(alice.id, session)
            .await
            .unwrap()
            .unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(revoked.user.id, alice.id);
        assert!(!revoked.session_active, "{engine}: revoked");

        // Expired: not active either.
        let expired_session = Uuid::new_v4();
        db.system()
            .refresh_tokens()
            .create(new_token(
                alice.id,
                expired_session,
                9,
                at(-Duration::seconds(1)),
            ))
            .await
            .unwrap();
        assert!(
            !db.system()
                .access_snapshot(alice.id, expired_session)
                .await
                .unwrap()
                .unwrap()
                .session_active
        );

        assert!(
            db.system()
                .access_snapshot(UserId::new(), session)
                .await
                .unwrap()
                .is_none(),
            "{engine}: unknown user"
        );
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn api_key_snapshot_with_and_without_a_user() {
    each_engine(|t| async move {
        let engine = t.engine();
        let db = open(&t).await;
        let org = organization(&db, "acme").await;
        let other_org = organization(&db, "other").await;
        let alice = user(&db, &org, "alice").await;
        let new_key = |org: &Organization, user_id, key_hash: &str| NewApiKey {
            organization_id: org.id,
            user_id,
            name: "ci".into(),
            key_hash: key_hash.into(),
            prefix: "cur_1a2b3c4d".into(),
            scopes: vec!["read".into()],
            expires_at: Some(at(Duration::days(1))),
            created_by_key_id: None,
        };
        let users_key = db
            .tenant(org.id)
            .api_keys()
            .create(new_key(&org, Some(alice.id), &hash(1)))
            .await
            .unwrap();
        let org_key = db
            .tenant(other_org.id)
            .api_keys()
            .create(new_key(&other_org, None, &hash(2)))
            .await
            .unwrap();

        let snap = db
            .system()
            .api_key_snapshot(&hash(1))
            .await
            .unwrap()
            .expect("known key");
        assert_eq!(snap.key, users_key, "{engine}");
        assert_eq!(snap.user.as_ref(), Some(&alice), "{engine}");
        assert_eq!(snap.organization, org, "{engine}");

        let tx = db.begin().await.unwrap();
        let snap = tx
            .system()
            .api_key_snapshot(&hash(2))
            .await
            .unwrap()
            .expect("organization-wide key");
        tx.rollback().await.unwrap();
        assert_eq!(snap.key, org_key, "{engine}");
        assert_eq!(snap.user, None, "{engine}: no user");
        assert_eq!(snap.organization, other_org, "{engine}");

        assert!(
            db.system()
                .api_key_snapshot(&hash(3))
                .await
                .unwrap()
                .is_none()
        );
        db.close().await;
    })
    .await;
}

/// Rotation with a reuse grace of `grace`, on the pool.
async fn rotate_within(
    db: &Database,
    presented: u32,
    successor: u32,
    grace: StdDuration,
) -> RotateOutcome {
    db.system()
        .refresh_tokens()
        .rotate_with_grace(&hash(presented), &hash(successor), grace, None, None)
        .await
        .unwrap()
}

const GRACE: StdDuration = StdDuration::from_secs(10);

#[tokio::test]
async fn reuse_within_the_grace_returns_the_same_successor_and_after_it_is_reuse() {
    each_engine(|t| async move {
        let engine = t.engine();
        let db = open(&t).await;
        let org = organization(&db, "acme").await;
        let u = user(&db, &org, "alice").await;
        let family = Uuid::new_v4();
        issue(&db, u.id, family, 1).await;
        let RotateOutcome::Rotated { current, .. } = rotate_within(&db, 1, 2, GRACE).await else {
            panic!("{engine}: the first rotation rotates");
        };

        // Presented again at once, with the same successor: the same
        // successor comes back, and nothing is written.
        for _ in 0..3 {
            let outcome = rotate_within(&db, 1, 2, GRACE).await;
            let RotateOutcome::WithinGrace {
                previous,
                current: again,
            } = outcome
            else {
                panic!("{engine}: expected WithinGrace, got {outcome:?}");
            };
            assert_eq!(again, current, "{engine}: the stored successor, unchanged");
            assert_eq!(previous.replaced_by, Some(current.id));
        }
        assert_eq!(
            db.system()
                .refresh_tokens()
                .find_by_hash(&hash(2))
                .await
                .unwrap(),
            Some(current.clone())
        );
        assert!(
            db.system()
                .refresh_tokens()
                .family_active(family)
                .await
                .unwrap()
        );

        // Another successor than the stored one, or no grace: reuse.
        let reused = RotateOutcome::Reused {
            family_id: family,
            user_id: u.id,
        };
        assert_eq!(rotate_within(&db, 1, 3, GRACE).await, reused, "{engine}");
        assert_eq!(
            rotate_within(&db, 1, 2, StdDuration::ZERO).await,
            reused,
            "{engine}"
        );
        assert_eq!(
            db.system()
                .refresh_tokens()
                .rotate(&hash(1), &hash(2), None, None)
                .await
                .unwrap(),
            reused,
            "{engine}: rotate has no grace"
        );

        // After the grace: reuse.
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        assert_eq!(
            rotate_within(&db, 1, 2, StdDuration::from_millis(200)).await,
            reused,
            "{engine}: the grace is over"
        );
        assert!(matches!(
            rotate_within(&db, 1, 2, GRACE).await,
            RotateOutcome::WithinGrace { .. }
        ));

        // Once the successor is rotated itself, its predecessor is reuse.
        assert!(matches!(
            rotate_within(&db, 2, 4, GRACE).await,
            RotateOutcome::Rotated { .. }
        ));
        assert_eq!(rotate_within(&db, 1, 2, GRACE).await, reused, "{engine}");
        assert!(matches!(
            rotate_within(&db, 2, 4, GRACE).await,
            RotateOutcome::WithinGrace { .. }
        ));

        // A revoked family gives no grace.
        db.system()
            .refresh_tokens()
            .revoke_family(family)
            .await
            .unwrap();
        assert_eq!(rotate_within(&db, 2, 4, GRACE).await, reused, "{engine}");
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn twenty_parallel_rotations_with_grace_all_get_the_one_successor() {
    each_engine(|t| async move {
        let engine = t.engine();
        let db = open(&t).await;
        let org = organization(&db, "acme").await;
        let u = user(&db, &org, "alice").await;
        issue(&db, u.id, Uuid::new_v4(), 1).await;

        const RACERS: usize = 20;
        let start = Arc::new(tokio::sync::Barrier::new(RACERS));
        let mut tasks = Vec::new();
        for _ in 0..RACERS {
            let db = db.clone();
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let tx = db.begin().await?;
                let outcome = tx
                    .system()
                    .refresh_tokens()
                    .rotate_with_grace(&hash(1), &hash(2), GRACE, None, None)
                    .await?;
                tx.commit().await?;
                Ok::<_, PersistenceError>(outcome)
            }));
        }
        let mut rotated = 0;
        let mut successors = Vec::new();
        for task in tasks {
            match task.await.expect("task").expect("no rotation fails") {
                RotateOutcome::Rotated { current, .. } => {
                    rotated += 1;
                    successors.push(current);
                }
                RotateOutcome::WithinGrace { current, .. } => successors.push(current),
                other => panic!("{engine}: unexpected {other:?}"),
            }
        }
        assert_eq!(rotated, 1, "{engine}: exactly one rotation writes");
        let stored = db
            .system()
            .refresh_tokens()
            .find_by_hash(&hash(2))
            .await
            .unwrap()
            .unwrap();
        assert!(
            successors.iter().all(|s| *s == stored),
            "{engine}: every racer got the one stored successor"
        );
        db.close().await;
    })
    .await;
}
