//! Backups of Curatore's embedded database: one command, or a schedule, for
//! a copy an operator can trust.
//!
//! SQLite is the default, so for most deployments the whole system is one
//! file plus, unless `SECRETS_ENCRYPTION_KEY` is set, the key file beside it
//! that opens the stored connection secrets. An archive
//! (`curatore-backup-<UTC time>.tar`, mode 0600) holds both, or says in its
//! manifest that the key is the environment's and not inside:
//!
//! - [`create`]: an online copy made by SQLite itself (`VACUUM INTO` on a
//!   pooled reader, so writers carry on and the copy holds every write
//!   committed before it began), checked, its secrets tried with the key,
//!   counted and hashed into a manifest, written to a hidden partial file and
//!   renamed into place only when complete;
//! - [`verify`]: reads an archive without touching any live database:
//!   checksums, SQLite's integrity check, row counts, and whether its
//!   secrets open with the key that goes with it;
//! - [`restore`]: the same checks, then migrates the copy forward if it is
//!   older and swaps it in for the configured database, refusing when
//!   anything has that database open, keeping the previous one beside it;
//! - [`schedule`]: `BACKUP_SCHEDULE` inside the server, keeping
//!   `BACKUP_KEEP` archives in `BACKUP_DIR`, each run audited and counted.
//!
//! PostgreSQL is backed up with its own tools: [`postgres_advice`] says how.

mod archive;
mod dir;
mod error;
pub mod manifest;
mod postgres;
mod restore;
mod schedule;
mod verify;

pub use dir::{
    ARCHIVE_PREFIX, BackupDir, FoundArchive, archive_name, archives_in, prepare as prepare_dir,
};
pub use error::BackupError;
pub use manifest::Manifest;
pub use postgres::postgres_advice;
pub use restore::{RestoreRequest, Restored, restore};
pub use schedule::{SchedulePlan, ScheduledBackups, schedule};
pub use verify::{Verified, verify};

use crate::archive::Contents;
use crate::manifest::{
    DATABASE_ENTRY, FORMAT, FORMAT_VERSION, FileRecord, KEY_ENTRY, KeyRecord, SealedRecord,
};
use chrono::Utc;
use curatore_auth::SecretBox;
use curatore_config::{SecretKeys, Settings, key_file_for};
use curatore_domain::DatabaseUrl;
use curatore_persistence::{Database, DatabaseOptions, IntegrityCheck, inspect_sqlite_file};
use curatore_service::{BackupMade, SealedSecrets, check_sealed_secrets};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the secrets key that opens stored connection secrets lives.
#[derive(Clone)]
pub enum SecretsKeySource {
    /// `SECRETS_ENCRYPTION_KEY`: never put into an archive.
    Environment(SecretKeys),
    /// The key file beside the SQLite database: archived with it.
    KeyFile(PathBuf),
}

impl std::fmt::Debug for SecretsKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Environment(keys) => write!(f, "Environment({keys:?})"),
            Self::KeyFile(path) => write!(f, "KeyFile({})", path.display()),
        }
    }
}

/// What a backup copies: the live SQLite database and where its key is.
#[derive(Debug, Clone)]
pub struct BackupSource {
    database: Database,
    path: PathBuf,
    secrets_key: SecretsKeySource,
}

impl BackupSource {
    /// `database` (connected to the SQLite file `path`) and its key.
    pub fn new(database: Database, path: PathBuf, secrets_key: SecretsKeySource) -> Self {
        Self {
            database,
            path,
            secrets_key,
        }
    }

    /// As the server is configured: `DATABASE_URL`'s file, and
    /// `SECRETS_ENCRYPTION_KEY` or else the key file beside the database.
    ///
    /// # Errors
    /// [`BackupError::Refused`] with PostgreSQL, saying how to back it up.
    pub fn from_settings(database: Database, settings: &Settings) -> Result<Self, BackupError> {
        let path = sqlite_path(settings)?;
        Ok(Self::new(database, path, secrets_key_source(settings)?))
    }

    /// The live database.
    pub fn database(&self) -> &Database {
        &self.database
    }
}

/// The SQLite file `DATABASE_URL` names; PostgreSQL is refused with advice.
pub(crate) fn sqlite_path(settings: &Settings) -> Result<PathBuf, BackupError> {
    match &settings.database_url {
        DatabaseUrl::Sqlite { path } => Ok(path.clone()),
        url @ DatabaseUrl::Postgres { .. } => Err(BackupError::Refused(postgres_advice(url))),
    }
}

/// `SECRETS_ENCRYPTION_KEY`, or the key file beside the SQLite database.
///
/// # Errors
/// [`BackupError::Refused`] with PostgreSQL.
pub fn secrets_key_source(settings: &Settings) -> Result<SecretsKeySource, BackupError> {
    let path = sqlite_path(settings)?;
    Ok(match &settings.secrets_encryption_key {
        Some(keys) => SecretsKeySource::Environment(keys.clone()),
        None => SecretsKeySource::KeyFile(key_file_for(&path)),
    })
}

/// A backup that was written.
#[derive(Debug, Clone)]
pub struct Created {
    /// The archive.
    pub archive: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its manifest.
    pub manifest: Manifest,
    /// How long it took.
    pub took: Duration,
    /// What the operator should know (a missing key file, secrets that did
    /// not open); each was also logged.
    pub warnings: Vec<String>,
}

impl Created {
    /// The facts the service layer records.
    pub fn made(&self) -> BackupMade {
        BackupMade {
            backup_id: self.manifest.backup_id,
            archive: self.archive.display().to_string(),
            bytes: self.bytes,
            sha256: self.sha256.clone(),
            newest_migration: self.manifest.newest_migration.clone(),
        }
    }
}

/// Opens a database file that is not the live one (a copy being checked).
pub(crate) async fn open_copy(path: &Path) -> Result<Database, BackupError> {
    let options = DatabaseOptions {
        max_connections: 2,
        min_idle_connections: 0,
        ..DatabaseOptions::new(DatabaseUrl::Sqlite {
            path: path.to_owned(),
        })
    };
    Database::connect(&options)
        .await
        .map_err(BackupError::db(format!(
            "cannot open the copy {}",
            path.display()
        )))
}

/// Applies this build's pending migrations to a copy; returns their names.
pub(crate) async fn migrate_forward(database: &Path) -> Result<Vec<String>, BackupError> {
    use curatore_migration::{Migrator, MigratorTrait};
    let db = open_copy(database).await?;
    let migrated = async {
        let pending: Vec<String> = Migrator::get_pending_migrations(db.connection())
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        if !pending.is_empty() {
            Migrator::up(db.connection(), None)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(pending)
    }
    .await;
    db.close().await;
    migrated.map_err(|e| {
        BackupError::Damaged(format!(
            "the copy cannot be migrated to this build's schema: {e}"
        ))
    })
}

/// A box over `keys`, for trying secrets.
pub(crate) fn secret_box(keys: &SecretKeys) -> Option<SecretBox> {
    SecretBox::new(keys.keys().iter().map(|(id, key)| (id.clone(), *key))).ok()
}

/// Tries every sealed secret of the copy at `path` with `keys`.
pub(crate) async fn check_copy_secrets(
    path: &Path,
    keys: Option<&SecretKeys>,
) -> Result<SealedSecrets, BackupError> {
    let db = open_copy(path).await?;
    let secrets = keys.and_then(secret_box);
    let checked = check_sealed_secrets(&db, secrets.as_ref()).await;
    db.close().await;
    checked.map_err(|source| BackupError::Service {
        context: format!("cannot read the connections of {}", path.display()),
        source,
    })
}

/// Runs blocking file work off the async executor.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BackupError::io("a backup task stopped unexpectedly")(e.into()))?
}

/// Backs the source up into `dir` (held, so no other backup writes there
/// meanwhile), as `name` or [`archive_name`] of now. Nothing but the
/// finished archive is left behind, whatever fails; the live database is
/// only read.
///
/// # Errors
/// When the copy, its check or the archive cannot be made: a full disk or
/// a refused permission ([`BackupError::reason`] says which), a copy that
/// fails SQLite's quick check, a key file that does not parse.
pub async fn create(
    source: &BackupSource,
    dir: &BackupDir,
    name: Option<&str>,
) -> Result<Created, BackupError> {
    let started = Instant::now();
    let created_at = Utc::now();
    let name = name.map_or_else(|| archive_name(created_at), str::to_owned);
    let archive = dir.path().join(&name);
    let partial = dir.path().join(format!(".{name}.partial"));
    let scratch = dir.scratch()?;
    let made = write_backup(source, scratch.path(), &partial, &archive, created_at).await;
    if made.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    drop(scratch);
    let (manifest, bytes, sha256, warnings) = made?;
    let took = started.elapsed();
    tracing::info!(
        archive = %archive.display(),
        bytes,
        took_ms = took.as_millis() as u64,
        "Backup written: {} ({bytes} bytes in {:.1} s)",
        archive.display(),
        took.as_secs_f64()
    );
    Ok(Created {
        archive,
        bytes,
        sha256,
        manifest,
        took,
        warnings,
    })
}

async fn write_backup(
    source: &BackupSource,
    scratch: &Path,
    partial: &Path,
    archive: &Path,
    created_at: chrono::DateTime<Utc>,
) -> Result<(Manifest, u64, String, Vec<String>), BackupError> {
    let copy = scratch.join(DATABASE_ENTRY);
    source
        .database
        .copy_into(&copy)
        .await
        .map_err(BackupError::db(format!(
            "cannot copy the database into {}",
            scratch.display()
        )))?;

    let report = inspect_sqlite_file(&copy, IntegrityCheck::Quick)
        .await
        .map_err(BackupError::db("cannot check the copy"))?;
    if !report.problems.is_empty() {
        return Err(BackupError::Damaged(format!(
            "the copy fails SQLite's quick check, so the live database {} may be damaged \
             (run `PRAGMA integrity_check` on it): {}",
            source.path.display(),
            report.problems.join("; ")
        )));
    }
    let mut warnings = Vec::new();
    let KeyMaterial {
        record: key_record,
        bytes: key_bytes,
        keys,
    } = read_key(&source.secrets_key)?;
    // This build reads connections at its own schema only.
    let sealed = if report.migrations != curatore_migration::migration_names() {
        warnings.push(
            "the connection secrets were not checked: the database's schema is not this \
             build's (run the backup with the server's own binary)"
                .to_owned(),
        );
        None
    } else {
        match check_copy_secrets(&copy, keys.as_ref()).await {
            Ok(checked) => {
                if !checked.all_open() {
                    warnings.push(format!(
                        "{} of {} stored connection secrets do not open with {}; they cannot be \
                         read after a restore either ({})",
                        checked.sealed - checked.opened,
                        checked.sealed,
                        key_description(&key_record),
                        checked.failures.join("; ")
                    ));
                }
                Some(SealedRecord {
                    count: checked.sealed,
                    opened: checked.opened,
                })
            }
            // The copy is still good; only its secrets are not counted.
            Err(e) => {
                warnings.push(format!("the connection secrets were not checked: {e}"));
                None
            }
        }
    };
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    let digest_of = copy.clone();
    let (bytes, sha256) = blocking(move || {
        archive::digest_file(&digest_of).map_err(BackupError::io("cannot read the copy"))
    })
    .await?;
    let mut files = vec![FileRecord {
        name: DATABASE_ENTRY.to_owned(),
        bytes,
        sha256,
    }];
    if let Some(key) = &key_bytes {
        use sha2::Digest;
        files.push(FileRecord {
            name: KEY_ENTRY.to_owned(),
            bytes: key.len() as u64,
            sha256: manifest::hex(&sha2::Sha256::digest(key)),
        });
    }
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        backup_id: uuid::Uuid::now_v7(),
        created_at,
        curatore_version: env!("CARGO_PKG_VERSION").to_owned(),
        engine: "sqlite".to_owned(),
        source_database: source.path.display().to_string(),
        newest_migration: report.newest_migration().map(str::to_owned),
        migrations: report.migrations.clone(),
        tables: report.tables.clone(),
        secrets_key: key_record,
        sealed_secrets: sealed,
        files,
    };
    let (partial, archive) = (partial.to_owned(), archive.to_owned());
    let written = manifest.clone();
    let (bytes, sha256) = blocking(move || {
        let contents = Contents {
            database: copy,
            key: key_bytes,
        };
        let done = archive::write(&partial, &written, &contents)?;
        std::fs::rename(&partial, &archive).map_err(BackupError::io(format!(
            "cannot move the archive into place at {}",
            archive.display()
        )))?;
        if let Some(dir) = archive.parent() {
            archive::sync_dir(dir)
                .map_err(BackupError::io(format!("cannot sync {}", dir.display())))?;
        }
        Ok(done)
    })
    .await?;
    Ok((manifest, bytes, sha256, warnings))
}

/// The key of a backup: how the manifest records it, the key file's bytes
/// when it is archived, and the keys.
struct KeyMaterial {
    record: KeyRecord,
    bytes: Option<Vec<u8>>,
    keys: Option<SecretKeys>,
}

fn read_key(source: &SecretsKeySource) -> Result<KeyMaterial, BackupError> {
    match source {
        SecretsKeySource::Environment(keys) => Ok(KeyMaterial {
            record: KeyRecord::Environment {
                variable: "SECRETS_ENCRYPTION_KEY".to_owned(),
                key_ids: keys.ids().into_iter().map(str::to_owned).collect(),
                fingerprints: manifest::fingerprints(keys),
            },
            bytes: None,
            keys: Some(keys.clone()),
        }),
        SecretsKeySource::KeyFile(path) => match std::fs::read(path) {
            Ok(bytes) => {
                let keys = parse_key_file(&bytes, &path.display().to_string())?;
                Ok(KeyMaterial {
                    record: KeyRecord::KeyFile {
                        file: KEY_ENTRY.to_owned(),
                        key_ids: keys.ids().into_iter().map(str::to_owned).collect(),
                        fingerprints: manifest::fingerprints(&keys),
                    },
                    bytes: Some(bytes),
                    keys: Some(keys),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(
                    path = %path.display(),
                    "the secrets key file is missing: the archive holds no key, and any stored connection secret in it cannot be read"
                );
                Ok(KeyMaterial {
                    record: KeyRecord::Missing {
                        expected: path.display().to_string(),
                    },
                    bytes: None,
                    keys: None,
                })
            }
            Err(e) => Err(BackupError::io(format!(
                "cannot read the secrets key file {}",
                path.display()
            ))(e)),
        },
    }
}

/// Parses a key file's text (never quoting it).
pub(crate) fn parse_key_file(bytes: &[u8], name: &str) -> Result<SecretKeys, BackupError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| BackupError::Damaged(format!("the secrets key file {name} is not text")))?;
    SecretKeys::parse(text.trim())
        .map_err(|problem| BackupError::Damaged(format!("the secrets key file {name} {problem}")))
}

/// The key a record names, in words.
pub(crate) fn key_description(record: &KeyRecord) -> String {
    match record {
        KeyRecord::KeyFile { key_ids, .. } => {
            format!("the key file (keys {})", key_ids.join(", "))
        }
        KeyRecord::Environment { key_ids, .. } => {
            format!("SECRETS_ENCRYPTION_KEY (keys {})", key_ids.join(", "))
        }
        KeyRecord::Missing { expected } => format!("no key (the key file {expected} was missing)"),
    }
}
