//! `curatore-server backup [--output FILE]`, `backup verify FILE`,
//! `restore FILE`, and `BACKUP_SCHEDULE` at start-up: settings in,
//! `curatore-backup` does the work, a summary out (standard output; the log
//! goes to standard error). See docs/operations.md, "Backups".

use crate::error::StartError as Failure;
use curatore_backup::{
    BackupDir, BackupError, BackupSource, Created, Manifest, RestoreRequest, SchedulePlan,
    ScheduledBackups, postgres_advice,
};
use curatore_config::Settings;
use curatore_persistence::{Database, DatabaseOptions};
use curatore_service::Operator;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn failure(err: BackupError) -> Failure {
    Failure::Runtime(err.to_string())
}

/// The SQLite file, or on PostgreSQL the advice, as a configuration error.
fn sqlite_file(settings: &Settings) -> Result<&Path, Failure> {
    settings
        .database_url
        .sqlite_path()
        .ok_or_else(|| Failure::Config(postgres_advice(&settings.database_url)))
}

fn rows(tables: &BTreeMap<String, u64>) -> String {
    let listed: Vec<String> = tables.iter().map(|(t, n)| format!("{t} {n}")).collect();
    listed.join(", ")
}

/// `curatore-server backup`: an online archive of the configured database
/// into `--output` (a file, or a folder) or `BACKUP_DIR`; prints its path.
/// Reads the live database only: never migrates or writes it, so it is
/// safe beside a running server (and not audited there: see
/// docs/operations.md).
///
/// # Errors
/// On PostgreSQL (the message says how to back it up); no database file;
/// the archive cannot be made (a full disk leaves nothing behind).
pub async fn backup(settings: &Settings, output: Option<PathBuf>) -> Result<(), Failure> {
    let path = sqlite_file(settings)?;
    if !path.is_file() {
        return Err(Failure::Runtime(format!(
            "there is no database at {} (DATABASE_URL) to back up",
            path.display()
        )));
    }
    let (dir, name) = match output {
        // An existing folder, or a path written as one (`backups/`).
        Some(out) if out.is_dir() || out.as_os_str().to_string_lossy().ends_with('/') => {
            (out, None)
        }
        Some(out) => {
            let name = out.file_name().map(|n| n.to_string_lossy().into_owned());
            let dir = out
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_owned);
            (dir, name)
        }
        None => (settings.backup_dir().unwrap_or_default(), None),
    };
    let options = DatabaseOptions {
        max_connections: 2,
        min_idle_connections: 0,
        ..DatabaseOptions::new(settings.database_url.clone())
    };
    let db = Database::connect(&options)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot open {}: {e}", path.display())))?;
    let made = async {
        let source = BackupSource::from_settings(db.clone(), settings)?;
        let held = BackupDir::lock(&dir).await?;
        curatore_backup::create(&source, &held, name.as_deref()).await
    }
    .await;
    db.close().await;
    let Created {
        archive,
        bytes,
        manifest,
        ..
    } = made.map_err(failure)?;
    tracing::info!(
        archive = %archive.display(),
        bytes,
        backup_id = %manifest.backup_id,
        "backup: done"
    );
    println!("{}", archive.display());
    Ok(())
}

/// Which backup, made when, by what, from where.
fn print_origin(m: &Manifest) {
    println!(
        "  backup   {} made {} by Curatore {} from {}",
        m.backup_id,
        m.created_at.to_rfc3339(),
        m.curatore_version,
        m.source_database
    );
}

/// `curatore-server backup verify FILE`.
///
/// # Errors
/// On PostgreSQL; an archive that is damaged, incomplete or not ours.
pub async fn verify(settings: &Settings, file: &Path) -> Result<(), Failure> {
    sqlite_file(settings)?;
    let verified = curatore_backup::verify(file, settings.secrets_encryption_key.as_ref())
        .await
        .map_err(failure)?;
    let m = &verified.manifest;
    println!("OK {}", file.display());
    print_origin(m);
    println!(
        "  schema   {} ({} migrations)",
        m.newest_migration.as_deref().unwrap_or("none"),
        m.migrations.len()
    );
    println!("  rows     {}", rows(&m.tables));
    println!(
        "  secrets  {} of {} connection secrets open with {}",
        verified.secrets.opened, verified.secrets.sealed, verified.key_used
    );
    for warning in &verified.warnings {
        println!("  warning: {warning}");
    }
    Ok(())
}

/// `curatore-server restore FILE`.
///
/// # Errors
/// On PostgreSQL; the database is in use; the archive does not verify; its
/// secrets do not open with the key the server will use (unless allowed).
pub async fn restore(
    settings: &Settings,
    file: &Path,
    allow_unreadable_secrets: bool,
) -> Result<(), Failure> {
    let database = sqlite_file(settings)?;
    let restored = curatore_backup::restore(RestoreRequest {
        archive: file,
        database,
        configured_keys: settings.secrets_encryption_key.as_ref(),
        allow_unreadable_secrets,
    })
    .await
    .map_err(failure)?;
    let m = &restored.manifest;
    tracing::info!(
        database = %restored.database.display(),
        backup_id = %m.backup_id,
        migrated = restored.migrated.len(),
        "restore: done"
    );
    println!(
        "Restored {} from {}",
        restored.database.display(),
        file.display()
    );
    print_origin(m);
    if restored.migrated.is_empty() {
        println!(
            "  schema   {} (up to date)",
            m.newest_migration.as_deref().unwrap_or("none")
        );
    } else {
        println!(
            "  schema   migrated forward: {}",
            restored.migrated.join(", ")
        );
    }
    println!("  rows     {}", rows(&restored.tables));
    match &restored.key_file {
        Some(key) => println!("  key      restored to {}", key.display()),
        None => println!("  key      none in the archive: {}", restored.key_used),
    }
    println!(
        "  secrets  {} of {} connection secrets open with {}",
        restored.secrets.opened, restored.secrets.sealed, restored.key_used
    );
    if let Some(previous) = &restored.previous {
        println!(
            "  previous database kept as {} (with its key file, if it had one)",
            previous.display()
        );
    }
    println!("Start the server to serve it.");
    Ok(())
}

/// With `BACKUP_SCHEDULE`, starts the scheduled backups (running until the
/// value is dropped); `BACKUP_DIR` that cannot be used stops the start.
pub(crate) fn schedule(
    settings: &Settings,
    operator: &Operator,
    database: &Database,
) -> Result<Option<ScheduledBackups>, Failure> {
    let Some(plan) = SchedulePlan::from_settings(settings) else {
        return Ok(None);
    };
    let source = BackupSource::from_settings(database.clone(), settings)
        .map_err(|e| Failure::Config(format!("BACKUP_SCHEDULE: {e}")))?;
    curatore_backup::schedule(operator.clone(), source, plan)
        .map(Some)
        .map_err(|e| Failure::Config(format!("BACKUP_DIR: {e}")))
}
