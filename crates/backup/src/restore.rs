//! Putting an archive back in place of the configured database.
//!
//! The target is claimed first (an exclusive SQLite lock, which finds any
//! connection that has it open: a running server, even idle, or a shell)
//! and held to the end, so nothing can open it halfway. The archive is
//! extracted next to it and checked as `verify` checks it, migrated forward
//! when older, its secrets tried with the key the server will use; only
//! then are the files swapped, by renames in one folder, the previous
//! database and key file kept under a `.before-restore-<time>` name.

use crate::archive::{create_private, sync_dir};
use crate::error::BackupError;
use crate::manifest::{KeyRecord, Manifest};
use crate::verify::{extract_and_check, unknown_migrations};
use crate::{check_copy_secrets, key_description, migrate_forward};
use chrono::Utc;
use curatore_config::{SecretKeys, key_file_for};
use curatore_persistence::{SqliteFileClaim, claim_sqlite_file};
use curatore_service::SealedSecrets;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What to restore where.
#[derive(Debug, Clone)]
pub struct RestoreRequest<'a> {
    /// The archive.
    pub archive: &'a Path,
    /// The SQLite database to replace (or create).
    pub database: &'a Path,
    /// `SECRETS_ENCRYPTION_KEY`, when set: a server uses it rather than a
    /// key file, so the secrets must open with it.
    pub configured_keys: Option<&'a SecretKeys>,
    /// Restore even when the secrets do not open with the key the server
    /// will use (the key is lost; everything else is wanted back).
    pub allow_unreadable_secrets: bool,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The archive's manifest.
    pub manifest: Manifest,
    /// The database now in place.
    pub database: PathBuf,
    /// The key file put beside it, when the archive held one.
    pub key_file: Option<PathBuf>,
    /// Migrations applied to bring the copy up to this build.
    pub migrated: Vec<String>,
    /// Where the database that was there before now is.
    pub previous: Option<PathBuf>,
    /// The secrets, tried with the key the server will use.
    pub secrets: SealedSecrets,
    /// That key, in words.
    pub key_used: String,
    /// Row counts of the restored database (before migrating forward).
    pub tables: BTreeMap<String, u64>,
}

fn in_use(database: &Path) -> BackupError {
    BackupError::Refused(format!(
        "the database {} is in use (a running server, or another program, has it open): \
         stop it, then restore",
        database.display()
    ))
}

/// Restores `request.archive` over `request.database` (see the module
/// documentation).
///
/// # Errors
/// [`BackupError::Refused`] when the database is in use, the archive comes
/// from a newer Curatore, or its secrets do not open with the key the
/// server will use; [`BackupError::Damaged`] when the archive fails a
/// check. In every case the configured database is left as it was.
pub async fn restore(request: RestoreRequest<'_>) -> Result<Restored, BackupError> {
    let target = request.database;
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&folder).map_err(BackupError::io(format!(
        "cannot create {}",
        folder.display()
    )))?;
    let old = if target.exists() {
        let claim = claim_sqlite_file(target)
            .await
            .map_err(BackupError::db(format!(
                "cannot open the database {} to replace it",
                target.display()
            )))?;
        Some(claim.ok_or_else(|| in_use(target))?)
    } else {
        None
    };
    // Beside the target: the last step is a rename within one file system.
    let work = tempfile::Builder::new()
        .prefix(".curatore-restore-")
        .tempdir_in(&folder)
        .map_err(BackupError::io(format!(
            "cannot make a work folder in {}",
            folder.display()
        )))?;
    let checked = extract_and_check(request.archive, work.path()).await?;
    let manifest = checked.manifest.clone();
    let unknown = unknown_migrations(&manifest);
    if !unknown.is_empty() {
        return Err(BackupError::Refused(format!(
            "{} was made by Curatore {} with migrations this build does not know ({}): \
             restore it with that version or a newer one",
            request.archive.display(),
            manifest.curatore_version,
            unknown.join(", ")
        )));
    }
    let migrated = migrate_forward(&checked.database).await?;

    // What the server will read the secrets with after the restore.
    let archive_keys = checked.key.as_ref().map(|(_, keys)| keys);
    let (keys, key_used) = match (request.configured_keys, archive_keys) {
        (Some(ours), _) => (
            Some(ours),
            format!("SECRETS_ENCRYPTION_KEY (keys {})", ours.ids().join(", ")),
        ),
        (None, Some(theirs)) => (Some(theirs), key_description(&manifest.secrets_key)),
        (None, None) => (
            None,
            "no key (SECRETS_ENCRYPTION_KEY is unset and the archive holds no key file)".to_owned(),
        ),
    };
    let secrets = check_copy_secrets(&checked.database, keys).await?;
    if !secrets.all_open() && !request.allow_unreadable_secrets {
        let hint = match (&manifest.secrets_key, request.configured_keys) {
            (KeyRecord::KeyFile { .. }, Some(_)) => {
                "the archive holds its key file, but SECRETS_ENCRYPTION_KEY is set here and a server \
                 uses it instead: unset it (the key file is restored beside the database), or put the \
                 archive's key first in it"
            }
            (KeyRecord::Environment { .. }, _) => {
                "the backup was made with SECRETS_ENCRYPTION_KEY: set that same key here"
            }
            _ => "the key that sealed them is not here",
        };
        return Err(BackupError::Refused(format!(
            "{} of {} connection secrets in {} do not open with {key_used} ({hint}); nothing was \
             changed. To restore everything else and set those secrets again by hand, pass \
             --allow-unreadable-secrets",
            secrets.sealed - secrets.opened,
            secrets.sealed,
            request.archive.display()
        )));
    }

    let key_file = key_file_for(target);
    let staged_key = match &checked.key {
        Some((bytes, _)) => {
            let staged = work.path().join("secrets-key");
            let mut file = create_private(&staged).map_err(BackupError::io(format!(
                "cannot write {}",
                staged.display()
            )))?;
            file.write_all(bytes)
                .and_then(|()| file.sync_all())
                .map_err(BackupError::io(format!(
                    "cannot write {}",
                    staged.display()
                )))?;
            Some(staged)
        }
        None => None,
    };
    let new = claim_sqlite_file(&checked.database)
        .await
        .map_err(BackupError::db("cannot hold the restored copy"))?
        .ok_or_else(|| in_use(&checked.database))?;
    let previous = swap(
        target,
        &key_file,
        &checked.database,
        staged_key.as_deref(),
        old.is_some(),
    )?;
    // The old file's lock first: the new one keeps servers out until the end.
    release(old).await;
    release(Some(new)).await;
    drop(work);
    Ok(Restored {
        manifest,
        database: target.to_owned(),
        key_file: staged_key.map(|_| key_file),
        migrated,
        previous,
        secrets,
        key_used,
        tables: checked.manifest.tables,
    })
}

async fn release(claim: Option<SqliteFileClaim>) {
    if let Some(claim) = claim
        && let Err(e) = claim.release().await
    {
        tracing::warn!("closing a restored or replaced database reported: {e}");
    }
}

/// Moves the old database (with its log and key file) aside, then the new
/// one and its key into place; on failure puts the old ones back.
fn swap(
    target: &Path,
    key_file: &Path,
    new: &Path,
    new_key: Option<&Path>,
    had_old: bool,
) -> Result<Option<PathBuf>, BackupError> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let aside = {
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".before-restore-{stamp}"));
        target.with_file_name(name)
    };
    let aside_key = key_file_for(&aside);
    let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut step = |from: &Path, to: &Path| -> Result<(), BackupError> {
        std::fs::rename(from, to).map_err(BackupError::io(format!(
            "cannot move {} to {}",
            from.display(),
            to.display()
        )))?;
        moved.push((from.to_owned(), to.to_owned()));
        Ok(())
    };
    let result = (|| {
        if had_old {
            step(target, &aside)?;
            // Checkpointed into the file when claimed: the log holds nothing.
            for suffix in ["-wal", "-shm"] {
                let mut name = target.as_os_str().to_owned();
                name.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(name));
            }
        }
        if key_file.exists() {
            step(key_file, &aside_key)?;
        }
        step(new, target)?;
        if let Some(new_key) = new_key {
            step(new_key, key_file)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (from, to) in moved.iter().rev() {
            if let Err(back) = std::fs::rename(to, from) {
                tracing::error!(
                    "restore: cannot move {} back to {}: {back}",
                    to.display(),
                    from.display()
                );
            }
        }
        return Err(e);
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir).map_err(BackupError::io(format!("cannot sync {}", dir.display())))?;
    }
    Ok(had_old.then_some(aside))
}
