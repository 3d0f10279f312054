//! SQLite files as whole objects: the online copy made while writers write,
//! the inspection of a copy, and the claim that finds a file in use.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test with its message"
)]

use curatore_domain::{DatabaseUrl, OrganizationId};
use curatore_persistence::{
    Database, DatabaseOptions, IntegrityCheck, PersistenceError, claim_sqlite_file,
    inspect_sqlite_file,
};
use curatore_test_support::TestDatabase;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod common;

async fn key_names(path: &std::path::Path) -> Vec<String> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let names = sqlx::query_scalar("SELECT name FROM api_keys ORDER BY name")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_copy_made_while_writers_write_holds_every_write_committed_before_it() {
    let test_db = TestDatabase::sqlite();
    let db = common::open(&test_db).await;
    let org = common::organization(&db, "copied", json!({})).await.id;
    for i in 0..50 {
        common::write_key(&db, org, &format!("before{i:03}"), 512)
            .await
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (db, stop) = (db.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    common::write_key(&db, org, &format!("during{w}x{i:05}"), 512)
                        .await
                        .unwrap();
                    i += 1;
                }
                i
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    db.copy_into(&copy).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, Ordering::Relaxed);
    let mut during = 0;
    for w in writers {
        during += w.await.unwrap();
    }
    assert!(during > 0, "the writers wrote while the copy was made");

    // Another copy to the same place is refused; nothing is overwritten.
    assert!(db.copy_into(&copy).await.is_err());

    let report = inspect_sqlite_file(&copy, IntegrityCheck::Full)
        .await
        .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let names = key_names(&copy).await;
    for i in 0..50 {
        assert!(
            names.contains(&format!("before{i:03}")),
            "before{i:03} lost"
        );
    }
    assert_eq!(report.tables["api_keys"], names.len() as u64);
    assert_eq!(
        report.tables["audit_logs"], report.tables["api_keys"],
        "each key and its audit entry: one transaction, copied together or not at all"
    );
    assert_eq!(report.tables["organizations"], 1);
    assert_eq!(
        report.newest_migration(),
        Some(curatore_migration::latest_migration_name().as_str())
    );
    assert_eq!(
        report.migrations,
        curatore_migration::migration_names(),
        "every migration, oldest first"
    );
    db.close().await;
}

#[tokio::test]
async fn on_postgresql_there_is_no_file_copy() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let db = common::open(&test_db).await;
    let dir = tempfile::tempdir().unwrap();
    let err = db.copy_into(&dir.path().join("x.db")).await.unwrap_err();
    assert!(matches!(err, PersistenceError::Unsupported(_)), "{err:?}");
    assert!(err.to_string().contains("pg_dump"), "{err}");
    assert!(!dir.path().join("x.db").exists());
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_open_anywhere_cannot_be_claimed_and_a_claimed_file_cannot_be_opened() {
    let test_db = TestDatabase::sqlite();
    let path = test_db.sqlite_path().unwrap().to_owned();
    let db = common::open(&test_db).await;
    let org: OrganizationId = common::organization(&db, "claimed", json!({})).await.id;
    common::write_key(&db, org, "kept", 64).await.unwrap();

    // An idle server still has the file open: it is in use.
    assert!(claim_sqlite_file(&path).await.unwrap().is_none());
    db.close().await;

    let claim = claim_sqlite_file(&path)
        .await
        .unwrap()
        .expect("nobody has it open now");
    // The log was folded into the file: the file alone is the whole database.
    let wal = path.with_extension("db-wal");
    assert_eq!(std::fs::metadata(&wal).map_or(0, |m| m.len()), 0);
    let alone = tempfile::tempdir().unwrap();
    let copied = alone.path().join("alone.db");
    std::fs::copy(&path, &copied).unwrap();
    assert_eq!(key_names(&copied).await, ["kept"]);

    // A second claim, or a server starting now, finds it locked.
    assert!(claim_sqlite_file(&path).await.unwrap().is_none());
    let options = DatabaseOptions {
        busy_timeout: Duration::from_millis(200),
        ..DatabaseOptions::new(DatabaseUrl::parse(&test_db.url()).unwrap())
    };
    let err = Database::connect(&options).await.unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");

    claim.release().await.unwrap();
    let db = Database::connect(&options).await.expect("free again");
    assert_eq!(db.system().organizations().count().await.unwrap(), 1);
    db.close().await;
}

#[tokio::test]
async fn a_damaged_copy_is_reported_and_a_missing_one_is_an_error() {
    let test_db = TestDatabase::sqlite();
    let db = common::open(&test_db).await;
    let org = common::organization(&db, "damaged", json!({})).await.id;
    for i in 0..200 {
        common::write_key(&db, org, &format!("k{i:04}"), 256)
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    db.copy_into(&copy).await.unwrap();
    db.close().await;
    let intact = inspect_sqlite_file(&copy, IntegrityCheck::Quick)
        .await
        .unwrap();
    assert!(intact.problems.is_empty());

    // Scribble over the middle of the file (inside table and index pages).
    let mut bytes = std::fs::read(&copy).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 8192] {
        *b = 0x5a;
    }
    std::fs::write(&copy, &bytes).unwrap();
    match inspect_sqlite_file(&copy, IntegrityCheck::Full).await {
        Ok(report) => assert!(!report.problems.is_empty(), "damage not found"),
        Err(e) => assert!(e.to_string().contains("damaged"), "{e}"),
    }

    let missing = dir.path().join("missing.db");
    assert!(
        inspect_sqlite_file(&missing, IntegrityCheck::Quick)
            .await
            .is_err()
    );
    assert!(claim_sqlite_file(&missing).await.is_err());
    assert!(!missing.exists(), "never created");
}
