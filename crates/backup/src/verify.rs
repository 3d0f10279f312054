//! Reading an archive back and checking it, for `backup verify` and before
//! every restore: checksums, SQLite's integrity check, the row counts and
//! migrations the manifest states, and the connection secrets against the
//! key that goes with them. The archive is only read; no live database is
//! opened.

use crate::archive::{self, Extracted};
use crate::error::BackupError;
use crate::manifest::{KeyRecord, Manifest, fingerprints};
use crate::{blocking, check_copy_secrets, key_description, migrate_forward, parse_key_file};
use curatore_config::SecretKeys;
use curatore_persistence::{IntegrityCheck, inspect_sqlite_file};
use curatore_service::SealedSecrets;
use std::path::{Path, PathBuf};

/// An archive that passed every check.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Its manifest.
    pub manifest: Manifest,
    /// Its connection secrets, tried with the key that goes with them.
    pub secrets: SealedSecrets,
    /// That key, in words.
    pub key_used: String,
    /// What an operator should know before restoring it here.
    pub warnings: Vec<String>,
}

/// An archive extracted into a work folder and found intact.
pub(crate) struct Checked {
    pub(crate) manifest: Manifest,
    pub(crate) database: PathBuf,
    /// The key file's bytes and keys, when archived.
    pub(crate) key: Option<(Vec<u8>, SecretKeys)>,
}

/// The migrations of an archive this build does not know: it was made by
/// a newer Curatore.
pub(crate) fn unknown_migrations(manifest: &Manifest) -> Vec<String> {
    let known = curatore_migration::migration_names();
    manifest
        .migrations
        .iter()
        .filter(|m| !known.contains(m))
        .cloned()
        .collect()
}

/// Extracts `archive` into `work` and checks it: entries and checksums,
/// `PRAGMA integrity_check`, row counts and migrations against the manifest.
pub(crate) async fn extract_and_check(archive: &Path, work: &Path) -> Result<Checked, BackupError> {
    let (from, into) = (archive.to_owned(), work.to_owned());
    let Extracted {
        manifest,
        database,
        key,
    } = blocking(move || archive::extract(&from, &into)).await?;
    let shown = archive.display();
    let key = match key {
        Some(bytes) => {
            let keys = parse_key_file(&bytes, &format!("in {shown}"))?;
            Some((bytes, keys))
        }
        None => None,
    };
    let report = inspect_sqlite_file(&database, IntegrityCheck::Full)
        .await
        .map_err(BackupError::db(format!(
            "cannot check the database in {shown}"
        )))?;
    if !report.problems.is_empty() {
        return Err(BackupError::Damaged(format!(
            "the database in {shown} fails SQLite's integrity check: {}",
            report.problems.join("; ")
        )));
    }
    if report.tables != manifest.tables {
        return Err(BackupError::Damaged(format!(
            "the database in {shown} does not hold the rows its manifest lists \
             (found {:?}, listed {:?})",
            report.tables, manifest.tables
        )));
    }
    if report.migrations != manifest.migrations {
        return Err(BackupError::Damaged(format!(
            "the database in {shown} does not record the migrations its manifest lists"
        )));
    }
    Ok(Checked {
        manifest,
        database,
        key,
    })
}

/// Words for keys given as `SECRETS_ENCRYPTION_KEY`.
fn configured_description(keys: &SecretKeys) -> String {
    format!("SECRETS_ENCRYPTION_KEY (keys {})", keys.ids().join(", "))
}

/// Checks `archive` (see the module documentation) in a work folder under
/// the system's temporary directory (`TMPDIR`; it needs about the
/// database's size), removed afterwards. The secrets are tried with the key
/// file in the archive, or, when the archive says the key was
/// `SECRETS_ENCRYPTION_KEY`, with `configured`.
///
/// # Errors
/// [`BackupError::Damaged`] when anything disagrees with the manifest or
/// SQLite's integrity check; [`BackupError::Refused`] when the archive is
/// intact but its secrets do not open with the key that goes with them.
pub async fn verify(
    archive: &Path,
    configured: Option<&SecretKeys>,
) -> Result<Verified, BackupError> {
    let work = tempfile::Builder::new()
        .prefix("curatore-verify-")
        .tempdir()
        .map_err(BackupError::io(
            "cannot make a work folder in the temporary directory",
        ))?;
    let checked = extract_and_check(archive, work.path()).await?;
    let manifest = &checked.manifest;
    let mut warnings = Vec::new();
    let unknown = unknown_migrations(manifest);
    if !unknown.is_empty() {
        warnings.push(format!(
            "it was made by Curatore {} with migrations this build does not know ({}): \
             restore it with that version or a newer one",
            manifest.curatore_version,
            unknown.join(", ")
        ));
    }
    let (keys, key_used) = match (&checked.key, &manifest.secrets_key) {
        (Some((_, keys)), record) => (Some(keys.clone()), key_description(record)),
        (
            None,
            KeyRecord::Environment {
                fingerprints: theirs,
                ..
            },
        ) => {
            if let Some(ours) = configured {
                let ours = fingerprints(ours);
                if !theirs.values().any(|f| ours.values().any(|o| o == f)) {
                    warnings.push(format!(
                        "the backup was made with SECRETS_ENCRYPTION_KEY fingerprints {:?}; \
                         the key configured here has {:?}",
                        theirs, ours
                    ));
                }
            }
            (
                configured.cloned(),
                configured.map_or_else(
                    || {
                        "no key (the backup's key was SECRETS_ENCRYPTION_KEY, unset here)"
                            .to_owned()
                    },
                    configured_description,
                ),
            )
        }
        (None, record) => (None, key_description(record)),
    };
    if !unknown.is_empty() {
        // Its connections may not read with this build's schema.
        warnings.push("its connection secrets were not checked".to_owned());
        return Ok(Verified {
            manifest: checked.manifest,
            secrets: SealedSecrets::default(),
            key_used,
            warnings,
        });
    }
    // As a restore would: an older copy is read at this build's schema.
    migrate_forward(&checked.database).await?;
    let secrets = check_copy_secrets(&checked.database, keys.as_ref()).await?;
    if let Some(recorded) = manifest.sealed_secrets
        && secrets.sealed != recorded.count
    {
        return Err(BackupError::Damaged(format!(
            "{} holds {} sealed secrets, its manifest {}",
            archive.display(),
            secrets.sealed,
            recorded.count
        )));
    }
    if !secrets.all_open() {
        return Err(BackupError::Refused(format!(
            "{} is intact, but {} of its {} connection secrets do not open with {key_used}: {}",
            archive.display(),
            secrets.sealed - secrets.opened,
            secrets.sealed,
            secrets.failures.join("; ")
        )));
    }
    // The server prefers SECRETS_ENCRYPTION_KEY to a key file: would it read them?
    if let (Some(_), Some(ours)) = (&checked.key, configured)
        && secrets.sealed > 0
    {
        let here = check_copy_secrets(&checked.database, Some(ours)).await?;
        if !here.all_open() {
            warnings.push(format!(
                "SECRETS_ENCRYPTION_KEY is set here and a server uses it rather than the archive's \
                 key file: {} of {} secrets would not open after a restore here (unset it, or put \
                 the archive's key first in it)",
                here.sealed - here.opened,
                here.sealed
            ));
        }
    }
    Ok(Verified {
        manifest: checked.manifest,
        secrets,
        key_used,
        warnings,
    })
}
