//! The audit feed misses nothing: four writers append entries in
//! transactions that commit late (each sleeps between its insert and its
//! commit, as a slow request does), while a poller reads
//! `audit_log_feed` from the position of its previous read. Every entry
//! written is read exactly once, on both engines. (Polling with `since` on
//! `created_at` instead loses entries here: `created_at` is taken before the
//! late commit.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use curatore_domain::{AuditAction, AuditStatus, NewAuditLogEntry};
use curatore_service::{AuditFeedQuery, RequestContext, Services};
use curatore_test_support::{TestDatabase, each_engine};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use uuid::Uuid;

const WRITERS: usize = 4;
const PER_WRITER: usize = 120;

/// One entry in a transaction that commits `delay` after its insert.
async fn write_late(
    db: &curatore_persistence::Database,
    org: curatore_domain::OrganizationId,
    delay: Duration,
) -> Uuid {
    let tx = db.begin().await.unwrap();
    let entry = tx
        .tenant(org)
        .audit_logs()
        .record(NewAuditLogEntry {
            organization_id: Some(org),
            user_id: None,
            action: AuditAction::parse("feed_test").unwrap(),
            entity_type: None,
            entity_id: None,
            details: None,
            ip_address: None,
            user_agent: None,
            status: AuditStatus::Success,
            error_message: None,
        })
        .await
        .unwrap();
    tokio::time::sleep(delay).await;
    tx.commit().await.unwrap();
    entry.id.as_uuid()
}

/// Reads the feed from the start until every id in `expected` came, or a
/// deadline passes; every id seen, with how often.
async fn poll(
    services: &Services,
    ctx: &RequestContext,
    expected: impl Fn() -> Option<HashSet<Uuid>>,
) -> HashMap<Uuid, usize> {
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    let mut after = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page = services
            .audit_log(ctx)
            .feed(&AuditFeedQuery {
                after: after.clone(),
                limit: Some(37),
            })
            .await
            .unwrap();
        for entry in &page.items {
            *seen.entry(entry.id.as_uuid()).or_default() += 1;
        }
        after = Some(page.position);
        if page.items.len() < 37 {
            if let Some(all) = expected()
                && all.iter().all(|id| seen.contains_key(id))
            {
                return seen;
            }
            assert!(Instant::now() < deadline, "the feed stalled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

async fn four_writers_and_a_poller(db: TestDatabase) {
    let (services, operator) = common::with_operator(&db, "feed").await;
    let ctx = common::admin(&services).await;
    let org = ctx.organization_id();
    // The writers write behind the services' back, each entry committed late.
    let raw = common::database(&db).await;
    let written = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let raw = raw.clone();
        let written = written.clone();
        let done = done.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                // 0 to 19 ms between insert and commit, differing per writer.
                let delay = Duration::from_millis(((i * 7 + w * 13) % 20) as u64);
                let id = write_late(&raw, org, delay).await;
                written.lock().unwrap().push(id);
            }
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
    }
    let expected = || {
        (done.load(std::sync::atomic::Ordering::SeqCst) == WRITERS)
            .then(|| written.lock().unwrap().iter().copied().collect())
    };
    let seen = poll(&services, &ctx, expected).await;
    for w in writers {
        w.await.unwrap();
    }
    let written: HashSet<Uuid> = written.lock().unwrap().iter().copied().collect();
    assert_eq!(written.len(), WRITERS * PER_WRITER);
    let missing = written.iter().filter(|id| !seen.contains_key(id)).count();
    let twice = seen.values().filter(|n| **n > 1).count();
    assert_eq!(
        (missing, twice),
        (0, 0),
        "{}: of {} entries, missing and read twice",
        db.engine(),
        written.len()
    );
    raw.close().await;
    operator.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_writers_and_a_poller_lose_no_entry() {
    each_engine(four_writers_and_a_poller).await;
}

async fn positions(db: TestDatabase) {
    let (services, operator) = common::with_operator(&db, "positions").await;
    let ctx = common::admin(&services).await;
    let listed = services
        .audit_log(&ctx)
        .list(&curatore_service::AuditLogQuery::default())
        .await
        .unwrap();
    // On PostgreSQL an entry waits while an older transaction anywhere on
    // the server is open (other tests run beside this one): read until the
    // seed and the login are there.
    let deadline = Instant::now() + Duration::from_secs(60);
    let first = loop {
        let read = services
            .audit_log(&ctx)
            .feed(&AuditFeedQuery::default())
            .await
            .unwrap();
        if read.items.len() == listed.items.len() || Instant::now() > deadline {
            break read;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(first.items.len(), listed.items.len(), "{}", db.engine());
    assert!(!first.items.is_empty(), "the login is there");
    // Caught up: the same position comes back, with nothing.
    let again = services
        .audit_log(&ctx)
        .feed(&AuditFeedQuery {
            after: Some(first.position.clone()),
            limit: None,
        })
        .await
        .unwrap();
    assert!(again.items.is_empty(), "{:?}", again.items);
    assert_eq!(again.position, first.position);
    for bad in ["nope", "s-1", "x1.not-a-uuid", "x", "s"] {
        let err = services
            .audit_log(&ctx)
            .feed(&AuditFeedQuery {
                after: Some(bad.to_owned()),
                limit: None,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                curatore_service::ServiceError::Invalid(curatore_service::Invalid::UnknownPosition)
            ),
            "{bad}: {err:?}"
        );
    }
    operator.close().await;
}

#[tokio::test]
async fn a_caught_up_read_keeps_its_position_and_a_foreign_one_is_refused() {
    each_engine(positions).await;
}
