//! The operator's commands, as `curatore-server` runs them: each opens the
//! system from the settings ([`Curatore::open`]), does one thing through the
//! [`curatore_service::Operator`], reports it in the log and closes.

use crate::curatore::{Curatore, import_environment, scrub};
use crate::error::StartError as Failure;
use curatore_auth::PassphraseBox;
use curatore_config::{LoadedSettings, Settings};
use curatore_service::{ExportDocument, ExportOptions, ServiceError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `curatore-server config`: every setting, its value (secrets redacted)
/// and where it came from, then the configuration's warnings.
pub fn print_config(loaded: &LoadedSettings) {
    let rows = loaded.describe();
    let name_width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let value_width = rows
        .iter()
        .map(|r| r.value.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    for row in rows {
        println!(
            "{:name_width$}  {:value_width$}  ({})",
            row.name, row.value, row.source
        );
    }
    for warning in &loaded.warnings {
        println!("warning: {warning}");
    }
}

/// `curatore-server seed`: the start-up's preparation (migrate, seed,
/// environment connections) without serving.
///
/// # Errors
/// As [`Curatore::build`].
pub async fn seed(settings: &Settings) -> Result<(), Failure> {
    Curatore::build(settings).await?.close().await;
    Ok(())
}

/// `curatore-server connections import-env`.
///
/// # Errors
/// As [`Curatore::open`].
pub async fn import_env(settings: &Settings) -> Result<(), Failure> {
    let curatore = Curatore::open(settings).await?;
    import_environment(curatore.operator()).await;
    curatore.close().await;
    Ok(())
}

/// `curatore-server secrets rotate`: re-encrypts every stored secret under
/// the first key of `SECRETS_ENCRYPTION_KEY`, `batch` connections per
/// transaction; `resume_after` continues an interrupted run.
///
/// Rows holding a value no configured key opens are left as they are, the
/// rest are rotated, and the command then fails naming them.
///
/// # Errors
/// No key configured; unopenable rows (after rotating the rest); the
/// database failing.
pub async fn rotate_secrets(
    settings: &Settings,
    batch: u64,
    resume_after: Option<uuid::Uuid>,
) -> Result<(), Failure> {
    let curatore = Curatore::open(settings).await?;
    let rotated = curatore
        .operator()
        .rotate_secrets(batch, resume_after.map(Into::into), |done, last| {
            tracing::info!(re_encrypted = done, last_id = %last.as_uuid(), "secrets rotate: batch done (resume with --resume-after {})", last.as_uuid());
        })
        .await;
    // Clear values the original left (sealed now) must not stay behind in
    // free pages or dead rows.
    let scrubbed = match &rotated {
        Ok(report) if report.changed > 0 => scrub(&curatore.database).await,
        _ => Ok(()),
    };
    curatore.close().await;
    let report = rotated.map_err(|e| Failure::Runtime(format!("secrets rotate failed: {e}")))?;
    scrubbed?;
    let changed = report.changed;
    tracing::info!(
        re_encrypted = changed,
        "secrets rotate: done, {changed} connections re-encrypted"
    );
    if !report.unopenable.is_empty() {
        let ids: Vec<String> = report
            .unopenable
            .iter()
            .map(|id| id.as_uuid().to_string())
            .collect();
        return Err(Failure::Runtime(format!(
            "secrets rotate: {} connections hold a secret no configured key opens and were left as they are (add the key they were sealed with to SECRETS_ENCRYPTION_KEY and run again): {}",
            ids.len(),
            ids.join(", ")
        )));
    }
    Ok(())
}

/// `curatore-server audit purge`: deletes audit entries older than `days`
/// (`AUDIT_RETENTION_DAYS` when not given).
///
/// # Errors
/// No number of days, or zero (configuration); the database failing.
pub async fn purge_audit(settings: &Settings, days: Option<u32>) -> Result<(), Failure> {
    let days = days.or(settings.audit_retention_days).ok_or_else(|| {
        Failure::Config(
            "--older-than DAYS or AUDIT_RETENTION_DAYS: say how many days to keep".into(),
        )
    })?;
    let curatore = Curatore::open(settings).await?;
    let purged = curatore.operator().purge_audit_log(days).await;
    curatore.close().await;
    let deleted = purged.map_err(|e| match e {
        ServiceError::Invalid(_) => Failure::Config(format!("--older-than: {e}")),
        _ => Failure::Runtime(format!("purging the audit log failed: {e}")),
    })?;
    tracing::info!(
        deleted,
        older_than_days = days,
        "Audit entries older than {days} days deleted: {deleted}"
    );
    Ok(())
}

/// The environment variable holding the passphrase that seals secrets in an
/// export file.
pub const PASSPHRASE_VAR: &str = "CURATORE_EXPORT_PASSPHRASE";

/// The passphrase from the environment, checked.
fn passphrase() -> Result<String, Failure> {
    let value = std::env::var(PASSPHRASE_VAR).map_err(|_| {
        Failure::Config(format!(
            "{PASSPHRASE_VAR} must hold the passphrase that protects the secrets in the file"
        ))
    })?;
    if value.chars().count() < curatore_auth::MIN_PASSPHRASE_LEN {
        return Err(Failure::Config(format!(
            "{PASSPHRASE_VAR} must have at least {} characters",
            curatore_auth::MIN_PASSPHRASE_LEN
        )));
    }
    Ok(value)
}

/// What `export` was asked for.
#[derive(Debug)]
pub struct ExportRequest {
    /// The organization's slug.
    pub slug: String,
    /// Seal connection secrets under the passphrase instead of redacting.
    pub include_secrets: bool,
    /// Include password and key hashes.
    pub include_password_hashes: bool,
    /// Where to write; stdout when `None`.
    pub output: Option<PathBuf>,
}

/// `curatore-server export`.
///
/// # Errors
/// A missing or short passphrase when secrets are included; an unknown
/// slug; the file or database failing.
pub async fn export(settings: &Settings, req: ExportRequest) -> Result<(), Failure> {
    let pass = if req.include_secrets {
        let phrase = passphrase()?;
        Some(
            tokio::task::spawn_blocking(move || PassphraseBox::create(&phrase))
                .await
                .map_err(|e| Failure::Runtime(format!("key derivation failed: {e}")))?
                .map_err(|e| Failure::Config(format!("{PASSPHRASE_VAR}: {e}")))?,
        )
    } else {
        None
    };
    let curatore = Curatore::open(settings).await?;
    let doc = curatore
        .operator()
        .export_organization(
            &req.slug,
            &ExportOptions {
                secrets: pass.as_ref(),
                hashes: req.include_password_hashes,
            },
        )
        .await;
    curatore.close().await;
    let doc = doc.map_err(|e| Failure::Runtime(format!("export failed: {e}")))?;
    let mut text = serde_json::to_string_pretty(&doc)
        .map_err(|e| Failure::Runtime(format!("export failed: {e}")))?;
    text.push('\n');
    match &req.output {
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| Failure::Runtime(format!("cannot write the export: {e}")))?,
        Some(path) => write_private(path, text.as_bytes())?,
    }
    tracing::info!(
        organization = %req.slug,
        users = doc.users.len(),
        api_keys = doc.api_keys.len(),
        connections = doc.connections.len(),
        secrets = %doc.secrets,
        "export: done"
    );
    Ok(())
}

/// Writes `bytes` to a file only its owner may read (mode 0600).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let fail =
        |e: std::io::Error| Failure::Runtime(format!("cannot write {}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path).map_err(fail)?;
        // An existing file keeps its mode on open: narrow it too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
        file.write_all(bytes).map_err(fail)?;
        file.sync_all().map_err(fail)
    }
    #[cfg(not(unix))]
    {
        let mut file = options.open(path).map_err(fail)?;
        file.write_all(bytes).map_err(fail)?;
        file.sync_all().map_err(fail)
    }
}

/// `curatore-server import FILE`.
///
/// # Errors
/// A file that is not an export; a missing or wrong passphrase; the
/// database failing (nothing is written then).
pub async fn import(settings: &Settings, file: &Path) -> Result<(), Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::Runtime(format!("cannot read {}: {e}", file.display())))?;
    let doc: ExportDocument = serde_json::from_str(&text).map_err(|e| {
        Failure::Runtime(format!(
            "{} is not a Curatore export file: {e}",
            file.display()
        ))
    })?;
    let pass = match &doc.passphrase {
        Some(params) if doc.secrets == "passphrase" => {
            let phrase = passphrase()?;
            let params = params.clone();
            Some(
                tokio::task::spawn_blocking(move || PassphraseBox::open_with(&phrase, params))
                    .await
                    .map_err(|e| Failure::Runtime(format!("key derivation failed: {e}")))?
                    .map_err(|e| Failure::Config(format!("{PASSPHRASE_VAR}: {e}")))?,
            )
        }
        _ => None,
    };
    let curatore = Curatore::open(settings).await?;
    let report = curatore
        .operator()
        .import_organization(&doc, pass.as_ref())
        .await;
    curatore.close().await;
    let report = report.map_err(|e| Failure::Runtime(format!("import failed: {e}")))?;
    tracing::info!(
        organization = %doc.organization.slug,
        organization_created = report.organization_created,
        users_created = report.users_created,
        users_existing = report.users_existing,
        api_keys_created = report.api_keys_created,
        api_keys_existing = report.api_keys_existing,
        connections_created = report.connections_created,
        connections_existing = report.connections_existing,
        "import: done, {}",
        if report.changed() { "changes written" } else { "nothing to change" }
    );
    if !report.users_without_password.is_empty() {
        tracing::warn!(
            users = ?report.users_without_password,
            "import: these users have no usable password (the file has no hashes): an administrator must reset them"
        );
    }
    if !report.api_keys_skipped.is_empty() {
        tracing::warn!(
            prefixes = ?report.api_keys_skipped,
            "import: these API keys were not imported (the file has no key hashes): issue new ones"
        );
    }
    if !report.secrets_missing.is_empty() {
        tracing::warn!(
            secrets = ?report.secrets_missing,
            "import: these secrets were redacted in the file and are absent: set them again"
        );
    }
    Ok(())
}
