//! A backup onto a full disk fails cleanly: an error that says so, nothing
//! left in the folder, the live database untouched and writable, and the
//! next backup, once there is room, complete.
//!
//! The test process lowers its own file-size limit (`RLIMIT_FSIZE`, no root
//! needed): a write past it fails as on a full disk. The limit applies to
//! every file the process writes, so this file holds one test and runs in a
//! process of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::{KeyIn, fixture};
use curatore_backup::{BackupDir, archives_in, create, verify};
use rlimit::Resource;
use sea_orm::ConnectionTrait;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

mod common;

/// Every name in `dir` but the lock file.
fn left_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != ".curatore-backup.lock")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_onto_a_full_disk_fails_cleanly_and_the_next_one_succeeds() {
    // A write past the limit raises SIGXFSZ, which would end the process;
    // with a handler installed the write fails with EFBIG instead.
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        Arc::new(AtomicBool::new(false)),
    )
    .expect("handle SIGXFSZ");
    let (soft, hard) = Resource::FSIZE.get().expect("read RLIMIT_FSIZE");

    let live = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let f = fixture(live.path(), KeyIn::File, None).await;
    // About 3 MB of audit entries, so the copy is far past the limit below.
    f.db.connection()
        .execute_unprepared(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
             INSERT INTO audit_logs (id, action, status, details, created_at) \
             SELECT randomblob(16), 'filler', 'success', json_object('pad', hex(randomblob(400))), \
                    strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') FROM n",
        )
        .await
        .unwrap();
    let dir = BackupDir::lock(out.path()).await.unwrap();
    let first = create(&f.source, &dir, None).await.unwrap();
    let copy_size = first.manifest.file("curatore.db").unwrap().bytes;
    std::fs::remove_file(&first.archive).unwrap();

    // The live database's log starts empty, as after a checkpoint.
    f.db.connection()
        .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
        .await
        .unwrap();

    // The disk fills while the database is copied, then while the archive
    // is written (the copy fits, the archive, a few blocks larger, does not).
    for (limit, step) in [
        (copy_size / 3, "cannot copy the database"),
        (copy_size + 1024, "cannot write the archive"),
    ] {
        Resource::FSIZE
            .set(limit, hard)
            .expect("lower RLIMIT_FSIZE");
        let failed = create(&f.source, &dir, None).await;
        // A write to the live database, under the same limit, still works.
        let wrote = f
            .db
            .connection()
            .execute_unprepared(
                "INSERT INTO audit_logs (id, action, status, created_at) \
                 VALUES (randomblob(16), 'after_failed_backup', 'success', '2026-01-01T00:00:00+00:00')",
            )
            .await;
        Resource::FSIZE
            .set(soft, hard)
            .expect("restore RLIMIT_FSIZE");
        let err = failed.expect_err("the backup cannot fit");
        assert_eq!(err.reason(), "disk_full", "limit {limit}: {err}");
        assert!(err.to_string().starts_with(step), "limit {limit}: {err}");
        assert!(
            left_in(out.path()).is_empty(),
            "limit {limit}: {:?}",
            left_in(out.path())
        );
        wrote.expect("the live database still takes writes");
    }

    // Room again: the next backup is whole and verifies.
    let next = create(&f.source, &dir, None).await.unwrap();
    assert_eq!(archives_in(out.path()).unwrap().len(), 1);
    let verified = verify(&next.archive, None).await.unwrap();
    assert_eq!(
        verified.manifest.tables["audit_logs"],
        first.manifest.tables["audit_logs"] + 2
    );
    f.db.close().await;
}
