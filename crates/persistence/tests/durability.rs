//! A write that reports success is on disk: SQLite is filled to its limit
//! (`PRAGMA max_page_count`, the same `SQLITE_FULL` a full disk gives) while
//! writers run, then given room again. Every acknowledged write must survive
//! a reopen, every refused one must say "unavailable", and writes must
//! recover without a restart.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test with its message"
)]

use curatore_domain::DatabaseUrl;
use curatore_domain::{Organization, OrganizationId};
use curatore_migration::{Migrator, MigratorTrait};
use curatore_persistence::{Database, DatabaseOptions, PersistenceError};
use curatore_test_support::TestDatabase;
use sea_orm::ConnectionTrait;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod common;

/// Small enough to fill in a moment, big enough for the schema and a seed.
const LIMIT_BYTES: u64 = 4 * 1024 * 1024;

const WRITERS: usize = 4;
const WRITES_EACH: usize = 250;

async fn open_limited(db: &TestDatabase) -> Database {
    let url = DatabaseUrl::parse(&db.url()).expect("test URL");
    let mut options = DatabaseOptions::new(url);
    options.sqlite_max_size_bytes = Some(LIMIT_BYTES);
    let database = Database::connect(&options).await.expect("connect");
    Migrator::up(database.connection(), None)
        .await
        .expect("migrate");
    database
        .connection()
        .execute_unprepared("CREATE TABLE filler (b BLOB NOT NULL)")
        .await
        .expect("create filler");
    database
}

/// Fills the database until SQLite refuses another page: big rows first,
/// then small ones to take the space left in partly used pages.
async fn fill(db: &Database) {
    for size in [8192, 512, 64] {
        let sql = format!("INSERT INTO filler (b) VALUES (randomblob({size}))");
        let mut full = false;
        for _ in 0..10_000 {
            match db.connection().execute_unprepared(&sql).await {
                Ok(_) => {}
                // A writer holding the lock: try again.
                Err(e) if !e.to_string().contains("full") => {}
                Err(_) => {
                    full = true;
                    break;
                }
            }
        }
        assert!(full, "the database never filled up");
    }
}

/// Gives the space back (freed pages are reused by later writes).
async fn free(db: &Database) {
    // Deleting may itself need a moment while writers hold the lock.
    for _ in 0..100 {
        if db
            .connection()
            .execute_unprepared("DELETE FROM filler")
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("could not free the filler rows");
}

async fn write_key(db: &Database, org: OrganizationId, name: &str) -> Result<(), PersistenceError> {
    // Padding makes every write allocate pages, so a full disk bites often.
    common::write_key(db, org, name, 1024).await
}

async fn stored_names(db: &TestDatabase) -> Vec<String> {
    let reopened = common::open(db).await;
    let rows = reopened
        .connection()
        .query_all_raw(sea_orm::Statement::from_string(
            reopened.connection().get_database_backend(),
            "SELECT name FROM api_keys ORDER BY name",
        ))
        .await
        .expect("read back");
    let names = rows
        .iter()
        .map(|r| r.try_get::<String>("", "name").expect("name"))
        .collect();
    reopened.close().await;
    names
}

async fn organization(db: &Database) -> Organization {
    common::organization(db, "durable", json!({})).await
}

fn assert_refusal_is_unavailable(name: &str, err: &PersistenceError) {
    assert!(
        err.is_unavailable(),
        "write {name} failed as {err:?}, not as unavailable (which answers 503)"
    );
}

#[tokio::test]
async fn full_database_refuses_writes_as_unavailable_and_recovers_without_restart() {
    let test_db = TestDatabase::sqlite();
    let db = open_limited(&test_db).await;
    let org = organization(&db).await.id;
    let mut acknowledged = Vec::new();

    for round in 0..5 {
        fill(&db).await;
        // Room is gone: every write is refused as unavailable, none is half-kept.
        for i in 0..5 {
            let name = format!("full-{round}-{i}");
            match write_key(&db, org, &name).await {
                Ok(()) => acknowledged.push(name),
                Err(e) => assert_refusal_is_unavailable(&name, &e),
            }
        }
        free(&db).await;
        // A refused write of another kind (a conflict leaves SQLite's
        // transaction open, unlike a full disk) must not strand the connection.
        if let Some(taken) = acknowledged.first().cloned() {
            let err = write_key(&db, org, &taken)
                .await
                .expect_err("a repeated key is refused");
            assert!(
                matches!(err, PersistenceError::Conflict { .. }),
                "a repeated key is a conflict, not {err:?}"
            );
        }
        // Room is back: writes succeed again at once, no restart needed.
        for i in 0..5 {
            let name = format!("freed-{round}-{i}");
            write_key(&db, org, &name)
                .await
                .unwrap_or_else(|e| panic!("write {name} after space came back: {e:?}"));
            acknowledged.push(name);
        }
    }
    db.close().await;

    acknowledged.sort();
    assert_eq!(
        stored_names(&test_db).await,
        acknowledged,
        "every acknowledged write, and only those, survives a reopen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_lose_no_acknowledged_write_when_the_database_fills() {
    let test_db = TestDatabase::sqlite();
    let db = open_limited(&test_db).await;
    let org = organization(&db).await.id;
    let stop = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = db.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut refused = 0u32;
                for i in 0..WRITES_EACH {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    // Every seventh write repeats an earlier key: a conflict.
                    let repeat = i % 7 == 6 && !acknowledged.is_empty();
                    let name = match acknowledged.last() {
                        Some(last) if repeat => String::clone(last),
                        _ => format!("w{w}-{i:05}"),
                    };
                    match write_key(&db, org, &name).await {
                        Ok(()) => {
                            assert!(!repeat, "a repeated key {name} was accepted");
                            acknowledged.push(name);
                        }
                        Err(PersistenceError::Conflict { .. }) if repeat => {}
                        Err(e) => {
                            assert_refusal_is_unavailable(&name, &e);
                            refused += 1;
                        }
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
                (acknowledged, refused)
            })
        })
        .collect();

    // Fill and free over and over while the writers run.
    for _ in 0..5 {
        fill(&db).await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        free(&db).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    // Space is back: a write gets through at once, on whichever connection.
    let mut acknowledged = Vec::new();
    for i in 0..8 {
        let name = format!("after-recovery-{i}");
        write_key(&db, org, &name)
            .await
            .unwrap_or_else(|e| panic!("write {name} after space came back: {e:?}"));
        acknowledged.push(name);
    }

    let mut refused = 0;
    free(&db).await;
    for w in writers {
        let (names, r) = w.await.expect("writer");
        acknowledged.extend(names);
        refused += r;
    }
    db.close().await;
    assert!(refused > 0, "the database never filled while writers ran");

    acknowledged.sort();
    let stored = stored_names(&test_db).await;
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|n| stored.binary_search(n).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes are missing after reopening: {:?}",
        missing.len(),
        acknowledged.len(),
        missing.iter().take(10).collect::<Vec<_>>()
    );
    assert_eq!(
        stored, acknowledged,
        "nothing unacknowledged was kept either"
    );
}
