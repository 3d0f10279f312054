//! What instances share through PostgreSQL, at the repository level: the
//! rate-limit windows count exactly under parallel reservations, settle as
//! told and are purged in bounded batches; invalidations published are
//! received by a listener. SQLite counts in memory and passes invalidations
//! through its file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test with its message"
)]

use curatore_persistence::{Database, Invalidation, Settlement, WindowCounts};
use curatore_test_support::TestDatabase;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

/// SQLite keeps attempt counters in memory, but invalidations cross
/// processes through the file: what one pool publishes, another pool on
/// the same file (another process, as far as either can tell) receives.
#[tokio::test]
async fn sqlite_counts_in_memory_and_passes_invalidations_through_the_file() {
    let t = TestDatabase::sqlite();
    let db = common::open(&t).await;
    assert!(db.rate_limit_windows().is_none());
    assert_eq!(db.server_max_connections().await.unwrap(), None);
    let other = common::open(&t).await;
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    let _listener = other
        .listen(Duration::from_secs(1), move |event| {
            sink.lock().unwrap().push(event);
        })
        .expect("SQLite listens to its file");
    // The watcher reads the newest row when it starts: publish after it has.
    tokio::time::sleep(Duration::from_millis(200)).await;
    db.publish_invalidation("key:1").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while received.lock().unwrap().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        *received.lock().unwrap(),
        vec![Invalidation::Message("key:1".into())]
    );
}

async fn postgres() -> Option<(TestDatabase, Database)> {
    let t = TestDatabase::postgres().await?;
    let db = common::open(&t).await;
    Some((t, db))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_reservations_are_counted_exactly_and_settle_as_told() {
    let Some((_t, db)) = postgres().await else {
        return;
    };
    let windows = db.rate_limit_windows().unwrap();
    let far = i64::MAX / 2;
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let windows = windows.clone();
            tokio::spawn(async move { windows.reserve("k|1", "k|0", far, false).await })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap().unwrap().attempts);
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=40).collect::<Vec<_>>(),
        "every count exactly once"
    );

    for _ in 0..3 {
        windows
            .settle("k|1", "k|0", Settlement::Failed)
            .await
            .unwrap();
    }
    windows
        .settle("k|1", "k|0", Settlement::GiveBack)
        .await
        .unwrap();
    let now = windows.reserve("k|1", "k|0", far, false).await.unwrap();
    assert_eq!(
        now,
        WindowCounts {
            attempts: 40,
            failures: 3,
            previous_failures: 0
        }
    );
    // The next window sees this one's failures as the window before's.
    let next = windows.reserve("k|2", "k|1", far, false).await.unwrap();
    assert_eq!((next.attempts, next.previous_failures), (1, 3));
    // A success wipes the failures of its window and of the one before.
    windows
        .settle("k|2", "k|1", Settlement::ClearFailures)
        .await
        .unwrap();
    let after = windows.reserve("k|2", "k|1", far, true).await.unwrap();
    assert_eq!(
        after,
        WindowCounts {
            attempts: 1,
            failures: 1,
            previous_failures: 0
        }
    );
}

#[tokio::test]
async fn expired_windows_are_purged_in_bounded_batches() {
    let Some((_t, db)) = postgres().await else {
        return;
    };
    let windows = db.rate_limit_windows().unwrap();
    for n in 0..7 {
        windows
            .reserve(&format!("old|{n}"), "none", 100, true)
            .await
            .unwrap();
    }
    windows
        .reserve("fresh|1", "none", 10_000, true)
        .await
        .unwrap();
    assert_eq!(windows.purge_expired(1_000, 5).await.unwrap(), 5);
    assert_eq!(windows.purge_expired(1_000, 5).await.unwrap(), 2);
    assert_eq!(windows.purge_expired(1_000, 5).await.unwrap(), 0);
    let fresh = windows
        .reserve("fresh|1", "none", 10_000, false)
        .await
        .unwrap();
    assert_eq!(
        (fresh.attempts, fresh.failures),
        (2, 1),
        "unexpired rows stay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_invalidations_reach_a_listener() {
    let Some((_t, db)) = postgres().await else {
        return;
    };
    assert!(
        db.server_max_connections()
            .await
            .unwrap()
            .is_some_and(|m| m > 0)
    );
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let _listener = db
        .listen(Duration::from_millis(100), move |event| {
            sink.lock().unwrap().push(event);
        })
        .unwrap();
    // Published until the listener (started in the background) hears one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        db.publish_invalidation("user:1").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        if !received.lock().unwrap().is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing received");
    }
    assert!(
        received
            .lock()
            .unwrap()
            .iter()
            .all(|e| *e == Invalidation::Message("user:1".into()))
    );
}
