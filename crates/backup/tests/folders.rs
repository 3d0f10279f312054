//! The backup folder: one backup writes at a time, leftovers of an
//! interrupted one are removed, and pruning keeps the newest archives and
//! never touches other files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use curatore_backup::{BackupDir, archive_name, archives_in, prepare_dir};
use std::os::unix::fs::PermissionsExt;

#[tokio::test]
async fn one_backup_holds_the_folder_and_cleans_up_after_an_interrupted_one() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("backups").join("nested");
    prepare_dir(&dir).unwrap();
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700,
        "created private"
    );
    // What a killed backup leaves: a work folder and a partial archive.
    std::fs::create_dir(dir.join(".curatore-backup-work-abc123")).unwrap();
    std::fs::write(dir.join(".curatore-backup-work-abc123/curatore.db"), b"x").unwrap();
    std::fs::write(
        dir.join(".curatore-backup-20260101T000000.000Z.tar.partial"),
        b"half",
    )
    .unwrap();
    std::fs::write(dir.join("operator-notes.txt"), b"mine").unwrap();

    let held = BackupDir::lock(&dir).await.unwrap();
    assert!(BackupDir::try_lock(&dir).unwrap().is_none(), "held already");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [".curatore-backup.lock", "operator-notes.txt"]);
    drop(held);
    assert!(BackupDir::try_lock(&dir).unwrap().is_some(), "free again");

    let file = root.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    assert!(prepare_dir(&file).is_err(), "not a folder");
}

#[tokio::test]
async fn pruning_keeps_the_newest_archives_and_nothing_else_is_touched() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut made = Vec::new();
    for hour in 0..5 {
        let name = archive_name(start + chrono::Duration::hours(hour));
        std::fs::write(dir.join(&name), b"archive").unwrap();
        made.push(name);
    }
    for other in ["curatore-backup-manual.tar", "keep-me.tar", "notes.txt"] {
        std::fs::write(dir.join(other), b"other").unwrap();
    }
    let held = BackupDir::lock(dir).await.unwrap();
    let deleted = held.prune(2).unwrap();
    assert_eq!(deleted.len(), 3);
    let left: Vec<String> = archives_in(dir)
        .unwrap()
        .into_iter()
        .map(|a| a.path.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    assert_eq!(left, [made[4].clone(), made[3].clone()], "newest first");
    for other in ["curatore-backup-manual.tar", "keep-me.tar", "notes.txt"] {
        assert!(dir.join(other).exists(), "{other} touched");
    }
    assert!(held.prune(2).unwrap().is_empty());
}
