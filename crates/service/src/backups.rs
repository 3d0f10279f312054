//! Backups as the service layer sees them: each run recorded in the audit
//! trail and the metrics ([`Operator::record_backup`]), and the check that a
//! copy's stored connection secrets open with a key
//! ([`check_sealed_secrets`]). Making, verifying and restoring archives is
//! `curatore-backup`'s work; it calls these.

use crate::audit::{AuditEvent, Entry};
use crate::connections::config::ENVELOPE_KEY;
use crate::context::Client;
use crate::error::Result;
use crate::operator::Operator;
use curatore_auth::SecretBox;
use curatore_domain::ConnectionId;
use curatore_persistence::Database;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// What started a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupTrigger {
    /// `BACKUP_SCHEDULE`, inside the server.
    Schedule,
    /// `curatore-server backup`.
    Command,
}

impl BackupTrigger {
    /// `schedule` or `command`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Command => "command",
        }
    }
}

/// An archive that was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupMade {
    /// The id in the archive's manifest.
    pub backup_id: Uuid,
    /// Where the archive is.
    pub archive: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of the archive file, hex.
    pub sha256: String,
    /// The newest migration of the database in it.
    pub newest_migration: Option<String>,
}

/// Why a backup failed, in a word fit for a metric label, and in a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFailure {
    /// `disk_full`, `permission` or `error`.
    pub reason: &'static str,
    /// What went wrong, for the audit entry and logs (no secret).
    pub message: String,
}

/// One backup run, finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRun {
    /// What started it.
    pub trigger: BackupTrigger,
    /// How long it took.
    pub took: Duration,
    /// The archive, or why there is none.
    pub outcome: std::result::Result<BackupMade, BackupFailure>,
}

impl Operator {
    /// Records a backup run: the metrics at once (last success time,
    /// duration and size; failures by reason), then one `backup_created`
    /// audit entry, status `failure` with the reason when it failed. Not an
    /// operation of any organization: the entry has none.
    ///
    /// # Errors
    /// When the audit entry cannot be written (the metrics are recorded
    /// regardless): a backup that failed for a full disk often cannot be
    /// audited either.
    pub async fn record_backup(&self, run: &BackupRun) -> Result<()> {
        let took_ms = u64::try_from(run.took.as_millis()).unwrap_or(u64::MAX);
        let entry = match &run.outcome {
            Ok(made) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                metrics::gauge!(crate::metrics::BACKUP_LAST_SUCCESS).set(now.as_secs_f64());
                metrics::gauge!(crate::metrics::BACKUP_LAST_DURATION).set(run.took.as_secs_f64());
                metrics::gauge!(crate::metrics::BACKUP_LAST_SIZE).set(made.bytes as f64);
                Entry::about(
                    "backup",
                    made.backup_id,
                    json!({
                        "trigger": run.trigger.as_str(),
                        "archive": made.archive,
                        "bytes": made.bytes,
                        "sha256": made.sha256,
                        "duration_ms": took_ms,
                        "newest_migration": made.newest_migration,
                    }),
                )
            }
            Err(failure) => {
                metrics::counter!(crate::metrics::BACKUP_FAILURES, "reason" => failure.reason)
                    .increment(1);
                Entry::anonymous(json!({
                    "trigger": run.trigger.as_str(),
                    "duration_ms": took_ms,
                    "error": failure.message,
                }))
                .failed(failure.reason)
            }
        };
        // A record of a run, not a change: written on its own, so a run that
        // failed for a full disk still counts in the metrics above.
        self.services
            .database()
            .system()
            .audit_logs()
            .record(entry.done_from(AuditEvent::BackupCreated, &Client::local()))
            .await?;
        Ok(())
    }
}

/// The sealed connection secrets of a database, tried with a key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealedSecrets {
    /// Connections looked at.
    pub connections: u64,
    /// Sealed secrets found in them (at any depth of their configuration).
    pub sealed: u64,
    /// Those that opened with the key.
    pub opened: u64,
    /// The first few that did not: connection id and why (never the value).
    pub failures: Vec<String>,
}

impl SealedSecrets {
    /// Whether every sealed secret opened.
    pub fn all_open(&self) -> bool {
        self.opened == self.sealed
    }
}

/// How many failures [`SealedSecrets`] lists.
const LISTED_FAILURES: usize = 10;

/// Tries every sealed secret of every connection in `db` with `secrets`
/// (`None`: no key, so each sealed one fails), whatever its connection type,
/// without keeping or returning a value: whether a copy of a database can
/// be read with the key that goes with it.
///
/// # Errors
/// When the database fails.
pub async fn check_sealed_secrets(
    db: &Database,
    secrets: Option<&SecretBox>,
) -> Result<SealedSecrets> {
    let mut found = SealedSecrets::default();
    let mut after: Option<ConnectionId> = None;
    loop {
        let batch = db.system().connections().batch_after(after, 500).await?;
        let Some(last) = batch.last().map(|c| c.id) else {
            break;
        };
        for connection in &batch {
            found.connections += 1;
            let mut sealed = Vec::new();
            envelopes(&connection.config, &mut sealed);
            for value in sealed {
                found.sealed += 1;
                let opened = match secrets {
                    Some(secrets) => secrets.open(value).map(drop).map_err(|e| e.to_string()),
                    None => Err("no secrets key".to_owned()),
                };
                match opened {
                    Ok(()) => found.opened += 1,
                    Err(why) if found.failures.len() < LISTED_FAILURES => found
                        .failures
                        .push(format!("connection {}: {why}", connection.id.as_uuid())),
                    Err(_) => {}
                }
            }
        }
        after = Some(last);
    }
    Ok(found)
}

/// Every sealed value (`{"$enc": "v1:…"}`) in a configuration.
fn envelopes<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if map.len() == 1
                && let Some(Value::String(sealed)) = map.get(ENVELOPE_KEY)
            {
                out.push(sealed);
                return;
            }
            for v in map.values() {
                envelopes(v, out);
            }
        }
        Value::Array(items) => {
            for v in items {
                envelopes(v, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_are_found_at_any_depth() {
        let config = json!({
            "api_key": {"$enc": "v1:k1:aaa"},
            "auth": {"client_secret": {"$enc": "v1:k1:bbb"}, "plain": "x"},
            "list": [{"$enc": "v1:k2:ccc"}],
            "not_one": {"$enc": "v1:k1:ddd", "extra": 1},
        });
        let mut found = Vec::new();
        envelopes(&config, &mut found);
        found.sort_unstable();
        assert_eq!(found, ["v1:k1:aaa", "v1:k1:bbb", "v1:k2:ccc"]);
    }
}
