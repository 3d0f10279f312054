//! Archives on real SQLite files: what one holds, that verification finds
//! every kind of damage, that a restore refuses a database in use, keeps the
//! one it replaces, migrates an older copy forward, refuses a newer one, and
//! that secrets must open with the key the server will use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::{Fixture, KeyIn, fixture};
use curatore_backup::manifest::{DATABASE_ENTRY, KEY_ENTRY, KeyRecord, MANIFEST_ENTRY};
use curatore_backup::{
    BackupDir, BackupError, Created, Manifest, RestoreRequest, archives_in, create, restore, verify,
};
use curatore_config::key_file_for;
use sea_orm::ConnectionTrait;
use std::io::Read;
use std::path::Path;

mod common;

async fn back_up(fixture: &Fixture, dir: &Path) -> Created {
    let held = BackupDir::lock(dir).await.unwrap();
    create(&fixture.source, &held, None).await.unwrap()
}

/// The entries of a tar file, with their modes and contents.
fn entries(archive: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut tar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    tar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_str().unwrap().to_owned();
            let mode = e.header().mode().unwrap();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (name, mode, bytes)
        })
        .collect()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_holds_the_database_its_key_and_a_manifest_that_checks_them() {
    let live = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let f = fixture(live.path(), KeyIn::File, None).await;
    let created = back_up(&f, out.path()).await;

    assert_eq!(mode(&created.archive), 0o600);
    let name = created.archive.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("curatore-backup-") && name.ends_with("Z.tar"),
        "{name}"
    );
    // Nothing else is left in the folder but the lock file.
    let mut left: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, [".curatore-backup.lock", name]);

    let found = entries(&created.archive);
    let names: Vec<&str> = found.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, [MANIFEST_ENTRY, DATABASE_ENTRY, KEY_ENTRY]);
    assert!(found.iter().all(|(_, m, _)| *m == 0o600));
    let manifest: Manifest = serde_json::from_slice(&found[0].2).unwrap();
    assert_eq!(manifest, created.manifest);
    assert_eq!(manifest.format, "curatore-backup");
    assert_eq!(manifest.engine, "sqlite");
    assert_eq!(manifest.source_database, f.path.display().to_string());
    assert_eq!(manifest.tables["organizations"], 1);
    assert_eq!(manifest.tables["connections"], 1);
    assert_eq!(
        manifest.newest_migration.as_deref(),
        Some(curatore_migration::latest_migration_name().as_str())
    );
    let sealed = manifest.sealed_secrets.unwrap();
    assert_eq!((sealed.count, sealed.opened), (1, 1));
    assert!(
        matches!(&manifest.secrets_key, KeyRecord::KeyFile { key_ids, .. } if key_ids == &["k1"])
    );
    let key_text = std::fs::read(key_file_for(&f.path)).unwrap();
    assert_eq!(
        found[2].2, key_text,
        "the key file, as it is beside the database"
    );
    use sha2::Digest;
    for (name, _, bytes) in &found[1..] {
        let record = manifest.file(name).unwrap();
        assert_eq!(record.bytes, bytes.len() as u64);
        let sha: String = sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(record.sha256, sha, "{name}");
    }
    let archive_sha: String = sha2::Sha256::digest(std::fs::read(&created.archive).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(created.sha256, archive_sha);
    assert_eq!(
        created.bytes,
        std::fs::metadata(&created.archive).unwrap().len()
    );

    let verified = verify(&created.archive, None).await.unwrap();
    assert_eq!((verified.secrets.sealed, verified.secrets.opened), (1, 1));
    assert!(verified.warnings.is_empty(), "{:?}", verified.warnings);

    // Another SECRETS_ENCRYPTION_KEY here would win over the archive's key
    // file: verify warns, restore refuses and says what to do.
    let other = common::keys(9);
    let verified = verify(&created.archive, Some(&other)).await.unwrap();
    assert!(
        verified
            .warnings
            .iter()
            .any(|w| w.contains("SECRETS_ENCRYPTION_KEY is set here")),
        "{:?}",
        verified.warnings
    );
    let target = tempfile::tempdir().unwrap();
    let err = restore(RestoreRequest {
        archive: &created.archive,
        database: &target.path().join("x.db"),
        configured_keys: Some(&other),
        allow_unreadable_secrets: false,
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&err, BackupError::Refused(why) if why.contains("unset it")),
        "{err:?}"
    );
    f.db.close().await;
}

/// Writes `bytes` over `archive` at `offset`.
fn scribble(archive: &Path, offset: usize, bytes: &[u8]) {
    let mut content = std::fs::read(archive).unwrap();
    content[offset..offset + bytes.len()].copy_from_slice(bytes);
    std::fs::write(archive, content).unwrap();
}

fn damaged(result: Result<curatore_backup::Verified, BackupError>) -> String {
    match result {
        Err(BackupError::Damaged(why)) => why,
        other => panic!("not refused as damaged: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_finds_a_changed_byte_a_cut_archive_and_a_stranger() {
    let live = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let f = fixture(live.path(), KeyIn::File, None).await;
    let created = back_up(&f, out.path()).await;
    f.db.close().await;
    let good = std::fs::read(&created.archive).unwrap();
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("copy.tar");

    // One byte of the database entry changed (past the manifest's 512-byte
    // header and data, well inside the database).
    std::fs::write(&copy, &good).unwrap();
    let db_offset = good.len() / 2;
    scribble(&copy, db_offset, &[good[db_offset] ^ 0xff]);
    let why = damaged(verify(&copy, None).await);
    assert!(why.contains("checksum"), "{why}");

    // Cut short: the key file's entry and the end are missing.
    std::fs::write(&copy, &good[..good.len() - 2048]).unwrap();
    let why = damaged(verify(&copy, None).await);
    assert!(
        why.contains("`curatore.db.secrets-key` is missing"),
        "{why}"
    );
    // Cut inside the database.
    std::fs::write(&copy, &good[..good.len() / 2]).unwrap();
    let why = damaged(verify(&copy, None).await);
    assert!(
        why.contains("checksum") || why.contains("cannot read"),
        "{why}"
    );

    // Not a tar at all, and a tar that is not ours.
    std::fs::write(&copy, b"just some text, not an archive at all").unwrap();
    damaged(verify(&copy, None).await);
    {
        let mut builder = tar::Builder::new(std::fs::File::create(&copy).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_cksum();
        builder
            .append_data(&mut header, "notes.txt", &b"hello"[..])
            .unwrap();
        builder.finish().unwrap();
    }
    let why = damaged(verify(&copy, None).await);
    assert!(why.contains("first entry is not manifest.json"), "{why}");

    // A manifest that lists other row counts than the database holds.
    let mut manifest = created.manifest.clone();
    *manifest.tables.get_mut("connections").unwrap() = 7;
    let text = serde_json::to_vec_pretty(&manifest).unwrap();
    {
        let original = entries(&created.archive);
        let mut builder = tar::Builder::new(std::fs::File::create(&copy).unwrap());
        for (name, _, bytes) in original {
            let bytes = if name == MANIFEST_ENTRY {
                text.clone()
            } else {
                bytes
            };
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o600);
            header.set_cksum();
            builder.append_data(&mut header, &name, &bytes[..]).unwrap();
        }
        builder.finish().unwrap();
    }
    let why = damaged(verify(&copy, None).await);
    assert!(why.contains("rows"), "{why}");

    // The original, untouched, still verifies: verification never writes.
    assert_eq!(std::fs::read(&created.archive).unwrap(), good);
    verify(&created.archive, None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_refuses_a_database_in_use_and_keeps_the_one_it_replaces() {
    let live = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let f = fixture(live.path(), KeyIn::File, None).await;
    let created = back_up(&f, out.path()).await;
    // A change after the backup: the restore takes the database back before it.
    let db = f.db.clone();
    db.tenant(f.org)
        .connections()
        .create(curatore_domain::NewConnection {
            organization_id: f.org,
            name: "Made after the backup".into(),
            description: None,
            connection_type: curatore_domain::ConnectionType::parse("extraction").unwrap(),
            config: serde_json::json!({"service_url": "http://127.0.0.1:9"}),
            is_default: false,
            scope: curatore_domain::ConnectionScope::Organization,
            owner_user_id: None,
            created_by: None,
            managed_by: None,
        })
        .await
        .unwrap();

    // In use (the pool is open, idle): refused, nothing changed.
    let request = RestoreRequest {
        archive: &created.archive,
        database: &f.path,
        configured_keys: None,
        allow_unreadable_secrets: false,
    };
    let err = restore(request.clone()).await.unwrap_err();
    assert!(
        matches!(&err, BackupError::Refused(why) if why.contains("in use")),
        "{err:?}"
    );
    assert_eq!(
        db.system()
            .connections()
            .batch_after(None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    db.close().await;

    let restored = restore(request).await.unwrap();
    assert_eq!(restored.database, f.path);
    assert!(restored.migrated.is_empty());
    assert_eq!((restored.secrets.sealed, restored.secrets.opened), (1, 1));
    assert_eq!(
        restored.key_file.as_deref(),
        Some(key_file_for(&f.path).as_path())
    );
    assert_eq!(common::connection_names(&f.path).await, ["Model"]);
    let previous = restored.previous.unwrap();
    assert!(
        previous
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("curatore.db.before-restore-"),
        "{}",
        previous.display()
    );
    let mut before = common::connection_names(&previous).await;
    before.sort();
    assert_eq!(before, ["Made after the backup", "Model"]);
    assert!(
        key_file_for(&previous).exists(),
        "its key file kept beside it"
    );
    assert_eq!(mode(&key_file_for(&f.path)), 0o600);
    // No work folder is left beside the database.
    let strays: Vec<_> = std::fs::read_dir(live.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".curatore"))
        .collect();
    assert!(strays.is_empty(), "{strays:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_copy_is_migrated_forward_and_a_newer_one_refused() {
    let live = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let all = curatore_migration::migration_names();
    let f = fixture(live.path(), KeyIn::File, Some(all.len() as u32 - 2)).await;
    let older = back_up(&f, out.path()).await;
    assert_eq!(older.manifest.migrations, all[..all.len() - 2]);

    let target = tempfile::tempdir().unwrap();
    let path = target.path().join("restored.db");
    let restored = restore(RestoreRequest {
        archive: &older.archive,
        database: &path,
        configured_keys: None,
        allow_unreadable_secrets: false,
    })
    .await
    .unwrap();
    assert_eq!(restored.migrated, all[all.len() - 2..]);
    assert_eq!(restored.previous, None);
    let report = curatore_persistence::inspect_sqlite_file(
        &path,
        curatore_persistence::IntegrityCheck::Full,
    )
    .await
    .unwrap();
    assert_eq!(report.migrations, all);
    assert!(report.problems.is_empty());

    // A database a newer Curatore migrated: this build will not restore it.
    f.db.connection()
        .execute_unprepared(
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m29990101_000001_from_the_future', 0)",
        )
        .await
        .unwrap();
    let newer = back_up(&f, out.path()).await;
    let verified = verify(&newer.archive, None).await.unwrap();
    assert!(
        verified
            .warnings
            .iter()
            .any(|w| w.contains("m29990101_000001_from_the_future")),
        "{:?}",
        verified.warnings
    );
    let other = target.path().join("other.db");
    let err = restore(RestoreRequest {
        archive: &newer.archive,
        database: &other,
        configured_keys: None,
        allow_unreadable_secrets: false,
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&err, BackupError::Refused(why) if why.contains("does not know")),
        "{err:?}"
    );
    assert!(!other.exists());
    assert_eq!(archives_in(out.path()).unwrap().len(), 2);
    f.db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_must_open_with_the_key_the_server_will_use() {
    let live = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let f = fixture(live.path(), KeyIn::Environment, None).await;
    let created = back_up(&f, out.path()).await;
    f.db.close().await;
    let names: Vec<String> = entries(&created.archive).into_iter().map(|e| e.0).collect();
    assert_eq!(names, [MANIFEST_ENTRY, DATABASE_ENTRY], "no key inside");
    assert!(matches!(
        &created.manifest.secrets_key,
        KeyRecord::Environment { variable, .. } if variable == "SECRETS_ENCRYPTION_KEY"
    ));

    verify(&created.archive, Some(&f.keys)).await.unwrap();
    for wrong in [None, Some(common::keys(9))] {
        let err = verify(&created.archive, wrong.as_ref()).await.unwrap_err();
        assert!(
            matches!(&err, BackupError::Refused(why) if why.contains("do not open")),
            "{err:?}"
        );
    }

    let target = tempfile::tempdir().unwrap();
    let path = target.path().join("restored.db");
    let wrong = common::keys(9);
    let request = RestoreRequest {
        archive: &created.archive,
        database: &path,
        configured_keys: Some(&wrong),
        allow_unreadable_secrets: false,
    };
    let err = restore(request.clone()).await.unwrap_err();
    assert!(
        matches!(&err, BackupError::Refused(why) if why.contains("allow-unreadable-secrets")),
        "{err:?}"
    );
    assert!(!path.exists(), "nothing was changed");
    // The key is lost: everything else is wanted back all the same.
    let restored = restore(RestoreRequest {
        allow_unreadable_secrets: true,
        ..request
    })
    .await
    .unwrap();
    assert_eq!((restored.secrets.sealed, restored.secrets.opened), (1, 0));
    assert_eq!(restored.key_file, None);
    assert_eq!(common::connection_names(&path).await, ["Model"]);
}
