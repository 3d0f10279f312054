//! A write that reports success is on disk, also when the disk fills up
//! while a transaction commits.
//!
//! The test process lowers its own file-size limit (`RLIMIT_FSIZE`, no root
//! needed): SQLite's writes then fail mid-commit exactly as on a full disk,
//! which `PRAGMA max_page_count` cannot show (it only refuses new pages
//! inside a statement). That limit applies to every file the process
//! writes, so this file holds one test and runs in a process of its own.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test with its message"
)]

use curatore_domain::OrganizationId;
use curatore_persistence::{Database, PersistenceError};
use curatore_test_support::TestDatabase;
use rlimit::Resource;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod common;

async fn write_key(db: &Database, org: OrganizationId, name: &str) -> Result<(), PersistenceError> {
    // Padding makes every write allocate pages, so a full disk bites often.
    common::write_key(db, org, name, 4096).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_acknowledged_write_is_lost_when_the_disk_fills_during_commits() {
    // Writing past the limit raises SIGXFSZ, which would end the process;
    // with a handler installed the write fails with EFBIG instead.
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        Arc::new(AtomicBool::new(false)),
    )
    .expect("handle SIGXFSZ");
    let (soft, hard) = Resource::FSIZE.get().expect("read RLIMIT_FSIZE");

    let test_db = TestDatabase::sqlite();
    let db = common::open(&test_db).await;
    let org = common::organization(&db, "durable", json!({})).await.id;
    let wal = test_db
        .sqlite_path()
        .expect("sqlite")
        .with_extension("db-wal");

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let db = db.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut acknowledged: Vec<String> = Vec::new();
                let mut refused = 0u32;
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) && i < 400 {
                    i += 1;
                    // Every fifth write repeats the last key: a conflict,
                    // which (unlike a full disk) leaves SQLite's transaction open.
                    let repeat = i.is_multiple_of(5) && !acknowledged.is_empty();
                    let name = match acknowledged.last() {
                        Some(last) if repeat => last.clone(),
                        _ => format!("w{w}x{i:05}"),
                    };
                    match write_key(&db, org, &name).await {
                        Ok(()) => {
                            assert!(!repeat, "the repeated key {name} was accepted");
                            acknowledged.push(name);
                        }
                        Err(PersistenceError::Conflict { .. }) if repeat => {}
                        Err(e) => {
                            assert!(
                                e.is_unavailable(),
                                "write {name} failed as {e:?}, not as unavailable (503)"
                            );
                            refused += 1;
                        }
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                (acknowledged, refused)
            })
        })
        .collect();

    for _ in 0..6 {
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        // "The disk is full": no file may grow past its present size.
        let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
        Resource::FSIZE
            .set(size.max(4096), hard)
            .expect("lower RLIMIT_FSIZE");
        tokio::time::sleep(std::time::Duration::from_millis(80)).await;
        Resource::FSIZE
            .set(soft, hard)
            .expect("restore RLIMIT_FSIZE");
    }
    // Space is back: writes get through again by themselves.
    let mut acknowledged = Vec::new();
    for i in 0..8 {
        let name = format!("after{i}");
        write_key(&db, org, &name)
            .await
            .unwrap_or_else(|e| panic!("write {name} after space came back: {e:?}"));
        acknowledged.push(name);
    }
    stop.store(true, Ordering::Relaxed);
    let mut refused = 0;
    for w in writers {
        let (names, r) = w.await.expect("writer");
        acknowledged.extend(names);
        refused += r;
    }
    db.close().await;
    assert!(refused > 0, "the disk never filled while writers ran");

    let reopened = common::open(&test_db).await;
    let mut missing = Vec::new();
    for name in &acknowledged {
        let hash = common::key_hash_of(name);
        if reopened
            .system()
            .api_keys()
            .find_by_hash(&hash)
            .await
            .expect("read back")
            .is_none()
        {
            missing.push(name.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes are missing after reopening ({refused} refused): {:?}",
        missing.len(),
        acknowledged.len(),
        &missing[..missing.len().min(10)]
    );
}
